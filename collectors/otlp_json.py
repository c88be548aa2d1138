"""OTLP/JSON request bodies parsed into the protobuf request messages.

OTLP JSON is the proto3 JSON mapping with one exception: trace and span ids are
hex strings, not base64. We rewrite those ids to base64 in place and then let
`json_format.ParseDict` do the rest (camelCase or snake_case field names, int64
as strings, enums as names or numbers), so the JSON and protobuf paths share one
decoder afterwards. Ids already in base64 (some older senders) are left alone.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from cleanloop.collectors.otlp_values import DecodeError

M = TypeVar("M", bound=Message)

_ID_KEYS = frozenset({
    "traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id",
})
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _hex_id_to_base64(value: str) -> str:
    """A hex id (the OTLP JSON encoding) as base64; a base64 id (proto3 JSON) unchanged."""
    if not value:
        return value
    if len(value) % 2 == 0 and _HEX_DIGITS.issuperset(value):
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"id {value[:64]!r} is neither hex nor base64") from exc
    return value


def _fix_ids(node: Any) -> None:
    """Rewrite hex ids to base64 everywhere in a parsed OTLP JSON document (in place).

    Dictionary keys in OTLP JSON are only schema field names (attribute keys live
    in `{"key": ..., "value": ...}` objects), so a key named like an id field is one.
    """
    stack = [node]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in _ID_KEYS and isinstance(value, str):
                    item[key] = _hex_id_to_base64(value)
                elif isinstance(value, dict | list):
                    push(value)
        elif isinstance(item, list):
            for value in item:
                if isinstance(value, dict | list):
                    push(value)


def parse_json_request(body: bytes, message: M) -> M:
    """Fill `message` (an empty Export*ServiceRequest) from an OTLP JSON body."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise DecodeError(f"expected a JSON object, got {type(doc).__name__}")
    _fix_ids(doc)
    try:
        json_format.ParseDict(doc, message, ignore_unknown_fields=True)
    except (json_format.ParseError, binascii.Error, ValueError, TypeError) as exc:
        raise DecodeError(f"invalid OTLP JSON: {exc}") from exc
    return message
