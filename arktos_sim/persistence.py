"""``--state FILE``: the store on disk, written through before each reply, so even SIGKILL loses nothing.

Two parts, as etcd keeps them: a snapshot (``FILE``, written atomically: temp file + fsync + rename) and a
write-ahead journal (``FILE.journal``): every change appends one line ``{"rv", "table", "obj"|"deleted"}``
synchronously while the request is handled, before the API replies. A process crash keeps whatever the
kernel has (the append is a plain ``write``); only a machine crash can lose the newest lines (no fsync per
write: this is a simulator). Loading replays the journal lines newer than the snapshot's resourceVersion; a
torn last line (killed mid-write) is ignored. The journal is folded into a new snapshot every
``compact_every`` lines and at shutdown.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from .store import DELETED, Event, Store, key_of

Json = dict[str, Any]


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


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def _replay(data: Json, journal: Path) -> Json:
    """``data`` (a snapshot) with the journal's newer changes applied."""
    try:
        lines = journal.read_bytes().splitlines()
    except FileNotFoundError:
        return data
    snapshot_rv = rv = int(data.get("resourceVersion", 0))
    tables: dict[str, dict[tuple[str, str, str], Json]] = {
        name: {key_of(obj): obj for obj in objs} for name, objs in (data.get("objects") or {}).items()
    }
    for line in lines:
        try:
            change = orjson.loads(line)
        except orjson.JSONDecodeError:
            break  # torn by a kill mid-write: it was never acknowledged
        if change["rv"] <= snapshot_rv:
            continue
        rv = max(rv, change["rv"])
        table = tables.setdefault(change["table"], {})
        if "deleted" in change:
            table.pop(tuple(change["deleted"]), None)
        else:
            table[key_of(change["obj"])] = change["obj"]
    return {"resourceVersion": rv, "objects": {name: list(t.values()) for name, t in tables.items()}}


def load(path: Path) -> Json | None:
    """The stored state (snapshot plus journal), or None when there is none."""
    journal = journal_path(path)
    if not path.exists() and not journal.exists():
        return None
    data: Json = orjson.loads(path.read_bytes()) if path.exists() else {"resourceVersion": 0, "objects": {}}
    return _replay(data, journal)


class Persister:
    """Appends every store change to the journal as it happens; compacts into the snapshot now and then."""

    def __init__(self, store: Store, path: Path, compact_every: int = 20_000) -> None:
        self.store = store
        self.path = path
        self.journal = journal_path(path)
        self.compact_every = compact_every
        self._lines = 0
        self._fd: int | None = None
        # First, so a change is journalled before a listener's own (nested) writes are.
        store.listeners.insert(0, self._on_event)

    def _on_event(self, event: Event) -> None:
        if self._fd is None:
            return
        if event.type == DELETED:
            line = orjson.dumps({"rv": event.rv, "table": event.rt.table, "deleted": key_of(event.obj)})
        else:
            # The stored object's bytes are already serialized (Entry.item).
            line = (
                b'{"rv":%d,"table":"%s","obj":' % (event.rv, event.rt.table.encode())
                + event.entry.item
                + b"}"
            )
        os.write(self._fd, line + b"\n")
        self._lines += 1
        if self._lines >= self.compact_every:
            self.save()

    def save(self) -> None:
        """Fold everything into a new snapshot and start an empty journal."""
        write_atomic(self.path, orjson.dumps(self.store.snapshot()))
        self.close()
        # The snapshot holds every journalled change now; replaying older lines would skip them anyway.
        self._fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        self._lines = 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
