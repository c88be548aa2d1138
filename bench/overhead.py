"""Overhead of `cleanloop run` against a hand-written script doing the same work.

Both boot the example shop app, wait until /healthz answers, run the same HTTP and load
steps as scenarios/shop/checkout-perf.yaml, and stop the app with SIGTERM. The app does the
same work in both: the hand-written script points its OTLP exporters at a sink that
discards what it gets, where cleanloop receives, decodes and stores it, scrapes
Prometheus, captures the logs and evaluates the checks. Measured on the shop as shipped
(the seeded N+1, a run of a few seconds) and with the fixes applied (a sub-second run,
where fixed costs weigh most). The two are run alternately, side by side, and the ratio of
their median wall times is printed. Target: <= 1.15.

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

from cleanloop.loop.cli.demo import FIXES_DIR, seed_repository  # noqa: E402

FIX_PATCHES = ("checkout-n-plus-one.patch", "startup.patch", "error-log.patch")

HAND_WRITTEN = r'''
import http.server, os, signal, subprocess, sys, threading, time
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


class Sink(http.server.BaseHTTPRequestHandler):
    """Takes the app's OTLP exports and throws them away, so the app does the same work."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
sink.daemon_threads = True
threading.Thread(target=sink.serve_forever, args=(0.02,), daemon=True).start()
with __import__("socket").socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_port}",
       "OTEL_SERVICE_NAME": "app", "OTEL_BSP_SCHEDULE_DELAY": "200",
       "OTEL_BLRP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "200"}
app = subprocess.Popen([sys.executable, "app/shop.py", "--port", str(port)], env=env,
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


def measure(repo: Path, rounds: int) -> tuple[list[float], list[float]]:
    script = repo / "hand_written.py"
    script.write_text(HAND_WRITTEN)
    cleanloop = [sys.executable, "-m", "cleanloop", "run", "checkout-perf.yaml"]
    hand = [sys.executable, str(script)]
    timed(hand, repo)            # warm-up: .pyc files, page cache
    timed(cleanloop, repo)
    ours, theirs = [], []
    for _ in range(rounds):
        theirs.append(timed(hand, repo))
        ours.append(timed(cleanloop, repo))
    return ours, theirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cleanloop-bench-") as tmp:
        seeded = seed_repository(Path(tmp) / "seeded")
        fixed = seed_repository(Path(tmp) / "fixed")
        for patch in FIX_PATCHES:
            subprocess.run(["git", "apply", str(FIXES_DIR / patch)], cwd=fixed, check=True)
        for label, repo in (("shop as shipped (seeded)", seeded), ("shop with fixes", fixed)):
            ours, theirs = measure(repo, args.rounds)
            m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
            ratio = m_ours / m_theirs
            print(f"{label}:")
            print(f"  hand-written script: median {m_theirs:.2f}s  "
                  f"runs {[round(x, 2) for x in theirs]}")
            print(f"  cleanloop run:       median {m_ours:.2f}s  "
                  f"runs {[round(x, 2) for x in ours]}")
            print(f"  ratio cleanloop / hand-written: {ratio:.3f}  (target <= 1.15: "
                  f"{'PASS' if ratio <= 1.15 else 'FAIL'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
