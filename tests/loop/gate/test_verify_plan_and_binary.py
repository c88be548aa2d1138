"""`cleanloop verify` end to end: the plan the user asks for is the plan used, and a 0/1 SLI
such as `step(..).ok == 1` is judged run by run (a correct fix takes it 0 -> 1)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cleanloop.loop.cli.main import main
from tests.repo_state import assert_no_worktrees
from tests.shop_repo import fix, seeded_shop

pytestmark = pytest.mark.slow

CHECKS_ONLY = """\
name: products-errors
app:
  command: "{python} app/shop.py --port {port}"
  ready: {http: /healthz}
steps:
  - http: {name: products, method: GET, path: /api/products, expect_status: 200}
checks:
  - span("GET /api/products").error_count == 0
"""

UI_OK = """\
name: ui-ok
app:
  command: "{python} app/shop.py --port {port}"
  ready: {http: /healthz}
steps:
  - browser: {name: open-shop, goto: /}
  - browser: {wait_for: {selector: "[data-product-id='3'] button"}}
  - browser: {name: add-to-cart, click: "[data-product-id='3'] >> text=Add to cart"}
  - browser: {name: cart-count, expect_text: {selector: "#cart-count", text: "1"}, timeout: 3s}
checks:
  - step("cart-count").ok == 1
  - console.errors == 0
"""


@pytest.fixture
def shop(tmp_path: Path, git_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    repo = seeded_shop(tmp_path / "shop", dirty=False)
    for name, text in (("products-errors.yaml", CHECKS_ONLY), ("ui-ok.yaml", UI_OK)):
        (repo / name).write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "scenarios"], check=True)
    monkeypatch.chdir(repo)
    yield repo
    assert_no_worktrees(repo)


def verify(capsys: pytest.CaptureFixture[str], scenario: str,
           *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["verify", scenario, "--base", "HEAD", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_max_runs_18_is_the_plan_used_even_when_it_equals_the_default(
        shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # without plan flags a checks-only scenario takes one look at 3 runs per side
    code, verdict = verify(capsys, "products-errors.yaml", "--candidate", "HEAD")
    assert (code, verdict["verdict"]) == (0, "accept"), verdict["reason"]
    assert verdict["candidate"]["runs"] == 3
    # `--max-runs 18` asks for the plan 6, 10, 14, 18: its first look is at 6 runs
    code, verdict = verify(capsys, "products-errors.yaml", "--candidate", "HEAD",
                           "--max-runs", "18")
    assert (code, verdict["verdict"]) == (0, "accept"), verdict["reason"]
    assert verdict["baseline"]["runs"] == verdict["candidate"]["runs"] == 6
    # every run of both sides says how much telemetry arrived after its last step
    assert len(verdict["runs"]) == 12
    assert all(r["quiesce_outcome"] in ("quiet", "bound") and
               set(r["rows_after_last_step"]) == {"spans", "logs", "metrics"}
               for r in verdict["runs"])


@pytest.mark.browser
def test_a_ui_fix_taking_step_ok_from_0_to_1_is_accepted(
        shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, verdict = verify(capsys, "ui-ok.yaml", "--patch", str(fix("add-to-cart.patch")))
    assert (code, verdict["verdict"]) == (0, "accept"), verdict["reason"]
    # no ratio guard on a 0/1 SLI: the check holds in every candidate run instead
    assert not [c for c in verdict["checks"] if c["kind"] == "relative"]
    ok = next(c for c in verdict["checks"] if c["check"] == 'step("cart-count").ok == 1')
    assert ok["ok"] and ok["values"] == [1.0] * verdict["candidate"]["runs"]


@pytest.mark.browser
def test_a_wrong_ui_fix_still_fails_its_step_and_is_rejected(
        shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, verdict = verify(capsys, "ui-ok.yaml", "--patch", str(fix("add-to-cart-wrong.patch")))
    assert (code, verdict["verdict"]) == (1, "reject")
    assert "cart-count" in verdict["reason"]
