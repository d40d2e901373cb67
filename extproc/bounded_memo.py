"""``BoundedMemo``: rendered replies kept by key within a number of entries and of bytes, for the memos of
issue 13 (server-list pages, ``extproc.compute.server_pages``; catalog replies, ``extproc.catalog_rendered``).
What a key must name, and when an entry is stale, is each memo's business; this is only the bounded store.
One asyncio loop touches each memo (as the caches they are keyed by), so no lock."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    """Values by key, the oldest first out past ``capacity`` entries or ``max_bytes`` bytes (a value's bytes:
    ``size(value)``); a value over ``max_item_bytes`` (default: ``max_bytes``) is not kept, so one huge reply
    does not push out everything else. "Oldest" is the least recently used when readers ``touch`` what they
    use, the first stored otherwise."""

    def __init__(
        self, capacity: int, max_bytes: int, size: Callable[[V], int], max_item_bytes: int | None = None
    ) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.max_item_bytes = max_bytes if max_item_bytes is None else max_item_bytes
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def touch(self, key: K) -> None:
        """``key`` was just used: it goes out last."""
        self._items.move_to_end(key)

    def put(self, key: K, value: V) -> None:
        """``value`` in place of whatever ``key`` held (which is dropped even when ``value`` is too big to
        keep), then the oldest out until both bounds hold."""
        previous = self._items.pop(key, None)
        if previous is not None:
            self._bytes -= self._size(previous)
        size = self._size(value)
        if size > self.max_item_bytes:
            return
        self._items[key] = value
        self._bytes += size
        while self._items and (len(self._items) > self.capacity or self._bytes > self.max_bytes):
            _, dropped = self._items.popitem(last=False)
            self._bytes -= self._size(dropped)

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
