"""Nova's server lock: the ``lock`` / ``unlock`` actions, the ``locked`` fields of the server view, and the
guard every lock-checked write passes.

Where it lives: two annotations on the VM pod (``extproc.annotations``): ``locked-by`` (``owner``) while the
server is locked, absent when it is not, and ``locked-reason`` (microversion 2.73). Lock and unlock are each
ONE JSON patch of the pod that tests its uid (the VM pod the cache knows, as every gateway write to a known
pod).

How a locked server refuses (Nova's ``@check_instance_lock``: 409 ``Instance <id> is locked``, checked
before the vm_state rules):

- in the same Arktos write, where the write is a JSON patch (stop, start, a rebuild from an image, metadata
  writes): its first operations ``test`` the ``locked-by`` annotation for null. Arktos applies JSON patches
  with evanphx/json-patch, whose ``test`` treats an absent member as null (and the simulator does the same),
  so the test passes exactly when the server is not locked, and a lock that lands between the cache and the
  write makes Arktos refuse it (422): no race slips through;
- from the watch-fed cache for the writes Arktos cannot make conditional on an annotation (delete, whose
  only precondition is the uid; reboot, createImage and the restore rebuild, which are CustomActions):
  ``guard`` refuses when the cached pod is locked, told only once Arktos has let the caller into the tenant
  (``arktos_first``). A lock racing one of those writes by less than the watch's lag does not stop it, as a
  Nova API request racing a lock that its check did not see yet.

Arktos does not tell the gateway whether a caller is an administrator, so every lock is the owner's
(``locked_by: owner``) and an administrator gets the same 409 as the owner (Nova lets admins through).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from extproc import annotations as keys
from extproc import arktos_paths
from extproc.arktos_first import refuse_after_arktos
from extproc.compute import schemas
from extproc.context import RequestContext
from extproc.errors import Service, error_reply, from_arktos
from extproc.messages import (
    JSON_PATCH_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    Forward,
    Outcome,
    Reply,
)
from extproc.tenant_proofs import ALL_TENANTS

Json = dict[str, Any]

OWNER = "owner"
ACTION_NAMES = ("lock", "unlock")
# Microversions that change what is shown and accepted (Nova's servers view and lock_server schemas).
LOCKED_SHOWN_FROM = (2, 9)
LOCKED_REASON_FROM = (2, 73)

# nova/api/openstack/compute/schemas/lock_server.py: any value up to 2.72; then null or a reason.
_LOCK: Json = {
    "type": "object",
    "properties": {"lock": {}},
    "required": ["lock"],
    "additionalProperties": False,
}
_LOCK_V273: Json = {
    "type": "object",
    "properties": {
        "lock": {
            "type": ["object", "null"],
            "properties": {"locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}},
            "additionalProperties": False,
        }
    },
    "required": ["lock"],
    "additionalProperties": False,
}
_UNLOCK: Json = {
    "type": "object",
    "properties": {"unlock": {}},
    "required": ["unlock"],
    "additionalProperties": False,
}
_VALIDATORS = {
    "lock": schemas.Draft4Validator(_LOCK),
    "lock_v273": schemas.Draft4Validator(_LOCK_V273),
    "unlock": schemas.Draft4Validator(_UNLOCK),
}


# -- what a pod says ---------------------------------------------------------------------------------------


def _annotations(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    annotations = (pod.get("metadata") or {}).get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def is_locked(pod: Mapping[str, Any]) -> bool:
    return bool(_annotations(pod).get(keys.LOCKED_BY))


def locked_reason(pod: Mapping[str, Any]) -> str | None:
    reason = _annotations(pod).get(keys.LOCKED_REASON)
    return str(reason) if reason and is_locked(pod) else None


def view_fields(pod: Mapping[str, Any], version: tuple[int, int]) -> Json:
    """The server view's lock fields at ``version``: ``locked`` from 2.9, ``locked_reason`` from 2.73."""
    fields: Json = {}
    if version >= LOCKED_SHOWN_FROM:
        fields["locked"] = is_locked(pod)
    if version >= LOCKED_REASON_FROM:
        fields["locked_reason"] = locked_reason(pod)
    return fields


def locked_message(sid: str) -> str:
    """nova.exception.InstanceIsLocked."""
    return f"Instance {sid} is locked"


def locked_reply(sid: str) -> Reply:
    return error_reply(Service.COMPUTE, 409, locked_message(sid))


# -- JSON patches (pure) -----------------------------------------------------------------------------------


def annotation_path(key: str) -> str:
    # JSON pointer escaping (RFC 6901): "~" then "/".
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


def lockable(pod: Mapping[str, Any] | None) -> bool:
    """Whether a guarded patch of ``pod`` tests the lock: not for a VM pod the cache shows without any
    annotations (not made by the gateway; nothing locked it, and a test inside the missing map would fail
    the whole patch); yes when the cache does not know the pod (the gateway's pods carry annotations)."""
    if pod is None:
        return True
    return isinstance((pod.get("metadata") or {}).get("annotations"), dict)


