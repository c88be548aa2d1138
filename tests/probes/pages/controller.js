// A cart controller whose handler reads a property of an item without a price: an uncaught
// TypeError thrown at controller.js:4, after which the page marks itself done.
function addToCart(item) {
  return item.price.amount;
}
setTimeout(function () { addToCart({}); }, 0);
setTimeout(function () { document.body.dataset.done = "1"; }, 30);
