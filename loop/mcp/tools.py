"""What the MCP tools do, without MCP: run, query, failures and verify as typed results.

Each function takes the server's working directory (the user's repository) and the tool's
arguments, calls the same core as the CLI, and returns a pydantic model of
cleanloop.loop.mcp.results (the SDK publishes its schema as the tool's output schema):

    run_tool       -> RunResult       (tool run_scenario)
    query_tool     -> QueryResult     (tool query)
    failures_tool  -> list[Failure]   (tool list_failures; {"result": [...]} on the wire)
    verify_tool    -> VerifyResult    (tool verify, verify_start / verify_status)

`jsonable(result)` is a result's plain JSON form (the dicts these functions returned before,
with the same keys). run_tool and verify_tool report to `progress` and stop at its
checkpoints when it is cancelled (cleanloop.loop.mcp.jobs). Errors are the CleanloopError
tree (bad arguments: UsageError); the server turns them into tool errors.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cleanloop.loop.base.errors import UsageError
from cleanloop.loop.gate.plan import SequentialPlan, plan_from_bounds
from cleanloop.loop.gate.verify import Verifier, VerifyRequest
from cleanloop.loop.mcp.results import (
    Failure,
    QueryResult,
    RunResult,
    VerifyResult,
    failures_of,
    jsonable,
    run_result,
    verify_result,
)
from cleanloop.loop.model.scenario import load_scenario
from cleanloop.loop.model.verdict_types import Verdict
from cleanloop.loop.run.progress import Progress, QuietProgress
from cleanloop.loop.run.runner import run_scenario
from cleanloop.loop.store.query import query_run
from cleanloop.loop.store.run_store import resolve_run
from cleanloop.loop.vcs.repo import git_toplevel, state_root

logger = logging.getLogger(__name__)

#: keys of a failing check an agent needs: what, how bad, against what, and why (the fields
#: of results.Failure)
FAILURE_KEYS = tuple(Failure.model_fields)
#: the names verify's bounds have in the tool's arguments (for the error messages)
BOUND_NAMES = ("runs", "max_runs", "alpha")

__all__ = ["FAILURE_KEYS", "failing_checks", "failures_tool", "jsonable", "query_tool",
           "run_tool", "verify_plan", "verify_tool"]


def failing_checks(verdict: Verdict) -> list[dict[str, Any]]:
    """The checks of a verdict that did not hold, as plain JSON (value, threshold, evidence)."""
    return [jsonable(f) for f in failures_of(verdict)]


def _path(cwd: Path, given: str) -> Path:
    path = Path(given)
    return path if path.is_absolute() else cwd / path


def run_tool(cwd: Path, env: Mapping[str, str], scenario: str, repeat: int = 1, *,
             progress: Progress | None = None) -> RunResult:
    if repeat < 1:
        raise UsageError("repeat must be at least 1")
    path = _path(cwd, scenario)
    loaded = load_scenario(path)
    logger.info("mcp: running %s (%d repetition(s))", path, repeat)
    result = run_scenario(loaded, project_dir=path.resolve().parent,
                          state_root=state_root(env, cwd), repeat=repeat,
                          progress=progress or QuietProgress(), env=env)
    return run_result(result.verdict, result.store.dir)


def query_tool(cwd: Path, env: Mapping[str, str], run: str, sql: str,
               limit: int = 200) -> QueryResult:
    if limit < 1:
        raise UsageError("limit must be at least 1")
    run_dir = resolve_run(state_root(env, cwd), run)
    columns, rows = query_run(run_dir, sql)
    return QueryResult(run_dir=str(run_dir), columns=list(columns),
                       rows=jsonable([list(r) for r in rows[:limit]]), row_count=len(rows),
                       truncated=len(rows) > limit)


def failures_tool(cwd: Path, env: Mapping[str, str], run: str) -> list[Failure]:
    run_dir = resolve_run(state_root(env, cwd), run)
    path = run_dir / "verdict.json"
    if not path.exists():
        raise UsageError(f"{run_dir} has no verdict.json (the run did not finish)")
    try:
        verdict = Verdict.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    return failures_of(verdict)


def verify_plan(runs: int | None, max_runs: int | None) -> SequentialPlan | None:
    """The gate's plan for verify's `runs` and `max_runs`, mapped as the CLI maps `--runs` and
    `--max-runs` (None when neither is given: the scenario's default plan)."""
    return plan_from_bounds(runs, max_runs, None, names=BOUND_NAMES)


def verify_deadline(budget_s: float | None, now: float | None = None) -> float | None:
    """time.monotonic() after which no new verify run starts; None without a budget."""
    if budget_s is None:
        return None
    if isinstance(budget_s, bool) or not math.isfinite(budget_s) or budget_s <= 0:
        raise UsageError(f"budget must be a positive number of seconds (got {budget_s})")
    return (time.monotonic() if now is None else now) + budget_s


def verify_tool(cwd: Path, env: Mapping[str, str], scenario: str, base: str = "HEAD",
                candidate: str | None = None, patch: str | None = None, *,
                runs: int | None = None, max_runs: int | None = None,
                budget_s: float | None = None,
                progress: Progress | None = None) -> VerifyResult:
    """A/B-verify `candidate` (or `patch` on `base`) against `base`. `runs` / `max_runs`: runs
    per side at the first look / at most (the CLI's --runs / --max-runs); `budget_s`: no new
    run starts after so many seconds (the verdict is then inconclusive, never accept)."""
    repo = git_toplevel(cwd)
    if repo is None:
        raise UsageError(f"verify works inside a git repository; {cwd} is not in one")
    if (candidate is None) == (patch is None):
        raise UsageError("give exactly one of candidate (a git revision) or patch (a patch "
                         "file or the unified diff text)")
    plan = verify_plan(runs, max_runs)
    deadline = verify_deadline(budget_s)
    written: Path | None = None
    try:
        patch_path: Path | None = None
        if patch is not None:
            patch_path, written = _patch_file(cwd, patch)
        req = VerifyRequest(scenario_path=_path(cwd, scenario), base=base, candidate=candidate,
                            patch=patch_path, plan=plan, deadline=deadline)
        logger.info("mcp: verifying %s (base %s)", scenario, base)
        result = Verifier(repo, state_root(env, cwd), progress or QuietProgress(),
                          env).verify(req)
    finally:
        if written is not None:
            written.unlink(missing_ok=True)
    return verify_result(result.verdict, result.outcome, result.reason, result.run_dir)


def _patch_file(cwd: Path, patch: str) -> tuple[Path, Path | None]:
    """(patch file, temporary file to delete): `patch` is a path or the diff text itself."""
    if "\n" not in patch.strip():
        return _path(cwd, patch).resolve(), None
    fd, name = tempfile.mkstemp(prefix="cleanloop-mcp-", suffix=".patch")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(patch if patch.endswith("\n") else patch + "\n")
    return Path(name), Path(name)
