"""`last` is the newest FINISHED run (or verify): the newest verdict.json, not the highest
directory name. Run ids order only to the second, and by scenario name within it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cleanloop.loop.base.errors import UsageError
from cleanloop.loop.store.run_store import resolve_run
from tests.loop.store.run_dirs import cleanloop, finish, runs_dir, write_run, write_verify

SECOND = "20250101-120000"
#: a fixed finish time (ns); the tests pin verdict.json mtimes instead of waiting for clocks
T0 = 1_735_732_800_000_000_000
MS = 1_000_000


def test_last_is_the_run_that_finished_last_not_the_highest_name(tmp_path: Path) -> None:
    runs = runs_dir(tmp_path)
    # same second; `zz-...` sorts after `aa-...` but finished first
    late_name = runs / f"{SECOND}-zz-checkout-0000"
    early_name = runs / f"{SECOND}-aa-checkout-ffff"
    write_run(late_name, n_spans=2, tag="zz")
    finish(late_name, mtime_ns=T0)
    write_run(early_name, n_spans=5, tag="aa")
    finish(early_name, mtime_ns=T0 + 7 * MS)
    assert resolve_run(tmp_path, "last") == early_name
    assert resolve_run(tmp_path, "latest") == early_name


def test_an_unfinished_newer_run_is_skipped(tmp_path: Path) -> None:
    runs = runs_dir(tmp_path)
    done = runs / f"{SECOND}-checkout-0001"
    write_run(done, tag="done")
    finish(done, mtime_ns=T0)
    # started later, highest name, tables half written, no verdict.json: still running
    running = runs / "20250101-120001-checkout-0002"
    write_run(running, tag="running")
    # a verify that failed before its verdict: sides but no verdict.json
    broken = runs / "20250101-120002-verify-checkout-0003"
    (broken / "baseline").mkdir(parents=True)
    assert resolve_run(tmp_path, "last") == done


def test_a_verify_directory_counts_once_finished(tmp_path: Path) -> None:
    runs = runs_dir(tmp_path)
    run = runs / f"{SECOND}-checkout-0001"
    write_run(run)
    finish(run, mtime_ns=T0)
    verify = write_verify(runs / f"{SECOND}-verify-checkout-0002")
    finish(verify, "reject", mtime_ns=T0 + MS)
    assert resolve_run(tmp_path, "last") == verify
    finish(run, mtime_ns=T0 + 2 * MS)
    assert resolve_run(tmp_path, "last") == run


def test_runs_but_none_finished_is_a_clear_error(tmp_path: Path) -> None:
    runs = runs_dir(tmp_path)
    write_run(runs / f"{SECOND}-checkout-0001")
    (runs / f"{SECOND}-verify-checkout-0002" / "baseline").mkdir(parents=True)
    with pytest.raises(UsageError, match=r"no finished run under .*: none of its 2 directories "
                                         r"has a verdict\.json yet"):
        resolve_run(tmp_path, "last")


def test_no_runs_at_all(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no runs yet under"):
        resolve_run(tmp_path, "last")


def test_ids_and_paths_still_name_unfinished_runs(tmp_path: Path) -> None:
    runs = runs_dir(tmp_path)
    done = runs / f"{SECOND}-checkout-0001"
    write_run(done)
    finish(done)
    running = runs / f"{SECOND}-checkout-0002"
    write_run(running)
    assert resolve_run(tmp_path, f"{SECOND}-checkout-0002") == running
    assert resolve_run(tmp_path, str(running)) == running


def test_cli_query_last_uses_the_finished_run(tmp_path: Path) -> None:
    """The reported case: a failed verify and a good run in the same second; `query last`
    used to pick the verify directory (no tables) and fail."""
    runs = runs_dir(tmp_path)
    good = runs / f"{SECOND}-checkout-0001"
    write_run(good, n_spans=4)
    finish(good, mtime_ns=T0)
    (runs / f"{SECOND}-verify-checkout-0002" / "baseline").mkdir(parents=True)
    proc = cleanloop("query", "last", "SELECT count(*) AS n FROM spans", "--json",
                     cwd=tmp_path, home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": 4}]


def test_cli_query_last_without_a_finished_run_exits_2(tmp_path: Path) -> None:
    write_run(runs_dir(tmp_path) / f"{SECOND}-checkout-0001")
    proc = cleanloop("query", "last", "SELECT 1", cwd=tmp_path, home=tmp_path)
    assert proc.returncode == 2
    assert "cleanloop: error: no finished run under" in proc.stderr
