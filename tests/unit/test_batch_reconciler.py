"""The batch reconciler against the real ClusterCache and a recording stand-in for Arktos.

The stand-in answers like Arktos (fixtures 29, 30): a PATCH merges annotations into the pod, an Orphan DELETE
removes the ReplicaSet and the pods' ownerReferences; both are fed back into the cache as watch events.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import Any

import pytest

from extproc import annotations as keys
from extproc.batch_reconciler import BatchReconciler, ReconcileError
from extproc.cluster_cache import ClusterCache
from extproc.compute import batch
from tests.unit.test_batch_create import NS, TENANT, batch_forward, controller_pods, synced_cache

RS_PATH = "/apis/apps/v1/tenants/demo/namespaces/default/replicasets/"


class FakeArktos:
    def __init__(self, cache: ClusterCache, fail_patches: bool = False) -> None:
        self.cache = cache
        self.calls: list[tuple[str, str, Any]] = []
        self.fail_patches = fail_patches

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str | None = None
    ) -> tuple[int, Any]:
        self.calls.append((method, path, body))
        name = path.rsplit("/", 1)[-1]
        if method == "PATCH":
            if self.fail_patches:
                return 500, {"kind": "Status", "code": 500}
            pod = self.cache.pod(TENANT, NS, name)
            if pod is None:
                return 404, None
            patched = copy.deepcopy(dict(pod))
            patched["metadata"]["annotations"].update(body["metadata"]["annotations"])
            self.cache.apply_event("Pod", "MODIFIED", patched)
            return 200, patched
        if method == "DELETE":
            rs = next((r for r in self.cache.replicasets_with_label(keys.RESERVATION_ID)
                       if r["metadata"]["name"] == name), None)  # fmt: skip
            if rs is None:
                return 404, None
            if body.get("propagationPolicy") == "Orphan":
                for pod in self.cache.pods_with_label(TENANT, NS, keys.RESERVATION_ID, name):
                    freed = copy.deepcopy(dict(pod))
                    freed["metadata"].pop("ownerReferences", None)
                    self.cache.apply_event("Pod", "MODIFIED", freed)
            self.cache.apply_event("ReplicaSet", "DELETED", rs)
            return 200, rs
        raise AssertionError(f"unexpected {method} {path}")

    def methods(self) -> list[str]:
        return [m for m, _, _ in self.calls]


def stored_rs(
    rs: Mapping[str, Any], replicas_made: int, conditions: list[Any] | None = None
) -> dict[str, Any]:
    stored = copy.deepcopy(dict(rs))
    stored["metadata"].update({"tenant": TENANT, "namespace": NS, "uid": "u1", "resourceVersion": "5"})
    stored["status"] = {"replicas": replicas_made, **({"conditions": conditions} if conditions else {})}
    return stored


def run(reconciler: BatchReconciler, rs: Mapping[str, Any]) -> None:
    asyncio.run(reconciler.reconcile((TENANT, NS, rs["metadata"]["name"])))


def names_in(cache: ClusterCache, reservation: str) -> dict[str, str]:
    return {
        p["metadata"]["name"]: p["metadata"]["annotations"][keys.DISPLAY_NAME]
        for p in cache.pods_with_label(TENANT, NS, keys.RESERVATION_ID, reservation)
    }


def test_complete_batch_is_named_then_orphaned() -> None:
    cache = synced_cache()
    arktos = FakeArktos(cache)
    reconciler = BatchReconciler(cache, arktos)
    _, rs = batch_forward(max_count=3)
    reservation = rs["metadata"]["name"]
    pods = controller_pods(rs, ["ccccc", "aaaaa", "bbbbb"])
    cache.apply_event("ReplicaSet", "ADDED", stored_rs(rs, 3))
    cache.apply_list("Pod", pods)
    shown_before = {
        p["metadata"]["name"]: p["metadata"]["annotations"][keys.DISPLAY_NAME]
        for p in batch.with_provisional_names(pods)
    }

    run(reconciler, rs)

    assert arktos.methods() == ["PATCH", "PATCH", "PATCH", "DELETE"]
    _, path, options = arktos.calls[-1]
    assert path == RS_PATH + reservation
    assert options == {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"}
    assert names_in(cache, reservation) == shown_before
    assert names_in(cache, reservation)[f"{reservation}-aaaaa"] == "web-1"
    assert all("ownerReferences" not in p["metadata"] for p in cache.pods_with_label(
        TENANT, NS, keys.RESERVATION_ID, reservation))  # fmt: skip


def test_incomplete_batch_waits_for_the_controller() -> None:
    cache = synced_cache()
    arktos = FakeArktos(cache)
    reconciler = BatchReconciler(cache, arktos)
    _, rs = batch_forward(max_count=3)
    cache.apply_event("ReplicaSet", "ADDED", stored_rs(rs, 2))
    cache.apply_list("Pod", controller_pods(rs, ["aaaaa", "bbbbb"]))
    run(reconciler, rs)
    assert arktos.calls == []


def test_batch_arktos_refuses_entirely_is_deleted() -> None:
    cache = synced_cache()
    arktos = FakeArktos(cache)
    reconciler = BatchReconciler(cache, arktos)
    _, rs = batch_forward(max_count=3)
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "quota"}
    cache.apply_event("ReplicaSet", "ADDED", stored_rs(rs, 0, [failure]))
    run(reconciler, rs)
    assert [(m, b["propagationPolicy"]) for m, _, b in arktos.calls] == [("DELETE", "Background")]


def test_second_run_after_a_crash_finishes_without_renaming() -> None:
    """A previous processor wrote one name and died: the rest are named around it, then detached."""
    cache = synced_cache()
    arktos = FakeArktos(cache)
    reconciler = BatchReconciler(cache, arktos)
    _, rs = batch_forward(max_count=3)
    reservation = rs["metadata"]["name"]
    pods = controller_pods(rs, ["aaaaa", "bbbbb", "ccccc"])
    pods[2]["metadata"]["annotations"].update(batch.name_patch("web", 1)["metadata"]["annotations"])
    cache.apply_event("ReplicaSet", "ADDED", stored_rs(rs, 3))
    cache.apply_list("Pod", pods)

    run(reconciler, rs)
    run(reconciler, rs)  # nothing left: no second PATCH, the ReplicaSet is already gone

    patched = [p.rsplit("/", 1)[-1] for m, p, _ in arktos.calls if m == "PATCH"]
    assert sorted(patched) == [f"{reservation}-aaaaa", f"{reservation}-bbbbb"]
    assert arktos.methods().count("DELETE") == 1
    assert names_in(cache, reservation) == {
        f"{reservation}-ccccc": "web-1",
        f"{reservation}-aaaaa": "web-2",
        f"{reservation}-bbbbb": "web-3",
    }


def test_failed_naming_keeps_the_replicaset() -> None:
    cache = synced_cache()
    arktos = FakeArktos(cache, fail_patches=True)
    reconciler = BatchReconciler(cache, arktos)
    _, rs = batch_forward(max_count=2)
    cache.apply_event("ReplicaSet", "ADDED", stored_rs(rs, 2))
    cache.apply_list("Pod", controller_pods(rs, ["aaaaa", "bbbbb"]))
    with pytest.raises(ReconcileError):
        run(reconciler, rs)
    assert "DELETE" not in arktos.methods()


def test_run_loop_finishes_batches_left_by_a_previous_processor() -> None:
    """At start the cache lists a ReplicaSet whose pods all exist: the loop detaches it unprompted."""

    async def scenario() -> FakeArktos:
        cache = ClusterCache()
        arktos = FakeArktos(cache)
        reconciler = BatchReconciler(cache, arktos)
        task = asyncio.create_task(reconciler.run())
        _, rs = batch_forward(max_count=2)
        cache.apply_list("Action", [])
        cache.apply_list("Pod", controller_pods(rs, ["aaaaa", "bbbbb"]))
        cache.apply_list("ReplicaSet", [stored_rs(rs, 2)])
        done = await cache.wait_for(lambda: True if not cache.replicasets_with_label(keys.RESERVATION_ID)
                                    else None, 10.0)  # fmt: skip
        task.cancel()
        assert done
        return arktos

    arktos = asyncio.run(scenario())
    assert arktos.methods() == ["PATCH", "PATCH", "DELETE"]
