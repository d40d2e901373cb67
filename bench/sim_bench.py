"""Benchmark of the Arktos simulator: GET pod requests/s over HTTPS, and the time to list 10,000 pods.

Standalone: ``python bench/sim_bench.py [--seconds 5] [--connections 32] [--list-pods 10000]``.
Starts the simulator on a free loopback port, warms up, hammers
``GET /api/v1/tenants/demo/namespaces/default/pods/<name>`` with bearer auth (with ``wrk`` when installed,
else an aiohttp client in a separate process), prints req/s and stops the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
TOKEN = "demo-token"
POD_PATH = "/api/v1/tenants/demo/namespaces/default/pods"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_sim(workdir: Path, port: int) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "arktos_sim",
        "--port",
        str(port),
        "--cert-dir",
        str(workdir / "tls"),
        "--vm-boot-seconds",
        "0.5",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"simulator did not start: {line}")
    return proc


def pod_body(name: str) -> bytes:
    return json.dumps(
        {
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"virtualMachine": {"name": "vm", "image": "cirros.img", "keyPairName": "k"}},
        }
    ).encode()


async def create_pods(base: str, ctx: ssl.SSLContext, names: list[str], concurrency: int = 16) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    queue = list(names)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=concurrency)) as session:

        async def worker() -> None:
            while queue:
                name = queue.pop()
                async with session.post(base + POD_PATH, data=pod_body(name), headers=headers) as resp:
                    if resp.status not in (201, 409):
                        raise SystemExit(f"create {name}: {resp.status} {await resp.text()}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def hammer(url: str, cafile: str, seconds: float, connections: int) -> tuple[int, int]:
    ctx = ssl.create_default_context(cafile=cafile)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    ok = errors = 0
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=connections)) as session:

        async def worker() -> None:
            nonlocal ok, errors
            while time.monotonic() < deadline:
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    if resp.status == 200:
                        ok += 1
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return ok, errors


def run_client(url: str, cafile: str, seconds: float, connections: int) -> float:
    """The load generator runs in its own process so it does not share the simulator's event loop."""
    cmd = [
        sys.executable,
        __file__,
        "--client",
        url,
        "--cafile",
        cafile,
        "--seconds",
        str(seconds),
        "--connections",
        str(connections),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    if data["errors"]:
        print(f"  {data['errors']} non-200 answers")
    return float(data["ok"]) / seconds


def run_wrk(url: str, seconds: float, connections: int) -> float:
    wrk = shutil.which("wrk")
    assert wrk is not None
    out = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-H", f"Authorization: Bearer {TOKEN}", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match is not None, out
    return float(match.group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument(
        "--list-pods", type=int, default=10_000, help="pods to create for the list timing (0: skip)"
    )
    p.add_argument("--client", help=argparse.SUPPRESS)
    p.add_argument("--cafile", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client:
        ok, errors = asyncio.run(hammer(args.client, args.cafile, args.seconds, args.connections))
        print(json.dumps({"ok": ok, "errors": errors}))
        return 0
    with tempfile.TemporaryDirectory(prefix="sim-bench-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        proc = start_sim(workdir, port)
        try:
            base = f"https://127.0.0.1:{port}"
            cafile = str(workdir / "tls" / "ca.pem")
            ctx = ssl.create_default_context(cafile=cafile)
            asyncio.run(create_pods(base, ctx, ["bench-pod"]))
            url = f"{base}{POD_PATH}/bench-pod"
            tool = "wrk" if shutil.which("wrk") else "aiohttp client (separate process)"
            print(
                f"GET pod over HTTPS, {args.connections} connections, {args.seconds:.0f} s, load from {tool}"
            )
            if shutil.which("wrk"):
                run_wrk(url, 1, args.connections)
                rate = run_wrk(url, args.seconds, args.connections)
            else:
                run_client(url, cafile, 1.0, args.connections)  # warm-up
                rate = run_client(url, cafile, args.seconds, args.connections)
            print(f"GET pod: {rate:.0f} req/s (target >= 1500)")
            if args.list_pods:
                names = [f"lp-{i:05d}" for i in range(args.list_pods)]
                started = time.monotonic()
                asyncio.run(create_pods(base, ctx, names))
                created = time.monotonic() - started
                print(f"created {args.list_pods} pods in {created:.1f} s ({args.list_pods / created:.0f}/s)")
                asyncio.run(time_list(base, ctx, args.list_pods))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    return 0


async def time_list(base: str, ctx: ssl.SSLContext, expected: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        for label, query in (
            ("list all", ""),
            ("list by label", "?labelSelector=app%3Dbench"),
            ("list page of 500", "?limit=500"),
        ):
            started = time.monotonic()
            async with session.get(base + POD_PATH + query, headers=headers) as resp:
                body = await resp.json()
            took = time.monotonic() - started
            print(f"{label}: {len(body['items'])} items in {took * 1000:.0f} ms")
    _ = expected


if __name__ == "__main__":
    sys.exit(main())
