"""A small stock of generated RSA keypairs, made in a worker process, for ``POST /os-keypairs`` without a key.

Why: generating an RSA 2048 key (as Nova 2.1 does) costs about 0.1 s of CPU, and ``cryptography`` holds the
GIL meanwhile, so generating on the processor's event loop (or in one of its threads) would stall every
other request for that long, once per request a client chooses to send. The processor therefore keeps
``capacity`` keys ready, made one at a time in a separate process, and a keypair create takes one.

The worker is a plain subprocess, ``python -m extproc.key_generation`` (see there for its protocol over its
stdin and stdout), not a ``multiprocessing`` pool: a pool started with "spawn" (fork is unsafe, the processor
runs gRPC and watch threads) also starts multiprocessing's resource tracker, one more Python process whose
memory counts with the processor's (bench/README.md lever (r6)), and its worker unpickles what it is sent.

When the stock is empty (a burst of creates faster than the worker refills it), ``take`` returns None and
the create is answered 503 with ``Retry-After`` (see ``extproc.compute.keypairs``); nothing is generated on
the loop. Without a stock (unit tests, no worker) the handler generates in place.

A key in the stock belongs to nobody until it is taken, and is handed out once.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

log = structlog.get_logger("extproc.key_stock")

KeyPair = tuple[str, str]  # (private key PEM, public key)
DEFAULT_CAPACITY = 32
WORKER_MODULE = "extproc.key_generation"


class KeyWorkerFailed(Exception):
    """The worker died or answered something that is not a keypair; it is replaced."""


class Worker(Protocol):
    async def generate(self) -> KeyPair: ...

    async def stop(self) -> None: ...


def worker_command(parent_pid: int) -> list[str]:
    """The worker's command line: this interpreter, the generation module only (what it imports is what the
    worker holds), and the processor's pid (the worker checks it still has its parent)."""
    return [sys.executable, "-m", WORKER_MODULE, str(parent_pid)]


class KeyWorker:
    """One worker process, started from the event loop's thread (which lives as long as the processor: the
    kernel's parent-death signal follows the thread that started the child)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> KeyWorker:
        process = await asyncio.create_subprocess_exec(
            *worker_command(os.getpid()), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        return cls(process)

    async def generate(self) -> KeyPair:
        """Ask the worker for one key and wait for it."""
        requests, replies = self.process.stdin, self.process.stdout
        assert requests is not None and replies is not None
        try:
            requests.write(b"\n")
            await requests.drain()
            line = await replies.readline()
        except (OSError, ValueError) as err:  # a closed pipe; a line past the reader's limit
            raise KeyWorkerFailed(f"key worker {self.process.pid}: {err!r}") from err
        if not line.endswith(b"\n"):
            raise KeyWorkerFailed(f"key worker {self.process.pid} ended its output")
        try:
            private_pem, public = json.loads(line)
        except ValueError as err:
            raise KeyWorkerFailed(f"key worker {self.process.pid} answered no keypair") from err
        if not isinstance(private_pem, str) or not isinstance(public, str):
            raise KeyWorkerFailed(f"key worker {self.process.pid} answered no keypair")
        return private_pem, public

    async def stop(self) -> None:
        """Kill the worker (a key it is making is lost) and reap it."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


class KeyStock:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
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

    async def run(
        self, start_worker: Callable[[], Awaitable[Worker]] = KeyWorker.start, retry_seconds: float = 1.0
    ) -> None:
        """Keep the stock full, one key at a time from a worker from ``start_worker``, replaced (after
        ``retry_seconds``) when it fails; runs until cancelled, then stops the worker."""
        worker: Worker | None = None
        try:
            while True:
                if len(self._keys) >= self.capacity:
                    self._taken.clear()
                    await self._taken.wait()
                    continue
                try:
                    if worker is None:
                        worker = await start_worker()
                    key = await worker.generate()
                except Exception:  # KeyWorkerFailed; OSError when no process could be started
                    log.exception("key_worker_failed")
                    if worker is not None:
                        await worker.stop()
                        worker = None
                    await asyncio.sleep(retry_seconds)
                    continue
                self.offer(key)
        finally:
            if worker is not None:
                await worker.stop()
