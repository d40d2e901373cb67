"""``createImage`` and ``rebuild``: the actions that involve an image (``extproc.compute.actions`` has the
table and the rules; ``extproc.snapshots`` links images to Arktos snapshots)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from extproc import annotations as keys
from extproc import arktos_paths
from extproc.catalog_entries import Image
from extproc.compute import instance_actions, keypairs, server_lock
from extproc.compute.action_request import (
    USER_DATA_UNCHANGEABLE,
    Absent,
    ActionRequest,
    RebuildKey,
    custom_action,
    rebuild_patch,
)
from extproc.compute.action_rules import RESTORE, Kind, refusal
from extproc.compute.action_support import (
    KnownServer,
    accepted_translate,
    action_post,
    bad,
    cached_in,
    conflict,
    failed,
    locked_now,
    not_found,
    refused_after_existence,
    submission_details,
    tenant_for_notes,
)
from extproc.compute.replies import view_for
from extproc.compute.server_fields import user_data
from extproc.context import RequestContext
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
from extproc.snapshots import SnapshotRequest, action_outcome, is_snapshot, snapshot_id_of
from extproc.users import user_id_for_token

Json = dict[str, Any]


def create_image(
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
        if ctx.compute_version >= (2, 45):
            # 2.45: the image id in the body, no Location.
            return json_reply(202, {"image_id": image_id})
        # Nova below 2.45: 202, no body, the image's URL in Location.
        return Reply(status=202, headers={"location": location})

    body = custom_action("snapshot", {"snapshotName": image_id})
    translate = accepted_translate(ctx, sid, "snapshot", "createImage", "image_snapshot", accepted)
    return Forward(action_post(ctx, req.auth_token, sid, "snapshot", body), translate)


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
    tenant = tenant_for_notes(ctx, sid)
    action = ctx.cluster.snapshot_action(image.id) if ctx.cluster is not None else None
    if action is not None:
        meta = action.get("metadata") or {}
        pod_name = (action.get("spec") or {}).get("podName")
        status, snapshot_id = action_outcome(action)
        if pod_name == sid and meta.get("tenant") == tenant and status == "active":
            return snapshot_id
    return bad(not_own_snapshot(image_ref, sid))


def rebuild(
    ctx: RequestContext, token: str | None, sid: str, action: ActionRequest, known: KnownServer | None
) -> Outcome:
    """Own snapshot: Arktos's restore action. Any other image: the VM is recreated from it (one patch)."""
    image = ctx.catalog.find_image(tenant_for_notes(ctx, sid), action.image_ref)
    if image is None:
        return refused_after_existence(ctx, token, sid, bad(f"Image {action.image_ref} could not be found."))
    if not is_snapshot(image):
        if image.status != "active":
            return refused_after_existence(ctx, token, sid, bad(f"Image {action.image_ref} is not active."))
        return _rebuild_image(ctx, token, sid, action, known, image)
    snapshot_id = find_snapshot_id(ctx, sid, image, action.image_ref)
    if isinstance(snapshot_id, Reply):
        return refused_after_existence(ctx, token, sid, snapshot_id)
    if known is not None:
        problem = refusal(Kind.REBUILD, sid, known.state, RESTORE)
        if problem is not None:
            return conflict(problem)
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
        # Nova's rebuild reply: the server (``ServerView.rebuild``; no adminPass, as with instance
        # passwords disabled). Arktos has just let the caller act on this pod, so the cache may describe it.
        cached = known or (cached_in(ctx, tenant, sid) if tenant is not None else None)
        server: Json
        if cached is not None:
            server = view.rebuild(cached.pod, pending_task="rebuilding")
        else:
            # NOTE: Arktos's reply to a restore is a Status, not the pod: without the cache the name and
            # the rest are unknown here, and left out rather than made up (clients show the server next).
            server = {"id": sid, "status": "REBUILD", "links": view.links(sid), "OS-DCF:diskConfig": "MANUAL"}
        return json_reply(202, {"server": server})

    body = custom_action("restore", {"snapshotID": snapshot_id})
    translate = accepted_translate(ctx, sid, "restore", "rebuild", "rebuilding", accepted)
    return Forward(action_post(ctx, token, sid, "restore", body), translate)


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
        return bad(
            f"Image {action.image_ref} is the image server {sid} already runs: Arktos recreates a VM only "
            "when its image changes, so a rebuild from the same image would not reinstall it."
        )
    if not isinstance(action.user_data, Absent) and action.user_data != user_data(known.pod if known else {}):
        return refused_after_existence(ctx, token, sid, bad(USER_DATA_UNCHANGEABLE))
    key: RebuildKey | None = None
    if action.key_name is None:
        key = RebuildKey(None, "", ctx.config.default_keypair)
    elif isinstance(action.key_name, str):
        # 2.54: the VM gets that keypair's public key, found as a create finds it.
        found = keypairs.public_key_for_create(ctx, token, action.key_name)
        if not isinstance(found, str):
            return found
        key = RebuildKey(action.key_name, found, action.key_name)
    view = view_for(ctx)
    record = instance_actions.new_record(ctx, token, instance_actions.REBUILD)
    known_pod = known.pod if known is not None else None
    patch = rebuild_patch(
        known_pod, image, action.name, action.metadata, record, action.access_ips, action, key
    )

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            try:
                pod = orjson.loads(reply.body)
            except orjson.JSONDecodeError:
                pod = None
            if isinstance(pod, dict):
                # Arktos's reply is the pod with its new image: REBUILD until the node agent reports it.
                return json_reply(202, {"server": view.rebuild(pod)})
        if reply.status == 422 and locked_now(ctx, sid):
            return server_lock.locked_reply(sid)
        if reply.status == 422 and known is not None:
            # The uid test failed: not the server the cache knew (it was deleted, or its name reused).
            return not_found(sid)
        return failed(reply, sid)

    upstream = ArktosRequest(
        method="PATCH",
        path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid),
        body=orjson.dumps(patch),
        content_type=JSON_PATCH_CONTENT_TYPE,
    )
    return Forward(upstream, translate)
