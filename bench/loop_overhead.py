"""Cost of one `cleanloop fix` iteration, outside the agent, against the `verify` it contains.

One fix of checkout-perf.yaml with one iteration, the scripted agent applying
fixes/checkout-n-plus-one.patch, is timed against `cleanloop verify checkout-perf.yaml
--base HEAD --patch fixes/checkout-n-plus-one.patch --runs 6 --max-runs 6` alone, on a
freshly seeded shop repository each, alternating which goes first. Both verifies make
exactly 6 runs per side. The fix runs in a child process that builds what `cleanloop fix
--agent scripted --max-iterations 1 --runs 6 --max-runs 6` builds, plus a progress
recorder and timing hooks around its phases.

The iteration is the fix's wall time minus the agent's own time and minus the reproduce
run, which happens once per fix before iteration 1 (reported separately, never hidden).
Target: iteration / verify alone <= 1.1. On a shared machine the two ~minute-long
processes see different load, so the ratio is also given paired: within each fix, the
iteration against its own verify plus the start-up a `cleanloop verify` process has too.

    python bench/loop_overhead.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cleanloop.loop.cli.demo import FIXES_DIR, seed_repository  # noqa: E402

CLI = [sys.executable, "-m", "cleanloop"]
SCENARIO = "checkout-perf.yaml"
PATCH = FIXES_DIR / "checkout-n-plus-one.patch"
RUNS = 6
TARGET = 1.1
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "cleanloop bench",
                "GIT_AUTHOR_EMAIL": "bench@cleanloop.invalid",
                "GIT_COMMITTER_NAME": "cleanloop bench",
                "GIT_COMMITTER_EMAIL": "bench@cleanloop.invalid"}
#: the fix's own parts, outside the agent, the reproduce run, its verify and the start-up
LOOP_PARTS = (("fix_imports", "imports only fix needs"), ("setup", "agent+scenario"),
              ("attempt_setup", "worktree+bundle"), ("after_agent", "diff+removal"),
              ("land", "branch"), ("report", "report+summary"))


def fix_child(out: Path) -> int:
    """In a seeded repo: `cleanloop fix` with one scripted iteration and the verify's plan."""
    import cleanloop.loop.gate.verify  # noqa: F401
    import cleanloop.loop.report.verify_table  # noqa: F401
    import cleanloop.loop.run.progress  # noqa: F401   what `cleanloop verify` imports as well
    from cleanloop.loop.gate.rules import SequentialPlan
    from cleanloop.loop.vcs.repo import state_root

    marks: dict[str, float] = {"common_imports": time.perf_counter()}
    from cleanloop.loop.fix.driver import Driver, FixRequest
    from cleanloop.loop.fix.summary import summary_lines

    marks["imported"] = time.perf_counter()

    class Recorder:
        """A Progress that keeps when the driver said it is verifying."""

        def phase(self, text: str) -> None:
            if text.endswith(": verifying"):
                marks.setdefault("verifying", time.perf_counter())

        def note(self, text: str) -> None:
            del text

        def checkpoint(self) -> None:
            pass

        def close(self) -> None:
            pass

    class TimedAgent:
        def __init__(self, agent: Any) -> None:
            self.agent, self.name = agent, agent.name

        def run(self, inv: Any) -> Any:
            return around("agent", lambda: self.agent.run(inv))

    def around(name: str, call: Callable[[], Any]) -> Any:
        marks[f"{name}_start"] = time.perf_counter()
        try:
            return call()
        finally:
            marks[f"{name}_end"] = time.perf_counter()

    class TimedDriver(Driver):
        def _reproduce(self, *args: Any, **kwargs: Any) -> Any:
            return around("reproduce", lambda: super(TimedDriver, self)._reproduce(
                *args, **kwargs))

        def _attempt(self, req: Any, agent: Any, *args: Any, **kwargs: Any) -> Any:
            return around("attempt", lambda: super(TimedDriver, self)._attempt(
                req, TimedAgent(agent), *args, **kwargs))

        def _land(self, *args: Any, **kwargs: Any) -> Any:
            return around("land", lambda: super(TimedDriver, self)._land(*args, **kwargs))

    plan = SequentialPlan.from_runs(RUNS, RUNS, 0.01)  # `--runs 6 --max-runs 6`, as verify
    req = FixRequest(scenario_path=Path(SCENARIO), agent="scripted", max_iterations=1,
                     scripted_patches=(PATCH,), plan=plan)
    result = around("fix", lambda: TimedDriver(Path.cwd(), state_root(os.environ), Recorder(),
                                               os.environ).fix(req))
    print("\n".join(summary_lines(result)))
    end = time.perf_counter()
    if "verifying" not in marks or not result.attempts[0].verdict_path:
        out.write_text(json.dumps({"outcome": result.outcome, "runs": 0}))
        return 1
    verdict = json.loads(Path(result.attempts[0].verdict_path).read_text())
    parts = {
        "in_process": end - marks["common_imports"],   # the rest of the wall: "startup"
        "fix_imports": marks["imported"] - marks["common_imports"],
        "setup": marks["reproduce_start"] - marks["imported"],
        "reproduce": marks["reproduce_end"] - marks["reproduce_start"],
        "attempt_setup": marks["agent_start"] - marks["attempt_start"],
        "agent": marks["agent_end"] - marks["agent_start"],
        "after_agent": marks["verifying"] - marks["agent_end"],
        "verify": marks["attempt_end"] - marks["verifying"],
        "land": marks.get("land_end", 0.0) - marks.get("land_start", 0.0),
        "report": end - marks.get("land_end", marks["attempt_end"]),
    }
    out.write_text(json.dumps({"outcome": result.outcome, "parts": parts,
                               "runs": min(verdict["baseline"]["runs"],
                                           verdict["candidate"]["runs"])}))
    return 0


