"""Flavors and images: ConfigMap data -> immutable objects, the built-in defaults, and ``CatalogStore``.

Each tenant may hold two ConfigMaps in the gateway namespace (``annotations.FLAVORS_CONFIGMAP`` and
``annotations.IMAGES_CONFIGMAP``). Their ``data`` maps a flavor (or image) *name* to a JSON object:

    openstack-flavors:  m1.tiny: '{"id": "1", "ram": 512, "vcpus": 1, "disk": 1}'
    openstack-images:   cirros:  '{"id": "<uuid>", "url": "download.cirros-cloud.net/.../cirros.img"}'

(see ``k8s/catalog/openstack-flavors.yaml`` and ``k8s/catalog/openstack-images.yaml`` for every optional
field). A tenant without the ConfigMap gets ``DEFAULT_FLAVORS`` / ``DEFAULT_IMAGES`` (DevStack's set). A
ConfigMap that exists replaces the defaults entirely, even when it lists nothing. Bad entries are logged and
skipped: an operator's typo must never take the gateway down.

Two readers use this module:
- client reads (``GET /flavors``, ``GET /image/v2/images``...) fetch the tenant's ConfigMap through Arktos
  with the client's own token and parse the reply here (``flavors_from_reply`` / ``images_from_reply``), so
  Arktos authorizes every read;
- server create/show look flavors and images up in ``CatalogStore``, an in-memory snapshot per tenant kept
  fresh by ``extproc.catalog_watch``.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

import orjson

from extproc.annotations import FLAVORS_CONFIGMAP, IMAGES_CONFIGMAP
from extproc.messages import ArktosReply

log = logging.getLogger(__name__)

_EMPTY: Mapping[str, str] = MappingProxyType({})

# Nova's flavor id rule (nova/api/validation/parameter_types.py "flavor_id"), without spaces so an id is
# always one clean URL segment.
_FLAVOR_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,255}$")

# Glance's enums (glance/api/v2/images.py get_base_properties).
IMAGE_STATUSES = (
    "queued",
    "saving",
    "active",
    "killed",
    "deleted",
    "uploading",
    "importing",
    "pending_delete",
    "deactivated",
)
IMAGE_VISIBILITIES = ("community", "public", "private", "shared")
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")

# Glance's own image attributes: a ConfigMap "properties" entry may not shadow one of them.
IMAGE_CORE_KEYS = frozenset(
    {
        "id",
        "name",
        "status",
        "visibility",
        "disk_format",
        "container_format",
        "size",
        "virtual_size",
        "min_ram",
        "min_disk",
        "checksum",
        "owner",
        "created_at",
        "updated_at",
        "protected",
        "os_hidden",
        "os_hash_algo",
        "os_hash_value",
        "tags",
        "self",
        "file",
        "schema",
        "direct_url",
        "locations",
        "stores",
    }
)

# A data key of ``openstack-images`` that is no image: the ids of deleted snapshots (JSON object id -> when),
# kept while Arktos still has their Actions, so the snapshot recorder never records them again.
DELETED_SNAPSHOTS_KEY = "openstack-gateway.deleted-snapshots"

# When a ConfigMap image gives no timestamps: a fixed, obviously synthetic instant (stable across restarts,
# so Glance's created_at sort and Nova's "created" do not change from one request to the next).
DEFAULT_TIMESTAMP = "1970-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class Flavor:
    id: str
    name: str
    ram: int  # MiB
    vcpus: int
    disk: int  # GiB
    ephemeral: int = 0  # GiB
    swap: int = 0  # MiB; 0 shows as "" in Nova's view
    rxtx_factor: float = 1.0
    is_public: bool = True
    disabled: bool = False
    extra_specs: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)


@dataclass(frozen=True, slots=True)
class Image:
    id: str
    name: str
    # What goes into the VM pod's spec.virtualMachine.image.
    url: str
    status: str = "active"
    visibility: str = "public"
    disk_format: str = "qcow2"
    container_format: str = "bare"
    size: int | None = None  # bytes
    min_ram: int = 0  # MiB
    min_disk: int = 0  # GiB
    checksum: str | None = None  # md5
    owner: str | None = None
    created_at: str = DEFAULT_TIMESTAMP  # Glance format: YYYY-MM-DDTHH:MM:SSZ
    updated_at: str = DEFAULT_TIMESTAMP
    protected: bool = False
    # Extra Glance properties (hw_rng_model, os_distro...): flattened into Glance's view, Nova's "metadata".
    properties: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    tags: tuple[str, ...] = ()
    virtual_size: int | None = None
    os_hidden: bool = False
    os_hash_algo: str | None = None
    os_hash_value: str | None = None


DEFAULT_FLAVORS: tuple[Flavor, ...] = (
    Flavor(id="1", name="m1.tiny", ram=512, vcpus=1, disk=1),
    Flavor(id="2", name="m1.small", ram=2048, vcpus=1, disk=20),
    Flavor(id="3", name="m1.medium", ram=4096, vcpus=2, disk=40),
    Flavor(id="4", name="m1.large", ram=8192, vcpus=4, disk=80),
    Flavor(id="42", name="m1.nano", ram=128, vcpus=1, disk=1),
    Flavor(id="5", name="m1.xlarge", ram=16384, vcpus=8, disk=160),
    Flavor(id="84", name="m1.micro", ram=192, vcpus=1, disk=1),
    Flavor(id="c1", name="cirros256", ram=256, vcpus=1, disk=1),
    Flavor(id="d1", name="ds512M", ram=512, vcpus=1, disk=5),
    Flavor(id="d2", name="ds1G", ram=1024, vcpus=1, disk=10),
    Flavor(id="d3", name="ds2G", ram=2048, vcpus=2, disk=10),
    Flavor(id="d4", name="ds4G", ram=4096, vcpus=4, disk=20),
)

DEFAULT_IMAGES: tuple[Image, ...] = (
    Image(
        id="6db08272-a856-49da-8909-7c4c73ab0bac",
        name="cirros-0.5.2-x86_64-disk",
        url="download.cirros-cloud.net/0.5.2/cirros-0.5.2-x86_64-disk.img",
        size=16300544,
        virtual_size=117440512,
        checksum="b874c39491a2377b8490f5f1e89761a4",
        created_at="2021-11-16T18:15:41Z",
        updated_at="2021-11-16T18:15:42Z",
        os_hash_algo="sha512",
        os_hash_value=(
            "6b813aa46bb90b4da216a4d19376593fa3f4fc7e617f03a92b7fe11e9a3981cb"
            "e8f0959dbebe36225e5f53dc4492341a4863cac4ed1ee0909f3fc78ef9c3e869"
        ),
        properties=MappingProxyType(
            {
                "hw_rng_model": "virtio",
                "owner_specified.openstack.md5": "",
                "owner_specified.openstack.object": "images/cirros-0.5.2-x86_64-disk",
                "owner_specified.openstack.sha256": "",
            }
        ),
    ),
)


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


_FLAVOR_KEYS = frozenset(
    {"id", "ram", "vcpus", "disk", "ephemeral", "swap", "rxtx_factor", "is_public", "disabled", "extra_specs"}
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
    return Flavor(
        id=flavor_id,
        name=name,
        ram=_int(spec, "ram", minimum=1),
        vcpus=_int(spec, "vcpus", minimum=1),
        disk=_int(spec, "disk"),
        ephemeral=_int(spec, "ephemeral", 0),
        swap=_int(spec, "swap", 0),
        rxtx_factor=float(rxtx),
        is_public=_bool(spec, "is_public", True),
        disabled=_bool(spec, "disabled", False),
        extra_specs=_str_map(spec, "extra_specs"),
    )


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


def canonical_image_id(value: str) -> str | None:
    """The canonical (lower-case, hyphenated) form of a UUID, or None if ``value`` is not one.

    Glance image ids are UUIDs, and Nova's ``imageRef`` must be one (format "uuid"), so a ConfigMap image
    with any other id could never be booted.
    """
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None


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
    """Flavors from Arktos's answer to ``GET .../configmaps/openstack-flavors``.

    200: the ConfigMap's flavors; 404: the defaults (the tenant has no ConfigMap); anything else: None, and
    the caller turns ``reply`` into an error (``errors.from_arktos``).
    """
    if reply.status == 404:
        return list(DEFAULT_FLAVORS)
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


# ---------------------------------------------------------------------------------------------------------
# The store


def _unique_names(items: Iterable[Flavor] | Iterable[Image]) -> dict[str, Any]:
    by_name: dict[str, Any] = {}
    duplicated: set[str] = set()
    for item in items:
        if item.name in by_name:
            duplicated.add(item.name)
        by_name[item.name] = item
    for name in duplicated:
        del by_name[name]
    return by_name


def _strip_scheme(url: str) -> str:
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme) :]
    return url


@dataclass(frozen=True, slots=True)
class _FlavorSet:
    items: tuple[Flavor, ...]
    by_id: Mapping[str, Flavor]
    by_name: Mapping[str, Flavor]

    @classmethod
    def of(cls, flavors: Iterable[Flavor]) -> _FlavorSet:
        items = tuple(flavors)
        return cls(items, {f.id: f for f in items}, _unique_names(items))


@dataclass(frozen=True, slots=True)
class ImagesConfigMap:
    """A tenant's ``openstack-images`` ConfigMap as last seen: what a conditional write is built from."""

    data: Mapping[str, str]
    resource_version: str
    # Image id -> the data key holding it (operators key entries by name, the gateway by image id).
    keys: Mapping[str, str]

    @classmethod
    def of(cls, data: Mapping[str, str], resource_version: str) -> ImagesConfigMap:
        keys: dict[str, str] = {}
        for key, raw in data.items():
            try:
                spec = orjson.loads(raw)
            except (orjson.JSONDecodeError, TypeError):
                continue
            raw_id = spec.get("id") if isinstance(spec, dict) else None
            image_id = canonical_image_id(raw_id) if isinstance(raw_id, str) else None
            if image_id is not None:
                keys.setdefault(image_id, key)
        return cls(MappingProxyType(dict(data)), resource_version, MappingProxyType(keys))


