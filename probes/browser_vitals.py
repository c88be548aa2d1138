"""Web vitals and navigation timing, measured inside the page.

An init script (`VITALS_SCRIPT`) runs before any page script in every top-level
document and registers buffered PerformanceObservers:

    LCP  last largest-contentful-paint (renderTime/startTime), ms
    FCP  first-contentful-paint, ms
    CLS  largest session window of layout shifts without recent input (unitless)
    INP  98th-percentile interaction latency from Event Timing (>= 16 ms entries only;
         absent until an interaction is slower than that)
    TBT  sum over long tasks of (duration - 50 ms) since navigation start, ms
         (only where the browser reports long tasks)

`VitalsTracker.observe(page, step)` reads a snapshot after each step; snapshots are
keyed by a per-document id, so each document yields one set of rows (its latest values)
when `take_rows()` is called at drain/close time. Navigation timing (ttfb,
domInteractive, domContentLoaded, load) comes from the same snapshot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

logger = logging.getLogger(__name__)

VITALS_SCRIPT = r"""
(() => {
  if (window !== window.top || window.__cleanloopVitals) return;
  const v = { doc: Date.now().toString(36) + Math.random().toString(36).slice(2),
              lcp: null, fcp: null, cls: 0, tbt: 0, longtasks: false, inter: new Map() };
  Object.defineProperty(window, '__cleanloopVitals', { value: v, enumerable: false });
  const watch = (type, fn, extra) => {
    try {
      const po = new PerformanceObserver((list) => list.getEntries().forEach(fn));
      po.observe(Object.assign({ type: type, buffered: true }, extra || {}));
      return true;
    } catch (e) { return false; }
  };
  watch('largest-contentful-paint', (e) => { v.lcp = e.renderTime || e.startTime || e.loadTime; });
  watch('paint', (e) => { if (e.name === 'first-contentful-paint') v.fcp = e.startTime; });
  let win = 0, first = 0, last = 0;
  watch('layout-shift', (e) => {
    if (e.hadRecentInput) return;
    if (win > 0 && e.startTime - last < 1000 && e.startTime - first < 5000) { win += e.value; }
    else { win = e.value; first = e.startTime; }
    last = e.startTime;
    if (win > v.cls) v.cls = win;
  });
  const interaction = (e) => {
    if (!e.interactionId) return;
    v.inter.set(e.interactionId, Math.max(v.inter.get(e.interactionId) || 0, e.duration));
  };
  watch('event', interaction, { durationThreshold: 16 });
  watch('first-input', interaction);
  v.longtasks = watch('longtask', (e) => { v.tbt += Math.max(0, e.duration - 50); });
  v.snapshot = () => {
    const d = [...v.inter.values()].sort((a, b) => b - a);
    const nav = performance.getEntriesByType('navigation')[0] || null;
    const out = { doc: v.doc, url: location.href, lcp: v.lcp, fcp: v.fcp, cls: v.cls,
                  inp: d.length ? d[Math.min(Math.floor(d.length / 50), d.length - 1)] : null,
                  tbt: v.longtasks ? v.tbt : null, nav: null };
    if (nav) {
      out.nav = { ttfb: nav.responseStart, domInteractive: nav.domInteractive,
                  domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd };
    }
    return out;
  };
})();
"""

SNAPSHOT_JS = "() => (window.__cleanloopVitals ? window.__cleanloopVitals.snapshot() : null)"

#: snapshot key -> vital name in the browser table
VITAL_NAMES = {"lcp": "LCP", "fcp": "FCP", "cls": "CLS", "inp": "INP", "tbt": "TBT"}


@dataclass
class _DocVitals:
    step: int | None
    ts_ns: int
    snapshot: dict[str, Any]


class VitalsTracker:
    """Latest vitals snapshot per document; rows are handed out once per document."""

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._docs: dict[str, _DocVitals] = {}
        self._emitted: set[str] = set()

    def observe(self, page: Page, step: int | None) -> None:
        """Snapshot the page's current document (best effort: a navigating page is skipped)."""
        try:
            snap = page.evaluate(SNAPSHOT_JS)
        except PlaywrightError as exc:
            logger.debug("vitals snapshot skipped: %s", str(exc).splitlines()[0])
            return
        if not isinstance(snap, dict) or not snap.get("doc"):
            return
        doc = str(snap["doc"])
        if doc in self._emitted:
            return
        known = self._docs.get(doc)
        first_step = known.step if known is not None else step
        self._docs[doc] = _DocVitals(step=first_step, ts_ns=self._clock(), snapshot=snap)

    def take_rows(self) -> list[dict[str, Any]]:
        """Rows (kind vital / navigation) for every document not handed out yet."""
        rows: list[dict[str, Any]] = []
        for doc, entry in self._docs.items():
            self._emitted.add(doc)
            rows.extend(_rows_for(entry))
        self._docs.clear()
        return rows


def _rows_for(entry: _DocVitals) -> list[dict[str, Any]]:
    snap, rows = entry.snapshot, []
    base = {"ts_ns": entry.ts_ns, "url": snap.get("url"), "step": entry.step}
    for key, name in VITAL_NAMES.items():
        value = snap.get(key)
        if isinstance(value, int | float) and value >= 0:
            rows.append({**base, "kind": "vital", "name": name, "value": float(value)})
    nav = snap.get("nav") or {}
    for name, value in nav.items():
        if isinstance(value, int | float) and value > 0:
            rows.append({**base, "kind": "navigation", "name": name, "value": float(value)})
    return rows
