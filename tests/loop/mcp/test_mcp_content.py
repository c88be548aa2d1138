"""Artifacts as MCP content: typed results with real output schemas, the gate's table as numbers,
verify's bounds, failure screenshots as image content, run directories and table schemas as
resources. Through the official SDK client, in-process."""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
import jsonschema
import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp_types import BlobResourceContents, CallToolResult, ImageContent, TextResourceContents

from cleanloop.loop.base import schema
from cleanloop.loop.base.errors import UsageError
from cleanloop.loop.cli.demo import seed_repository
from cleanloop.loop.gate.plan import SequentialPlan, plan_from_bounds
from cleanloop.loop.gate.rules import decide
from cleanloop.loop.gate.types import GateInput
from cleanloop.loop.gate.verify_verdict import gate_entry
from cleanloop.loop.mcp import resources, result_content, tools
from cleanloop.loop.mcp.registry import tool
from cleanloop.loop.mcp.result_content import call_result, failure_images
from cleanloop.loop.mcp.result_tables import DESCRIPTIONS
from cleanloop.loop.mcp.results import (
    Evidence,
    Failure,
    GateRow,
    QueryResult,
    RunResult,
    VerifyResult,
    gate_rows,
    verify_result,
)
from cleanloop.loop.mcp.server import CleanloopMcp
from cleanloop.loop.model.verdict_types import Artifacts, CheckEntry, SideInfo, Verdict
from cleanloop.loop.report.verify_table import TableRow, table_lines
from cleanloop.loop.store.run_store import RUNS_DIR, RunStore

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
CALL_TIMEOUT_S = 120.0
PNG = b"\x89PNG\r\n\x1a\n"
RUN_FIELDS = {"verdict", "run_id", "run_dir", "summary", "failing"}
VERIFY_FIELDS = {"verdict", "reason", "table", "rows", "run_dir", "failing", "baseline_runs",
                 "candidate_runs"}
QUERY_FIELDS = {"run_dir", "columns", "rows", "row_count", "truncated"}
ROW_NUMBERS = ("baseline_median", "candidate_median", "ratio", "ci_low", "ci_high", "p_value",
               "threshold")


# -- fixtures ------------------------------------------------------------------------------------
def _env() -> dict[str, str]:
    env = {**os.environ, **GIT_ENV}
    env.pop("CLEANLOOP_HOME", None)
    return env


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    return seed_repository(tmp_path / "shop")


@pytest.fixture(scope="module")
def ui_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, RunResult]]:
    """One real run of the shop's seeded UI bug: a browser step fails and takes a screenshot."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in GIT_ENV.items():
            mp.setenv(key, value)
        repo = seed_repository(tmp_path_factory.mktemp("ui") / "shop")
        result = tools.run_tool(repo, _env(), "ui-add-to-cart.yaml", 1)
        yield repo, result


def run_client(server: MCPServer[Any], body: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        with anyio.fail_after(CALL_TIMEOUT_S):
            async with Client(server) as client:
                await body(client)

    anyio.run(main)


def content_server(repo: Path, env: dict[str, str]) -> MCPServer[Any]:
    """The tools as server.py is to wire them: typed results, images added by call_result."""

    async def run_scenario(scenario: str, repeat: int = 1) -> Annotated[CallToolResult,
                                                                         RunResult]:
        result = await anyio.to_thread.run_sync(tools.run_tool, repo, env, scenario, repeat)
        return call_result(result, failure_images(result.failing))

    async def list_failures(run: str = "last") -> Annotated[CallToolResult, list[Failure]]:
        failing = await anyio.to_thread.run_sync(tools.failures_tool, repo, env, run)
        return call_result(failing, failure_images(failing))

    async def query(run: str, sql: str, limit: int = 200) -> QueryResult:
        return await anyio.to_thread.run_sync(tools.query_tool, repo, env, run, sql, limit)

    async def verify(scenario: str, base: str = "HEAD", candidate: str | None = None,
                     budget: float | None = None) -> Annotated[CallToolResult, VerifyResult]:
        def work() -> VerifyResult:
            return tools.verify_tool(repo, env, scenario, base, candidate, None, budget_s=budget)

        result = await anyio.to_thread.run_sync(work)
        return call_result(result, failure_images(result.failing))

    fns: dict[str, Callable[..., Any]] = {
        "run_scenario": run_scenario, "list_failures": list_failures, "query": query,
        "verify": verify}
    return MCPServer("content-test", tools=[
        tool(fn, title=name, description=f"{name} as cleanloop's server returns it",
             read_only=name in ("query", "list_failures")) for name, fn in fns.items()])


class Host:
    """What register_resources needs of the server: the repository and the environment."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env

    async def job(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args)


