"""``POST /servers/{id}/action``: reboot, os-stop, os-start, createImage and rebuild, one Arktos call each.

| Nova action                | Arktos call                                                 | reply           |
|----------------------------|-------------------------------------------------------------|-----------------|
| ``reboot`` SOFT / HARD     | ``POST pods/{id}/action`` CustomAction ``reboot``           | 202             |
| ``os-stop`` / ``os-start`` | ``PATCH pods/{id}`` JSON patch: test + replace powerSpec    | 202             |
| ``createImage``            | CustomAction ``snapshot``, ``snapshotName`` = new image id  | 202 + Location  |
| ``rebuild`` (own snapshot) | CustomAction ``restore``, snapshotID                        | 202 + server    |
| ``rebuild`` (any image)    | ``PATCH pods/{id}`` JSON patch: test uid, annotations, image| 202 + server    |
| ``lock`` / ``unlock``      | ``PATCH pods/{id}`` JSON patch of the lock annotations      | 202             |

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

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from extproc import annotations as keys
from extproc import arktos_paths, client_json
from extproc.arktos_first import refuse_after_arktos
from extproc.catalog import Image
from extproc.compute import instance_actions, schemas, server_lock, unsupported_actions
from extproc.compute.action_rules import RESTORE, Kind, conflict_message, pending_task, refusal
from extproc.compute.create_request import ref_id
from extproc.compute.replies import instance_not_found, view_for
from extproc.compute.server_item import Unknown, delete_server, known_server
from extproc.compute.server_status import ServerState
from extproc.compute.server_view import state_of
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, error_reply, from_arktos
from extproc.messages import (
    JSON_CONTENT_TYPE,
    JSON_PATCH_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
    json_reply,
)
from extproc.snapshots import SnapshotRequest, action_outcome, is_snapshot, snapshot_id_of
from extproc.tenant_proofs import ALL_TENANTS
from extproc.users import user_id_for_token

POWER_SPEC_PATH = "/spec/virtualMachine/powerSpec"
IMAGE_PATH = "/spec/virtualMachine/image"
# Arktos's reboot parameter: seconds to wait before rebooting (the only one there is).
REBOOT_DELAY_SECONDS = 0

Json = dict[str, Any]

# -- schemas (nova/api/openstack/compute/schemas/servers.py) -----------------------------------------------

REBOOT_TYPES = ("HARD", "Hard", "hard", "SOFT", "Soft", "soft")

_REBOOT: Json = {
    "type": "object",
    "properties": {
        "reboot": {
            "type": "object",
            "properties": {"type": {"type": "string", "enum": list(REBOOT_TYPES)}},
            "required": ["type"],
            "additionalProperties": False,
        }
    },
    "required": ["reboot"],
    "additionalProperties": False,
}

_CREATE_IMAGE: Json = {
    "type": "object",
    "properties": {
        "createImage": {
            "type": "object",
            "properties": {"name": schemas.NAME, "metadata": schemas.METADATA},
            "required": ["name"],
            "additionalProperties": False,
        }
    },
    "required": ["createImage"],
    "additionalProperties": False,
}

_REBUILD: Json = {
    "type": "object",
    "properties": {
        "rebuild": {
            "type": "object",
            "properties": {
                "name": schemas.NAME,
                "imageRef": {"type": "string", "minLength": 1, "maxLength": 2048},
                "adminPass": {"type": "string"},
                "metadata": schemas.METADATA,
                "preserve_ephemeral": schemas.BOOLEAN,
                "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
                "accessIPv4": {"type": "string", "format": "ipv4"},
                "accessIPv6": {"type": "string", "format": "ipv6"},
                "personality": {"type": "array"},
            },
            "required": ["imageRef"],
            "additionalProperties": False,
        }
    },
    "required": ["rebuild"],
    "additionalProperties": False,
}

_VALIDATORS = {
    "reboot": schemas.Draft4Validator(_REBOOT, format_checker=schemas.FORMATS),
    "createImage": schemas.Draft4Validator(_CREATE_IMAGE, format_checker=schemas.FORMATS),
    "rebuild": schemas.Draft4Validator(_REBUILD, format_checker=schemas.FORMATS),
}
# os-stop and os-start take any value (Nova ignores their bodies).
ACTION_NAMES = ("reboot", "os-stop", "os-start", "createImage", "rebuild")


# -- parsing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionRequest:
    kind: Kind
    # createImage
    image_name: str = ""
    image_metadata: Mapping[str, str] | None = None
    # rebuild
    image_ref: str = ""
    name: str | None = None
    metadata: Mapping[str, str] | None = None
    # accessIPv4/accessIPv6 annotation -> canonical address (Nova's rebuild sets them)
    access_ips: Mapping[str, str] | None = None


def parse_action(body: Any) -> ActionRequest | str:
    """The action a body asks for, or Nova's 400 message (nova/api/openstack/wsgi.py action_peek...)."""
    if not isinstance(body, dict) or len(body) != 1:
        return "Malformed request body"
    name = next(iter(body))
    if name not in ACTION_NAMES:
        return f"There is no such action: {name}"
    validator = _VALIDATORS.get(name)
    if validator is not None:
        problem = schemas.validate(validator, body)
        if problem is not None:
            return problem
    args = body[name]
    if name == "reboot":
        hard = str(args["type"]).upper() == "HARD"
        return ActionRequest(Kind.REBOOT_HARD if hard else Kind.REBOOT_SOFT)
    if name == "os-stop":
        return ActionRequest(Kind.STOP)
    if name == "os-start":
        return ActionRequest(Kind.START)
    if name == "createImage":
        return ActionRequest(
            Kind.CREATE_IMAGE, image_name=args["name"], image_metadata=dict(args.get("metadata") or {})
        )
    metadata = args.get("metadata")
    return ActionRequest(
        Kind.REBUILD,
        image_ref=ref_id(str(args["imageRef"])),
        name=args.get("name"),
        metadata=dict(metadata) if metadata is not None else None,
        access_ips={
            key: schemas.canonical_ip(args[field])
            for field, key in (("accessIPv4", keys.ACCESS_IPV4), ("accessIPv6", keys.ACCESS_IPV6))
            if args.get(field)
        },
    )