@dataclass(frozen=True, slots=True)
class _ImageSet:
    items: tuple[Image, ...]
    by_id: Mapping[str, Image]
    by_name: Mapping[str, Image]
    by_url: Mapping[str, Image]
    configmap: ImagesConfigMap | None = None

    @classmethod
    def of(cls, images: Iterable[Image], configmap: ImagesConfigMap | None = None) -> _ImageSet:
        items = tuple(images)
        by_url: dict[str, Image] = {}
        for image in items:  # newest first: the newest image wins a shared URL
            if image.url:
                by_url.setdefault(image.url, image)
                by_url.setdefault(_strip_scheme(image.url), image)
        return cls(items, {i.id: i for i in items}, _unique_names(items), by_url, configmap)

    @classmethod
    def of_data(cls, data: Mapping[str, str], resource_version: str | None) -> _ImageSet:
        return cls.of(parse_images(data), ImagesConfigMap.of(data, resource_version or ""))


def _older(candidate: str | None, known: _ImageSet | None) -> bool:
    """Whether ``candidate`` is an older resourceVersion than the one ``known`` was built from.

    Arktos's resourceVersions are etcd revisions (decimal strings): the processor learns a ConfigMap both
    from its watch and from the replies to its own writes, and must not go back to an older one.
    """
    current = known.configmap.resource_version if known is not None and known.configmap else ""
    if not candidate or not current or not candidate.isdigit() or not current.isdigit():
        return False
    return int(candidate) < int(current)