def resource_server(cwd: Path, env: dict[str, str]) -> MCPServer[Any]:
    """Only the resources, as server.py registers them (the full server is used where the
    wiring itself is under test)."""
    server: MCPServer[Any] = MCPServer("resources-test")
    resources.register_resources(server, Host(cwd, env))
    return server


def props(schema_: dict[str, Any], name: str) -> dict[str, Any]:
    """The properties of a $defs entry of an output schema."""
    found: dict[str, Any] = schema_["$defs"][name]["properties"]
    return found


def images_of(result: CallToolResult) -> list[ImageContent]:
    return [c for c in result.content if isinstance(c, ImageContent)]


def text_of(contents: list[TextResourceContents | BlobResourceContents]) -> str:
    assert len(contents) == 1 and isinstance(contents[0], TextResourceContents)
    return contents[0].text


def blob_of(contents: list[TextResourceContents | BlobResourceContents]) -> bytes:
    assert len(contents) == 1 and isinstance(contents[0], BlobResourceContents)
    return base64.b64decode(contents[0].blob)


# -- typed results through the SDK ---------------------------------------------------------------
@pytest.mark.browser
def test_tool_results_are_typed_validate_and_carry_failure_screenshots(
        ui_run: tuple[Path, RunResult]) -> None:
    repo, ui = ui_run
    server = content_server(repo, _env())

    async def body(client: Client) -> None:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        schemas = {name: t.output_schema for name, t in listed.items()}
        assert all(s is not None for s in schemas.values())
        run_schema, verify_schema = schemas["run_scenario"], schemas["verify"]
        query_schema, failures_schema = schemas["query"], schemas["list_failures"]
        assert run_schema and verify_schema and query_schema and failures_schema
        assert RUN_FIELDS <= set(run_schema["properties"])
        assert run_schema["properties"]["verdict"]["enum"] == ["pass", "fail"]
        assert VERIFY_FIELDS <= set(verify_schema["properties"])
        assert QUERY_FIELDS <= set(query_schema["properties"])
        assert set(failures_schema["properties"]) == {"result"}
        failure = props(run_schema, "Failure")
        assert {"check", "kind", "role", "value", "threshold", "evidence"} <= set(failure)
        evidence = props(run_schema, "Evidence")
        assert {"slowest", "top", "console_errors", "failed_requests", "screenshot"} <= \
            set(evidence)
        row = props(verify_schema, "GateRow")
        for name in ROW_NUMBERS:
            assert {"type": "number"} in row[name]["anyOf"], name

        # list_failures of the failing UI run: the failure screenshot comes as a PNG image
        failed = await client.call_tool("list_failures", {"run": ui.run_id},
                                        read_timeout_seconds=CALL_TIMEOUT_S)
        assert not failed.is_error
        assert failed.structured_content is not None
        jsonschema.validate(failed.structured_content, failures_schema)
        failures = failed.structured_content["result"]
        assert {f["check"] for f in failures} == {f.check for f in ui.failing}
        shots = [f["evidence"]["screenshot"] for f in failures if "screenshot" in f["evidence"]]
        assert shots and all(Path(s).is_file() for s in shots)
        images = images_of(failed)
        assert len(images) == 1 and images[0].mime_type == "image/png"
        assert base64.b64decode(images[0].data) == Path(shots[0]).read_bytes()
        assert images[0].meta == {"path": shots[0]}

        # a real run (no browser): structured result of the published shape, no image
        run = await client.call_tool("run_scenario", {"scenario": "error-log.yaml"},
                                     read_timeout_seconds=CALL_TIMEOUT_S)
        assert not run.is_error and run.structured_content is not None
        jsonschema.validate(run.structured_content, run_schema)
        got = run.structured_content
        assert got["verdict"] == "fail" and Path(got["run_dir"]).name == got["run_id"]
        logs = {f["check"]: f for f in got["failing"]}["logs(level >= error).count == 0"]
        assert logs["value"] > 0 and logs["evidence"]["top"][0]["count"] > 0
        assert not images_of(run)

        counted = await client.call_tool("query", {"run": got["run_id"],
                                                   "sql": "SELECT name FROM spans", "limit": 1})
        assert counted.structured_content is not None
        jsonschema.validate(counted.structured_content, query_schema)
        assert counted.structured_content["truncated"]
        assert counted.structured_content["row_count"] > 1

        # verify with a budget that ends it before the first run: inconclusive, bounded
        verified = await client.call_tool(
            "verify", {"scenario": "error-log.yaml", "candidate": "HEAD", "budget": 0.001},
            read_timeout_seconds=CALL_TIMEOUT_S)
        assert not verified.is_error, verified.content
        assert verified.structured_content is not None
        jsonschema.validate(verified.structured_content, verify_schema)
        v = verified.structured_content
        assert v["verdict"] == "inconclusive" and "budget" in v["reason"]
        assert v["baseline_runs"] == v["candidate_runs"] == 0
        assert v["table"][0].startswith("INCONCLUSIVE")

    run_client(server, body)


