"""verdict.json keeps its stable keys and values: the typed Verdict of a run and of a verify
serialises to exactly the JSON (keys, order, values) the dict builders wrote before the types
(verdict_golden/*.json, captured from them), reads back to the same JSON, and the human text
printed from it (run summary, verify table, commit message, prompt rows) is unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cleanloop.loop.fix.prompt import check_block, gate_rows
from cleanloop.loop.fix.summary import commit_message
from cleanloop.loop.gate.verify_verdict import build_verify_verdict
from cleanloop.loop.model.verdict import build_verdict, summary_lines
from cleanloop.loop.model.verdict_types import Verdict
from cleanloop.loop.report.verify_table import table_lines
from tests.loop.model import verdict_fixtures as f


def golden(name: str) -> str:
    return (f.GOLDEN / name).read_text(encoding="utf-8")


def run_verdict() -> Verdict:
    return build_verdict(scenario="shop", scenario_file="scenarios/shop.yaml", run_dir=f.RUN_DIR,
                         reps=f.reps(), results=f.check_results(),
                         not_evaluated=['span("GET /a").p95 improves >= 20%'],
                         app_log_tail="last line\nerror")


def verify_verdict(with_gate: bool = True) -> Verdict:
    return build_verify_verdict(f.scenario(), f.sides(), f.decision() if with_gate else None,
                                f.check_results()[:2], "reject", "checks fail")


def key_paths(data: Any, prefix: str = "") -> list[str]:
    """Every key path in document order: 'checks[].evidence.slowest[].name', ..."""
    if isinstance(data, dict):
        return [p for k, v in data.items()
                for p in [f"{prefix}.{k}", *key_paths(v, f"{prefix}.{k}")]]
    if isinstance(data, list):
        return [p for v in data for p in key_paths(v, prefix + "[]")]
    return []


@pytest.mark.parametrize(("build", "name"), [
    (run_verdict, "run.json"), (verify_verdict, "verify.json"),
    (lambda: verify_verdict(with_gate=False), "verify_no_gate.json")])
def test_the_verdict_json_is_what_the_dict_builders_wrote(build: Any, name: str) -> None:
    verdict = build()
    expected = json.loads(golden(name))
    assert key_paths(verdict.to_json()) == key_paths(expected)   # same keys, same order
    assert verdict.dumps() == golden(name)                        # same values, byte for byte


@pytest.mark.parametrize("name", ["run.json", "verify.json", "verify_no_gate.json"])
def test_a_written_verdict_reads_back_to_the_same_json(name: str) -> None:
    assert Verdict.from_json(json.loads(golden(name))).dumps() == golden(name)


def test_the_text_printed_from_a_verdict_is_unchanged() -> None:
    text = json.loads(golden("text.json"))
    run, verify = run_verdict(), verify_verdict()
    assert summary_lines(run) == text["summary"]
    assert table_lines(verify) == text["table"]
    assert table_lines(verify_verdict(with_gate=False)) == text["table_no_gate"]
    assert commit_message("shop", verify, 2, run) == text["commit"]
    assert gate_rows(verify) == text["gate_rows"]
    assert [check_block(c) for c in run.failing()] == text["check_blocks"]


def test_passed_and_failing_come_from_the_checks() -> None:
    run = run_verdict()
    assert not run.passed and not run.is_verify and verify_verdict().is_verify
    assert [c.check for c in run.failing()] == [
        'span("POST /api/checkout").p95 < 60ms', "logs(level >= error).count == 0",
        "step #1 (cart-count)", "app.crashed == 0"]
