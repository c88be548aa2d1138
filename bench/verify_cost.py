"""Cost of `cleanloop verify` against the plain runs it is made of.

One `cleanloop verify checkout-perf.yaml --patch checkout-n-plus-one.patch` with exactly n runs
per side (`--runs n --max-runs n`) is timed against 2n plain `cleanloop run` executions
(n on the seeded shop, n on a copy with the fix applied), measured side by side in one
process tree, alternating. The ratio shows what worktrees, interleaving and the gate
add. Target: <= 1.1.

    python bench/verify_cost.py [--runs 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cleanloop.loop.cli.demo import FIXES_DIR, seed_repository  # noqa: E402

CLI = [sys.executable, "-m", "cleanloop"]


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=6, help="runs per side (n)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    n = args.runs
    with tempfile.TemporaryDirectory(prefix="cleanloop-bench-") as tmp:
        seeded = seed_repository(Path(tmp) / "seeded")
        fixed = seed_repository(Path(tmp) / "fixed")
        patch = FIXES_DIR / "checkout-n-plus-one.patch"
        subprocess.run(["git", "apply", str(patch)], cwd=fixed, check=True)
        verify = [*CLI, "verify", "checkout-perf.yaml", "--patch", str(patch),
                  "--runs", str(n), "--max-runs", str(n)]
        run = [*CLI, "run", "checkout-perf.yaml"]
        timed(run, seeded)
        timed(run, fixed)
        verify_s, plain_s = [], []
        for _ in range(args.rounds):
            verify_s.append(timed(verify, seeded))
            plain_s.append(sum(timed(run, repo) for _ in range(n) for repo in (seeded, fixed)))
    v, p = statistics.median(verify_s), statistics.median(plain_s)
    print(f"{2 * n} plain runs:          median {p:.1f}s  rounds {[round(x, 1) for x in plain_s]}")
    print(f"verify, {n} runs per side: median {v:.1f}s  rounds {[round(x, 1) for x in verify_s]}")
    print(f"ratio verify / plain runs: {v / p:.3f}  (target <= 1.1: "
          f"{'PASS' if v / p <= 1.1 else 'FAIL'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
