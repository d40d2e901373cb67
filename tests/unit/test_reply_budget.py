"""extproc.reply_budget: large replies admitted while their bytes in flight stay under the limit."""

from __future__ import annotations

import asyncio

import pytest

from extproc.reply_budget import ReplyBudget

MB = 1024 * 1024


def budget() -> ReplyBudget:
    return ReplyBudget(limit_bytes=4 * MB, large_bytes=MB)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_only_large_replies_count() -> None:
    b = budget()
    assert not b.counts(MB - 1)
    assert b.counts(MB)


async def test_replies_wait_for_room_and_go_in_the_order_they_asked() -> None:
    b = budget()
    first = await b.admit(2 * MB)
    second = await b.admit(2 * MB)
    assert b.in_flight == 4 * MB
    order: list[str] = []

    async def send(name: str, size: int) -> None:
        release = await b.admit(size)
        order.append(name)
        await asyncio.sleep(0.01)
        release()

    # The 3 MB reply asked first: the 1 MB one behind it does not overtake it, though it would fit sooner.
    waiting = [asyncio.create_task(send("big", 3 * MB)), asyncio.create_task(send("small", MB))]
    await settle()
    assert order == []
    first()
    await settle()
    assert order == []  # 2 MB free: the 3 MB reply still waits, and the 1 MB one waits behind it
    second()
    await asyncio.gather(*waiting)
    assert order == ["big", "small"]
    assert b.in_flight == 0
    assert b.peak == 4 * MB


async def test_a_reply_larger_than_the_budget_goes_alone() -> None:
    b = budget()
    release = await b.admit(10 * MB)
    assert b.in_flight == 10 * MB
    behind = asyncio.create_task(b.admit(MB))
    await settle()
    assert not behind.done()
    release()
    (await behind)()
    assert b.in_flight == 0


async def test_release_twice_gives_back_once() -> None:
    b = budget()
    release = await b.admit(2 * MB)
    other = await b.admit(MB)
    release()
    release()
    assert b.in_flight == MB
    other()
    assert b.in_flight == 0


async def test_a_stream_gone_while_waiting_leaves_no_bytes_behind() -> None:
    b = budget()
    held = await b.admit(4 * MB)
    gone = asyncio.create_task(b.admit(2 * MB))
    behind = asyncio.create_task(b.admit(MB))
    await settle()
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    held()
    (await behind)()
    assert b.in_flight == 0


async def test_a_stream_gone_just_as_it_was_admitted_gives_its_bytes_back() -> None:
    b = budget()
    held = await b.admit(4 * MB)
    gone = asyncio.create_task(b.admit(2 * MB))
    await settle()
    held()  # admits the waiter (its bytes taken) before its task resumes
    assert b.in_flight == 2 * MB
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert b.in_flight == 0