# -- Arktos requests (pure) --------------------------------------------------------------------------------


def custom_action(operation: str, params: Json) -> bytes:
    field = {"reboot": "rebootParams", "snapshot": "snapshotParams", "restore": "restoreParams"}[operation]
    return orjson.dumps({"apiVersion": "v1", "kind": "CustomAction", "operation": operation, field: params})


def power_patch(kind: Kind, record: list[Json] | None = None, lockable: bool = True) -> bytes:
    """The conditional power change: fails (422) unless powerSpec is still what the action starts from, or
    the server is locked (``lockable``: the pod may carry the lock, see ``server_lock.lockable``).
    ``record`` is the instance action's record (``record_ops``), written in the same patch."""
    want, current = ("Shutdown", "Running") if kind is Kind.STOP else ("Running", "Shutdown")
    return orjson.dumps(
        [
            *([server_lock.unlocked_test()] if lockable else []),
            {"op": "test", "path": POWER_SPEC_PATH, "value": current},
            {"op": "replace", "path": POWER_SPEC_PATH, "value": want},
            *(record or []),
        ]
    )


def record_ops(known_pod: Mapping[str, Any] | None, record: instance_actions.ActionRecord) -> list[Json]:
    """The JSON-patch operations recording an instance action on the pod. The gateway's pods always carry
    annotations; a VM pod the cache shows without any gets the whole map (an ``add`` inside a missing map
    would fail the patch)."""
    annotations = ((known_pod or {}).get("metadata") or {}).get("annotations")
    if known_pod is not None and not isinstance(annotations, dict):
        return [
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": instance_actions.record_annotations(record),
            }
        ]
    return [instance_actions.record_patch_op(record)]


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
    return _cached(ctx, ctx.tenant, sid)


