"""A tool result as MCP content: the structured result, its JSON text, and failure screenshots
as image content.

`call_result(result, images)` is what a tool returns when it has images to show: a
CallToolResult whose structured content is `result` (validated by the SDK against the tool's
output schema; a list is published as {"result": [...]}, as the SDK wraps it), whose first
content block is the same JSON as text (for clients that read only text), followed by the
images. `failure_images(failing)` finds the screenshots the failing checks point at (their
`evidence.screenshot`) and returns at most `limit` of them as base64 PNG ImageContent; the
paths stay in the structured result. A file that is missing, unreadable, not a PNG or larger
than MAX_IMAGE_BYTES is skipped without error.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent
from pydantic import BaseModel

from cleanloop.loop.mcp.results import Failure, failures_of, jsonable
from cleanloop.loop.model.verdict_types import Verdict

logger = logging.getLogger(__name__)

MAX_IMAGES = 3
MAX_IMAGE_BYTES = 4 * 1024 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def screenshot_paths(failing: Sequence[Failure] | Verdict) -> list[Path]:
    """The screenshots behind `failing`, in order, without duplicates: each failing check's
    `evidence.screenshot`; for a verdict that did not pass, then the run's other screenshots
    (artifacts.screenshots, e.g. a `screenshot:` step before the failure)."""
    failures = failures_of(failing) if isinstance(failing, Verdict) else list(failing)
    found = [f.evidence.screenshot for f in failures if f.evidence.screenshot]
    if isinstance(failing, Verdict) and failing.verdict not in ("pass", "accept"):
        found += list(failing.artifacts.screenshots or [])
    out: list[Path] = []
    for text in found:
        path = Path(text)
        if path not in out:
            out.append(path)
    return out


def failure_images(failing: Sequence[Failure] | Verdict,
                   limit: int = MAX_IMAGES) -> list[ImageContent]:
    """At most `limit` failure screenshots as PNG image content (`_meta.path`: the file)."""
    images: list[ImageContent] = []
    for path in screenshot_paths(failing):
        if len(images) >= limit:
            break
        data = _png(path)
        if data is not None:
            images.append(ImageContent(data=base64.b64encode(data).decode("ascii"),
                                       mime_type="image/png", _meta={"path": str(path)}))
    return images


def _png(path: Path) -> bytes | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_IMAGE_BYTES:
            logger.debug("mcp: screenshot %s missing or too large; not attached", path)
            return None
        data = path.read_bytes()
    except OSError as exc:
        logger.debug("mcp: screenshot %s unreadable: %s", path, exc)
        return None
    if not data.startswith(PNG_MAGIC) or len(data) > MAX_IMAGE_BYTES:
        return None
    return data


def call_result(result: BaseModel | Sequence[BaseModel],
                images: Sequence[ImageContent] = ()) -> CallToolResult:
    """`result` as structured content plus its JSON text, followed by `images`."""
    structured: dict[str, Any] = (
        jsonable(result) if isinstance(result, BaseModel)
        else {"result": [jsonable(item) for item in result]})
    text = json.dumps(structured if isinstance(result, BaseModel) else structured["result"],
                      indent=2, ensure_ascii=False)
    content: list[ContentBlock] = [TextContent(text=text), *images]
    return CallToolResult(content=content, structured_content=structured)
