"""Cost of cleanloop's browser run against a bare Playwright script, and of relaunching.

1. Side by side, on the same steps: `cleanloop run ui-add-to-cart.yaml --repeat N` (OTLP
   receiver, log capture, Prometheus scrapes, browser recorder, vitals, CDP metrics,
   parquet, verdict) against a hand-written Playwright script doing the same work. Both
   launch one Chromium (same executable, same switches) and, per repeat, boot the shop
   with its OTLP exporters on, wait for /healthz, open a fresh context, go to /, wait for
   the product, click "Add to cart", expect the cart count, take a screenshot, and stop
   the app with SIGTERM. The script's exporters go to a sink that discards what it gets,
   so the app does the same work. Measured on passing runs: the shop with
   fixes/add-to-cart.patch applied (the main number; its seeded slow start-up is kept), and
   with every demo fix applied (a start-up of ~0.3s, where fixed costs weigh most).
   The two sides alternate and the ratio of their median wall times is printed.
   Target: <= 1.2.
2. In process, with cleanloop's own `cleanloop.loop.run.runner.browser_for` / `BrowserSession.open`:
   the cost of one repeat of the same steps against one running shop, with the browser
   reused (one launch, a new context per repeat; the launch itself is printed apart) and
   relaunched (a new session, Playwright driver included, per repeat), alternating in
   blocks. The browser's cost of a repeat is the repeat minus its steps (the steps are the
   same work either way: loading the page, clicking). Target: relaunch / reuse >= 2 on the
   browser's cost; the ratio of whole repeats, steps included, is printed next to it.

    python bench/browser.py [--rounds 5] [--repeat 3] [--browser-repeats 4]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cleanloop.loop.base.envvars import CLEANLOOP_CHROMIUM, CLEANLOOP_HOME  # noqa: E402
from cleanloop.loop.base.spawn import spawn_group  # noqa: E402
from cleanloop.loop.cli.demo import DEMO_FIXES, FIXES_DIR, seed_repository  # noqa: E402
from cleanloop.loop.model.scenario import Scenario, load_scenario  # noqa: E402
from cleanloop.loop.run.runner import browser_for  # noqa: E402
from cleanloop.probes import readiness  # noqa: E402
from cleanloop.probes.browser import LAUNCH_ARGS, BrowserSession, find_browser  # noqa: E402

SCENARIO = "ui-add-to-cart.yaml"
#: (label, patches applied to the seeded shop); the first is the main number
VARIANTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("add-to-cart.patch", ("add-to-cart.patch",)),
    ("all demo fixes, fast start-up", DEMO_FIXES),
)
RATIO_TARGET = 1.2
REUSE_TARGET = 2.0
STOP_GRACE_S = 10.0

BARE = r'''
import http.server, json, os, signal, socket, subprocess, sys, threading, time
import httpx
from playwright.sync_api import expect, sync_playwright

EXECUTABLE, REPEATS, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ARGS = json.loads(sys.argv[4]) + (["--no-sandbox"] if os.geteuid() == 0 else [])


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


def boot():
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    sink.daemon_threads = True
    threading.Thread(target=sink.serve_forever, args=(0.02,), daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_port}",
           "OTEL_SERVICE_NAME": "app", "OTEL_BSP_SCHEDULE_DELAY": "200",
           "OTEL_BLRP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "200"}
    app = subprocess.Popen([sys.executable, "app/shop.py", "--port", str(port)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(timeout=1) as client:
        while app.poll() is None:
            try:
                if client.get(base + "/healthz").status_code == 200:
                    return app, sink, base
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
    raise SystemExit("the app exited before it was ready")


with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=EXECUTABLE, args=ARGS, headless=True)
    try:
        for k in range(REPEATS):
            app, sink, base = boot()
            try:
                context = browser.new_context(base_url=base,
                                              viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto("/")
                page.locator("[data-product-id='3'] button").first.wait_for(state="visible")
                page.locator("[data-product-id='3'] >> text=Add to cart").click()
                expect(page.locator("#cart-count")).to_contain_text("1", timeout=3000)
                page.screenshot(path=os.path.join(OUT, f"r{k}-cart.png"))
                context.close()
            finally:
                os.killpg(app.pid, signal.SIGTERM)
                app.wait()
                sink.shutdown()
                sink.server_close()
    finally:
        browser.close()
'''


def stop_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the child's process group, wait, then SIGKILL whatever is left."""
    for current in (sig, signal.SIGKILL):
        try:
            os.killpg(proc.pid, current)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=STOP_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


