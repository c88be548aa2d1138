from __future__ import annotations

import pytest

from cleanloop.loop.model.checks import Filter, parse_check


def test_absolute_check_with_duration_unit() -> None:
    c = parse_check('span("POST /api/checkout").p95 < 0.3s')
    assert (c.kind, c.role, c.op, c.threshold) == ("absolute", "check", "<", 300.0)
    assert c.sli.root == "span" and c.sli.path == ("p95",)
    assert c.sli.segments[0].args == ("POST /api/checkout",)
    assert c.holds(299.0) and not c.holds(300.0)


def test_zero_count_check_with_filters() -> None:
    c = parse_check('logs(level >= error, message ~ "boom").count == 0')
    assert c.kind == "zero"
    assert c.sli.segments[0].filters == (Filter("level", ">=", "error"),
                                          Filter("message", "~", "boom"))


def test_label_shorthand_and_numbers() -> None:
    c = parse_check('metric("h_seconds", route="/api/x").p95 <= 0.25')
    assert c.sli.segments[0].filters == (Filter("route", "==", "/api/x"),)
    assert c.threshold == 0.25
    assert parse_check("requests(status >= 400).count == 0").sli.segments[0].filters == (
        Filter("status", ">=", 400.0),)


def test_targets_and_guards_are_relative() -> None:
    t = parse_check("app.startup improves >= 20%", "target")
    g = parse_check("span(*).p95 regresses <= 5%", "guard")
    assert (t.kind, t.threshold, g.kind, g.threshold) == ("relative", 0.2, "relative", 0.05)
    assert g.sli.segments[0].args == ("*",)


@pytest.mark.parametrize(("text", "role", "words"), [
    ("span(\"x\").p95 <", "check", "expected 'number'"),
    ("span(\"x\".p95 < 1", "check", "expected ',' or ')'"),
    ("app.startup improves >= 20%", "check", "belongs under 'targets:'"),
    ("app.startup < 3ms", "target", "must read"),
    ("app.startup improves <= 20%", "target", "improves >= X%"),
    ("app.startup < 3 extra", "check", "unexpected 'extra'"),
    ("app.startup < 3 $", "check", "unexpected character"),
])
def test_malformed_checks_explain_themselves(text: str, role: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_check(text, role)
