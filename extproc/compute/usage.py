"""Nova's simple tenant usage (``/os-simple-tenant-usage``) from the tenants' VM pods.

- ``GET /os-simple-tenant-usage?start=&end=&detailed=1``: every tenant's usage (Nova's admin-only index): one
  list of ``/api/v1/tenants/all/pods`` with the client's token, so only whom Arktos lets read every tenant
  gets it (Nova's policy 403 otherwise).
- ``GET /os-simple-tenant-usage/{project}?start=&end=``: one tenant's usage, always with its servers: one
  list of that tenant's pods with the client's token (``{"tenant_usage": {}}`` when it has no server in the
  period, as Nova).

Nova's arithmetic (``simple_tenant_usage.py``): a server is billed from its start to its end (or the end of
the period), clipped to the period, in hours; totals multiply those hours by its vCPUs, memory (MiB) and
disk (GiB). Here a server's life is its VM pod's: it starts at the pod's ``creationTimestamp`` and ends at
its ``deletionTimestamp`` (a server being deleted: ``terminated``). Arktos forgets a pod once it is deleted,
so servers deleted before the request are not counted (Nova keeps deleted instances in its database): the
usage is that of the servers that still exist. vCPUs and memory are the VM's own resources
(``spec.virtualMachine.resources``), the flavor's name and disk come from the tenant's flavor catalog.

``start``/``end`` take Nova's three formats (``2024-01-20T10:00:00``, with ``.ffffff``, or
``2024-01-20 10:00:00.ffffff``); an omitted one is now, an end past now is now, and a start that is not
before the end is Nova's 400.

At most ``CONF.api.max_limit`` (1,000) servers are counted, oldest first, as Nova does. From 2.40 the servers
are paged with ``limit`` and ``marker`` (a server id; unknown: 400), and a full page carries
``tenant_usages_links`` (``tenant_usage_links`` for one tenant) to the next; from 2.75 an unknown query
parameter is a 400.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from extproc import annotations as keys
from extproc import arktos_paths
from extproc.catalog import CatalogStore
from extproc.compute import marker_paging, tenant_quota
from extproc.compute.query_schema import PAGINATION, STRING, QuerySchema, multi
from extproc.compute.server_fields import (
    display_name,
    is_server,
    parse_time,
    server_id,
    state_of,
    tenant_of,
    usage_time,
)
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, from_arktos
from extproc.messages import (
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
    json_reply,
)

Json = dict[str, Any]
_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")
INVALID_TIME = "Invalid datetime string: Datetime is in invalid format"
START_AFTER_END = "Invalid start time. The start time cannot occur after the end time."
Version = tuple[int, int]

PAGING_FROM: Version = (2, 40)
_PERIOD = {"start": multi(STRING), "end": multi(STRING)}
# Nova's index_query, index_query_v240 (show: the same without ``detailed``); strict from 2.75.
_INDEX_QUERIES = {
    False: QuerySchema({**_PERIOD, "detailed": multi(STRING)}),
    True: QuerySchema({**_PERIOD, "detailed": multi(STRING), **PAGINATION}),
}
_SHOW_QUERIES = {False: QuerySchema(_PERIOD), True: QuerySchema({**_PERIOD, **PAGINATION})}


def _first(req: ClientRequest, name: str) -> str | None:
    # Nova reads these with urlparse.parse_qs(...).get(name, [None])[0]: the first value.
    values = req.query.get(name)
    return values[0] if values else None


def parse_time_param(value: str | None, now: datetime) -> datetime | None:
    """A ``start``/``end`` value as an aware UTC datetime (``now`` when absent), None if invalid."""
    if not value:
        return now
    for fmt in _FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def period(req: ClientRequest, now: datetime) -> tuple[datetime, datetime] | str:
    """Nova's (start, stop) of the request, stop clipped to now; or its 400 message."""
    start = parse_time_param(_first(req, "start"), now)
    stop = parse_time_param(_first(req, "end"), now)
    if start is None or stop is None:
        return INVALID_TIME
    if not start < stop:
        return START_AFTER_END
    return start, min(stop, now)


def _hours(started: datetime, ended: datetime | None, start: datetime, stop: datetime) -> float:
    if ended is not None and ended < start:
        return 0
    if started > stop:
        return 0
    end = min(stop, ended) if ended is not None else stop
    return (end - max(started, start)).total_seconds() / 3600.0


def server_usage(
    pod: Mapping[str, Any], catalog: CatalogStore, start: datetime, stop: datetime, now: datetime
) -> Json | None:
    """One ``server_usages`` entry, None when the server did not exist during the period."""
    meta = pod.get("metadata") or {}
    started = parse_time(meta.get("creationTimestamp"))
    if started is None or started >= stop:
        return None
    ended = parse_time(meta.get("deletionTimestamp"))
    if ended is not None and ended <= start:
        return None
    tenant = tenant_of(pod)
    annotations = meta.get("annotations") or {}
    flavor = catalog.find_flavor(tenant, str(annotations.get(keys.FLAVOR_ID) or "")) if annotations else None
    hours = _hours(started, ended, start, stop)
    return {
        "ended_at": usage_time(ended) if ended is not None else None,
        "flavor": flavor.name if flavor is not None else "",
        "hours": hours,
        "instance_id": server_id(pod),
        "local_gb": (flavor.disk + flavor.ephemeral) if flavor is not None else 0,
        "memory_mb": tenant_quota.vm_ram_mb(pod),
        "name": display_name(pod),
        "started_at": usage_time(started),
        "state": "terminated" if ended is not None else state_of(pod).vm_state,
        "tenant_id": tenant,
        "uptime": int(((ended or now) - started).total_seconds()),
        "vcpus": tenant_quota.vm_cores(pod),
    }


