"""Agents as real subprocesses: templates, logs, timeouts, process groups, env scrubbing."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from cleanloop.loop.base.errors import AgentError
from cleanloop.loop.fix.agents import AgentInvocation, resolve_agent, scrub_env
from tests.repo_state import sh
from tests.waiting import wait_until

PY = shlex.quote(sys.executable)
DEADLINE_S = 10.0


@pytest.fixture(autouse=True)
def _git_env(git_env: None) -> None:
    """Every test here runs git with a private config and a fixed identity."""


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    wt = tmp_path / "it's a work tree"
    wt.mkdir()
    sh(wt, "init", "-q", "-b", "main")
    (wt / "app.py").write_text("def price():\n    return 100\n")
    sh(wt, "add", "-A")
    sh(wt, "commit", "-q", "-m", "base")
    return wt


def invocation(tmp_path: Path, worktree: Path, iteration: int = 1,
               timeout_s: float = 60.0) -> AgentInvocation:
    bundle = tmp_path / "bundle dir" / f"iter {iteration}"
    (bundle / "evidence").mkdir(parents=True, exist_ok=True)
    prompt = bundle / "prompt.md"
    prompt.write_text(f"# fix it, iteration {iteration}\nmake the checks pass\n")
    return AgentInvocation(prompt_file=prompt, worktree=worktree,
                           evidence_dir=bundle / "evidence", iteration=iteration,
                           timeout_s=timeout_s, log_dir=bundle / "logs")


def wait_for(predicate: object, what: str) -> None:
    assert callable(predicate)
    assert wait_until(predicate, DEADLINE_S), f"timed out waiting for {what}"


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_template_placeholders_are_substituted_and_quoted(tmp_path: Path,
                                                          worktree: Path) -> None:
    dump = "import json, sys; json.dump(sys.argv[1:], open('args.json', 'w'))"
    template = f"{PY} -c {shlex.quote(dump)} {{prompt_file}} {{worktree}} {{evidence_dir}} " \
               "{iteration} ${HOME:+home-set}"
    agent = resolve_agent(template, env=os.environ)
    inv = invocation(tmp_path, worktree, iteration=2)
    outcome = agent.run(inv)
    assert outcome.ok, outcome.stderr_path.read_text()
    args = json.loads((worktree / "args.json").read_text())
    assert args == [str(inv.prompt_file), str(worktree), str(inv.evidence_dir), "2", "home-set"]
    assert outcome.command[:2] == ["/bin/sh", "-c"]


def test_stdout_and_stderr_are_captured_per_iteration(tmp_path: Path, worktree: Path) -> None:
    agent = resolve_agent("echo out-{iteration}; echo err-{iteration} >&2; exit $((3 * "
                          "{iteration} - 3))", env=os.environ)
    first = agent.run(invocation(tmp_path, worktree, iteration=1))
    second = agent.run(invocation(tmp_path, worktree, iteration=2))
    assert (first.exit_code, second.exit_code) == (0, 3)
    assert not first.timed_out and first.ok and not second.ok
    assert first.stdout_path.read_text() == "out-1\n"
    assert first.stderr_path.read_text() == "err-1\n"
    assert second.stdout_path.read_text() == "out-2\n"
    assert second.stdout_path.parent != first.stdout_path.parent
    assert second.stdout_path.name == "agent.stdout"


def test_hung_agent_is_killed_at_the_timeout(tmp_path: Path, worktree: Path) -> None:
    agent = resolve_agent(f"{PY} -c 'import signal; signal.pause()'  # {{iteration}}",
                          env=os.environ)
    outcome = agent.run(invocation(tmp_path, worktree, timeout_s=1.0))
    assert outcome.timed_out and outcome.exit_code is None and not outcome.ok


GRANDCHILD = """
import os, signal, subprocess, sys, time
child = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "open('grandchild.ready', 'w').close(); signal.pause()")
p = subprocess.Popen([sys.executable, "-c", child])
open("grandchild.pid", "w").write(str(p.pid))
signal.pause()
"""


def test_grandchild_ignoring_sigterm_is_killed_with_the_group(tmp_path: Path,
                                                              worktree: Path) -> None:
    agent = resolve_agent(f"{PY} -c {shlex.quote(GRANDCHILD)}", env=os.environ)
    outcome = agent.run(invocation(tmp_path, worktree, timeout_s=1.5))
    assert outcome.timed_out
    pid = int((worktree / "grandchild.pid").read_text())
    wait_for(lambda: gone(pid), f"grandchild {pid} to die")


def test_finished_agent_leaves_no_background_process(tmp_path: Path, worktree: Path) -> None:
    agent = resolve_agent(f"{PY} -c 'import signal; signal.pause()' & echo $! > bg.pid  # "
                          "{iteration}", env=os.environ)
    outcome = agent.run(invocation(tmp_path, worktree))
    assert outcome.ok
    pid = int((worktree / "bg.pid").read_text())
    wait_for(lambda: gone(pid), f"background process {pid} to die")


@pytest.fixture
def interrupt_when(tmp_path: Path) -> Iterator[Path]:
    """Raise KeyboardInterrupt in the main thread once the returned file exists."""
    flag = tmp_path / "it's a work tree" / "started"

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.exists():
            signal.setitimer(signal.ITIMER_REAL, 0)
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
    try:
        yield flag
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_ctrl_c_kills_the_group_then_propagates(tmp_path: Path, worktree: Path,
                                                interrupt_when: Path) -> None:
    script = "import os, signal; open('agent.pid', 'w').write(str(os.getpid())); " \
             "open('started', 'w').close(); signal.pause()"
    agent = resolve_agent(f"{PY} -c {shlex.quote(script)}", env=os.environ)
    with pytest.raises(KeyboardInterrupt):
        agent.run(invocation(tmp_path, worktree, timeout_s=120))
    pid = int((worktree / "agent.pid").read_text())
    wait_for(lambda: gone(pid), f"agent {pid} to die")


def test_environment_is_scrubbed(tmp_path: Path, worktree: Path) -> None:
    env = {**os.environ, "AWS_SECRET_ACCESS_KEY": "fake-aws-secret", "GITHUB_TOKEN": "ghp_fake",
           "DATABASE_URL": "postgres://u:p@h/db", "MY_ALLOWED": "yes", "GIT_DIR": "/elsewhere",
           "PYTHONPATH": "/injected", "LC_ALL": "C.UTF-8"}
    dump = "import json, os; json.dump(dict(os.environ), open('env.json', 'w'))"
    agent = resolve_agent(f"{PY} -c {shlex.quote(dump)}  # {{iteration}}", env=env,
                          allow_env=["MY_ALLOWED", "GIT_DIR"])
    inv = invocation(tmp_path, worktree, iteration=3)
    assert agent.run(inv).ok
    seen = json.loads((worktree / "env.json").read_text())
    for dropped in ("AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "DATABASE_URL", "GIT_DIR",
                    "PYTHONPATH"):
        assert dropped not in seen
    assert seen["MY_ALLOWED"] == "yes" and seen["LC_ALL"] == "C.UTF-8"
    assert seen["GIT_AUTHOR_NAME"] == "Test User"
    assert seen["CLEANLOOP_WORKTREE"] == str(worktree)
    assert seen["CLEANLOOP_EVIDENCE"] == str(inv.evidence_dir)
    assert seen["CLEANLOOP_ITERATION"] == "3"
    assert seen["CLEANLOOP_PROMPT_FILE"] == str(inv.prompt_file)


def test_preset_env_allowlists() -> None:
    env = {"PATH": "/bin", "OPENAI_API_KEY": "o", "ANTHROPIC_API_KEY": "a", "AIDER_MODEL": "m",
           "CODEX_HOME": "/c", "AWS_ACCESS_KEY_ID": "x"}
    assert set(scrub_env(env, preset="codex")) == {"PATH", "OPENAI_API_KEY", "CODEX_HOME"}
    assert set(scrub_env(env, preset="claude")) == {"PATH", "ANTHROPIC_API_KEY"}
    assert set(scrub_env(env, preset="aider")) == {"PATH", "OPENAI_API_KEY",
                                                   "ANTHROPIC_API_KEY", "AIDER_MODEL"}
    assert set(scrub_env(env)) == {"PATH"}


def test_missing_preset_binary_fails_before_running(tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    with pytest.raises(AgentError, match=r"agent 'codex' needs the `codex` command on PATH; "
                                         r"install it or pass --agent"):
        resolve_agent("codex", env={"PATH": str(empty), "HOME": str(tmp_path)})


FAKE = """#!{python}
import json, os, sys
json.dump({{"argv": sys.argv[1:], "env": sorted(os.environ), "cwd": os.getcwd()}},
          open("preset-call.json", "w"))
