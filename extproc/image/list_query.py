"""Glance v2's image list query: filters, sorting and paging parameters, as Glance reads them.

Glance's ``ImagesController.index`` and its database layer (``glance/db/sqlalchemy/api.py``,
``_make_conditions_from_filters``) define the semantics followed here: ``name``/``id``/``status``/
``container_format``/``disk_format`` take ``in:a,"b,c"`` (quoted values may hold commas) or ``eq:``;
``created_at``/``updated_at`` take ``gt:``/``gte:``/``lt:``/``lte:``/``eq:``/``neq:`` and an ISO 8601
time; ``size_min``/``size_max`` integers; ``tag`` (repeatable) all of them; ``visibility``,
``os_hidden``, ``protected``, ``member_status``; any other name filters an extra property. Pure: the
handler (``extproc.image.handlers``) applies the result to the images it read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from extproc.catalog_entries import IMAGE_STATUSES, IMAGE_VISIBILITIES, Image, canonical_image_id
from extproc.errors import Service, bad_request
from extproc.messages import ClientRequest, Reply

# glance-api.conf [DEFAULT] limit_param_default / api_limit_max
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


def _bad(message: str) -> Reply:
    return bad_request(Service.IMAGE, message)


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
_TIME_FILTERS: Mapping[str, Callable[[Image], str]] = {
    "created_at": lambda i: i.created_at,
    "updated_at": lambda i: i.updated_at,
}
_COMPARISONS: Mapping[str, Callable[[datetime, datetime], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "neq": lambda a, b: a != b,
    "eq": lambda a, b: a == b,
}
MEMBER_STATUSES = frozenset({"pending", "accepted", "rejected", "all"})
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


def parse_isotime(raw: str) -> datetime | None:
    """oslo's ``parse_isotime`` (iso8601): a time without a zone is UTC; None if it is not ISO 8601."""
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def split_filter_op(expression: str) -> tuple[str, str]:
    """Glance's ``utils.split_filter_op``: ``op:value``, or ``eq`` when there is no operator (a bare ISO
    time such as ``2021-01-01T00:00:00+02:00`` has colons but no operator)."""
    left, sep, right = expression.partition(":")
    if not sep or parse_isotime(expression) is not None:
        return "eq", expression
    return left, right


# Glance's ``split_filter_value_for_quotes``: "quoted, values" keep their commas.
_IN_VALUE = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)",?|([^,]+),?|,')


def split_in_values(value: str) -> list[str] | Reply:
    """The values of an ``in:`` list, with Glance's quote checks (``utils.validate_quotes``)."""
    open_quote = True
    for i, ch in enumerate(value):
        if ch != '"' or (i and value[i - 1] == "\\"):
            continue
        if open_quote and i and value[i - 1] != ",":
            return _bad(f"Invalid filter value {value}. There is no comma before opening quotation mark.")
        if not open_quote and i + 1 != len(value) and value[i + 1] != ",":
            return _bad(f"Invalid filter value {value}. There is no comma after closing quotation mark.")
        open_quote = not open_quote
    if not open_quote:
        return _bad(f"Invalid filter value {value}. The quote is not closed.")
    return [quoted or plain for quoted, plain in _IN_VALUE.findall(value)]


def _time_filter(name: str, raw: str) -> Predicate | Reply:
    operator, threshold_raw = split_filter_op(raw)
    threshold = parse_isotime(threshold_raw)
    if threshold is None:
        return _bad(f'Bad "{name}" query filter format. Use ISO 8601 DateTime notation.')
    compare = _COMPARISONS.get(operator)
    if compare is None:
        return _bad("Unable to filter on a unknown operator.")
    get = _TIME_FILTERS[name]

    def check(image: Image) -> bool:
        moment = parse_isotime(get(image))
        return moment is not None and compare(moment, threshold)

    return check


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
        if raw is None or name in _PAGING:
            continue
        if name == "visibility":
            if raw != "all" and raw not in IMAGE_VISIBILITIES:
                return _bad(f"Invalid visibility value: {raw}")
        elif name == "changes-since":
            return _bad('The "changes-since" filter is no longer available on v2.')
        elif name in _TIME_FILTERS:
            check = _time_filter(name, raw)
            if isinstance(check, Reply):
                return check
            checks.append(check)
        elif name in _STRING_FILTERS:
            values: list[str] = [raw]
            if name in _IN_FILTERS:
                operator, value = split_filter_op(raw)
                if operator == "in":
                    split = split_in_values(value)
                    if isinstance(split, Reply):
                        return split
                    values = split
                elif operator == "eq":
                    values = [value]
                else:
                    return _bad(f"Unable to filter by unknown operator '{operator}'.")
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


def parse_list(req: ClientRequest) -> _ListQuery | Reply:
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
    member_status = req.query_one("member_status")
    if member_status is not None and member_status not in MEMBER_STATUSES:
        return _bad(f"Invalid status: {member_status}")
    wanted = _filters(req)
    if isinstance(wanted, Reply):
        return wanted
    sort = _sort(req)
    if isinstance(sort, Reply):
        return sort
    return _ListQuery(wanted=wanted, sort=sort, limit=limit, marker=req.query_one("marker") or None)


def ordered_images(images: list[Image], sort: tuple[tuple[str, bool], ...]) -> list[Image]:
    ordered = list(images)
    # Stable sorts from the least significant key up give a mixed-direction multi-key order.
    for key, descending in reversed(sort):
        ordered.sort(key=_SORT_KEYS[key], reverse=descending)
    return ordered


def link_query(req: ClientRequest, marker: str | None) -> str:
    # NOTE: Glance rebuilds links from dict(request.params): one (the last) value per name, first-seen
    # order, marker dropped from "first" and replaced in "next".
    params = {name: values[-1] for name, values in req.query.items() if values and name != "marker"}
    if marker is not None:
        params["marker"] = marker
    return urlencode(params)
