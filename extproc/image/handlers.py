"""Glance v2 handlers: ``GET /image``, ``/image/v2/images[/{id}]``, ``/image/v2/schemas/image[s]``.

Glance URLs carry no project, so image reads use Arktos's short path: the ConfigMap ``openstack-images`` of
the caller's own tenant, fetched with the caller's token (Arktos authorizes it; 404 gives the defaults).
The version document and the schemas need no Arktos call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from extproc.catalog import (
    IMAGE_STATUSES,
    IMAGE_VISIBILITIES,
    Image,
    canonical_image_id,
)
from extproc.catalog_reads import read_images
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, not_found
from extproc.image import schemas, views
from extproc.messages import (
    JSON_CONTENT_TYPE,
    ClientRequest,
    Outcome,
    Reply,
)

# glance-api.conf [DEFAULT] limit_param_default / api_limit_max
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


def _json(status: int, body: Any) -> Reply:
    return Reply(status=status, body=orjson.dumps(body), headers={"content-type": JSON_CONTENT_TYPE})


def _bad(message: str) -> Reply:
    return bad_request(Service.IMAGE, message)


def image_not_found(image_id: str) -> Reply:
    return not_found(Service.IMAGE, f"No image found with ID {image_id}")


# ---------------------------------------------------------------------------------------------------------
# Answered by the processor


def versions(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    # NOTE: Glance answers its root with 300 Multiple Choices and no Location header (fixture 01).
    return _json(300, views.versions(ctx.config))


def image_schema(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _json(200, schemas.image_schema())


def images_schema(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _json(200, schemas.images_schema())


# ---------------------------------------------------------------------------------------------------------
# Show


def show_image(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    requested = params["image_id"]
    image_id = canonical_image_id(requested)
    if image_id is None:
        # NOTE: clients try a name here first and need this 404 (fixture 02); no id can match a non-UUID.
        return image_not_found(requested)

    def answer(images: list[Image]) -> Reply:
        for image in images:
            if image.id == image_id:
                return _json(200, views.image(image))
        return image_not_found(requested)

    # A snapshot the cache knows of: read that tenant's ConfigMap, so Arktos decides whether the caller may
    # see it, and a snapshot not recorded yet can be shown once it has (see extproc.snapshots).
    action = ctx.cluster.snapshot_action(image_id) if ctx.cluster is not None else None
    owner = str((action.get("metadata") or {}).get("tenant") or "") if action is not None else ""
    if not owner:
        return read_images(ctx, Service.IMAGE, answer)
    return read_images(ctx, Service.IMAGE, answer, owner, image_not_found(requested))


# ---------------------------------------------------------------------------------------------------------
# List

# Query parameters that are not image attributes.
_PAGING = frozenset({"limit", "marker", "sort_key", "sort_dir", "sort", "member_status"})
# Filters Glance accepts with an "in:a,b" list.
_IN_FILTERS = frozenset({"id", "name", "status", "container_format", "disk_format"})
_STRING_FILTERS: Mapping[str, Callable[[Image], str | None]] = {
    "id": lambda i: i.id,
    "name": lambda i: i.name,
    "status": lambda i: i.status,
    "disk_format": lambda i: i.disk_format,
    "container_format": lambda i: i.container_format,
    "owner": lambda i: i.owner,
    "checksum": lambda i: i.checksum,
    "os_hash_value": lambda i: i.os_hash_value,
}
# Glance's time filters use operators (gte:2021-...); not supported here, and ignored rather than matched.
_IGNORED = frozenset({"created_at", "updated_at"})
_SORT_KEYS: Mapping[str, Callable[[Image], Any]] = {
    "created_at": lambda i: i.created_at,
    "updated_at": lambda i: i.updated_at,
    "id": lambda i: i.id,
    "name": lambda i: i.name,
    "status": lambda i: i.status,
    "visibility": lambda i: i.visibility,
    "disk_format": lambda i: i.disk_format,
    "container_format": lambda i: i.container_format,
    "size": lambda i: i.size or 0,
    "virtual_size": lambda i: i.virtual_size or 0,
    "min_ram": lambda i: i.min_ram,
    "min_disk": lambda i: i.min_disk,
    "owner": lambda i: i.owner or "",
}


@dataclass(frozen=True, slots=True)
class _ListQuery:
    wanted: Callable[[Image], bool]
    sort: tuple[tuple[str, bool], ...]  # (key, descending)
    limit: int
    marker: str | None


def _boolean(name: str, raw: str) -> bool | Reply:
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes", "on", "t", "y"):
        return True
    if lowered in ("false", "0", "no", "off", "f", "n"):
        return False
    return _bad(f"Invalid value '{raw}' for {name} filter: expected true or false")


Predicate = Callable[[Image], bool]


def _one_of(get: Callable[[Image], str | None], allowed: frozenset[str]) -> Predicate:
    return lambda image: get(image) in allowed


def _attribute_is(attribute: str, value: object) -> Predicate:
    return lambda image: bool(getattr(image, attribute) == value)


def _size_between(low: int | None, high: int | None) -> Predicate:
    def check(image: Image) -> bool:
        if image.size is None:
            return False
        return (low is None or image.size >= low) and (high is None or image.size <= high)

    return check


def _has_tags(tags: frozenset[str]) -> Predicate:
    return lambda image: tags.issubset(image.tags)


def _property_is(name: str, value: str) -> Predicate:
    return lambda image: image.properties.get(name) == value


def _filters(req: ClientRequest) -> Callable[[Image], bool] | Reply:
    checks: list[Callable[[Image], bool]] = []
    visibility = req.query_one("visibility")
    hidden: bool | None = False  # os_hidden images are left out unless asked for
    for name in req.query:
        raw = req.query_one(name)
        if raw is None or name in _PAGING or name in _IGNORED:
            continue
        if name == "visibility":
            if raw != "all" and raw not in IMAGE_VISIBILITIES:
                return _bad(f"Invalid visibility value: {raw}")
        elif name in _STRING_FILTERS:
            values = raw[3:].split(",") if name in _IN_FILTERS and raw.startswith("in:") else [raw]
            if name == "status" and any(v not in IMAGE_STATUSES for v in values):
                return _bad(f"Invalid status value: {raw}")
            if name == "id":
                values = [canonical_image_id(v) or v for v in values]
            checks.append(_one_of(_STRING_FILTERS[name], frozenset(values)))
        elif name in ("protected", "os_hidden"):
            flag = _boolean(name, raw)
            if isinstance(flag, Reply):
                return flag
            if name == "os_hidden":
                hidden = flag
            else:
                checks.append(_attribute_is("protected", flag))
        elif name in ("size_min", "size_max"):
            try:
                bound = int(raw)
            except ValueError:
                return _bad(f"Invalid value for {name}: {raw}")
            if name == "size_min":
                checks.append(_size_between(bound, None))
            else:
                checks.append(_size_between(None, bound))
        elif name == "tag":
            tags = frozenset(req.query.get("tag", []))
            checks.append(_has_tags(tags))
        else:
            # NOTE: Glance treats any other parameter as a filter on an extra property.
            checks.append(_property_is(name, raw))
    if visibility is None:
        # Glance's default list: everything the caller may see except community images.
        checks.append(lambda i: i.visibility != "community")
    elif visibility != "all":
        checks.append(_attribute_is("visibility", visibility))
    if hidden is not None:
        checks.append(_attribute_is("os_hidden", hidden))
    return lambda image: all(check(image) for check in checks)


def _sort(req: ClientRequest) -> tuple[tuple[str, bool], ...] | Reply:
    pairs: list[tuple[str, bool]] = []
    sort = req.query_one("sort")
    if sort is not None:
        if req.query_one("sort_key") is not None or req.query_one("sort_dir") is not None:
            return _bad("The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'")
        for item in sort.split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key, (direction or "desc") == "desc"))
            if direction not in ("", "asc", "desc"):
                return _bad(f"Invalid sort direction: {direction}")
    else:
        keys = req.query.get("sort_key") or ["created_at"]
        dirs = req.query.get("sort_dir") or ["desc"]
        if len(dirs) > 1 and len(dirs) != len(keys):
            return _bad("Number of sort dirs does not match the number of sort keys")
        for index, key in enumerate(keys):
            direction = dirs[index] if len(dirs) > 1 else dirs[0]
            if direction not in ("asc", "desc"):
                return _bad(f"Invalid sort direction: {direction}")
            pairs.append((key, direction == "desc"))
    for key, _descending in pairs:
        if key not in _SORT_KEYS:
            return _bad(
                f"Invalid sort key: {key}. It should be one of the following: {', '.join(_SORT_KEYS)}"
            )
    # NOTE: Glance always appends created_at and id so the order (and so the marker) is total.
    seen = {key for key, _ in pairs}
    last_descending = pairs[-1][1]
    for key in ("created_at", "id"):
        if key not in seen:
            pairs.append((key, last_descending))
    return tuple(pairs)


def _parse_list(req: ClientRequest) -> _ListQuery | Reply:
    limit = DEFAULT_LIMIT
    raw_limit = req.query_one("limit")
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            return _bad("limit param must be an integer")
        if limit < 0:
            return _bad("limit param must be positive")
        limit = min(limit, MAX_LIMIT)
    wanted = _filters(req)
    if isinstance(wanted, Reply):
        return wanted
    sort = _sort(req)
    if isinstance(sort, Reply):
        return sort
    return _ListQuery(wanted=wanted, sort=sort, limit=limit, marker=req.query_one("marker") or None)


def _ordered(images: list[Image], sort: tuple[tuple[str, bool], ...]) -> list[Image]:
    ordered = list(images)
    # Stable sorts from the least significant key up give a mixed-direction multi-key order.
    for key, descending in reversed(sort):
        ordered.sort(key=_SORT_KEYS[key], reverse=descending)
    return ordered


def _link_query(req: ClientRequest, marker: str | None) -> str:
    # NOTE: Glance rebuilds links from dict(request.params): one (the last) value per name, first-seen
    # order, marker dropped from "first" and replaced in "next".
    params = {name: values[-1] for name, values in req.query.items() if values and name != "marker"}
    if marker is not None:
        params["marker"] = marker
    return urlencode(params)


def list_images(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    query = _parse_list(req)
    if isinstance(query, Reply):
        return query

    def answer(images: list[Image]) -> Reply:
        ordered = _ordered(images, query.sort)
        start = 0
        if query.marker is not None:
            marker = canonical_image_id(query.marker) or query.marker
            for index, image in enumerate(ordered):
                if image.id == marker:
                    start = index + 1
                    break
            else:
                return _bad(f"marker [{query.marker}] not found")
        page = [image for image in ordered[start:] if query.wanted(image)][: query.limit]
        first_query = _link_query(req, None)
        first = "/v2/images" + (f"?{first_query}" if first_query else "")
        next_href = None
        if page and len(page) == query.limit:
            next_href = f"/v2/images?{_link_query(req, page[-1].id)}"
        return _json(200, views.image_list(page, first, next_href))

    return read_images(ctx, Service.IMAGE, answer)
