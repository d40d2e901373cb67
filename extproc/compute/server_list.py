"""``GET /servers`` and ``/servers/detail``: Arktos authorizes the list (``GET pods`` of the tenant, short
or all-tenants path, ``limit=1``) and the processor answers from its watch-fed cache, or, without a cache
that shows the client's own writes, from Arktos's whole list; either way it keeps the VM pods, filters,
sorts newest first and pages like Nova (limit, marker, ``servers_links``). See ``_list``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

import orjson
import structlog

from extproc import annotations as keys
from extproc import arktos_paths
from extproc.arktos_client import ArktosUnavailable
from extproc.cluster_cache import ClusterView
from extproc.cluster_cache import tenant_of as cache_tenant
from extproc.compute import batch, server_pages
from extproc.compute.batch_create import failed_servers
from extproc.compute.list_query import ListQuery, parse_list_query
from extproc.compute.paging import (
    Ordered,
    Page,
    next_link,
    order_servers,
    select_page,
    with_servers,
)
from extproc.compute.replies import arktos_error, load_json, view_for
from extproc.compute.server_view import ServerView
from extproc.context import RequestContext
from extproc.errors import Service, error_reply
from extproc.ids import is_label_value
from extproc.messages import (
    JSON_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
)

log = structlog.get_logger("extproc.compute.server_list")

Json = dict[str, Any]

# How long a list waits for the pod watch to reach the revision Arktos authorized it at before the processor
# reads the list from Arktos itself (the watch is normally milliseconds behind: Kubernetes's watch cache waits
# up to 3 s for the same reason; a shorter bound keeps a list after another kind's write cheap).
FRESHNESS_WAIT_SECONDS = 0.25


def _list_reply(view: ServerView, req: ClientRequest, detail: bool, page: Page | Reply) -> Reply:
    """The page as Nova's list body, joined from the prerendered servers (``ServerView.detail_json``)."""
    if isinstance(page, Reply):
        return page
    items = view.detail_json(page.pods) if detail else view.index_json(page.pods)
    parts = [b'{"servers":[', b",".join(items), b"]"]
    if page.next_marker is not None:
        links = [{"rel": "next", "href": next_link(view, req, detail, page.next_marker)}]
        parts += [b',"servers_links":', orjson.dumps(links)]
    parts.append(b"}")
    return Reply(200, b"".join(parts), {"content-type": JSON_CONTENT_TYPE})


def _list_items(reply: ArktosReply) -> list[Any] | Reply:
    """The items of an Arktos pod list, or the reply the client gets instead."""
    listed = _pod_list(reply)
    return listed if isinstance(listed, Reply) else listed[0]


def _pod_list(reply: ArktosReply) -> tuple[list[Any], str | None] | Reply:
    """The items of an Arktos pod list and its collection resourceVersion, or the client's reply instead."""
    if reply.status != 200:
        return arktos_error(reply)
    return _parsed_pod_list(load_json(reply.body))


def _parsed_pod_list(listed: Any) -> tuple[list[Any], str | None] | Reply:
    items = listed.get("items") if isinstance(listed, dict) else None
    if not isinstance(items, list):
        return error_reply(Service.COMPUTE, 500, "Arktos answered the pod list with an unexpected body.")
    meta = listed.get("metadata") if isinstance(listed, dict) else None
    version = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return items, str(version) if version else None


