"""Files a browser run leaves in the run directory, and how they are named.

    screenshots/r<repeat>-s<step>-<name>.png
    dom/r<repeat>-s<step>-<name>.html        page.content()
    dom/r<repeat>-s<step>-<name>.aria.yaml   page.aria_snapshot()
    traces/r<repeat>.json                    CDP performance trace (optional)
    screencast-r<repeat>.(mp4|webm|gif)      CDP screencast (optional)

Capturing is best effort: a part that fails is logged and left out of the result.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
CAPTURE_TIMEOUT_MS = 5_000


def safe_name(name: str) -> str:
    """A file-name-safe rendering of a user-given name (never empty)."""
    cleaned = _UNSAFE.sub("-", name).strip("-.")
    return cleaned[:80] or "unnamed"


def artifact_path(
    artifacts_dir: Path, folder: str, repeat: int, step: int | None, name: str, suffix: str,
) -> Path:
    """artifacts_dir/folder/r<repeat>-s<step>-<name><suffix>, folder created."""
    directory = artifacts_dir / folder
    directory.mkdir(parents=True, exist_ok=True)
    step_part = f"-s{step}" if step is not None else ""
    return directory / f"r{repeat}{step_part}-{safe_name(name)}{suffix}"


def save_screenshot(page: Page, path: Path, *, full_page: bool = False) -> Path:
    page.screenshot(path=str(path), full_page=full_page, timeout=CAPTURE_TIMEOUT_MS)
    return path


def save_dom(page: Page, html_path: Path, aria_path: Path) -> dict[str, str]:
    """Write the DOM and the aria snapshot; returns {"dom": ..., "aria": ...} paths written."""
    written: dict[str, str] = {}
    try:
        html_path.write_text(page.content(), encoding="utf-8")
        written["dom"] = str(html_path)
    except PlaywrightError as exc:
        logger.warning("could not save the DOM to %s: %s", html_path, _first(exc))
    try:
        aria_path.write_text(page.aria_snapshot(timeout=CAPTURE_TIMEOUT_MS) + "\n",
                             encoding="utf-8")
        written["aria"] = str(aria_path)
    except PlaywrightError as exc:
        logger.warning("could not save the aria snapshot to %s: %s", aria_path, _first(exc))
    return written


def capture_page(
    page: Page, artifacts_dir: Path, *, repeat: int, step: int | None, name: str,
) -> dict[str, str]:
    """Screenshot + DOM + aria snapshot; returns {"screenshot", "dom", "aria"} -> path."""
    out: dict[str, str] = {}
    shot = artifact_path(artifacts_dir, "screenshots", repeat, step, name, ".png")
    try:
        out["screenshot"] = str(save_screenshot(page, shot, full_page=True))
    except PlaywrightError as exc:
        logger.warning("could not take a screenshot %s: %s", shot, _first(exc))
    html = artifact_path(artifacts_dir, "dom", repeat, step, name, ".html")
    aria = artifact_path(artifacts_dir, "dom", repeat, step, name, ".aria.yaml")
    out.update(save_dom(page, html, aria))
    return out


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
