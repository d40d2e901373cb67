"""How many bytes of large replies the processor holds at once while gRPC sends them to Envoy.

A reply handed to grpc.aio is held three times until Envoy has read it all: the ``ProcessingResponse``
carrying the body, its serialized bytes and grpc core's send buffer (the servicer keeps the first two until
the call has finished). A page of 1,000 servers is ~1.2 MB, so sixteen such lists at once held ~58 MB,
and the processor's memory grew with the number of clients instead of with the data (issue 13, lever (r8) in
bench/README.md). A reply of at least ``LARGE_REPLY_BYTES`` therefore waits, before its message is built,
until the large replies already in flight leave room under ``IN_FLIGHT_LIMIT_BYTES``; one larger than the
whole budget goes alone. Replies are admitted in the order they asked (a small one never waits). What a
waiting reply holds meanwhile is its body, usually the memoized page shared with every other reader of it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

# Smaller replies (a server, a page of 100) go at once and are not counted: they are most replies, and a
# few hundred KB each at any concurrency Envoy allows is not what grows the processor.
LARGE_REPLY_BYTES = 256 * 1024
# Three pages of 1,000 servers. Measured (bench/README.md, lever (r8)): lists of 1,000 at 16 connections lost
# no throughput at this limit; at 2 MiB (one page at a time) they lost up to half of it, the next page waiting
# for the event loop to see the last one's call end.
IN_FLIGHT_LIMIT_BYTES = 4 * 1024 * 1024

Release = Callable[[], None]


class ReplyBudget:
    """Admits large replies while their bytes in flight stay under a limit (first come, first served)."""

    def __init__(
        self, limit_bytes: int = IN_FLIGHT_LIMIT_BYTES, large_bytes: int = LARGE_REPLY_BYTES
    ) -> None:
        self.limit_bytes = limit_bytes
        self.large_bytes = large_bytes
        self.in_flight = 0
        # The most bytes in flight at once since the start (the processor's tests read it).
        self.peak = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    def counts(self, size: int) -> bool:
        """Whether a reply of ``size`` bytes must be admitted before it is built."""
        return size >= self.large_bytes

    async def admit(self, size: int) -> Release:
        """Wait for room for ``size`` bytes; returns the function that gives them back (call it once the
        reply has been sent or abandoned; calling it again does nothing)."""
        if not self._waiting and self._fits(size):
            self._take(size)
            return self._release_of(size)
        admitted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (size, admitted)
        self._waiting.append(entry)
        try:
            await admitted
        except asyncio.CancelledError:
            if admitted.done() and not admitted.cancelled():
                self._give_back(size)  # admitted just as the stream went away
            else:
                if entry in self._waiting:
                    self._waiting.remove(entry)
                self._admit_waiting()  # those behind it may fit now
            raise
        return self._release_of(size)

    def _fits(self, size: int) -> bool:
        return self.in_flight == 0 or self.in_flight + size <= self.limit_bytes

    def _take(self, size: int) -> None:
        self.in_flight += size
        self.peak = max(self.peak, self.in_flight)

    def _give_back(self, size: int) -> None:
        self.in_flight -= size
        self._admit_waiting()

    def _admit_waiting(self) -> None:
        while self._waiting and self._fits(self._waiting[0][0]):
            size, admitted = self._waiting.popleft()
            if admitted.done():
                continue  # its stream was cancelled while it waited
            self._take(size)
            admitted.set_result(None)

    def _release_of(self, size: int) -> Release:
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._give_back(size)

        return release
