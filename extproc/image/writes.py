"""Image writes: Glance's ``POST /v2/images``, ``PATCH``/``DELETE /v2/images/{id}``, the web-download import,
``GET /v2/info/import``, the refused data upload, and Nova's ``DELETE /images/{id}`` proxy.

Each write is one conditional Arktos write of the tenant's ``openstack-images`` ConfigMap with the client's
token (``extproc.image.records``): Arktos authorizes it, and the version test keeps concurrent writers from
losing each other's changes.

Which tenant: Nova's URL names it; Glance's does not, so the gateway takes the tenant whose catalog holds
the image among those Arktos has recently let this token into (``tenant_proofs``: a project-scoped token
issued through the gateway proves its project), else the only tenant holding that image id. A wrong guess
costs nothing but the answer: Arktos refuses the write (403), answered as Glance's 404, so an image of
another tenant looks like no image at all.

Refusals that depend on who owns an image (a built-in or operator image is Glance's admin-owned public
image: 403) or on its state (protected, in-flight snapshot) are answered after ONE Arktos read of that
tenant's ConfigMap with the client's token, so nothing about a tenant is said before Arktos has let the
caller into it, and the answer reflects the ConfigMap as it is, not the processor's copy.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from extproc import client_json
from extproc.catalog_configmaps import configmap_data, parse_images
from extproc.catalog_entries import DEFAULT_IMAGES, Image, canonical_image_id
from extproc.catalog_reads import read_images
from extproc.context import RequestContext
from extproc.errors import Service, error_reply, from_arktos
from extproc.image import records, views
from extproc.image.records import Refusal
from extproc.messages import (
    ArktosReply,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
    json_reply,
)
from extproc.snapshots import is_snapshot

_DEFAULT_IDS = frozenset(image.id for image in DEFAULT_IMAGES)

RETRY = (
    "The images of this project changed while this request was being made (another client or a snapshot "
    "finishing); retry the request."
)
UNKNOWN_PROJECT = (
    "The gateway does not know the project of this token yet: Glance URLs name no project. Authenticate "
    "with a project-scoped token (project_name in clouds.yaml) through this gateway first."
)
UPLOAD_DISABLED = (
    "Error in store configuration. Adding images to store is disabled. Arktos has no image store: register "
    "the image and import it with the web-download method (openstack image create ... then openstack image "
    "import --method web-download --uri <url> <image>), and Arktos boots the VM from that URL."
)
IN_FLIGHT = (
    "Image {id} is a server snapshot that Arktos is still taking; it can be deleted once it is active."
)


def _error(service: Service, refusal: Refusal) -> Reply:
    reply = error_reply(service, refusal.status, refusal.message)
    reply.headers.update(refusal.headers)
    return reply


def _body(req: ClientRequest) -> Any | Refusal:
    if not req.body:
        return Refusal(400, "Body expected in request.")
    try:
        return client_json.loads(req.body)  # bounded nesting: jsonschema recurses per level
    except orjson.JSONDecodeError:
        return Refusal(400, "Malformed JSON in request body.")


# ---------------------------------------------------------------------------------------------------------
# Which tenant, which image


def caller_tenants(ctx: RequestContext, token: str | None) -> list[str]:
    """The URL's tenant, else the tenants Arktos recently let this token into (newest first)."""
    if ctx.tenant is not None:
        return [ctx.tenant]
    return ctx.proofs.tenants(token) if ctx.proofs is not None else []


def locate(ctx: RequestContext, token: str | None, image_id: str) -> tuple[str | None, Image | None]:
    """(tenant, the image as the processor's catalog knows it there) for an image write."""
    proven = caller_tenants(ctx, token)
    holders = ctx.catalog.tenants_with_image(image_id)
    candidates = [t for t in proven if t in holders] or proven[:1] or holders[:2]
    if len(candidates) == 1:
        tenant = candidates[0]
        found = next((i for i in ctx.catalog.images(tenant) if i.id == image_id), None)
        return tenant, found
    default = next((i for i in DEFAULT_IMAGES if i.id == image_id), None)
    return None, default


def _fresh(reply: ArktosReply, image_id: str) -> Image | None:
    """The image as a ConfigMap write or read reply shows it."""
    data = configmap_data(reply) if reply.status in (200, 201) else None
    found = [i for i in parse_images(data) if i.id == image_id] if data is not None else []
    return found[0] if found else None


