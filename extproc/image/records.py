"""Image records in a tenant's ``openstack-images`` ConfigMap: Glance's rules for registering, changing and
deleting them, and the one conditional Arktos write each change becomes. Pure: no I/O.

Who owns what (Glance's ownership, as the gateway can know it):
- images the gateway records (registered with ``POST /v2/images``, server snapshots) carry ``owner`` = the
  tenant; the tenant may change and delete them;
- the built-in defaults and the images an operator lists in the ConfigMap have no owner: they behave as
  Glance's admin-owned public images, which a project user may not change or delete (403).

Every change is ONE write to the tenant's ConfigMap, made with the client's token (Arktos authorizes it):
a JSON patch whose first operation tests ``/metadata/resourceVersion`` (the version the change was computed
from), then replaces ``/data``. A concurrent writer (another client, the snapshot recorder) makes the test
fail (422) instead of being overwritten; the client is told to retry (409). A tenant without the ConfigMap
gets it created (``POST``), seeded with the built-in images so they do not vanish (as the snapshot recorder
does); a concurrent creation is Arktos's 409 AlreadyExists.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import orjson
from jsonschema import Draft4Validator

from extproc import arktos_paths
from extproc.annotations import IMAGES_CONFIGMAP
from extproc.catalog import CatalogConfigMap
from extproc.catalog_configmaps import image_entry
from extproc.catalog_entries import DELETED_SNAPSHOTS_KEY, Image
from extproc.image import schemas
from extproc.messages import (
    JSON_CONTENT_TYPE,
    JSON_PATCH_CONTENT_TYPE,
    ArktosRequest,
)
from extproc.snapshots import default_images_data, deleted_snapshots

Json = dict[str, Any]

GLANCE_TIME = "%Y-%m-%dT%H:%M:%SZ"

# glance/api/v2/images.py RequestDeserializer
DISALLOWED = ("direct_url", "self", "file", "schema", "stores")
READ_ONLY = (
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
)
# Glance's reserved attributes, plus the gateway's link to an Arktos snapshot: a user who could set it on
# an image of their own could make any snapshot id "restorable".
RESERVED = ("location", "deleted", "deleted_at", "arktos_snapshot_id")
RESERVED_NAMESPACE = "os_glance"
# The base attributes a client may set (Glance's _base_properties minus the read-only ones).
SETTABLE = (
    "container_format",
    "disk_format",
    "min_disk",
    "min_ram",
    "name",
    "tags",
    "owner",
    "visibility",
    "protected",
    "os_hidden",
)
BASE = frozenset(SETTABLE) | frozenset(READ_ONLY) | {"locations"}
PATCH_MEDIA_TYPES = {
    "application/openstack-images-v2.0-json-patch": 4,
    "application/openstack-images-v2.1-json-patch": 10,
}
# The methods of Glance's interoperable import this gateway implements (GET /v2/info/import).
IMPORT_METHODS = ("web-download",)
# glance-api.conf [import_filtering_opts] allowed_schemes default.
WEB_DOWNLOAD_SCHEMES = ("http", "https")

_VALIDATOR = Draft4Validator(schemas.image_schema())


def glance_now() -> str:
    return datetime.now(UTC).strftime(GLANCE_TIME)


class Refusal(Exception):
    """Glance's answer to a request it refuses: ``status`` and ``message``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _schema_problem(instance: Any) -> str | None:
    for error in _VALIDATOR.iter_errors(instance):
        return f"Provided object does not match schema 'image': {error.message}"
    return None


def _check_property_key(key: str) -> None:
    if key in RESERVED or key.startswith(RESERVED_NAMESPACE):
        raise Refusal(403, f"Attribute '{key}' is reserved.")


# ---------------------------------------------------------------------------------------------------------
# POST /v2/images


def new_image(body: Any, image_id: str, owner: str, now: str) -> Image:
    """The queued image ``POST /v2/images`` registers (Glance's deserializer and domain rules)."""
    if not isinstance(body, dict):
        raise Refusal(400, "Body expected in request.")
    for key in DISALLOWED:
        if key in body:
            raise Refusal(403, f"Attribute '{key}' is read-only.")
    problem = _schema_problem(body)
    if problem is not None:
        raise Refusal(400, problem)
    for key in READ_ONLY:
        if key in body and key != "id":
            raise Refusal(403, f"Attribute '{key}' is read-only.")
    properties: dict[str, str] = {}
    for key, value in body.items():
        if key in BASE:
            continue
        if len(key) > 255:
            raise Refusal(400, "Custom property should not be greater than 255 characters.")
        _check_property_key(key)
        properties[key] = value
    if body.get("owner") not in (None, owner):
        raise Refusal(403, f"You are not permitted to create images owned by '{body['owner']}'")
    if "locations" in body:
        raise Refusal(403, "Attribute 'locations' is reserved.")
    tags = body.get("tags") or []
    return Image(
        id=image_id,
        name=body.get("name") or "",
        url="",
        status="queued",
        # NOTE: Glance's default visibility since Ocata; the image lives in this tenant's ConfigMap and is
        # seen in this tenant only, whatever its visibility.
        visibility=body.get("visibility") or "shared",
        disk_format=body.get("disk_format") or "qcow2",
        container_format=body.get("container_format") or "bare",
        min_ram=int(body.get("min_ram") or 0),
        min_disk=int(body.get("min_disk") or 0),
        owner=owner,
        created_at=now,
        updated_at=now,
        protected=bool(body.get("protected", False)),
        properties=MappingProxyType(properties),
        tags=tuple(dict.fromkeys(tags)),
        os_hidden=bool(body.get("os_hidden", False)),
    )


