"""The key stock's worker process dies with the processor, even when the processor is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

PARENT = """
import os, sys
from extproc.key_stock import worker_process
pool = worker_process()
print(pool.submit(os.getpid).result(), flush=True)
sys.stdin.read()
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


WORKER_MODULES = """
from extproc.key_generation import generate_key_pair
from extproc.key_stock import worker_process
pool = worker_process()
pool.submit(generate_key_pair).result()
# A builtin as the job: a function of this script could not be unpickled in the worker.
print(" ".join(pool.submit(eval, "sorted(__import__('sys').modules)").result()), flush=True)
"""


@pytest.mark.timeout(60)
def test_worker_loads_only_key_generation() -> None:
    # The worker imports what unpickling its jobs needs; it is a process of its own, and its memory counts
    # with the processor's (it once loaded the translators, jsonschema and structlog: 46 MB instead of 26).
    out = subprocess.run(
        [sys.executable, "-c", WORKER_MODULES], capture_output=True, text=True, timeout=50, check=True
    )
    modules = set(out.stdout.split())
    assert "extproc.key_generation" in modules
    heavy = {"extproc.compute.keypairs", "extproc.key_stock", "structlog", "jsonschema", "grpc", "kubernetes"}
    assert modules.isdisjoint(heavy), sorted(modules & heavy)