def _list(ctx: RequestContext, req: ClientRequest, detail: bool) -> Outcome:
    """A server list: answered from the watch-fed cache when it can be, else from Arktos's whole list.

    Arktos authorizes every list either way. With a cache that is synced and already shows every pod write
    that went through this processor for the tenant (``ClusterView.caught_up``: read-your-writes), the
    request goes to Arktos as the very same list (path, verb, selector) with ``limit=1``: Arktos checks
    that the caller may list pods there (tenant, short or all-tenants path) exactly as for the full list,
    and its reply is one pod instead of all of them (28 MB for 10,000 servers, parsed per request). The
    servers then come from the cache: that tenant's pods (all tenants' for ``all_tenants``; for the short
    path, the tenant Arktos resolved, read from the probe's pod; a probe without any pod means the caller
    has no pod in the namespace at all, so the list is empty). A non-2xx probe is translated as the list's
    error would be.

    Why decide before forwarding rather than wait in the translation: a Forward is one Arktos call, so once
    the probe has gone out, a cache that cannot catch up leaves nothing correct to answer with. Checked
    here, the fallback is the real full list. A write's reply passes through this processor (and is noted
    in the cache, see ``extproc.app``) before the client can send its next request, so a client's own
    writes are always known when its list arrives; the watch has usually applied them by then (it was
    sent when Arktos committed the write, before Arktos replied).

    Several replicas: a write through another processor is not in this one's memory; the probe's revision
    covers it (``_list_from_cache``).

    Writes made outside the gateway (kubectl, controllers, the node agent's status updates) show up as
    soon as the watch delivers them: a list may be that much (milliseconds, more if the watch is down
    and reconnecting) behind Arktos for them, as a Nova list is behind its compute nodes.
    """
    query = parse_list_query(req, ctx.config.namespace, ctx.compute_version)
    if isinstance(query, Reply):
        return query
    view = view_for(ctx)
    # A reservation filter is also a label selector: Arktos sends only that batch (the filter in
    # ``ListQuery.wants`` still applies; a value that is no label value matches nothing there).
    selector: dict[str, str] = {}
    if query.reservation_id is not None and is_label_value(query.reservation_id):
        selector["labelSelector"] = f"{keys.RESERVATION_ID}={query.reservation_id}"

    cluster = ctx.cluster
    scope = None if query.all_tenants else ctx.tenant
    if cluster is not None and cluster.synced and cluster.caught_up(scope):
        return _list_from_cache(ctx, req, detail, query, view, cluster, selector)

    def translate(reply: ArktosReply) -> Reply:
        items = _list_items(reply)
        if isinstance(items, Reply):
            return items
        return _from_full_list(view, req, detail, query, cluster, items)

    return Forward(ArktosRequest(method="GET", path=_path(ctx, query, selector)), translate)


def _from_full_list(
    view: ServerView,
    req: ClientRequest,
    detail: bool,
    query: ListQuery,
    cluster: ClusterView | None,
    items: list[Any],
) -> Reply:
    if cluster is not None:
        # The member a create reply answered with is index 1 here too (the cache remembers it).
        items = batch.mark_first_members(items, cluster.first_member_hint)
    # Batch members not named yet show the name the reconciler will give them (name filters see it).
    # NOTE: members Arktos refused to create (``batch.failed_members``) are not shown on this path: they
    # come from the ReplicaSet, which this one pod list does not include; the cache path shows them.
    return _list_reply(view, req, detail, select_page(order_servers(items), query))


