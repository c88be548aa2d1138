"""The grammar of `http` and `load` steps (their execution is cleanloop.probes.http).

    - http: {method: POST, path: /api/cart, json: {...}, expect_status: 200}
    - load: {method: POST, path: /api/checkout, json: {...}, requests: 300, concurrency: 4}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_HTTP_KEYS = {"name", "method", "path", "json", "body", "headers", "expect_status", "timeout"}
_LOAD_KEYS = _HTTP_KEYS | {"requests", "concurrency"}
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
MAX_LOAD_REQUESTS = 100_000
MAX_CONCURRENCY = 256


def validate_http_params(kind: str, params: Mapping[str, Any]) -> None:
    """Raise ValueError('field: message') for a malformed http/load step."""
    allowed = _LOAD_KEYS if kind == "load" else _HTTP_KEYS
    for key in params:
        if key not in allowed:
            raise ValueError(f"{key}: unknown field '{key}' (known: {', '.join(sorted(allowed))})")
    method = str(params.get("method", "GET")).upper()
    if method not in _METHODS:
        raise ValueError(f"method: unknown HTTP method '{params.get('method')}'")
    path = params.get("path", "/")
    if not isinstance(path, str) or not (path.startswith("/") or path.startswith("http://")):
        raise ValueError("path: expected a path starting with '/'")
    if "json" in params and "body" in params:
        raise ValueError("body: give either 'json' or 'body', not both")
    status = params.get("expect_status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int | list)):
        raise ValueError("expect_status: expected a status code or a list of them")
    if kind == "load":
        for key, top in (("requests", MAX_LOAD_REQUESTS), ("concurrency", MAX_CONCURRENCY)):
            n = params.get(key, 1 if key == "concurrency" else None)
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= top:
                raise ValueError(f"{key}: expected an integer from 1 to {top}")
