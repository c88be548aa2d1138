"""Shopping carts held in process memory, keyed by the `cart_id` cookie."""

from __future__ import annotations

import threading
import uuid
from typing import Any


class Carts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._carts: dict[str, dict[int, int]] = {}

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def add(self, cart_id: str, product_id: int, qty: int) -> dict[str, Any]:
        with self._lock:
            cart = self._carts.setdefault(cart_id, {})
            cart[product_id] = cart.get(product_id, 0) + qty
            return self._view(cart)

    def get(self, cart_id: str) -> dict[str, Any]:
        with self._lock:
            return self._view(self._carts.get(cart_id, {}))

    def clear(self, cart_id: str) -> None:
        with self._lock:
            self._carts.pop(cart_id, None)

    @staticmethod
    def _view(cart: dict[int, int]) -> dict[str, Any]:
        items = [{"product_id": pid, "qty": qty} for pid, qty in sorted(cart.items())]
        return {"items": items, "count": sum(cart.values())}
