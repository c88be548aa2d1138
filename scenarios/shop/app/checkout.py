"""Checkout: price the requested items at their current price, check stock, write the order."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from store import execute, execute_many, query

logger = logging.getLogger("shop.checkout")


class CheckoutError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Line:
    product_id: int
    qty: int
    unit_cents: int


def price_lines(conn: sqlite3.Connection, items: list[tuple[int, int]]) -> list[Line]:
    """Look up product, current price and stock for every (product_id, qty) item."""
    lines = []
    for product_id, qty in items:
        product = query(conn, "SELECT id, discount_percent FROM products WHERE id = ?",
                        (product_id,))
        if not product:
            raise CheckoutError(404, f"unknown product {product_id}")
        price = query(conn, "SELECT price_cents FROM price_history WHERE product_id = ? AND "
                            "valid_from = (SELECT MAX(valid_from) FROM price_history "
                            "WHERE product_id = ?)", (product_id, product_id))
        stock = query(conn, "SELECT COALESCE(SUM(delta), 0) AS stock FROM stock_movements "
                            "WHERE product_id = ?", (product_id,))
        if stock[0]["stock"] < qty:
            raise CheckoutError(409, f"product {product_id} is out of stock")
        discount = product[0]["discount_percent"]
        unit = price[0]["price_cents"] * (100 - discount) // 100
        lines.append(Line(product_id, qty, unit))
    return lines


def place_order(conn: sqlite3.Connection, items: list[tuple[int, int]]) -> tuple[int, int]:
    """Price and record an order; returns (order_id, total_cents)."""
    lines = price_lines(conn, items)
    total = sum(line.unit_cents * line.qty for line in lines)
    with conn:
        cur = execute(conn, "INSERT INTO orders (total_cents, item_count) VALUES (?, ?)",
                      (total, sum(line.qty for line in lines)))
        order_id = int(cur.lastrowid or 0)
        execute_many(conn, "INSERT INTO order_items VALUES (?, ?, ?, ?)",
                     [(order_id, ln.product_id, ln.qty, ln.unit_cents) for ln in lines])
        execute_many(conn, "INSERT INTO stock_movements (product_id, delta, reason) "
                           "VALUES (?, ?, 'order')", [(ln.product_id, -ln.qty) for ln in lines])
    logger.info("order %d placed: %d lines, total %d cents", order_id, len(lines), total)
    return order_id, total
