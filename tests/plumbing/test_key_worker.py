"""The key stock's worker process dies with the processor, even when the processor is SIGKILLed, and loads
only key generation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from extproc.key_stock import worker_command

PARENT = """
import asyncio, sys
from extproc.key_stock import KeyWorker

async def main():
    worker = await KeyWorker.start()
    await worker.generate()
    print(worker.process.pid, flush=True)
    await asyncio.to_thread(sys.stdin.read)

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (its parent, the test runner's init, has not reaped it yet).
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1].split()[0] != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.timeout(60)
def test_worker_is_killed_with_its_parent() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    worker = 0
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        assert worker != parent.pid and alive(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker)
    finally:
        parent.kill()
        parent.wait(10)
        if worker and alive(worker):
            os.kill(worker, signal.SIGKILL)


@pytest.mark.timeout(60)
def test_worker_answers_each_line_and_exits_when_its_stdin_ends() -> None:
    # The worker's own end when its parent goes without the kernel's signal (another OS; a parent that
    # closes the pipe): it exits, nothing else, once its stdin ends.
    out = subprocess.run(
        worker_command(os.getpid()), input=b"\n\n", capture_output=True, timeout=50, check=True
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith(b'["-----BEGIN RSA PRIVATE KEY-----') for line in lines)
    assert out.stderr == b""


@pytest.mark.timeout(60)
def test_worker_exits_when_its_parent_is_not_the_one_named() -> None:
    # It named a processor that died before the kernel's signal was set up.
    out = subprocess.run(worker_command(1), input=b"\n", capture_output=True, timeout=50)
    assert (out.returncode, out.stdout) == (1, b"")


@pytest.mark.timeout(60)
def test_worker_loads_only_key_generation() -> None:
    # The worker is a process of its own and its memory counts with the processor's (it once loaded the
    # translators, jsonschema and structlog: 46 MB instead of 26). Its exact command, with the import log on.
    command = worker_command(os.getpid())
    out = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        input=b"\n",
        capture_output=True,
        timeout=50,
        check=True,
    )
    assert out.stdout.startswith(b'["-----BEGIN RSA PRIVATE KEY-----')
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in out.stderr.decode().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert {"extproc", "cryptography.hazmat.primitives.asymmetric.rsa"} <= modules
    heavy = {
        "extproc.compute.keypairs",
        "extproc.key_stock",
        "structlog",
        "jsonschema",
        "grpc",
        "kubernetes",
        "multiprocessing",
    }
    assert modules.isdisjoint(heavy), sorted(modules & heavy)
