// Shop frontend: catalogue, cart counter, checkout, search. No framework, no build step.
"use strict";

const catalogueEl = document.getElementById("catalogue");
const cartCountEl = document.getElementById("cart-count");
const statusEl = document.getElementById("status");
const checkoutBtn = document.getElementById("checkout");

function setStatus(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", isError);
}

async function api(path, options = {}) {
  const res = await fetch(path, {
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    ...options,
  });
  const body = await res.json();
  if (!res.ok) {
    throw new Error(body.description || `${res.status} ${res.statusText}`);
  }
  return body;
}

function money(value) {
  return `$${value.toFixed(2)}`;
}

// The price the customer pays for one unit, after any discount.
function unitPrice(product) {
  if (!product.discount) {
    return product.price;
  }
  const saving = Number(product.discount.amount.toFixed(2));
  return product.price - saving;
}

function renderCart(cart) {
  cartCountEl.textContent = String(cart.count);
  checkoutBtn.disabled = cart.count === 0;
}

function addToCart(product) {
  const price = unitPrice(product);
  setStatus(`Adding ${product.name} (${money(price)})…`);
  api("/api/cart", {
    method: "POST",
    body: JSON.stringify({ product_id: product.id, qty: 1 }),
  })
    .then((cart) => {
      renderCart(cart);
      setStatus(`${product.name} added to cart`);
    })
    .catch((err) => setStatus(`Could not add to cart: ${err.message}`, true));
}

function productCard(product) {
  const li = document.createElement("li");
  li.className = "product";
  li.dataset.productId = String(product.id);

  const name = document.createElement("span");
  name.className = "name";
  name.textContent = product.name;

  const category = document.createElement("span");
  category.className = "category";
  category.textContent = product.category;

  const price = document.createElement("span");
  price.className = "price";
  price.textContent = money(product.price);
  li.append(name, category, price);

  if (product.discount) {
    const badge = document.createElement("span");
    badge.className = "badge-discount";
    badge.textContent = `-${product.discount.percent}%`;
    li.append(badge);
  }

  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Add to cart";
  button.addEventListener("click", () => addToCart(product));
  li.append(button);
  return li;
}

function renderCatalogue(products) {
  catalogueEl.replaceChildren(...products.map(productCard));
}

async function checkout() {
  checkoutBtn.disabled = true;
  setStatus("Placing order…");
  try {
    const cart = await api("/api/cart");
    const order = await api("/api/checkout", {
      method: "POST",
      body: JSON.stringify({ items: cart.items }),
    });
    renderCart({ count: 0 });
    setStatus(`Order #${order.order_id} placed: ${money(order.total)}`);
  } catch (err) {
    setStatus(`Checkout failed: ${err.message}`, true);
    checkoutBtn.disabled = false;
  }
}

async function searchProducts(event) {
  event.preventDefault();
  const q = document.getElementById("search").value.trim();
  if (!q) {
    renderCatalogue(window.allProducts || []);
    return;
  }
  const { results } = await api(`/api/search?q=${encodeURIComponent(q)}`);
  const ids = new Set(results.map((r) => r.id));
  renderCatalogue((window.allProducts || []).filter((p) => ids.has(p.id)));
  setStatus(`${results.length} results for "${q}"`);
}

async function init() {
  checkoutBtn.addEventListener("click", checkout);
  document.getElementById("search-form").addEventListener("submit", searchProducts);
  try {
    const [{ products }, cart] = await Promise.all([api("/api/products"), api("/api/cart")]);
    window.allProducts = products;
    renderCatalogue(products);
    renderCart(cart);
    setStatus("");
  } catch (err) {
    setStatus(`Could not load the catalogue: ${err.message}`, true);
  }
}

init();
