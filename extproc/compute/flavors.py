"""Nova flavors (``/flavors``, ``/flavors/detail``, ``/flavors/{id}``, ``/flavors/{id}/os-extra_specs``).

Every read becomes a GET of the tenant's ``openstack-flavors`` ConfigMap, sent with the client's token so
Arktos authorizes it; the reply is answered from that ConfigMap (404: the built-in DevStack flavors).
Shapes follow Nova at microversion 2.1 (``nova/api/openstack/compute/views/flavors.py``, fixtures 05/06).

The Nova list helpers at the bottom (limit/marker parsing, ``*_links``) are shared with ``images``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from jsonschema import Draft4Validator

from extproc.catalog_entries import Flavor
from extproc.catalog_reads import read_flavors
from extproc.catalog_rendered import RenderKey, query_key
from extproc.compute.query_schema import ALL_QUERIES_STRICT_FROM, STRING, QuerySchema, multi
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, echo, not_found
from extproc.messages import (
    ClientRequest,
    Outcome,
    Reply,
    json_reply,
)
from extproc.query_regex import Pattern, Refused, compile_filter

# CONF.api.max_limit
NOVA_MAX_LIMIT = 1000


# ---------------------------------------------------------------------------------------------------------
# Views


def compute_links(ctx: RequestContext, collection: str, item_id: str) -> list[dict[str, str]]:
    """Nova's self and bookmark links; legacy project URLs keep the project segment."""
    project = f"/{quote(ctx.tenant, safe='')}" if ctx.tenant else ""
    item = quote(item_id, safe="")
    base = f"{ctx.config.public_url}/compute"
    return [
        {"rel": "self", "href": f"{base}/v2.1{project}/{collection}/{item}"},
        {"rel": "bookmark", "href": f"{base}{project}/{collection}/{item}"},
    ]


def flavor_basic(ctx: RequestContext, flavor: Flavor) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": flavor.id,
        "name": flavor.name,
        "links": compute_links(ctx, "flavors", flavor.id),
    }
    if ctx.compute_version >= (2, 55):
        view["description"] = flavor.description
    return view


def flavor_show(ctx: RequestContext, flavor: Flavor) -> dict[str, Any]:
    """Nova's flavor view (``nova/api/openstack/compute/views/flavors.py`` ``show``), gated as it is."""
    # Key order as Nova's view (fixture 06).
    view: dict[str, Any] = {
        "id": flavor.id,
        "name": flavor.name,
        "ram": flavor.ram,
        "disk": flavor.disk,
        # NOTE: below 2.75 Nova shows "no swap" as an empty string, not 0.
        "swap": flavor.swap or "",
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral,
        "OS-FLV-DISABLED:disabled": flavor.disabled,
        "vcpus": flavor.vcpus,
        "os-flavor-access:is_public": flavor.is_public,
        "rxtx_factor": flavor.rxtx_factor,
        "links": compute_links(ctx, "flavors", flavor.id),
    }
    version = ctx.compute_version
    if version >= (2, 55):
        view["description"] = flavor.description
    if version >= (2, 61):
        # Nova's default policy lets every project reader see extra specs (os-flavor-extra-specs:index).
        view["extra_specs"] = dict(flavor.extra_specs)
    if version >= (2, 75):
        view["swap"] = flavor.swap  # no swap is 0 from 2.75 (below: "")
    if version >= (2, 102):
        del view["OS-FLV-DISABLED:disabled"], view["rxtx_factor"]
    return view


def flavor_not_found(flavor_id: str) -> Reply:
    return not_found(Service.COMPUTE, f"Flavor {flavor_id} could not be found.")


# ---------------------------------------------------------------------------------------------------------
# Handlers


