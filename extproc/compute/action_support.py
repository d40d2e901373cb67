"""What the cache may tell about the server an action names, and how a CustomAction is submitted.

Shared by the action handlers (``extproc.compute.actions``, ``extproc.compute.image_actions``): the cached
server and when a caller may learn it (``extproc.compute.actions`` explains the conditions), Nova's replies
for the common refusals, and the CustomAction POST with its name-collision handling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from extproc import arktos_paths
from extproc.arktos_first import refuse_after_arktos
from extproc.compute import instance_actions, server_lock
from extproc.compute.action_rules import conflict_message, pending_task
from extproc.compute.replies import instance_not_found
from extproc.compute.server_fields import state_of
from extproc.compute.server_status import ServerState
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, error_reply, from_arktos
from extproc.messages import (
    JSON_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    Outcome,
    Reply,
)
from extproc.tenant_proofs import ALL_TENANTS

# -- what the cache may tell -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KnownServer:
    pod: Mapping[str, Any]
    pending: list[Mapping[str, Any]]
    state: ServerState


def cached_server(ctx: RequestContext, token: str | None, sid: str) -> KnownServer | None:
    """The server as the cache knows it, if the cache may decide for this caller (module docstring)."""
    cluster = ctx.cluster
    if cluster is None or ctx.tenant is None or not cluster.synced:
        return None
    if ctx.proofs is None or not ctx.proofs.proven(token, ctx.tenant):
        return None
    return cached_in(ctx, ctx.tenant, sid)


def cached_in(ctx: RequestContext, tenant: str, sid: str) -> KnownServer | None:
    cluster = ctx.cluster
    if cluster is None:
        return None
    pod = cluster.pod(tenant, ctx.config.namespace, sid)
    if pod is None:
        return None
    pending = cluster.pending_actions(tenant, ctx.config.namespace, sid, pod)
    return KnownServer(pod, pending, state_of(pod, pending_task(pending)))


def known_missing(ctx: RequestContext, token: str | None, sid: str) -> bool:
    """The cache may tell this caller that no such server exists (same conditions as ``cached_server``, and
    the cache has applied every pod write this processor relayed for the tenant)."""
    cluster = ctx.cluster
    if cluster is None or ctx.tenant is None or not cluster.synced or not cluster.caught_up(ctx.tenant):
        return False
    if ctx.proofs is None or not ctx.proofs.proven(token, ctx.tenant):
        return False
    return cluster.pod(ctx.tenant, ctx.config.namespace, sid) is None


def refused_after_existence(ctx: RequestContext, token: str | None, sid: str, answer: Reply) -> Outcome:
    """``answer`` (a refusal about the request itself, decided from the catalog and the cache of the
    server's tenant, or on a short path of whichever tenant holds that name), once Arktos has shown the
    caller the server: Nova answers 404 for a missing server before any other check."""
    consulted = ctx.tenant if ctx.tenant is not None else ALL_TENANTS
    probe = arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)
    return refuse_after_arktos(ctx, token, answer, consulted, probe, missing=not_found(sid))


def tenant_for_notes(ctx: RequestContext, sid: str) -> str | None:
    """The tenant of the server acted on: the URL's, else (short path) the only cached pod of that name."""
    if ctx.tenant is not None:
        return ctx.tenant
    return ctx.cluster.locate_pod(ctx.config.namespace, sid) if ctx.cluster is not None else None


def conflict(message: str) -> Reply:
    return error_reply(Service.COMPUTE, 409, message)


def bad(message: str) -> Reply:
    return bad_request(Service.COMPUTE, message)


def not_found(sid: str) -> Reply:
    return error_reply(Service.COMPUTE, 404, instance_not_found(sid))


def failed(reply: ArktosReply, sid: str) -> Reply:
    return from_arktos(Service.COMPUTE, reply, {404: instance_not_found(sid)})


def locked_now(ctx: RequestContext, sid: str) -> bool:
    """After Arktos refused a patch's tests (so it authorized the caller): the cache shows the lock."""
    pod = server_lock.cached_pod(ctx, sid)
    return pod is not None and server_lock.is_locked(pod)


def action_post(
    ctx: RequestContext, token: str | None, sid: str, operation: str, body: bytes
) -> ArktosRequest:
    """A CustomAction POST. Arktos names the Action ``<operation>-<unix seconds>`` per namespace, so two
    of them in one namespace within a second collide (409 AlreadyExists, fixtures 54-55): the processor
    sends one per project, operation and second (``name_clock_scope``, ``extproc.action_pacing``), and
    Envoy retries that 409 past the second boundary (``retry_name_collision``) for the collisions the
    processor cannot foresee. Safe: a CustomAction has no precondition in Arktos, so its only 409 is the
    name collision, never a state conflict. Only a caller Arktos has recently let into the URL's project
    (``tenant_proofs``) waits in that project's queue: anyone else could otherwise delay its reboots, or
    time them; the others (and short paths, whose tenant only Arktos knows) go straight to Arktos."""
    path = arktos_paths.pod_action(ctx.tenant, ctx.config.namespace, sid)
    scope = None
    if ctx.tenant is not None and token and ctx.proofs is not None and ctx.proofs.proven(token, ctx.tenant):
        scope = f"{ctx.tenant}/{ctx.config.namespace}/{operation}"
    return ArktosRequest(
        method="POST",
        path=path,
        body=body,
        content_type=JSON_CONTENT_TYPE,
        retry_name_collision=True,
        name_clock_scope=scope,
    )


def _details_name(reply: ArktosReply) -> str:
    try:
        status = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return ""
    details = status.get("details") if isinstance(status, dict) else None
    return str(details.get("name") or "") if isinstance(details, dict) else ""


def _collision(ctx: RequestContext, sid: str, nova_name: str, task_state: str) -> Reply:
    """Arktos's 409 AlreadyExists on the Action name: another such action in this project this second."""
    return conflict(conflict_message(nova_name, sid, "task_state", task_state))


def accepted_translate(
    ctx: RequestContext,
    sid: str,
    operation: str,
    nova_name: str,
    task_state: str,
    accepted: Callable[[str, str | None], Reply],
) -> Callable[[ArktosReply], Reply]:
    """The translate of a CustomAction POST; ``accepted(ref, tenant)`` builds the 2xx reply."""

    def translate(reply: ArktosReply) -> Reply:
        if reply.status in (200, 201, 202):
            return accepted(_details_name(reply), tenant_for_notes(ctx, sid))
        if reply.status == 409:
            return _collision(ctx, sid, nova_name, task_state)
        return failed(reply, sid)

    return translate


def submission_details(
    ctx: RequestContext,
    token: str | None,
    nova_action: str,
    ref: str,
    details: Mapping[str, Any] | None = None,
    reboot_type: str = "",
) -> dict[str, Any]:
    """What the processor notes of a CustomAction it submitted, with the instance action's record
    (``instance_actions.InstanceActionRecorder`` writes it on the pod)."""
    record = instance_actions.new_record(ctx, token, nova_action, ref, reboot_type=reboot_type)
    return {**(details or {}), **instance_actions.submission_note(record)}
