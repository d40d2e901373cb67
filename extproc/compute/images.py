"""Nova's image proxy (``/images``, ``/images/detail``, ``/images/{id}``), used by Tempest and novaclient.

Like flavors, every read is a GET of the tenant's ``openstack-images`` ConfigMap with the client's token.
Shapes follow ``nova/api/openstack/compute/views/images.py`` at microversion 2.1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from extproc.catalog_entries import Image, canonical_image_id
from extproc.catalog_reads import read_images
from extproc.catalog_rendered import query_key
from extproc.compute.flavors import NovaPage, compute_links, compute_render_key, parse_nova_page
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, echo, not_found
from extproc.messages import ClientRequest, Outcome, Reply, json_reply

# Glance status -> Nova image status / progress (views/images.py _get_status, _get_progress).
_STATUS = {
    "active": "ACTIVE",
    "queued": "SAVING",
    "saving": "SAVING",
    "deleted": "DELETED",
    "pending_delete": "DELETED",
    "killed": "ERROR",
}
_PROGRESS = {"queued": 25, "saving": 50, "active": 100}


# ---------------------------------------------------------------------------------------------------------
# Views


def _links(ctx: RequestContext, image: Image) -> list[dict[str, str]]:
    links = compute_links(ctx, "images", image.id)
    # NOTE: Nova joins the Glance endpoint and "images" without a version: <public>/image/images/<id>.
    links.append(
        {
            "rel": "alternate",
            "type": "application/vnd.openstack.image",
            "href": f"{ctx.config.public_url}/image/images/{quote(image.id, safe='')}",
        }
    )
    return links


def nova_date(glance_time: str) -> str:
    try:
        parsed = datetime.fromisoformat(glance_time.replace("Z", "+00:00"))
    except ValueError:
        return glance_time
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_basic(ctx: RequestContext, image: Image) -> dict[str, Any]:
    return {"id": image.id, "name": image.name, "links": _links(ctx, image)}


def image_show(ctx: RequestContext, image: Image) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "minRam": image.min_ram,
        "minDisk": image.min_disk,
        "metadata": dict(image.properties),
        "created": nova_date(image.created_at),
        "updated": nova_date(image.updated_at),
        "status": _STATUS.get(image.status, "UNKNOWN"),
        "progress": _PROGRESS.get(image.status, 0),
        "OS-EXT-IMG-SIZE:size": image.size,
        "links": _links(ctx, image),
    }
    auto_disk_config = image.properties.get("auto_disk_config")
    if auto_disk_config is not None:
        enabled = auto_disk_config.strip().lower() in ("1", "t", "true", "on", "y", "yes")
        body["OS-DCF:diskConfig"] = "AUTO" if enabled else "MANUAL"
    return body


def image_not_found() -> Reply:
    return not_found(Service.COMPUTE, "Image not found.")


# ---------------------------------------------------------------------------------------------------------
# Handlers


def show_image(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    image_id = canonical_image_id(params["image_id"])
    if image_id is None:
        return image_not_found()  # cannot be a Glance id; no need to ask Arktos

    def answer(images: list[Image]) -> Reply:
        for image in images:
            if image.id == image_id:
                return json_reply(200, {"image": image_show(ctx, image)})
        return image_not_found()

    return read_images(ctx, Service.COMPUTE, answer)


def list_images(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _list(ctx, req, detail=False)


def list_images_detail(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _list(ctx, req, detail=True)


def _at_least(attribute: str, minimum: int) -> Callable[[Image], bool]:
    return lambda image: bool(getattr(image, attribute) >= minimum)


def property_equals(name: str, value: str) -> Callable[[Image], bool]:
    return lambda image: image.properties.get(name) == value


def _filter(req: ClientRequest) -> Callable[[Image], bool] | Reply:
    """Nova's SUPPORTED_FILTERS (name, status, minRam, minDisk, server, type, property-*)."""
    checks: list[Callable[[Image], bool]] = []
    name = req.query_one("name")
    if name is not None:
        checks.append(lambda i: i.name == name)
    status = req.query_one("status")
    if status is not None:
        # NOTE: clients pass Nova's status (ACTIVE); Glance compares its own, lower case.
        wanted_status = status.lower()
        checks.append(lambda i: i.status == wanted_status or _STATUS.get(i.status) == status.upper())
    for param, attribute in (("minRam", "min_ram"), ("minDisk", "min_disk")):
        raw = req.query_one(param)
        if raw is None:
            continue
        try:
            minimum = int(raw)
        except ValueError:
            return bad_request(Service.COMPUTE, f"Invalid {param} filter [{echo(raw)}]")
        checks.append(_at_least(attribute, minimum))
    properties = {"server": "instance_uuid", "type": "image_type"}
    for param in req.query:
        if param.startswith("property-"):
            properties[param] = param[len("property-") :]
    for param, prop in properties.items():
        value = req.query_one(param)
        if value is not None:
            checks.append(property_equals(prop, value))
    return lambda image: all(check(image) for check in checks)


def _list(ctx: RequestContext, req: ClientRequest, detail: bool) -> Outcome:
    wanted = _filter(req)
    if isinstance(wanted, Reply):
        return wanted
    page = parse_nova_page(req)
    if isinstance(page, Reply):
        return page
    render_key = compute_render_key(ctx, "nova list", detail, query_key(req.query))
    answer = _lister(ctx, req, detail, wanted, page)
    return read_images(ctx, Service.COMPUTE, answer, token=req.auth_token, render_key=render_key)


def _lister(
    ctx: RequestContext,
    req: ClientRequest,
    detail: bool,
    wanted: Callable[[Image], bool],
    page: NovaPage,
) -> Callable[[list[Image]], Reply]:
    collection = "images/detail" if detail else "images"
    view = image_show if detail else image_basic

    def answer(images: list[Image]) -> Reply:
        # images_from_reply gives Glance's order: newest first.
        selected = page.select(images, lambda i: i.id, wanted)
        if isinstance(selected, Reply):
            return selected
        body: dict[str, Any] = {"images": [view(ctx, i) for i in selected]}
        links = page.links(ctx, req, collection, [i.id for i in selected])
        if links:
            body["images_links"] = links
        return json_reply(200, body)

    return answer
