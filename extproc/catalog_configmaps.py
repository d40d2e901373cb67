"""A catalog ConfigMap's data -> ``Flavor``/``Image`` objects (and back, for writers), and Arktos's replies
to a catalog ConfigMap GET.

Each tenant may hold two ConfigMaps in the gateway namespace (``annotations.FLAVORS_CONFIGMAP`` and
``annotations.IMAGES_CONFIGMAP``). Their ``data`` maps a flavor (or image) *name* to a JSON object:

    openstack-flavors:  m1.tiny: '{"id": "1", "ram": 512, "vcpus": 1, "disk": 1}'
    openstack-images:   cirros:  '{"id": "<uuid>", "url": "download.cirros-cloud.net/.../cirros.img"}'

(see ``k8s/catalog/openstack-flavors.yaml`` and ``k8s/catalog/openstack-images.yaml`` for every optional
field). A tenant without the ConfigMap gets ``DEFAULT_FLAVORS`` / ``DEFAULT_IMAGES`` (DevStack's set). A
ConfigMap that exists replaces the defaults entirely, even when it lists nothing. Bad entries are logged and
skipped: an operator's typo must never take the gateway down.

Client reads (``GET /flavors``, ``GET /image/v2/images``...) fetch the tenant's ConfigMap through Arktos with
the client's own token and parse the reply here (``flavors_from_reply`` / ``images_from_reply``), so Arktos
authorizes every read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

import orjson

from extproc.catalog_entries import (
    CONTAINER_FORMATS,
    DEFAULT_IMAGES,
    DEFAULT_TIMESTAMP,
    DELETED_SNAPSHOTS_KEY,
    DISK_FORMATS,
    IMAGE_CORE_KEYS,
    IMAGE_STATUSES,
    IMAGE_VISIBILITIES,
    Flavor,
    Image,
    canonical_image_id,
)
from extproc.messages import ArktosReply

log = logging.getLogger(__name__)

_EMPTY: Mapping[str, str] = MappingProxyType({})

# Nova's flavor id rule (nova/api/validation/parameter_types.py "flavor_id"), without spaces so an id is
# always one clean URL segment.
_FLAVOR_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,255}$")


# ---------------------------------------------------------------------------------------------------------
# Parsing ConfigMap data


class _BadEntry(ValueError):
    pass


def _int(spec: Mapping[str, Any], key: str, default: int | None = None, minimum: int = 0) -> int:
    value = spec.get(key)
    if value is None:
        if default is None:
            raise _BadEntry(f"{key} is required")
        value = default
    # bool is an int in Python; "ram": true is a typo, not 1 MiB.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadEntry(f"{key} must be an integer, not {value!r}")
    if value < minimum:
        raise _BadEntry(f"{key} must be >= {minimum}, not {value}")
    return value


def _opt_int(spec: Mapping[str, Any], key: str) -> int | None:
    if spec.get(key) is None:
        return None
    return _int(spec, key)


def _bool(spec: Mapping[str, Any], key: str, default: bool) -> bool:
    value = spec.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _BadEntry(f"{key} must be true or false, not {value!r}")
    return value


def _str(spec: Mapping[str, Any], key: str, default: str | None = None, choices: Iterable[str] = ()) -> str:
    value = spec.get(key)
    if value is None:
        value = default
    if not isinstance(value, str) or not value:
        raise _BadEntry(f"{key} must be a non-empty string, not {value!r}")
    allowed = tuple(choices)
    if allowed and value not in allowed:
        raise _BadEntry(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _opt_str(spec: Mapping[str, Any], key: str, max_length: int = 255) -> str | None:
    # Lengths as Glance's schema: glanceclient validates every image it receives against it.
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise _BadEntry(f"{key} must be a string of at most {max_length} characters, not {value!r}")
    return value


def _str_map(spec: Mapping[str, Any], key: str) -> Mapping[str, str]:
    value = spec.get(key)
    if value is None:
        return _EMPTY
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _BadEntry(f"{key} must be an object of strings")
    return MappingProxyType(dict(value))


def _timestamp(spec: Mapping[str, Any], key: str) -> str:
    value = spec.get(key)
    if value is None:
        return DEFAULT_TIMESTAMP
    if not isinstance(value, str):
        raise _BadEntry(f"{key} must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _BadEntry(f"{key} is not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode(kind: str, name: Any, raw: Any) -> dict[str, Any]:
    if not isinstance(name, str) or not name or len(name) > 255:
        raise _BadEntry(f"{kind} name must be 1 to 255 characters")
    if not isinstance(raw, str | bytes):
        raise _BadEntry("value must be a JSON string")
    try:
        spec = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _BadEntry(f"value is not JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise _BadEntry("value must be a JSON object")
    return spec


# "name" is there for entries whose data key cannot be the name (a ConfigMap key allows only [-._a-zA-Z0-9];
# flavors created through the API are keyed by id); "projects" lists who may use a private flavor.
_FLAVOR_KEYS = frozenset(
    {
        "id",
        "name",
        "ram",
        "vcpus",
        "disk",
        "ephemeral",
        "swap",
        "rxtx_factor",
        "is_public",
        "disabled",
        "extra_specs",
        "description",
        "projects",
    }
)


def _flavor(name: str, spec: Mapping[str, Any]) -> Flavor:
    flavor_id = spec.get("id")
    if isinstance(flavor_id, int) and not isinstance(flavor_id, bool):
        flavor_id = str(flavor_id)  # "id": 1 is an easy slip; Nova ids are strings
    if not isinstance(flavor_id, str) or not _FLAVOR_ID_RE.match(flavor_id):
        raise _BadEntry(f"id must be 1 to 255 letters, digits, '.', '_' or '-', not {flavor_id!r}")
    rxtx = spec.get("rxtx_factor", 1.0)
    if isinstance(rxtx, bool) or not isinstance(rxtx, int | float) or rxtx <= 0:
        raise _BadEntry(f"rxtx_factor must be a positive number, not {rxtx!r}")
    shown_name = spec.get("name", name)
    if not isinstance(shown_name, str) or not shown_name.strip() or len(shown_name) > 255:
        raise _BadEntry("name must be 1 to 255 characters")
    description = spec.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 65535):
        raise _BadEntry("description must be a string of at most 65535 characters")
    projects = spec.get("projects") or []
    if not isinstance(projects, list) or not all(isinstance(p, str) and p for p in projects):
        raise _BadEntry("projects must be a list of project ids")
    return Flavor(
        id=flavor_id,
        name=shown_name,
        ram=_int(spec, "ram", minimum=1),
        vcpus=_int(spec, "vcpus", minimum=1),
        disk=_int(spec, "disk"),
        ephemeral=_int(spec, "ephemeral", 0),
        swap=_int(spec, "swap", 0),
        rxtx_factor=float(rxtx),
        is_public=_bool(spec, "is_public", True),
        disabled=_bool(spec, "disabled", False),
        extra_specs=_str_map(spec, "extra_specs"),
        description=description,
        projects=tuple(dict.fromkeys(projects)),
    )


def flavor_entry(flavor: Flavor) -> str:
    """The ConfigMap value ``parse_flavors`` reads back as ``flavor`` (the inverse, for writers)."""
    spec: dict[str, Any] = {
        "id": flavor.id,
        "name": flavor.name,
        "ram": flavor.ram,
        "vcpus": flavor.vcpus,
        "disk": flavor.disk,
        "ephemeral": flavor.ephemeral,
        "swap": flavor.swap,
        "rxtx_factor": flavor.rxtx_factor,
        "is_public": flavor.is_public,
        "disabled": flavor.disabled,
        "extra_specs": dict(flavor.extra_specs),
    }
    if flavor.description is not None:
        spec["description"] = flavor.description
    if flavor.projects:
        spec["projects"] = list(flavor.projects)
    return orjson.dumps(spec).decode()


_Entry = TypeVar("_Entry", Flavor, Image)


def _parse_entries(
    kind: str,
    data: Mapping[str, str] | None,
    known_keys: frozenset[str],
    build: Callable[[str, Mapping[str, Any]], _Entry],
) -> list[_Entry]:
    """The valid entries of a catalog ConfigMap (name -> JSON object); a bad entry is logged and skipped,
    never fatal: one typo in an operator's ConfigMap must not take the whole catalog down."""
    entries: list[_Entry] = []
    seen: set[str] = set()
    for name, raw in (data or {}).items():
        if name == DELETED_SNAPSHOTS_KEY:
            continue
        try:
            spec = _decode(kind, name, raw)
            unknown = sorted(set(spec) - known_keys)
            if unknown:
                log.warning("%s %r: ignoring unknown keys %s", kind, name, unknown)
            entry = build(name, spec)
        except _BadEntry as exc:
            log.warning("%s %r skipped: %s", kind, name, exc)
            continue
        if entry.id in seen:
            log.warning("%s %r skipped: id %r is used by another %s", kind, name, entry.id, kind)
            continue
        seen.add(entry.id)
        entries.append(entry)
    return entries


