"""``POST /servers/{id}/action``: reboot, os-stop, os-start, createImage and rebuild, one Arktos call each.

| Nova action                | Arktos call                                                 | reply           |
|----------------------------|-------------------------------------------------------------|-----------------|
| ``reboot`` SOFT / HARD     | ``POST pods/{id}/action`` CustomAction ``reboot``           | 202             |
| ``os-stop`` / ``os-start`` | ``PATCH pods/{id}`` JSON patch: test + replace powerSpec    | 202             |
| ``createImage``            | CustomAction ``snapshot``, ``snapshotName`` = new image id  | 202 + Location  |
| ``rebuild``                | CustomAction ``restore`` (own snapshots only), snapshotID   | 202 + server    |

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
project within one second collide (409 AlreadyExists). That is answered as Nova answers an action on a
server that is busy with the same task: 409 conflictingRequest ("... while it is in task_state rebooting"),
never a 500; the client may retry a second later.

createImage and rebuild link images to Arktos snapshots as ``extproc.snapshots`` describes. rebuild's
``name``/``metadata``/``adminPass`` change nothing in Arktos (one call: the restore), and the reply shows
the server as the cache knows it, in task_state ``rebuilding``.
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
from extproc.compute import schemas
from extproc.compute.action_rules import Kind, conflict_message, pending_task, refusal
from extproc.compute.server_status import ServerState
from extproc.compute.server_view import state_of
from extproc.compute.servers import generate_password, instance_not_found, json_reply, ref_id, view_for
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, error_reply, from_arktos
from extproc.messages import (
    JSON_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
)
from extproc.snapshots import SnapshotRequest, action_outcome, snapshot_id_of
from extproc.tenant_proofs import ALL_TENANTS
from extproc.users import user_id_for_token

JSON_PATCH = "application/json-patch+json"
POWER_SPEC_PATH = "/spec/virtualMachine/powerSpec"
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
    admin_pass: str | None = None


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
    return ActionRequest(
        Kind.REBUILD, image_ref=ref_id(str(args["imageRef"])), admin_pass=args.get("adminPass")
    )


# -- Arktos requests (pure) --------------------------------------------------------------------------------


def custom_action(operation: str, params: Json) -> bytes:
    field = {"reboot": "rebootParams", "snapshot": "snapshotParams", "restore": "restoreParams"}[operation]
    return orjson.dumps({"apiVersion": "v1", "kind": "CustomAction", "operation": operation, field: params})


def power_patch(kind: Kind) -> bytes:
    """The conditional power change: fails (422) unless powerSpec is still what the action starts from."""
    want, current = ("Shutdown", "Running") if kind is Kind.STOP else ("Running", "Shutdown")
    return orjson.dumps(
        [
            {"op": "test", "path": POWER_SPEC_PATH, "value": current},
            {"op": "replace", "path": POWER_SPEC_PATH, "value": want},
        ]
    )


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
    action = parse_action(body)
    if isinstance(action, str):
        return _bad(action)
    known = cached_server(ctx, req.auth_token, sid)
    if known is not None:
        problem = refusal(action.kind, sid, known.state)
        if problem is not None:
            return _conflict(problem)
    if action.kind is Kind.REBOOT_HARD and known is not None and known.state.vm_state == "stopped":
        return _power(ctx, sid, Kind.START, Kind.REBOOT_HARD)
    if action.kind in (Kind.STOP, Kind.START):
        return _power(ctx, sid, action.kind, action.kind)
    if action.kind in (Kind.REBOOT_SOFT, Kind.REBOOT_HARD):
        return _reboot(ctx, sid, action.kind is Kind.REBOOT_HARD)
    if action.kind is Kind.CREATE_IMAGE:
        return _create_image(ctx, req, sid, action, known)
    return _rebuild(ctx, req.auth_token, sid, action, known)


def _action_post(ctx: RequestContext, sid: str, body: bytes) -> ArktosRequest:
    path = arktos_paths.pod_action(ctx.tenant, ctx.config.namespace, sid)
    return ArktosRequest(method="POST", path=path, body=body, content_type=JSON_CONTENT_TYPE)


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


def _reboot(ctx: RequestContext, sid: str, hard: bool) -> Outcome:
    def accepted(ref: str, tenant: str | None) -> Reply:
        if ctx.cluster is not None and tenant is not None and ref:
            ctx.cluster.note_submitted(tenant, ctx.config.namespace, sid, "reboot", ref, hard=hard)
        return Reply(status=202)

    task = "rebooting_hard" if hard else "rebooting"
    body = custom_action("reboot", {"delayInSeconds": REBOOT_DELAY_SECONDS})
    return Forward(_action_post(ctx, sid, body), _accepted(ctx, sid, "reboot", "reboot", task, accepted))


def _power(ctx: RequestContext, sid: str, kind: Kind, asked: Kind) -> Outcome:
    """Stop or start (``asked`` is what the client asked for: a HARD reboot may be a start)."""

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            return Reply(status=202)
        # NOTE: Kubernetes 1.15's patch handler answers a failed JSON-patch test with a generic 422
        # (reason Invalid); 409 is accepted too in case an Arktos build maps it to a conflict.
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
        body=power_patch(kind),
        content_type=JSON_PATCH,
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
            ctx.cluster.note_submitted(
                tenant, ctx.config.namespace, sid, "snapshot", image_id, details=request.as_details()
            )
        # Nova below 2.45: 202, no body, the image's URL in Location.
        return Reply(status=202, headers={"location": location})

    body = custom_action("snapshot", {"snapshotName": image_id})
    translate = _accepted(ctx, sid, "snapshot", "createImage", "image_snapshot", accepted)
    return Forward(_action_post(ctx, sid, body), translate)


def not_own_snapshot(image_ref: str, sid: str) -> str:
    return (
        f"Image {image_ref} is not a snapshot of instance {sid}; "
        "Arktos can only restore a VM from its own snapshots."
    )


def find_snapshot_id(ctx: RequestContext, sid: str, image_ref: str) -> str | Reply:
    """The Arktos snapshot id ``image_ref`` names for server ``sid``, or the 400 reply."""
    tenant = _tenant_for_notes(ctx, sid)
    image: Image | None = ctx.catalog.find_image(tenant, image_ref)
    if image is not None:
        snapshot_id = snapshot_id_of(image, sid)
        if snapshot_id is not None:
            return snapshot_id
    # Finished but recorded as queued still (the recorder lags by milliseconds): the Action itself tells.
    # Without any record the image was deleted, and a deleted snapshot cannot be restored into.
    image_id = image.id if image is not None else None
    action = ctx.cluster.snapshot_action(image_id) if ctx.cluster is not None and image_id else None
    if action is not None:
        meta = action.get("metadata") or {}
        pod_name = (action.get("spec") or {}).get("podName")
        status, snapshot_id = action_outcome(action)
        if pod_name == sid and meta.get("tenant") == tenant and status == "active":
            return snapshot_id
    if image is None and action is None:
        return _bad(f"Image {image_ref} could not be found.")
    return _bad(not_own_snapshot(image_ref, sid))


def _rebuild(
    ctx: RequestContext, token: str | None, sid: str, action: ActionRequest, known: KnownServer | None
) -> Outcome:
    snapshot_id = find_snapshot_id(ctx, sid, action.image_ref)
    if isinstance(snapshot_id, Reply):
        # Decided from the catalog and the cache (of the server's tenant, or on a short path of whichever
        # tenant holds a pod or snapshot of that name): told only after Arktos has shown the caller the
        # server; a server Arktos does not show is Nova's 404, which comes before any image check.
        consulted = ctx.tenant if ctx.tenant is not None else ALL_TENANTS
        probe = arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)
        return refuse_after_arktos(ctx, token, snapshot_id, consulted, probe, missing=_not_found(sid))
    admin_pass = action.admin_pass or generate_password()
    view = view_for(ctx)

    def accepted(ref: str, tenant: str | None) -> Reply:
        if ctx.cluster is not None and tenant is not None:
            ctx.cluster.note_submitted(tenant, ctx.config.namespace, sid, "restore", ref or snapshot_id)
        # Nova's rebuild reply: the server (show without the extension attributes) and adminPass.
        server: Json
        if known is not None:
            server = view.show(known.pod, pending_task="rebuilding", extended=False)
        else:
            server = {"id": sid, "name": sid, "status": "REBUILD", "links": view.links(sid)}
            server["OS-DCF:diskConfig"] = "MANUAL"
        server["adminPass"] = admin_pass
        return json_reply(202, {"server": server})

    body = custom_action("restore", {"snapshotID": snapshot_id})
    translate = _accepted(ctx, sid, "restore", "rebuild", "rebuilding", accepted)
    return Forward(_action_post(ctx, sid, body), translate)