# ---------------------------------------------------------------------------------------------------------
# One change of one image


# (the image as known, its tenant) -> the image to record, None to remove it, or Glance's refusal.
Decide = Callable[[Image, str], Image | Refusal | None]


@dataclass(frozen=True, slots=True)
class Wording:
    """How a service words the outcomes of a change."""

    service: Service
    not_found: str
    # The reply once Arktos has written (the image as recorded, None once removed).
    done: Callable[[Image | None], Reply]


def change_image(
    ctx: RequestContext, req: ClientRequest, image_id: str, decide: Decide, wording: Wording
) -> Outcome:
    service = wording.service
    not_found = error_reply(service, 404, wording.not_found)
    tenant, image = locate(ctx, req.auth_token, image_id)
    if image is None:
        return not_found
    if tenant is None:
        # A built-in image and no tenant to ask about: the same public image for every tenant.
        refusal = decide(image, "")
        return _error(service, refusal) if isinstance(refusal, Refusal) else not_found
    decided = decide(image, tenant)
    if isinstance(decided, Refusal):
        return _refuse_after_read(ctx, tenant, image_id, decide, wording)
    current = ctx.catalog.images_configmap(tenant)
    deleted_at = datetime.now(UTC) if decided is None and is_snapshot(image) else None
    data = records.changed_data(current, image_id, decided, deleted_at)
    upstream = records.write_request(tenant, ctx.config.namespace, current, data)

    def translate(reply: ArktosReply) -> Reply:
        if reply.status in (200, 201):
            return wording.done(_fresh(reply, image_id))
        if reply.status in (403, 404):
            return not_found
        if reply.status in (409, 422):
            return error_reply(service, 409, RETRY)
        return from_arktos(service, reply)

    return Forward(upstream, translate)


def _refuse_after_read(
    ctx: RequestContext, tenant: str, image_id: str, decide: Decide, wording: Wording
) -> Outcome:
    """Refusals are said only once Arktos has let the caller read the tenant's images, and from them."""
    service = wording.service
    not_found = error_reply(service, 404, wording.not_found)

    def answer(images: list[Image]) -> Reply:
        image = next((i for i in images if i.id == image_id), None)
        if image is None:
            return not_found
        decided = decide(image, tenant)
        if isinstance(decided, Refusal):
            return _error(service, decided)
        # The processor's copy was behind the ConfigMap; the change is allowed now.
        return error_reply(service, 409, RETRY)

    return read_images(ctx, service, answer, tenant, not_found)


# ---------------------------------------------------------------------------------------------------------
# DELETE


def _deletion(service: Service) -> Decide:
    def decide(image: Image, tenant: str) -> Image | Refusal | None:
        if not tenant or image.owner != tenant:
            if service is Service.COMPUTE:
                return Refusal(403, "You are not allowed to delete the image.")
            return Refusal(403, "You are not authorized to complete delete_image action.")
        if image.protected:
            return Refusal(403, f"Image {image.id} is protected and cannot be deleted.")
        if is_snapshot(image) and image.status != "active":
            return Refusal(409, IN_FLIGHT.format(id=image.id))
        return None

    return decide


