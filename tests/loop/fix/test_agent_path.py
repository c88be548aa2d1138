"""The agent's `cleanloop` is the cleanloop that runs the loop.

The prompt tells the agent to run `cleanloop run` / `cleanloop query`. When cleanloop is started
by its path (`/abs/.venv/bin/cleanloop fix ...`) with a PATH lacking that directory, the agent
still finds that very script (its directory goes first on the agent's PATH). Without a console
script beside the interpreter (`python -m cleanloop`) the prompt names the interpreter instead.
Real processes throughout: `cleanloop fix` as a subprocess in a tiny git repository, an agent
program that reads its prompt, records what `cleanloop` is and runs the prompt's query command.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cleanloop.loop.fix.agents import agent_env, cleanloop_command
from cleanloop.loop.fix.agents.env import cleanloop_bin_dir, with_cleanloop_on_path
from tests.repo_state import assert_no_worktrees, sh

VENV_BIN = Path(sys.executable).parent
SCRIPT = VENV_BIN / "cleanloop"
#: a PATH with git and a shell but not the virtualenv's bin/
BARE_PATH = "/usr/bin:/bin"
FIX_TIMEOUT_S = 240.0

pytestmark = pytest.mark.skipif(not SCRIPT.is_file(),
                                reason="the tests run from a virtualenv with the cleanloop script")

SERVER = textwrap.dedent("""\
    import http.server, json, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a):
            print(json.dumps({"level": "info", "message": "request " + self.path}), flush=True)
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """)

#: fails on the base revision (the step makes one request), so the loop calls the agent
SCENARIO = textwrap.dedent("""\
    name: tiny
    app:
      command: "{python} server.py {port}"
      ready: {http: /}
      timeout: 10s
      stop_timeout: 2s
    steps:
      - http: {path: /hello}
    checks:
      - logs(message ~ "request /hello").count == 0
    """)

#: the agent: records what `cleanloop` is on its PATH and runs the prompt's query command
AGENT = textwrap.dedent("""\
    import json, os, re, shutil, subprocess, sys
    prompt_file, out = sys.argv[1], sys.argv[2]
    prompt = open(prompt_file, encoding="utf-8").read()
    section = prompt.split("## Reproduce and inspect", 1)[1]
    commands = re.search(r"```sh\\n(.*?)\\n```", section, re.S).group(1).splitlines()
    query = next(c for c in commands if " query " in c)
    ran = subprocess.run(query, shell=True, capture_output=True, text=True, timeout=120)
    json.dump({"which": shutil.which("cleanloop"), "path": os.environ.get("PATH"),
               "commands": commands, "query": query, "returncode": ran.returncode,
               "stdout": ran.stdout, "stderr": ran.stderr}, open(out, "w"))
    """)


@pytest.fixture
def repo(tmp_path: Path, git_env: None) -> Path:
    repo = tmp_path / "tiny repo"
    repo.mkdir()
    sh(repo, "init", "-q", "-b", "main")
    (repo / "server.py").write_text(SERVER)
    (repo / "s.yaml").write_text(SCENARIO)
    sh(repo, "add", "-A")
    sh(repo, "commit", "-q", "-m", "tiny app")
    return repo


def run_fix(launcher: list[str], repo: Path, tmp_path: Path) -> tuple[dict[str, Any],
                                                                     dict[str, Any]]:
    """`<launcher> fix s.yaml` with PATH=BARE_PATH; returns (fix summary, agent record)."""
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    record = tmp_path / "agent-record.json"
    template = (f"{shlex.quote(sys.executable)} {shlex.quote(str(agent))} {{prompt_file}} "
                f"{shlex.quote(str(record))}")
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "CLEANLOOP_HOME", "PYTHONPATH")}
    env["PATH"] = BARE_PATH
    proc = subprocess.run([*launcher, "fix", "s.yaml", "--agent", template,
                           "--max-iterations", "1", "--json"], cwd=repo, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=FIX_TIMEOUT_S, check=False)
    assert proc.returncode == 1, proc.stderr        # the agent changes nothing: exhausted
    summary = json.loads(proc.stdout)
    assert summary["outcome"] == "exhausted" and summary["attempts"][0]["outcome"] == "no-diff"
    assert record.exists(), proc.stderr
    assert_no_worktrees(repo)
    return summary, json.loads(record.read_text())


def test_started_by_its_path_the_agent_runs_the_same_cleanloop(repo: Path,
                                                               tmp_path: Path) -> None:
    assert shutil.which("cleanloop", path=BARE_PATH) is None    # else the test proves nothing
    _, seen = run_fix([str(SCRIPT)], repo, tmp_path)
    assert seen["which"] is not None, seen["path"]
    assert os.path.samefile(seen["which"], SCRIPT)
    assert seen["path"].split(os.pathsep)[0] == str(VENV_BIN)
    assert seen["path"].endswith(BARE_PATH)
    # the prompt says plain `cleanloop`, and its query command runs
    assert seen["query"].startswith("cleanloop query ")
    assert any(c.startswith("cleanloop run ") for c in seen["commands"])
    assert seen["returncode"] == 0, seen["stderr"]
    assert "level" in seen["stdout"] and "message" in seen["stdout"]


@pytest.fixture
def bare_venv(tmp_path: Path) -> Path:
    """A virtualenv without the cleanloop script that imports cleanloop from ours (a .pth
    adds our site-packages, editable install included): like `python -m cleanloop` from a
    checkout. Returns its python."""
    # no space in its path: the scenario's `{python}` placeholder is not shell-quoted
    venv = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120, capture_output=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"], check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    (Path(site) / "ours.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    assert not (venv / "bin" / "cleanloop").exists()
    return python


def test_without_a_script_the_prompt_names_the_interpreter(repo: Path, tmp_path: Path,
                                                           bare_venv: Path) -> None:
    assert shutil.which("cleanloop", path=BARE_PATH) is None
    _, seen = run_fix([str(bare_venv), "-m", "cleanloop"], repo, tmp_path)
    expected = f"{shlex.quote(str(bare_venv))} -m cleanloop"
    assert seen["query"].startswith(f"{expected} query ")
    assert any(c.startswith(f"{expected} run ") for c in seen["commands"])
    assert seen["returncode"] == 0, seen["stderr"]
    assert "level" in seen["stdout"]
    # PATH is left as it was: nothing to put on it
    assert seen["which"] is None and seen["path"] == BARE_PATH


# --- the pieces, on real files ----------------------------------------------------------

def test_the_bin_dir_is_the_interpreters_when_it_holds_the_script(tmp_path: Path) -> None:
    assert cleanloop_bin_dir(sys.executable) == VENV_BIN
    assert cleanloop_command(sys.executable) == "cleanloop"
    lone = tmp_path / "bin" / "python3"
    lone.parent.mkdir()
    lone.symlink_to(sys.executable)
    assert cleanloop_bin_dir(str(lone)) is None
    assert cleanloop_command(str(lone)) == f"{shlex.quote(str(lone))} -m cleanloop"


def test_path_gets_the_bin_dir_first_only_when_it_does_not_find_the_script(
        tmp_path: Path) -> None:
    env = with_cleanloop_on_path({"PATH": BARE_PATH, "HOME": "/h"})
    assert env == {"PATH": f"{VENV_BIN}{os.pathsep}{BARE_PATH}", "HOME": "/h"}
    # already found (directly, or through a link to the same script): left alone
    assert with_cleanloop_on_path({"PATH": f"{BARE_PATH}:{VENV_BIN}"})["PATH"] == \
        f"{BARE_PATH}:{VENV_BIN}"
    links = tmp_path / "links"
    links.mkdir()
    (links / "cleanloop").symlink_to(SCRIPT)
    assert with_cleanloop_on_path({"PATH": str(links)})["PATH"] == str(links)
    # another cleanloop earlier on PATH: ours goes in front of it
    other = tmp_path / "other"
    other.mkdir()
    (other / "cleanloop").write_text("#!/bin/sh\nexit 0\n")
    (other / "cleanloop").chmod(0o755)
    assert with_cleanloop_on_path({"PATH": str(other)})["PATH"] == f"{VENV_BIN}:{other}"
    # no script beside the interpreter: nothing to add
    lone = tmp_path / "bin" / "python3"
    lone.parent.mkdir()
    lone.symlink_to(sys.executable)
    assert with_cleanloop_on_path({"PATH": BARE_PATH}, python=str(lone)) == {"PATH": BARE_PATH}


def test_agent_env_scrubs_then_adds_the_path() -> None:
    env = agent_env({"PATH": BARE_PATH, "GITHUB_TOKEN": "ghp_x", "HOME": "/h"})
    assert env == {"PATH": f"{VENV_BIN}{os.pathsep}{BARE_PATH}", "HOME": "/h"}
