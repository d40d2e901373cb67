"""A small stock of generated RSA keypairs, made in a worker process, for ``POST /os-keypairs`` without a key.

Why: generating an RSA 2048 key (as Nova 2.1 does) costs about 0.1 s of CPU, and ``cryptography`` holds the
GIL meanwhile, so generating on the processor's event loop (or in one of its threads) would stall every
other request for that long, once per request a client chooses to send. The processor therefore keeps
``capacity`` keys ready, made one at a time in a separate process, and a keypair create takes one.

When the stock is empty (a burst of creates faster than the worker refills it), ``take`` returns None and
the create is answered 503 with ``Retry-After`` (see ``extproc.compute.keypairs``); nothing is generated on
the loop. Without a stock (unit tests, no worker) the handler generates in place.

A key in the stock belongs to nobody until it is taken, and is handed out once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor

import structlog

from extproc.key_generation import die_with_parent

log = structlog.get_logger("extproc.key_stock")

KeyPair = tuple[str, str]  # (private key PEM, public key)
DEFAULT_CAPACITY = 32


def worker_process() -> ProcessPoolExecutor:
    """A pool of one worker process, started with "spawn" (not fork: the processor runs gRPC and watch
    threads) from the calling thread (the event loop's, which lives as long as the processor). Its jobs and
    initializer come from ``extproc.key_generation``, so the worker imports nothing else of the processor."""
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )


class KeyStock:
    def __init__(self, generate: Callable[[], KeyPair], capacity: int = DEFAULT_CAPACITY) -> None:
        self.generate = generate
        self.capacity = capacity
        self._keys: deque[KeyPair] = deque()
        self._taken = asyncio.Event()

    def __len__(self) -> int:
        return len(self._keys)

    def take(self) -> KeyPair | None:
        """A fresh key, or None when the stock is empty."""
        key = self._keys.popleft() if self._keys else None
        self._taken.set()
        return key

    def offer(self, key: KeyPair) -> None:
        """Add a freshly generated key to the stock."""
        self._keys.append(key)

    async def run(self, make_executor: Callable[[], Executor], retry_seconds: float = 1.0) -> None:
        """Keep the stock full, one key at a time in an executor from ``make_executor`` (a one-process
        pool), replaced if its worker dies; runs until cancelled, then shuts the executor down."""
        loop = asyncio.get_running_loop()
        executor = make_executor()
        try:
            while True:
                if len(self._keys) >= self.capacity:
                    self._taken.clear()
                    await self._taken.wait()
                    continue
                try:
                    key = await loop.run_in_executor(executor, self.generate)
                except BrokenExecutor:
                    log.exception("key_worker_died")
                    executor.shutdown(wait=False, cancel_futures=True)
                    await asyncio.sleep(retry_seconds)
                    executor = make_executor()
                    continue
                except Exception:
                    log.exception("key_generation_failed")
                    await asyncio.sleep(retry_seconds)
                    continue
                self.offer(key)
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
