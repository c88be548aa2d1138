"""MCP resources: the run directories and the table schemas, for clients that browse them.

    cleanloop://runs                          the runs, newest first (finished or not), with
                                              their verdicts (JSON; at most MAX_RUNS)
    cleanloop://runs/{run_id}/verdict.json    a run's verdict (JSON)
    cleanloop://runs/{run_id}/files           the run directory's artifacts: path, bytes, kind
                                              and the resource to read each (JSON)
    cleanloop://runs/{run_id}/{+path}.png     a screenshot (PNG blob, at most MAX_BLOB_BYTES)
    cleanloop://runs/{run_id}/{+path}         a text artifact: app.log (its tail when long),
                                              scenario.yaml, DOM and aria snapshots ...
    cleanloop://schema/{table}                the documented columns of spans, logs, metrics,
                                              browser (the four are also listed as resources)

`run_id` is a run directory's name, a unique prefix of one, or `last` (the newest). The runs
live under the state root (`state_root(host.env, host.cwd)`, read at each request, so a new
repository root applies at once) in RUNS_DIR.

Confinement: a resource reads only inside one run directory. A path with a `..` component, an
absolute path, a NUL byte or a symbolic link whose target lies outside the run directory is
refused (the SDK's template security refuses the first ones before this module sees them);
the run directory itself must be a real directory directly under RUNS_DIR. Sizes are
bounded: text beyond MAX_TEXT_BYTES is cut (a log keeps its tail, other files their head,
with a line saying so), a PNG beyond MAX_BLOB_BYTES and binary files (the parquet tables:
use the query tool) are refused with a message that says why.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from cleanloop.loop.mcp.registry import ToolHost
from cleanloop.loop.mcp.result_tables import table_names, table_schema
from cleanloop.loop.store.run_store import RUNS_DIR
from cleanloop.loop.vcs.repo import state_root

SCHEME = "cleanloop"
MAX_RUNS = 100                       # runs listed by cleanloop://runs
MAX_FILES = 500                      # files listed by cleanloop://runs/{id}/files
MAX_TEXT_BYTES = 256 * 1024          # text returned by one read
MAX_VERDICT_BYTES = 4 * 1024 * 1024  # a verdict.json is returned whole or not at all
MAX_BLOB_BYTES = 4 * 1024 * 1024     # a PNG returned by one read
SNIFF_BYTES = 8192
TEXT_SUFFIXES = frozenset({".log", ".txt", ".yaml", ".yml", ".json", ".html", ".htm", ".md",
                           ".patch", ".diff", ".csv", ".xml", ".svg", ".js", ".css"})
TAIL_SUFFIXES = frozenset({".log", ".txt"})
_RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_STARTED = re.compile(r"^(\d{8}-\d{6})-")


def register_resources(server: MCPServer[Any], host: ToolHost) -> None:
    """Add cleanloop's resources to `server` (run directories, table schemas)."""
    runs = RunResources(host)
    server.resource(f"{SCHEME}://runs", name="runs", title="Runs",
                    description="The runs of this repository, newest first (finished or not): "
                                "run_id, started (UTC), finished, verdict, scenario and the "
                                "resources to read. At most 100.",
                    mime_type="application/json")(runs.list_runs)

    def verdict(run_id: str) -> str:
        return runs.verdict(run_id)

    def files(run_id: str) -> str:
        return runs.files(run_id)

    def png(run_id: str, path: str) -> bytes:
        return runs.png(run_id, path + ".png")

    def artifact(run_id: str, path: str) -> str:
        return runs.text(run_id, path)

    server.resource(f"{SCHEME}://runs/{{run_id}}/verdict.json", name="run-verdict",
                    title="Verdict of a run",
                    description="A run's verdict.json: every check with value, threshold and "
                                "evidence; a verify's gate table. run_id: id, unique prefix or "
                                "'last'.",
                    mime_type="application/json")(verdict)
    server.resource(f"{SCHEME}://runs/{{run_id}}/files", name="run-files",
                    title="Artifacts of a run",
                    description="The files of a run directory: path, bytes, kind (text, "
                                "image, table, binary) and the resource uri to read each "
                                "(tables: use the query tool).",
                    mime_type="application/json")(files)
    server.resource(f"{SCHEME}://runs/{{run_id}}/{{+path}}.png", name="run-screenshot",
                    title="Screenshot of a run",
                    description="A PNG of a run directory (screenshots/...; a verify's "
                                "baseline/... and candidate/...).",
                    mime_type="image/png")(png)
    server.resource(f"{SCHEME}://runs/{{run_id}}/{{+path}}", name="run-artifact",
                    title="Text artifact of a run",
                    description="A text file of a run directory: app.log (its tail when "
                                "long), scenario.yaml, dom/*.html, dom/*.aria.yaml ... "
                                f"(at most {MAX_TEXT_BYTES // 1024} KiB).",
                    mime_type="text/plain")(artifact)

    for name in table_names():
        server.resource(f"{SCHEME}://schema/{name}", name=f"schema-{name}",
                        title=f"Columns of the {name} table",
                        description=f"The documented columns and types of the {name} table "
                                    "of every run (for the query tool).",
                        mime_type="application/json")(_schema_reader(name))

    def schema_of(table: str) -> str:
        return schema_json(table)

    server.resource(f"{SCHEME}://schema/{{table}}", name="schema",
                    title="Columns of a run table",
                    description="The documented columns and types of a run table: spans, "
                                "logs, metrics or browser.",
                    mime_type="application/json")(schema_of)


