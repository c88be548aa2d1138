"""`cleanloop run`: repetitions of a scenario into one run directory, then the verdict."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loop.progress import Progress
from loop.scenario import Scenario
from loop.session import Repetition, Session
from loop.store import RunStore, arrow_table

if TYPE_CHECKING:
    from loop.sli import RunData

if TYPE_CHECKING:
    from probes.browser import BrowserSession


@dataclass
class RunResult:
    store: RunStore
    verdict: dict[str, Any]
    repetitions: list[Repetition]

    @property
    def passed(self) -> bool:
        return bool(self.verdict["verdict"] == "pass")


@contextlib.contextmanager
def browser_for(scenario: Scenario, env: Mapping[str, str]) -> Iterator[BrowserSession | None]:
    """One browser per session, launched only when the scenario has browser steps."""
    if not scenario.uses_browser:
        yield None
        return
    from probes.browser import BrowserSession, BrowserSettings

    b = scenario.browser
    settings = BrowserSettings(executable=b.executable, cdp_url=b.cdp_url, headless=b.headless,
                               screencast=b.screencast, performance_trace=b.performance_trace,
                               default_timeout_s=b.timeout_s, viewport=b.viewport)
    session = BrowserSession(settings, env)
    try:
        session.start()
        yield session
    finally:
        session.close()


def warm_up_imports() -> threading.Thread:
    """Import the evaluation stack (pandas, pyarrow) in the background while the app boots."""
    def work() -> None:
        import pyarrow.parquet  # noqa: F401

        import loop.evaluation  # noqa: F401
        import loop.verdict  # noqa: F401
        from probes.http_client import tls_context

        tls_context()

    thread = threading.Thread(target=work, name="cleanloop-warm-imports", daemon=True)
    thread.start()
    return thread


def repetition_data(rep: Repetition) -> RunData:
    """RunData straight from a repetition's columns (no store round trip); every row
    carries `repeat`, as in the stored tables."""
    from loop.sli import RunData

    tables = {}
    for name in ("spans", "logs", "metrics", "browser"):
        cols = rep.tables.get(name, {})
        rows = max((len(v) for v in cols.values()), default=0)
        tables[name] = arrow_table(name, {**cols, "repeat": [rep.repeat] * rows}).to_pandas()
    return RunData(repeat=rep.repeat, steps=rep.steps, startup_ms=rep.startup_ms,
                   crashed=rep.crashed, exit_code=rep.exit_code, tables=tables)


@contextlib.contextmanager
def shared_browser(scenario: Scenario, env: Mapping[str, str],
                   browser: BrowserSession | None) -> Iterator[BrowserSession | None]:
    """The caller's browser when it has one (kept open), else one for this block."""
    if browser is not None:
        yield browser
        return
    with browser_for(scenario, env) as own:
        yield own


def run_scenario(scenario: Scenario, *, project_dir: Path, state_root: Path, repeat: int,
                 progress: Progress, env: Mapping[str, str],
                 browser: BrowserSession | None = None) -> RunResult:
    store = RunStore.create(state_root, scenario.name)
    (store.dir / "scenario.yaml").write_text(scenario.source_text, encoding="utf-8")
    reps: list[Repetition] = []
    with shared_browser(scenario, env, browser) as browser:
        session = Session(scenario, project_dir, store, progress, env, browser)
        session.total_runs = repeat
        warm: list[threading.Thread] = []
        # pandas and pyarrow load while the app boots, not before it is spawned
        session.on_spawn = lambda: warm.append(warm_up_imports()) if not warm else None
        for k in range(repeat):
            rep = session.run(k)
            store.add(k, rep.tables)
            reps.append(rep)
    progress.phase(f"[{scenario.name}] evaluating checks")
    for thread in warm:
        thread.join()
    from loop.evaluation import evaluate_checks
    from loop.sli import default_registry
    from loop.verdict import build_verdict

    store.write_tables()
    results = evaluate_checks(default_registry(), scenario.checks,
                              [repetition_data(r) for r in reps])
    tail = ""
    if store.app_log.exists():
        tail = "\n".join(store.app_log.read_text(errors="replace").splitlines()[-20:])
    verdict = build_verdict(
        scenario=scenario.name, scenario_file=scenario.path, run_dir=store.dir, reps=reps,
        results=results, app_log_tail=tail,
        not_evaluated=[c.text for c in scenario.targets + scenario.guards])
    store.write_json("verdict.json", verdict)
    return RunResult(store, verdict, reps)