_DEFAULT_FLAVOR_SET = _FlavorSet.of(DEFAULT_FLAVORS)
_DEFAULT_IMAGE_SET = _ImageSet.of(DEFAULT_IMAGES)


class CatalogStore:
    """Flavors and images per tenant, as the latest ConfigMaps say (defaults where there is none).

    Writers (the watch, possibly on another thread) build a new dict and assign it in one step; readers on
    the asyncio thread take one reference and never see a half-built state. Writers serialize on a lock so
    two updates cannot lose each other.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flavors: Mapping[str, _FlavorSet] = {}
        self._images: Mapping[str, _ImageSet] = {}

    def set_configmap(
        self, tenant: str, name: str, data: Mapping[str, str] | None, resource_version: str | None = None
    ) -> None:
        """Record a ConfigMap change; ``data`` None means it was deleted (the tenant gets the defaults).

        An images ConfigMap older than the one already known (``resource_version``) is ignored.
        """
        with self._lock:
            if name == FLAVORS_CONFIGMAP:
                flavors = dict(self._flavors)
                if data is None:
                    flavors.pop(tenant, None)
                else:
                    flavors[tenant] = _FlavorSet.of(parse_flavors(data))
                self._flavors = flavors
            elif name == IMAGES_CONFIGMAP:
                images = dict(self._images)
                if data is None:
                    images.pop(tenant, None)
                elif not _older(resource_version, images.get(tenant)):
                    images[tenant] = _ImageSet.of_data(data, resource_version)
                self._images = images

    def replace_all(self, items: Iterable[tuple[str, str, Mapping[str, str], str]]) -> None:
        """Replace everything after a (re)list: ``(tenant, configmap name, data, resourceVersion)`` each."""
        flavors: dict[str, _FlavorSet] = {}
        images: dict[str, _ImageSet] = {}
        for tenant, name, data, resource_version in items:
            if name == FLAVORS_CONFIGMAP:
                flavors[tenant] = _FlavorSet.of(parse_flavors(data))
            elif name == IMAGES_CONFIGMAP:
                images[tenant] = _ImageSet.of_data(data, resource_version)
        with self._lock:
            self._flavors = flavors
            self._images = images

    def _flavor_set(self, tenant: str | None) -> _FlavorSet:
        if tenant is None:
            return _DEFAULT_FLAVOR_SET
        return self._flavors.get(tenant, _DEFAULT_FLAVOR_SET)

    def _image_set(self, tenant: str | None) -> _ImageSet:
        if tenant is None:
            return _DEFAULT_IMAGE_SET
        return self._images.get(tenant, _DEFAULT_IMAGE_SET)

    def flavors(self, tenant: str | None) -> list[Flavor]:
        return list(self._flavor_set(tenant).items)

    def images(self, tenant: str | None) -> list[Image]:
        return list(self._image_set(tenant).items)

    def images_configmap(self, tenant: str) -> ImagesConfigMap | None:
        """The tenant's images ConfigMap as last seen (None: it has none, its images are the defaults)."""
        found = self._images.get(tenant)
        return found.configmap if found is not None else None

    def tenants_with_image(self, image_id: str) -> list[str]:
        """The tenants whose images ConfigMap records ``image_id`` (sorted)."""
        return sorted(t for t, images in self._images.items() if image_id in images.by_id)

    def find_flavor(self, tenant: str | None, id_or_name: str) -> Flavor | None:
        """By id first, then by name when exactly one flavor has it."""
        flavors = self._flavor_set(tenant)
        return flavors.by_id.get(id_or_name) or flavors.by_name.get(id_or_name)

    def find_image(self, tenant: str | None, id_or_name: str) -> Image | None:
        """By id first (any UUID spelling), then by name when exactly one image has it."""
        images = self._image_set(tenant)
        image_id = canonical_image_id(id_or_name)
        found = images.by_id.get(image_id) if image_id else None
        return found or images.by_name.get(id_or_name)

    def image_by_url(self, tenant: str | None, url: str) -> Image | None:
        """The image whose URL a VM pod names (``spec.virtualMachine.image``), scheme or not."""
        images = self._image_set(tenant)
        return images.by_url.get(url) or images.by_url.get(_strip_scheme(url))
