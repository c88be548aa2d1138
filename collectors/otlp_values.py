"""OTLP AnyValue / KeyValue conversion shared by the trace, log and metric decoders.

`attrs_json` is on the hot path of every span: it writes the JSON object text
directly (no intermediate dict, no `json.dumps` for scalar values) and returns
"{}" without any work for an empty attribute list.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from json.encoder import encode_basestring
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource


class DecodeError(ValueError):
    """An OTLP payload could not be decoded (malformed protobuf or JSON, wrong shape).

    Internal to the collectors: the receiver answers 400 and counts it; it never
    reaches the run (see cleanloop.loop.base.errors for the tree that does).
    """


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a plain Python value (bytes as base64 text, as in OTLP JSON)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        d = value.double_value
        return d if math.isfinite(d) else None
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def attrs_dict(attrs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in attrs}


#: ("key", value) -> the rendered `"key":value` JSON member, for string and non-zero int values.
#: Attribute values repeat a lot across spans (methods, routes, status codes); bounded.
_MEMBERS: dict[tuple[str, str | int], str] = {}
_MEMBERS_MAX = 8192


def _member_value(value: AnyValue) -> str:
    which = value.WhichOneof("value")
    if which == "int_value":
        return str(value.int_value)
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "double_value":
        d = value.double_value
        return repr(d) if math.isfinite(d) else "null"
    if which is None:
        return "null"
    if which == "string_value":
        return '""'
    return json.dumps(any_value(value), separators=(",", ":"))


def attrs_json(attrs: Any) -> str:
    """A repeated KeyValue field as a JSON object string (insertion order kept).

    The span hot path: string and non-zero int values are tried first (no WhichOneof),
    and their rendered members are memoised in a bounded table.
    """
    if not attrs:
        return "{}"
    enc = encode_basestring
    members = _MEMBERS
    get = members.get
    parts: list[str] = []
    append = parts.append
    pair: tuple[str, str | int]
    for kv in attrs:
        v = kv.value
        text = v.string_value
        if text:
            pair = (kv.key, text)
        else:
            number = v.int_value
            if not number:
                append(enc(kv.key) + ":" + _member_value(v))
                continue
            pair = (kv.key, number)
        member = get(pair)
        if member is None:
            if len(members) >= _MEMBERS_MAX:
                members.clear()
            member = enc(pair[0]) + ":" + (enc(text) if text else str(pair[1]))
            members[pair] = member
        append(member)
    return "{" + ",".join(parts) + "}"


def labels_json(attrs: Iterable[KeyValue]) -> str:
    """Metric data point attributes as a JSON object with sorted keys (a stable label set)."""
    return json.dumps(attrs_dict(attrs), sort_keys=True, separators=(",", ":"))


def value_text(value: AnyValue) -> str:
    """A log body: strings as they are, structured values as JSON."""
    if value.WhichOneof("value") == "string_value":
        return value.string_value
    v = any_value(value)
    if v is None:
        return ""
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))


def service_name(resource: Resource) -> str:
    """The resource's `service.name` attribute, or "" when absent."""
    for kv in resource.attributes:
        if kv.key == "service.name":
            v = any_value(kv.value)
            return v if isinstance(v, str) else str(v)
    return ""
