"""Glance v2 bodies (``glance/api/v2/images.py`` ResponseSerializer, ``glance/api/versions.py``)."""

from __future__ import annotations

from typing import Any

from extproc.catalog_entries import Image
from extproc.config import GatewayConfig

# Newest first, as Glance lists them (fixture 01).
VERSION_IDS = ("v2.9", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")
CURRENT_VERSION = "v2.9"


def versions(config: GatewayConfig) -> dict[str, Any]:
    href = f"{config.public_url}/image/v2/"
    return {
        "versions": [
            {
                "id": version,
                "status": "CURRENT" if version == CURRENT_VERSION else "SUPPORTED",
                "links": [{"rel": "self", "href": href}],
            }
            for version in VERSION_IDS
        ]
    }


def image(image: Image) -> dict[str, Any]:
    """One image, key order as Glance: extra properties first, then its own attributes (fixture 11)."""
    body: dict[str, Any] = dict(image.properties)
    body.update(
        {
            "name": image.name,
            "disk_format": image.disk_format,
            "container_format": image.container_format,
            "visibility": image.visibility,
            "size": image.size,
            "virtual_size": image.virtual_size,
            "status": image.status,
            "checksum": image.checksum,
            "protected": image.protected,
            "min_ram": image.min_ram,
            "min_disk": image.min_disk,
            "owner": image.owner,
            "os_hidden": image.os_hidden,
            "os_hash_algo": image.os_hash_algo,
            "os_hash_value": image.os_hash_value,
            "id": image.id,
            "created_at": image.created_at,
            "updated_at": image.updated_at,
            "tags": list(image.tags),
            # NOTE: Glance's links are relative to its endpoint, not absolute.
            "self": f"/v2/images/{image.id}",
            "file": f"/v2/images/{image.id}/file",
            "schema": "/v2/schemas/image",
        }
    )
    return body


def image_list(images: list[Image], first: str, next_href: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "images": [image(i) for i in images],
        "first": first,
        "schema": "/v2/schemas/images",
    }
    if next_href is not None:
        body["next"] = next_href
    return body
