from __future__ import annotations

from pathlib import Path

import pytest

from cleanloop.loop.cli.main import main
from cleanloop.loop.store.run_store import RunStore

SECRET = "ghp_" + "abcdefghijklmnopqrstuvwxyz0123456789"


def make_run(root: Path) -> Path:
    store = RunStore.create(root, "shop")
    store.add(0, {
        "logs": {"ts_ns": [1], "source": ["stdout"], "level": ["error"],
                 "message": ["<script>alert('x')</script> token=" + SECRET],
                 "trace_id": ["ab" * 16]},
        "spans": {"name": ["POST /api/checkout"], "duration_ms": [42.0], "status": ["ERROR"],
                  "trace_id": ["cd" * 16]},
    })
    store.write_tables()
    store.write_json("verdict.json", {
        "verdict": "fail", "scenario": "shop", "runs": [],
        "checks": [{"check": "logs(level >= error).count == 0", "kind": "zero", "role": "check",
                    "value": 1, "threshold": 0, "ok": False, "note": "<b>non-zero</b>"}],
        "artifacts": {"run_dir": str(store.dir)}})
    return store.dir


def test_report_escapes_telemetry_and_redacts_secrets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = make_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["report", "last"]) == 0
    out = Path(capsys.readouterr().out.strip())
    assert out == run_dir / "report.html"
    page = out.read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)" in page
    assert SECRET not in page and "[REDACTED]" in page
    assert "<b>non-zero</b>" not in page and "&lt;b&gt;non-zero&lt;/b&gt;" in page
    assert "POST /api/checkout" in page and "FAIL" in page


def test_report_of_a_directory_without_verdict_is_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "spans.parquet").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no verdict.json" in capsys.readouterr().err
