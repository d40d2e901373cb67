"""A capture directory read back and paired: the primary's and the shadow's side of each request id.

Streamed: a pair is handed on as soon as both its sides have been read, so memory holds only the sides
still waiting for their other half (the recorder writes the two close together), at most ``max_waiting``
of them; beyond that the oldest waiting side goes on alone (reported as not paired). A capture of the
recorder's full rotation (16 files of 64 MiB) is read without holding it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway_stack.mirror.exchange import ExchangeSide

DEFAULT_MAX_WAITING = 10_000


@dataclass(slots=True)
class Pair:
    """Both sides of one client request (either may be missing: the shadow never got or answered it)."""

    id: str
    primary: ExchangeSide | None = None
    shadow: ExchangeSide | None = None

    @property
    def complete(self) -> bool:
        return (
            self.primary is not None
            and self.shadow is not None
            and self.primary.response is not None
            and self.shadow.response is not None
        )


@dataclass(slots=True)
class ReadStats:
    files: int = 0
    # Lines that are not a capture record (a torn last line of a rotated file, another tool's output).
    unreadable_lines: int = 0


def capture_files(directory: Path) -> list[Path]:
    """The capture's files, oldest first (the recorder numbers them, ``capture-NNNN.jsonl``)."""
    return sorted(p for p in directory.glob("*.jsonl") if p.is_file())


def pair_sides(sides: Iterable[ExchangeSide], max_waiting: int = DEFAULT_MAX_WAITING) -> Iterator[Pair]:
    """Sides grouped by request id: each pair once both sides are in (in that order), then the sides that
    never found their other half, oldest first."""
    waiting: OrderedDict[str, Pair] = OrderedDict()
    for side in sides:
        pair = waiting.get(side.id) or Pair(side.id)
        if side.side == "primary":
            pair.primary = side
        else:
            pair.shadow = side
        if pair.primary is not None and pair.shadow is not None:
            waiting.pop(side.id, None)
            yield pair
            continue
        waiting[side.id] = pair
        if len(waiting) > max_waiting:
            yield waiting.popitem(last=False)[1]
    yield from waiting.values()


def read_sides(lines: Iterable[str], stats: ReadStats) -> Iterator[ExchangeSide]:
    for line in lines:
        if not line.strip():
            continue
        try:
            yield ExchangeSide.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError):
            stats.unreadable_lines += 1


def capture_sides(directory: Path, stats: ReadStats) -> Iterator[ExchangeSide]:
    """Every side in the capture's files, oldest file first, one line at a time."""
    for path in capture_files(directory):
        stats.files += 1
        with path.open(encoding="utf-8", errors="replace") as lines:
            yield from read_sides(lines, stats)


def read_capture(directory: Path, stats: ReadStats, max_waiting: int = DEFAULT_MAX_WAITING) -> Iterator[Pair]:
    return pair_sides(capture_sides(directory, stats), max_waiting)
