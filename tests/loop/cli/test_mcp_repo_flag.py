"""`cleanloop mcp --repo DIR`: the flag exists, and a missing directory is a usage error (exit 2)
naming it, before the server starts. (The server side of --repo is tested with the MCP tools.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TIMEOUT_S = 60.0


def cleanloop(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cleanloop", *args], cwd=cwd,
                          env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=False)


def test_missing_repo_directory_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no such repo"
    proc = cleanloop("mcp", "--repo", str(missing), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"cleanloop: error: --repo {missing}: no such directory" in proc.stderr
    assert proc.stdout == ""


def test_a_relative_missing_repo_is_named_as_given_and_resolved(tmp_path: Path) -> None:
    proc = cleanloop("mcp", "--repo", "nowhere", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"--repo nowhere: no such directory ({tmp_path.resolve() / 'nowhere'})" in proc.stderr


def test_a_file_is_not_a_repo_directory(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    proc = cleanloop("mcp", "--repo", "file.txt", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "--repo file.txt: no such directory" in proc.stderr


def test_help_documents_the_flag(tmp_path: Path) -> None:
    proc = cleanloop("mcp", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--repo DIR" in proc.stdout
    assert "the repository the tools work in (default: the current directory)" in \
        " ".join(proc.stdout.split())