def server_usages(
    pods: Iterable[Mapping[str, Any]], catalog: CatalogStore, start: datetime, stop: datetime, now: datetime
) -> list[Json]:
    """The ``server_usages`` entries of the servers of ``pods`` that existed during the period, in order."""
    found = (server_usage(pod, catalog, start, stop, now) for pod in pods if is_server(pod))
    return [info for info in found if info is not None]


def summaries(infos: Iterable[Json], start: datetime, stop: datetime, detailed: bool) -> list[Json]:
    """Nova's per-tenant summaries of server usages, in the order their tenants first appear."""
    found: dict[str, Json] = {}
    for info in infos:
        summary = found.get(info["tenant_id"])
        if summary is None:
            summary = {"tenant_id": info["tenant_id"]}
            if detailed:
                summary["server_usages"] = []
            summary.update(
                total_local_gb_usage=0,
                total_vcpus_usage=0,
                total_memory_mb_usage=0,
                total_hours=0,
                start=usage_time(start),
                stop=usage_time(stop),
            )
            found[info["tenant_id"]] = summary
        summary["total_local_gb_usage"] += info["local_gb"] * info["hours"]
        summary["total_vcpus_usage"] += info["vcpus"] * info["hours"]
        summary["total_memory_mb_usage"] += info["memory_mb"] * info["hours"]
        summary["total_hours"] += info["hours"]
        if detailed:
            summary["server_usages"].append(info)
    return list(found.values())


def tenant_usages(
    pods: Iterable[Mapping[str, Any]],
    catalog: CatalogStore,
    start: datetime,
    stop: datetime,
    now: datetime,
    detailed: bool,
) -> list[Json]:
    """Nova's per-tenant summaries of ``pods``' servers, in the order their tenants first appear."""
    return summaries(server_usages(pods, catalog, start, stop, now), start, stop, detailed)


def _counted(infos: list[Json], req: ClientRequest, version: Version) -> list[Json] | Reply:
    """The servers a request counts: the first 1,000 at 2.1, its page from 2.40."""
    if version < PAGING_FROM:
        return infos[: marker_paging.MAX_LIMIT]
    return marker_paging.page_of(
        infos, lambda info: str(info["instance_id"]), marker_paging.page_request(req)
    )


def _links(
    ctx: RequestContext, req: ClientRequest, version: Version, collection: str, page: list[Json]
) -> list[Json]:
    if version < PAGING_FROM:
        return []
    last = str(page[-1]["instance_id"]) if page else None
    return marker_paging.next_links(ctx, req, collection, len(page), last)


def _pods(reply: ArktosReply) -> list[Mapping[str, Any]] | None:
    if reply.status != 200:
        return None
    try:
        listed = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None
    items = listed.get("items") if isinstance(listed, dict) else None
    if not isinstance(items, list):
        return None
    # Nova orders by instance creation; Arktos lists by name.
    pods: list[Mapping[str, Any]] = [p for p in items if isinstance(p, dict)]
    pods.sort(key=lambda p: (str((p.get("metadata") or {}).get("creationTimestamp") or ""), server_id(p)))
    return pods


def _now() -> datetime:
    return datetime.now(UTC)


def list_usage(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``GET /os-simple-tenant-usage``: every tenant's usage (whom Arktos lets list every tenant's pods)."""
    version = ctx.compute_version
    refused = _INDEX_QUERIES[version >= PAGING_FROM].refusal(req, version)
    if refused is not None:
        return refused
    now = _now()
    found = period(req, now)
    if isinstance(found, str):
        return bad_request(Service.COMPUTE, found)
    start, stop = found
    detailed = _first(req, "detailed") == "1"
    catalog = ctx.catalog

    def translate(reply: ArktosReply) -> Reply:
        pods = _pods(reply)
        if pods is None:
            return from_arktos(Service.COMPUTE, reply)
        page = _counted(server_usages(pods, catalog, start, stop, now), req, version)
        if isinstance(page, Reply):
            return page
        body: Json = {"tenant_usages": summaries(page, start, stop, detailed)}
        links = _links(ctx, req, version, "os-simple-tenant-usage", page)
        if links:
            body["tenant_usages_links"] = links
        return json_reply(200, body)

    return Forward(ArktosRequest("GET", arktos_paths.all_tenants_pods()), translate)


def show_usage(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``GET /os-simple-tenant-usage/{project}``: that tenant's usage with its servers."""
    tenant = params["tenant_id"]
    version = ctx.compute_version
    refused = _SHOW_QUERIES[version >= PAGING_FROM].refusal(req, version)
    if refused is not None:
        return refused
    now = _now()
    found = period(req, now)
    if isinstance(found, str):
        return bad_request(Service.COMPUTE, found)
    start, stop = found
    catalog = ctx.catalog

    def translate(reply: ArktosReply) -> Reply:
        pods = _pods(reply)
        if pods is None:
            return from_arktos(Service.COMPUTE, reply)
        page = _counted(server_usages(pods, catalog, start, stop, now), req, version)
        if isinstance(page, Reply):
            return page
        usages = summaries(page, start, stop, detailed=True)
        body: Json = {"tenant_usage": usages[0] if usages else {}}
        links = _links(ctx, req, version, f"os-simple-tenant-usage/{tenant}", page)
        if links:
            body["tenant_usage_links"] = links
        return json_reply(200, body)

    return Forward(ArktosRequest("GET", arktos_paths.pods(tenant, ctx.config.namespace)), translate)
