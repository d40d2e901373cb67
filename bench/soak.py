"""The soak scenario: a steady mixed load through the gateway, sampling the processor's RSS over time.

A slow growth per request (a leak) shows as RSS rising with the requests served long after the start-up
growth (caches, arenas) has levelled off. The load cycles through the gateway's cheap, common requests
(show, list, detail, flavors, token) in short runs; after each run the processor's RSS (``VmRSS``) is
sampled. The result reports the samples, the growth over the first and the second half, and the growth per
request over the second half (a plateau gives ~0; a leak a steady number of bytes per request).

RSS goes up and down with the request mix (a list or a token request leaves ~1 MB more in use than a show),
so the growth per request is fitted over the samples taken after each complete cycle of the mix only: the
same point of the cycle each time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench import load, procstat
from bench import scenarios as sc
from bench.harness import BenchStack

CHUNK_SECONDS = 5.0
CONNECTIONS = 8


def mixed_specs(bs: BenchStack, sid: str) -> list[load.LoadSpec]:
    return [
        sc.gateway_show(bs, sid).spec,
        sc._gw(bs, "GET", [f"{sc.COMPUTE}/servers"]),
        sc._gw(bs, "GET", [f"{sc.COMPUTE}/servers/detail"]),
        sc.gateway_flavors(bs).spec,
        sc.gateway_token(bs).spec,
    ]


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares bytes per request of (requests, rss) points; 0.0 with fewer than two."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / var


def run_soak(
    bs: BenchStack, sid: str, seconds: float, say: Callable[[str], None], tool: str = "auto"
) -> dict[str, Any]:
    processor = bs.stack.processor
    if processor is None or processor.pid is None:
        return {"error": "no processor"}
    pid = processor.pid
    specs = mixed_specs(bs, sid)
    chunk = min(CHUNK_SECONDS, max(1.0, seconds / 10))
    started = time.monotonic()
    requests = errors = 0
    samples: list[dict[str, float | int | bool]] = [
        {"t": 0.0, "requests": 0, "rss_bytes": procstat.rss_bytes(pid)}
    ]
    index = 0
    while time.monotonic() - started < seconds:
        result = load.run(specs[index % len(specs)], CONNECTIONS, chunk, tool)
        index += 1
        requests += result.requests
        errors += result.errors
        samples.append(
            {
                "t": round(time.monotonic() - started, 1),
                "requests": requests,
                "rss_bytes": procstat.rss_bytes(pid),
                "cycle_end": index % len(specs) == 0,
            }
        )
    cycle_ends = [s for s in samples if s.get("cycle_end")]
    fitted = cycle_ends if len(cycle_ends) >= 4 else samples
    half = fitted[len(fitted) // 2 :]
    first, middle, last = samples[0], half[0], samples[-1]
    per_request = slope([(int(s["requests"]), int(s["rss_bytes"])) for s in half])
    result_data: dict[str, Any] = {
        "seconds": round(time.monotonic() - started, 1),
        "connections": CONNECTIONS,
        "requests": requests,
        "errors": errors,
        "rss_start_mb": round(int(first["rss_bytes"]) / 1e6, 1),
        "rss_middle_mb": round(int(middle["rss_bytes"]) / 1e6, 1),
        "rss_end_mb": round(int(last["rss_bytes"]) / 1e6, 1),
        "second_half_bytes_per_request": round(per_request, 1),
        "samples": samples,
    }
    say(
        f"  soak: {requests:,} requests in {result_data['seconds']} s ({errors} errors); processor RSS "
        f"{result_data['rss_start_mb']} -> {result_data['rss_middle_mb']} -> {result_data['rss_end_mb']} MB; "
        f"second half {per_request:.0f} bytes/request"
    )
    return result_data
