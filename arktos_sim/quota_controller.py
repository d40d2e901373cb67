"""The ResourceQuota controller: keeps each quota's ``status`` (``hard`` and ``used``) as Kubernetes's does.

A quota is created with an empty status (fixture 38); the controller then fills ``status.hard`` (a copy of
``spec.hard``) and ``status.used`` for every resource the quota limits (fixtures 39, 42): ``pods`` counts the
namespace's pods that are not terminal (not ``Failed``/``Succeeded``) and not being deleted, as quota
admission does (``Api.admit_pod_quota``). Other resources are reported as ``"0"``: VM pods request nothing
a quota counts on Arktos (fixture 39: ``requests.cpu`` stays 0 with a 1-CPU VM), and the simulator does not
count container requests (a divergence only for container pods, which the gateway never creates).

It reacts to pod events and to quota spec changes by marking the namespace dirty; an asyncio task
recomputes dirty namespaces right after (Kubernetes updates ``used`` in admission and within seconds after
deletions); tests may call ``sync_all()`` directly.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import quantity
from .resources import PODS, RESOURCEQUOTAS
from .store import ADDED, DELETED, Event, Store, copy_obj

Json = dict[str, Any]
TERMINAL_PHASES = ("Failed", "Succeeded")


def counts_against_quota(pod: Json) -> bool:
    return (
        not pod["metadata"].get("deletionTimestamp")
        and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES
    )


class QuotaController:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.dirty: set[tuple[str, str]] = set()
        self._wake: asyncio.Event | None = None
        store.listeners.append(self._on_event)

    def _mark(self, tenant: str, namespace: str) -> None:
        self.dirty.add((tenant, namespace))
        if self._wake is not None:
            self._wake.set()

    def _on_event(self, event: Event) -> None:
        m = event.obj["metadata"]
        if event.rt is PODS:
            before = event.old is not None and counts_against_quota(event.old)
            after = event.type != DELETED and counts_against_quota(event.obj)
            if event.type in (ADDED, DELETED) or before != after:
                self._mark(m["tenant"], m["namespace"])
        elif (
            event.rt is RESOURCEQUOTAS
            and event.type != DELETED
            # Only a spec change (or a new quota) needs a count; the controller's own status writes do not.
            and (event.old is None or event.old.get("spec") != event.obj.get("spec"))
        ):
            self._mark(m["tenant"], m["namespace"])

    def resync(self) -> None:
        for entry in self.store.table(RESOURCEQUOTAS).scan(None, None):
            m = entry.obj["metadata"]
            self._mark(m["tenant"], m["namespace"])

    def sync_all(self) -> None:
        while self.dirty:
            self.sync(*self.dirty.pop())

    def sync(self, tenant: str, namespace: str) -> None:
        quotas = list(self.store.table(RESOURCEQUOTAS).scan(tenant, namespace))
        if not quotas:
            return
        pods = sum(1 for e in self.store.table(PODS).scan(tenant, namespace) if counts_against_quota(e.obj))
        for entry in quotas:
            hard = dict((entry.obj.get("spec") or {}).get("hard") or {})
            counted = quantity.canonical(str(pods)) or "0"
            used = {name: counted if name in ("pods", "count/pods") else "0" for name in hard}
            wanted = {"hard": hard, "used": used}
            if entry.obj.get("status") != wanted:
                updated = copy_obj(entry.obj)
                updated["status"] = wanted
                self.store.update(RESOURCEQUOTAS, updated)

    async def run(self) -> None:
        self._wake = asyncio.Event()
        while True:
            self.sync_all()
            self._wake.clear()
            await self._wake.wait()