# ---------------------------------------------------------------------------------------------------------
# PATCH /v2/images/{id}


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    op: str  # add, remove, replace
    path: str  # the attribute or property (one JSON pointer segment, decoded)
    value: Any = None


_ADJACENT = re.compile(r"/\s*?/")


def _pointer(pointer: Any) -> list[str]:
    """glance's _decode_json_pointer (with its validation)."""
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise Refusal(400, f'Pointer `{pointer}` does not start with "/".')
    if _ADJACENT.search(pointer[1:]):
        raise Refusal(400, f'Pointer `{pointer}` contains adjacent "/".')
    if len(pointer) > 1 and pointer.endswith("/"):
        raise Refusal(400, f'Pointer `{pointer}` end with "/".')
    if pointer[1:].strip() == "/":
        raise Refusal(400, f"Pointer `{pointer}` does not contains valid token.")
    if re.search("~[^01]", pointer) or pointer.endswith("~"):
        raise Refusal(400, f'Pointer `{pointer}` contains "~" not part of a recognized escape sequence.')
    return [part.replace("~1", "/").replace("~0", "~").strip() for part in pointer.lstrip("/").split("/")]


def parse_patch(content_type: str, body: Any) -> list[Change]:
    """Glance's ``RequestDeserializer.update``: the media type, then each operation (draft 4 or 10)."""
    media = content_type.split(";", 1)[0].strip().lower()
    draft = PATCH_MEDIA_TYPES.get(media)
    if draft is None:
        allowed = ", ".join(sorted(PATCH_MEDIA_TYPES))
        raise Refusal(415, f"Image PATCH expects Content-Type one of: {allowed}", {"accept-patch": allowed})
    if not isinstance(body, list):
        raise Refusal(400, "Request body must be a JSON array of operation objects.")
    changes: list[Change] = []
    supported = ("add", "remove", "replace")
    for raw in body:
        if not isinstance(raw, dict):
            raise Refusal(400, "Operations must be JSON objects.")
        if draft == 10:
            op = raw.get("op")
            if op is None or op not in supported:
                named = (
                    "Unable to find `op` in JSON Schema change"
                    if op is None
                    else f"Invalid operation: `{op}`"
                )
                raise Refusal(400, f"{named}. It must be one of the following: {', '.join(supported)}.")
            if "path" not in raw:
                raise Refusal(400, "Unable to find 'path' in JSON Schema change")
            pointer = raw["path"]
        else:
            found = [key for key in supported if key in raw]
            if len(found) != 1:
                raise Refusal(
                    400,
                    'Operation objects must contain exactly one member named "add", "remove", or "replace".',
                )
            op = found[0]
            pointer = raw[op]
        path = _pointer(pointer)
        if path[0] == "locations":
            raise Refusal(403, "It's not allowed to update locations if locations are invisible.")
        if len(path) != 1:
            raise Refusal(400, f"Invalid JSON pointer for this resource: '/{'/'.join(path)}'")
        root = path[0]
        if root in READ_ONLY:
            raise Refusal(403, f"Attribute '{root}' is read-only.")
        _check_property_key(root)
        value = None
        if op != "remove":
            if "value" not in raw:
                raise Refusal(400, f'Operation "{op}" requires a member named "value".')
            value = raw["value"]
            problem = _schema_problem({root: value})
            if problem is not None:
                raise Refusal(400, problem)
        changes.append(Change(op, root, value))
    return changes


def _set_attribute(image: Image, name: str, value: Any) -> Image:
    if name in ("container_format", "disk_format") and image.status != "queued":
        raise Refusal(403, f"Attribute {name} can be only replaced for a queued image.")
    if name == "owner":
        if value != image.owner:
            raise Refusal(403, "Owner can't be updated by non admin.")
        return image
    if name == "tags":
        return dataclasses.replace(image, tags=tuple(dict.fromkeys(value or [])))
    if name == "min_ram":
        return dataclasses.replace(image, min_ram=int(value or 0))
    if name == "min_disk":
        return dataclasses.replace(image, min_disk=int(value or 0))
    if name == "protected":
        return dataclasses.replace(image, protected=bool(value))
    if name == "os_hidden":
        return dataclasses.replace(image, os_hidden=bool(value))
    text = str(value) if value is not None else ""
    if name == "name":
        return dataclasses.replace(image, name=text)
    if name == "visibility":
        return dataclasses.replace(image, visibility=text)
    if name == "container_format":
        return dataclasses.replace(image, container_format=text or "bare")
    return dataclasses.replace(image, disk_format=text or "qcow2")


