"""extproc.action_pacing: one write per scope and second, first come first served, bounded."""

from __future__ import annotations

import asyncio

import pytest

from extproc.action_pacing import MARGIN_SECONDS, ActionPacer, QueueFull


class FakeTime:
    """A clock that only moves when someone sleeps on it (the event loop still runs the tasks)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def go_times(pacer: ActionPacer, time: FakeTime, scope: str, count: int) -> list[float]:
    went: list[float] = []

    async def one() -> None:
        await pacer.turn(scope)
        went.append(time.now)

    await asyncio.gather(*(one() for _ in range(count)))
    return went


def test_one_write_per_second_in_arrival_order() -> None:
    time = FakeTime(1000.2)
    pacer = ActionPacer(time.clock, time.sleep)
    went = asyncio.run(go_times(pacer, time, "demo/default/reboot", 4))
    assert [int(t) for t in went] == [1000, 1001, 1002, 1003]
    # Each goes just after its second has begun, never near its end.
    assert all(t - int(t) <= MARGIN_SECONDS + 1e-9 for t in went[1:])


def test_scopes_do_not_wait_for_each_other() -> None:
    time = FakeTime(1000.2)
    pacer = ActionPacer(time.clock, time.sleep)

    async def both() -> tuple[list[float], list[float]]:
        first = await go_times(pacer, time, "demo/default/reboot", 1)
        second = await go_times(pacer, time, "demo/default/snapshot", 1)
        return first, second

    assert asyncio.run(both()) == ([1000.2], [1000.2])
    assert not pacer.must_wait("alt/default/reboot")


def test_a_write_close_to_the_end_of_a_second_pushes_the_next_one_further() -> None:
    """Sent at x.98, it may reach Arktos in the next second: the next write waits for the one after."""
    time = FakeTime(1000.98)
    pacer = ActionPacer(time.clock, time.sleep)
    went = asyncio.run(go_times(pacer, time, "s", 2))
    assert int(went[1]) == 1002


def test_a_client_that_goes_away_frees_its_turn() -> None:
    time = FakeTime(1000.2)
    pacer = ActionPacer(time.clock, time.sleep)

    async def scenario() -> float:
        await pacer.turn("s")  # 1000: the next may go at 1001.05
        gone = asyncio.ensure_future(pacer.turn("s"))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        await pacer.turn("s")
        return time.now

    # The cancelled waiter slept until 1001.05 without taking that second: the next one takes it.
    assert int(asyncio.run(scenario())) == 1001


def test_a_full_queue_is_refused_at_once() -> None:
    time = FakeTime(1000.2)
    stalled: asyncio.Event | None = None

    async def sleep_until_released(seconds: float) -> None:
        assert stalled is not None
        await stalled.wait()
        time.now += seconds

    pacer = ActionPacer(time.clock, sleep_until_released, max_waiting=3)

    async def scenario() -> None:
        nonlocal stalled
        stalled = asyncio.Event()
        await pacer.turn("s")  # goes at once; the next ones wait
        waiting = [asyncio.ensure_future(pacer.turn("s")) for _ in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):
            pacer.must_wait("s")
        stalled.set()
        await asyncio.gather(*waiting)
        assert pacer.must_wait("s")  # the last one's second has not passed yet
        time.now += 2
        assert not pacer.must_wait("s")

    asyncio.run(scenario())


def test_the_processor_waits_less_than_envoy_allows() -> None:
    """The override sent while a request waits must be within Envoy's max_message_timeout, and the longest
    queue must drain within it."""
    from extproc.action_pacing import MAX_WAITING, WAITING_MESSAGE_TIMEOUT_SECONDS
    from tests.plumbing.harness import load_render

    assert (
        MAX_WAITING + 1
        < WAITING_MESSAGE_TIMEOUT_SECONDS
        <= load_render().EnvoyParams().max_message_timeout_seconds
    )