def run_child(cmd: Sequence[str], cwd: Path, env: Mapping[str, str]) -> tuple[float, str]:
    """Wall time and stdout of `cmd` in its own process group; a failed run is an error.

    On Ctrl-C the child gets SIGINT (it stops its app and browser itself), then SIGKILL."""
    t0 = time.perf_counter()
    proc = spawn_group(cmd, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate()
    except BaseException:
        stop_group(proc, signal.SIGINT)
        raise
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(err.decode(errors="replace").splitlines()[-15:])
        raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}:\n{tail}")
    return elapsed, out.decode(errors="replace")


def side_by_side(repo: Path, executable: str, repeat: int,
                 rounds: int) -> tuple[list[float], list[float]]:
    """(cleanloop run times, bare script times), alternating, after one warm-up each."""
    script, shots = repo.parent / "bare_playwright.py", repo.parent / "bare-shots"
    script.write_text(BARE, encoding="utf-8")
    shots.mkdir(exist_ok=True)
    env = {**os.environ, CLEANLOOP_CHROMIUM: executable, CLEANLOOP_HOME: str(repo)}
    cleanloop = [sys.executable, "-m", "cleanloop", "run", SCENARIO, "--repeat", str(repeat),
                 "--json"]
    bare = [sys.executable, str(script), executable, str(repeat), str(shots),
            json.dumps(list(LAUNCH_ARGS))]

    def ours() -> float:
        elapsed, out = run_child(cleanloop, repo, env)
        verdict = json.loads(out)["verdict"]
        if verdict != "pass":
            raise SystemExit(f"cleanloop run {SCENARIO}: verdict {verdict}, expected pass")
        return elapsed

    run_child(bare, repo, env)   # warm-up: .pyc files, page cache, browser profile
    ours()
    mine, theirs = [], []
    for _ in range(rounds):
        theirs.append(run_child(bare, repo, env)[0])
        mine.append(ours())
    return mine, theirs