"""


@pytest.mark.parametrize("preset", ["codex", "claude", "aider"])
def test_presets_run_their_binary_in_the_worktree(tmp_path: Path, worktree: Path,
                                                  preset: str) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / preset
    fake.write_text(FAKE.format(python=sys.executable))
    fake.chmod(0o755)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path), "OPENAI_API_KEY": "sk-o",
           "ANTHROPIC_API_KEY": "sk-a", "GITHUB_TOKEN": "ghp_x"}
    inv = invocation(tmp_path, worktree)
    outcome = resolve_agent(preset, env=env).run(inv)
    assert outcome.ok, outcome.stderr_path.read_text()
    call = json.loads((worktree / "preset-call.json").read_text())
    prompt = inv.prompt_file.read_text()
    expected = {
        "codex": ["exec", "--sandbox", "workspace-write", "--cd", str(worktree), prompt],
        "claude": ["-p", prompt, "--permission-mode", "acceptEdits"],
        "aider": ["--yes-always", "--no-auto-commits", "--message-file", str(inv.prompt_file)],
    }[preset]
    assert call["argv"] == expected
    assert Path(call["cwd"]) == worktree
    assert "GITHUB_TOKEN" not in call["env"]
    assert ("OPENAI_API_KEY" in call["env"]) == (preset != "claude")
    assert ("ANTHROPIC_API_KEY" in call["env"]) == (preset != "codex")
    assert outcome.command[0] == str(fake)


def test_unknown_single_word_agent_is_an_error() -> None:
    with pytest.raises(AgentError, match="unknown agent 'cdex'"):
        resolve_agent("cdex", env=os.environ)


# --- the scripted agent -----------------------------------------------------------------

V0, V1, V2 = ("def price():\n    return 100\n", "def price():\n    return 90\n",
              "def price():\n    # cached\n    return 90\n")


@pytest.fixture
def patches(tmp_path: Path) -> tuple[Path, Path]:
    """Two successive patches made with real git in a scratch repo: v0 -> v1 -> v2."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    sh(scratch, "init", "-q", "-b", "main")
    (scratch / "app.py").write_text(V0)
    sh(scratch, "add", "-A")
    sh(scratch, "commit", "-q", "-m", "v0")
    out = []
    for i, text in enumerate((V1, V2), start=1):
        (scratch / "app.py").write_text(text)
        patch = tmp_path / f"patch {i}.diff"
        patch.write_text(sh(scratch, "diff"))
        sh(scratch, "commit", "-q", "-am", f"v{i}")
        out.append(patch)
    return out[0], out[1]


