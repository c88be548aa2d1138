"""CPU and network emulation of a live page, as an `emulate` step (CDP
Emulation.setCPUThrottlingRate and Network.emulateNetworkConditions, see
cleanloop.probes.browser_actions), so a saved scenario replays the same conditions.

Network presets are Chrome DevTools' (the values puppeteer's PredefinedNetworkConditions
uses): latency in ms, throughput in kilobits/s. `reset` removes every throttling (CPU rate
1, no latency, unlimited throughput, online).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cleanloop.loop.base.errors import UsageError

Preset = Literal["slow-3g", "fast-3g", "slow-4g", "fast-4g", "offline", "none"]

PRESETS: dict[str, dict[str, float | bool]] = {
    "slow-3g": {"latency_ms": 2000.0, "download_kbps": 400.0, "upload_kbps": 400.0},
    "fast-3g": {"latency_ms": 562.5, "download_kbps": 1440.0, "upload_kbps": 675.0},
    "slow-4g": {"latency_ms": 562.5, "download_kbps": 1440.0, "upload_kbps": 675.0},
    "fast-4g": {"latency_ms": 165.0, "download_kbps": 8100.0, "upload_kbps": 1350.0},
    "offline": {"offline": True},
    "none": {"latency_ms": 0.0, "offline": False},
}
NO_THROTTLING: dict[str, float | bool] = {"latency_ms": 0.0, "offline": False}


@dataclass
class EmulationState:
    """What is in effect on the page now."""

    cpu_rate: float = 1.0
    network: dict[str, float | bool] = field(default_factory=dict)


def emulate_args(cpu: float | None, network: str | None, latency_ms: float | None,
                 download_kbps: float | None, upload_kbps: float | None,
                 reset: bool) -> dict[str, Any]:
    """The `emulate` step's fields for a tool call (cpu and/or network)."""
    explicit = {k: v for k, v in (("latency_ms", latency_ms), ("download_kbps", download_kbps),
                                  ("upload_kbps", upload_kbps)) if v is not None}
    if reset:
        if cpu is not None or network is not None or explicit:
            raise UsageError("reset removes every throttling; give it alone")
        return {"cpu": 1.0, "network": dict(NO_THROTTLING)}
    args: dict[str, Any] = {}
    if cpu is not None:
        args["cpu"] = float(cpu)
    if network is not None or explicit:
        conditions: dict[str, float | bool] = dict(PRESETS[network]) if network else {}
        if conditions.get("offline") and explicit:
            raise UsageError("the offline preset takes no latency or throughput")
        conditions.update(explicit)
        args["network"] = conditions
    if not args:
        raise UsageError("give cpu, a network preset, latency_ms/download_kbps/upload_kbps, "
                         "or reset=true")
    return args


def apply(state: EmulationState, args: dict[str, Any]) -> None:
    """Update `state` after the emulate step ran with `args`."""
    if "cpu" in args:
        state.cpu_rate = float(args["cpu"])
    if "network" in args:
        network = dict(args["network"])
        throttled = network.get("offline") or any(
            network.get(k) for k in ("latency_ms", "download_kbps", "upload_kbps"))
        state.network = network if throttled else {}
