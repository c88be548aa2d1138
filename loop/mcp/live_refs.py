"""Element references from the latest aria snapshot, and the stable selector recorded for one.

`page.aria_snapshot(mode="ai")` marks elements with `[ref=eN]`, and Playwright's `aria-ref=eN`
selector engine finds them again, as Playwright MCP does. A ref is valid only for the latest
snapshot of the session and only until the page navigates: anything else is a clear error
asking for a new snapshot, never a guess.

Refs do not survive a reload, so a recorded step names the element by a stable selector found
at action time and checked to match exactly that element (one match, the same node):

    data-testid (data-test, data-cy)  ->  #id  ->  role=ROLE[name="NAME"]
    ->  [data-*="..."] or #id of the nearest such ancestor >> role=... (or text="...")
    ->  text="..."  ->  role=... >> nth=K (last resort, fragile)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from playwright.sync_api import ElementHandle, Locator, Page
from playwright.sync_api import Error as PlaywrightError

from cleanloop.loop.base.errors import UsageError

_REF_LINE = re.compile(r'^\s*- (?P<role>[\w-]+)(?: (?P<name>"(?:[^"\\]|\\.)*"))?[^\n]*?'
                       r"\[ref=(?P<ref>[A-Za-z0-9]+)\]")
#: an id a person wrote (ids with long digit runs or colons are usually generated)
_PLAIN_ID = re.compile(r"^(?!.*\d{4})[A-Za-z][\w-]{0,39}$")
CHECK_TIMEOUT_MS = 2_000.0
MAX_TEXT = 80

#: what the page tells about an element: its test id, id, short text, tag and the selectors
#: of its nearest ancestors that carry an id or a data-* attribute (nearest first)
_DESCRIBE = """(el) => {
  const q = (v) => '"' + String(v).replace(/["\\\\]/g, '\\\\$&') + '"';
  const testAttrs = ['data-testid', 'data-test', 'data-test-id', 'data-cy'];
  const testid = testAttrs.filter((a) => el.hasAttribute(a))
    .map((a) => `[${a}=${q(el.getAttribute(a))}]`);
  const anchors = [];
  let p = el.parentElement;
  for (let depth = 0; p && depth < 8 && p !== document.body; p = p.parentElement, depth++) {
    for (const a of p.getAttributeNames()) {
      if (a.startsWith('data-')) anchors.push(`[${a}=${q(p.getAttribute(a))}]`);
    }
    if (p.id) anchors.push(`[id=${q(p.id)}]`);
  }
  const text = (el.innerText || el.value || '').trim();
  return {testid, id: el.id || '', text: text.length <= 80 && !text.includes('\\n') ? text : '',
          tag: el.tagName.toLowerCase(), anchors};
}"""


@dataclass(frozen=True)
class RefInfo:
    role: str
    name: str


@dataclass
class RefTable:
    """The refs of the session's latest aria snapshot."""

    number: int = 0
    refs: dict[str, RefInfo] = field(default_factory=dict)
    cleared_by: str = ""

    def update(self, aria: str) -> int:
        """Take the refs of a new snapshot; returns how many there are."""
        self.number += 1
        self.cleared_by = ""
        self.refs = {}
        for line in aria.splitlines():
            match = _REF_LINE.match(line)
            if match:
                raw = match.group("name")
                self.refs[match.group("ref")] = RefInfo(match.group("role"),
                                                        json.loads(raw) if raw else "")
        return len(self.refs)

    def clear(self, reason: str) -> None:
        """Forget the refs (the page navigated): they would name elements that are gone."""
        if self.refs:
            self.refs, self.cleared_by = {}, reason

    def lookup(self, ref: str) -> RefInfo:
        info = self.refs.get(ref)
        if info is not None:
            return info
        if self.number == 0:
            raise UsageError(f"ref {ref!r}: no snapshot taken yet; call snapshot and use a "
                             "ref from it")
        if self.cleared_by:
            raise UsageError(f"ref {ref!r} is stale: {self.cleared_by} after snapshot "
                             f"{self.number}; take a new snapshot")
        raise UsageError(f"ref {ref!r} is not in the latest snapshot (snapshot {self.number}); "
                         "refs are valid for the latest snapshot only: take a new snapshot")


@dataclass(frozen=True)
class Target:
    """The element an action acts on: how to act on it now, and what to record."""

    act_selector: str
    #: the selector written into the recorded step (None: none found, the step is not recorded)
    recorded: str | None
    label: str


def resolve(page: Page, refs: RefTable, ref: str | None, selector: str | None) -> Target:
    """The target of an action given a ref (from the latest snapshot) or a selector."""
    if (ref is None) == (selector is None):
        raise UsageError("give exactly one of ref (from the latest snapshot) or selector")
    if selector is not None:
        if not selector.strip():
            raise UsageError("selector must not be empty")
        if selector.strip().startswith("aria-ref="):
            raise UsageError("pass a snapshot's element reference as ref (ref='e5'), not as "
                             "an aria-ref selector: a ref is recorded by a stable selector")
        return Target(selector, selector, selector)
    assert ref is not None
    info = refs.lookup(ref)
    act = f"aria-ref={ref}"
    try:
        present = page.locator(act).count()
    except PlaywrightError as exc:
        raise UsageError(f"ref {ref!r} cannot be resolved: {_first(exc)}") from exc
    if present != 1:
        raise UsageError(f"ref {ref!r} is stale: its element is no longer on the page (the page "
                         f"changed since snapshot {refs.number}); take a new snapshot")
    label = f'{info.role} "{info.name}"' if info.name else info.role
    return Target(act, stable_selector(page, page.locator(act), info), label)


def stable_selector(page: Page, target: Locator, info: RefInfo) -> str | None:
    """A selector that matches exactly the target element (see the module docstring), or None."""
    try:
        handle = target.element_handle(timeout=CHECK_TIMEOUT_MS)
        described = target.evaluate(_DESCRIBE)
    except PlaywrightError:
        return None
    inner = _role_selector(info) or _text_selector(described.get("text", ""))
    candidates: list[str] = [str(c) for c in described.get("testid", [])]
    element_id = str(described.get("id", ""))
    if element_id and _PLAIN_ID.match(element_id):
        candidates.append(f"#{element_id}")
    if inner:
        candidates.append(inner)
        candidates += [f"{a} >> {inner}" for a in described.get("anchors", [])]
    for candidate in candidates:
        if _is_exactly(page, candidate, handle):
            return candidate
    return _nth(page, inner or str(described.get("tag", "*")), handle)


def _role_selector(info: RefInfo) -> str:
    if not info.name or info.role in ("generic", "text", "none", "presentation"):
        return ""
    return f"role={info.role}[name={json.dumps(info.name, ensure_ascii=False)}]"


def _text_selector(text: str) -> str:
    return f"text={json.dumps(text, ensure_ascii=False)}" if text and len(text) <= MAX_TEXT else ""


def _is_exactly(page: Page, selector: str, handle: ElementHandle) -> bool:
    try:
        found = page.locator(selector)
        return found.count() == 1 and bool(found.evaluate("(el, t) => el === t", handle))
    except PlaywrightError:  # a selector the engine refuses is no candidate
        return False


def _nth(page: Page, selector: str, handle: ElementHandle) -> str | None:
    try:
        index = page.locator(selector).evaluate_all("(els, t) => els.indexOf(t)", handle)
    except PlaywrightError:
        return None
    if not isinstance(index, int) or index < 0:
        return None
    candidate = f"{selector} >> nth={index}"
    return candidate if _is_exactly(page, candidate, handle) else None


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