def test_scripted_agent_applies_one_patch_per_iteration(
        tmp_path: Path, worktree: Path, patches: tuple[Path, Path]) -> None:
    p1, p2 = patches
    agent = resolve_agent("scripted", env=os.environ,
                          scripted_patches=[p1, Path("none"), p2])
    app = worktree / "app.py"
    results = []
    for iteration, expected in ((1, V1), (2, V1), (3, V2), (4, V2)):
        outcome = agent.run(invocation(tmp_path, worktree, iteration=iteration))
        assert outcome.ok, outcome.stderr_path.read_text()
        assert app.read_text() == expected
        results.append(outcome.stdout_path.read_text())
    assert "applied" in results[0] and "patch 1.diff" in results[0]
    assert "'none'" in results[1] and "no change" in results[1]
    assert "applied" in results[2]
    assert "no patch left" in results[3]
    assert agent.name == "scripted"


def test_scripted_agent_reports_a_patch_that_does_not_apply(
        tmp_path: Path, worktree: Path, patches: tuple[Path, Path]) -> None:
    agent = resolve_agent("scripted", env=os.environ, scripted_patches=[patches[1]])
    outcome = agent.run(invocation(tmp_path, worktree))
    assert outcome.exit_code == 1
    assert "does not apply" in outcome.stderr_path.read_text()
    assert (worktree / "app.py").read_text() == V0


def test_scripted_agent_needs_existing_patch_files(tmp_path: Path) -> None:
    with pytest.raises(AgentError, match="no such patch file"):
        resolve_agent("scripted", env=os.environ, scripted_patches=[tmp_path / "nope.diff"])
