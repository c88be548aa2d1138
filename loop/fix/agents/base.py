"""What every coding agent shares: the invocation, its outcome, and running its command.

An agent is anything with a `name` and `run(invocation) -> AgentOutcome`. The agents
cleanloop ships (presets, shell templates, the scripted agent) are all `CommandAgent`s:
one command per invocation, run the same way:

- cwd = the worktree, stdin = /dev/null, stdout/stderr to `log_dir/agent.stdout|stderr`;
- its own session and process group (`start_new_session=True`), so a Ctrl-C at the
  terminal does not reach it and the whole group can be killed;
- on timeout: SIGTERM to the group, SIGKILL after `KILL_GRACE_S`, `timed_out=True`;
- Ctrl-C (KeyboardInterrupt) while waiting: the group is killed the same way, then the
  KeyboardInterrupt propagates;
- whatever is left of the group after the command exits is killed too: an agent never
  leaves a background process holding the worktree;
- the environment is the scrubbed one from `cleanloop.loop.fix.agents.env` plus CLEANLOOP_* values.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cleanloop.loop.base.errors import AgentError
from cleanloop.loop.base.spawn import spawn_group
from cleanloop.loop.fix.agents.env import invocation_env

logger = logging.getLogger(__name__)

KILL_GRACE_S = 2.0
STDOUT_FILE, STDERR_FILE = "agent.stdout", "agent.stderr"
_POLL_S = 0.05
_SHOWN_ARG_CHARS = 120
PLACEHOLDERS = ("prompt_file", "worktree", "evidence_dir", "iteration")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


@dataclass(frozen=True)
class AgentInvocation:
    prompt_file: Path
    worktree: Path
    evidence_dir: Path
    iteration: int              # 1-based
    timeout_s: float
    log_dir: Path               # stdout/stderr go to log_dir/agent.stdout, agent.stderr


@dataclass
class AgentOutcome:
    exit_code: int | None       # None when it timed out (killed)
    timed_out: bool
    duration_s: float
    stdout_path: Path
    stderr_path: Path
    command: list[str]

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.exit_code == 0


class Agent(Protocol):
    name: str

    def run(self, inv: AgentInvocation) -> AgentOutcome: ...


ArgvBuilder = Callable[[AgentInvocation], list[str]]


class CommandAgent:
    """An agent that runs one command (built from the invocation) per iteration."""

    def __init__(self, name: str, build: ArgvBuilder, env: Mapping[str, str], *,
                 kill_grace_s: float = KILL_GRACE_S) -> None:
        self.name = name
        self.build = build
        self.env = dict(env)
        self.kill_grace_s = kill_grace_s

    def run(self, inv: AgentInvocation) -> AgentOutcome:
        argv = self.build(inv)
        env = {**self.env, **invocation_env(
            worktree=str(inv.worktree), evidence_dir=str(inv.evidence_dir),
            iteration=inv.iteration, prompt_file=str(inv.prompt_file))}
        return run_command(argv, name=self.name, cwd=inv.worktree, env=env,
                           timeout_s=inv.timeout_s, log_dir=inv.log_dir,
                           kill_grace_s=self.kill_grace_s)


def render_template(template: str, inv: AgentInvocation) -> str:
    """Substitute {prompt_file} {worktree} {evidence_dir} {iteration}, each shell-quoted.

    Other braces (`${HOME}`, awk's `{print}`) are left alone. Write placeholders unquoted:
    the substituted value already is.
    """
    values = {"prompt_file": str(inv.prompt_file), "worktree": str(inv.worktree),
              "evidence_dir": str(inv.evidence_dir), "iteration": str(inv.iteration)}
    return _PLACEHOLDER.sub(lambda m: shlex.quote(values[m.group(1)]), template)


def shell_agent(name: str, template: str, env: Mapping[str, str]) -> CommandAgent:
    """A shell template run with /bin/sh -c after placeholder substitution."""
    return CommandAgent(name, lambda inv: ["/bin/sh", "-c", render_template(template, inv)], env)


def _shown(argv: list[str]) -> str:
    return shlex.join(a if len(a) <= _SHOWN_ARG_CHARS else f"<{len(a)} chars>" for a in argv)


def run_command(argv: list[str], *, name: str, cwd: Path, env: Mapping[str, str],
                timeout_s: float, log_dir: Path,
                kill_grace_s: float = KILL_GRACE_S) -> AgentOutcome:
    """Run an agent command in its own process group; see the module docstring."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / STDOUT_FILE, log_dir / STDERR_FILE
    logger.info("agent %s: %s (in %s, timeout %.0fs)", name, _shown(argv), cwd, timeout_s)
    started = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        try:
            proc = spawn_group(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                               stdout=out, stderr=err)
        except OSError as exc:
            raise AgentError(f"cannot run agent {name!r} ({argv[0]} in {cwd}): "
                             f"{exc.strerror or exc}") from exc
        code: int | None = None
        timed_out = False
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            logger.warning("agent %s timed out after %.0fs; killing its process group",
                           name, timeout_s)
            stop_group(proc, kill_grace_s)
        except KeyboardInterrupt:
            stop_group(proc, kill_grace_s)
            raise
        finally:
            _signal_group(proc.pid, signal.SIGKILL)   # leftovers of a finished command
            proc.wait()
    duration = time.monotonic() - started
    if not timed_out:
        logger.debug("agent %s exited with %s after %.1fs", name, code, duration)
    return AgentOutcome(exit_code=code, timed_out=timed_out, duration_s=duration,
                        stdout_path=out_path, stderr_path=err_path, command=list(argv))


def stop_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the process group, give it `grace_s`, then SIGKILL it; reap the leader."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is left in the group."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
