"""Batch creates (``min_count``/``max_count`` > 1) and the members Arktos refused to create.

A batch is one ``POST replicasets`` (``extproc.compute.batch`` builds it); the reply waits for the first
member on the watch cache. Members Arktos refused to create show as ERROR servers
``<reservation>-failed-<i>`` (cache path of the lists, ``GET`` via the ReplicaSet, ``DELETE`` lowers its
replicas).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from extproc import annotations as keys
from extproc import arktos_paths
from extproc.cluster_cache import ClusterView
from extproc.compute import batch, idempotency
from extproc.compute.create_request import RESERVATION_ID_RE, CreateRequest
from extproc.compute.replies import arktos_error, instance_not_found, load_json, view_for
from extproc.compute.server_fields import server_id
from extproc.compute.server_view import ServerView
from extproc.context import RequestContext
from extproc.errors import Service, error_reply
from extproc.messages import (
    JSON_CONTENT_TYPE,
    JSON_PATCH_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    Forward,
    Outcome,
    Reply,
    json_reply,
)

Json = dict[str, Any]


def create_batch(
    ctx: RequestContext,
    create: CreateRequest,
    count: int,
    pod: Json,
    reservation_id: str,
    view: ServerView,
    retry: idempotency.RetryHandle | None = None,
) -> Outcome:
    """More than one server (``count``: ``max_count``, or fewer when the quota says so): one
    ``POST replicasets`` (see ``extproc.compute.batch``).

    The reply needs the first server's id, which does not exist when Arktos answers the ReplicaSet POST:
    the controller names its pods ``<rs>-<5 random chars>`` afterwards. So the reply waits (asynchronously,
    at most ``FIRST_SERVER_WAIT_SECONDS``) on the processor's watch cache until the first member appears,
    and answers with it; the wait ends with the controller's first pod, so it does not grow with the batch.
    ``return_reservation_id`` needs no member and answers at once.

    If no member appears in time (or the processor has no watch), the reply's server id is the reservation
    id: ``GET /servers/<reservation id>`` shows the batch's first server as soon as it exists (see
    ``server_item.show_server``), so a client polling it (``openstack server create --wait``) gets there too.
    If the controller reports that it cannot create any pod (``ReplicaFailure``: quota, admission) before a
    member exists, the reply is that error; the reconciler deletes the empty ReplicaSet.
    """
    replicaset = batch.build_replicaset(pod, reservation_id, count)
    namespace = ctx.config.namespace
    cluster = ctx.cluster

    def created(sid: str) -> Reply:
        return json_reply(202, {"server": view.create(sid)}, {"location": view.self_url(sid)})

    async def translate(reply: ArktosReply) -> Reply:
        # A retried batch finds its ReplicaSet (named by the retry handle) and answers as the first did.
        retried = retry is not None and idempotency.already_created(reply)
        if reply.status not in (200, 201, 202) and not retried:
            return arktos_error(reply)
        if create.return_reservation_id:
            return json_reply(202, {"reservation_id": reservation_id})
        body = load_json(reply.body)
        tenant = str(((body or {}).get("metadata") or {}).get("tenant") or ctx.tenant or "")
        if cluster is None or not tenant:
            return created(reservation_id)

        def probe() -> str | batch.CreationFailure | None:
            assert cluster is not None
            return _first_member_or_failure(cluster, tenant, namespace, reservation_id)

        outcome = await cluster.wait_for(probe, batch.FIRST_SERVER_WAIT_SECONDS)
        if isinstance(outcome, batch.CreationFailure):
            return error_reply(Service.COMPUTE, outcome.status, outcome.message)
        if isinstance(outcome, str):
            # The reply's server is the batch's first: every view and the reconciler index it 1.
            cluster.note_first_member(tenant, namespace, reservation_id, outcome)
            return created(outcome)
        return created(reservation_id)

    upstream = ArktosRequest(
        method="POST",
        path=arktos_paths.replicasets(ctx.tenant, namespace),
        body=orjson.dumps(replicaset),
        content_type=JSON_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


def batch_members(cluster: ClusterView, tenant: str, namespace: str, reservation_id: str) -> list[Json]:
    return [
        dict(p)
        for p in cluster.pods_with_label(tenant, namespace, keys.RESERVATION_ID, reservation_id)
        if batch.is_member(p) and batch.is_live(p)
    ]


def _first_member_or_failure(
    cluster: ClusterView, tenant: str, namespace: str, reservation_id: str
) -> str | batch.CreationFailure | None:
    first = batch.first_member(batch_members(cluster, tenant, namespace, reservation_id))
    if first is not None:
        return first
    for rs in cluster.replicasets_with_label(keys.RESERVATION_ID):
        meta = rs.get("metadata") or {}
        where = (meta.get("tenant"), meta.get("namespace"), meta.get("name"))
        if where == (tenant, namespace, reservation_id):
            message = batch.creation_failure(rs)
            if message is None or not batch.made_nothing(rs):
                # Still creating, or the controller made pods the pod watch has not shown yet.
                return None
            return batch.failure_reply(message)
    return None


def failed_servers(cluster: ClusterView, tenant: str | None, namespace: str) -> list[Json]:
    """The batch members Arktos refused to create, in a list's scope (tenant None: every tenant), as ERROR
    servers (``batch.failed_members``). ReplicaSets exist only while a batch is being created, so this scans
    a handful of objects."""
    found: list[Json] = []
    for rs in cluster.replicasets_with_label(keys.RESERVATION_ID):
        if batch.creation_failure(rs) is None:
            continue
        rs_tenant, rs_namespace, reservation = batch.batch_key(rs)
        if rs_namespace != namespace or (tenant is not None and rs_tenant != tenant):
            continue
        members = batch_members(cluster, rs_tenant, namespace, reservation)
        found.extend(batch.failed_members(rs, members))
    return found


def batch_named(ctx: RequestContext, pod: Mapping[str, Any]) -> Mapping[str, Any]:
    """``pod`` with the name the batch reconciler will write, if it is a member not named yet.

    A single pod does not tell its index: the other members come from the watch cache (without one, the
    member shows the name the client asked for until the reconciler names it, within moments).
    """
    cluster = ctx.cluster
    if cluster is None or not batch.is_member(pod) or batch.index_of(pod) is not None:
        return pod
    tenant, namespace, reservation = batch.batch_key(pod)
    siblings = cluster.pods_with_label(tenant, namespace, keys.RESERVATION_ID, reservation)
    return batch.name_for(pod, siblings)


def first_of_batch(ctx: RequestContext, reservation_id: str) -> Mapping[str, Any] | None:
    """The first server of a batch, for a client that got the reservation id as the server id (the create
    reply could not wait for the first member, see ``create_batch``)."""
    cluster = ctx.cluster
    if cluster is None or ctx.tenant is None or not RESERVATION_ID_RE.fullmatch(reservation_id):
        return None
    members = batch_members(cluster, ctx.tenant, ctx.config.namespace, reservation_id)
    first = batch.first_member(members)
    return next((p for p in members if server_id(p) == first), None)


def _cached_replicaset(ctx: RequestContext, reservation: str) -> Mapping[str, Any] | None:
    """The batch's ReplicaSet in the cache: in the URL's tenant, or (short path) the only one of that name."""
    cluster = ctx.cluster
    if cluster is None:
        return None
    found = [
        rs
        for rs in cluster.replicasets_with_label(keys.RESERVATION_ID)
        if batch.batch_key(rs)[1:] == (ctx.config.namespace, reservation)
        and (rs.get("metadata") or {}).get("name") == reservation
        and (ctx.tenant is None or batch.batch_key(rs)[0] == ctx.tenant)
    ]
    return found[0] if len(found) == 1 else None


def _failed_indices(ctx: RequestContext, rs: Mapping[str, Any]) -> list[int]:
    """The missing members of ``rs``: indices of the existing ones from the cache, else (no cache) taken to
    be the first ``status.replicas`` (what ``assign_indices`` gives a batch nobody deleted from)."""
    tenant, namespace, reservation = batch.batch_key(rs)
    if ctx.cluster is not None:
        return batch.failed_indices_of(rs, batch_members(ctx.cluster, tenant, namespace, reservation))
    made = (rs.get("status") or {}).get("replicas", 0)
    made = made if isinstance(made, int) else 0
    return batch.failed_indices(rs, range(1, made + 1), made)


def show_failed_member(ctx: RequestContext, sid: str, reservation: str, index: int) -> Forward:
    """``GET /servers/<reservation>-failed-<i>``: one GET of the ReplicaSet (Arktos authorizes it), shown as
    that missing member while the controller still reports it missing; 404 once the ReplicaSet is gone or
    the member exists."""
    view = view_for(ctx)

    def translate(reply: ArktosReply) -> Reply:
        if reply.status != 200:
            return arktos_error(reply, sid)
        rs = load_json(reply.body)
        if not isinstance(rs, dict) or index not in _failed_indices(ctx, rs):
            return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
        return json_reply(200, {"server": view.show(batch.failed_member(rs, index))})

    upstream = ArktosRequest(
        method="GET", path=arktos_paths.replicaset(ctx.tenant, ctx.config.namespace, reservation)
    )
    return Forward(upstream, translate)


def delete_failed_member(ctx: RequestContext, sid: str, reservation: str, index: int) -> Forward:
    """``DELETE /servers/<reservation>-failed-<i>``: give that missing member up for good.

    One JSON patch of the ReplicaSet lowering ``spec.replicas`` by one, conditional on the ReplicaSet being
    as the cache shows it (``batch.remove_failed_patch``): if the controller has created the member
    meanwhile, Arktos refuses (a failed test: 422, answered 409) instead of scaling a live server away.
    Once replicas equals the pods that exist, the reconciler names and detaches the batch as usual.
    When the cache knows no such missing member, the patch is one Arktos always refuses after authorizing
    the caller, so Arktos (not the cache) answers: 403, 404, or (refused test) Nova's 404.
    """
    rs = _cached_replicaset(ctx, reservation)
    possible = rs is not None and index in _failed_indices(ctx, rs)
    patch = batch.remove_failed_patch(rs) if rs is not None and possible else batch.IMPOSSIBLE_REPLICAS_PATCH

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            return Reply(status=204)
        if reply.status in (409, 422):
            if not possible:
                return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
            return error_reply(
                Service.COMPUTE,
                409,
                f"Cannot 'delete' instance {sid} while its batch is changing (Arktos may have created it "
                "meanwhile); list the servers again.",
            )
        return arktos_error(reply, sid)

    upstream = ArktosRequest(
        method="PATCH",
        path=arktos_paths.replicaset(ctx.tenant, ctx.config.namespace, reservation),
        body=orjson.dumps(patch),
        content_type=JSON_PATCH_CONTENT_TYPE,
    )
    return Forward(upstream, translate)
