"""Waiting in tests for something that happens asynchronously (a watch event, a node agent, a restart)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(what: str, probe: Callable[[], T | None], timeout: float = 120.0, interval: float = 0.1) -> T:
    """Poll ``probe`` until it returns a value other than None or False, and return that value.

    The deadline only guards against hanging: it is not a timing assertion (a loaded machine may take long).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(interval)
