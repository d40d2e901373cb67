"""Prerendered server-list pages (issue 13, lever (p3)): the reply body of a list page answered from the watch
cache, memoized by everything that page is rendered from, so a list asked again while nothing it shows has
changed costs a lookup, not a join of 100-1,000 prerendered items (``ServerView.detail_json``) and Nova's
filters over the scope.

Only the cache path uses it (``server_list._list_from_cache``), after Arktos has authorized the list with the
client's token (the probe) and the cache has reached the probe's revision: the memo replaces the rendering,
never a decision. The key (``PageKey`` plus the stamp) is everything the rendering reads:

- the cluster cache's ``scope_stamp`` of the page's scope: its pods (batch members' provisional names and the
  first-member marks are pod changes there), ReplicaSets (batch members Arktos refused to create), Actions
  (tasks in flight) and the processor's own intents (submissions the watch does not show yet, HARD reboots),
  which also change with time alone (they expire; the stamp moves then);
- the catalog's generation (image ids found by the VM's image URL, 2.47's flavor of a pod without a snapshot);
- the request: list or detail, the microversion, the link prefixes (public URL and the URL's project), the
  scope (the tenant Arktos resolved and authorized, or all tenants), the namespace, and the query exactly as
  the client sent it (filters, limit, marker, the parameters the next link repeats).

Nothing in a page depends on the clock otherwise (times shown are the pod's; ``changes-since`` compares the
query with them). Whoever makes a page read something else must add it to the key; the unit tests
(``tests/unit/test_server_pages.py``) change each source in turn and compare with a page rendered afresh.

A page is stored only if the stamp is the same after rendering as before (the catalog's watch runs on another
thread; an intent may expire during the render): a page is never filed under a state it was not rendered
from. One page per key (the latest stamp's), bounded by entries and bytes (a 1,000-server detail page is
~1.2 MB), least recently used first out.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from extproc.bounded_memo import BoundedMemo
from extproc.messages import JSON_CONTENT_TYPE, Reply

# A few pages per busy scope and microversion; the byte bound keeps 1,000-server pages (~1.2 MB each) from
# holding more than a 10,000-server tenant's cache of facts does.
PAGES_CAPACITY = 64
PAGES_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PageKey:
    """What a page is rendered from besides the caches (see the module docstring)."""

    detail: bool
    # ``ServerView.render_key``: the microversion and the link prefixes (public URL, the URL's project).
    render_key: Hashable
    # The scope listed: the tenant Arktos resolved and authorized (None: all tenants) and the namespace.
    tenant: str | None
    namespace: str
    # The query as the client sent it, parameter names sorted (values keep their order: Nova reads some
    # parameters' last value, and the next link repeats them all).
    query: tuple[tuple[str, tuple[str, ...]], ...]


def query_key(query: Mapping[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(sorted((name, tuple(values)) for name, values in query.items()))


class PageMemo:
    """The latest page body of each ``PageKey`` with the stamp it was rendered at, least recently used first
    out past ``capacity`` entries or ``max_bytes`` bytes. One entry per key: stamps only move forward (change
    counters), so a page of an older stamp can never be asked for again and is dropped when a newer one is
    kept (a scope that changes often does not fill the memo with dead pages)."""

    def __init__(self, capacity: int = PAGES_CAPACITY, max_bytes: int = PAGES_MAX_BYTES) -> None:
        self._pages: BoundedMemo[PageKey, tuple[Hashable, bytes]] = BoundedMemo(
            capacity, max_bytes, lambda entry: len(entry[1])
        )

    def __len__(self) -> int:
        return len(self._pages)

    @property
    def size_bytes(self) -> int:
        return self._pages.size_bytes

    def clear(self) -> None:
        self._pages.clear()

    def page(self, key: PageKey, stamp: Callable[[], Hashable], render: Callable[[], Reply]) -> Reply:
        """The page of ``key`` at ``stamp()``: remembered, or ``render()`` (remembered when it is a 200 and
        the stamp did not move while it rendered). Errors (an unknown marker) are rendered every time."""
        before = stamp()
        found = self._pages.get(key)
        if found is not None and found[0] == before:
            self._pages.touch(key)
            return Reply(200, found[1], {"content-type": JSON_CONTENT_TYPE})
        reply = render()
        if reply.status == 200 and stamp() == before:
            self._pages.put(key, (before, reply.body))
        return reply


# The processor's pages (one asyncio loop touches it, as the caches it is keyed by).
PAGES = PageMemo()
