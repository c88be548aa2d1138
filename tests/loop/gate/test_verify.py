"""`cleanloop verify` on the real shop app in two worktrees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cleanloop.loop.cli.main import main
from cleanloop.loop.store.query import query_run
from tests.repo_state import assert_no_worktrees, snapshot
from tests.shop_repo import fix, make_patch, seeded_shop

pytestmark = pytest.mark.slow


@pytest.fixture
def shop(tmp_path: Path, git_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The seeded shop with the user's uncommitted edits; after every test it is exactly as
    it was, with no worktree left."""
    repo = seeded_shop(tmp_path / "shop")
    monkeypatch.chdir(repo)
    before = snapshot(repo)
    yield repo
    assert snapshot(repo) == before
    assert_no_worktrees(repo)


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["verify", "checkout-perf.yaml", "--base", "HEAD", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def relative(verdict: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [c for c in verdict["checks"] if c["kind"] == "relative" and c["role"] == role]


def test_real_n_plus_one_fix_is_accepted_and_the_user_tree_is_untouched(
        shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(shop)
    code, verdict = verify(capsys, "--patch", str(fix("checkout-n-plus-one.patch")))
    assert (code, verdict["verdict"]) == (0, "accept"), verdict["reason"]
    [target] = relative(verdict, "target")
    assert target["classification"] == "improved"
    ev = target["evidence"]
    assert ev["ratio"] < 0.8 and ev["ci"][1] is not None and ev["p_value"] < ev["alpha_look"]
    assert ev["n_baseline"] == ev["n_candidate"] >= 6
    # a target decided early keeps its evidence of that look while a guard asks for more runs
    n_base, n_cand = verdict["baseline"]["runs"], verdict["candidate"]["runs"]
    assert n_base == n_cand >= ev["n_baseline"]
    # the scenario came from the base revision, not the user's edited copy (< 1ms)
    checks = [c for c in verdict["checks"] if c["kind"] == "absolute"]
    assert checks and checks[0]["threshold"] == 60.0 and checks[0]["ok"]
    run_dir = Path(verdict["artifacts"]["run_dir"])
    assert (run_dir / "verdict.json").exists()
    assert (run_dir / "candidate" / "spans.parquet").exists()
    # `cleanloop query` sees both sides of a verify, told apart by `side`
    _, rows = query_run(run_dir, "SELECT side, count(DISTINCT repeat) FROM spans "
                                 "WHERE name = 'POST /api/checkout' GROUP BY 1 ORDER BY 1")
    assert rows == [("baseline", n_base), ("candidate", n_cand)]
    assert snapshot(shop) == before
    assert_no_worktrees(shop)


def test_wrong_fix_is_never_accepted(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(shop)
    code, verdict = verify(capsys, "--patch", str(fix("checkout-wrong.patch")))
    assert code in (1, 4) and verdict["verdict"] in ("reject", "inconclusive")
    [target] = relative(verdict, "target")
    assert target["classification"] in ("not_improved", "inconclusive")
    assert snapshot(shop) == before
    assert_no_worktrees(shop)


def test_fix_that_slows_another_route_is_rejected_by_a_guard(
        shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slow_products = make_patch(tmp_path, {"app/api.py": (
        "        return jsonify(catalog.list_products(conn))",
        "        for _ in range(40):  # recompute the listing for 'freshness'\n"
        "            listing = catalog.list_products(conn)\n"
        "        return jsonify(listing)")}, base_fix="checkout-n-plus-one.patch")
    code, verdict = verify(capsys, "--patch", str(slow_products))
    assert (code, verdict["verdict"]) == (1, "reject")
    guards = {g["evidence"]["sli"]: g for g in relative(verdict, "guard")}
    guard = guards['span("GET /api/products").p50']
    assert guard["classification"] == "regressed" and not guard["ok"]
    assert "GET /api/products" in verdict["reason"]


def test_candidate_that_crashes_at_boot_is_rejected_with_the_reason(
        shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = make_patch(tmp_path, {"app/api.py": (
        '@bp.get("/api/products")\n',
        'raise RuntimeError("config key SHOP_DB missing")\n\n\n@bp.get("/api/products")\n')})
    before = snapshot(shop)
    code, verdict = verify(capsys, "--patch", str(broken))
    assert (code, verdict["verdict"]) == (1, "reject")
    assert "candidate failed to boot" in verdict["reason"]
    assert "config key SHOP_DB missing" in verdict["reason"]
    assert snapshot(shop) == before
    assert_no_worktrees(shop)


def test_patch_that_does_not_apply_is_a_clear_error(
        shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.patch"
    bad.write_text("--- a/app/nope.py\n+++ b/app/nope.py\n@@ -1 +1 @@\n-x\n+y\n")
    assert main(["verify", "checkout-perf.yaml", "--patch", str(bad)]) == 3
    assert "bad.patch" in capsys.readouterr().err
    assert_no_worktrees(shop)


def test_verify_needs_one_candidate(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "checkout-perf.yaml"]) == 2
    assert "exactly one of --candidate REF or --patch FILE" in capsys.readouterr().err


def test_lazy_startup_fix_is_accepted(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "startup.yaml", "--base", "HEAD", "--json",
                 "--patch", str(fix("startup.patch"))])
    verdict = json.loads(capsys.readouterr().out)
    assert (code, verdict["verdict"]) == (0, "accept"), verdict["reason"]
    [target] = relative(verdict, "target")
    assert target["evidence"]["sli"] == "app.startup" and target["evidence"]["ratio"] < 0.8
    startup = next(c for c in verdict["checks"] if c["check"] == "app.startup < 2000ms")
    assert startup["ok"] and startup["value"] < 2000


def test_undecided_at_the_cap_is_inconclusive_and_exits_4(
        shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # two runs per side can never be significant at alpha 0.01 (the smallest one-sided
    # p-value of 2 vs 2 is 1/6), however large the effect: never an accept
    code = main(["verify", "startup.yaml", "--json", "--runs", "2", "--max-runs", "2",
                 "--patch", str(fix("startup.patch"))])
    verdict = json.loads(capsys.readouterr().out)
    assert (code, verdict["verdict"]) == (4, "inconclusive"), verdict["reason"]
    [target] = relative(verdict, "target")
    assert target["classification"] == "inconclusive" and not target["ok"]
    assert target["evidence"]["n_baseline"] == target["evidence"]["n_candidate"] == 2
    assert target["evidence"]["p_value"] > 0.1


def test_calibrate_measures_the_noise_and_the_runs_a_target_needs(
        shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "startup.yaml", "--calibrate", "--runs", "3", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["verdict"], report["runs_per_side"]) == (0, "calibration", 3)
    [row] = report["slis"]
    assert (row["sli"], row["role"], row["n"]) == ("app.startup", "target", [3, 3])
    assert 0 < row["cv"] < 1
    assert isinstance(row["runs_needed"], int) and row["runs_needed"] >= 2
    # A/A: both sides ran the base revision
    run_dir = Path(report["artifacts"]["run_dir"])
    assert (run_dir / "baseline" / "logs.parquet").exists()
    assert (run_dir / "candidate" / "logs.parquet").exists()
