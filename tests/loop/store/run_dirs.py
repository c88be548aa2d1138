"""Run and verify directories built with the real RunStore (parquet tables, verdict.json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cleanloop.loop.store.run_store import RUNS_DIR, RunStore

#: a bound on every cleanloop subprocess a test starts
CLI_TIMEOUT_S = 120.0


def write_run(run_dir: Path, n_spans: int = 3, tag: str = "run") -> RunStore:
    """A run directory: `n_spans` spans (names `<tag>-<i>`), one log per span (same trace),
    a metric and a browser row; its tables written, no verdict yet."""
    store = RunStore(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    traces = [f"{i:032x}" for i in range(n_spans)]
    store.add(0, {
        "spans": {"trace_id": traces, "span_id": [f"{i:016x}" for i in range(n_spans)],
                  "name": [f"{tag}-{i}" for i in range(n_spans)], "service": ["shop"] * n_spans,
                  "duration_ms": [10.0 * (i + 1) for i in range(n_spans)],
                  "status": ["OK"] * n_spans},
        "logs": {"trace_id": traces, "level": ["error"] + ["info"] * (n_spans - 1),
                 "message": [f"{tag} log {i}" for i in range(n_spans)]},
        "metrics": {"name": ["requests_total"], "sample": ["requests_total"],
                    "type": ["counter"], "value": [float(n_spans)]},
        "browser": {"kind": ["console"], "level": ["error"], "text": [f"{tag} console"]},
    })
    store.write_tables()
    return store


def finish(run_dir: Path, verdict: str = "pass", mtime_ns: int | None = None) -> Path:
    """Write the run's verdict.json (what marks it finished); optionally pin its mtime."""
    path = run_dir / "verdict.json"
    path.write_text(json.dumps({"verdict": verdict, "artifacts": {"run_dir": str(run_dir)}}))
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def write_verify(top: Path) -> Path:
    """A verify directory: baseline/ (2 spans) and candidate/ (3 spans), and a verdict."""
    write_run(top / "baseline", n_spans=2, tag="base")
    write_run(top / "candidate", n_spans=3, tag="cand")
    finish(top, "accept")
    return top


def runs_dir(root: Path) -> Path:
    return root / RUNS_DIR


def cleanloop(*args: str, cwd: Path, home: Path | None = None,
              timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """`python -m cleanloop ARGS` as a real process (state root: `home` when given)."""
    env = {k: v for k, v in os.environ.items() if k != "CLEANLOOP_HOME"}
    if home is not None:
        env["CLEANLOOP_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "cleanloop", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
