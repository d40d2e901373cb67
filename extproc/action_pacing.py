"""Spacing the Arktos writes that Arktos names from its clock, one per scope and second.

Arktos names an Action ``<operation>-<unix seconds>`` per namespace (fixtures 54-55), so it takes one
reboot (or snapshot, or restore) per project, operation and second: a second one in the same second is
409 AlreadyExists. Envoy retries that 409 past the next second (``ArktosRequest.retry_name_collision``),
but retries are a lottery: with N requests contending, each round lets one through, and a request that
loses every round gets the 409 although it was never refused for a reason of its own.

``ActionPacer`` lets these writes go to Arktos first come, first served, one per scope and second: a write
waits (without holding the event loop) until the second after the previous one's has begun. A waiting
client that goes away leaves the queue and frees its turn. A queue longer than ``MAX_WAITING`` (about as
many seconds of waiting) is refused at once rather than kept past Envoy's timeouts. Envoy's retry stays
as the fallback for the writers the pacer cannot see (kubectl, another processor, clock skew between this
host and Arktos's).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# Requests waiting in one scope at most: each waits about one second per request ahead of it. With the
# processor's message timeout while waiting (``WAITING_MESSAGE_TIMEOUT_SECONDS``) this bounds what Envoy
# and the client wait.
MAX_WAITING = 20
# How long Envoy may wait for the processor's answer while a request waits its turn (ext_proc's
# override_message_timeout); must not exceed Envoy's max_message_timeout (30 s, envoy/render.py).
WAITING_MESSAGE_TIMEOUT_SECONDS = 25
# A write sent closer than this to the end of a second may be named after the next one by Arktos (the
# request takes a few milliseconds to get there, and the two clocks may differ a little): the next write
# then waits one more second. Also how far into a second a paced write goes.
MARGIN_SECONDS = 0.05


@dataclass(slots=True)
class _Scope:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Wall-clock time from which the next write of this scope may go.
    next_at: float = 0.0
    # Requests in ``turn`` (waiting or going).
    waiting: int = 0


class QueueFull(Exception):
    """Too many requests already wait in this scope."""


class ActionPacer:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._max_waiting = max_waiting
        self._scopes: dict[str, _Scope] = {}

    def must_wait(self, scope: str) -> bool:
        """Whether a write of ``scope`` arriving now waits for its turn; ``QueueFull`` if it would wait too
        long."""
        state = self._scopes.get(scope)
        if state is None:
            return False
        if state.waiting >= self._max_waiting:
            raise QueueFull(scope)
        return state.waiting > 0 or state.next_at > self._clock()

    async def turn(self, scope: str) -> None:
        """Returns when a write of ``scope`` may go to Arktos (at once if none went this second)."""
        state = self._scopes.get(scope)
        if state is None:
            self._prune()
            state = self._scopes[scope] = _Scope()
        state.waiting += 1
        try:
            # asyncio.Lock wakes its waiters in arrival order; a cancelled waiter (its client went away)
            # leaves the queue.
            async with state.lock:
                delay = state.next_at - self._clock()
                if delay > 0:
                    await self._sleep(delay)
                now = self._clock()
                state.next_at = math.floor(now + MARGIN_SECONDS) + 1 + MARGIN_SECONDS
        finally:
            state.waiting -= 1

    def _prune(self) -> None:
        """Forgets the scopes whose last write is over a second old (bounded memory)."""
        if len(self._scopes) < 256:
            return
        now = self._clock()
        for key in [k for k, s in self._scopes.items() if s.waiting == 0 and s.next_at < now]:
            del self._scopes[key]
