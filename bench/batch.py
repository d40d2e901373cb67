"""Batch create vs. single creates through the gateway: ``run_batch_benchmark(stack, n)``.

Both halves go through Envoy with the demo user's token, as a client would:

- batch: ONE ``POST /servers`` with ``min_count = max_count = n`` (no ``return_reservation_id``: the reply
  carries the first server, so it includes the wait for the controller's first pod). Measured: the time to
  the reply, and the time until ``GET /servers/detail?reservation_id=`` lists all n ACTIVE. A batch of 2 is
  created first in the same run: its reply time is the reference the n-server reply must not grow from.
- singles: n ``POST /servers`` from ``SINGLE_CONCURRENCY`` client threads; the time until every reply
  arrived, and until all n are listed ACTIVE.

Everything created is deleted afterwards. The simulator boots every VM ``vm_boot_seconds`` after its pod is
scheduled, in parallel (a timer per pod, not a queue), so the boot of n VMs adds one boot time, not n; the
result records the boot time used so "until ACTIVE" can be read against it.

Standalone: ``python -m bench.batch --n 1000`` (starts its own stack).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from gateway_stack import Stack

TOKEN = "demo-token"
PROJECT = "demo"
IMAGE = "cirros-0.5.2-x86_64-disk"
FLAVOR = "1"
SINGLE_CONCURRENCY = 16
POLL_SECONDS = 0.25
ACTIVE_TIMEOUT = 600.0

_local = threading.local()


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False
        session.headers["X-Auth-Token"] = TOKEN
        _local.session = session
    return session


class Compute:
    def __init__(self, stack: Stack) -> None:
        self.base = f"{stack.public_url}/compute/v2.1/{PROJECT}"

    def create(self, name: str, count: int = 1) -> tuple[float, dict[str, Any]]:
        server: dict[str, Any] = {"name": name, "imageRef": IMAGE, "flavorRef": FLAVOR}
        if count > 1:
            server.update(min_count=count, max_count=count)
        started = time.perf_counter()
        resp = _session().post(f"{self.base}/servers", json={"server": server}, timeout=120)
        elapsed = time.perf_counter() - started
        if resp.status_code != 202:
            raise RuntimeError(f"create {name} x{count}: {resp.status_code} {resp.text[:300]}")
        body: dict[str, Any] = resp.json()["server"]
        return elapsed, body

    def detail(self, **query: str) -> list[dict[str, Any]]:
        resp = _session().get(f"{self.base}/servers/detail", params=query, timeout=120)
        resp.raise_for_status()
        servers: list[dict[str, Any]] = resp.json()["servers"]
        return servers

    def delete(self, sid: str) -> None:
        _session().delete(f"{self.base}/servers/{sid}", timeout=120)


def _until(what: str, done: Callable[[], bool], timeout: float = ACTIVE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: {what} did not happen within {timeout} s")
        time.sleep(POLL_SECONDS)


def _all_active(servers: Iterable[dict[str, Any]], ids: set[str]) -> bool:
    active = {s["id"] for s in servers if s["status"] == "ACTIVE"}
    return ids <= active


def _reservation_of(server_id: str) -> str:
    # Arktos names a ReplicaSet's pods <replicaset>-<5 chars>; the ReplicaSet is named by the reservation id.
    return server_id.rsplit("-", 1)[0]


def _batch(api: Compute, name: str, n: int) -> tuple[float, float, set[str]]:
    """(seconds to the reply, seconds until all n are listed ACTIVE, their ids)."""
    started = time.perf_counter()
    reply_seconds, first = api.create(name, n)
    reservation = _reservation_of(first["id"])
    ids: set[str] = set()

    def all_listed_active() -> bool:
        servers = api.detail(reservation_id=reservation)
        ids.clear()
        ids.update(s["id"] for s in servers)
        return len(ids) == n and _all_active(servers, ids)

    _until(f"{n} batch servers ACTIVE", all_listed_active)
    return reply_seconds, time.perf_counter() - started, ids


def _singles(api: Compute, name: str, n: int) -> tuple[float, float, set[str]]:
    """(seconds until all n replies arrived, seconds until all n are listed ACTIVE, their ids)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(SINGLE_CONCURRENCY) as pool:
        created = list(pool.map(lambda i: api.create(f"{name}-{i}")[1]["id"], range(n)))
    replies_seconds = time.perf_counter() - started
    ids = set(created)
    _until(f"{n} single servers ACTIVE", lambda: _all_active(api.detail(name=f"^{name}-"), ids))
    return replies_seconds, time.perf_counter() - started, ids


def _delete(api: Compute, ids: set[str]) -> None:
    with ThreadPoolExecutor(SINGLE_CONCURRENCY) as pool:
        list(pool.map(api.delete, sorted(ids)))


def run_batch_benchmark(stack: Stack, n: int = 1000) -> dict[str, Any]:
    """One batch of ``n`` vs ``n`` single creates through the gateway of ``stack``; everything is deleted."""
    api = Compute(stack)
    created: set[str] = set()
    try:
        small_reply, _, small_ids = _batch(api, "bench-batch-ref", 2)
        created |= small_ids
        batch_reply, batch_active, batch_ids = _batch(api, "bench-batch", n)
        created |= batch_ids
        singles_replies, singles_active, single_ids = _singles(api, "bench-single", n)
        created |= single_ids
    finally:
        _delete(api, created)
    return {
        "n": n,
        "vm_boot_seconds": stack.vm_boot_seconds,
        "single_concurrency": SINGLE_CONCURRENCY,
        "batch_reply_seconds": round(batch_reply, 3),
        "batch_of_2_reply_seconds": round(small_reply, 3),
        "batch_all_active_seconds": round(batch_active, 3),
        "singles_all_replies_seconds": round(singles_replies, 3),
        "singles_all_active_seconds": round(singles_active, 3),
        # How many times faster the batch is: until the client has its answer, and until all are ACTIVE.
        "reply_ratio": round(singles_replies / batch_reply, 1) if batch_reply else None,
        "all_active_ratio": round(singles_active / batch_active, 1) if batch_active else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="servers per half (default 1000)")
    ap.add_argument("--vm-boot-seconds", type=float, default=1.0, help="the simulator's VM boot time")
    args = ap.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-batch-") as workdir,
        Stack(workdir=workdir, vm_boot_seconds=args.vm_boot_seconds, log_level="warning") as stack,
    ):
        result = run_batch_benchmark(stack, args.n)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
