"""How far the pod watch has got, and which pod writes of this processor it must have applied.

The cluster cache (``extproc.cluster_cache``) answers server lists from its pods only when they already
show the client's own writes. For that it keeps:

- how far its pod watch has got (``pod_version``: the highest pod resourceVersion applied, from events, lists
  and bookmarks) and, per tenant, the highest resourceVersion of a pod write that passed through this
  processor (``note_written``), so a list can tell whether the cache already shows the client's own writes
  (``caught_up``). ResourceVersions are compared as integers: Kubernetes calls them opaque, but Arktos's
  are etcd revisions (one counter for every object, increasing with every write), as are the simulator's.
  A resourceVersion that is not an integer turns the comparison off (``caught_up`` is then always False and
  lists read Arktos's full list, as without a cache).

That covers this processor's own writes only. Writes through another replica (or anyone) are covered by
the revision Arktos itself reports: the authorizing ``limit=1`` list carries the collection's
``resourceVersion``, the store's revision when Arktos read it (fixture 37), so every write acknowledged
before the list was sent is at or below it. The cache shows them once ``pod_version`` has reached it
(``shows_revision``). That revision is global (a ConfigMap write moves it too) and Arktos sends no timely
watch bookmarks, so the pod watch may never reach it in a cluster busy elsewhere or idle after another
kind's write: the list then reads Arktos itself (``extproc.compute.server_list``) and, when what Arktos
listed for the scope is exactly what the cache holds, the scope is known current at that revision
(``note_scope_current``): later lists at the same revision (nothing written anywhere since) are answered from
the cache at once.

Only the asyncio loop touches it (the cache's), so no lock.
"""

from __future__ import annotations

from collections import OrderedDict

import structlog

log = structlog.get_logger("extproc.cluster_cache")

# Tenants whose latest write through the processor is remembered one by one; older ones share one bound.
WRITTEN_CAPACITY = 10_000
# Scopes (tenant, namespace) whose revision proven current is remembered (oldest forgotten first).
CURRENT_CAPACITY = 10_000


class WriteTracker:
    def __init__(self) -> None:
        # -1: nothing applied yet.
        self.pod_version = -1
        self._written: OrderedDict[str, int] = OrderedDict()
        # Bound for tenants evicted from ``_written`` (and for writes of unknown version): never lowered.
        self._written_floor = -1
        self._written_max = -1
        # False once a resourceVersion was not an integer: integer comparison is then meaningless.
        self._versions_comparable = True
        # (tenant, namespace) -> a revision at which Arktos listed exactly what the cache holds.
        self._current: OrderedDict[tuple[str, str], int] = OrderedDict()

    def version(self, resource_version: str | None) -> int | None:
        if not resource_version:
            return None
        try:
            return int(resource_version)
        except ValueError:
            if self._versions_comparable:
                log.warning("resource_version_not_an_integer", resource_version=resource_version)
            self._versions_comparable = False
            return None

    def advance(self, resource_version: str) -> None:
        version = self.version(resource_version)
        if version is not None and version > self.pod_version:
            self.pod_version = version

    def note_written(self, tenant: str, resource_version: str | None) -> None:
        version = self.version(resource_version)
        if version is None:
            # NOTE: a 2xx write whose reply shows no version: the write is at most as new as what Arktos
            # has done so far, which is more than the cache has seen; one more pod event than now is the
            # best bound known (lists of that tenant read Arktos until then).
            version = self.pod_version + 1
        known = self._written.pop(tenant, -1)
        self._written[tenant] = max(known, version)
        self._written_max = max(self._written_max, version)
        while len(self._written) > WRITTEN_CAPACITY:
            _, evicted = self._written.popitem(last=False)
            self._written_floor = max(self._written_floor, evicted)

    def written_version(self, tenant: str | None) -> int:
        """The highest pod write through the processor for ``tenant`` (None: any tenant); -1 if none."""
        if tenant is None:
            return self._written_max
        return self._written.get(tenant, self._written_floor)

    def caught_up(self, tenant: str | None) -> bool:
        return self._versions_comparable and self.pod_version >= self.written_version(tenant)

    def awaits_watch(self, tenant: str | None) -> bool:
        """A pod write of ``tenant`` (None: any) went through the processor and the watch has not applied
        it yet, as far as the versions can tell (not comparable: nothing to wait for, ``caught_up`` is
        False for good)."""
        return self._versions_comparable and self.pod_version < self.written_version(tenant)

    def shows_revision(self, tenant: str | None, namespace: str, revision: int) -> bool:
        """True if the cache shows every pod write of (tenant, namespace) (tenant None: of every tenant)
        Arktos had made at ``revision``."""
        if not self._versions_comparable:
            return False
        if self.pod_version >= revision:
            return True
        return tenant is not None and self._current.get((tenant, namespace), -1) >= revision

    def note_scope_current(self, tenant: str, namespace: str, revision: int) -> None:
        """Arktos listed (tenant, namespace) at ``revision`` and it was exactly what the cache holds."""
        key = (tenant, namespace)
        self._current[key] = max(self._current.pop(key, -1), revision)
        while len(self._current) > CURRENT_CAPACITY:
            self._current.popitem(last=False)
