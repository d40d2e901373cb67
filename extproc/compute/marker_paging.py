"""Nova's marker paging of small collections (keypairs from 2.35, simple tenant usage from 2.40, instance
actions from 2.58): ``limit`` and ``marker`` (``common.get_limit_and_marker``), and the ``next`` link
(``ViewBuilder._get_collection_links``). Pure; the query has already passed its ``QuerySchema``.

Server lists have their own engine (``extproc.compute.paging``): they page Arktos's pods, these page what
one Arktos reply already holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from extproc.context import RequestContext
from extproc.errors import Service, bad_request, echo
from extproc.messages import ClientRequest, Reply

T = TypeVar("T")
Json = dict[str, Any]

# CONF.api.max_limit: the default and the largest page.
MAX_LIMIT = 1000
# More digits than any collection has items: such a limit is the maximum (Python refuses int() of 4,300+).
_MAX_DIGITS = 9


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    marker: str | None


def page_request(req: ClientRequest) -> PageRequest:
    """The limit (at most ``MAX_LIMIT``; 0 is an empty page) and marker a validated query asks for."""
    raw = req.query_one("limit")
    limit = MAX_LIMIT
    if raw is not None:
        digits = raw.lstrip("0") or "0"
        limit = min(MAX_LIMIT, int(digits) if len(digits) <= _MAX_DIGITS else MAX_LIMIT)
    return PageRequest(limit, req.query_one("marker"))


def marker_not_found(marker: str) -> Reply:
    """Nova's MarkerNotFound, a 400."""
    return bad_request(Service.COMPUTE, f"Marker {echo(marker)} could not be found.")


def page_of(items: Sequence[T], key: Callable[[T], str], page: PageRequest) -> list[T] | Reply:
    """The items after the marker (in ``items``' order), at most ``page.limit``; 400 for an unknown marker."""
    start = 0
    if page.marker is not None:
        found = next((i for i, item in enumerate(items) if key(item) == page.marker), None)
        if found is None:
            return marker_not_found(page.marker)
        start = found + 1
    return list(items[start : start + page.limit])


def next_links(
    ctx: RequestContext, req: ClientRequest, collection: str, shown: int, last: str | None
) -> list[Json]:
    """``[{"rel": "next", "href": ...}]`` when the page is full (Nova's rule), else ``[]``. ``collection``
    is the path under the project (``os-keypairs``, ``servers/<id>/os-instance-actions``)."""
    page = page_request(req)
    if not page.limit or shown != page.limit or last is None:
        return []
    params = [(k, v) for k in sorted(req.query) if k != "marker" for v in req.query[k]]
    params.append(("marker", last))
    params.sort(key=lambda kv: kv[0])
    project = f"/{quote(ctx.tenant, safe='')}" if ctx.tenant else ""
    href = f"{ctx.config.public_url}/compute/v2.1{project}/{collection}?{urlencode(params)}"
    return [{"rel": "next", "href": href}]
