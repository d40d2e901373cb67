"""The capture directory: rotating JSON Lines files, bounded in size and count, written off the event loop.

``CaptureWriter.write(line)`` never blocks and never raises: the line goes to a bounded queue that one
thread drains into ``capture-NNNN.jsonl``. A file that reaches ``max_file_bytes`` is closed and the next
one opened; past ``max_files`` the oldest is deleted. A full queue (the disk slower than the traffic) drops
the line and counts it (``dropped``): the recorder must never hold the primary's traffic back, nor grow.
"""

from __future__ import annotations

import queue
import re
import threading
from pathlib import Path
from typing import TextIO

DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_FILES = 16
DEFAULT_QUEUE_LINES = 10_000
FILE_PATTERN = re.compile(r"^capture-(\d{4,})\.jsonl$")
_STOP = object()


def _number_of(path: Path) -> int:
    match = FILE_PATTERN.match(path.name)
    return int(match.group(1)) if match else 0


def capture_files(directory: Path) -> list[Path]:
    """The capture files of ``directory``, oldest first."""
    return sorted((p for p in directory.iterdir() if FILE_PATTERN.match(p.name)), key=_number_of)


class RotatingJsonl:
    """Appends lines to ``capture-NNNN.jsonl`` files (synchronous; ``CaptureWriter`` runs it in a thread)."""

    def __init__(self, directory: Path, max_file_bytes: int, max_files: int) -> None:
        if max_file_bytes <= 0 or max_files <= 0:
            raise ValueError("capture bounds must be positive")
        self.directory = directory
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        directory.mkdir(parents=True, exist_ok=True)
        existing = capture_files(directory)
        # A restarted recorder never appends to an earlier run's file: it starts the next number.
        self._number = _number_of(existing[-1]) + 1 if existing else 1
        self._file = self._open()
        self._size = 0

    def _open(self) -> TextIO:
        path = self.directory / f"capture-{self._number:04d}.jsonl"
        handle = path.open("a", encoding="utf-8")
        for old in capture_files(self.directory)[: -self.max_files]:
            old.unlink(missing_ok=True)
        return handle

    def append(self, line: str) -> None:
        data = line + "\n"
        size = len(data.encode("utf-8"))
        if self._size and self._size + size > self.max_file_bytes:
            self._file.close()
            self._number += 1
            self._file = self._open()
            self._size = 0
        self._file.write(data)
        self._size += size

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class CaptureWriter:
    """Non-blocking front of ``RotatingJsonl``: a bounded queue and one writer thread."""

    def __init__(
        self,
        directory: Path,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_files: int = DEFAULT_MAX_FILES,
        queue_lines: int = DEFAULT_QUEUE_LINES,
    ) -> None:
        self._files = RotatingJsonl(directory, max_file_bytes, max_files)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_lines)
        self.dropped = 0
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    def write(self, line: str) -> bool:
        """Queue one line; False (and counted in ``dropped``) when the queue is full."""
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            assert isinstance(item, str)
            self._files.append(item)
            self.written += 1
            if self._queue.empty():
                # Lines reach the disk as soon as the burst is written (a report may be read any time).
                self._files.flush()
        self._files.close()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
