"""A JSON document kept in one VM-pod annotation (the server's metadata, its tags): read with the pod, and
written as ONE JSON patch computed from the pod the watch-fed cache holds.

The patch ``test``s, in order, the pod's uid (exactly that VM pod, never a container pod of the name), that
the server is not locked (``server_lock``) and that the annotation still holds what the new value was
computed from, then replaces it. Arktos authorizes the caller before it applies any of it, so nothing about
another tenant's server is told by building the patch from the cache; and a concurrent writer (or a cache
that lags another replica's write) makes Arktos refuse (422) instead of losing an update: the client gets
409 and retries, as for the gateway's image writes. This processor's own earlier writes are in the cache
when the patch is built: the write waited for them (``Gateway.until_settled``). Refusals decided from the
cache are told only once Arktos has let the caller into the tenant (``arktos_first``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from extproc import arktos_paths
from extproc.arktos_first import refuse_after_arktos
from extproc.compute import instance_actions, server_lock
from extproc.compute.action_rules import conflict_message, pending_task
from extproc.compute.server_fields import is_server, state_of
from extproc.context import RequestContext
from extproc.errors import Service, error_reply, from_arktos
from extproc.messages import (
    JSON_PATCH_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
)
from extproc.tenant_proofs import ALL_TENANTS

Json = dict[str, Any]
T = TypeVar("T")

# nova/compute/api.py update_instance_metadata / delete_instance_metadata (@check_instance_state), and the
# server tags controller's _check_instance_in_valid_state: the same states.
WRITABLE_VM_STATES = frozenset({"active", "paused", "suspended", "stopped"})


# NOTE: no slots: a slotted generic dataclass cannot be instantiated subscripted (Write[list[str]](...)).
@dataclass(frozen=True)
class Document(Generic[T]):
    """What one annotation holds: its key, how a pod's value is read and how a value is written."""

    key: str
    read: Callable[[Mapping[str, Any]], T]
    encode: Callable[[T], str]
    # What the client is told changed under it ("its metadata changed...").
    noun: str


def document_patch(
    pod: Mapping[str, Any], key: str, value: str, record: instance_actions.ActionRecord | None = None
) -> list[Json]:
    """ONE JSON patch: uid, unlocked and the annotation as read, then the new value and the instance
    action's ``record`` (module docstring)."""
    meta = pod.get("metadata") or {}
    uid = str(meta.get("uid") or "") or server_lock.NO_OBJECT_UID
    annotations = meta.get("annotations")
    path = server_lock.annotation_path(key)
    ops: list[Json] = [{"op": "test", "path": "/metadata/uid", "value": uid}]
    if not isinstance(annotations, dict):
        # No annotations at all (not a pod the gateway made): nothing can be locked or read yet.
        recorded = instance_actions.record_annotations(record) if record is not None else {}
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {key: value, **recorded}})
        return ops
    ops.append(server_lock.unlocked_test())
    # An absent annotation tests as null (server_lock's docstring).
    ops.append({"op": "test", "path": path, "value": annotations.get(key)})
    ops.append({"op": "add", "path": path, "value": value})
    if record is not None:
        ops.append(instance_actions.record_patch_op(record))
    return ops


def not_found(sid: str) -> Reply:
    return error_reply(Service.COMPUTE, 404, f"Instance {sid} could not be found.")


def _pod_of(reply: ArktosReply) -> Mapping[str, Any] | None:
    try:
        pod = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None
    return pod if isinstance(pod, dict) and is_server(pod) else None


def read(ctx: RequestContext, sid: str, document: Document[T], answer: Callable[[T], Reply]) -> Outcome:
    """The document of server ``sid`` as Arktos has it (``GET pods/{id}`` with the caller's token)."""

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            pod = _pod_of(reply)
            return answer(document.read(pod)) if pod is not None else not_found(sid)
        return from_arktos(Service.COMPUTE, reply, {404: f"Instance {sid} could not be found."})

    upstream = ArktosRequest(method="GET", path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid))
    return Forward(upstream, translate)


