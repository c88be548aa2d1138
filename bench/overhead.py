"""Overhead of `cleanloop run` against a hand-written script doing the same work.

Both boot the example shop app (with its fixes applied), wait until /healthz answers,
run the same HTTP and load steps as scenarios/shop/checkout-perf.yaml, and stop the app
with SIGTERM. cleanloop also collects traces, metrics and logs, stores them and evaluates
the checks. The two are run alternately, side by side in one process tree, and the ratio
of their median wall times is printed. Target: <= 1.15.

    python bench/overhead.py [--rounds 5]
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

from loop.demo import FIXES_DIR, seed_repository  # noqa: E402

FIX_PATCHES = ("checkout-n-plus-one.patch", "startup.patch", "error-log.patch")

HAND_WRITTEN = r'''
import json, os, signal, subprocess, sys, threading, time
import httpx

ITEMS = [{"product_id": i, "qty": 1 + (i % 3 == 0)} for i in range(1, 21)]


def load(client, method, path, requests, concurrency, body=None):
    left = iter(range(requests))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if next(left, None) is None:
                    return
            client.request(method, path, json=body)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


with __import__("socket").socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
app = subprocess.Popen([sys.executable, "app/shop.py", "--port", str(port)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       start_new_session=True)
base = f"http://127.0.0.1:{port}"
try:
    with httpx.Client(base_url=base, timeout=10) as client:
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
        assert client.get("/api/products").status_code == 200
        load(client, "GET", "/api/products", 20, 1)
        load(client, "POST", "/api/checkout", 40, 2, {"items": ITEMS})
finally:
    os.killpg(app.pid, signal.SIGTERM)
    app.wait()
'''


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cleanloop-bench-") as tmp:
        repo = seed_repository(Path(tmp) / "shop")
        # the fixed app: shorter work, so cleanloop's own share of the time is larger
        for patch in FIX_PATCHES:
            subprocess.run(["git", "apply", str(FIXES_DIR / patch)], cwd=repo, check=True)
        script = repo / "hand_written.py"
        script.write_text(HAND_WRITTEN)
        cleanloop = [sys.executable, "-m", "loop.cli", "run", "checkout-perf.yaml"]
        hand = [sys.executable, str(script)]
        timed(hand, repo)            # warm-up: .pyc files, page cache
        timed(cleanloop, repo)
        ours, theirs = [], []
        for _ in range(args.rounds):
            theirs.append(timed(hand, repo))
            ours.append(timed(cleanloop, repo))
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    ratio = m_ours / m_theirs
    print(f"hand-written script: median {m_theirs:.2f}s  runs {[round(x, 2) for x in theirs]}")
    print(f"cleanloop run:       median {m_ours:.2f}s  runs {[round(x, 2) for x in ours]}")
    print(f"ratio cleanloop / hand-written: {ratio:.3f}  (target <= 1.15: "
          f"{'PASS' if ratio <= 1.15 else 'FAIL'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
