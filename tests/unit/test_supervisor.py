"""The launcher's supervisor on its own: restart backoff (fake clock, fake children) and stop signals."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, cast

from gateway_stack.stack import Stack
from gateway_stack.supervisor import StopSignals, Supervisor


class FakeChild:
    def __init__(self, name: str, clock: list[float]) -> None:
        self.name = name
        self.clock = clock
        self.up = True
        self.started_at = clock[0]
        self.log_path = Path(f"/logs/{name}.log")
        self.pid = 1

    def alive(self) -> bool:
        return self.up

    def returncode(self) -> int | None:
        return None if self.up else -9


class FakeStack:
    def __init__(self, clock: list[float], fail_starts: int = 0) -> None:
        self.child = FakeChild("extproc", clock)
        self.clock = clock
        self.fail_starts = fail_starts
        self.starts: list[float] = []
        self.abort: Any = None

    @property
    def children(self) -> list[FakeChild]:
        return [self.child]

    def restart(self, child: FakeChild) -> None:
        self.starts.append(self.clock[0])
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("port busy")
        self.child = FakeChild(child.name, self.clock)


def supervisor(stack: FakeStack, clock: list[float]) -> tuple[Supervisor, io.StringIO]:
    out = io.StringIO()
    sup = Supervisor(
        cast(Stack, stack),
        StopSignals(),
        out,
        backoff_initial=0.5,
        backoff_max=4.0,
        stable_after=60.0,
        clock=lambda: clock[0],
    )
    return sup, out


def crash_and_restart(sup: Supervisor, stack: FakeStack, clock: list[float]) -> float:
    """Kill the child, tick until it is restarted; the delay the supervisor waited."""
    stack.child.up = False
    died = clock[0]
    sup.check()
    while stack.child.alive() is False:
        clock[0] += 0.25
        sup.check()
    return stack.starts[-1] - died


def test_backoff_doubles_up_to_the_maximum_and_resets_after_a_stable_run() -> None:
    clock = [100.0]
    stack = FakeStack(clock)
    sup, out = supervisor(stack, clock)
    delays = [crash_and_restart(sup, stack, clock) for _ in range(5)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0]
    clock[0] += 61.0  # up for a minute: the next crash is treated as a first one
    assert crash_and_restart(sup, stack, clock) == 0.5
    log = out.getvalue()
    assert log.count("extproc exited with -9") == 6
    assert "restarting in 4.0 s" in log and "restart #6" in log


def test_a_failed_start_is_logged_and_retried_later() -> None:
    clock = [0.0]
    stack = FakeStack(clock, fail_starts=2)
    sup, out = supervisor(stack, clock)
    crash_and_restart(sup, stack, clock)
    assert stack.starts == [0.5, 1.5, 3.5]
    assert out.getvalue().count("failed to start (port busy)") == 2


def test_stop_signal_wakes_the_wait_without_locks() -> None:
    before = signal.getsignal(signal.SIGTERM)
    signals = StopSignals()
    signals.install()
    try:
        assert signals.wait(0.01) is False
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM))
        timer.start()
        # Far longer than the timer: returns because the signal's byte on the wakeup pipe ends the select
        # (select alone is resumed after a handler, PEP 475, and would sleep the whole 30 s).
        began = time.monotonic()
        assert signals.wait(30.0) is True
        assert time.monotonic() - began < 15.0
        timer.join()
        assert signals.received == [signal.SIGTERM]
    finally:
        signals.uninstall()
    assert signal.getsignal(signal.SIGTERM) == before
