"""CPU time and peak memory of processes, read from ``/proc`` (Linux only)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), in seconds; 0.0 once the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may contain spaces and parentheses: split after its closing ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    # Fields 14 and 15 of stat(5) (utime, stime) are at 11 and 12 once pid and comm are dropped.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_bytes(pid: int) -> int:
    """VmHWM: the largest resident set since the process started or since ``reset_peak_rss``."""
    return _status_kib(pid, "VmHWM") * 1024


def rss_bytes(pid: int) -> int:
    return _status_kib(pid, "VmRSS") * 1024


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (``clear_refs`` value 5, Linux >= 4.0); False if not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds of a set of named processes at one moment."""

    seconds: dict[str, float]

    @classmethod
    def take(cls, pids: dict[str, list[int]]) -> CpuSample:
        return cls({name: sum(cpu_seconds(p) for p in group) for name, group in pids.items()})

    def since(self, earlier: CpuSample) -> dict[str, float]:
        return {name: value - earlier.seconds.get(name, 0.0) for name, value in self.seconds.items()}


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (``/proc/<pid>/task/*/children``, Linux >= 3.5)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                kids = [int(x) for x in children.read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            stack.extend(kids)
    return found
