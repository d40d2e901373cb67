"""``GET``, ``PUT`` (rename: patch of the display-name annotation) and ``DELETE /servers/{id}``.

With a cache that can decide, writes carry the cached VM pod's uid as a precondition (never a container
pod of that name), and an id it does not know is a 404 without Arktos; see ``known_server``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from extproc import annotations as keys
from extproc import arktos_paths
from extproc.compute import batch, schemas, server_lock
from extproc.compute.batch_create import batch_named, delete_failed_member, first_of_batch, show_failed_member
from extproc.compute.query_schema import ALL_QUERIES_STRICT_FROM, QuerySchema
from extproc.compute.replies import (
    arktos_error,
    instance_not_found,
    load_json,
    request_json,
    view_for,
)
from extproc.compute.server_fields import AVAILABILITY_ZONE, is_server
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, error_reply
from extproc.messages import (
    JSON_CONTENT_TYPE,
    JSON_PATCH_CONTENT_TYPE,
    MERGE_PATCH_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
    json_reply,
)

Json = dict[str, Any]


def _server_reply(sid: str, render: Callable[[Mapping[str, Any]], Json]) -> Callable[[ArktosReply], Reply]:
    """A translate for a reply carrying one pod: 200 with ``{"server": render(pod)}``, 404 unless a VM."""

    def translate(reply: ArktosReply) -> Reply:
        if reply.status != 200:
            return arktos_error(reply, sid)
        pod = load_json(reply.body)
        if not is_server(pod):
            return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
        return json_reply(200, {"server": render(pod)})

    return translate


# Nova's show_query: no parameters; any is a 400 from 2.102.
_SHOW_QUERY = QuerySchema({}, strict_from=ALL_QUERIES_STRICT_FROM)


def show_server(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    sid = params["server_id"]
    refused = _SHOW_QUERY.refusal(req, ctx.compute_version)
    if refused is not None:
        return refused
    failed = batch.parse_failed_member_id(sid)
    if failed is not None:
        return show_failed_member(ctx, sid, *failed)
    view = view_for(ctx)
    upstream = ArktosRequest(method="GET", path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid))
    found = _server_reply(sid, lambda pod: view.show(batch_named(ctx, pod)))

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 404:
            first = first_of_batch(ctx, sid)
            if first is not None:
                return json_reply(200, {"server": view.show(batch_named(ctx, first))})
        return found(reply)

    def from_cache(tenant: str) -> Reply | None:
        # Arktos has just let this token GET this very pod in ``tenant`` (extproc.access_cache): the
        # watch cache answers when it shows every write this processor made there (read-your-writes) and
        # holds the VM pod; anything else (a batch member not named yet, a pod gone) asks Arktos.
        cluster = ctx.cluster
        if cluster is None or not cluster.synced or not cluster.caught_up(tenant):
            return None
        pod = cluster.pod(tenant, ctx.config.namespace, sid)
        if pod is None or not is_server(pod):
            return None
        # The pod is Arktos's version as the watch delivered it: prerendered (issue 13, lever 2's memo).
        body = b'{"server":' + view.show_json(batch_named(ctx, pod)) + b"}"
        return Reply(200, body, {"content-type": JSON_CONTENT_TYPE})

    return Forward(upstream, translate, from_cache)


class Unknown:
    """The cache cannot tell whether a server id names a VM pod (see ``known_server``)."""


UNKNOWN = Unknown()
# A uid no object has: a precondition Arktos checks after authorizing the caller, and always refuses.
NO_OBJECT_UID = "00000000-0000-0000-0000-000000000000"


def known_server(ctx: RequestContext, token: str | None, sid: str) -> Mapping[str, Any] | Reply | Unknown:
    """What the watch cache knows of server ``sid`` before a write (DELETE, PUT) reaches Arktos.

    Only VM pods are servers, but Arktos deletes or patches any pod of that name. So when the cache is
    synced and has applied every pod write of the tenant that went through this processor (``caught_up``,
    as for lists), the write goes to Arktos with the cached pod's uid as a precondition: Arktos then acts
    on exactly that VM pod, never on a container pod (or a newer pod) of the same name. Answers:

    - the cached VM pod: the precondition's uid comes from it;
    - a 404 ``Reply``: the cache knows no VM pod of that name in the URL's tenant and Arktos has recently
      let this token into that tenant (``tenant_proofs``: a 404 from the cache tells nothing the caller
      could not ask Arktos);
    - ``{}`` (no pod): the cache knows none but may not say so (no proof, or the short path, whose tenant
      only Arktos knows): the write carries ``NO_OBJECT_UID``, so Arktos authorizes and refuses
      (404, or 409 for a pod that is no server: answered 404);
    - ``UNKNOWN``: no synced cache, or it has not caught up with the tenant's writes: the write is
      forwarded as it is (Arktos alone decides, as before the cache existed).
    """
    cluster = ctx.cluster
    if cluster is None or not cluster.synced:
        return UNKNOWN
    namespace = ctx.config.namespace
    tenant = ctx.tenant if ctx.tenant is not None else cluster.locate_pod(namespace, sid)
    if not cluster.caught_up(tenant):
        return UNKNOWN
    pod = cluster.pod(tenant, namespace, sid) if tenant is not None else None
    if pod is not None and (pod.get("metadata") or {}).get("uid"):
        return pod
    if (
        pod is None
        and ctx.tenant is not None
        and ctx.proofs is not None
        and ctx.proofs.proven(token, ctx.tenant)
    ):
        return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
    return {} if pod is None else UNKNOWN


def _precondition_failed(reply: ArktosReply, guarded: bool) -> bool:
    """Arktos refused the uid precondition: not the server the gateway knows (it went, or is no VM)."""
    return guarded and reply.status in (409, 422)


def _uid_of(known: Mapping[str, Any]) -> str:
    return str((known.get("metadata") or {}).get("uid") or "") or NO_OBJECT_UID


def _annotation_path(key: str) -> str:
    # JSON pointer escaping (RFC 6901): "~" then "/".
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


def rename_patch(known: Mapping[str, Any], changes: Mapping[str, str]) -> list[Json]:
    """The PUT's annotation changes as a JSON patch that applies only to the pod with the known uid."""
    ops: list[Json] = [{"op": "test", "path": "/metadata/uid", "value": _uid_of(known)}]
    if not changes:
        return ops
    if isinstance((known.get("metadata") or {}).get("annotations"), dict):
        ops.extend({"op": "add", "path": _annotation_path(k), "value": v} for k, v in changes.items())
    else:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": dict(changes)})
    return ops


