"""extproc.key_stock: keys made ahead of time off the event loop, in a worker process, each handed out
once."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing.resource_tracker
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from extproc.compute import keypairs
from extproc.key_stock import KeyPair, KeyStock, KeyWorker, KeyWorkerFailed, Worker


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (every thread's children: asyncio may start them from any)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class CountingWorker:
    """A worker in process: numbered keys, no process."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)
        self.stopped = False

    async def generate(self) -> KeyPair:
        return f"private-{next(self.counter)}", "public"

    async def stop(self) -> None:
        self.stopped = True


class FailedWorker(CountingWorker):
    """A worker whose process died."""

    async def generate(self) -> KeyPair:
        raise KeyWorkerFailed("worker died")


class RealWorkers:
    """``KeyWorker.start``, remembering every worker started."""

    def __init__(self) -> None:
        self.started: list[KeyWorker] = []

    async def start(self) -> Worker:
        self.started.append(await KeyWorker.start())
        return self.started[-1]


@pytest.mark.timeout(30)
async def test_fills_to_capacity_hands_each_key_out_once_and_refills() -> None:
    worker = CountingWorker()

    async def start() -> Worker:
        return worker

    stock = KeyStock(capacity=3)
    assert stock.take() is None
    task = asyncio.create_task(stock.run(start))
    try:
        await wait_until(lambda: len(stock) == 3)
        await asyncio.sleep(0.05)
        assert len(stock) == 3  # it stops at capacity
        taken = [stock.take() for _ in range(3)]
        assert [k[0] for k in taken if k] == ["private-1", "private-2", "private-3"]
        await wait_until(lambda: len(stock) == 3)
        assert stock.take() == ("private-4", "public")
    finally:
        await stopped(task)
    assert worker.stopped


@pytest.mark.timeout(30)
async def test_a_failed_worker_is_stopped_and_replaced() -> None:
    made: list[CountingWorker] = []

    async def start() -> Worker:
        made.append(FailedWorker() if not made else CountingWorker())
        return made[-1]

    stock = KeyStock(capacity=1)
    task = asyncio.create_task(stock.run(start, retry_seconds=0.01))
    try:
        await wait_until(lambda: len(stock) == 1)
        assert len(made) == 2 and made[0].stopped and not made[1].stopped
    finally:
        await stopped(task)


@pytest.mark.timeout(30)
async def test_a_worker_that_cannot_start_is_retried() -> None:
    attempts: list[int] = []

    async def start() -> Worker:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("no process")
        return CountingWorker()

    stock = KeyStock(capacity=1)
    task = asyncio.create_task(stock.run(start, retry_seconds=0.01))
    try:
        await wait_until(lambda: len(stock) == 1)
        assert len(attempts) == 2
    finally:
        await stopped(task)


@pytest.mark.timeout(60)
async def test_real_keys_come_from_one_plain_worker_process_stopped_on_cancel() -> None:
    before = children(os.getpid())
    tracker = multiprocessing.resource_tracker._resource_tracker._pid  # None unless another test started it
    workers = RealWorkers()
    stock = KeyStock(capacity=2)
    task = asyncio.create_task(stock.run(workers.start))
    try:
        await wait_until(lambda: len(stock) == 2, timeout=50)
        [worker] = workers.started
        pid = worker.process.pid
        # The worker is the only process started, and starts none: no multiprocessing resource tracker.
        assert children(os.getpid()) - before == {pid}
        assert children(pid) == set()
        assert multiprocessing.resource_tracker._resource_tracker._pid == tracker
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[:4] == [
            sys.executable.encode(),
            b"-m",
            b"extproc.key_generation",
            str(os.getpid()).encode(),
        ]
    finally:
        await stopped(task)
    assert worker.process.returncode is not None and not alive(pid)  # cancelling stopped (and reaped) it
    keys = [stock.take(), stock.take()]
    for taken in keys:
        assert taken is not None
        private_pem, public = taken
        assert private_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
        assert public.endswith(" Generated-by-Nova")
        assert keypairs.fingerprint(public) is not None
        private = serialization.load_pem_private_key(private_pem.encode(), password=None)
        openssh = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        assert public == f"{openssh.decode()} Generated-by-Nova"  # the pair belongs together
    assert keys[0] != keys[1]


@pytest.mark.timeout(60)
async def test_a_killed_worker_process_is_replaced() -> None:
    workers = RealWorkers()
    stock = KeyStock(capacity=1)
    task = asyncio.create_task(stock.run(workers.start, retry_seconds=0.01))
    try:
        await wait_until(lambda: len(stock) == 1, timeout=50)
        first = workers.started[0]
        os.kill(first.process.pid, signal.SIGKILL)
        await first.process.wait()
        assert stock.take() is not None  # the stock asks the dead worker for the next key
        await wait_until(lambda: len(stock) == 1, timeout=50)
        assert len(workers.started) == 2
        assert first.process.returncode == -signal.SIGKILL
        assert workers.started[1].process.returncode is None
    finally:
        await stopped(task)
    assert workers.started[1].process.returncode is not None


@pytest.mark.timeout(30)
async def test_a_worker_answering_no_keypair_has_failed() -> None:
    for line in ("not json\n", '["only one"]\n', "[1, 2]\n", '["no", "end of line"]', ""):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            f"import sys; sys.stdin.readline(); sys.stdout.write({line!r})",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = KeyWorker(process)
        with pytest.raises(KeyWorkerFailed):
            await worker.generate()
        await worker.stop()
        assert process.returncode is not None
