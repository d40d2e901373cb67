"""What keeps ``make run`` up: restarts a child that dies (with backoff), stops on SIGINT/SIGTERM.

Signals: the handler only appends the signal number to a list (no lock: a handler that calls
``threading.Event.set()`` can deadlock on the lock the interrupted ``Event.wait()`` holds, which is how the
launcher once hung in a futex wait after SIGTERM). ``signal.set_wakeup_fd`` writes a byte to a pipe from C,
so the loop's ``select`` wakes at once.

Children die with the supervisor even when it is SIGKILLed: ``procs.Child`` asks the kernel for
``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from gateway_stack.procs import Child, Interrupted


class Supervised(Protocol):
    """What a supervisor runs: ``Stack``, or the mirror's stack (``gateway_stack.mirror.launcher``)."""

    abort: Callable[[], bool] | None

    @property
    def children(self) -> list[Child]: ...

    def restart(self, child: Child) -> None: ...


class StopSignals:
    """SIGINT/SIGTERM recorded without locks; ``wait`` sleeps until one arrives or ``timeout`` passes."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = signals
        self.received: list[int] = []
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._previous_wakeup = -1
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: object) -> None:
        self.received.append(signum)  # a list append takes no lock

    def install(self) -> None:
        self._previous_wakeup = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handler)

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        signal.set_wakeup_fd(self._previous_wakeup)
        os.close(self._read_fd)
        os.close(self._write_fd)

    @property
    def stopping(self) -> bool:
        return bool(self.received)

    def wait(self, timeout: float) -> bool:
        """True when a stop signal has arrived (now or during the wait)."""
        if not self.received:
            with contextlib.suppress(InterruptedError):
                select.select([self._read_fd], [], [], timeout)
            with contextlib.suppress(BlockingIOError):
                os.read(self._read_fd, 512)
        return self.stopping


@dataclass
class _Restarts:
    backoff: float
    due: float | None = None  # when the next start attempt is due (None: the child is up)
    count: int = 0
    history: list[float] = field(default_factory=list)


class Supervisor:
    """Restarts any child of ``stack`` that exits: first after ``backoff_initial`` seconds, doubling on
    each further exit up to ``backoff_max``; a child that stayed up ``stable_after`` seconds starts over
    at ``backoff_initial``. Every exit and restart is logged to ``out``."""

    def __init__(
        self,
        stack: Supervised,
        signals: StopSignals,
        out: TextIO,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        stable_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stack = stack
        self.signals = signals
        self.out = out
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.clock = clock
        self.restarts: dict[str, _Restarts] = {}
        stack.abort = lambda: signals.stopping

    def _log(self, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} gateway_stack: {message}", file=self.out, flush=True)

    def run(self, tick: float = 0.25) -> int:
        """Supervise until a stop signal; exit code 0."""
        while not self.signals.wait(tick):
            self.check()
        self._log(f"stopping on {signal.Signals(self.signals.received[0]).name}")
        return 0

    def check(self) -> None:
        """Notice exited children and start the ones whose backoff has passed."""
        now = self.clock()
        for child in self.stack.children:
            state = self.restarts.setdefault(child.name, _Restarts(self.backoff_initial))
            if child.alive():
                continue
            if state.due is None:
                uptime = now - child.started_at
                if uptime >= self.stable_after:
                    state.backoff = self.backoff_initial
                state.due = now + state.backoff
                self._log(
                    f"{child.name} exited with {child.returncode()} after {uptime:.1f} s; restarting in "
                    f"{state.backoff:.1f} s (log {child.log_path})"
                )
                state.backoff = min(self.backoff_max, state.backoff * 2)
            elif now >= state.due and not self.signals.stopping:
                self._start(child, state)

    def _start(self, child: Child, state: _Restarts) -> None:
        began = self.clock()
        try:
            self.stack.restart(child)
        except Interrupted:
            return
        except Exception as exc:
            state.due = self.clock() + state.backoff
            self._log(f"{child.name} failed to start ({exc}); next try in {state.backoff:.1f} s")
            state.backoff = min(self.backoff_max, state.backoff * 2)
            return
        took = self.clock() - began
        state.due = None
        state.count += 1
        state.history.append(took)
        replacement = next(c for c in self.stack.children if c.name == child.name)
        self._log(
            f"{child.name} restarted (pid {replacement.pid}, ready in {took:.2f} s, restart #{state.count})"
        )
