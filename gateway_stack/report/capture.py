"""A capture directory read back and paired: the primary's and the shadow's side of each request id."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway_stack.mirror.exchange import ExchangeSide


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
class Capture:
    pairs: list[Pair] = field(default_factory=list)
    files: int = 0
    # Lines that are not a capture record (a torn last line of a rotated file, another tool's output).
    unreadable_lines: int = 0


def capture_files(directory: Path) -> list[Path]:
    """The capture's files, oldest first (the recorder numbers them, ``capture-NNNN.jsonl``)."""
    return sorted(p for p in directory.glob("*.jsonl") if p.is_file())


def pair_sides(sides: Iterable[ExchangeSide]) -> list[Pair]:
    """Sides grouped by request id, in the order each id was first seen; a repeated side keeps the last."""
    by_id: dict[str, Pair] = {}
    for side in sides:
        pair = by_id.setdefault(side.id, Pair(side.id))
        if side.side == "primary":
            pair.primary = side
        else:
            pair.shadow = side
    return list(by_id.values())


def read_sides(lines: Iterable[str], capture: Capture) -> Iterable[ExchangeSide]:
    for line in lines:
        if not line.strip():
            continue
        try:
            yield ExchangeSide.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError):
            capture.unreadable_lines += 1


def load_capture(directory: Path) -> Capture:
    capture = Capture()
    sides: list[ExchangeSide] = []
    for path in capture_files(directory):
        capture.files += 1
        with path.open(encoding="utf-8", errors="replace") as lines:
            sides.extend(read_sides(lines, capture))
    capture.pairs = pair_sides(sides)
    return capture