def _schema_reader(table: str) -> Any:
    def read() -> str:
        return schema_json(table)

    read.__name__ = f"schema_{table}"
    return read


def schema_json(table: str) -> str:
    if table not in table_names():
        raise ResourceNotFoundError(f"no table {table!r}; the run tables are "
                                    f"{', '.join(table_names())}")
    return json.dumps(table_schema(table), indent=2)


def run_uri(run_id: str, path: str = "") -> str:
    return f"{SCHEME}://runs/{run_id}" + (f"/{path}" if path else "")


class RunResources:
    """Reads of the run directories of the host's repository, confined to each run."""

    def __init__(self, host: ToolHost) -> None:
        self.host = host

    @property
    def runs_dir(self) -> Path:
        return state_root(self.host.env, self.host.cwd) / RUNS_DIR

    # -- listings --------------------------------------------------------------------------
    def list_runs(self) -> str:
        runs_dir = self.runs_dir
        names = _run_names(runs_dir)
        out = [self._summary(runs_dir / name) for name in names[:MAX_RUNS]]
        return json.dumps({"runs_dir": str(runs_dir), "count": len(names),
                           "truncated": len(names) > MAX_RUNS, "runs": out}, indent=2)

    def _summary(self, run_dir: Path) -> dict[str, Any]:
        name = run_dir.name
        verdict_path = run_dir / "verdict.json"
        finished = verdict_path.is_file() and not verdict_path.is_symlink()
        data = _read_json(verdict_path) if finished else None
        started = _STARTED.match(name)
        return {
            "run_id": name,
            "started": None if started is None else dt.datetime.strptime(
                started.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC).isoformat(),
            "kind": "verify" if (run_dir / "baseline").is_dir() else "run",
            "finished": finished,
            "verdict": None if data is None else data.get("verdict"),
            "scenario": None if data is None else data.get("scenario"),
            "reason": None if data is None else data.get("reason"),
            "verdict_uri": run_uri(name, "verdict.json") if finished else None,
            "files_uri": run_uri(name, "files"),
        }

    def files(self, run_id: str) -> str:
        run_dir = self.run_dir(run_id)
        entries: list[dict[str, Any]] = []
        total = 0
        for root, dirs, names in os.walk(run_dir, followlinks=False):
            dirs.sort()
            for name in sorted(names):
                path = Path(root) / name
                if path.is_symlink() or not path.is_file():
                    continue
                total += 1
                if len(entries) < MAX_FILES:
                    entries.append(_file_entry(run_dir, path))
        return json.dumps({"run_id": run_dir.name, "run_dir": str(run_dir), "count": total,
                           "truncated": total > MAX_FILES, "files": entries}, indent=2)

    # -- reads -----------------------------------------------------------------------------
    def verdict(self, run_id: str) -> str:
        run_dir = self.run_dir(run_id)
        path = confined(run_dir, "verdict.json")
        if not path.is_file():
            raise ResourceNotFoundError(f"run {run_dir.name} has no verdict.json yet (it has "
                                        "not finished, or it was interrupted)")
        size = path.stat().st_size
        if size > MAX_VERDICT_BYTES:
            raise ResourceError(f"{path} has {size} bytes, more than a read returns "
                                f"({MAX_VERDICT_BYTES}); use the list_failures tool")
        return path.read_text(encoding="utf-8", errors="replace")

    def png(self, run_id: str, rel: str) -> bytes:
        path = self._existing(run_id, rel)
        size = path.stat().st_size
        if size > MAX_BLOB_BYTES:
            raise ResourceError(f"{rel} has {size} bytes, more than a read returns "
                                f"({MAX_BLOB_BYTES})")
        with path.open("rb") as fh:
            data = fh.read(MAX_BLOB_BYTES + 1)
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ResourceError(f"{rel} is not a PNG file")
        return data

    def text(self, run_id: str, rel: str) -> str:
        path = self._existing(run_id, rel)
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
        if not _is_text(path, head):
            hint = " (a run table: use the query tool)" if path.suffix == ".parquet" else ""
            raise ResourceError(f"{rel} is not a text file{hint}; see the run's files "
                                "resource for what can be read")
        if size <= MAX_TEXT_BYTES:
            return path.read_text(encoding="utf-8", errors="replace")
        with path.open("rb") as fh:
            if path.suffix in TAIL_SUFFIXES:
                fh.seek(size - MAX_TEXT_BYTES)
                body = fh.read(MAX_TEXT_BYTES).decode("utf-8", errors="replace")
                cut = body.find("\n")
                body = body[cut + 1:] if 0 <= cut < 1024 else body
                return (f"[{rel}: {size} bytes; the last {MAX_TEXT_BYTES // 1024} KiB follow]\n"
                        + body)
            body = fh.read(MAX_TEXT_BYTES).decode("utf-8", errors="replace")
        return body + f"\n[{rel}: {size} bytes; only the first {MAX_TEXT_BYTES // 1024} KiB " \
                      "are shown]\n"

    # -- confinement -----------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        """The run directory `run_id` names (id, unique prefix, or last), confined to the runs
        directory; ResourceNotFoundError otherwise."""
        runs_dir = self.runs_dir
        if not _RUN_ID.fullmatch(run_id):
            raise ResourceNotFoundError(f"bad run id {run_id!r}")
        names = _run_names(runs_dir)
        if run_id in names:
            name = run_id
        elif run_id in ("last", "latest") and names:
            name = names[0]
        else:
            matches = [n for n in names if n.startswith(run_id)]
            if len(matches) != 1:
                why = "no run" if not matches else f"{len(matches)} runs"
                raise ResourceNotFoundError(f"{why} under {runs_dir} match {run_id!r}; see "
                                            f"{SCHEME}://runs")
            name = matches[0]
        return runs_dir / name

    def _existing(self, run_id: str, rel: str) -> Path:
        run_dir = self.run_dir(run_id)
        path = confined(run_dir, rel)
        if not path.is_file():
            raise ResourceNotFoundError(f"run {run_dir.name} has no file {rel}; see "
                                        f"{run_uri(run_dir.name, 'files')}")
        return path


def confined(run_dir: Path, rel: str) -> Path:
    """`run_dir / rel`, refused (ResourceNotFoundError) unless it stays inside `run_dir`: no
    `..` component, no absolute path, no NUL, no symbolic link leading outside."""
    parts = rel.replace("\\", "/").split("/")
    if (not rel or "\0" in rel or rel.startswith(("/", "\\")) or ".." in parts
            or re.match(r"^[A-Za-z]:", rel)):
        raise ResourceNotFoundError(f"refused path {rel!r}: give a path inside the run "
                                    "directory, without '..'")
    root = run_dir.resolve()
    path = (run_dir / rel).resolve()
    if path != root and root not in path.parents:
        raise ResourceNotFoundError(f"refused path {rel!r}: it leads outside the run directory")
    return path


def _run_names(runs_dir: Path) -> list[str]:
    """The run directories' names, newest first (real directories only, no symlinks)."""
    try:
        entries = list(os.scandir(runs_dir))
    except OSError:
        return []
    return sorted((e.name for e in entries
                   if e.is_dir(follow_symlinks=False) and _RUN_ID.fullmatch(e.name)),
                  reverse=True)


def _file_entry(run_dir: Path, path: Path) -> dict[str, Any]:
    rel = path.relative_to(run_dir).as_posix()
    size = path.stat().st_size
    if path.suffix == ".parquet":
        kind, uri = "table", None
    elif path.suffix == ".png":
        kind, uri = "image", run_uri(run_dir.name, rel)
    elif path.suffix in TEXT_SUFFIXES:
        kind, uri = "text", run_uri(run_dir.name, rel)
    else:
        kind, uri = "binary", None
    return {"path": rel, "bytes": size, "kind": kind, "uri": uri}


def _is_text(path: Path, head: bytes) -> bool:
    if path.suffix in TEXT_SUFFIXES:
        return b"\0" not in head
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4   # a character cut at the sniff's end
    return True


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > MAX_VERDICT_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