@contextmanager
def shop(repo: Path) -> Iterator[str]:
    """The shop running in `repo` (no OTLP endpoint: it exports nothing); yields its URL."""
    port = readiness.free_port()
    proc = spawn_group([sys.executable, "app/shop.py", "--port", str(port)], cwd=repo,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        if not readiness.wait_http(base + "/healthz", time.monotonic() + 30.0,
                                   lambda: proc.poll() is None):
            raise SystemExit("the shop did not become ready within 30s")
        yield base
    finally:
        stop_group(proc, signal.SIGTERM)


def one_repeat(session: BrowserSession, scenario: Scenario, base: str, artifacts: Path,
               repeat: int) -> float:
    """What Session.run does with the browser in one repetition: open, steps, drain, close.
    Returns the time the steps themselves took (the same work however the browser came)."""
    run = session.open(base_url=base, artifacts_dir=artifacts, repeat=repeat)
    try:
        t0 = time.perf_counter()
        for step in scenario.steps:
            result = run.run_step(step)
            if not result.ok:
                raise SystemExit(f"{step.where()}: {result.message}")
        steps = time.perf_counter() - t0
        run.drain()
    finally:
        run.close()
    return steps


@dataclass
class RepeatCosts:
    """Per repeat: the whole repeat, and the browser's part of it (the whole minus steps)."""

    whole: list[float] = field(default_factory=list)
    browser: list[float] = field(default_factory=list)

    def add(self, whole: float, steps: float) -> None:
        self.whole.append(whole)
        self.browser.append(whole - steps)


def reuse_vs_relaunch(repo: Path, executable: str, repeats: int,
                      blocks: int = 3) -> tuple[RepeatCosts, RepeatCosts, list[float]]:
    """(reused, relaunched, launch times of the reused sessions)."""
    scenario = load_scenario(repo / SCENARIO)
    env = {**os.environ, CLEANLOOP_CHROMIUM: executable}
    reused, relaunched = RepeatCosts(), RepeatCosts()
    launches: list[float] = []
    with shop(repo) as base, tempfile.TemporaryDirectory(prefix="cleanloop-bench-") as tmp:
        artifacts = Path(tmp)
        with browser_for(scenario, env) as warm:       # warm-up: browser profile, page cache
            assert warm is not None
            one_repeat(warm, scenario, base, artifacts, 0)
        for _ in range(blocks):
            t0 = time.perf_counter()
            with browser_for(scenario, env) as session:
                assert session is not None
                launches.append(time.perf_counter() - t0)
                for k in range(repeats):
                    t0 = time.perf_counter()
                    steps = one_repeat(session, scenario, base, artifacts, k)
                    reused.add(time.perf_counter() - t0, steps)
            for k in range(repeats):
                t0 = time.perf_counter()
                with browser_for(scenario, env) as session:
                    assert session is not None
                    steps = one_repeat(session, scenario, base, artifacts, k)
                relaunched.add(time.perf_counter() - t0, steps)
    return reused, relaunched, launches


def verdict_word(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_side_by_side(label: str, ours: list[float], theirs: list[float]) -> None:
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    ratio = m_ours / m_theirs
    print(f"{label} (passing):")
    print(f"  bare Playwright script: median {m_theirs:.2f}s  "
          f"runs {[round(x, 2) for x in theirs]}")
    print(f"  cleanloop run:          median {m_ours:.2f}s  runs {[round(x, 2) for x in ours]}")
    print(f"  ratio cleanloop / bare: {ratio:.3f}  (target <= {RATIO_TARGET}: "
          f"{verdict_word(ratio <= RATIO_TARGET)})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per side")
    parser.add_argument("--repeat", type=int, default=3, help="repeats per run (N)")
    parser.add_argument("--browser-repeats", type=int, default=4,
                        help="repeats per block in the reuse/relaunch part (3 blocks each way)")
    args = parser.parse_args()
    if min(args.rounds, args.repeat, args.browser_repeats) < 1:
        parser.error("--rounds, --repeat and --browser-repeats must be at least 1")
    executable = find_browser(None, os.environ)
    print(f"{SCENARIO}, {args.repeat} repeats per run, {args.rounds} rounds, {executable}")
    with tempfile.TemporaryDirectory(prefix="cleanloop-bench-") as tmp:
        repos = []
        for i, (label, patches) in enumerate(VARIANTS):
            repo = seed_repository(Path(tmp) / f"shop{i}")
            for patch in patches:
                subprocess.run(["git", "apply", str(FIXES_DIR / patch)], cwd=repo, check=True)
            repos.append(repo)
            print_side_by_side(label, *side_by_side(repo, executable, args.repeat, args.rounds))
        reused, relaunched, launches = reuse_vs_relaunch(repos[0], executable,
                                                         args.browser_repeats)
    med = statistics.median
    speedup = med(relaunched.browser) / med(reused.browser)
    whole = med(relaunched.whole) / med(reused.whole)
    print(f"browser cost per repeat (one running shop, {len(reused.whole)} repeats each way; "
          "the browser's part = the repeat minus its steps):")
    print(f"  reused, new context:    browser {med(reused.browser):.3f}s  whole repeat "
          f"{med(reused.whole):.3f}s  (+ {med(launches):.3f}s to launch once)")
    print(f"  relaunched:             browser {med(relaunched.browser):.3f}s  whole repeat "
          f"{med(relaunched.whole):.3f}s")
    print(f"  ratio relaunch / reuse: browser {speedup:.2f}  (target >= {REUSE_TARGET:g}: "
          f"{verdict_word(speedup >= REUSE_TARGET)});  whole repeat, steps included: "
          f"{whole:.2f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench/browser.py: interrupted; everything it started was stopped", file=sys.stderr)
        sys.exit(130)
