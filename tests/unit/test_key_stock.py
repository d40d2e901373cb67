"""extproc.key_stock: keys made ahead of time off the event loop, each handed out once."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, ThreadPoolExecutor
from typing import Any

import pytest

from extproc.compute import keypairs
from extproc.key_stock import KeyStock, worker_process


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class DeadWorker(Executor):
    """A pool whose worker process died: every submission fails with BrokenExecutor."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_exception(BrokenExecutor("worker died"))
        return future


@pytest.mark.timeout(30)
async def test_fills_to_capacity_hands_each_key_out_once_and_refills() -> None:
    counter = itertools.count(1)
    stock = KeyStock(lambda: (f"private-{next(counter)}", "public"), capacity=3)
    assert stock.take() is None
    task = asyncio.create_task(stock.run(lambda: ThreadPoolExecutor(1)))
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


@pytest.mark.timeout(30)
async def test_a_dead_worker_is_replaced() -> None:
    made: list[Executor] = []

    def make() -> Executor:
        made.append(DeadWorker() if not made else ThreadPoolExecutor(1))
        return made[-1]

    stock = KeyStock(lambda: ("private", "public"), capacity=1)
    task = asyncio.create_task(stock.run(make, retry_seconds=0.01))
    try:
        await wait_until(lambda: len(stock) == 1)
        assert len(made) == 2
    finally:
        await stopped(task)


@pytest.mark.timeout(60)
async def test_real_keys_come_from_a_worker_process() -> None:
    stock = KeyStock(keypairs.generate_key_pair, capacity=1)
    task = asyncio.create_task(stock.run(worker_process))
    try:
        await wait_until(lambda: len(stock) == 1, timeout=50)
    finally:
        await stopped(task)
    taken = stock.take()
    assert taken is not None
    private_pem, public = taken
    assert private_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert keypairs.fingerprint(public) is not None