def flavor_sort_key(flavor: Flavor) -> str:
    # NOTE: Nova lists flavors by flavorid ascending, a string column: "42" sorts before "5" (fixture 05).
    return flavor.id


def parse_flavors(data: Mapping[str, str] | None) -> list[Flavor]:
    """Flavors of a ``openstack-flavors`` ConfigMap's data, sorted like Nova (by id, as strings)."""
    flavors = _parse_entries("flavor", data, _FLAVOR_KEYS, _flavor)
    flavors.sort(key=flavor_sort_key)
    return flavors


# Keys of an image entry: Glance's own attributes that an operator may set, plus where the disk image is
# ("url") and extra Glance properties ("properties"). "name" is there for entries whose data key cannot be
# the name (a ConfigMap key allows only [-._a-zA-Z0-9]; snapshot records are keyed by image id).
_IMAGE_KEYS = (IMAGE_CORE_KEYS - {"self", "file", "schema", "direct_url", "locations", "stores"}) | {
    "url",
    "properties",
}


def _image(name: str, spec: Mapping[str, Any]) -> Image:
    raw_id = spec.get("id")
    image_id = canonical_image_id(raw_id) if isinstance(raw_id, str) else None
    if image_id is None:
        raise _BadEntry(f"id must be a UUID, not {raw_id!r}")
    properties = _str_map(spec, "properties")
    shadowing = sorted(IMAGE_CORE_KEYS.intersection(properties))
    if shadowing:
        log.warning("image %r: ignoring properties that shadow Glance attributes: %s", name, shadowing)
        properties = MappingProxyType({k: v for k, v in properties.items() if k not in IMAGE_CORE_KEYS})
    tags = spec.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= 255 for t in tags):
        raise _BadEntry("tags must be a list of strings of 1 to 255 characters")
    shown_name = spec.get("name", name)
    # NOTE: Glance allows an image without a name (a registered one may have none): "" is kept.
    if not isinstance(shown_name, str) or len(shown_name) > 255:
        raise _BadEntry("name must be at most 255 characters")
    status = _str(spec, "status", "active", IMAGE_STATUSES)
    # NOTE: a registered image has no data until it is imported (Glance's "queued"): no URL yet.
    url = _str(spec, "url") if status == "active" or spec.get("url") else ""
    return Image(
        id=image_id,
        name=shown_name,
        url=url,
        status=status,
        visibility=_str(spec, "visibility", "public", IMAGE_VISIBILITIES),
        disk_format=_str(spec, "disk_format", "qcow2", DISK_FORMATS),
        container_format=_str(spec, "container_format", "bare", CONTAINER_FORMATS),
        size=_opt_int(spec, "size"),
        min_ram=_int(spec, "min_ram", 0),
        min_disk=_int(spec, "min_disk", 0),
        checksum=_opt_str(spec, "checksum", 32),
        owner=_opt_str(spec, "owner"),
        created_at=_timestamp(spec, "created_at"),
        updated_at=_timestamp(spec, "updated_at"),
        protected=_bool(spec, "protected", False),
        properties=properties,
        tags=tuple(dict.fromkeys(tags)),
        virtual_size=_opt_int(spec, "virtual_size"),
        os_hidden=_bool(spec, "os_hidden", False),
        os_hash_algo=_opt_str(spec, "os_hash_algo", 64),
        os_hash_value=_opt_str(spec, "os_hash_value", 128),
    )


