"""Glance v2 handlers: ``GET /image``, ``/image/v2/images[/{id}]``, ``/image/v2/schemas/image[s]``.

Glance URLs carry no project, so image reads use Arktos's short path: the ConfigMap ``openstack-images`` of
the caller's own tenant, fetched with the caller's token (Arktos authorizes it; 404 gives the defaults).
The version document and the schemas need no Arktos call.
"""

from __future__ import annotations

from collections.abc import Mapping

from extproc.catalog_entries import Image, canonical_image_id
from extproc.catalog_reads import read_images
from extproc.catalog_rendered import query_key
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, not_found
from extproc.image import schemas, views
from extproc.image.list_query import link_query, ordered_images, parse_list
from extproc.messages import (
    ClientRequest,
    Outcome,
    Reply,
    json_reply,
)


def _bad(message: str) -> Reply:
    return bad_request(Service.IMAGE, message)


def image_not_found(image_id: str) -> Reply:
    return not_found(Service.IMAGE, f"No image found with ID {image_id}")


# ---------------------------------------------------------------------------------------------------------
# Answered by the processor


def versions(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    # NOTE: Glance answers its root with 300 Multiple Choices and no Location header (fixture 01).
    return json_reply(300, views.versions(ctx.config))


def image_schema(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return json_reply(200, schemas.image_schema())


def images_schema(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return json_reply(200, schemas.images_schema())


# ---------------------------------------------------------------------------------------------------------
# Show


def show_image(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    requested = params["image_id"]
    image_id = canonical_image_id(requested)
    if image_id is None:
        # NOTE: clients try a name here first and need this 404 (fixture 02); no id can match a non-UUID.
        return image_not_found(requested)

    def answer(images: list[Image]) -> Reply:
        for image in images:
            if image.id == image_id:
                return json_reply(200, views.image(image))
        return image_not_found(requested)

    # A snapshot the cache knows of: read that tenant's ConfigMap, so Arktos decides whether the caller may
    # see it, and a snapshot not recorded yet can be shown once it has (see extproc.snapshots).
    action = ctx.cluster.snapshot_action(image_id) if ctx.cluster is not None else None
    owner = str((action.get("metadata") or {}).get("tenant") or "") if action is not None else ""
    if not owner:
        return read_images(ctx, Service.IMAGE, answer)
    return read_images(ctx, Service.IMAGE, answer, owner, image_not_found(requested))


# ---------------------------------------------------------------------------------------------------------
# List


def list_images(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    query = parse_list(req)
    if isinstance(query, Reply):
        return query

    def answer(images: list[Image]) -> Reply:
        ordered = ordered_images(images, query.sort)
        start = 0
        if query.marker is not None:
            marker = canonical_image_id(query.marker) or query.marker
            for index, image in enumerate(ordered):
                if image.id == marker:
                    start = index + 1
                    break
            else:
                return bad_request(Service.IMAGE, f"marker [{query.marker}] not found")
        page = [image for image in ordered[start:] if query.wanted(image)][: query.limit]
        first_query = link_query(req, None)
        first = "/v2/images" + (f"?{first_query}" if first_query else "")
        next_href = None
        if page and len(page) == query.limit:
            next_href = f"/v2/images?{link_query(req, page[-1].id)}"
        return json_reply(200, views.image_list(page, first, next_href))

    # Glance's list reads nothing but the images and the query (its links are relative, no microversion).
    render_key = ("glance list", query_key(req.query))
    return read_images(ctx, Service.IMAGE, answer, token=req.auth_token, render_key=render_key)