def list_flavors(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _list(ctx, req, detail=False)


def list_flavors_detail(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _list(ctx, req, detail=True)


def show_flavor(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    flavor_id = params["flavor_id"]

    def answer(flavors: list[Flavor]) -> Reply:
        # NOTE: by id only, as Nova: clients try the name here first and rely on the 404 (fixture 04).
        for flavor in flavors:
            if flavor.id == flavor_id:
                return json_reply(200, {"flavor": flavor_show(ctx, flavor)})
        return flavor_not_found(flavor_id)

    return read_flavors(ctx, req.auth_token, answer, compute_render_key(ctx, "show", flavor_id))


def compute_render_key(
    ctx: RequestContext, *what: str | bool | tuple[tuple[str, tuple[str, ...]], ...]
) -> RenderKey:
    """What a Nova catalog reply (flavors, Nova's image list) reads besides the catalog
    (``extproc.catalog_rendered``): ``what`` (the kind of reply and its own inputs), the microversion
    (fields), the URL's project and the public URL (links)."""
    return (*what, ctx.compute_version, ctx.tenant, ctx.config.public_url)


def show_extra_specs(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    flavor_id = params["flavor_id"]

    def answer(flavors: list[Flavor]) -> Reply:
        for flavor in flavors:
            if flavor.id == flavor_id:
                return json_reply(200, {"extra_specs": dict(flavor.extra_specs)})
        return flavor_not_found(flavor_id)

    return read_flavors(ctx, req.auth_token, answer)


def show_extra_spec(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    flavor_id, key = params["flavor_id"], params["spec_key"]

    def answer(flavors: list[Flavor]) -> Reply:
        for flavor in flavors:
            if flavor.id == flavor_id:
                if key in flavor.extra_specs:
                    return json_reply(200, {key: flavor.extra_specs[key]})
                return not_found(Service.COMPUTE, f"Flavor {flavor_id} has no extra specs with key {key}.")
        return flavor_not_found(flavor_id)

    return read_flavors(ctx, req.auth_token, answer)


# ---------------------------------------------------------------------------------------------------------
# Lists: filters, sort, pagination

_SORT_KEYS: Mapping[str, Callable[[Flavor], Any]] = {
    # Nova's database column names, and the API's names for the same fields.
    "flavorid": lambda f: f.id,
    "id": lambda f: f.id,
    "name": lambda f: f.name,
    "memory_mb": lambda f: f.ram,
    "ram": lambda f: f.ram,
    "vcpus": lambda f: f.vcpus,
    "root_gb": lambda f: f.disk,
    "disk": lambda f: f.disk,
    "ephemeral_gb": lambda f: f.ephemeral,
    "swap": lambda f: f.swap,
    "rxtx_factor": lambda f: f.rxtx_factor,
    "is_public": lambda f: f.is_public,
    "disabled": lambda f: f.disabled,
}

_TRUE = ("1", "t", "true", "on", "y", "yes")
_FALSE = ("0", "f", "false", "off", "n", "no")


@dataclass(frozen=True, slots=True)
class _FlavorQuery:
    min_ram: int | None
    min_disk: int | None
    # True: public ones and those the project may use (all of a tenant's ConfigMap); False: private only;
    # None: all.
    is_public: bool | None
    sort_key: str
    reverse: bool
    page: NovaPage
    name: Pattern | None = None


# Nova's index_query schema (the values are checked below, in Nova's words): from 2.75 any other query
# parameter is a 400 (index_query_v275), and 2.102 adds the name filter (index_query_v2102).
_QUERY_PARAMETERS = ("limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir")
_QUERY = QuerySchema({name: multi(STRING) for name in _QUERY_PARAMETERS})
_QUERY_V2102 = QuerySchema({name: multi(STRING) for name in (*_QUERY_PARAMETERS, "name")})


def _parse_query(ctx: RequestContext, req: ClientRequest) -> _FlavorQuery | Reply:
    schema = _QUERY_V2102 if ctx.compute_version >= ALL_QUERIES_STRICT_FROM else _QUERY
    refused = schema.refusal(req, ctx.compute_version)
    if refused is not None:
        return refused

    def integer(name: str, label: str) -> int | Reply | None:
        raw = req.query_one(name)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            return bad_request(Service.COMPUTE, f"Invalid {label} filter [{echo(raw)}]")

    min_ram = integer("minRam", "minRam")
    if isinstance(min_ram, Reply):
        return min_ram
    min_disk = integer("minDisk", "minDisk")
    if isinstance(min_disk, Reply):
        return min_disk
    raw_public = req.query_one("is_public")
    is_public: bool | None = True
    if raw_public is not None:
        lowered = raw_public.strip().lower()
        if lowered == "none":
            is_public = None
        elif lowered in _TRUE:
            is_public = True
        elif lowered in _FALSE:
            is_public = False
        else:
            return bad_request(Service.COMPUTE, f"Invalid is_public filter [{echo(raw_public)}]")
    sort_key = req.query_one("sort_key") or "flavorid"
    if sort_key not in _SORT_KEYS:
        return bad_request(Service.COMPUTE, f"Invalid sort key: {sort_key}")
    sort_dir = (req.query_one("sort_dir") or "asc").lower()
    if sort_dir not in ("asc", "desc"):
        return bad_request(Service.COMPUTE, f"Invalid sort direction: {sort_dir}")
    page = parse_nova_page(req)
    if isinstance(page, Reply):
        return page
    name: Pattern | None = None
    raw_name = req.query_one("name") if ctx.compute_version >= (2, 102) else None
    if raw_name:
        # Nova matches the name as a regex (2.102); run in linear time as the server list's.
        compiled = compile_filter("name", raw_name)
        if isinstance(compiled, Refused):
            return bad_request(Service.COMPUTE, compiled.message)
        name = compiled
    return _FlavorQuery(min_ram, min_disk, is_public, sort_key, sort_dir == "desc", page, name)


def _wanted(query: _FlavorQuery, flavor: Flavor) -> bool:
    if flavor.disabled:
        return False  # Nova hides disabled flavors from non-admin lists; show still finds them
    if query.min_ram is not None and flavor.ram < query.min_ram:
        return False
    if query.min_disk is not None and flavor.disk < query.min_disk:
        return False
    if query.name is not None and query.name.search(flavor.name) is None:
        return False
    # Every flavor of the tenant's ConfigMap is accessible to the tenant: is_public=True (the default)
    # means "public or accessible", i.e. all of them.
    return query.is_public is not False or not flavor.is_public


def _list(ctx: RequestContext, req: ClientRequest, detail: bool) -> Outcome:
    query = _parse_query(ctx, req)
    if isinstance(query, Reply):
        return query
    collection = "flavors/detail" if detail else "flavors"
    view = flavor_show if detail else flavor_basic

    def answer(flavors: list[Flavor]) -> Reply:
        key = _SORT_KEYS[query.sort_key]
        # id breaks ties, in the same direction (Nova's paginate_query appends the primary key).
        ordered = sorted(flavors, key=lambda f: (key(f), f.id), reverse=query.reverse)
        page = query.page.select(ordered, lambda f: f.id, lambda f: _wanted(query, f))
        if isinstance(page, Reply):
            return page
        body: dict[str, Any] = {"flavors": [view(ctx, f) for f in page]}
        links = query.page.links(ctx, req, collection, [f.id for f in page])
        if links:
            body["flavors_links"] = links
        return json_reply(200, body)

    kind = "detail" if detail else "index"
    return read_flavors(ctx, req.auth_token, answer, compute_render_key(ctx, kind, query_key(req.query)))


@dataclass(frozen=True, slots=True)
class NovaPage:
    """Nova's ``limit``/``marker`` (``nova/api/openstack/common.py``)."""

    limit: int
    marker: str | None

    def select(
        self,
        ordered: Sequence[Any],
        id_of: Callable[[Any], str],
        wanted: Callable[[Any], bool],
    ) -> list[Any] | Reply:
        """The page of ``ordered`` after the marker, keeping only ``wanted`` items; 400 for a bad marker."""
        start = 0
        if self.marker is not None:
            for index, item in enumerate(ordered):
                if id_of(item) == self.marker:
                    start = index + 1
                    break
            else:
                return bad_request(Service.COMPUTE, f"marker [{echo(self.marker)}] not found")
        return [item for item in ordered[start:] if wanted(item)][: self.limit]

    def links(
        self, ctx: RequestContext, req: ClientRequest, collection: str, ids: Sequence[str]
    ) -> list[dict[str, str]]:
        """``[{"rel": "next", ...}]`` when the page is full, as Nova's ``_get_collection_links``."""
        if not self.limit or len(ids) != self.limit:
            return []
        # NOTE: Nova rebuilds the query from every parameter, sorted, with the marker replaced.
        params: OrderedDict[str, str] = OrderedDict(
            sorted((name, value) for name, values in req.query.items() for value in values)
        )
        params["marker"] = ids[-1]
        project = f"/{quote(ctx.tenant, safe='')}" if ctx.tenant else ""
        href = f"{ctx.config.public_url}/compute/v2.1{project}/{collection}?{urlencode(params)}"
        return [{"rel": "next", "href": href}]


# Nova's pagination_parameters limit: non_negative_integer (nova/api/validation/parameter_types.py).
_LIMIT_VALIDATOR = Draft4Validator({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minLength": 1})


def nova_limit(raw: str | None) -> int | Reply:
    """``limit`` as Nova's list APIs read it (``common.get_limit_and_marker``): at most ``max_limit``, and
    ``0`` is an empty page, not "no limit"; anything but digits is the query schema's 400."""
    if raw is None:
        return NOVA_MAX_LIMIT
    for error in _LIMIT_VALIDATOR.iter_errors(raw):
        return bad_request(
            Service.COMPUTE, f"Invalid input for query parameters limit. Value: {echo(raw)}. {error.message}"
        )
    # NOTE: a limit longer than the maximum's digits is above it (and Python refuses int() of 4,300+ digits).
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(NOVA_MAX_LIMIT)):
        return NOVA_MAX_LIMIT
    return min(int(digits), NOVA_MAX_LIMIT)


def parse_nova_page(req: ClientRequest) -> NovaPage | Reply:
    limit = nova_limit(req.query_one("limit"))
    if isinstance(limit, Reply):
        return limit
    marker = req.query_one("marker")
    return NovaPage(limit=limit, marker=marker or None)