def run_fix(repo: Path, env: dict[str, str]) -> dict[str, float]:
    out = repo.parent / f"{repo.name}-timing.json"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--fix-child", str(out)],
                   cwd=repo, env=env, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    data: dict[str, Any] = (json.loads(out.read_text()) if out.exists()
                            else {"outcome": "crashed", "runs": 0})
    if data["outcome"] != "fixed" or data["runs"] != RUNS:
        raise SystemExit(f"fix in {repo}: outcome {data['outcome']}, {data['runs']} runs per "
                         f"side (want fixed, {RUNS})")
    parts: dict[str, float] = data["parts"]
    parts["wall"] = wall
    parts["startup"] = wall - parts["in_process"]
    parts["iteration"] = wall - parts["reproduce"] - parts["agent"]
    parts["own"] = parts["iteration"] - parts["startup"] - parts["verify"]
    return parts


def run_verify(repo: Path, env: dict[str, str]) -> float:
    cmd = [*CLI, "verify", SCENARIO, "--base", "HEAD", "--patch", str(PATCH),
           "--runs", str(RUNS), "--max-runs", str(RUNS)]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=repo, env=env, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    verdicts = list((repo / ".cleanloop" / "runs").glob("*-verify-*/verdict.json"))
    verdict = json.loads(verdicts[0].read_text()) if len(verdicts) == 1 else {}
    runs = min(verdict.get(s, {}).get("runs", 0) for s in ("baseline", "candidate"))
    if verdict.get("verdict") != "accept" or runs != RUNS:
        raise SystemExit(f"verify in {repo}: {verdict.get('verdict')}, {runs} runs per side "
                         f"(want accept, {RUNS})")
    return wall


def report(fixes: list[dict[str, float]], verifies: list[float]) -> None:
    def med(key: str) -> float:
        return statistics.median(f[key] for f in fixes)

    def rounds(values: list[float]) -> str:
        return str([round(x, 1) for x in values])

    def verdict(ratio: float) -> str:
        return f"{ratio:.3f}  (target <= {TARGET}: {'PASS' if ratio <= TARGET else 'FAIL'})"

    v, it = statistics.median(verifies), med("iteration")
    paired = statistics.median(f["iteration"] / (f["startup"] + f["verify"]) for f in fixes)
    whole = statistics.median(f["wall"] - f["agent"] for f in fixes)
    whole_paired = statistics.median((f["iteration"] + f["reproduce"]) /
                                     (f["startup"] + f["verify"]) for f in fixes)
    parts = ", ".join(f"{label} {med(key):.2f}" for key, label in LOOP_PARTS)
    print(f"`fix` iteration (scripted agent) vs `verify` alone: {SCENARIO}, {RUNS} runs "
          f"per side, {len(fixes)} round(s)")
    print(f"  verify alone:                median {v:.1f}s  rounds {rounds(verifies)}")
    print(f"  fix iteration, minus agent:  median {it:.1f}s  "
          f"rounds {rounds([f['iteration'] for f in fixes])}")
    print(f"    its verify (+ start-up):   median {med('verify'):.1f}s (+{med('startup'):.1f}s)  "
          f"rounds {rounds([f['verify'] for f in fixes])}")
    print(f"    the loop's own time:       median {med('own'):.2f}s")
    print(f"      {parts}")
    print(f"  not in the iteration: agent {med('agent'):.2f}s, reproduce (once per fix, "
          f"before iteration 1) {med('reproduce'):.1f}s")
    print(f"  ratio iteration / verify alone:             {verdict(it / v)}")
    print(f"  paired, iteration / (its verify + start-up): {verdict(paired)}")
    print(f"  with the reproduce run: {whole / v:.3f} (paired {whole_paired:.3f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fix-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fix_child is not None:
        return fix_child(args.fix_child)
    env = {**os.environ, **GIT_IDENTITY}
    fixes: list[dict[str, float]] = []
    verifies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cleanloop-bench-") as tmp:
        warm = seed_repository(Path(tmp) / "warm-up")   # .pyc files, page cache
        subprocess.run([*CLI, "run", SCENARIO], cwd=warm, env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for r in range(args.rounds):
            fix_repo = seed_repository(Path(tmp) / f"fix-{r}")
            verify_repo = seed_repository(Path(tmp) / f"verify-{r}")
            if r % 2 == 0:
                fixes.append(run_fix(fix_repo, env))
                verifies.append(run_verify(verify_repo, env))
            else:
                verifies.append(run_verify(verify_repo, env))
                fixes.append(run_fix(fix_repo, env))
    report(fixes, verifies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