def pin_change(requested: str | None, known: Mapping[str, Any] | Unknown) -> str | Reply:
    """2.104's ``pinned_availability_zone`` in a PUT (servers.py ``update``): null unpins; a zone pins the
    server to the zone it is in (Arktos has one, "nova") unless it is pinned to another. The annotation's
    new value ("" for none), or Nova's 409."""
    if requested is None:
        return ""
    current = None
    if isinstance(known, Mapping):
        found = (known.get("metadata") or {}).get("annotations") or {}
        current = found.get(keys.PINNED_AZ) or None
    if current is not None and requested != current:
        return error_reply(
            Service.COMPUTE,
            409,
            "Cannot change pinned availability zone directly. Unpin first by setting "
            "pinned_availability_zone to null.",
        )
    if requested != AVAILABILITY_ZONE:
        return error_reply(
            Service.COMPUTE,
            409,
            f"Server can only be pinned to its current availability zone '{AVAILABILITY_ZONE}', but "
            f"'{requested}' was requested.",
        )
    return requested


def update_server(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    sid = params["server_id"]
    body = request_json(req)
    if isinstance(body, Reply):
        return body
    problem = schemas.validate_update(body, ctx.compute_version)
    if problem is not None:
        return bad_request(Service.COMPUTE, problem)
    if batch.parse_failed_member_id(sid) is not None:
        # A member Arktos never created has nothing to rename (Nova cannot rename a server it lost either).
        return error_reply(
            Service.COMPUTE, 409, f"Cannot 'update' instance {sid} while it is in vm_state error"
        )
    server: Mapping[str, Any] = body["server"]
    changes: dict[str, str] = {}
    for field, key in (
        ("name", keys.DISPLAY_NAME),
        ("accessIPv4", keys.ACCESS_IPV4),
        ("accessIPv6", keys.ACCESS_IPV6),
    ):
        if field in server:
            changes[key] = server[field] if field == "name" else schemas.canonical_ip(server[field])
    # The schema of the request's microversion lets these through only from 2.19, 2.90 and 2.104.
    if "description" in server:
        # Null removes the description.
        changes[keys.DESCRIPTION] = orjson.dumps(server["description"]).decode()
    if "hostname" in server:
        changes[keys.HOSTNAME] = server["hostname"]
    known = known_server(ctx, req.auth_token, sid)
    if isinstance(known, Reply):
        return known
    if "pinned_availability_zone" in server:
        pinned = pin_change(server["pinned_availability_zone"], known)
        if isinstance(pinned, Reply):
            return pinned
        changes[keys.PINNED_AZ] = pinned
    view = view_for(ctx)
    path = arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)
    found = _server_reply(sid, view.update)
    if isinstance(known, Unknown):
        patch: Json = {"metadata": {"annotations": changes}} if changes else {}
        return Forward(ArktosRequest("PATCH", path, orjson.dumps(patch), MERGE_PATCH_CONTENT_TYPE), found)

    def translate(reply: ArktosReply) -> Reply:
        if _precondition_failed(reply, True):
            return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
        return found(reply)

    body_ = orjson.dumps(rename_patch(known, changes))
    return Forward(ArktosRequest("PATCH", path, body_, JSON_PATCH_CONTENT_TYPE), translate)


def delete_server(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    sid = params["server_id"]
    failed = batch.parse_failed_member_id(sid)
    if failed is not None:
        return delete_failed_member(ctx, sid, *failed)
    known = known_server(ctx, req.auth_token, sid)
    if isinstance(known, Reply):
        return known
    guarded = not isinstance(known, Unknown)
    if not isinstance(known, Unknown):
        # Nova's @check_instance_lock: a DELETE has no precondition on annotations, so the cache decides.
        locked = server_lock.guard(ctx, req.auth_token, sid, known or None)
        if locked is not None:
            return locked

    def translate(reply: ArktosReply) -> Reply:
        # Arktos answers a pod DELETE with 200 and the pod (deletionTimestamp set), or 202.
        if reply.status in (200, 202):
            return Reply(status=204)
        if _precondition_failed(reply, guarded):
            return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
        return arktos_error(reply, sid)

    path = arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)
    if isinstance(known, Unknown):
        return Forward(ArktosRequest(method="DELETE", path=path), translate)
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": _uid_of(known)}}
    return Forward(ArktosRequest("DELETE", path, orjson.dumps(options), JSON_CONTENT_TYPE), translate)