def _cached(ctx: RequestContext, tenant: str, sid: str) -> KnownServer | None:
    cluster = ctx.cluster
    if cluster is None:
        return None
    pod = cluster.pod(tenant, ctx.config.namespace, sid)
    if pod is None:
        return None
    pending = cluster.pending_actions(tenant, ctx.config.namespace, sid)
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
    return refuse_after_arktos(ctx, token, answer, consulted, probe, missing=_not_found(sid))


def _tenant_for_notes(ctx: RequestContext, sid: str) -> str | None:
    """The tenant of the server acted on: the URL's, else (short path) the only cached pod of that name."""
    if ctx.tenant is not None:
        return ctx.tenant
    return ctx.cluster.locate_pod(ctx.config.namespace, sid) if ctx.cluster is not None else None


def _conflict(message: str) -> Reply:
    return error_reply(Service.COMPUTE, 409, message)


def _bad(message: str) -> Reply:
    return bad_request(Service.COMPUTE, message)


def _not_found(sid: str) -> Reply:
    return error_reply(Service.COMPUTE, 404, instance_not_found(sid))


def _failed(reply: ArktosReply, sid: str) -> Reply:
    return from_arktos(Service.COMPUTE, reply, {404: instance_not_found(sid)})


# -- the handler -------------------------------------------------------------------------------------------


