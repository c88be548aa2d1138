"""The JSON API and the page routes, as one Flask blueprint."""

from __future__ import annotations

from typing import Any

import catalog
import checkout
import search
from cart import Carts
from flask import Blueprint, Response, abort, current_app, jsonify, request
from store import Store
from werkzeug.exceptions import HTTPException

bp = Blueprint("shop", __name__)
carts = Carts()
COOKIE = "cart_id"


def _store() -> Store:
    store: Store = current_app.config["STORE"]
    return store


def _int(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        abort(400, description=f"{name} must be an integer >= {minimum}")
    return value


def _with_cart_cookie(payload: dict[str, Any], cart_id: str) -> Response:
    response = jsonify(payload)
    if request.cookies.get(COOKIE) != cart_id:
        response.set_cookie(COOKIE, cart_id, httponly=True, samesite="Lax")
    return response


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[dict[str, Any], int]:
    return {"error": exc.name, "description": exc.description}, exc.code or 500


@bp.get("/")
def index() -> Response:
    return current_app.send_static_file("index.html")


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    ready = current_app.config.get("READY")
    if ready is None or not ready.is_set():
        return {"status": "starting"}, 503
    return {"status": "ok"}, 200


@bp.get("/api/products")
def products() -> Response:
    with _store().connect() as conn:
        return jsonify(catalog.list_products(conn))


@bp.get("/api/products/<int:product_id>")
def product(product_id: int) -> Response:
    with _store().connect() as conn:
        found = catalog.get_product(conn, product_id)
    if found is None:
        abort(404, description=f"unknown product {product_id}")
    return jsonify(found)


@bp.get("/api/cart")
def get_cart() -> Response:
    cart_id = request.cookies.get(COOKIE) or carts.new_id()
    return _with_cart_cookie(carts.get(cart_id), cart_id)


@bp.post("/api/cart")
def add_to_cart() -> Response:
    body = request.get_json(silent=True) or {}
    product_id = _int(body.get("product_id"), "product_id", 1)
    qty = _int(body.get("qty", 1), "qty", 1)
    with _store().connect() as conn:
        if catalog.get_product(conn, product_id) is None:
            abort(404, description=f"unknown product {product_id}")
    cart_id = request.cookies.get(COOKIE) or carts.new_id()
    return _with_cart_cookie(carts.add(cart_id, product_id, qty), cart_id)


@bp.post("/api/checkout")
def place_order() -> tuple[dict[str, Any], int]:
    body = request.get_json(silent=True) or {}
    cart_id = request.cookies.get(COOKIE, "")
    raw = body.get("items")
    if raw is None:  # no explicit items: check out the cookie's cart
        raw = carts.get(cart_id)["items"]
    if not isinstance(raw, list) or not raw:
        abort(400, description="items must be a non-empty list")
    items = [(_int(i.get("product_id") if isinstance(i, dict) else None, "product_id", 1),
              _int(i.get("qty", 1), "qty", 1)) for i in raw]
    try:
        with _store().connect() as conn:
            order_id, total_cents = checkout.place_order(conn, items)
    except checkout.CheckoutError as exc:
        abort(exc.status, description=str(exc))
    carts.clear(cart_id)
    return {"order_id": order_id, "total": total_cents / 100}, 200


@bp.get("/api/search")
def search_products() -> Response:
    text = request.args.get("q", "").strip()
    return jsonify({"query": text, "results": search.search(text) if text else []})
