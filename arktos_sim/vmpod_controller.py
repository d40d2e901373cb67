"""Arktos's vmpod controller (kube-controller-manager), as far as the gateway sees it.

Recorded from Arktos (fixtures 66-71): when a stopped VM's pod (phase ``NoSchedule``) is asked to run again
(``spec.virtualMachine.powerSpec: Running``), the control plane itself moves the pod back to phase
``Pending`` shortly after the update (the PATCH reply still shows ``NoSchedule``), before any kubelet acts.
An asyncio task applies what the store events queue; tests may call ``sync_all()`` directly.
"""

from __future__ import annotations

import asyncio

from .resources import PODS
from .store import MODIFIED, Event, Key, Store, copy_obj, key_of


def _waking(obj: dict[str, object]) -> bool:
    spec = obj.get("spec")
    status = obj.get("status")
    vm = spec.get("virtualMachine") if isinstance(spec, dict) else None
    return (
        isinstance(vm, dict)
        and vm.get("powerSpec", "Running") == "Running"
        and isinstance(status, dict)
        and status.get("phase") == "NoSchedule"
    )


class VmPodController:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._dirty: dict[Key, str] = {}  # pod key -> uid
        self._wake: asyncio.Event | None = None
        store.listeners.append(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.rt is PODS and event.type == MODIFIED and _waking(event.obj):
            self._dirty[key_of(event.obj)] = str(event.obj["metadata"].get("uid"))
            if self._wake is not None:
                self._wake.set()

    def sync_all(self) -> None:
        dirty, self._dirty = self._dirty, {}
        for key, uid in dirty.items():
            entry = self.store.get(PODS, key)
            if entry is None or entry.obj["metadata"].get("uid") != uid or not _waking(entry.obj):
                continue
            pod = copy_obj(entry.obj)
            pod["status"]["phase"] = "Pending"
            self.store.update(PODS, pod)

    async def run(self) -> None:
        self._wake = asyncio.Event()
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0)  # after the update's reply, as on Arktos
            self.sync_all()
