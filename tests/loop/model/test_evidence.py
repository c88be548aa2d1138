"""The one definition of slowest spans, error logs, console errors and failed requests
(cleanloop.loop.model.evidence), which the run summary, the agent's evidence bundle and the
HTML report share."""

from __future__ import annotations

import pandas as pd

from cleanloop.loop.model import evidence

LOGS = pd.DataFrame({
    "ts_ns": [1, 2, 3, 4, 5, 6],
    "source": ["otlp", "stdout", "otlp", "stdout", "stderr", "otlp"],
    "level": ["error", "error", "info", "critical", "critical", "error"],
    "message": ["db timeout", "db timeout", "served", "crash", "crash", "late"],
    "trace_id": ["ab" * 16, "", "", None, "", ""],
})
BROWSER = pd.DataFrame({
    "kind": ["console", "console", "pageerror", "request", "request", "requestfailed"],
    "level": ["error", "warning", "error", None, None, None],
    "text": ["boom", "careful", "Uncaught x", None, None, "net::ERR_FAILED"],
    "location": ["a.js:1", "a.js:2", "a.js:3", None, None, None],
    "stack": [None, None, "at a.js:3", None, None, None],
    "status": [None, None, None, 500, 200, None],
})
SPANS = pd.DataFrame({"name": ["a", "b", "a", "c"], "duration_ms": [10.0, 50.0, 30.0, 5.0],
                      "status": ["OK", "ERROR", "ERROR", "OK"]})


def test_error_logs_are_levels_error_and_critical() -> None:
    assert list(evidence.error_logs(LOGS)["message"]) == ["db timeout", "db timeout", "crash",
                                                          "crash", "late"]


def test_a_line_seen_via_otlp_and_stdout_counts_once_but_stdout_and_stderr_add_up() -> None:
    groups = evidence.log_groups(evidence.error_logs(LOGS))
    # crash: once on stdout, once on stderr = 2 lines; db timeout: OTLP + stdout = 1 line;
    # ties (db timeout, late) in order of first sight
    assert [(g.message, g.count, g.trace_id) for g in groups.itertuples()] == [
        ("crash", 2, ""), ("db timeout", 1, "ab" * 16), ("late", 1, "")]


def test_console_errors_take_warnings_only_when_asked() -> None:
    assert list(evidence.console_errors(BROWSER)["text"]) == ["boom", "Uncaught x"]
    assert list(evidence.console_errors(BROWSER, warnings=True)["text"]) == [
        "boom", "careful", "Uncaught x"]
    groups = evidence.console_groups(pd.concat([BROWSER, BROWSER.iloc[[2]]]))
    assert [(g.kind, g.count, g.stack) for g in groups.itertuples()] == [
        ("pageerror", 2, "at a.js:3"), ("console", 1, "")]


def test_failed_requests_are_status_400_or_more_and_failures() -> None:
    failed = evidence.failed_requests(BROWSER)
    assert list(failed["kind"]) == ["request", "requestfailed"]
    assert list(failed["status"].fillna(0)) == [500, 0]


def test_slowest_spans_and_span_stats() -> None:
    assert list(evidence.slowest_spans(SPANS, 2)["duration_ms"]) == [50.0, 30.0]
    stats = evidence.span_stats(SPANS)
    assert list(stats.index) == ["b", "a", "c"]
    assert stats.loc["a", "n"] == 2 and stats.loc["a", "errors"] == 1
    assert stats.loc["a", "p50"] == 20.0 and stats.loc["a", "p95"] == 29.0


def test_empty_tables_give_empty_answers() -> None:
    empty = pd.DataFrame()
    assert evidence.slowest_spans(empty, 5).empty and evidence.span_stats(empty).empty
    assert evidence.error_logs(empty).empty and evidence.log_groups(empty).empty
    assert evidence.console_errors(empty).empty and evidence.console_groups(empty).empty
    assert evidence.failed_requests(empty).empty
