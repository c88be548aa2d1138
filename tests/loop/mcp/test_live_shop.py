"""The live session end to end on the seeded shop, as an agent would use it through MCP: add the
discounted item to the cart by ref, read the uncaught TypeError with its source location, read
the backend span of a failing request by its trace id, and save the reproduction as a scenario
that `cleanloop run` fails on the seeded shop and passes once the fix is applied.

The seeded bug (scenarios/shop/README.md, bug a): "Add to cart" on a discounted product throws
in unitPrice() before any request is sent, so the cart never updates. The failing request here
is the agent's own probe of the cart API (a quantity of 0, refused with 400), which it leaves
out of the saved scenario.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp.client import Client

from cleanloop.loop.cli.demo import FIXES_DIR, seed_repository
from tests.loop.mcp.test_live_page import call, ok, with_clients

pytestmark = pytest.mark.browser

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
RUN_TIMEOUT_S = 300.0
PROBE = ('fetch("/api/cart", {method: "POST", headers: {"Content-Type": "application/json"}, '
         'body: JSON.stringify({product_id: 3, qty: 0})}).then((r) => r.status)')


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CLEANLOOP_HOME", raising=False)
    return seed_repository(tmp_path / "shop")


def discounted_add_button(aria: str) -> str:
    """The ref of the "Add to cart" button of the first product with a discount badge."""
    discounted = False
    for line in aria.splitlines():
        if "- listitem" in line:
            discounted = False
        elif re.search(r': "-\d+%"$', line):
            discounted = True
        elif discounted and (found := re.search(r'button "Add to cart" \[ref=(\w+)\]', line)):
            return found.group(1)
    raise AssertionError(f"no discounted product in\n{aria}")


def cleanloop_run(repo: Path, scenario: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cleanloop", "run", scenario], cwd=repo,
                          env=dict(os.environ), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, check=False)


def test_an_agent_reproduces_the_discount_bug_and_saves_a_regression_test(shop: Path) -> None:
    saved: dict[str, Any] = {}

    async def body(client: Client) -> None:
        sid = ok(await call(client, "start_app", scenario="ui-add-to-cart.yaml"))["session"]
        snap = ok(await call(client, "snapshot", session=sid))
        clicked = ok(await call(client, "click", session=sid,
                                ref=discounted_add_button(snap["aria"])))
        assert clicked["selector"] == '[data-product-id="3"] >> role=button[name="Add to cart"]'
        assert clicked["errors"] >= 1 and clicked["requests"] == 0   # it throws before fetching

        console = ok(await call(client, "console_messages", session=sid, level="error"))
        thrown = [e for e in console["entries"] if e["source"] == "exception"]
        assert len(thrown) == 1 and "reading 'toFixed'" in thrown[0]["text"]
        assert re.search(r"/static/app\.js:\d+:\d+$", thrown[0]["location"])
        errors = ok(await call(client, "page_errors", session=sid))
        assert "at unitPrice" in errors["entries"][0]["stack"]

        # the fix must update the cart: the agent waits for it, and on this app it never comes
        waited = ok(await call(client, "wait_for", session=sid, text="added to cart",
                               timeout=5))
        assert waited["ok"] is False and waited["step"] is not None

        # the agent probes the cart API itself; the refused request leads to its backend span
        probe = ok(await call(client, "evaluate", session=sid, expression=PROBE))
        assert probe["result"] == 400 and probe["failed_requests"] == 1
        failed = ok(await call(client, "network_requests", session=sid, failed_only=True))
        (request,) = failed["entries"]
        assert (request["method"], request["status"]) == ("POST", 400)
        assert re.fullmatch(r"[0-9a-f]{32}", request["trace_id"])
        backend = ok(await call(client, "backend_telemetry", session=sid,
                                trace_id=request["trace_id"]))
        (span,) = [s for s in backend["spans"] if s["kind"] == "SERVER"]
        assert span["name"] == "POST /api/cart" and span["trace_id"] == request["trace_id"]
        assert span["attributes"]["http.response.status_code"] == 400
        assert span["request"] == {"method": "POST", "url": request["url"], "status": 400}
        again = ok(await call(client, "network_requests", session=sid, since=probe["mark"]))
        assert again["entries"][0]["spans"] >= 1

        everything = ok(await call(client, "backend_telemetry", session=sid, since="start"))
        assert everything["totals"]["spans"] >= 5 and everything["totals"]["metrics"] >= 1

        saved.update(ok(await call(
            client, "save_scenario", session=sid, path="repro/discounted-add-to-cart.yaml",
            name="discounted-add-to-cart", steps=[1, clicked["step"], waited["step"]])))
        ok(await call(client, "stop_app", session=sid))

    with_clients(shop, body)

    scenario = yaml.safe_load(Path(saved["path"]).read_text())
    assert scenario["app"]["cwd"] == ".." and len(scenario["steps"]) == 3
    seeded = cleanloop_run(shop, "repro/discounted-add-to-cart.yaml")
    assert seeded.returncode == 1, seeded.stdout + seeded.stderr
    assert "toFixed" in seeded.stdout

    subprocess.run(["git", "apply", str(FIXES_DIR / "add-to-cart.patch")], cwd=shop,
                   check=True, capture_output=True, timeout=60)
    fixed = cleanloop_run(shop, "repro/discounted-add-to-cart.yaml")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
