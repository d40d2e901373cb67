"""Nova's server metadata (``/servers/{id}/metadata[/{key}]``) as the VM pod's metadata annotation.

| Nova                               | Arktos                                     | reply             |
|------------------------------------|--------------------------------------------|-------------------|
| ``GET .../metadata``               | ``GET pods/{id}``                          | 200 ``metadata``  |
| ``GET .../metadata/{key}``         | ``GET pods/{id}``                          | 200 ``meta``, 404 |
| ``POST .../metadata`` (merge)      | ``PATCH pods/{id}`` one JSON patch (below) | 200 ``metadata``  |
| ``PUT .../metadata`` (replace all) | same                                       | 200 ``metadata``  |
| ``PUT .../metadata/{key}``         | same                                       | 200 ``meta``      |
| ``DELETE .../metadata/{key}``      | same                                       | 204               |

The metadata is one JSON object in the annotation ``openstack.arktos.io/metadata`` (what ``server create``
and ``rebuild`` write). A write is computed from the pod the watch-fed cache holds and sent as ONE JSON
patch that ``test``s, in order, the pod's uid (exactly that VM pod, never a container pod of the name), that
the server is not locked (``server_lock``) and that the annotation still holds what the new value was
computed from, then replaces it. Arktos authorizes the caller before it applies any of it, so nothing about
another tenant's server is told by building the patch from the cache; and a concurrent writer, or a cache
that lags, makes Arktos refuse (422) instead of losing an update: the client gets 409 and retries, as for
the gateway's image writes.

Nova's checks, in Nova's order: the body's schema (keys 1-255 characters of ``[a-zA-Z0-9-_:. ]``, values
at most 255), for ``PUT .../{key}`` the body and URL key matching (400 ``Request body and URI mismatch``), the
server's existence (404), a missing key on delete (404 ``Metadata item was not found``), the lock (409
``Instance <id> is locked``), the vm_state/task_state rule of ``update_instance_metadata`` (409), then the
metadata-items quota: Nova's default of 128 items per server (403 ``Maximum number of metadata items exceeds
128``: Nova's ``MetadataLimitExceeded``, which its ``_check_metadata_properties_quota`` raises for the
quota's ``OverQuota``). Refusals decided from the cache are told only once Arktos has let the caller into
the tenant (``arktos_first``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from extproc import annotations as keys
from extproc import arktos_paths, client_json
from extproc.arktos_first import refuse_after_arktos
from extproc.compute import instance_actions, schemas, server_lock
from extproc.compute.action_rules import conflict_message, pending_task
from extproc.compute.server_view import is_server, server_metadata, state_of
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, error_reply, from_arktos
from extproc.messages import (
    JSON_PATCH_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
    json_reply,
)
from extproc.tenant_proofs import ALL_TENANTS

Json = dict[str, Any]

# Nova's default ``metadata_items`` quota (nova.conf [quota] metadata_items); Arktos has no such quota.
METADATA_ITEMS_QUOTA = 128
ITEM_NOT_FOUND = "Metadata item was not found"
URI_MISMATCH = "Request body and URI mismatch"
# nova/compute/api.py update_instance_metadata / delete_instance_metadata: @check_instance_state.
WRITABLE_VM_STATES = frozenset({"active", "paused", "suspended", "stopped"})

# -- schemas (nova/api/openstack/compute/schemas/server_metadata.py) ---------------------------------------

_METADATA_BODY: Json = {
    "type": "object",
    "properties": {"metadata": schemas.METADATA},
    "required": ["metadata"],
    "additionalProperties": False,
}
_META_BODY: Json = {
    "type": "object",
    "properties": {"meta": {**schemas.METADATA, "minProperties": 1, "maxProperties": 1}},
    "required": ["meta"],
    "additionalProperties": False,
}
_METADATA_VALIDATOR = schemas.Draft4Validator(_METADATA_BODY)
_META_VALIDATOR = schemas.Draft4Validator(_META_BODY)


# -- pure parts --------------------------------------------------------------------------------------------


def parse_body(body: bytes, item: bool) -> Mapping[str, str] | str:
    """The ``metadata`` (``item``: the ``meta``) object of a write's body, or Nova's 400 message."""
    if not body:
        return "The request body is missing."
    try:
        parsed = client_json.loads(body)
    except orjson.JSONDecodeError:
        return "Malformed request body"
    problem = schemas.validate(_META_VALIDATOR if item else _METADATA_VALIDATOR, parsed)
    if problem is not None:
        return problem
    return dict(parsed["meta" if item else "metadata"])


def over_quota(metadata: Mapping[str, str]) -> str | None:
    if len(metadata) > METADATA_ITEMS_QUOTA:
        return f"Maximum number of metadata items exceeds {METADATA_ITEMS_QUOTA}"
    return None


def metadata_patch(
    pod: Mapping[str, Any], new: Mapping[str, str], record: instance_actions.ActionRecord | None = None
) -> list[Json]:
    """ONE JSON patch: uid, unlocked and the annotation as read, then the new metadata and the instance
    action's ``record`` (module docstring)."""
    meta = pod.get("metadata") or {}
    uid = str(meta.get("uid") or "") or server_lock.NO_OBJECT_UID
    annotations = meta.get("annotations")
    path = server_lock.annotation_path(keys.METADATA)
    value = orjson.dumps(dict(new)).decode()
    ops: list[Json] = [{"op": "test", "path": "/metadata/uid", "value": uid}]
    if not isinstance(annotations, dict):
        # No annotations at all (not a pod the gateway made): nothing can be locked or read yet.
        recorded = instance_actions.record_annotations(record) if record is not None else {}
        ops.append(
            {"op": "add", "path": "/metadata/annotations", "value": {keys.METADATA: value, **recorded}}
        )
        return ops
    ops.append(server_lock.unlocked_test())
    # An absent annotation tests as null (server_lock's docstring).
    ops.append({"op": "test", "path": path, "value": annotations.get(keys.METADATA)})
    ops.append({"op": "add", "path": path, "value": value})
    if record is not None:
        ops.append(instance_actions.record_patch_op(record))
    return ops


