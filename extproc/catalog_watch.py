"""Keep a ``CatalogStore`` fresh from Arktos ConfigMaps (flavors and images of every tenant).

A ``Reflector`` (``extproc.arktos_watch``: list, watch, relist on 410 or errors with backoff, never raises)
on ``/api/v1/tenants/all/configmaps`` with the processor's own credential; this module only decides what
the catalog needs from it:

- a list keeps the ConfigMaps named ``openstack-flavors`` / ``openstack-images`` and hands them to
  ``store.replace_all``;
- ADDED/MODIFIED -> ``set_configmap(tenant, name, data, resourceVersion)``, DELETED -> data None;
  other ConfigMaps are ignored.

The same watch keeps ``KeypairStore`` (``extproc.keypair_store``) fresh with the ConfigMaps labelled
``openstack.arktos.io/keypair``, and ``ServerGroupStore`` (``extproc.server_group_store``) with those labelled
``openstack.arktos.io/server-group`` (one watch of ConfigMaps, not three).

Store updates go through ``apply`` (see ``Reflector``): the processor runs them on its asyncio loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import structlog

from extproc.annotations import FLAVORS_CONFIGMAP, IMAGES_CONFIGMAP
from extproc.arktos_client import make_api_client
from extproc.arktos_http import ArktosConnection
from extproc.arktos_watch import GoneError, Reflector
from extproc.keypair_store import KeypairStore
from extproc.server_group_store import ServerGroupStore

__all__ = ["CONFIGMAPS_PATH", "CatalogWatch", "GoneError", "StoreLike", "make_api_client"]

log = structlog.get_logger("extproc.catalog_watch")

CONFIGMAPS_PATH = "/api/v1/tenants/all/configmaps"
WATCHED_NAMES = frozenset({FLAVORS_CONFIGMAP, IMAGES_CONFIGMAP})

# (tenant, ConfigMap name, data, resourceVersion)
Entry = tuple[str, str, dict[str, str], str]


class StoreLike:
    """What the watch needs from ``extproc.catalog.CatalogStore`` (documentation only)."""

    def set_configmap(
        self, tenant: str, name: str, data: dict[str, str] | None, resource_version: str | None = None
    ) -> None: ...

    def replace_all(self, entries: Iterable[Entry]) -> None: ...

    def note_watch_broken(self) -> None: ...


def _wanted(obj: dict[str, Any]) -> Entry | None:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if name not in WATCHED_NAMES:
        return None
    tenant = meta.get("tenant") or "system"
    data = obj.get("data") or {}
    version = str(meta.get("resourceVersion") or "")
    return tenant, name, {str(k): str(v) for k, v in data.items()}, version


class CatalogWatch(Reflector):
    def __init__(
        self,
        store: Any,
        api_client: ArktosConnection,
        apply: Callable[[Callable[[], None]], None] | None = None,
        watch_timeout_seconds: int = 300,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        request_timeout: float = 30.0,
        keypairs: KeypairStore | None = None,
        server_groups: ServerGroupStore | None = None,
    ) -> None:
        self.store = store
        self.keypairs = keypairs
        self.server_groups = server_groups
        super().__init__(
            api_client,
            CONFIGMAPS_PATH,
            self._listed,
            self._changed,
            name="catalog",
            apply=apply,
            watch_timeout_seconds=watch_timeout_seconds,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            request_timeout=request_timeout,
            # Until the next list the store may miss changes: reads stop being answered from it.
            on_broken=getattr(store, "note_watch_broken", None),
        )

    def _listed(self, items: list[dict[str, Any]]) -> None:
        entries = [e for e in map(_wanted, items) if e is not None]
        self.store.replace_all(entries)
        log.info("catalog_synced", configmaps=len(entries))
        if self.keypairs is not None:
            self.keypairs.replace_all(items)
        if self.server_groups is not None:
            self.server_groups.replace_all(items)

    def _changed(self, event_type: str, obj: dict[str, Any]) -> None:
        if self.keypairs is not None:
            self.keypairs.apply_event(event_type, obj)
        if self.server_groups is not None:
            self.server_groups.apply_event(event_type, obj)
        entry = _wanted(obj)
        if entry is None:
            return
        tenant, name, data, version = entry
        self.store.set_configmap(tenant, name, None if event_type == "DELETED" else data, version)
        log.info("catalog_changed", tenant=tenant, name=name, change=event_type)
