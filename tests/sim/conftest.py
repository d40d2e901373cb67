"""Shared helpers for the simulator tests: in-process servers and a subprocess launcher."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from arktos_sim.auth import TokenFile
from arktos_sim.server import Simulator

REPO = Path(__file__).resolve().parents[2]
TOKENS = """admin-token,admin,admin-uid,"system:masters"
demo-token,demo,demo-uid,"",,demo
alt-token,alt,alt-uid,"",,alt
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class SimProcess:
    proc: subprocess.Popen[str]
    url: str
    ca: Path | None
    line: str

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def start_sim_process(tmp_path: Path, *extra: str, timeout: float = 20.0) -> SimProcess:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "arktos_sim",
        "--port",
        str(port),
        "--cert-dir",
        str(tmp_path / "tls"),
        *extra,
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line:
            break
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited early: {line}{proc.stdout.read()}")
    else:
        proc.kill()
        raise RuntimeError("simulator did not become ready")
    scheme = "http" if "--insecure-http" in extra else "https"
    ca = tmp_path / "tls" / "ca.pem" if scheme == "https" else None
    return SimProcess(proc, f"{scheme}://127.0.0.1:{port}", ca, line)


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[SimProcess]:
    sim = start_sim_process(tmp_path, "--vm-boot-seconds", "0.2")
    try:
        yield sim
    finally:
        if sim.proc.poll() is None:
            sim.proc.kill()
            sim.proc.wait()


@pytest.fixture
def sim_without_node_agent(tmp_path: Path) -> Iterator[SimProcess]:
    """A simulator whose pods stay Pending: the test plays the node agent."""
    sim = start_sim_process(tmp_path, "--no-node-agent")
    try:
        yield sim
    finally:
        if sim.proc.poll() is None:
            sim.proc.kill()
            sim.proc.wait()


async def make_client(
    tokens: str = TOKENS, boot_seconds: float | None = None, **kwargs: object
) -> tuple[TestClient[object, object], Simulator]:
    sim = Simulator(TokenFile.parse(tokens), boot_seconds=boot_seconds, **kwargs)  # type: ignore[arg-type]
    client: TestClient[object, object] = TestClient(TestServer(sim.app()))
    await client.start_server()
    return client, sim


@pytest.fixture
async def client() -> AsyncIterator[TestClient[object, object]]:
    c, _ = await make_client()
    try:
        yield c
    finally:
        await c.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