def apply_changes(image: Image, changes: list[Change], now: str) -> Image:
    """``image`` with Glance's ``_do_add`` / ``_do_replace`` / ``_do_remove`` applied in order."""
    properties = dict(image.properties)
    for change in changes:
        name = change.path
        if change.op == "remove":
            if name in BASE:
                raise Refusal(403, f"Property {name} may not be removed.")
            if name not in properties:
                raise Refusal(409, f"Property {name} does not exist.")
            del properties[name]
        elif name in SETTABLE:
            image = _set_attribute(image, name, change.value)
        elif change.op == "replace" and name not in properties:
            raise Refusal(409, f"Property {name} does not exist.")
        else:
            properties[name] = change.value
    if not changes:
        return image
    return dataclasses.replace(image, properties=MappingProxyType(properties), updated_at=now)


# ---------------------------------------------------------------------------------------------------------
# POST /v2/images/{id}/import (web-download)


def import_request(body: Any) -> tuple[str, str]:
    """(method, uri) of an import request, refused as Glance refuses what this gateway cannot do."""
    method = body.get("method") if isinstance(body, dict) else None
    if not isinstance(method, dict) or not isinstance(method.get("name"), str):
        raise Refusal(400, "Import request requires a 'method' field.")
    name = method["name"]
    if name not in IMPORT_METHODS:
        raise Refusal(
            400,
            f"Import method {name} is not valid here: this cloud offers only "
            f"{', '.join(IMPORT_METHODS)} (the VM runtime downloads the image; there is no image store).",
        )
    uri = method.get("uri")
    if not isinstance(uri, str) or not uri:
        raise Refusal(400, "URI for web-download import is required.")
    return name, uri


def check_web_download(image: Image, uri: str) -> None:
    """Glance's checks before a web-download import."""
    if image.status == "active":
        raise Refusal(409, "Image with status active cannot be target for import")
    if image.status != "queued":
        raise Refusal(409, "Image needs to be in 'queued' state to use 'web-download' method")
    parts = urlsplit(uri)
    if parts.scheme not in WEB_DOWNLOAD_SCHEMES or not parts.hostname or len(uri) > 2048:
        raise Refusal(400, f"URI for web-download does not pass filtering: {uri}")


def imported(image: Image, uri: str, now: str) -> Image:
    """The image once imported: active, and its URI is what Arktos boots (``spec.virtualMachine.image``)."""
    return dataclasses.replace(image, url=uri, status="active", updated_at=now)


# ---------------------------------------------------------------------------------------------------------
# The conditional write


# How long a deleted snapshot is remembered: Arktos keeps its Action for about an hour.
TOMBSTONE_SECONDS = 2 * 3600


def changed_data(
    current: CatalogConfigMap | None,
    image_id: str,
    image: Image | None,
    deleted_snapshot_at: datetime | None = None,
) -> dict[str, str]:
    """The ConfigMap data with ``image`` recorded under its key (a new one: its id), or removed (None).

    Removing a snapshot (``deleted_snapshot_at``) also remembers its id, so that the snapshot recorder
    does not record it again from its Action (which Arktos keeps for an hour).
    """
    data = dict(default_images_data() if current is None else current.data)
    key = (current.keys.get(image_id) if current is not None else None) or image_id
    if image is None:
        data.pop(key, None)
    else:
        data[key] = image_entry(image)
    if deleted_snapshot_at is not None:
        oldest = (deleted_snapshot_at - timedelta(seconds=TOMBSTONE_SECONDS)).strftime(GLANCE_TIME)
        kept = {k: v for k, v in deleted_snapshots(data).items() if v >= oldest}
        kept[image_id] = deleted_snapshot_at.strftime(GLANCE_TIME)
        data[DELETED_SNAPSHOTS_KEY] = orjson.dumps(kept).decode()
    return data


def write_request(
    tenant: str, namespace: str, current: CatalogConfigMap | None, data: Mapping[str, str]
) -> ArktosRequest:
    """ONE Arktos write of ``data`` into the tenant's images ConfigMap, conditional on the version read."""
    if current is None:
        doc: Json = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": IMAGES_CONFIGMAP},
            "data": dict(data),
        }
        path = arktos_paths.configmaps(tenant, namespace)
        return ArktosRequest("POST", path, orjson.dumps(doc), JSON_CONTENT_TYPE)
    ops: list[Json] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": current.resource_version},
        {"op": "add", "path": "/data", "value": dict(data)},
    ]
    path = arktos_paths.configmap(tenant, namespace, IMAGES_CONFIGMAP)
    return ArktosRequest("PATCH", path, orjson.dumps(ops), JSON_PATCH_CONTENT_TYPE)
