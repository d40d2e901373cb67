"""``--state FILE``: the store saved as JSON, atomically (temp file + fsync + rename), debounced."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from .store import Store


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new file, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


class Persister:
    """Saves the store at most every ``interval`` seconds while it changes, and once more at shutdown."""

    def __init__(self, store: Store, path: Path, interval: float = 0.5) -> None:
        self.store = store
        self.path = path
        self.interval = interval
        self.dirty = False
        self._wake = asyncio.Event()
        store.on_change = self._changed

    def _changed(self) -> None:
        self.dirty = True
        self._wake.set()

    def save(self) -> None:
        self.dirty = False
        write_atomic(self.path, orjson.dumps(self.store.snapshot()))

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.dirty:
                # Serializing is fast; the fsync happens in a thread so requests are not blocked by the disk.
                data = orjson.dumps(self.store.snapshot())
                self.dirty = False
                await asyncio.to_thread(write_atomic, self.path, data)
            await asyncio.sleep(self.interval)
