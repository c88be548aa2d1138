"""The shop's scenarios end to end: real app, real OTel exporters, receiver, store, SLIs.

Each seeded bug fails its scenario with evidence; with its fix applied, the scenario passes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cleanloop.loop.cli.main import main
from cleanloop.loop.store.query import query_run
from tests.shop_repo import fix, seeded_shop

pytestmark = pytest.mark.slow


@pytest.fixture
def shop(tmp_path: Path, git_env: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = seeded_shop(tmp_path / "shop", dirty=False)
    monkeypatch.chdir(repo)
    return repo


def run(capsys: pytest.CaptureFixture[str], scenario: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", scenario, "--json"])
    return code, json.loads(capsys.readouterr().out)


def failing(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in verdict["checks"] if not c["ok"]}


def apply(repo: Path, patch: str) -> None:
    subprocess.run(["git", "apply", str(fix(patch))], cwd=repo, check=True)


def test_checkout_n_plus_one(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, verdict = run(capsys, "checkout-perf.yaml")
    assert code == 1
    slow = failing(verdict)['span("POST /api/checkout").p95 < 60ms']
    assert slow["value"] > 25 and slow["unit"] == "ms"
    assert slow["evidence"]["slowest"][0]["name"] == "POST /api/checkout"
    assert len(slow["evidence"]["slowest"][0]["trace_id"]) == 32
    run_dir = Path(verdict["artifacts"]["run_dir"])
    # the N+1 is visible in the stored spans: many db.query children per checkout
    _, rows = query_run(run_dir, "SELECT count(*) FROM spans s JOIN spans p ON "
                                 "s.parent_span_id = p.span_id WHERE p.name = "
                                 "'POST /api/checkout' AND s.name = 'db.query'")
    assert rows[0][0] >= 40 * 20 * 3
    _, rows = query_run(run_dir, "SELECT count(*) FROM metrics WHERE source = 'prometheus' "
                                 "AND sample LIKE 'shop_request_duration_seconds_bucket'")
    assert rows[0][0] > 0
    apply(shop, "checkout-n-plus-one.patch")
    code, verdict = run(capsys, "checkout-perf.yaml")
    assert code == 0, failing(verdict)


def test_error_log_on_every_products_request(shop: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, verdict = run(capsys, "error-log.yaml")
    assert code == 1
    errors = failing(verdict)["logs(level >= error).count == 0"]
    # GET /api/products once plus a load of 10: each logged once over OTLP and once to
    # stdout, counted once
    assert errors["value"] == 11
    top = errors["evidence"]["top"][0]
    assert "price feed unavailable" in top["message"] and len(top["trace_id"]) == 32
    apply(shop, "error-log.patch")
    code, verdict = run(capsys, "error-log.yaml")
    assert code == 0, failing(verdict)


def test_eager_startup(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, verdict = run(capsys, "startup.yaml")
    assert code == 1
    startup = failing(verdict)["app.startup < 2000ms"]
    assert startup["value"] >= 2000 and startup["evidence"]["startup_ms"][0] >= 2000
    apply(shop, "startup.patch")
    code, verdict = run(capsys, "startup.yaml")
    assert code == 0, failing(verdict)
    assert verdict["runs"][0]["startup_ms"] < 2000


@pytest.mark.browser
def test_ui_add_to_cart(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, verdict = run(capsys, "ui-add-to-cart.yaml")
    assert code == 1
    bad = failing(verdict)
    console = bad["console.errors == 0"]["evidence"]["console_errors"][0]
    assert "TypeError" in console["text"] and "toFixed" in console["text"]
    assert "/static/app.js:" in console["location"]
    expectation = bad["step #3 (cart-count)"]
    assert "expected to contain text '1'" in expectation["note"]
    assert "ui-add-to-cart.yaml:" in expectation["note"]
    for key in ("screenshot", "dom", "aria"):
        assert Path(expectation["evidence"][key]).is_file()
    assert Path(expectation["evidence"]["screenshot"]).read_bytes()[:4] == b"\x89PNG"
    # a browser request and the backend span it caused share a trace id
    run_dir = Path(verdict["artifacts"]["run_dir"])
    _, rows = query_run(run_dir, "SELECT b.url, s.name FROM browser b JOIN spans s "
                                 "ON b.trace_id = s.trace_id WHERE b.kind = 'request' "
                                 "AND s.kind = 'SERVER'")
    assert ("GET /api/products" in {name for _, name in rows}), rows
    apply(shop, "add-to-cart.patch")
    code, verdict = run(capsys, "ui-add-to-cart.yaml")
    assert code == 0, failing(verdict)
    run_dir = Path(verdict["artifacts"]["run_dir"])
    _, rows = query_run(run_dir, "SELECT s.name FROM browser b JOIN spans s "
                                 "ON b.trace_id = s.trace_id WHERE b.kind = 'request' "
                                 "AND b.method = 'POST'")
    assert ("POST /api/cart",) in rows


CHECKOUT_UI = """\
name: ui-checkout
app:
  command: "{python} app/shop.py --port {port}"
  ready: {http: /healthz}
steps:
  - browser: {goto: /}
  - browser: {name: add, click: "[data-product-id='1'] >> text=Add to cart"}
  - browser: {expect_text: {selector: "#cart-count", text: "1"}}
  - browser: {name: checkout, click: "#checkout"}
  - browser: {wait_for: {network_idle: true}}
checks:
  - requests(status >= 400).count == 0
"""


@pytest.mark.browser
def test_failed_click_is_joined_to_the_backend_span_that_raised(
        shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (shop / "ui-checkout.yaml").write_text(CHECKOUT_UI)
    checkout = shop / "app" / "checkout.py"
    text = checkout.read_text()
    old = "    lines = price_lines(conn, items)\n"
    assert old in text
    checkout.write_text(text.replace(old, old + '    raise RuntimeError("tax service '
                                              'unreachable")\n', 1))
    code, verdict = run(capsys, "ui-checkout.yaml")
    assert code == 1
    [request] = failing(verdict)["requests(status >= 400).count == 0"]["evidence"][
        "failed_requests"]
    assert request["method"] == "POST" and request["status"] == 500
    assert request["step"] == "step #3 (checkout)"
    assert request["backend"] == ("span POST /api/checkout ERROR: RuntimeError: "
                                  "tax service unreachable")
    code = main(["run", "ui-checkout.yaml"])
    out = capsys.readouterr().out
    assert "step #3 (checkout) → POST " in out and "/api/checkout 500 → span POST " in out