def image_sort_key(image: Image) -> tuple[str, str]:
    return (image.created_at, image.id)


def parse_images(data: Mapping[str, str] | None) -> list[Image]:
    """Images of a ``openstack-images`` ConfigMap's data, newest first (Glance's default order)."""
    images = _parse_entries("image", data, _IMAGE_KEYS, _image)
    images.sort(key=image_sort_key, reverse=True)
    return images


def image_entry(image: Image) -> str:
    """The ConfigMap value ``parse_images`` reads back as ``image`` (the inverse, for writers)."""
    spec: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "url": image.url,
        "status": image.status,
        "visibility": image.visibility,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "created_at": image.created_at,
        "updated_at": image.updated_at,
        "protected": image.protected,
        "os_hidden": image.os_hidden,
        "properties": dict(image.properties),
        "tags": list(image.tags),
    }
    optional = {
        "size": image.size,
        "virtual_size": image.virtual_size,
        "checksum": image.checksum,
        "owner": image.owner,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    return orjson.dumps(spec).decode()


# ---------------------------------------------------------------------------------------------------------
# Arktos replies to a ConfigMap GET (client reads go through Arktos so it authorizes them)


def configmap_data(reply: ArktosReply) -> Mapping[str, str] | None:
    """The ``data`` of a 200 reply to a ConfigMap GET (``{}`` when it has none); None if not a ConfigMap."""
    try:
        body = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or body.get("kind", "ConfigMap") != "ConfigMap":
        return None
    data = body.get("data") or {}
    if not isinstance(data, dict):
        return None
    return data


def configmap_tenant(reply: ArktosReply) -> str | None:
    """The tenant of the ConfigMap in a 200 reply to a ConfigMap GET (None for anything else)."""
    if reply.status != 200:
        return None
    try:
        body = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None
    tenant = ((body.get("metadata") or {}) if isinstance(body, dict) else {}).get("tenant")
    return tenant if isinstance(tenant, str) and tenant else None


def flavors_from_reply(reply: ArktosReply) -> list[Flavor] | None:
    """A tenant's own flavors from Arktos's answer to ``GET .../configmaps/openstack-flavors``.

    200: the ConfigMap's flavors; 404: none (the tenant has no ConfigMap: it sees the cluster-wide set only,
    see ``catalog.visible_flavors``); anything else: None, and the caller turns ``reply`` into an error
    (``errors.from_arktos``).
    """
    if reply.status == 404:
        return []
    if reply.status == 200:
        data = configmap_data(reply)
        return None if data is None else parse_flavors(data)
    return None


def images_from_reply(reply: ArktosReply) -> list[Image] | None:
    """Images from Arktos's answer to ``GET .../configmaps/openstack-images`` (as ``flavors_from_reply``)."""
    if reply.status == 404:
        return list(DEFAULT_IMAGES)
    if reply.status == 200:
        data = configmap_data(reply)
        return None if data is None else parse_images(data)
    return None
