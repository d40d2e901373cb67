"""``GET /servers`` and ``/servers/detail``: Arktos authorizes the list (``GET pods`` of the tenant, short
or all-tenants path, ``limit=1``) and the processor answers from its watch-fed cache, or, without a cache
that shows the client's own writes, from Arktos's whole list; either way it keeps the VM pods, filters,
sorts newest first and pages like Nova (limit, marker, ``servers_links``). See ``_list``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from extproc import annotations as keys
from extproc import arktos_paths
from extproc.cluster_cache import ClusterView
from extproc.cluster_cache import tenant_of as cache_tenant
from extproc.compute import batch
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

Json = dict[str, Any]


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
    if reply.status != 200:
        return arktos_error(reply)
    listed = load_json(reply.body)
    items = listed.get("items") if isinstance(listed, dict) else None
    if not isinstance(items, list):
        return error_reply(Service.COMPUTE, 500, "Arktos answered the pod list with an unexpected body.")
    return items


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

    Writes made outside the gateway (kubectl, controllers, the node agent's status updates) show up as
    soon as the watch delivers them: a list may be that much (milliseconds, more if the watch is down
    and reconnecting) behind Arktos for them, as a Nova list is behind its compute nodes.
    """
    query = parse_list_query(req, ctx.config.namespace)
    if isinstance(query, Reply):
        return query
    view = view_for(ctx)
    # A reservation filter is also a label selector: Arktos sends only that batch (the filter in
    # ``ListQuery.wants`` still applies; a value that is no label value matches nothing there).
    selector: dict[str, str] = {}
    if query.reservation_id is not None and is_label_value(query.reservation_id):
        selector["labelSelector"] = f"{keys.RESERVATION_ID}={query.reservation_id}"

    def path(params: dict[str, str]) -> str:
        if query.all_tenants:
            return arktos_paths.all_tenants_pods(params)
        return arktos_paths.pods(ctx.tenant, ctx.config.namespace, params)

    cluster = ctx.cluster
    scope = None if query.all_tenants else ctx.tenant
    if cluster is not None and cluster.synced and cluster.caught_up(scope):
        return _list_from_cache(ctx, req, detail, query, view, cluster, path({**selector, "limit": "1"}))

    def translate(reply: ArktosReply) -> Reply:
        items = _list_items(reply)
        if isinstance(items, Reply):
            return items
        if cluster is not None:
            # The member a create reply answered with is index 1 here too (the cache remembers it).
            items = batch.mark_first_members(items, cluster.first_member_hint)
        # Batch members not named yet show the name the reconciler will give them (name filters see it).
        # NOTE: members Arktos refused to create (``batch.failed_members``) are not shown on this path: they
        # come from the ReplicaSet, which this one pod list does not include; the cache path shows them.
        return _list_reply(view, req, detail, select_page(order_servers(items), query))

    return Forward(ArktosRequest(method="GET", path=path(selector)), translate)


def _list_from_cache(
    ctx: RequestContext,
    req: ClientRequest,
    detail: bool,
    query: ListQuery,
    view: ServerView,
    cluster: ClusterView,
    probe_path: str,
) -> Forward:
    namespace = ctx.config.namespace
    # The probe's pod is read only to learn the short path's tenant: with the tenant known, a 2xx is all
    # the answer needs, and Envoy need not send the pod (``Forward.body_on_success``).
    tenant_known = query.all_tenants or ctx.tenant is not None

    def translate(reply: ArktosReply) -> Reply:
        if tenant_known and 200 <= reply.status < 300:
            # Envoy sent the status only (the body was not asked for).
            return answer(None if query.all_tenants else ctx.tenant)
        items = _list_items(reply)
        if isinstance(items, Reply):
            return items
        if items and isinstance(items[0], dict):
            return answer(cache_tenant(items[0]))
        # The short path's tenant is the caller's, which only Arktos knows; it listed no pod at all.
        return _list_reply(view, req, detail, select_page(order_servers([]), query))

    def answer(tenant: str | None) -> Reply:
        return _list_reply(view, req, detail, select_page(ordered_scope(tenant), query))

    def ordered_scope(tenant: str | None) -> Ordered:
        def with_refused_members() -> Ordered:
            # Built once per change of the scope's pods or ReplicaSets, not per list: a batch with many
            # refused members costs its first list, never every later one.
            ordered = cluster.derived(tenant, namespace, order_servers)
            failed = failed_servers(cluster, tenant, namespace)
            return with_servers(ordered, failed) if failed else ordered

        return cluster.memoized(tenant, namespace, "servers-with-refused-members", with_refused_members)

    return Forward(ArktosRequest(method="GET", path=probe_path), translate, body_on_success=not tenant_known)


def list_servers(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _list(ctx, req, detail=False)


def list_servers_detail(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _list(ctx, req, detail=True)
