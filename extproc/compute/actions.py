"""``POST /servers/{id}/action``: reboot, os-stop, os-start, createImage and rebuild, one Arktos call each.

| Nova action                | Arktos call                                                 | reply           |
|----------------------------|-------------------------------------------------------------|-----------------|
| ``reboot`` SOFT / HARD     | ``POST pods/{id}/action`` CustomAction ``reboot``           | 202             |
| ``os-stop`` / ``os-start`` | ``PATCH pods/{id}`` JSON patch: test + replace powerSpec    | 202             |
| ``createImage``            | CustomAction ``snapshot``, ``snapshotName`` = new image id  | 202 + Location  |
| ``rebuild`` (own snapshot) | CustomAction ``restore``, snapshotID                        | 202 + server    |
| ``rebuild`` (any image)    | ``PATCH pods/{id}`` JSON patch: test uid, annotations, image| 202 + server    |
| ``lock`` / ``unlock``      | ``PATCH pods/{id}`` JSON patch of the lock annotations      | 202             |

The code: this module takes the request and dispatches it (reboot, stop/start, lock; the rest of Nova's
actions to ``unsupported_actions``); ``action_request`` holds the schemas, the parsing and the pure Arktos
bodies; ``action_support`` what the cache may tell, the common refusals and the CustomAction POST;
``image_actions`` createImage and rebuild.

A locked server (``server_lock``) refuses every action but unlock with Nova's 409 ``Instance <id> is
locked``, before the state rules: in the JSON patch itself for stop/start and the image rebuild (a ``test``
of the lock annotation), from the cache for the CustomActions.

How the server's state is known for Nova's rules (``action_rules``), without a second Arktos call:

- os-stop / os-start: the PATCH is a JSON patch (``application/json-patch+json``) whose first operation
  ``test``s that ``spec.virtualMachine.powerSpec`` is still what the action needs (``Running`` to stop,
  ``Shutdown`` to start), then replaces it. This is the issue's merge-patch made conditional: Arktos
  authorizes the caller first and then applies the precondition atomically, so two concurrent stops cannot
  both succeed, and nothing about another tenant's server leaks. A failed test is a 422 (Kubernetes'
  ``Invalid``), answered as Nova's 409 with the vm_state from the cache (by then Arktos has authorized the
  caller), else phrased from the test that failed ("vm_state stopped" for a stop).
- reboot / createImage / rebuild: a CustomAction has no precondition in Arktos, so the rule is checked
  against the watch-fed cache (``ClusterView.pod`` + ``pending_actions`` for the task state), but only when
  the cache can decide without leaking: it has synced, the URL names the tenant, the pod is cached in that
  tenant, and Arktos has recently answered this very token 2xx in that tenant (``tenant_proofs``; clients
  GET a server before acting on it). Otherwise the request is forwarded and Arktos decides alone: this
  uncommon case skips Nova's rule (Arktos itself completes an action on a VM that is not running with an
  error). The same pre-check also refuses stop/start moves the powerSpec test cannot see (start while
  powering-off, stop while building).
- Race: the state can change between the cache and Arktos (the watch lags by milliseconds). For stop/start
  the patch's test still holds the line; for the CustomActions the action reaches Arktos as if the rule had
  passed, exactly as a Nova request racing a state change that its API check did not see yet.

In-flight task states come from pending Actions (``action_rules.task_state_of``): Arktos has no HARD/SOFT
reboot, so ``rebooting_hard`` comes from the cache's note of what this processor submitted and is shown as
``rebooting`` after a processor restart. A HARD reboot of a stopped server powers it on (what Nova's hard
reboot does to a SHUTOFF server; Arktos's reboot only restarts a running VM): the start patch, when the
cache shows it stopped.

Arktos names an Action ``<operation>-<unix seconds>`` per namespace, so two reboots (or snapshots) in one
project within one second collide (409 AlreadyExists, fixtures 54-55). Envoy's router retries that 409
(``ArktosRequest.retry_name_collision``: only CustomAction POSTs, whose only 409 is this one; never the
powerSpec patch, whose refusal is a Nova state conflict) 1 to 1.5 s later, when Arktos's clock names the
Action anew, up to ``NAME_COLLISION_MAX_RETRIES`` times: the processor makes no call of its own. Arktos
thus takes one reboot per namespace and second; a burst longer than the retries still ends in the 409,
answered as Nova answers an action on a busy server (conflictingRequest "... while it is in task_state
rebooting"), never a 500.

createImage and a rebuild from the server's own snapshot link images to Arktos snapshots as
``extproc.snapshots`` describes; that rebuild's ``name``/``metadata`` change nothing in Arktos
(one call: the restore), and the reply shows the server as the cache knows it, in task_state ``rebuilding``
(without the cache, only what is known: no made-up name).

A rebuild from any other (active, non-snapshot) image recreates the VM from it: ONE JSON patch of the pod
that tests its uid (the VM pod the cache knows), records the image id, the rebuild's ``name`` and
``metadata`` in the gateway's annotations and replaces ``spec.virtualMachine.image`` (fixtures 33-36:
Arktos accepts the change; its kubelet recreates the VM from the new image, as for a changed container
spec). From ACTIVE or SHUTOFF (a stopped server stays SHUTOFF); the server shows REBUILD (task_state
``rebuilding``) until the node agent reports the VM of the new image (``server_status``). Arktos does not
restart a VM whose image did not change, so a rebuild from the image the VM already runs is refused (400)
rather than answered 202 without reinstalling anything. ``key_name`` in a rebuild body arrived with
microversion 2.54; at 2.1 (the gateway's) Nova's schema refuses it (400), and so does this one.

Nova looks the server up before anything else about an action: an action on a server the cache knows is
missing (for a proven caller) is 404 at once, and a refusal about the request itself (unknown image, a
snapshot of another server) waits for one GET of the pod when the cache cannot tell
(``refused_after_existence``, ``extproc.arktos_first``).

Every other action Nova knows (pause, resize, shelve, the consoles, security groups, forceDelete...) is
answered by ``extproc.compute.unsupported_actions`` the same way: the server first, then Nova's answer for
what Arktos cannot do; only a name Nova does not know is "There is no such action".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from extproc import arktos_paths, client_json
from extproc.compute import instance_actions, server_lock, unsupported_actions
from extproc.compute.action_request import (
    ACTION_NAMES,
    REBOOT_DELAY_SECONDS,
    custom_action,
    parse_action,
    power_patch,
    record_ops,
)
from extproc.compute.action_rules import Kind, conflict_message, refusal
from extproc.compute.action_support import (
    accepted_translate,
    action_post,
    bad,
    cached_in,
    cached_server,
    conflict,
    failed,
    known_missing,
    locked_now,
    not_found,
    submission_details,
    tenant_for_notes,
)
from extproc.compute.image_actions import create_image, rebuild
from extproc.compute.server_item import Unknown, delete_server, known_server
from extproc.context import RequestContext
from extproc.errors import Service, error_reply
from extproc.messages import (
    JSON_PATCH_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
)

# -- the handler -------------------------------------------------------------------------------------------


def server_action(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    sid = params["server_id"]
    if not req.body:
        return bad("Malformed request body")
    try:
        body = client_json.loads(req.body)
    except orjson.JSONDecodeError:
        return bad("Malformed request body")
    if isinstance(body, dict) and len(body) == 1 and next(iter(body)) in server_lock.ACTION_NAMES:
        return _lock(ctx, req, sid, body)
    if isinstance(body, dict) and len(body) == 1:
        name = next(iter(body))
        if name not in ACTION_NAMES and unsupported_actions.is_known(name):
            if not unsupported_actions.served_at(name, ctx.compute_version):
                return error_reply(Service.COMPUTE, 404, "The resource could not be found.")
            return _unsupported(ctx, req, sid, name, body[name])
    action = parse_action(body, ctx.compute_version)
    if isinstance(action, str):
        return bad(action)
    known = cached_server(ctx, req.auth_token, sid)
    if known is None and known_missing(ctx, req.auth_token, sid):
        # Nova looks the server up before anything else about the action (nova's _get_server).
        return not_found(sid)
    # Nova checks the lock before the vm_state rules (@check_instance_lock comes first).
    locked = server_lock.guard(ctx, req.auth_token, sid, server_lock.cached_pod(ctx, sid))
    if locked is not None:
        return locked
    if known is not None:
        problem = refusal(action.kind, sid, known.state)
        if problem is not None:
            return conflict(problem)
    token = req.auth_token
    if action.kind is Kind.REBOOT_HARD and known is not None and known.state.vm_state == "stopped":
        return _power(ctx, token, sid, Kind.START, Kind.REBOOT_HARD)
    if action.kind in (Kind.STOP, Kind.START):
        return _power(ctx, token, sid, action.kind, action.kind)
    if action.kind in (Kind.REBOOT_SOFT, Kind.REBOOT_HARD):
        return _reboot(ctx, token, sid, action.kind is Kind.REBOOT_HARD)
    if action.kind is Kind.CREATE_IMAGE:
        return create_image(ctx, req, sid, action, known)
    return rebuild(ctx, token, sid, action, known)


def _unsupported(ctx: RequestContext, req: ClientRequest, sid: str, name: str, args: Any) -> Outcome:
    """A Nova action Arktos has no counterpart for (``unsupported_actions``), the server found as for any
    other action."""
    known = cached_server(ctx, req.auth_token, sid)
    return unsupported_actions.server_action(
        ctx,
        sid,
        name,
        args,
        known=(known.state, ctx.tenant) if known is not None and ctx.tenant is not None else None,
        missing=known is None and known_missing(ctx, req.auth_token, sid),
        delete=lambda: delete_server(ctx, req, {"server_id": sid}),
    )


def _lock(ctx: RequestContext, req: ClientRequest, sid: str, body: Mapping[str, Any]) -> Outcome:
    parsed = server_lock.parse(body, ctx.compute_version)
    if isinstance(parsed, str):
        return bad(parsed)
    name, reason = parsed
    known = known_server(ctx, req.auth_token, sid)
    if isinstance(known, Reply):
        return known
    action = instance_actions.LOCK if name == "lock" else instance_actions.UNLOCK
    record = instance_actions.record_patch_op(instance_actions.new_record(ctx, req.auth_token, action))
    target = None if isinstance(known, Unknown) else known
    return server_lock.lock_action(ctx, sid, name, reason, target, record)


def _reboot(ctx: RequestContext, token: str | None, sid: str, hard: bool) -> Outcome:
    def accepted(ref: str, tenant: str | None) -> Reply:
        if ctx.cluster is not None and tenant is not None and ref:
            details = submission_details(
                ctx, token, instance_actions.REBOOT, ref, reboot_type="HARD" if hard else "SOFT"
            )
            ctx.cluster.note_submitted(
                tenant, ctx.config.namespace, sid, "reboot", ref, hard=hard, details=details
            )
        return Reply(status=202)

    task = "rebooting_hard" if hard else "rebooting"
    body = custom_action("reboot", {"delayInSeconds": REBOOT_DELAY_SECONDS})
    return Forward(
        action_post(ctx, token, sid, "reboot", body),
        accepted_translate(ctx, sid, "reboot", "reboot", task, accepted),
    )


def _power(ctx: RequestContext, token: str | None, sid: str, kind: Kind, asked: Kind) -> Outcome:
    """Stop or start (``asked`` is what the client asked for: a HARD reboot may be a start)."""
    nova_action = {Kind.STOP: instance_actions.STOP, Kind.START: instance_actions.START}.get(
        asked, instance_actions.REBOOT
    )
    tenant = tenant_for_notes(ctx, sid)
    cached = cached_in(ctx, tenant, sid) if tenant is not None else None
    record = record_ops(
        cached.pod if cached is not None else None, instance_actions.new_record(ctx, token, nova_action)
    )

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            return Reply(status=202)
        # NOTE: Kubernetes 1.15's patch handler answers a failed JSON-patch test with a generic 422
        # (reason Invalid); 409 is accepted too in case an Arktos build maps it to a conflict.
        if reply.status in (409, 422) and locked_now(ctx, sid):
            return server_lock.locked_reply(sid)
        if reply.status in (409, 422):
            # The powerSpec test failed: Arktos authorized the caller, so the cache may tell the state.
            tenant = tenant_for_notes(ctx, sid)
            known = cached_in(ctx, tenant, sid) if tenant is not None else None
            problem = refusal(asked, sid, known.state) if known is not None else None
            if problem is None:
                # The cache lags or does not know: phrase it from the test that failed.
                vm_state = "stopped" if kind is Kind.STOP else "active"
                nova_name = "reboot" if asked is Kind.REBOOT_HARD else kind.value
                problem = conflict_message(nova_name, sid, "vm_state", vm_state)
            return conflict(problem)
        return failed(reply, sid)

    upstream = ArktosRequest(
        method="PATCH",
        path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid),
        body=power_patch(
            kind, record, lockable=server_lock.lockable(cached.pod if cached is not None else None)
        ),
        content_type=JSON_PATCH_CONTENT_TYPE,
    )
    return Forward(upstream, translate)
