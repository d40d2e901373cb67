"""The ReplicaSet controller: keeps ``spec.replicas`` pods named ``<rs>-<5 chars>`` owned by each ReplicaSet.

Reacts to ReplicaSet and pod events by marking ReplicaSets dirty; ``sync_all()`` reconciles them (create
missing pods from the template, delete surplus ones, adopt matching orphans, update ``status``).
An asyncio task runs ``sync_all()`` whenever something is dirty; tests may call it directly.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import selectors, status
from .api import Api, random_suffix
from .resources import PODS, REPLICASETS
from .store import DELETED, Event, Key, Store, copy_obj

Json = dict[str, Any]


def controller_ref(pod: Json) -> Json | None:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


class ReplicaSetController:
    def __init__(self, store: Store, api: Api) -> None:
        self.store = store
        self.api = api
        self.dirty: set[Key] = set()
        self._wake: asyncio.Event | None = None
        store.listeners.append(self._on_event)

    def _mark(self, key: Key) -> None:
        self.dirty.add(key)
        if self._wake is not None:
            self._wake.set()

    def _on_event(self, event: Event) -> None:
        m = event.obj["metadata"]
        if event.rt is REPLICASETS:
            if event.type != DELETED:
                self._mark((m["tenant"], m["namespace"], m["name"]))
        elif event.rt is PODS:
            refs = [event.obj] + ([event.old] if event.old is not None else [])
            for obj in refs:
                ref = controller_ref(obj)
                if ref is not None and ref.get("kind") == "ReplicaSet":
                    self._mark((m["tenant"], m["namespace"], str(ref.get("name"))))
            if event.type != DELETED and controller_ref(event.obj) is None and m.get("labels"):
                # an orphan may be adopted by a ReplicaSet of its namespace
                for entry in self.store.table(REPLICASETS).scan(m["tenant"], m["namespace"]):
                    rs_meta = entry.obj["metadata"]
                    self._mark((rs_meta["tenant"], rs_meta["namespace"], rs_meta["name"]))

    def resync(self) -> None:
        for entry in self.store.table(REPLICASETS).scan(None, None):
            m = entry.obj["metadata"]
            self._mark((m["tenant"], m["namespace"], m["name"]))

    def sync_all(self) -> None:
        while self.dirty:
            key = self.dirty.pop()
            self.sync(key)

    def sync(self, key: Key) -> None:
        entry = self.store.get(REPLICASETS, key)
        if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
            return
        rs = entry.obj
        uid = rs["metadata"]["uid"]
        selector = selectors.selector_from_match(rs["spec"].get("selector"))
        if not selector:
            return
        owned: list[Json] = []
        for pod_entry in list(self.store.table(PODS).scan(key[0], key[1])):
            pod = pod_entry.obj
            if pod["metadata"].get("deletionTimestamp"):
                continue
            ref = controller_ref(pod)
            if ref is not None and ref.get("uid") == uid:
                if selectors.labels_match(selector, pod):
                    owned.append(pod)
                else:  # labels changed: release it
                    released = copy_obj(pod)
                    released["metadata"]["ownerReferences"] = [
                        r for r in released["metadata"]["ownerReferences"] if r.get("uid") != uid
                    ] or None
                    if released["metadata"]["ownerReferences"] is None:
                        del released["metadata"]["ownerReferences"]
                    self.store.update(PODS, released)
            elif ref is None and selectors.labels_match(selector, pod):
                adopted = copy_obj(pod)
                adopted["metadata"].setdefault("ownerReferences", []).append(self._owner_ref(rs))
                owned.append(self.store.update(PODS, adopted).obj)
        want = int(rs["spec"].get("replicas", 1))
        if len(owned) < want:
            for _ in range(want - len(owned)):
                owned.append(self._create_pod(rs, key))
        elif len(owned) > want:
            # delete the least advanced pods first (pending before running), newest first
            owned.sort(key=lambda p: (p.get("status", {}).get("phase") == "Running", p["metadata"]["name"]))
            for pod in owned[: len(owned) - want]:
                self.api.delete_pod((key[0], key[1], pod["metadata"]["name"]))
            owned = owned[len(owned) - want :]
        self._update_status(key, owned)

    @staticmethod
    def _owner_ref(rs: Json) -> Json:
        m = rs["metadata"]
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": m["name"],
            "uid": m["uid"],
            "hashKey": m["hashKey"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def _create_pod(self, rs: Json, key: Key) -> Json:
        template = copy_obj(rs["spec"].get("template") or {})
        tmeta = template.get("metadata") or {}
        pod: Json = {
            "metadata": {
                "generateName": f"{key[2]}-",
                "labels": tmeta.get("labels") or {},
                "ownerReferences": [self._owner_ref(rs)],
            },
            "spec": template.get("spec") or {},
        }
        if tmeta.get("annotations"):
            pod["metadata"]["annotations"] = tmeta["annotations"]
        for _ in range(10):
            pod["metadata"]["name"] = f"{key[2]}-{random_suffix()}"
            try:
                return self.api.create_object(PODS, copy_obj(pod), key[0], key[1]).obj
            except status.ApiError as err:
                if err.code != 409:
                    raise
        raise RuntimeError("could not find a free pod name")

    def _update_status(self, key: Key, owned: list[Json]) -> None:
        entry = self.store.get(REPLICASETS, key)
        if entry is None:
            return
        rs = entry.obj
        template_labels = (rs["spec"].get("template") or {}).get("metadata", {}).get("labels") or {}
        labelled = sum(
            1
            for p in owned
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items())
        )
        ready = sum(1 for p in owned if _ready(p))
        new_status: Json = {"replicas": len(owned)}
        if labelled:
            new_status["fullyLabeledReplicas"] = labelled
        if ready:
            new_status["readyReplicas"] = ready
            new_status["availableReplicas"] = ready
        new_status["observedGeneration"] = rs["metadata"].get("generation", 1)
        if new_status != rs.get("status"):
            updated = copy_obj(rs)
            updated["status"] = new_status
            self.store.update(REPLICASETS, updated)

    async def run(self) -> None:
        self._wake = asyncio.Event()
        while True:
            self.sync_all()
            self._wake.clear()
            if not self.dirty:
                await self._wake.wait()


def _ready(pod: Json) -> bool:
    st = pod.get("status") or {}
    if st.get("phase") != "Running":
        return False
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False