def after_arktos(ctx: RequestContext, token: str | None, sid: str, answer: Reply) -> Outcome:
    """``answer``, decided from the cache, once Arktos has let the caller into the server's tenant."""
    consulted = ctx.tenant if ctx.tenant is not None else ALL_TENANTS
    probe = arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)
    return refuse_after_arktos(ctx, token, answer, consulted, probe, missing=not_found(sid))


def _state_refusal(ctx: RequestContext, sid: str, pod: Mapping[str, Any], nova_name: str) -> str | None:
    cluster = ctx.cluster
    tenant = str((pod.get("metadata") or {}).get("tenant") or ctx.tenant or "")
    pending = cluster.pending_actions(tenant, ctx.config.namespace, sid, pod) if cluster is not None else []
    state = state_of(pod, pending_task(pending))
    if state.vm_state not in WRITABLE_VM_STATES:
        return conflict_message(nova_name, sid, "vm_state", state.vm_state)
    if state.task_state is not None:
        return conflict_message(nova_name, sid, "task_state", state.task_state)
    return None


@dataclass(frozen=True)
class Write(Generic[T]):
    """One write of a document: the new value from the current one (or the answer instead, e.g. a
    missing item's 404), the check of the new value after the lock and state rules (a quota), the reply
    to a write Arktos applied, Nova's name of the operation for its 409s and the instance action to
    record (None: Nova records none)."""

    change: Callable[[T], T | Reply]
    answer: Callable[[T], Reply]
    nova_name: str
    nova_action: str | None = None
    limit: Callable[[T], Reply | None] = lambda new: None


def write(ctx: RequestContext, req: ClientRequest, sid: str, document: Document[T], how: Write[T]) -> Outcome:
    """One document write (module docstring)."""
    token = req.auth_token
    pod = server_lock.cached_pod(ctx, sid)
    if pod is None:
        return _unseen(ctx, token, sid, document)
    new = how.change(document.read(pod))
    if isinstance(new, Reply):
        return after_arktos(ctx, token, sid, new)
    if server_lock.is_locked(pod):
        return after_arktos(ctx, token, sid, server_lock.locked_reply(sid))
    state_problem = _state_refusal(ctx, sid, pod, how.nova_name)
    if state_problem is not None:
        return after_arktos(ctx, token, sid, error_reply(Service.COMPUTE, 409, state_problem))
    over = how.limit(new)
    if over is not None:
        return after_arktos(ctx, token, sid, over)

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            return how.answer(new)
        if reply.status in (409, 422):
            # A test failed; Arktos has authorized the caller, so the cache may say which.
            now = server_lock.cached_pod(ctx, sid)
            uid = (pod.get("metadata") or {}).get("uid")
            if now is None or (now.get("metadata") or {}).get("uid") != uid:
                return not_found(sid)
            if server_lock.is_locked(now):
                return server_lock.locked_reply(sid)
            return error_reply(
                Service.COMPUTE,
                409,
                f"Cannot '{how.nova_name}' instance {sid}: its {document.noun} changed while this request "
                "was made; retry the request.",
            )
        return from_arktos(Service.COMPUTE, reply, {404: f"Instance {sid} could not be found."})

    record = instance_actions.new_record(ctx, token, how.nova_action) if how.nova_action is not None else None
    upstream = ArktosRequest(
        method="PATCH",
        path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid),
        body=orjson.dumps(document_patch(pod, document.key, document.encode(new), record)),
        content_type=JSON_PATCH_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


def _unseen(ctx: RequestContext, token: str | None, sid: str, document: Document[T]) -> Outcome:
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
        return not_found(sid)
    busy = error_reply(
        Service.COMPUTE,
        409,
        f"Cannot change the {document.noun} of instance {sid} yet: the gateway has not seen the server's "
        "current state; retry the request.",
    )
    probe = arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)

    def translate(reply: ArktosReply) -> Reply:
        if 200 <= reply.status < 300:
            return busy if _pod_of(reply) is not None else not_found(sid)
        return from_arktos(Service.COMPUTE, reply, {404: f"Instance {sid} could not be found."})

    return Forward(ArktosRequest(method="GET", path=probe), translate)
