"""Glance's JSON schemas for images (``GET /v2/schemas/image`` and ``/v2/schemas/images``).

glanceclient (Rally) downloads them and validates every image it receives against them with warlock, so
they must accept exactly what ``extproc.image.views`` produces. Close to Glance's
``get_base_properties`` / ``_get_base_links`` plus its common optional properties.
"""

from __future__ import annotations

from typing import Any

from extproc.catalog_entries import CONTAINER_FORMATS, DISK_FORMATS, IMAGE_STATUSES, IMAGE_VISIBILITIES

_UUID_PATTERN = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"


def _optional_string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description, "is_base": False}


def _base_properties() -> dict[str, Any]:
    return {
        "id": {"type": "string", "description": "An identifier for the image", "pattern": _UUID_PATTERN},
        "name": {
            "type": ["null", "string"],
            "description": "Descriptive name for the image",
            "maxLength": 255,
        },
        "status": {
            "type": "string",
            "readOnly": True,
            "description": "Status of the image",
            "enum": list(IMAGE_STATUSES),
        },
        "visibility": {
            "type": "string",
            "description": "Scope of image accessibility",
            "enum": list(IMAGE_VISIBILITIES),
        },
        "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
        "os_hidden": {
            "type": "boolean",
            "description": "If true, image will not appear in default image list response.",
        },
        "checksum": {
            "type": ["null", "string"],
            "readOnly": True,
            "description": "md5 hash of image contents.",
            "maxLength": 32,
        },
        "os_hash_algo": {
            "type": ["null", "string"],
            "readOnly": True,
            "description": "Algorithm to calculate the os_hash_value",
            "maxLength": 64,
        },
        "os_hash_value": {
            "type": ["null", "string"],
            "readOnly": True,
            "description": (
                "Hexdigest of the image contents using the algorithm specified by the os_hash_algo"
            ),
            "maxLength": 128,
        },
        "owner": {"type": ["null", "string"], "description": "Owner of the image", "maxLength": 255},
        "size": {"type": ["null", "integer"], "readOnly": True, "description": "Size of image file in bytes"},
        "virtual_size": {
            "type": ["null", "integer"],
            "readOnly": True,
            "description": "Virtual size of image in bytes",
        },
        "container_format": {
            "type": ["null", "string"],
            "description": "Format of the container",
            "enum": [None, *CONTAINER_FORMATS],
        },
        "disk_format": {
            "type": ["null", "string"],
            "description": "Format of the disk",
            "enum": [None, *DISK_FORMATS],
        },
        "created_at": {
            "type": "string",
            "readOnly": True,
            "description": "Date and time of image registration",
        },
        "updated_at": {
            "type": "string",
            "readOnly": True,
            "description": "Date and time of the last image modification",
        },
        "tags": {
            "type": "array",
            "description": "List of strings related to the image",
            "items": {"type": "string", "maxLength": 255},
        },
        "direct_url": {
            "type": "string",
            "readOnly": True,
            "description": "URL to access the image file kept in external store",
        },
        "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {
            "type": "integer",
            "description": "Amount of disk space (in GB) required to boot image.",
        },
        "self": {"type": "string", "readOnly": True, "description": "An image self url"},
        "file": {"type": "string", "readOnly": True, "description": "An image file url"},
        "stores": {
            "type": "string",
            "readOnly": True,
            "description": "Store in which image data resides.",
        },
        "schema": {"type": "string", "readOnly": True, "description": "An image schema url"},
        "locations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "maxLength": 255},
                    "metadata": {"type": "object"},
                },
                "required": ["url", "metadata"],
            },
            "description": "A set of URLs to access the image file kept in external store",
        },
        "kernel_id": {
            "type": ["null", "string"],
            "pattern": _UUID_PATTERN,
            "description": "ID of image stored in Glance that should be used as the kernel when booting an "
            "AMI-style image.",
            "is_base": False,
        },
        "ramdisk_id": {
            "type": ["null", "string"],
            "pattern": _UUID_PATTERN,
            "description": "ID of image stored in Glance that should be used as the ramdisk when booting an "
            "AMI-style image.",
            "is_base": False,
        },
        "instance_uuid": _optional_string(
            "Metadata which can be used to record which instance this image is associated with. "
            "(Informational only, does not create an instance snapshot.)"
        ),
        "architecture": _optional_string("Operating system architecture"),
        "os_distro": _optional_string("Common name of operating system distribution"),
        "os_version": _optional_string("Operating system version as specified by the distributor."),
        "description": _optional_string("A human-readable string describing this image."),
    }


def image_schema() -> dict[str, Any]:
    return {
        "name": "image",
        "properties": _base_properties(),
        # NOTE: extra properties (hw_rng_model...) are flattened into the image, and are always strings.
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema() -> dict[str, Any]:
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