def server_action(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    sid = params["server_id"]
    if not req.body:
        return _bad("Malformed request body")
    try:
        body = client_json.loads(req.body)
    except orjson.JSONDecodeError:
        return _bad("Malformed request body")
    if isinstance(body, dict) and len(body) == 1 and next(iter(body)) in server_lock.ACTION_NAMES:
        return _lock(ctx, req, sid, body)
    if isinstance(body, dict) and len(body) == 1:
        name = next(iter(body))
        if name not in ACTION_NAMES and unsupported_actions.is_known(name):
            return _unsupported(ctx, req, sid, name, body[name])
    action = parse_action(body)
    if isinstance(action, str):
        return _bad(action)
    known = cached_server(ctx, req.auth_token, sid)
    if known is None and known_missing(ctx, req.auth_token, sid):
        # Nova looks the server up before anything else about the action (nova's _get_server).
        return _not_found(sid)
    # Nova checks the lock before the vm_state rules (@check_instance_lock comes first).
    locked = server_lock.guard(ctx, req.auth_token, sid, server_lock.cached_pod(ctx, sid))
    if locked is not None:
        return locked
    if known is not None:
        problem = refusal(action.kind, sid, known.state)
        if problem is not None:
            return _conflict(problem)
    token = req.auth_token
    if action.kind is Kind.REBOOT_HARD and known is not None and known.state.vm_state == "stopped":
        return _power(ctx, token, sid, Kind.START, Kind.REBOOT_HARD)
    if action.kind in (Kind.STOP, Kind.START):
        return _power(ctx, token, sid, action.kind, action.kind)
    if action.kind in (Kind.REBOOT_SOFT, Kind.REBOOT_HARD):
        return _reboot(ctx, token, sid, action.kind is Kind.REBOOT_HARD)
    if action.kind is Kind.CREATE_IMAGE:
        return _create_image(ctx, req, sid, action, known)
    return _rebuild(ctx, token, sid, action, known)


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
        return _bad(parsed)
    name, reason = parsed
    known = known_server(ctx, req.auth_token, sid)
    if isinstance(known, Reply):
        return known
    action = instance_actions.LOCK if name == "lock" else instance_actions.UNLOCK
    record = instance_actions.record_patch_op(instance_actions.new_record(ctx, req.auth_token, action))
    target = None if isinstance(known, Unknown) else known
    return server_lock.lock_action(ctx, sid, name, reason, target, record)


def _locked_now(ctx: RequestContext, sid: str) -> bool:
    """After Arktos refused a patch's tests (so it authorized the caller): the cache shows the lock."""
    pod = server_lock.cached_pod(ctx, sid)
    return pod is not None and server_lock.is_locked(pod)


def _action_post(
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
    return _conflict(conflict_message(nova_name, sid, "task_state", task_state))


def _accepted(
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
            return accepted(_details_name(reply), _tenant_for_notes(ctx, sid))
        if reply.status == 409:
            return _collision(ctx, sid, nova_name, task_state)
        return _failed(reply, sid)

    return translate


def submission_details(
    ctx: RequestContext,
    token: str | None,
    nova_action: str,
    ref: str,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What the processor notes of a CustomAction it submitted, with the instance action's record
    (``instance_actions.InstanceActionRecorder`` writes it on the pod)."""
    record = instance_actions.new_record(ctx, token, nova_action, ref)
    return {**(details or {}), **instance_actions.submission_note(record)}


def _reboot(ctx: RequestContext, token: str | None, sid: str, hard: bool) -> Outcome:
    def accepted(ref: str, tenant: str | None) -> Reply:
        if ctx.cluster is not None and tenant is not None and ref:
            details = submission_details(ctx, token, instance_actions.REBOOT, ref)
            ctx.cluster.note_submitted(
                tenant, ctx.config.namespace, sid, "reboot", ref, hard=hard, details=details
            )
        return Reply(status=202)

    task = "rebooting_hard" if hard else "rebooting"
    body = custom_action("reboot", {"delayInSeconds": REBOOT_DELAY_SECONDS})
    return Forward(
        _action_post(ctx, token, sid, "reboot", body), _accepted(ctx, sid, "reboot", "reboot", task, accepted)
    )


def _power(ctx: RequestContext, token: str | None, sid: str, kind: Kind, asked: Kind) -> Outcome:
    """Stop or start (``asked`` is what the client asked for: a HARD reboot may be a start)."""
    nova_action = {Kind.STOP: instance_actions.STOP, Kind.START: instance_actions.START}.get(
        asked, instance_actions.REBOOT
    )
    tenant = _tenant_for_notes(ctx, sid)
    cached = _cached(ctx, tenant, sid) if tenant is not None else None
    record = record_ops(
        cached.pod if cached is not None else None, instance_actions.new_record(ctx, token, nova_action)
    )

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            return Reply(status=202)
        # NOTE: Kubernetes 1.15's patch handler answers a failed JSON-patch test with a generic 422
        # (reason Invalid); 409 is accepted too in case an Arktos build maps it to a conflict.
        if reply.status in (409, 422) and _locked_now(ctx, sid):
            return server_lock.locked_reply(sid)
        if reply.status in (409, 422):
            # The powerSpec test failed: Arktos authorized the caller, so the cache may tell the state.
            tenant = _tenant_for_notes(ctx, sid)
            known = _cached(ctx, tenant, sid) if tenant is not None else None
            problem = refusal(asked, sid, known.state) if known is not None else None
            if problem is None:
                # The cache lags or does not know: phrase it from the test that failed.
                vm_state = "stopped" if kind is Kind.STOP else "active"
                nova_name = "reboot" if asked is Kind.REBOOT_HARD else kind.value
                problem = conflict_message(nova_name, sid, "vm_state", vm_state)
            return _conflict(problem)
        return _failed(reply, sid)

    upstream = ArktosRequest(
        method="PATCH",
        path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid),
        body=power_patch(
            kind, record, lockable=server_lock.lockable(cached.pod if cached is not None else None)
        ),
        content_type=JSON_PATCH_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


def _create_image(
    ctx: RequestContext, req: ClientRequest, sid: str, action: ActionRequest, known: KnownServer | None
) -> Outcome:
    image_id = str(uuid.uuid4())
    token = req.auth_token
    base_image = ""
    if known is not None:
        pod_annotations = (known.pod.get("metadata") or {}).get("annotations") or {}
        base_image = str(pod_annotations.get(keys.IMAGE_ID) or "")
    request = SnapshotRequest(
        name=action.image_name,
        server_id=sid,
        metadata=dict(action.image_metadata or {}),
        base_image_ref=base_image,
        user_id=user_id_for_token(token) if token else "",
    )
    location = f"{ctx.config.public_url}/image/v2/images/{image_id}"

    def accepted(ref: str, tenant: str | None) -> Reply:
        if ctx.cluster is not None and tenant is not None:
            details = submission_details(
                ctx, token, instance_actions.CREATE_IMAGE, image_id, request.as_details()
            )
            ctx.cluster.note_submitted(
                tenant, ctx.config.namespace, sid, "snapshot", image_id, details=details
            )
        # Nova below 2.45: 202, no body, the image's URL in Location.
        return Reply(status=202, headers={"location": location})

    body = custom_action("snapshot", {"snapshotName": image_id})
    translate = _accepted(ctx, sid, "snapshot", "createImage", "image_snapshot", accepted)
    return Forward(_action_post(ctx, req.auth_token, sid, "snapshot", body), translate)


def not_own_snapshot(image_ref: str, sid: str) -> str:
    return (
        f"Image {image_ref} is not a snapshot of instance {sid}; "
        "Arktos can only restore a VM from its own snapshots."
    )


def find_snapshot_id(ctx: RequestContext, sid: str, image: Image, image_ref: str) -> str | Reply:
    """The Arktos snapshot id a snapshot image names for server ``sid``, or the 400 reply."""
    snapshot_id = snapshot_id_of(image, sid)
    if snapshot_id is not None:
        return snapshot_id
    # Finished but recorded as queued still (the recorder lags by milliseconds): the Action itself tells.
    # Without any record the image was deleted, and a deleted snapshot cannot be restored into.
    tenant = _tenant_for_notes(ctx, sid)
    action = ctx.cluster.snapshot_action(image.id) if ctx.cluster is not None else None
    if action is not None:
        meta = action.get("metadata") or {}
        pod_name = (action.get("spec") or {}).get("podName")
        status, snapshot_id = action_outcome(action)
        if pod_name == sid and meta.get("tenant") == tenant and status == "active":
            return snapshot_id
    return _bad(not_own_snapshot(image_ref, sid))


def _rebuild(
    ctx: RequestContext, token: str | None, sid: str, action: ActionRequest, known: KnownServer | None
) -> Outcome:
    """Own snapshot: Arktos's restore action. Any other image: the VM is recreated from it (one patch)."""
    image = ctx.catalog.find_image(_tenant_for_notes(ctx, sid), action.image_ref)
    if image is None:
        return refused_after_existence(ctx, token, sid, _bad(f"Image {action.image_ref} could not be found."))
    if not is_snapshot(image):
        if image.status != "active":
            return refused_after_existence(ctx, token, sid, _bad(f"Image {action.image_ref} is not active."))
        return _rebuild_image(ctx, token, sid, action, known, image)
    snapshot_id = find_snapshot_id(ctx, sid, image, action.image_ref)
    if isinstance(snapshot_id, Reply):
        return refused_after_existence(ctx, token, sid, snapshot_id)
    if known is not None:
        problem = refusal(Kind.REBUILD, sid, known.state, RESTORE)
        if problem is not None:
            return _conflict(problem)
    return _restore(ctx, token, sid, action, known, snapshot_id)


def _restore(
    ctx: RequestContext,
    token: str | None,
    sid: str,
    action: ActionRequest,
    known: KnownServer | None,
    snapshot_id: str,
) -> Outcome:
    view = view_for(ctx)

    def accepted(ref: str, tenant: str | None) -> Reply:
        if ctx.cluster is not None and tenant is not None:
            restored = ref or snapshot_id
            details = submission_details(ctx, token, instance_actions.REBUILD, restored)
            ctx.cluster.note_submitted(
                tenant, ctx.config.namespace, sid, "restore", restored, details=details
            )
        # Nova's rebuild reply: the server (show without the extension attributes; no adminPass, as with
        # instance passwords disabled). Arktos has just let the caller act on this pod, so the cache may
        # describe it.
        cached = known or (_cached(ctx, tenant, sid) if tenant is not None else None)
        server: Json
        if cached is not None:
            server = view.show(cached.pod, pending_task="rebuilding", extended=False)
        else:
            # NOTE: Arktos's reply to a restore is a Status, not the pod: without the cache the name and
            # the rest are unknown here, and left out rather than made up (clients show the server next).
            server = {"id": sid, "status": "REBUILD", "links": view.links(sid), "OS-DCF:diskConfig": "MANUAL"}
        return json_reply(202, {"server": server})

    body = custom_action("restore", {"snapshotID": snapshot_id})
    translate = _accepted(ctx, sid, "restore", "rebuild", "rebuilding", accepted)
    return Forward(_action_post(ctx, token, sid, "restore", body), translate)


def rebuild_patch(
    known_pod: Mapping[str, Any] | None,
    image: Image,
    name: str | None,
    metadata: Mapping[str, str] | None,
    record: instance_actions.ActionRecord | None = None,
    access_ips: Mapping[str, str] | None = None,
) -> list[Json]:
    """ONE JSON patch: the VM's image, and the rebuild's name/metadata, on exactly the known VM pod (its uid
    tested first, as every write of the gateway to a pod it knows; Arktos answers a failed test with 422)."""
    changes: dict[str, str] = {keys.IMAGE_ID: image.id}
    if name is not None:
        changes[keys.DISPLAY_NAME] = name
    if metadata is not None:
        # Nova's rebuild replaces the server's metadata with the given one.
        changes[keys.METADATA] = orjson.dumps(dict(metadata)).decode()
    if record is not None:
        changes.update(instance_actions.record_annotations(record))
    changes.update(access_ips or {})
    ops: list[Json] = []
    uid = str(((known_pod or {}).get("metadata") or {}).get("uid") or "")
    if uid:
        ops.append({"op": "test", "path": "/metadata/uid", "value": uid})
    annotations = ((known_pod or {}).get("metadata") or {}).get("annotations")
    if known_pod is not None and not isinstance(annotations, dict):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": changes})
    else:
        # The gateway's pods always carry annotations (created-by...); a locked one refuses (server_lock).
        ops.append(server_lock.unlocked_test())
        ops.extend({"op": "add", "path": _annotation_path(k), "value": v} for k, v in changes.items())
    ops.append({"op": "replace", "path": IMAGE_PATH, "value": image.url})
    return ops


def _annotation_path(key: str) -> str:
    # JSON pointer escaping (RFC 6901): "~" then "/".
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


def _rebuild_image(
    ctx: RequestContext,
    token: str | None,
    sid: str,
    action: ActionRequest,
    known: KnownServer | None,
    image: Image,
) -> Outcome:
    current = ((known.pod.get("spec") or {}).get("virtualMachine") or {}) if known is not None else {}
    if current.get("image") == image.url:
        return _bad(
            f"Image {action.image_ref} is the image server {sid} already runs: Arktos recreates a VM only "
            "when its image changes, so a rebuild from the same image would not reinstall it."
        )
    view = view_for(ctx)
    record = instance_actions.new_record(ctx, token, instance_actions.REBUILD)
    known_pod = known.pod if known is not None else None
    patch = rebuild_patch(known_pod, image, action.name, action.metadata, record, action.access_ips)

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            try:
                pod = orjson.loads(reply.body)
            except orjson.JSONDecodeError:
                pod = None
            if isinstance(pod, dict):
                # Arktos's reply is the pod with its new image: REBUILD until the node agent reports it.
                return json_reply(202, {"server": view.show(pod, extended=False)})
        if reply.status == 422 and _locked_now(ctx, sid):
            return server_lock.locked_reply(sid)
        if reply.status == 422 and known is not None:
            # The uid test failed: not the server the cache knew (it was deleted, or its name reused).
            return _not_found(sid)
        return _failed(reply, sid)

    upstream = ArktosRequest(
        method="PATCH",
        path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid),
        body=orjson.dumps(patch),
        content_type=JSON_PATCH_CONTENT_TYPE,
    )
    return Forward(upstream, translate)