def _not_found(sid: str) -> Reply:
    return error_reply(Service.COMPUTE, 404, f"Instance {sid} could not be found.")


def _pod_of(reply: ArktosReply) -> Mapping[str, Any] | None:
    try:
        pod = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None
    return pod if isinstance(pod, dict) and is_server(pod) else None


# -- reads -------------------------------------------------------------------------------------------------


def _read(ctx: RequestContext, sid: str, answer: Callable[[dict[str, str]], Reply]) -> Outcome:
    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            pod = _pod_of(reply)
            return answer(server_metadata(pod)) if pod is not None else _not_found(sid)
        return from_arktos(Service.COMPUTE, reply, {404: f"Instance {sid} could not be found."})

    upstream = ArktosRequest(method="GET", path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid))
    return Forward(upstream, translate)


def list_metadata(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _read(ctx, params["server_id"], lambda metadata: json_reply(200, {"metadata": metadata}))


def show_metadata_item(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    key = params["metadata_key"]

    def answer(metadata: dict[str, str]) -> Reply:
        if key not in metadata:
            return error_reply(Service.COMPUTE, 404, ITEM_NOT_FOUND)
        return json_reply(200, {"meta": {key: metadata[key]}})

    return _read(ctx, params["server_id"], answer)


# -- writes ------------------------------------------------------------------------------------------------

# The new metadata from the current one, or the refusal (a missing key on delete).
Change = Callable[[dict[str, str]], dict[str, str] | Reply]


def _after_arktos(ctx: RequestContext, token: str | None, sid: str, refusal: Reply) -> Outcome:
    consulted = ctx.tenant if ctx.tenant is not None else ALL_TENANTS
    probe = arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)
    return refuse_after_arktos(ctx, token, refusal, consulted, probe, missing=_not_found(sid))


def _state_refusal(ctx: RequestContext, sid: str, pod: Mapping[str, Any], nova_name: str) -> str | None:
    cluster = ctx.cluster
    tenant = str((pod.get("metadata") or {}).get("tenant") or ctx.tenant or "")
    pending = cluster.pending_actions(tenant, ctx.config.namespace, sid) if cluster is not None else []
    state = state_of(pod, pending_task(pending))
    if state.vm_state not in WRITABLE_VM_STATES:
        return conflict_message(nova_name, sid, "vm_state", state.vm_state)
    if state.task_state is not None:
        return conflict_message(nova_name, sid, "task_state", state.task_state)
    return None


def _write(
    ctx: RequestContext,
    req: ClientRequest,
    sid: str,
    change: Change,
    reply_body: Callable[[dict[str, str]], Json] | None,
    nova_name: str,
) -> Outcome:
    """One metadata write (module docstring); ``reply_body`` None answers 204."""
    nova_action = (
        instance_actions.DELETE_METADATA
        if nova_name == "delete metadata"
        else instance_actions.UPDATE_METADATA
    )
    token = req.auth_token
    pod = server_lock.cached_pod(ctx, sid)
    if pod is None:
        return _unseen(ctx, token, sid)
    current = server_metadata(pod)
    new = change(current)
    if isinstance(new, Reply):
        return _after_arktos(ctx, token, sid, new)
    if server_lock.is_locked(pod):
        return _after_arktos(ctx, token, sid, server_lock.locked_reply(sid))
    state_problem = _state_refusal(ctx, sid, pod, nova_name)
    if state_problem is not None:
        return _after_arktos(ctx, token, sid, error_reply(Service.COMPUTE, 409, state_problem))
    quota_problem = over_quota(new)
    if quota_problem is not None:
        return _after_arktos(ctx, token, sid, error_reply(Service.COMPUTE, 403, quota_problem))

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            return json_reply(200, reply_body(new)) if reply_body is not None else Reply(status=204)
        if reply.status in (409, 422):
            # A test failed; Arktos has authorized the caller, so the cache may say which.
            now = server_lock.cached_pod(ctx, sid)
            uid = (pod.get("metadata") or {}).get("uid")
            if now is None or (now.get("metadata") or {}).get("uid") != uid:
                return _not_found(sid)
            if server_lock.is_locked(now):
                return server_lock.locked_reply(sid)
            return error_reply(
                Service.COMPUTE,
                409,
                f"Cannot '{nova_name}' instance {sid}: its metadata changed while this request was made; "
                "retry the request.",
            )
        return from_arktos(Service.COMPUTE, reply, {404: f"Instance {sid} could not be found."})

    upstream = ArktosRequest(
        method="PATCH",
        path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid),
        body=orjson.dumps(metadata_patch(pod, new, instance_actions.new_record(ctx, token, nova_action))),
        content_type=JSON_PATCH_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


def _unseen(ctx: RequestContext, token: str | None, sid: str) -> Outcome:
    """A server the cache does not hold (yet): Arktos is asked (GET with the caller's token) whether it
    exists. Missing: Nova's 404. Found: the watch has not delivered it yet (or there is no watch), and a
    write computed from nothing could overwrite what it holds, so the client retries (409)."""
    cluster = ctx.cluster
    if (
        cluster is not None
        and cluster.synced
        and ctx.tenant is not None
        and cluster.caught_up(ctx.tenant)
        and ctx.proofs is not None
        and ctx.proofs.proven(token, ctx.tenant)
    ):
        return _not_found(sid)
    busy = error_reply(
        Service.COMPUTE,
        409,
        f"Cannot change the metadata of instance {sid} yet: the gateway has not seen the server's current "
        "state; retry the request.",
    )
    probe = arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)

    def translate(reply: ArktosReply) -> Reply:
        if 200 <= reply.status < 300:
            return busy if _pod_of(reply) is not None else _not_found(sid)
        return from_arktos(Service.COMPUTE, reply, {404: f"Instance {sid} could not be found."})

    return Forward(ArktosRequest(method="GET", path=probe), translate)


