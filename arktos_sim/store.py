"""In-memory object store: one resourceVersion counter for all objects, key-ordered tables, watch fan-out.

Objects are plain dicts without ``kind``/``apiVersion`` (that is how they appear as list items); each stored
version caches its serialized bytes, so GETs and 10,000-item lists are byte concatenations. Stored dicts are
never mutated: writers build a new dict (``copy_obj``) and store it.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from . import selectors, status
from .resources import ALL, ResourceType

Json = dict[str, Any]
Key = tuple[str, str, str]  # (tenant, namespace, name); "" where a scope does not apply

ADDED, MODIFIED, DELETED, ERROR = "ADDED", "MODIFIED", "DELETED", "ERROR"


def copy_obj(obj: Json) -> Json:
    """A deep copy of a JSON object (faster than copy.deepcopy for JSON data)."""
    result: Json = orjson.loads(orjson.dumps(obj))
    return result


def key_of(obj: Json) -> Key:
    meta = obj["metadata"]
    return (meta.get("tenant", ""), meta.get("namespace", ""), meta["name"])


class Entry:
    """One stored object version and its cached serializations."""

    __slots__ = ("_full", "item", "obj", "prefix")

    def __init__(self, obj: Json, prefix: bytes) -> None:
        self.obj = obj
        self.item = orjson.dumps(obj)
        self.prefix = prefix
        self._full: bytes | None = None

    @property
    def full(self) -> bytes:
        """The object with ``kind`` and ``apiVersion``, as a GET returns it."""
        if self._full is None:
            self._full = self.prefix + self.item[1:]
        return self._full


class Event:
    __slots__ = ("_line", "entry", "old", "rt", "rv", "type")

    def __init__(self, type_: str, rv: int, rt: ResourceType, entry: Entry, old: Json | None) -> None:
        self.type = type_
        self.rv = rv
        self.rt = rt
        self.entry = entry
        self.old = old
        self._line: dict[str, bytes] = {}

    @property
    def obj(self) -> Json:
        return self.entry.obj

    def line(self, type_: str | None = None) -> bytes:
        t = type_ or self.type
        cached = self._line.get(t)
        if cached is None:
            cached = b'{"type":"' + t.encode() + b'","object":' + self.entry.full + b"}\n"
            self._line[t] = cached
        return cached


class Watcher:
    """One watch stream: filters table events and queues newline-delimited JSON lines."""

    def __init__(
        self,
        tenant: str | None,
        namespace: str | None,
        labels: list[selectors.Requirement],
        fields: list[selectors.FieldRequirement],
        max_queue: int = 100_000,
    ) -> None:
        self.tenant = tenant
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.max_queue = max_queue
        self.closed = False
        # Test control (``--watch-delay-seconds``): events reach this watcher that much later, in order, as
        # from an API server whose watch dispatch lags behind its writes (a write's reply can come first).
        self.delay = 0.0
        self._delayed: deque[tuple[float, bytes]] = deque()

    def _in_scope(self, obj: Json) -> bool:
        meta = obj["metadata"]
        if self.tenant is not None and meta.get("tenant", "") != self.tenant:
            return False
        return self.namespace is None or meta.get("namespace", "") == self.namespace

    def matches(self, obj: Json) -> bool:
        return (
            self._in_scope(obj)
            and selectors.labels_match(self.labels, obj)
            and selectors.fields_match(self.fields, obj)
        )

    def render(self, event: Event) -> bytes | None:
        """The line this watcher sees for ``event`` (Kubernetes semantics for selector transitions)."""
        new_match = self.matches(event.obj)
        if event.type == MODIFIED and event.old is not None:
            old_match = self.matches(event.old)
            if new_match and not old_match:
                return event.line(ADDED)
            if old_match and not new_match:
                return event.line(DELETED)
        return event.line() if new_match else None

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        line = self.render(event)
        if line is None:
            return
        if self.queue.qsize() + len(self._delayed) >= self.max_queue:
            # A consumer this far behind is cut off, as the API server does; the client re-lists.
            self.close()
            return
        if self.delay > 0:
            loop = asyncio.get_running_loop()
            self._delayed.append((loop.time() + self.delay, line))
            if len(self._delayed) == 1:
                loop.call_later(self.delay, self._deliver_due)
            return
        self.queue.put_nowait(line)

    def _deliver_due(self) -> None:
        loop = asyncio.get_running_loop()
        while self._delayed and self._delayed[0][0] <= loop.time():
            _, line = self._delayed.popleft()
            if not self.closed:
                self.queue.put_nowait(line)
        if self._delayed:
            loop.call_at(self._delayed[0][0], self._deliver_due)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


class Table:
    def __init__(self, rt: ResourceType, history: int) -> None:
        self.rt = rt
        self.prefix = b'{"kind":"' + rt.kind.encode() + b'","apiVersion":"' + rt.api_version.encode() + b'",'
        self.entries: dict[Key, Entry] = {}
        self.keys: list[Key] = []
        self.history: deque[Event] = deque(maxlen=history)
        self.compacted_rv = 0
        self.watchers: set[Watcher] = set()

    def scan(self, tenant: str | None, namespace: str | None, after: Key | None = None) -> Iterator[Entry]:
        """Entries in key order, restricted to a tenant (and namespace), starting after ``after``."""
        keys = self.keys
        if tenant is None:
            lo, hi = 0, len(keys)
        elif namespace is None:
            lo = bisect.bisect_left(keys, (tenant, "", ""))
            hi = bisect.bisect_left(keys, (tenant + "\x00", "", ""))
        else:
            lo = bisect.bisect_left(keys, (tenant, namespace, ""))
            hi = bisect.bisect_left(keys, (tenant, namespace + "\x00", ""))
        if after is not None:
            lo = max(lo, bisect.bisect_right(keys, after))
        entries = self.entries
        for i in range(lo, hi):
            yield entries[keys[i]]


Listener = Callable[[Event], None]


class Store:
    def __init__(self, history: int = 10_000, watch_delay: float = 0.0) -> None:
        self.rv = 0
        # Seconds every watch event waits before it is sent (a test control; 0 for an Arktos-like server).
        self.watch_delay = watch_delay
        self.tables: dict[str, Table] = {rt.table: Table(rt, history) for rt in ALL}
        self.listeners: list[Listener] = []
        self.on_change: Callable[[], None] | None = None

    # --- reading -----------------------------------------------------------------------------------------
    def table(self, rt: ResourceType) -> Table:
        return self.tables[rt.table]

    def get(self, rt: ResourceType, key: Key) -> Entry | None:
        return self.tables[rt.table].entries.get(key)

    def require(self, rt: ResourceType, key: Key) -> Entry:
        entry = self.get(rt, key)
        if entry is None:
            raise status.not_found(rt.resource, key[2], rt.group)
        return entry

    # --- writing -----------------------------------------------------------------------------------------
    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _emit(self, table: Table, event: Event) -> None:
        if len(table.history) == table.history.maxlen:
            table.compacted_rv = table.history[0].rv
        table.history.append(event)
        for watcher in list(table.watchers):
            watcher.offer(event)
        for listener in self.listeners:
            listener(event)
        if self.on_change is not None:
            self.on_change()

    def create(self, rt: ResourceType, obj: Json) -> Entry:
        table = self.tables[rt.table]
        key = key_of(obj)
        if key in table.entries:
            raise status.already_exists(rt.resource, key[2], rt.group)
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        entry = Entry(obj, table.prefix)
        table.entries[key] = entry
        bisect.insort(table.keys, key)
        self._emit(table, Event(ADDED, rv, rt, entry, None))
        return entry

    def update(self, rt: ResourceType, obj: Json, expected_rv: str | None = None) -> Entry:
        """Replace a stored object; ``expected_rv`` (when given and non-empty) must be the current one."""
        table = self.tables[rt.table]
        key = key_of(obj)
        current = table.entries.get(key)
        if current is None:
            raise status.not_found(rt.resource, key[2], rt.group)
        if expected_rv and expected_rv != current.obj["metadata"]["resourceVersion"]:
            raise status.conflict(rt.resource, key[2], rt.group)
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        entry = Entry(obj, table.prefix)
        table.entries[key] = entry
        self._emit(table, Event(MODIFIED, rv, rt, entry, current.obj))
        return entry

    def delete(self, rt: ResourceType, key: Key, final: Json | None = None) -> Entry:
        """Remove an object; ``final`` (as last seen, e.g. with deletionTimestamp) goes in the event."""
        table = self.tables[rt.table]
        current = table.entries.pop(key, None)
        if current is None:
            raise status.not_found(rt.resource, key[2], rt.group)
        index = bisect.bisect_left(table.keys, key)
        del table.keys[index]
        rv = self._next_rv()
        obj = final if final is not None else copy_obj(current.obj)
        obj["metadata"]["resourceVersion"] = str(rv)
        entry = Entry(obj, table.prefix)
        self._emit(table, Event(DELETED, rv, rt, entry, None))
        return entry

    # --- watching ----------------------------------------------------------------------------------------
    def watch(self, rt: ResourceType, watcher: Watcher, since: str | None) -> None:
        """Register ``watcher``; queue the initial events: the current state for ``since`` unset/"0", else
        every recorded event after ``since`` (410 Gone when that is older than the kept history)."""
        table = self.tables[rt.table]
        watcher.delay = self.watch_delay
        if not since or since == "0":
            for entry in table.scan(watcher.tenant, watcher.namespace):
                if watcher.matches(entry.obj):
                    watcher.queue.put_nowait(b'{"type":"ADDED","object":' + entry.full + b"}\n")
        else:
            try:
                rv = int(since)
            except ValueError as exc:
                raise status.bad_request(f"invalid resource version: {since!r}") from exc
            if rv < table.compacted_rv:
                raise status.gone(f"too old resource version: {rv} ({table.compacted_rv + 1})")
            for event in table.history:
                if event.rv > rv:
                    line = watcher.render(event)
                    if line is not None:
                        watcher.queue.put_nowait(line)
        table.watchers.add(watcher)

    def unwatch(self, rt: ResourceType, watcher: Watcher) -> None:
        self.tables[rt.table].watchers.discard(watcher)
        watcher.close()

    def close_watchers(self) -> None:
        for table in self.tables.values():
            for watcher in list(table.watchers):
                watcher.close()
            table.watchers.clear()

    # --- persistence -------------------------------------------------------------------------------------
    def snapshot(self) -> Json:
        return {
            "resourceVersion": self.rv,
            "objects": {name: [t.entries[k].obj for k in t.keys] for name, t in self.tables.items()},
        }

    def restore(self, data: Json) -> None:
        self.rv = int(data.get("resourceVersion", 0))
        for name, objs in (data.get("objects") or {}).items():
            table = self.tables.get(name)
            if table is None:
                continue
            for obj in objs:
                key = key_of(obj)
                table.entries[key] = Entry(obj, table.prefix)
            table.keys = sorted(table.entries)
            table.compacted_rv = self.rv
