"""``CatalogStore``: every tenant's flavors and images as the latest catalog ConfigMaps say, an in-memory
snapshot kept fresh by ``extproc.catalog_watch`` and by the replies to the gateway's own writes.

Flavors are Nova's: one cluster-wide set (the system tenant's ``openstack-flavors`` ConfigMap, written by
administrators through ``POST /flavors``...; the built-in defaults while there is none), public ones seen by
every tenant and private ones by the tenants given access, plus each tenant's own ConfigMap (operator-made,
seen by that tenant only). Images: a tenant's ``openstack-images`` ConfigMap, else the built-in defaults.

Server create/show look flavors and images up here; client reads of the catalog go through Arktos instead
(``extproc.catalog_reads``). The objects are ``extproc.catalog_entries``'s, parsed by
``extproc.catalog_configmaps``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson

from extproc.annotations import FLAVORS_CONFIGMAP, IMAGES_CONFIGMAP
from extproc.catalog_configmaps import flavor_sort_key, parse_flavors, parse_images
from extproc.catalog_entries import DEFAULT_FLAVORS, DEFAULT_IMAGES, Flavor, Image, canonical_image_id
from extproc.catalog_rendered import RenderedReplies

# The Arktos tenant of cluster administrators: its flavors ConfigMap is the cluster-wide set.
SYSTEM_TENANT = "system"


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
    configmap: CatalogConfigMap | None = None

    @classmethod
    def of(cls, flavors: Iterable[Flavor], configmap: CatalogConfigMap | None = None) -> _FlavorSet:
        items = tuple(flavors)
        return cls(items, {f.id: f for f in items}, _unique_names(items), configmap)

    @classmethod
    def of_data(cls, data: Mapping[str, str], resource_version: str | None) -> _FlavorSet:
        configmap = CatalogConfigMap.of(data, resource_version or "", lambda flavor_id: flavor_id)
        return cls.of(parse_flavors(data), configmap)


@dataclass(frozen=True, slots=True)
class CatalogConfigMap:
    """A tenant's catalog ConfigMap as last seen: what a conditional write is built from."""

    data: Mapping[str, str]
    resource_version: str
    # Entry id -> the data key holding it (operators key entries by name, the gateway by id).
    keys: Mapping[str, str]

    @classmethod
    def of(
        cls, data: Mapping[str, str], resource_version: str, canonical_id: Callable[[str], str | None]
    ) -> CatalogConfigMap:
        keys: dict[str, str] = {}
        for key, raw in data.items():
            try:
                spec = orjson.loads(raw)
            except (orjson.JSONDecodeError, TypeError):
                continue
            raw_id = spec.get("id") if isinstance(spec, dict) else None
            if isinstance(raw_id, int) and not isinstance(raw_id, bool):
                raw_id = str(raw_id)
            entry_id = canonical_id(raw_id) if isinstance(raw_id, str) else None
            if entry_id is not None:
                keys.setdefault(entry_id, key)
        return cls(MappingProxyType(dict(data)), resource_version, MappingProxyType(keys))


@dataclass(frozen=True, slots=True)
class _ImageSet:
    items: tuple[Image, ...]
    by_id: Mapping[str, Image]
    by_name: Mapping[str, Image]
    by_url: Mapping[str, Image]
    configmap: CatalogConfigMap | None = None

    @classmethod
    def of(cls, images: Iterable[Image], configmap: CatalogConfigMap | None = None) -> _ImageSet:
        items = tuple(images)
        by_url: dict[str, Image] = {}
        for image in items:  # newest first: the newest image wins a shared URL
            if image.url:
                by_url.setdefault(image.url, image)
                by_url.setdefault(_strip_scheme(image.url), image)
        return cls(items, {i.id: i for i in items}, _unique_names(items), by_url, configmap)

    @classmethod
    def of_data(cls, data: Mapping[str, str], resource_version: str | None) -> _ImageSet:
        return cls.of(
            parse_images(data), CatalogConfigMap.of(data, resource_version or "", canonical_image_id)
        )


def _older(candidate: str | None, known: _ImageSet | _FlavorSet | None) -> bool:
    """Whether ``candidate`` is an older resourceVersion than the one ``known`` was built from.

    Arktos's resourceVersions are etcd revisions (decimal strings): the processor learns a ConfigMap both
    from its watch and from the replies to its own writes, and must not go back to an older one.
    """
    current = known.configmap.resource_version if known is not None and known.configmap else ""
    if not candidate or not current or not candidate.isdigit() or not current.isdigit():
        return False
    return int(candidate) < int(current)


def visible_flavors(cluster: Iterable[Flavor], tenant: str | None, own: Iterable[Flavor]) -> list[Flavor]:
    """What ``tenant`` sees, sorted like Nova: the cluster-wide flavors that are public or that the tenant
    was given access to (the system tenant, where administrators manage them, sees them all), then the
    tenant's own ConfigMap's (an id the cluster-wide set already has is skipped: Nova's ids are global).
    ``tenant`` None (the caller's tenant is unknown): the public ones only."""
    seen: dict[str, Flavor] = {}
    for flavor in cluster:
        if flavor.is_public or tenant == SYSTEM_TENANT or (tenant is not None and tenant in flavor.projects):
            seen.setdefault(flavor.id, flavor)
    for flavor in own:
        seen.setdefault(flavor.id, flavor)
    return sorted(seen.values(), key=flavor_sort_key)


_DEFAULT_IMAGE_SET = _ImageSet.of(DEFAULT_IMAGES)
# Tells stores apart in ``CatalogStore.generation`` (their counters all start at 0).
_STORE_SERIALS = itertools.count(1)


