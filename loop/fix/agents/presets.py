"""Agent specs: the presets (codex, claude, aider), `scripted`, and any shell template.

    codex    codex exec --sandbox workspace-write --cd <worktree> <prompt text>
    claude   claude -p <prompt text> --permission-mode acceptEdits
    aider    aider --yes-always --no-auto-commits --message-file <prompt_file>
    scripted python -m cleanloop.loop.fix.agents.scripted --patch A ... --worktree {worktree}
             --iteration {iteration}   (run as a shell template, like any other)
    other    a shell template, e.g. "my-agent --task {prompt_file} --repo {worktree}"

Presets run as argv (no shell), cwd = the worktree, stdin = /dev/null. codex and claude
get the prompt text as an argument (the prompt is budgeted to a few thousand characters,
far below the kernel's 128 KiB limit per argument); with stdin closed, `codex exec` never
waits for piped input. codex uses `--sandbox workspace-write`, the explicit form of the
older `--full-auto` (which recent codex versions deprecate): edits inside the worktree,
no approvals asked in `exec` mode. aider reads the prompt file itself.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cleanloop.loop.base.errors import AgentError
from cleanloop.loop.fix.agents.base import (
    PLACEHOLDERS,
    Agent,
    AgentInvocation,
    CommandAgent,
    shell_agent,
)
from cleanloop.loop.fix.agents.env import agent_env

SCRIPTED = "scripted"


def _prompt_text(inv: AgentInvocation) -> str:
    try:
        return inv.prompt_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgentError(f"cannot read the prompt file {inv.prompt_file}: {exc}") from exc


def _codex(binary: str, inv: AgentInvocation) -> list[str]:
    return [binary, "exec", "--sandbox", "workspace-write", "--cd", str(inv.worktree),
            _prompt_text(inv)]


def _claude(binary: str, inv: AgentInvocation) -> list[str]:
    return [binary, "-p", _prompt_text(inv), "--permission-mode", "acceptEdits"]


def _aider(binary: str, inv: AgentInvocation) -> list[str]:
    return [binary, "--yes-always", "--no-auto-commits", "--message-file", str(inv.prompt_file)]


@dataclass(frozen=True)
class Preset:
    name: str
    binary: str
    argv: Callable[[str, AgentInvocation], list[str]]


PRESETS: dict[str, Preset] = {
    "codex": Preset("codex", "codex", _codex),
    "claude": Preset("claude", "claude", _claude),
    "aider": Preset("aider", "aider", _aider),
}


def scripted_template(patches: Sequence[Path | str], python: str = sys.executable) -> str:
    """The shell template of the scripted agent (patch paths absolute; `none` kept as is)."""
    parts = [shlex.quote(python), "-m", "cleanloop.loop.fix.agents.scripted"]
    for patch in patches:
        value = "none" if str(patch) == "none" else str(Path(patch).resolve())
        parts += ["--patch", shlex.quote(value)]
    return " ".join(parts) + " --worktree {worktree} --iteration {iteration}"


def resolve_agent(spec: str, *, env: Mapping[str, str], allow_env: Sequence[str] = (),
                  scripted_patches: Sequence[Path] = ()) -> Agent:
    """The agent for `--agent SPEC`; AgentError (before anything runs) if it cannot run.

    `env` is the caller's environment: the agent gets only its allowlisted part, with this
    cleanloop's script directory first on PATH when needed (see cleanloop.loop.fix.agents.env),
    and presets are looked up on the caller's PATH.
    """
    spec = spec.strip()
    if not spec:
        raise AgentError("empty --agent: give codex, claude, aider, scripted or a command")
    if spec in PRESETS:
        preset = PRESETS[spec]
        binary = shutil.which(preset.binary, path=env.get("PATH", ""))
        if binary is None:
            raise AgentError(
                f"agent '{spec}' needs the `{preset.binary}` command on PATH; install it or "
                "pass --agent 'your command {prompt_file}'")
        found = binary
        return CommandAgent(spec, lambda inv: preset.argv(found, inv),
                            agent_env(env, preset=spec, allow=allow_env))
    if spec == SCRIPTED:
        missing = [str(p) for p in scripted_patches
                   if str(p) != "none" and not Path(p).is_file()]
        if missing:
            raise AgentError(f"scripted agent: no such patch file: {', '.join(missing)}")
        return shell_agent(SCRIPTED, scripted_template(scripted_patches),
                           agent_env(env, allow=allow_env))
    if not any("{" + p + "}" in spec for p in PLACEHOLDERS) and "/" not in spec and not any(
            c.isspace() for c in spec):
        known = ", ".join([*PRESETS, SCRIPTED])
        raise AgentError(
            f"unknown agent {spec!r}: use one of {known}, or a command template such as "
            "'my-agent --task {prompt_file} --repo {worktree}'")
    return shell_agent("command", spec, agent_env(env, allow=allow_env))
