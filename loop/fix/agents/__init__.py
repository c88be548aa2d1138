"""Coding agents: presets (codex, claude, aider), shell templates and the scripted agent.

    agent = resolve_agent("codex", env=os.environ, allow_env=["MY_PROXY"])
    outcome = agent.run(AgentInvocation(prompt_file, worktree, evidence_dir, iteration=1,
                                        timeout_s=900, log_dir=log_dir))
"""

from __future__ import annotations

from cleanloop.loop.fix.agents.base import (
    Agent,
    AgentInvocation,
    AgentOutcome,
    CommandAgent,
    render_template,
    run_command,
)
from cleanloop.loop.fix.agents.env import agent_env, cleanloop_command, scrub_env
from cleanloop.loop.fix.agents.presets import PRESETS, resolve_agent

__all__ = [
    "PRESETS", "Agent", "AgentInvocation", "AgentOutcome", "CommandAgent", "agent_env",
    "cleanloop_command", "render_template", "resolve_agent", "run_command", "scrub_env",
]
