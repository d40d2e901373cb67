"""Nova's server order (created_at desc, id desc) and its pages: limit, marker, the next link.

One engine for both sources of a list: the servers are ordered once (``order_servers``; the watch cache
memoizes it per scope, a list read from Arktos orders its reply), then ``select_page`` pages them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from extproc.compute import batch
from extproc.compute.list_query import ListQuery
from extproc.compute.server_fields import created_at, is_server, parse_time, server_id
from extproc.compute.server_view import ServerView
from extproc.errors import Service, bad_request, echo
from extproc.messages import ClientRequest, Reply

Json = dict[str, Any]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sort_key(pod: Mapping[str, Any]) -> tuple[datetime, str]:
    """Nova's default order is created_at desc, id desc; callers sort with reverse=True."""
    return (created_at(pod) or _EPOCH, server_id(pod))


@dataclass(frozen=True, slots=True)
class Page:
    pods: list[Mapping[str, Any]]
    # The id of the last item when the page is full (Nova then offers a "next" link).
    next_marker: str | None


@dataclass(frozen=True, slots=True)
class Ordered:
    """The servers of one list scope, sorted once (newest first), as ``select_page`` pages them."""

    pods: list[Mapping[str, Any]]
    keys: list[tuple[datetime, str]]
    # server id -> index of its first occurrence (where a marker is found)
    position: dict[str, int]


def _ordered(keyed: list[tuple[tuple[datetime, str], Mapping[str, Any]]]) -> Ordered:
    """Servers sorted newest first by their keys, with each id's position for markers."""
    keyed.sort(key=lambda kp: kp[0], reverse=True)
    servers = [p for _, p in keyed]
    position: dict[str, int] = {}
    for index, pod in enumerate(servers):
        position.setdefault(server_id(pod), index)
    return Ordered(servers, [k for k, _ in keyed], position)


def order_servers(items: list[Any]) -> Ordered:
    """The servers among ``items`` (pods of one scope: an Arktos list or the cache's), batch members showing
    their provisional names, newest first. A module-level function so the cache can memoize it
    (``ClusterView.derived`` keys on it)."""
    keyed: list[tuple[tuple[datetime, str], Mapping[str, Any]]] = []
    for pod in batch.with_provisional_names(items):
        if is_server(pod):
            # ``sort_key`` inlined: this runs for every pod of the scope after each change in it.
            meta = pod.get("metadata") or {}
            created = parse_time(meta.get("creationTimestamp")) or _EPOCH
            keyed.append(((created, str(meta.get("name") or "")), pod))
    return _ordered(keyed)


def with_servers(ordered: Ordered, extra: list[Json]) -> Ordered:
    """``ordered`` with the servers ``extra`` added in their place (a new value: ``ordered`` is memoized)."""
    keyed = list(zip(ordered.keys, ordered.pods, strict=True))
    keyed.extend((sort_key(p), p) for p in extra)
    return _ordered(keyed)


def select_page(ordered: Ordered, query: ListQuery) -> Page | Reply:
    """The page of ``ordered`` the query asks for: the servers it wants strictly older than the marker, at
    most ``limit`` of them (filters run only until the page is full)."""
    start = 0
    if query.marker is not None:
        index = ordered.position.get(query.marker)
        if index is None:
            return bad_request(Service.COMPUTE, f"marker [{echo(query.marker)}] not found")
        # Strictly older than the marker: everything before it sorts >= it; skip it and its equals.
        keys_ = ordered.keys
        marker_key = keys_[index]
        start = index
        while start < len(keys_) and keys_[start] >= marker_key:
            start += 1
    page: list[Mapping[str, Any]] = []
    wants = query.wants
    pods = ordered.pods
    for i in range(start, len(pods)):
        if len(page) >= query.limit:
            break
        if wants(pods[i]):
            page.append(pods[i])
    full = bool(page) and len(page) == query.limit
    return Page(page, server_id(page[-1]) if full else None)


def next_link(view: ServerView, req: ClientRequest, detail: bool, marker: str) -> str:
    """Nova's _get_next_link: the request's parameters, sorted, with the marker replaced."""
    params = [(k, v) for k in sorted(req.query) if k != "marker" for v in req.query[k]]
    params.append(("marker", marker))
    params.sort(key=lambda kv: kv[0])
    return f"{view.collection_url(detail)}?{urlencode(params)}"
