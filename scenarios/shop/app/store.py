"""SQLite storage for the shop: schema, deterministic seed data and a traced query helper.

The database is a scratch file in a temporary directory, rebuilt at every start. Each request
opens its own connection (the server is threaded); every statement runs inside a `db.query`
child span carrying `db.statement`.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry import trace

logger = logging.getLogger("shop.store")
tracer = trace.get_tracer("shop.store")

PRODUCT_COUNT = 40
# ids above PRODUCT_COUNT are retired SKUs: no longer listed, but their history is kept
SKU_COUNT = 600
PRICE_HISTORY_ROWS = 30_000
STOCK_MOVEMENT_ROWS = 20_000

_ADJECTIVES = ["Classic", "Urban", "Alpine", "Coastal", "Nordic", "Vintage", "Studio", "Field"]
_NOUNS = ["Backpack", "Jacket", "Mug", "Lamp", "Notebook", "Scarf", "Bottle", "Sneakers",
          "Headphones", "Blanket"]
_CATEGORIES = ["bags", "clothing", "kitchen", "home", "stationery", "outdoor", "audio"]
_DISCOUNTS = [10, 15, 20, 25]

SCHEMA = """
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    discount_percent INTEGER NOT NULL DEFAULT 0
);
-- every price change ever seen; the current price is the newest row per product
CREATE TABLE price_history (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL,
    price_cents INTEGER NOT NULL,
    valid_from INTEGER NOT NULL
);
-- inventory ledger: stock is the sum of deltas per product
CREATE TABLE stock_movements (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL,
    delta INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    total_cents INTEGER NOT NULL,
    item_count INTEGER NOT NULL
);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    qty INTEGER NOT NULL,
    unit_cents INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Product:
    id: int
    name: str
    category: str
    description: str
    price_cents: int
    discount_percent: int


def catalogue() -> list[Product]:
    """The deterministic catalogue; every third product is discounted."""
    rng = random.Random(7)
    products = []
    for pid in range(1, PRODUCT_COUNT + 1):
        name = f"{_ADJECTIVES[pid % len(_ADJECTIVES)]} {_NOUNS[pid % len(_NOUNS)]} {pid}"
        category = _CATEGORIES[pid % len(_CATEGORIES)]
        description = f"A {category} favourite: the {name.lower()}, built to last."
        discount = _DISCOUNTS[(pid // 3) % len(_DISCOUNTS)] if pid % 3 == 0 else 0
        products.append(Product(pid, name, category, description,
                                rng.randrange(900, 15_000, 50), discount))
    return products


class Store:
    """Owns the scratch database file; hands out one connection per request."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="shop-db-")
        self.path = Path(self._tmp.name) / "shop.sqlite3"

    def seed(self) -> None:
        products = catalogue()
        rng = random.Random(11)
        history = []
        for i in range(PRICE_HISTORY_ROWS):
            pid = rng.randrange(1, SKU_COUNT + 1)
            history.append((pid, rng.randrange(800, 16_000, 50), i))
        # the newest row of every product carries its catalogue price
        for p in products:
            history.append((p.id, p.price_cents, PRICE_HISTORY_ROWS + p.id))
        movements = [(p.id, 1_000_000, "initial") for p in products]
        for _ in range(STOCK_MOVEMENT_ROWS):
            movements.append((rng.randrange(1, SKU_COUNT + 1), rng.randrange(-5, 10),
                              "adjustment"))
        conn = sqlite3.connect(self.path)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
            conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)",
                             [(p.id, p.name, p.category, p.description, p.price_cents,
                               p.discount_percent) for p in products])
            conn.executemany("INSERT INTO price_history (product_id, price_cents, valid_from) "
                             "VALUES (?, ?, ?)", history)
            conn.executemany("INSERT INTO stock_movements (product_id, delta, reason) "
                             "VALUES (?, ?, ?)", movements)
            conn.commit()
        finally:
            conn.close()
        logger.info("database seeded: %d products, %d price rows, %d stock rows",
                    len(products), len(history), len(movements))

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10.0)
        conn.row_factory = sqlite3.Row
        # scratch data rebuilt at every start: durability is not worth an fsync per order
        conn.execute("PRAGMA synchronous=OFF")
        try:
            yield conn
        finally:
            conn.close()

    def close(self) -> None:
        self._tmp.cleanup()


def query(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """Run one statement inside a `db.query` span and return all rows."""
    with tracer.start_as_current_span("db.query", attributes={
        "db.system": "sqlite", "db.statement": sql,
    }):
        return conn.execute(sql, params).fetchall()


def execute(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
    """Run one write statement inside a `db.query` span and return its cursor."""
    with tracer.start_as_current_span("db.query", attributes={
        "db.system": "sqlite", "db.statement": sql,
    }):
        return conn.execute(sql, params)


def execute_many(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    with tracer.start_as_current_span("db.query", attributes={
        "db.system": "sqlite", "db.statement": sql,
    }):
        conn.executemany(sql, rows)
