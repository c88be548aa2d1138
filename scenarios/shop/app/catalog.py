"""Catalogue reads: the product list, one product, and the JSON shape the frontend expects."""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import Any

from store import query

logger = logging.getLogger("shop.catalog")

# Optional live price feed; without one the catalogue prices stored in the database are used.
PRICE_FEED_URL = os.environ.get("SHOP_PRICE_FEED_URL", "")

PRODUCT_COLUMNS = "id, name, category, description, price_cents, discount_percent"


def product_json(row: sqlite3.Row) -> dict[str, Any]:
    discount = row["discount_percent"]
    return {
        "id": row["id"],
        "name": row["name"],
        "category": row["category"],
        "description": row["description"],
        "price": row["price_cents"] / 100,
        "discount": {"percent": discount} if discount else None,
    }


def price_source() -> str:
    """Where list prices come from: the live feed when configured, else the stored prices."""
    if not PRICE_FEED_URL:
        logger.error("price feed unavailable, using cached prices")
        return "cached"
    return "feed"


def list_products(conn: sqlite3.Connection) -> dict[str, Any]:
    source = price_source()
    rows = query(conn, f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id")
    return {"products": [product_json(r) for r in rows], "price_source": source}


def get_product(conn: sqlite3.Connection, product_id: int) -> dict[str, Any] | None:
    rows = query(conn, f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?", (product_id,))
    return product_json(rows[0]) if rows else None
