"""`cleanloop run`: repetitions of a scenario into one run directory, then the verdict."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.run.progress import Progress
from cleanloop.loop.run.session import Session
from cleanloop.loop.store.run_store import RunStore

if TYPE_CHECKING:
    from cleanloop.loop.model.run_data import RunData
    from cleanloop.loop.model.verdict_types import Verdict
    from cleanloop.probes.browser import BrowserSession


@dataclass
class RunResult:
    store: RunStore
    #: built once; verdict.json is its JSON form
    verdict: Verdict
    repetitions: list[RunData]

    @property
    def passed(self) -> bool:
        return self.verdict.passed


@contextlib.contextmanager
def browser_for(scenario: Scenario, env: Mapping[str, str]) -> Iterator[BrowserSession | None]:
    """One browser per session, launched only when the scenario has browser steps."""
    if not scenario.uses_browser:
        yield None
        return
    from cleanloop.probes.browser import BrowserSession

    session = BrowserSession(scenario.browser, env)
    try:
        session.start()
        yield session
    finally:
        session.close()


def warm_up_imports() -> threading.Thread:
    """Import the evaluation stack (pandas, pyarrow) in the background while the app boots."""
    def work() -> None:
        import pyarrow.parquet  # noqa: F401

        import cleanloop.loop.model.evaluation  # noqa: F401
        import cleanloop.loop.model.verdict  # noqa: F401
        from cleanloop.loop.base.http_client import tls_context

        tls_context()

    thread = threading.Thread(target=work, name="cleanloop-warm-imports", daemon=True)
    thread.start()
    return thread


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
    reps: list[RunData] = []
    with shared_browser(scenario, env, browser) as browser:
        session = Session(scenario, project_dir, store, progress, env, browser)
        session.total_runs = repeat
        warm: list[threading.Thread] = []
        # pandas and pyarrow load while the app boots, not before it is spawned
        session.on_spawn = lambda: warm.append(warm_up_imports()) if not warm else None
        for k in range(repeat):
            rep = session.run(k)
            store.add(k, rep.columns)
            reps.append(rep)
    progress.phase(f"[{scenario.name}] evaluating checks")
    for thread in warm:
        thread.join()
    from cleanloop.loop.model.evaluation import evaluate_checks
    from cleanloop.loop.model.sli_sources import default_registry
    from cleanloop.loop.model.verdict import build_verdict

    store.write_tables()
    results = evaluate_checks(default_registry(), scenario.checks,
                              reps)
    tail = ""
    if store.app_log.exists():
        tail = "\n".join(store.app_log.read_text(errors="replace").splitlines()[-20:])
    verdict = build_verdict(
        scenario=scenario.name, scenario_file=scenario.path, run_dir=store.dir, reps=reps,
        results=results, app_log_tail=tail,
        not_evaluated=[c.text for c in scenario.targets + scenario.guards])
    (store.dir / "verdict.json").write_text(verdict.dumps(), encoding="utf-8")
    return RunResult(store, verdict, reps)