def delete_image(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """Glance ``DELETE /v2/images/{id}``: 204."""
    requested = params["image_id"]
    image_id = canonical_image_id(requested)
    wording = Wording(Service.IMAGE, f"Failed to find image {requested} to delete", lambda _: Reply(204))
    if image_id is None:
        return error_reply(Service.IMAGE, 404, wording.not_found)
    return change_image(ctx, req, image_id, _deletion(Service.IMAGE), wording)


def delete_image_nova(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """Nova's proxy ``DELETE /images/{id}``: 204 (nova/api/openstack/compute/images.py)."""
    image_id = canonical_image_id(params["image_id"])
    wording = Wording(Service.COMPUTE, "Image not found.", lambda _: Reply(204))
    if image_id is None:
        return error_reply(Service.COMPUTE, 404, wording.not_found)
    return change_image(ctx, req, image_id, _deletion(Service.COMPUTE), wording)


# ---------------------------------------------------------------------------------------------------------
# PATCH, import


def _owned(image: Image, tenant: str) -> Refusal | None:
    if not tenant or image.owner != tenant:
        return Refusal(403, "You are not authorized to complete modify_image action.")
    return None


def _shown(image: Image | None) -> Reply:
    if image is None:
        return error_reply(Service.IMAGE, 409, RETRY)
    return json_reply(200, views.image(image))


def update_image(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """Glance ``PATCH /v2/images/{id}`` (JSON patch media types): 200 with the image."""
    requested = params["image_id"]
    image_id = canonical_image_id(requested)
    if image_id is None:
        return error_reply(Service.IMAGE, 404, f"No image found with ID {requested}")
    body = _body(req)
    if isinstance(body, Refusal):
        return _error(Service.IMAGE, body)
    try:
        changes = records.parse_patch(req.headers.get("content-type", ""), body)
    except Refusal as refusal:
        return _error(Service.IMAGE, refusal)
    now = records.glance_now()

    def decide(image: Image, tenant: str) -> Image | Refusal | None:
        try:
            return _owned(image, tenant) or records.apply_changes(image, changes, now)
        except Refusal as refusal:
            return refusal

    wording = Wording(Service.IMAGE, f"No image found with ID {requested}", _shown)
    return change_image(ctx, req, image_id, decide, wording)


def import_image(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """Glance ``POST /v2/images/{id}/import`` with web-download: 202; the image is then active."""
    requested = params["image_id"]
    image_id = canonical_image_id(requested)
    if image_id is None:
        return error_reply(Service.IMAGE, 404, f"No image found with ID {requested}")
    body = _body(req)
    if isinstance(body, Refusal):
        return _error(Service.IMAGE, body)
    try:
        _method, uri = records.import_request(body)
    except Refusal as refusal:
        return _error(Service.IMAGE, refusal)
    now = records.glance_now()

    def decide(image: Image, tenant: str) -> Image | Refusal | None:
        try:
            refusal = _owned(image, tenant)
            if refusal is None:
                records.check_web_download(image, uri)
        except Refusal as refused:
            return refused
        return refusal or records.imported(image, uri, now)

    wording = Wording(Service.IMAGE, f"No image found with ID {requested}", lambda _: Reply(202))
    return change_image(ctx, req, image_id, decide, wording)


def import_info(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``GET /v2/info/import`` (glance/api/v2/discovery.py): only the methods this gateway implements."""
    methods = {
        "description": "Import methods available.",
        "type": "array",
        "value": list(records.IMPORT_METHODS),
    }
    return json_reply(200, {"import-methods": methods})


def upload_disabled(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``PUT /v2/images/{id}/file`` and ``/stage``: Glance's answer when adding to its store is disabled."""
    return error_reply(Service.IMAGE, 410, UPLOAD_DISABLED)


# ---------------------------------------------------------------------------------------------------------
# POST /v2/images


def create_image(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """Glance ``POST /v2/images``: 201 with the queued image and its Location."""
    body = _body(req)
    if isinstance(body, Refusal):
        return _error(Service.IMAGE, body)
    tenants = caller_tenants(ctx, req.auth_token)
    if not tenants:
        return error_reply(Service.IMAGE, 403, UNKNOWN_PROJECT)
    tenant = tenants[0]
    requested_id = body.get("id") if isinstance(body, dict) else None
    image_id = canonical_image_id(requested_id) if isinstance(requested_id, str) else str(uuid.uuid4())
    try:
        image = records.new_image(body, image_id or "", tenant, records.glance_now())
    except Refusal as refusal:
        return _error(Service.IMAGE, refusal)
    if any(i.id == image.id for i in ctx.catalog.images(tenant)):
        return error_reply(Service.IMAGE, 409, f"Image with identifier {image.id} already exists!")
    current = ctx.catalog.images_configmap(tenant)
    upstream = records.write_request(
        tenant, ctx.config.namespace, current, records.changed_data(current, image.id, image)
    )
    location = f"{ctx.config.public_url}/image/v2/images/{image.id}"

    def translate(reply: ArktosReply) -> Reply:
        if reply.status in (200, 201):
            recorded = _fresh(reply, image.id) or image
            return json_reply(201, views.image(recorded), {"location": location})
        if reply.status == 403:
            return error_reply(Service.IMAGE, 403, "You are not authorized to complete add_image action.")
        if reply.status in (409, 422):
            return error_reply(Service.IMAGE, 409, RETRY)
        return from_arktos(Service.IMAGE, reply)

    return Forward(upstream, translate)
