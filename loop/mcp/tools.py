"""What the MCP tools do, without MCP: run, query, failures and verify as JSON-able dicts.

Each function takes the server's working directory (the user's repository) and the
tool's arguments, calls the same core as the CLI, and returns plain JSON values
(numbers that are not finite become null, anything exotic becomes its string).
Errors are the CleanloopError tree; the server turns them into tool errors.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cleanloop.loop.base.errors import UsageError
from cleanloop.loop.gate.verify import Verifier, VerifyRequest
from cleanloop.loop.model.scenario import load_scenario
from cleanloop.loop.model.verdict import summary_lines
from cleanloop.loop.model.verdict_types import Verdict
from cleanloop.loop.report.verify_table import table_lines
from cleanloop.loop.run.progress import QuietProgress
from cleanloop.loop.run.runner import run_scenario
from cleanloop.loop.store.query import query_run
from cleanloop.loop.store.run_store import resolve_run
from cleanloop.loop.vcs.repo import git_toplevel, state_root

logger = logging.getLogger(__name__)

#: keys of a failing check an agent needs: what, how bad, against what, and why
FAILURE_KEYS = ("check", "kind", "role", "value", "threshold", "unit", "worst", "repeat", "note",
                "classification", "evidence")


def jsonable(value: Any) -> Any:
    """`value` as plain JSON types: dicts, lists, str, int, finite floats, bools, None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return jsonable(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def failing_checks(verdict: Verdict) -> list[dict[str, Any]]:
    """The checks of a verdict that did not hold, with value, threshold and evidence (the
    keys of FAILURE_KEYS that the entry writes to verdict.json)."""
    return [jsonable({k: entry[k] for k in FAILURE_KEYS if k in entry})
            for entry in (c.to_json() for c in verdict.failing())]


def _path(cwd: Path, given: str) -> Path:
    path = Path(given)
    return path if path.is_absolute() else cwd / path


def run_tool(cwd: Path, env: Mapping[str, str], scenario: str, repeat: int) -> dict[str, Any]:
    if repeat < 1:
        raise UsageError("repeat must be at least 1")
    path = _path(cwd, scenario)
    loaded = load_scenario(path)
    logger.info("mcp: running %s (%d repetition(s))", path, repeat)
    result = run_scenario(loaded, project_dir=path.resolve().parent,
                          state_root=state_root(env, cwd), repeat=repeat,
                          progress=QuietProgress(), env=env)
    return {"verdict": result.verdict.verdict, "run_id": result.store.dir.name,
            "run_dir": str(result.store.dir), "summary": summary_lines(result.verdict),
            "failing": failing_checks(result.verdict)}


def query_tool(cwd: Path, env: Mapping[str, str], run: str, sql: str, limit: int) -> dict[str, Any]:
    if limit < 1:
        raise UsageError("limit must be at least 1")
    run_dir = resolve_run(state_root(env, cwd), run)
    columns, rows = query_run(run_dir, sql)
    return {"run_dir": str(run_dir), "columns": columns,
            "rows": jsonable([list(r) for r in rows[:limit]]), "row_count": len(rows),
            "truncated": len(rows) > limit}


def failures_tool(cwd: Path, env: Mapping[str, str], run: str) -> list[dict[str, Any]]:
    run_dir = resolve_run(state_root(env, cwd), run)
    path = run_dir / "verdict.json"
    if not path.exists():
        raise UsageError(f"{run_dir} has no verdict.json (the run did not finish)")
    try:
        verdict = Verdict.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    return failing_checks(verdict)


def verify_tool(cwd: Path, env: Mapping[str, str], scenario: str, base: str, candidate: str | None,
                patch: str | None) -> dict[str, Any]:
    repo = git_toplevel(cwd)
    if repo is None:
        raise UsageError(f"verify works inside a git repository; {cwd} is not in one")
    if (candidate is None) == (patch is None):
        raise UsageError("give exactly one of candidate (a git revision) or patch (a patch "
                         "file or the unified diff text)")
    written: Path | None = None
    try:
        patch_path: Path | None = None
        if patch is not None:
            patch_path, written = _patch_file(cwd, patch)
        req = VerifyRequest(scenario_path=_path(cwd, scenario), base=base, candidate=candidate,
                            patch=patch_path)
        logger.info("mcp: verifying %s (base %s)", scenario, base)
        result = Verifier(repo, state_root(env, cwd), QuietProgress(), env).verify(req)
    finally:
        if written is not None:
            written.unlink(missing_ok=True)
    return {"verdict": result.outcome, "reason": result.reason,
            "table": table_lines(result.verdict), "run_dir": str(result.run_dir),
            "failing": failing_checks(result.verdict)}


def _patch_file(cwd: Path, patch: str) -> tuple[Path, Path | None]:
    """(patch file, temporary file to delete): `patch` is a path or the diff text itself."""
    if "\n" not in patch.strip():
        return _path(cwd, patch).resolve(), None
    fd, name = tempfile.mkstemp(prefix="cleanloop-mcp-", suffix=".patch")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(patch if patch.endswith("\n") else patch + "\n")
    return Path(name), Path(name)
