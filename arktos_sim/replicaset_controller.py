"""The ReplicaSet controller: keeps ``spec.replicas`` pods named ``<rs>-<5 chars>`` owned by each ReplicaSet.

Missing pods are created in slow-start batches (1, 2, 4, ... up to 500), one batch per round of ``run``, so
the first pod of a large ReplicaSet exists (and is watched) at once, as on Arktos.

Reacts to ReplicaSet and pod events by marking ReplicaSets dirty; ``sync_all()`` reconciles them (create
missing pods from the template, delete surplus ones, adopt matching orphans, update ``status``).
An asyncio task runs ``sync_all()`` whenever something is dirty; tests may call it directly.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import meta, selectors, status
from .api import Api, random_suffix
from .resources import PODS, REPLICASETS, RESOURCEQUOTAS
from .store import DELETED, Event, Key, Store, copy_obj

Json = dict[str, Any]


def controller_ref(pod: Json) -> Json | None:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


# Kubernetes's controller creates missing pods in "slow start" batches of 1, 2, 4, ... (a batch only after
# the previous one succeeded) and at most burstReplicas (500) per sync. Here: one batch per round.
SLOW_START_INITIAL = 1
BURST_REPLICAS = 500


class ReplicaSetController:
    def __init__(self, store: Store, api: Api) -> None:
        self.store = store
        self.api = api
        self.dirty: set[Key] = set()
        # The next slow-start batch size of each ReplicaSet still short of pods.
        self._slow_start: dict[Key, int] = {}
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
            if event.type == DELETED:
                # A pod gone may have freed quota: ReplicaSets that could not create theirs try again
                # (Kubernetes's controller retries them with backoff).
                self._mark_failing(m["tenant"], m["namespace"])
            if event.type != DELETED and controller_ref(event.obj) is None and m.get("labels"):
                # an orphan may be adopted by a ReplicaSet of its namespace
                for entry in self.store.table(REPLICASETS).scan(m["tenant"], m["namespace"]):
                    rs_meta = entry.obj["metadata"]
                    self._mark((rs_meta["tenant"], rs_meta["namespace"], rs_meta["name"]))
        elif event.rt is RESOURCEQUOTAS:
            self._mark_failing(m["tenant"], m["namespace"])

    def _mark_failing(self, tenant: str, namespace: str) -> None:
        for entry in self.store.table(REPLICASETS).scan(tenant, namespace):
            if (entry.obj.get("status") or {}).get("conditions"):
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
        failure: str | None = None
        if len(owned) < want:
            batch = self._slow_start.get(key, SLOW_START_INITIAL)
            for _ in range(min(want - len(owned), batch)):
                try:
                    owned.append(self._create_pod(rs, key))
                except status.ApiError as err:
                    # As Kubernetes's controller: stop this round at the first refused create (quota,
                    # admission, validation) and report it as the ReplicaFailure condition; the next sync
                    # (any event of the ReplicaSet or its pods) tries again.
                    failure = str(err.body.get("message") or err)
                    break
            if failure is None and len(owned) < want:
                self._slow_start[key] = min(2 * batch, BURST_REPLICAS)
                self._mark(key)
            else:
                self._slow_start.pop(key, None)
        elif len(owned) > want:
            # delete the least advanced pods first (pending before running), newest first
            owned.sort(key=lambda p: (p.get("status", {}).get("phase") == "Running", p["metadata"]["name"]))
            for pod in owned[: len(owned) - want]:
                self.api.delete_pod((key[0], key[1], pod["metadata"]["name"]))
            owned = owned[len(owned) - want :]
        self._update_status(key, owned, failure)

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

    def _update_status(self, key: Key, owned: list[Json], failure: str | None = None) -> None:
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
        if failure is not None:
            # Kubernetes's ReplicaSet controller: condition ReplicaFailure, reason FailedCreate, the error
            # as message; the condition goes once a sync creates what it needs without an error.
            previous = next(
                (
                    c
                    for c in (rs.get("status") or {}).get("conditions") or []
                    if c.get("type") == "ReplicaFailure"
                ),
                None,
            )
            since = previous["lastTransitionTime"] if previous else meta.timestamp(self.api.clock())
            new_status["conditions"] = [
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": since,
                    "reason": "FailedCreate",
                    "message": failure,
                }
            ]
        if new_status != rs.get("status"):
            updated = copy_obj(rs)
            updated["status"] = new_status
            self.store.update(REPLICASETS, updated)

    async def run(self) -> None:
        self._wake = asyncio.Event()
        while True:
            # One round over what is dirty now; the API server serves (watch streams, requests) between
            # rounds, as Arktos's does while its controller works through slow-start batches.
            for key in list(self.dirty):
                self.dirty.discard(key)
                self.sync(key)
            self._wake.clear()
            if self.dirty:
                await asyncio.sleep(0)
            else:
                await self._wake.wait()


def _ready(pod: Json) -> bool:
    st = pod.get("status") or {}
    if st.get("phase") != "Running":
        return False
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False
