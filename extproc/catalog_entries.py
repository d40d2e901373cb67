"""The catalog's objects: ``Flavor`` and ``Image``, the built-in defaults (DevStack's set) and Glance's enums.

Where they come from (a tenant's ``openstack-flavors``/``openstack-images`` ConfigMaps) is
``extproc.catalog_configmaps``; which tenant sees which is ``extproc.catalog.CatalogStore``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})

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
    # Nova's flavor description (shown from microversion 2.55).
    description: str | None = None
    # A private flavor of the cluster-wide set: the projects (Arktos tenants) given access to it.
    projects: tuple[str, ...] = ()


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


def canonical_image_id(value: str) -> str | None:
    """The canonical (lower-case, hyphenated) form of a UUID, or None if ``value`` is not one.

    Glance image ids are UUIDs, and Nova's ``imageRef`` must be one (format "uuid"), so a ConfigMap image
    with any other id could never be booted.
    """
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None
