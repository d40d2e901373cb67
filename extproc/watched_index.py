"""``WatchedIndex``: what the processor's ConfigMap watch knows of one kind of gateway object, per tenant.

Keypairs (``keypair_store``) and server groups (``server_group_store``) are one ConfigMap each; server
create needs a value from them (a public key, a group's policy) without an Arktos call. The index is fed by
the watch (``extproc.catalog_watch``: ``replace_all`` at each list, ``apply_event`` per event) and by the
replies to the writes this processor relays (``note_written`` / ``note_deleted``: read-your-writes). It is a
cache, never the truth: only ever asked about the tenant named in the request URL, for a token Arktos has
recently let into that tenant. A deleted object's uid is remembered for a while (``TOMBSTONES``) so a late
watch event cannot bring it back; an older resourceVersion never replaces a newer one.
Used only on the asyncio loop (watch events are applied there), so no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
TOMBSTONES = 10_000


@dataclass(frozen=True, slots=True)
class Indexed(Generic[T]):
    """What the index keeps of one ConfigMap: where it is, which object it is, and the value asked for."""

    tenant: str
    key: str
    uid: str
    value: T


def resource_version(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


class WatchedIndex(Generic[T]):
    def __init__(self, parse: Callable[[Any], Indexed[T] | None]) -> None:
        # ``parse``: the entry of a ConfigMap of this kind; None for any other ConfigMap (or a broken one).
        self._parse = parse
        # tenant -> key -> (value, uid, resourceVersion)
        self._entries: dict[str, dict[str, tuple[T, str, int]]] = {}
        self._deleted: OrderedDict[str, None] = OrderedDict()
        self.synced = False

    # -- fed by the ConfigMap watch ----------------------------------------------------------------

    def replace_all(self, configmaps: Iterable[Mapping[str, Any]]) -> None:
        self._entries = {}
        for obj in configmaps:
            self._put(obj, only_newer=False)
        self.synced = True

    def apply_event(self, event_type: str, obj: Mapping[str, Any]) -> None:
        if event_type == "DELETED":
            found = self._parse(obj)
            if found is not None:
                self._remove(found.tenant, found.key, found.uid)
        else:
            self._put(obj, only_newer=True)

    # -- fed by the replies to the writes this processor relays ---------------------------------------

    def note_written(self, obj: Mapping[str, Any]) -> None:
        self._put(obj, only_newer=True)

    def note_deleted(self, tenant: str, key: str, uid: str | None) -> None:
        self._remove(tenant, key, uid or "")

    # -- read -----------------------------------------------------------------------------------------

    def get(self, tenant: str, key: str) -> T | None:
        found = self._entries.get(tenant, {}).get(key)
        return found[0] if found is not None else None

    # -------------------------------------------------------------------------------------------------

    def _put(self, obj: Mapping[str, Any], only_newer: bool) -> None:
        found = self._parse(obj)
        if found is None or found.uid in self._deleted:
            return
        version = resource_version(obj)
        entries = self._entries.setdefault(found.tenant, {})
        current = entries.get(found.key)
        if only_newer and current is not None and current[2] > version:
            return
        entries[found.key] = (found.value, found.uid, version)

    def _remove(self, tenant: str, key: str, uid: str) -> None:
        if uid:
            self._deleted[uid] = None
            while len(self._deleted) > TOMBSTONES:
                self._deleted.popitem(last=False)
        entries = self._entries.get(tenant)
        if entries is None:
            return
        current = entries.get(key)
        if current is not None and (not uid or current[1] == uid):
            del entries[key]
        if not entries:
            del self._entries[tenant]