def create_metadata(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``POST``: merge the given items into the server's metadata."""
    given = parse_body(req.body, item=False)
    if isinstance(given, str):
        return bad_request(Service.COMPUTE, given)
    return _write(
        ctx,
        req,
        params["server_id"],
        lambda current: {**current, **given},
        lambda new: {"metadata": new},
        "update metadata",
    )


def replace_metadata(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``PUT``: the given items become the server's metadata."""
    given = parse_body(req.body, item=False)
    if isinstance(given, str):
        return bad_request(Service.COMPUTE, given)
    sid = params["server_id"]
    return _write(ctx, req, sid, lambda _: dict(given), lambda new: {"metadata": new}, "update metadata")


def update_metadata_item(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``PUT .../{key}``: set one item (the body's one key must be the URL's)."""
    key = params["metadata_key"]
    given = parse_body(req.body, item=True)
    if isinstance(given, str):
        return bad_request(Service.COMPUTE, given)
    if key not in given:
        return bad_request(Service.COMPUTE, URI_MISMATCH)
    return _write(
        ctx,
        req,
        params["server_id"],
        lambda current: {**current, **given},
        lambda new: {"meta": dict(given)},
        "update metadata",
    )


def delete_metadata_item(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``DELETE .../{key}``: 404 for a key the server does not have."""
    key = params["metadata_key"]

    def without(current: dict[str, str]) -> dict[str, str] | Reply:
        if key not in current:
            return error_reply(Service.COMPUTE, 404, ITEM_NOT_FOUND)
        return {k: v for k, v in current.items() if k != key}

    return _write(ctx, req, params["server_id"], without, None, "delete metadata")
