"""What ``make bench`` measures: the scenarios, and one measurement (load + /proc + Envoy counters)."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from bench import load, procstat
from bench.harness import COMPUTE, PODS_PATH, BenchStack, server_body

ARKTOS, ENVOY, GATEWAY = "arktos", "envoy", "gateway"
# Envoy counters read around every gateway run (names are substrings of the stat names).
COUNTERS = (
    "ext_proc.stream_msgs_sent",
    "ext_proc.streams_failed",
    "ext_proc.message_timeouts",
    "rs_too_large",
    "rq_too_large",
)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    # ARKTOS (the backend directly: the simulator or a real Arktos), ENVOY (Envoy without the processor) or
    # GATEWAY.
    target: str
    # Rows with the same key are the same work for Arktos: ratios compare a gateway row with them.
    key: str
    spec: load.LoadSpec
    # Statuses a correct answer has (checked once before the run).
    expect: tuple[int, ...] = (200,)


def arktos_get(bs: BenchStack, target: str, pod: str) -> Scenario:
    base = bs.arktos_url if target == ARKTOS else bs.passthrough_url
    spec = load.LoadSpec(
        "GET", (f"{base}{PODS_PATH}/{pod}",), {"Authorization": f"Bearer {bs.user_token}"}, cafile=bs.cafile
    )
    return Scenario("GET pod", target, "get", spec)


def arktos_list(bs: BenchStack, target: str, size: int) -> Scenario:
    base = bs.arktos_url if target == ARKTOS else bs.passthrough_url
    spec = load.LoadSpec(
        "GET", (f"{base}{PODS_PATH}",), {"Authorization": f"Bearer {bs.user_token}"}, cafile=bs.cafile
    )
    return Scenario(f"GET pods ({size:,})", target, f"list-{size}", spec)


def _gw(bs: BenchStack, method: str, paths: list[str], body: bytes | None = None) -> load.LoadSpec:
    headers = {"X-Auth-Token": bs.user_token}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return load.LoadSpec(method, tuple(bs.gateway_url + p for p in paths), headers, body)


def gateway_show(bs: BenchStack, sid: str) -> Scenario:
    return Scenario("GET /servers/{id}", GATEWAY, "get", _gw(bs, "GET", [f"{COMPUTE}/servers/{sid}"]))


def gateway_detail(bs: BenchStack, size: int) -> Scenario:
    spec = _gw(bs, "GET", [f"{COMPUTE}/servers/detail"])
    return Scenario(f"GET /servers/detail ({size:,})", GATEWAY, f"list-{size}", spec)


def gateway_create(bs: BenchStack) -> Scenario:
    spec = _gw(bs, "POST", [f"{COMPUTE}/servers"], server_body("bench-create"))
    return Scenario("POST /servers", GATEWAY, "get", spec, (202,))


def gateway_delete(bs: BenchStack, ids: list[str]) -> Scenario:
    spec = _gw(bs, "DELETE", [f"{COMPUTE}/servers/{i}" for i in ids])
    return Scenario("DELETE /servers/{id}", GATEWAY, "get", spec, (204,))


def gateway_reboot(bs: BenchStack, ids: list[str]) -> Scenario:
    body = json.dumps({"reboot": {"type": "SOFT"}}).encode()
    spec = _gw(bs, "POST", [f"{COMPUTE}/servers/{i}/action" for i in ids], body)
    # Arktos (and the simulator) name an Action "<operation>-<unix second>" per namespace, so concurrent
    # reboots in one namespace within a second conflict: 409 is a correct answer here too.
    return Scenario("POST /servers/{id}/action reboot", GATEWAY, "get", spec, (202, 409))


def gateway_flavors(bs: BenchStack) -> Scenario:
    return Scenario("GET /flavors/detail", GATEWAY, "get", _gw(bs, "GET", [f"{COMPUTE}/flavors/detail"]))


def gateway_images(bs: BenchStack) -> Scenario:
    return Scenario("GET /image/v2/images", GATEWAY, "get", _gw(bs, "GET", ["/image/v2/images"]))


def gateway_token(bs: BenchStack) -> Scenario:
    body = json.dumps(
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": "demo", "domain": {"name": "Default"}, "password": bs.user_token}
                    },
                },
                "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}},
            }
        }
    ).encode()
    spec = load.LoadSpec(
        "POST",
        (bs.gateway_url + "/identity/v3/auth/tokens",),
        {"Content-Type": "application/json"},
        body,
    )
    return Scenario("POST /identity/v3/auth/tokens", GATEWAY, "get", spec, (201,))


def probe(bs: BenchStack, scenario: Scenario) -> int:
    """The status of one request of the scenario (its first URL)."""
    spec = scenario.spec
    req = urllib.request.Request(spec.urls[0], data=spec.body, headers=spec.headers, method=spec.method)
    try:
        with urllib.request.urlopen(req, timeout=120, context=bs.ssl_context()) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def pool_size(rps_estimate: float, seconds: float) -> int:
    """Unique ids a DELETE run of ``seconds`` may consume: the estimated rate, with margin."""
    return min(50_000, math.ceil(rps_estimate * 1.5 * max(1.0, seconds)) + 20)


def measure(
    bs: BenchStack,
    scenario: Scenario,
    connections: int,
    seconds: float,
    warmup: float,
    tool: str,
    warmup_spec: load.LoadSpec | None = None,
) -> dict[str, Any]:
    """One run of ``scenario`` at ``connections``: load results, CPU per request of every process,
    peak RSS, Envoy counters. A short warm-up run comes first (connections, caches, JIT-free Python
    imports) and is not counted; ``warmup_spec`` replaces the scenario's own requests there when they
    cannot be repeated (DELETE of unique ids)."""
    if warmup > 0:
        load.run(warmup_spec or scenario.spec, connections, warmup, tool)
    pids = bs.pids()
    peak_reset = all(
        procstat.reset_peak_rss(p) for role in ("processor", "envoy") for p in pids.get(role, [])
    )
    counters_before = bs.envoy_counters(COUNTERS) if scenario.target == GATEWAY else {}
    cpu_before = procstat.CpuSample.take(pids)
    started = time.monotonic()
    result = load.run(scenario.spec, connections, seconds, tool)
    wall = time.monotonic() - started
    cpu = procstat.CpuSample.take(pids).since(cpu_before)
    counters = {}
    if scenario.target == GATEWAY:
        after = bs.envoy_counters(COUNTERS)
        counters = {k: after[k] - counters_before.get(k, 0) for k in after}
    n = max(1, result.requests)
    envoy_role = "envoy_passthrough" if scenario.target == ENVOY else "envoy"
    row: dict[str, Any] = {
        # "sim" or "arktos": which Arktos served the run (ratios only compare rows of one backend).
        "backend": bs.backend,
        "scenario": scenario.name,
        "target": scenario.target,
        "key": scenario.key,
        **result.as_dict(),
        "wall_seconds": round(wall, 3),
        "cpu_us_per_request": {
            "envoy": round(cpu.get(envoy_role, 0.0) / n * 1e6, 1) if scenario.target != ARKTOS else 0.0,
            "processor": round(cpu.get("processor", 0.0) / n * 1e6, 1) if scenario.target == GATEWAY else 0.0,
            "arktos": round(cpu.get("arktos", 0.0) / n * 1e6, 1),
        },
        "peak_rss_mb": {
            role: round(sum(procstat.peak_rss_bytes(p) for p in pids.get(role, [])) / 2**20, 1)
            for role in ("processor", "envoy", "arktos")
        },
        "peak_rss_since_run_start": peak_reset,
        "envoy_counters": counters,
    }
    if scenario.target == GATEWAY and counters.get("ext_proc.stream_msgs_sent") is not None:
        row["grpc_messages_per_request"] = round(counters["ext_proc.stream_msgs_sent"] / n, 2)
    return row