class CatalogStore:
    """Flavors and images per tenant, as the latest ConfigMaps say.

    Flavors: every tenant sees the cluster-wide set (the system tenant's ConfigMap, else the defaults) as
    ``visible_flavors`` says, plus its own ConfigMap's. Images: a tenant's ConfigMap, else the defaults.

    Writers (the watch, possibly on another thread) build a new dict and assign it in one step; readers on
    the asyncio thread take one reference and never see a half-built state. Writers serialize on a lock so
    two updates cannot lose each other.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Each tenant's own flavors ConfigMap; the system tenant's is the cluster-wide set.
        self._flavors: Mapping[str, _FlavorSet] = {}
        # (the ``_flavors`` it was built from, what each tenant sees): built on first use after a change;
        # one tuple so that a reader never files a view of old flavors under new ones.
        self._visible: tuple[Mapping[str, _FlavorSet], dict[str | None, _FlavorSet]] = ({}, {})
        self._images: Mapping[str, _ImageSet] = {}
        # True from a complete list of the ConfigMaps until the watch breaks: only then may a read be
        # answered from the store instead of Arktos's ConfigMap (extproc.catalog_reads).
        self.synced = False
        # (this store, its change counter): moves after every change of the flavors or images, so a memo of
        # what was rendered from them (a server list's page shows image and flavor ids) knows it is stale.
        # Moved after the new state is in place: a reader that saw the new value reads the new state.
        self._serial = next(_STORE_SERIALS)
        self._changes = 0
        # Client replies rendered from this store, by generation (extproc.catalog_reads).
        self.rendered = RenderedReplies()

    @property
    def generation(self) -> tuple[int, int]:
        """Equal values: no flavor or image changed in between (a store's values never equal another's)."""
        return (self._serial, self._changes)

    def set_configmap(
        self, tenant: str, name: str, data: Mapping[str, str] | None, resource_version: str | None = None
    ) -> None:
        """Record a ConfigMap change; ``data`` None means it was deleted (the tenant gets the defaults).

        A ConfigMap older than the one already known (``resource_version``) is ignored.
        """
        with self._lock:
            if name == FLAVORS_CONFIGMAP:
                flavors = dict(self._flavors)
                if data is None:
                    flavors.pop(tenant, None)
                elif not _older(resource_version, flavors.get(tenant)):
                    flavors[tenant] = _FlavorSet.of_data(data, resource_version)
                self._flavors = flavors
            elif name == IMAGES_CONFIGMAP:
                images = dict(self._images)
                if data is None:
                    images.pop(tenant, None)
                elif not _older(resource_version, images.get(tenant)):
                    images[tenant] = _ImageSet.of_data(data, resource_version)
                self._images = images
            self._changes += 1

    def replace_all(self, items: Iterable[tuple[str, str, Mapping[str, str], str]]) -> None:
        """Replace everything after a (re)list: ``(tenant, configmap name, data, resourceVersion)`` each."""
        flavors: dict[str, _FlavorSet] = {}
        images: dict[str, _ImageSet] = {}
        for tenant, name, data, resource_version in items:
            if name == FLAVORS_CONFIGMAP:
                flavors[tenant] = _FlavorSet.of_data(data, resource_version)
            elif name == IMAGES_CONFIGMAP:
                images[tenant] = _ImageSet.of_data(data, resource_version)
        with self._lock:
            self._flavors = flavors
            self._images = images
            self.synced = True
            self._changes += 1

    def note_watch_broken(self) -> None:
        """The ConfigMap watch broke: changes may be missed until the next complete list."""
        self.synced = False

    def _flavor_set(self, tenant: str | None) -> _FlavorSet:
        flavors = self._flavors
        built_from, visible = self._visible
        if built_from is not flavors:
            visible = {}
            self._visible = (flavors, visible)
        found = visible.get(tenant)
        if found is None:
            own = flavors.get(tenant) if tenant is not None and tenant != SYSTEM_TENANT else None
            cluster = flavors.get(SYSTEM_TENANT)
            cluster_items = cluster.items if cluster is not None else DEFAULT_FLAVORS
            found = _FlavorSet.of(visible_flavors(cluster_items, tenant, own.items if own else ()))
            visible[tenant] = found
        return found

    def cluster_flavors(self) -> list[Flavor]:
        """The cluster-wide flavors: the system tenant's ConfigMap, else the built-in defaults."""
        found = self._flavors.get(SYSTEM_TENANT)
        return list(found.items if found is not None else DEFAULT_FLAVORS)

    def cluster_flavors_configmap(self) -> CatalogConfigMap | None:
        """The system tenant's flavors ConfigMap as last seen (None: there is none, the defaults apply)."""
        found = self._flavors.get(SYSTEM_TENANT)
        return found.configmap if found is not None else None

    def _image_set(self, tenant: str | None) -> _ImageSet:
        if tenant is None:
            return _DEFAULT_IMAGE_SET
        return self._images.get(tenant, _DEFAULT_IMAGE_SET)

    def tenants(self) -> set[str]:
        """The tenants whose catalog is not just the public flavors and the default images: those with a
        flavors or an images ConfigMap, or given access to a private flavor."""
        granted = {project for flavor in self.cluster_flavors() for project in flavor.projects}
        return set(self._flavors) | set(self._images) | granted

    def flavors(self, tenant: str | None) -> list[Flavor]:
        """The flavors ``tenant`` sees (``visible_flavors``; None: the public ones)."""
        return list(self._flavor_set(tenant).items)

    def images(self, tenant: str | None) -> list[Image]:
        return list(self._image_set(tenant).items)

    def images_configmap(self, tenant: str) -> CatalogConfigMap | None:
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
