"""The Python load generator behind ``bench.load.run_python``: reads a job (JSON) on stdin, runs
``connections`` closed-loop clients for ``seconds`` and prints the same one-line summary as the wrk script."""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
import sys
import time
from typing import Any

import aiohttp


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100.0 * len(sorted_values)) - 1))
    return sorted_values[index]


async def drive(job: dict[str, Any]) -> dict[str, int]:
    ctx = ssl.create_default_context(cafile=job["cafile"]) if job.get("cafile") else None
    body = job["body"].encode("latin-1") if job.get("body") is not None else None
    urls = itertools.cycle(job["urls"])
    latencies: list[float] = []
    errors = 0
    connections = int(job["connections"])
    timeout = aiohttp.ClientTimeout(total=float(job["timeout"]))
    connector = aiohttp.TCPConnector(ssl=ctx if ctx is not None else False, limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        deadline = started + float(job["seconds"])

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    async with session.request(
                        job["method"], next(urls), data=body, headers=job["headers"]
                    ) as resp:
                        await resp.read()
                        ok = resp.status < 400
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                latencies.append(time.perf_counter() - t0)
                if not ok:
                    errors += 1

        await asyncio.gather(*(client() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "p50_us": int(percentile(latencies, 50) * 1e6),
        "p99_us": int(percentile(latencies, 99) * 1e6),
        "errors": errors,
    }


def main() -> int:
    job = json.loads(sys.stdin.read())
    print("BENCHJSON " + json.dumps(asyncio.run(drive(job))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
