"""The `cleanloop` command line: parse arguments, call the core, map errors to exit codes once."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cleanloop.loop.base.errors import EXIT_FAIL, EXIT_OK, CleanloopError, UsageError, exit_code_for

if TYPE_CHECKING:
    from cleanloop.loop.gate.rules import SequentialPlan

logger = logging.getLogger("cleanloop")


def _git_repo(command: str) -> Path:
    from cleanloop.loop.vcs.repo import git_toplevel

    repo = git_toplevel(Path.cwd())
    if repo is None:
        raise UsageError(f"cleanloop {command} works inside a git repository")
    return repo


def _emit(as_json: bool, data: Any, lines: Callable[[], list[str]]) -> None:
    """The result on stdout: JSON for machines, or the human summary."""
    print(json.dumps(data, indent=2, default=str) if as_json else "\n".join(lines()))


def _note(text: str) -> None:
    """A note for the user on stderr, in every output mode (--json and pipes included)."""
    print(f"cleanloop: note: {text}", file=sys.stderr)


def _base_scenario_note(repo: Path, base: str, scenario: str, command: str) -> None:
    """verify (--calibrate too) and fix read the scenario from the base revision. Before
    anything runs: an unknown revision, or a scenario not committed there, is a usage error
    (exit 2); a working-tree copy that differs from the committed one is said on stderr,
    naming the differing checks (else lines), since the committed one is what is used."""
    from cleanloop.loop.gate.verify import load_base_scenario
    from cleanloop.loop.vcs.git import resolve_commit

    path = Path(scenario)
    committed, _ = load_base_scenario(repo, resolve_commit(repo, base), path, base_ref=base)
    try:
        working = path.read_text(encoding="utf-8")
    except OSError:
        _note(f"{scenario} is not in the working tree; {command} uses its committed form "
              f"at {base}")
        return
    if working != committed.source_text:
        _note(f"{scenario} differs from its committed form at {base}; {command} uses the "
              f"committed one. {_scenario_differences(path, committed.source_text, working, base)}")


def _scenario_differences(path: Path, committed: str, working: str, base: str) -> str:
    """The checks, targets and guards that differ; the differing line numbers otherwise."""
    import difflib

    from cleanloop.loop.model.scenario import load_scenario

    def listed(items: list[str]) -> str:
        return ", ".join(f"`{item}`" for item in items) or "none"

    try:
        ours, theirs = (load_scenario(path, text=text) for text in (working, committed))
    except CleanloopError:  # the working-tree copy does not load: name lines
        pass
    else:
        def texts(scenario: Any) -> list[str]:
            return [c.text for c in (*scenario.checks, *scenario.targets, *scenario.guards)]

        wt_only = [t for t in texts(ours) if t not in texts(theirs)]
        base_only = [t for t in texts(theirs) if t not in texts(ours)]
        if wt_only or base_only:
            return f"Differing checks: {listed(wt_only)} (working tree) vs {listed(base_only)} " \
                   f"({base})"

    def lines(first: int, end: int) -> str:
        return str(first + 1) if end == first + 1 else f"{first + 1}-{end}"

    wt_lines, base_lines = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
            None, committed.splitlines(keepends=True), working.splitlines(keepends=True),
            autojunk=False).get_opcodes():
        if tag != "equal":
            wt_lines += [lines(j1, j2)] if j2 > j1 else []
            base_lines += [lines(i1, i2)] if i2 > i1 else []
    return f"Differing lines: {', '.join(wt_lines) or 'none'} (working tree) vs " \
           f"{', '.join(base_lines) or 'none'} ({base})"


def _cmd_run(args: argparse.Namespace) -> int:
    from cleanloop.loop.model.scenario import load_scenario
    from cleanloop.loop.run.progress import progress_while
    from cleanloop.loop.run.runner import run_scenario
    from cleanloop.loop.vcs.repo import state_root

    scenario = load_scenario(args.scenario)
    with progress_while(args.json) as progress:
        result = run_scenario(scenario, project_dir=Path(args.scenario).resolve().parent,
                              state_root=state_root(args.env),
                              repeat=args.repeat or scenario.repeat, progress=progress,
                              env=args.env)

    def summary() -> list[str]:
        from cleanloop.loop.model.verdict import (
            summary_lines,  # after the run: pandas loads while the app boots
        )

        return summary_lines(result.verdict)

    _emit(args.json, result.verdict.to_json(), summary)
    return EXIT_OK if result.passed else EXIT_FAIL


def _cmd_verify(args: argparse.Namespace) -> int:
    from cleanloop.loop.base.errors import EXIT_INCONCLUSIVE
    from cleanloop.loop.gate.verify import Verifier, VerifyRequest
    from cleanloop.loop.report.verify_table import table_lines
    from cleanloop.loop.run.progress import progress_while
    from cleanloop.loop.vcs.repo import state_root

    repo = _git_repo("verify")
    if args.calibrate:
        return _calibrate(args, repo)
    if (args.candidate is None) == (args.patch is None):
        raise UsageError("give exactly one of --candidate REF or --patch FILE")
    plan = _plan(args)
    req = VerifyRequest(scenario_path=Path(args.scenario), base=args.base,
                        candidate=args.candidate,
                        patch=Path(args.patch).resolve() if args.patch else None, plan=plan,
                        warmup=max(0, args.warmup))
    _base_scenario_note(repo, args.base, args.scenario, "verify")
    with progress_while(args.json) as progress:
        result = Verifier(repo, state_root(args.env), progress, args.env).verify(req)
    _emit(args.json, result.verdict.to_json(), lambda: table_lines(result.verdict))
    return {"accept": EXIT_OK, "inconclusive": EXIT_INCONCLUSIVE}.get(result.outcome, EXIT_FAIL)


def _plan(args: argparse.Namespace) -> SequentialPlan | None:
    """The gate's sequential plan from --runs, --max-runs and --alpha (verify and fix); None
    when none is given (verify then picks the plan for the scenario)."""
    from cleanloop.loop.gate.plan import plan_from_bounds

    return plan_from_bounds(args.runs, args.max_runs, args.alpha)


def _add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=None,
                        help="runs per side at the first look (default 6)")
    parser.add_argument("--max-runs", type=int, default=None,
                        help="cap of runs per side (default 18)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="significance over all looks (default 0.01)")


def _calibrate(args: argparse.Namespace, repo: Path) -> int:
    from cleanloop.loop.gate.calibrate import (
        DEFAULT_CALIBRATION_RUNS,
        calibration_lines,
        run_calibration,
    )
    from cleanloop.loop.gate.verify import Verifier, VerifyRequest
    from cleanloop.loop.run.progress import progress_while
    from cleanloop.loop.vcs.repo import state_root

    _base_scenario_note(repo, args.base, args.scenario, "verify --calibrate")
    with progress_while(args.json) as progress:
        result = run_calibration(Verifier(repo, state_root(args.env), progress, args.env),
                                 VerifyRequest(scenario_path=Path(args.scenario), base=args.base),
                                 runs=max(2, args.runs or DEFAULT_CALIBRATION_RUNS))
    _emit(args.json, result, lambda: calibration_lines(result))
    return EXIT_OK


def _cmd_fix(args: argparse.Namespace) -> int:
    from cleanloop.loop.base.units import parse_duration_s
    from cleanloop.loop.fix.attempts import FixRequest
    from cleanloop.loop.fix.driver import Driver
    from cleanloop.loop.fix.summary import summary_lines
    from cleanloop.loop.run.progress import progress_while
    from cleanloop.loop.vcs.repo import state_root

    repo = _git_repo("fix")
    if args.max_iterations < 1:
        raise UsageError("--max-iterations must be at least 1")
    try:
        budget = parse_duration_s(args.budget) if args.budget else None
        agent_timeout = parse_duration_s(args.agent_timeout)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    req = FixRequest(scenario_path=Path(args.scenario), agent=args.agent, base=args.base,
                     max_iterations=args.max_iterations, budget_s=budget,
                     agent_timeout_s=agent_timeout, continue_previous=args.continue_previous,
                     allow_env=tuple(args.allow_env),
                     scripted_patches=tuple(Path(p).resolve() for p in args.script_patch),
                     plan=_plan(args))
    _base_scenario_note(repo, args.base, args.scenario, "fix")
    with progress_while(args.json) as progress:
        result = Driver(repo, state_root(args.env), progress, args.env).fix(req)
    _emit(args.json, result.to_json(), lambda: summary_lines(result))
    return EXIT_OK if result.outcome == "fixed" else EXIT_FAIL


def _cmd_mcp(args: argparse.Namespace) -> int:
    # checked before the server (and its imports) starts; None: the server picks (its roots)
    cwd = None
    if args.repo is not None:
        cwd = Path(args.repo).resolve()
        if not cwd.is_dir():
            raise UsageError(f"--repo {args.repo}: no such directory ({cwd})")
    from cleanloop.loop.mcp.server import serve

    serve(env=args.env, cwd=cwd)
    return EXIT_OK


def _cmd_query(args: argparse.Namespace) -> int:
    from cleanloop.loop.store.query import format_table, query_run
    from cleanloop.loop.store.run_store import resolve_run
    from cleanloop.loop.vcs.repo import state_root

    columns, rows = query_run(resolve_run(state_root(args.env), args.run), args.sql)
    if args.json:
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str))
    else:
        print(format_table(columns, rows))
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from cleanloop.loop.report.html import write_report
    from cleanloop.loop.store.run_store import resolve_run
    from cleanloop.loop.vcs.repo import state_root

    print(write_report(resolve_run(state_root(args.env), args.run), args.env))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from cleanloop.loop.cli import demo

    if args.init:
        path = demo.seed_repository(Path(args.init))
        print(f"seeded the shop repository at {path}")
        return EXIT_OK
    return demo.run_demo(main)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cleanloop", description="Observability-driven feedback-loop runner.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="boot the app, run a scenario's steps, check its telemetry")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--repeat", type=int, default=None, help="repetitions (default: scenario)")
    run.add_argument("--json", action="store_true", help="print the verdict JSON on stdout")
    run.set_defaults(func=_cmd_run)

    verify = sub.add_parser("verify", help="interleaved A/B of base and candidate in worktrees, "
                                           "judged by the statistical gate")
    verify.add_argument("scenario", help="scenario YAML file (read from the base revision)")
    verify.add_argument("--base", default="HEAD", help="baseline revision (default: HEAD)")
    verify.add_argument("--candidate", metavar="REF", help="candidate revision")
    verify.add_argument("--patch", metavar="FILE", help="candidate = base + this patch")
    _add_plan_arguments(verify)
    verify.add_argument("--warmup", type=int, default=0,
                        help="discarded runs per side before measuring (default: 0)")
    verify.add_argument("--calibrate", action="store_true",
                        help="A/A: run the base on both sides, report each SLI's noise and the "
                             "runs a target needs (--runs N per side)")
    verify.add_argument("--json", action="store_true", help="print the verdict JSON on stdout")
    verify.set_defaults(func=_cmd_verify)

    fix = sub.add_parser("fix", help="loop a coding agent until the gate accepts its patch")
    fix.add_argument("scenario", help="the failing scenario (read from the base revision)")
    fix.add_argument("--agent", required=True,
                     help="codex | claude | aider | scripted | a shell template using "
                          "{prompt_file} {worktree} {evidence_dir} {iteration}")
    fix.add_argument("--base", default="HEAD", help="revision to fix (default: HEAD)")
    fix.add_argument("--max-iterations", type=int, default=3, help="attempts (default: 3)")
    fix.add_argument("--budget", help="wall-clock budget, e.g. 30m")
    fix.add_argument("--agent-timeout", default="15m", help="time limit per agent run")
    fix.add_argument("--continue", dest="continue_previous", action="store_true",
                     help="start each attempt from the previous attempt's diff")
    fix.add_argument("--allow-env", action="append", default=[], metavar="NAME",
                     help="pass this environment variable through to the agent")
    fix.add_argument("--script-patch", action="append", default=[], metavar="FILE",
                     help="for --agent scripted: the patch of each attempt, in order")
    _add_plan_arguments(fix)
    fix.add_argument("--json", action="store_true", help="print the summary JSON on stdout")
    fix.set_defaults(func=_cmd_fix)

    mcp = sub.add_parser("mcp", help="MCP server on stdio: run, query, screenshot, verify")
    mcp.add_argument("--repo", metavar="DIR", default=None,
                     help="the repository the tools work in (default: the current directory)")
    mcp.set_defaults(func=_cmd_mcp)

    query = sub.add_parser("query", help="SQL (DuckDB) over a run's tables")
    query.add_argument("run", help="run directory, run id (prefix) or 'last'")
    query.add_argument("sql", help='e.g. "SELECT name, count(*) FROM spans GROUP BY 1"')
    query.add_argument("--json", action="store_true", help="rows as JSON objects")
    query.set_defaults(func=_cmd_query)

    report = sub.add_parser("report", help="an HTML report of a run or verify directory")
    report.add_argument("run", help="run directory, run id (prefix) or 'last'")
    report.set_defaults(func=_cmd_report)

    demo = sub.add_parser("demo", help="the bundled end-to-end demo on the example shop")
    demo.add_argument("--init", metavar="DIR", help="only seed DIR as a git repo with the shop")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    #: the environment, read once here and passed down (cleanloop reads no os.environ below)
    args.env = dict(os.environ)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "run" and args.repeat is not None and args.repeat < 1:
            raise UsageError("--repeat must be at least 1")
        code: int = args.func(args)
        return code
    except BrokenPipeError:
        # stdout closed early (`cleanloop query ... | head`): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("cleanloop: interrupted; everything started was stopped", file=sys.stderr)
        return exit_code_for(KeyboardInterrupt())
    except CleanloopError as exc:
        print(f"cleanloop: error: {exc}", file=sys.stderr)
        return exit_code_for(exc)


if __name__ == "__main__":
    sys.exit(main())
