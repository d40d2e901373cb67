"""Prerendered catalog replies (issue 13 lever (q1)): the bytes of a flavors or images reply answered from
the ``CatalogStore``, memoized by the store's generation plus everything else the render reads.

A catalog read answered from the caches (``extproc.catalog_reads``, once Arktos's decision for the token is
known) renders the same few flavors or images into the same JSON again and again: only a ConfigMap change
moves the store's ``generation``. The key is (generation, the tenant whose catalog it is, the handler's
render key); the handler's render key must name everything else its ``answer`` reads (the microversion,
the URL's project and the public URL of the links, the query as parsed, the item id...). Whoever makes an
``answer`` read something more must add it to that key.

The memo sits after Arktos's authorization, never before it: it is only consulted by ``from_cache``, which
``Gateway`` calls with the tenant Arktos let the token read (or prepares while the SelfSubjectAccessReview
is asked, sending it only when Arktos allows). It holds what the replies are made of, never a ``Reply``:
each request gets its own (the gateway adds its request id to the headers).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

from extproc.bounded_memo import BoundedMemo
from extproc.messages import Reply

# A catalog of ~10 flavors renders ~4 KB (detail); a few hundred tenants at two microversions fit in the
# byte budget. Past either bound the oldest entries go first. A reply bigger than a quarter of the budget
# (a catalog of thousands of flavors) is rendered each time rather than pushing out everything else.
RENDERED_CAPACITY = 1024
RENDERED_BYTES = 8 * 1024 * 1024

RenderKey = tuple[Hashable, ...]
# What a reply is kept as: status, body, headers.
_Kept = tuple[int, bytes, tuple[tuple[str, str], ...]]


def query_key(query: Mapping[str, Sequence[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The parsed query exactly, names in their order and each one's values in theirs: Nova reads the last
    value of a name, Glance rebuilds its links in the names' first-seen order."""
    return tuple((name, tuple(values)) for name, values in query.items())


class RenderedReplies:
    """A bounded memo: key -> (status, body, headers) of the reply ``render`` made for it."""

    def __init__(self, capacity: int = RENDERED_CAPACITY, max_bytes: int = RENDERED_BYTES) -> None:
        # First stored, first out (a hit does not renew an entry).
        self._replies: BoundedMemo[tuple[Any, ...], _Kept] = BoundedMemo(
            capacity, max_bytes, lambda entry: len(entry[1]), max_item_bytes=max_bytes // 4
        )
        # The newest generation seen: older ones' entries are dropped when it moves, and a render of an
        # older generation that finishes after that is not kept.
        self._generation: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self._replies)

    @property
    def size_bytes(self) -> int:
        return self._replies.size_bytes

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._replies)

    def reply(self, generation: tuple[int, int], key: RenderKey, render: Callable[[], Reply]) -> Reply:
        """The reply ``render`` makes for ``key`` in the catalog's ``generation``, rendered once.

        ``generation`` must be read from the store BEFORE the data ``render`` reads: a writer assigns the
        data first and moves the generation after (``CatalogStore``), so a render of older data can only be
        filed under an older generation, never under the new one.
        """
        if self._generation is None or generation > self._generation:
            self._replies.clear()
            self._generation = generation
        full_key = (generation, *key)
        found = self._replies.get(full_key)
        if found is not None:
            status, body, headers = found
            return Reply(status, body, dict(headers))
        reply = render()
        if generation == self._generation:
            self._replies.put(full_key, (reply.status, reply.body, tuple(reply.headers.items())))
        return reply