def unlocked_test() -> Json:
    """The JSON-patch operation that fails unless the server is unlocked (absent annotation == null)."""
    return {"op": "test", "path": annotation_path(keys.LOCKED_BY), "value": None}


def _uid_test(uid: str | None) -> list[Json]:
    return [{"op": "test", "path": "/metadata/uid", "value": uid}] if uid else []


def _drop(key: str) -> list[Json]:
    """Remove an annotation whether or not it is there (``remove`` alone fails on an absent member)."""
    path = annotation_path(key)
    return [{"op": "add", "path": path, "value": ""}, {"op": "remove", "path": path}]


def lock_patch(
    uid: str | None, reason: str | None, already_locked: bool, record: Json | None = None
) -> list[Json]:
    """Lock the pod of ``uid``; ``record`` is the instance action's patch operation
    (``instance_actions.record_patch_op``). Already locked: Nova changes nothing (the first reason stays)
    and records no action."""
    ops = _uid_test(uid)
    ops.append({"op": "add", "path": annotation_path(keys.LOCKED_BY), "value": OWNER})
    if already_locked:
        return ops
    if reason is not None:
        ops.append({"op": "add", "path": annotation_path(keys.LOCKED_REASON), "value": reason})
    else:
        ops.extend(_drop(keys.LOCKED_REASON))
    return [*ops, *([record] if record is not None else [])]


def unlock_patch(uid: str | None, record: Json | None = None) -> list[Json]:
    ops = [*_uid_test(uid), *_drop(keys.LOCKED_BY), *_drop(keys.LOCKED_REASON)]
    return [*ops, *([record] if record is not None else [])]


# -- parsing -----------------------------------------------------------------------------------------------


def parse(body: Mapping[str, Any], version: tuple[int, int]) -> tuple[str, str | None] | str:
    """(``lock``/``unlock``, the lock's reason) or Nova's 400 message for a body naming one of them."""
    name = next(iter(body))
    if name == "lock":
        validator = _VALIDATORS["lock_v273" if version >= LOCKED_REASON_FROM else "lock"]
    else:
        validator = _VALIDATORS["unlock"]
    problem = schemas.validate(validator, body)
    if problem is not None:
        return problem
    args = body[name]
    reason = None
    if name == "lock" and version >= LOCKED_REASON_FROM and isinstance(args, dict):
        reason = args.get("locked_reason")
    return name, reason


# -- the guard of writes the cache decides -----------------------------------------------------------------


def guard(ctx: RequestContext, token: str | None, sid: str, pod: Mapping[str, Any] | None) -> Outcome | None:
    """Nova's 409 when the cached VM pod ``pod`` (of the URL's tenant, or the short path's) is locked, told
    once Arktos has let ``token`` in (a proven token at once, else after one GET of the server); None when
    the write may go on."""
    if pod is None or not is_locked(pod):
        return None
    consulted = ctx.tenant if ctx.tenant is not None else ALL_TENANTS
    probe = arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)
    missing = error_reply(Service.COMPUTE, 404, f"Instance {sid} could not be found.")
    return refuse_after_arktos(ctx, token, locked_reply(sid), consulted, probe, missing=missing)


def cached_pod(ctx: RequestContext, sid: str) -> Mapping[str, Any] | None:
    """The VM pod of that name the cache holds in the URL's tenant (short path: wherever it is unique)."""
    cluster = ctx.cluster
    if cluster is None or not cluster.synced:
        return None
    tenant = ctx.tenant if ctx.tenant is not None else cluster.locate_pod(ctx.config.namespace, sid)
    return cluster.pod(tenant, ctx.config.namespace, sid) if tenant is not None else None


# -- the actions -------------------------------------------------------------------------------------------


def lock_action(
    ctx: RequestContext,
    sid: str,
    name: str,
    reason: str | None,
    target: Mapping[str, Any] | None,
    record: Json | None = None,
) -> Outcome:
    """``lock`` / ``unlock`` as one JSON patch of the pod (with ``record``, the instance action's operation).
    ``target`` is the VM pod the cache knows (its uid is tested: never a container pod of that name), ``{}``
    for one the cache knows does not exist (a uid no object has: Arktos authorizes, then refuses), None
    when the cache cannot tell."""
    uid: str | None = None
    if target is not None:
        uid = str((target.get("metadata") or {}).get("uid") or "") or NO_OBJECT_UID
    if name == "lock":
        patch = lock_patch(uid, reason, target is not None and is_locked(target), record)
    else:
        patch = unlock_patch(uid, record)

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            return Reply(status=202)
        if reply.status in (409, 422) and uid is not None:
            # The uid test failed: not the server the cache knew.
            return error_reply(Service.COMPUTE, 404, f"Instance {sid} could not be found.")
        return from_arktos(Service.COMPUTE, reply, {404: f"Instance {sid} could not be found."})

    upstream = ArktosRequest(
        method="PATCH",
        path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid),
        body=orjson.dumps(patch),
        content_type=JSON_PATCH_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


# A uid no object has: a precondition Arktos checks after authorizing the caller, and always refuses.
NO_OBJECT_UID = "00000000-0000-0000-0000-000000000000"
