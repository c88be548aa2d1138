"""HTTP steps and the load step, with httpx, against the app on loopback.

    - http: {method: POST, path: /api/cart, json: {...}, expect_status: 200}
    - load: {method: POST, path: /api/checkout, json: {...}, requests: 300, concurrency: 4}

A wrong status is a failed expectation (a result), a refused connection is a
failed step (a result too); neither raises.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cleanloop.loop.model.steps import Step, StepResult

if TYPE_CHECKING:
    import httpx

def _request_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"headers": params.get("headers")}
    if "json" in params:
        kwargs["json"] = params["json"]
    elif "body" in params:
        kwargs["content"] = str(params["body"]).encode()
    return kwargs


def _status_ok(params: Mapping[str, Any], status: int) -> bool:
    want = params.get("expect_status")
    if want is None:
        return status < 400
    return status in want if isinstance(want, list) else status == want


def run_http_step(client: httpx.Client, step: Step) -> StepResult:
    import httpx

    p = step.params
    method = str(p.get("method", "GET")).upper()
    started = time.time_ns()
    t0 = time.perf_counter()
    try:
        resp = client.request(method, p.get("path", "/"), timeout=p.get("timeout", 10.0),
                              **_request_kwargs(p))
    except httpx.HTTPError as exc:
        return StepResult(step.index, step.kind, step.name, False,
                          (time.perf_counter() - t0) * 1000, started_ns=started,
                          message=f"{step.where()}: {method} {p.get('path', '/')} failed: "
                                  f"{type(exc).__name__}: {exc}")
    ms = (time.perf_counter() - t0) * 1000
    ok = _status_ok(p, resp.status_code)
    msg = "" if ok else (f"{step.where()}: {method} {p.get('path', '/')} returned "
                         f"{resp.status_code}, expected {p.get('expect_status', '< 400')}")
    return StepResult(step.index, step.kind, step.name, ok, ms, message=msg, started_ns=started,
                      is_check=not ok,
                      evidence={"status": resp.status_code, "body": resp.text[:300]} if not ok
                      else {"status": resp.status_code})


def run_load_step(client: httpx.Client, step: Step,
                  should_stop: Callable[[], bool] | None = None) -> StepResult:
    """Send `requests` requests over `concurrency` worker threads (one shared pooled client).

    `should_stop` (asked before each request) ends the load early, when its caller was
    cancelled; the result then says how many requests were sent."""
    import httpx

    p = step.params
    total = int(p["requests"])
    workers = min(int(p.get("concurrency", 1)), total)
    method = str(p.get("method", "GET")).upper()
    kwargs = _request_kwargs(p)
    timeout = p.get("timeout", 10.0)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            if should_stop is not None and should_stop():
                return
            t0 = time.perf_counter()
            try:
                key = str(client.request(method, p.get("path", "/"), timeout=timeout,
                                         **kwargs).status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                statuses[key] = statuses.get(key, 0) + 1

    started = time.time_ns()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, name=f"cleanloop-load-{i}", daemon=True)
               for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall_ms = (time.perf_counter() - t0) * 1000
    if len(latencies) < total:   # stopped early: no statistics over a cut-short load
        return StepResult(step.index, step.kind, step.name, False, wall_ms,
                          message=f"{step.where()}: stopped after {len(latencies)} of {total} "
                                  "requests", started_ns=started,
                          evidence={"requests": len(latencies), "statuses": statuses})
    bad = {k: v for k, v in statuses.items() if not (k.isdigit() and _status_ok(p, int(k)))}
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else \
        latencies * 99
    evidence = {"requests": len(latencies), "statuses": statuses,
                "rps": len(latencies) / max(wall_ms / 1000, 1e-9),
                "p50_ms": q[49], "p95_ms": q[94], "max_ms": max(latencies)}
    ok = not bad
    msg = "" if ok else (f"{step.where()}: {sum(bad.values())} of {total} {method} "
                         f"{p.get('path', '/')} requests failed: {bad}")
    return StepResult(step.index, step.kind, step.name, ok, wall_ms, message=msg,
                      started_ns=started, evidence=evidence, is_check=not ok)
