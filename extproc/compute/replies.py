"""What every Nova handler answers with: JSON replies, Nova's not-found wording, Arktos errors in
Nova's words, the request body as JSON, and the server view builder for a request."""

from __future__ import annotations

from typing import Any

import orjson

from extproc import client_json
from extproc.compute import schemas
from extproc.compute.action_rules import task_lookup_for
from extproc.compute.server_flavor import FlavorLike
from extproc.compute.server_view import ServerView
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, from_arktos
from extproc.messages import ArktosReply, ClientRequest, Reply


def view_for(ctx: RequestContext) -> ServerView:
    """The view builder for this request: links name the URL's project, images come from the catalog."""

    def image_lookup(tenant: str | None, url: str) -> str | None:
        image = ctx.catalog.image_by_url(tenant, url)
        return image.id if image is not None else None

    def flavor_lookup(tenant: str | None, flavor_id: str) -> FlavorLike | None:
        return ctx.catalog.find_flavor(tenant, flavor_id)

    tasks = task_lookup_for(ctx.cluster, ctx.config.namespace)
    return ServerView(
        ctx.config.public_url, ctx.tenant, image_lookup, tasks, ctx.compute_version, flavor_lookup
    )


def instance_not_found(sid: str) -> str:
    return f"Instance {sid} could not be found."


def arktos_error(reply: ArktosReply, sid: str | None = None) -> Reply:
    messages = {404: instance_not_found(sid)} if sid is not None else None
    return from_arktos(Service.COMPUTE, reply, messages)


def load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def request_json(req: ClientRequest) -> Any | Reply:
    if not req.body:
        return bad_request(Service.COMPUTE, "The request body is missing.")
    try:
        return client_json.loads(req.body)
    except orjson.JSONDecodeError:
        return bad_request(Service.COMPUTE, "Malformed request body")


def validated_json(req: ClientRequest, validator: Any) -> Any | Reply:
    """The request's JSON body once ``validator`` (``schemas.Draft4Validator``) accepts it, or Nova's 400."""
    body = request_json(req)
    if isinstance(body, Reply):
        return body
    invalid = schemas.validate(validator, body)
    return bad_request(Service.COMPUTE, invalid) if invalid is not None else body