@pytest.mark.browser
def test_failure_images_of_a_real_run(ui_run: tuple[Path, RunResult]) -> None:
    repo, ui = ui_run
    shots = [f.evidence.screenshot for f in ui.failing if f.evidence.screenshot]
    assert len(shots) == 1
    images = failure_images(ui.failing)
    assert [i.meta for i in images] == [{"path": shots[0]}]
    assert base64.b64decode(images[0].data).startswith(PNG)
    verdict = Verdict.from_json(json.loads(Path(ui.run_dir, "verdict.json").read_text()))
    assert [i.meta for i in failure_images(verdict)][:1] == [{"path": shots[0]}]
    assert failure_images(ui.failing, limit=0) == []


def test_failure_images_are_bounded_and_skip_bad_files(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def png(name: str, size: int = 64) -> str:
        path = tmp_path / name
        path.write_bytes(PNG + b"\0" * size)
        return str(path)

    (tmp_path / "fake.png").write_text("not a png")
    paths = [str(tmp_path / "missing.png"), str(tmp_path / "fake.png"), png("big.png", 4096),
             png("a.png"), png("a.png"), png("b.png"), png("c.png"), png("d.png")]
    failing = [Failure(check=f"c{i}", kind="zero", role="check", value=1, threshold=0,
                       evidence=Evidence(screenshot=p)) for i, p in enumerate(paths)]
    failing.append(Failure(check="none", kind="zero", role="check", value=1, threshold=0))
    monkeypatch.setattr(result_content, "MAX_IMAGE_BYTES", 1024)

    images = failure_images(failing)
    assert [Path(i.meta["path"]).name for i in images if i.meta] == ["a.png", "b.png", "c.png"]
    assert all(base64.b64decode(i.data).startswith(PNG) for i in images)
    assert len(failure_images(failing, limit=10)) == 4
    assert failure_images(failing[:3]) == []

    result = call_result(failing[:1], images[:1])
    assert result.structured_content == {"result": [tools.jsonable(failing[0])]}
    assert result.content[1] == images[0]


# -- the gate's table as numbers -----------------------------------------------------------------
def verify_verdict() -> Verdict:
    """A verify's verdict from the real gate: a target that improved, a guard, a per-run item
    and a check on the candidate."""
    base = [100.0, 104.0, 98.0, 101.0, 99.0, 103.0]
    items = [
        GateInput('span("GET /x").p95', 'span("GET /x").p95 improves >= 20%', "target", 0.2,
                  base, [v / 2 for v in base]),
        GateInput('span("GET /y").p50', 'span("GET /y").p50 regresses <= 100%', "guard", 1.0,
                  base, [v * 1.01 for v in base]),
        GateInput("app.crashed", "app.crashed regresses <= 0%", "guard", 0.0,
                  [0.0] * 6, [0.0] * 6, per_run=True),
    ]
    decision = decide(items, SequentialPlan.from_runs(6, 6, 0.01), 0)
    entries = [gate_entry(c) for c in decision.comparisons]
    entries.append(CheckEntry("check", "logs(level >= error).count == 0", "zero", "check", 3.0,
                              0.0, False, {}, op="==", worst=3.0, values=(3.0,) * 6,
                              note="non-zero in 6 of 6 run(s)"))
    return Verdict(verdict="reject", scenario="s", scenario_file="s.yaml", runs=(),
                   checks=tuple(entries), artifacts=Artifacts(run_dir="/tmp/verify-s"),
                   reason=decision.reason, baseline=SideInfo("a" * 40, 6),
                   candidate=SideInfo("b" * 40, 6), gate=decision.as_dict())


def test_gate_rows_are_the_tables_numbers() -> None:
    verdict = verify_verdict()
    rows = gate_rows(verdict)
    assert [r.role for r in rows] == ["target", "guard", "guard", "check"]
    target, guard, per_run, check = rows
    lines = table_lines(verdict)
    for row in (target, guard):
        for name in ROW_NUMBERS:
            value = getattr(row, name)
            assert isinstance(value, float) and math.isfinite(value), name
        assert row.ci_low is not None and row.ci_high is not None and row.ratio is not None
        assert row.ci_low <= row.ratio <= row.ci_high
        assert row.runs_baseline == row.runs_candidate == 6
        assert row.judged == "ratio"
        line = next(x for x in lines if x.strip().startswith(row.sli or "?"))
        assert f"{row.ratio:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]" in line
        assert f"{row.op}{row.threshold:.2f}" in line
        assert row.result.upper() in line
    assert target.result == "improved" and target.op == "<=" and target.threshold == 0.8
    assert target.ratio == pytest.approx(0.5, rel=0.05)
    assert target.p_value is not None and target.p_value < 0.01
    assert target.baseline_median == pytest.approx(100.5)
    assert per_run.judged == "per_run" and per_run.ratio is None and per_run.ci_low is None
    assert check.kind == "zero" and check.sli is None and check.result == "fail"
    assert (check.value, check.threshold, check.worst, check.op) == (3.0, 0.0, 3.0, "==")
    assert check.ratio is None and check.runs_candidate == 6

    result = verify_result(verdict, "reject", verdict.reason or "", Path("/tmp/verify-s"))
    dumped = result.model_dump(mode="json")
    jsonschema.validate(dumped, VerifyResult.model_json_schema())
    assert dumped["rows"][0]["ratio"] == target.ratio
    assert dumped["table"] == lines
    assert [f["check"] for f in dumped["failing"]] == [
        e.check for e in verdict.checks if not e.ok]
    assert (dumped["baseline_runs"], dumped["candidate_runs"]) == (6, 6)


def test_gate_row_has_the_fields_of_the_tables_rows() -> None:
    assert set(GateRow.model_fields) == set(TableRow.__dataclass_fields__)


# -- verify's bounds ---------------------------------------------------------------------------
def test_verify_bounds_map_to_the_plan_as_the_cli_does(shop: Path) -> None:
    from cleanloop.loop.cli.main import _plan

    for runs, max_runs in [(None, None), (2, 2), (4, None), (None, 10), (3, 7), (6, 18)]:
        cli = _plan(argparse.Namespace(runs=runs, max_runs=max_runs, alpha=None))
        assert tools.verify_plan(runs, max_runs) == cli
        assert plan_from_bounds(runs, max_runs) == cli
    assert tools.verify_plan(2, 2) == SequentialPlan.from_runs(2, 2, 0.01)
    plan = tools.verify_plan(4, None)
    assert plan is not None and plan.max_runs == 18 and plan.looks[0] == 4

    bad: list[tuple[dict[str, Any], str]] = [
        ({"runs": 1}, "runs must be at least 2"),
        ({"runs": 6, "max_runs": 4}, r"max_runs \(4\) must be at least runs \(6\)"),
        ({"max_runs": 4}, "which is 6 unless given: give runs too"),
        ({"runs": 2, "budget_s": 0.0}, "budget must be a positive"),
        ({"budget_s": -5.0}, "budget must be a positive"),
        ({"budget_s": math.nan}, "budget must be a positive"),
    ]
    for kwargs, message in bad:
        with pytest.raises(UsageError, match=message):
            tools.verify_tool(shop, _env(), "error-log.yaml", "HEAD", "HEAD", None, **kwargs)
    assert not (shop / RUNS_DIR).exists() or not list((shop / RUNS_DIR).iterdir())
    assert tools.verify_deadline(None) is None
    assert tools.verify_deadline(5.0, now=100.0) == 105.0


# -- resources ------------------------------------------------------------------------------------
@pytest.mark.browser
def test_run_resources_list_and_read_artifacts(ui_run: tuple[Path, RunResult]) -> None:
    repo, ui = ui_run
    server = CleanloopMcp(_env(), cwd=repo).build()
    shot = next(f.evidence.screenshot for f in ui.failing if f.evidence.screenshot)
    assert shot is not None
    rel_shot = Path(shot).relative_to(ui.run_dir).as_posix()

    async def body(client: Client) -> None:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {"cleanloop://runs", "cleanloop://schema/spans"} <= listed
        templates = {t.uri_template for t in
                     (await client.list_resource_templates()).resource_templates}
        assert {"cleanloop://runs/{run_id}/verdict.json", "cleanloop://runs/{run_id}/files",
                "cleanloop://schema/{table}"} <= templates

        runs = json.loads(text_of((await client.read_resource("cleanloop://runs")).contents))
        ids = [r["run_id"] for r in runs["runs"]]
        assert ui.run_id in ids and ids == sorted(ids, reverse=True)
        mine = next(r for r in runs["runs"] if r["run_id"] == ui.run_id)
        assert mine["finished"] and mine["verdict"] == "fail" and mine["kind"] == "run"
        assert mine["scenario"] == "ui-add-to-cart"

        files = json.loads(text_of((await client.read_resource(ui.files)).contents))
        by_path = {f["path"]: f for f in files["files"]}
        assert by_path[rel_shot]["kind"] == "image"
        assert by_path["spans.parquet"]["kind"] == "table" and by_path["spans.parquet"]["uri"] \
            is None
        aria = next(p for p in by_path if p.endswith(".aria.yaml"))

        png = await client.read_resource(by_path[rel_shot]["uri"])
        assert png.contents[0].mime_type == "image/png"
        assert blob_of(png.contents) == Path(shot).read_bytes()

        verdict = json.loads(text_of((await client.read_resource(
            f"cleanloop://runs/{ui.run_id}/verdict.json")).contents))
        assert verdict["verdict"] == "fail"
        snapshot = text_of((await client.read_resource(by_path[aria]["uri"])).contents)
        assert "Add to cart" in snapshot
        scenario = text_of((await client.read_resource(
            f"cleanloop://runs/{ui.run_id[:20]}/scenario.yaml")).contents)
        assert "ui-add-to-cart" in scenario
        log = text_of((await client.read_resource(by_path["app.log"]["uri"])).contents)
        assert log == Path(ui.run_dir, "app.log").read_text(encoding="utf-8", errors="replace")

        with pytest.raises(MCPError, match="query tool"):
            await client.read_resource(f"cleanloop://runs/{ui.run_id}/spans.parquet")

    run_client(server, body)


def test_resources_never_leave_the_run_directory(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "state"
    store = RunStore.create(home, "confined")
    run = store.dir
    secret = tmp_path / "secret.txt"
    secret.write_text("outside\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.txt").write_text("outside\n")
    (run / "verdict.json").write_text('{"verdict": "pass", "scenario": "confined"}\n')
    (run / "note.txt").write_text("inside\n")
    (run / "link-out.txt").symlink_to(secret)
    (run / "dir-out").symlink_to(tmp_path / "outside")
    (run / "link-in.txt").symlink_to(run / "note.txt")
    (home / RUNS_DIR / "20990101-000000-escape-0000").symlink_to(tmp_path / "outside")
    (run / "app.log").write_text("".join(f"line {i}\n" for i in range(100_000)))
    (run / "screenshots" / "big.png").write_bytes(PNG + b"\0" * 2048)
    (run / "spans.parquet").write_bytes(b"PAR1\0\0\0binary")
    monkeypatch.setattr(resources, "MAX_BLOB_BYTES", 1024)
    server = resource_server(tmp_path, {"CLEANLOOP_HOME": str(home)})
    rid = run.name
    refused = [f"cleanloop://runs/{rid}/../../secret.txt",
               f"cleanloop://runs/{rid}/%2E%2E/%2E%2E/secret.txt",
               f"cleanloop://runs/{rid}/%2e%2e%2f%2e%2e%2fsecret.txt",
               f"cleanloop://runs/{rid}/screenshots/../note.txt",
               f"cleanloop://runs/{rid}/screenshots/../../../secret.png",
               f"cleanloop://runs/{rid}//{secret}",
               f"cleanloop://runs/{rid}/link-out.txt",
               f"cleanloop://runs/{rid}/dir-out/x.txt",
               "cleanloop://runs/../verdict.json",
               "cleanloop://runs/%2E%2E/files",
               "cleanloop://runs/20990101-000000-escape-0000/x.txt",
               f"cleanloop://runs/{rid}/screenshots/big.png",
               f"cleanloop://runs/{rid}/spans.parquet",
               f"cleanloop://runs/{rid}/nothing.txt",
               "cleanloop://runs/nosuchrun/verdict.json"]

    async def body(client: Client) -> None:
        for uri in refused:
            with pytest.raises(MCPError):
                await client.read_resource(uri)
        inner = await client.read_resource(f"cleanloop://runs/{rid}/link-in.txt")
        assert text_of(inner.contents) == "inside\n"
        log = text_of((await client.read_resource(f"cleanloop://runs/{rid}/app.log")).contents)
        assert len(log.encode()) <= resources.MAX_TEXT_BYTES + 200
        assert log.startswith("[app.log: ") and log.endswith("line 99999\n")
        files = json.loads(text_of((await client.read_resource(
            f"cleanloop://runs/{rid}/files")).contents))
        paths = {f["path"] for f in files["files"]}
        assert "note.txt" in paths and not {"link-out.txt", "dir-out/x.txt"} & paths
        runs = json.loads(text_of((await client.read_resource("cleanloop://runs")).contents))
        assert [r["run_id"] for r in runs["runs"]] == [rid]

    run_client(server, body)
    for rel in ("../x", "a/../../x", "a/../note.txt", "/etc/passwd", "", "a\0b", "C:/x",
                "link-out.txt", "dir-out/x.txt"):
        with pytest.raises(ResourceNotFoundError):
            resources.confined(run, rel)
    assert resources.confined(run, "screenshots/big.png") == (run / "screenshots" /
                                                              "big.png").resolve()


def test_schema_resources_document_every_column(tmp_path: Path) -> None:
    assert set(DESCRIPTIONS) == set(schema.TABLES)
    for table, docs in DESCRIPTIONS.items():
        assert tuple(docs) == schema.column_names(table), table
        assert all(docs.values()), table
    server = resource_server(tmp_path, {"CLEANLOOP_HOME": str(tmp_path)})

    async def body(client: Client) -> None:
        for table in schema.TABLES:
            read = await client.read_resource(f"cleanloop://schema/{table}")
            assert read.contents[0].mime_type == "application/json"
            doc = json.loads(text_of(read.contents))
            assert [c["name"] for c in doc["columns"]] == list(schema.column_names(table))
            assert {c["type"] for c in doc["columns"]} <= {"string", "int64", "int32",
                                                           "float64"}
            assert all(c["description"] and c["sql_type"] for c in doc["columns"])
        with pytest.raises(MCPError, match="spans, logs, metrics, browser"):
            await client.read_resource("cleanloop://schema/nope")
        runs = json.loads(text_of((await client.read_resource("cleanloop://runs")).contents))
        assert runs["runs"] == [] and runs["count"] == 0

    run_client(server, body)


# -- the server's own tools ------------------------------------------------------------------------
def test_the_servers_tools_publish_the_typed_output_schemas(tmp_path: Path) -> None:
    server = CleanloopMcp({"CLEANLOOP_HOME": str(tmp_path)}, cwd=tmp_path).build()
    schemas: dict[str, dict[str, Any]] = {}

    async def body(client: Client) -> None:
        schemas.update({t.name: t.output_schema or {} for t in (await client.list_tools()).tools})

    run_client(server, body)
    assert RUN_FIELDS <= set(schemas["run_scenario"].get("properties", {}))
    assert VERIFY_FIELDS <= set(schemas["verify"].get("properties", {}))
    assert QUERY_FIELDS <= set(schemas["query"].get("properties", {}))
    assert "Failure" in schemas["list_failures"].get("$defs", {})