def _list_from_cache(
    ctx: RequestContext,
    req: ClientRequest,
    detail: bool,
    query: ListQuery,
    view: ServerView,
    cluster: ClusterView,
    selector: dict[str, str],
) -> Forward:
    """The list from the cache, authorized by Arktos with the ``limit=1`` probe, and never older than the
    revision Arktos reports on that probe (see ``extproc.read_your_writes``): a write acknowledged by Arktos
    before the list (through any replica, or outside the gateway) is at or below it. A cache whose pod watch
    has not reached it waits up to ``FRESHNESS_WAIT_SECONDS`` for its watch, then the processor reads the
    list from Arktos itself with its own credential (the very scope Arktos has just let the caller list) and
    answers from that, as without a cache."""
    namespace = ctx.config.namespace
    arktos = ctx.arktos
    catalog = ctx.catalog

    def from_cache(tenant: str | None) -> Reply:
        def with_refused_members() -> Ordered:
            # Built once per change of the scope's pods or ReplicaSets, not per list: a batch with many
            # refused members costs its first list, never every later one.
            ordered = cluster.derived(tenant, namespace, order_servers)
            failed = failed_servers(cluster, tenant, namespace)
            return with_servers(ordered, failed) if failed else ordered

        def render() -> Reply:
            ordered = cluster.memoized(
                tenant, namespace, "servers-with-refused-members", with_refused_members
            )
            return _list_reply(view, req, detail, select_page(ordered, query))

        # The whole page, memoized by everything it is rendered from (``extproc.compute.server_pages``).
        key = server_pages.PageKey(
            detail, view.render_key, tenant, namespace, server_pages.query_key(req.query)
        )
        return server_pages.PAGES.page(
            key, lambda: (cluster.scope_stamp(tenant, namespace), catalog.generation), render
        )

    async def from_arktos(tenant: str | None, revision: int) -> Reply:
        if await cluster.wait_for(
            lambda: cluster.shows_revision(tenant, namespace, revision) or None, FRESHNESS_WAIT_SECONDS
        ):
            return from_cache(tenant)
        unavailable = error_reply(
            Service.COMPUTE, 503, "The server list could not be read from Arktos; please retry the request."
        )
        if arktos is None:
            return unavailable
        path = (
            arktos_paths.all_tenants_pods(selector)
            if tenant is None
            else arktos_paths.pods(tenant, namespace, selector)
        )
        try:
            status, body = await arktos.request("GET", path)
        except ArktosUnavailable:
            log.warning("list_fallback_failed", path=path)
            return unavailable
        if status != 200:
            log.warning("list_fallback_failed", path=path, status=status)
            return unavailable
        listed = _parsed_pod_list(body)
        if isinstance(listed, Reply):
            return listed
        items, listed_version = listed
        at = cluster.revision(listed_version)
        if (
            tenant is not None
            and not selector
            and at is not None
            and _same_pods(cluster, tenant, namespace, items)
        ):
            cluster.note_scope_current(tenant, namespace, at)
        return _from_full_list(view, req, detail, query, cluster, items)

    def translate(reply: ArktosReply) -> Reply | Awaitable[Reply]:
        listed = _pod_list(reply)
        if isinstance(listed, Reply):
            return listed
        items, version = listed
        if query.all_tenants:
            tenant = None
        elif ctx.tenant is not None:
            tenant = ctx.tenant
        elif items and isinstance(items[0], dict):
            tenant = cache_tenant(items[0])
        else:
            # The short path's tenant is the caller's, which only Arktos knows; it listed no pod at all
            # (at the revision of this very list: nothing to wait for).
            return _list_reply(view, req, detail, select_page(order_servers([]), query))
        revision = cluster.revision(version)
        if revision is None or cluster.shows_revision(tenant, namespace, revision):
            return from_cache(tenant)
        return from_arktos(tenant, revision)

    # ``direct``: the processor sends the probe itself with the client's token and answers at once (one
    # ext_proc exchange instead of three, ``extproc.direct_reads``); Arktos decides as for Envoy's.
    probe = ArktosRequest(method="GET", path=_path(ctx, query, {**selector, "limit": "1"}))
    return Forward(probe, translate, direct=True)


def _path(ctx: RequestContext, query: ListQuery, params: dict[str, str]) -> str:
    if query.all_tenants:
        return arktos_paths.all_tenants_pods(params)
    return arktos_paths.pods(ctx.tenant, ctx.config.namespace, params)


def _versions(pods: list[Mapping[str, Any]]) -> dict[str, str]:
    return {str(p["metadata"].get("name")): str(p["metadata"].get("resourceVersion")) for p in pods}


def _same_pods(cluster: ClusterView, tenant: str, namespace: str, items: list[Any]) -> bool:
    """True if Arktos listed exactly the VM pods (names, resourceVersions) the cache holds for the scope."""
    listed = {
        str((i.get("metadata") or {}).get("name")): str((i.get("metadata") or {}).get("resourceVersion"))
        for i in items
        if isinstance(i, dict) and isinstance((i.get("spec") or {}).get("virtualMachine"), dict)
    }
    return listed == cluster.derived(tenant, namespace, _versions)


def list_servers(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _list(ctx, req, detail=False)


def list_servers_detail(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _list(ctx, req, detail=True)
