"""extproc.cluster_cache and extproc.tenant_proofs: what the watches feed, what translators may read."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from extproc.cluster_cache import (
    ACTION,
    POD,
    REBOOT_TYPE,
    REPLICASET,
    SUBMITTED,
    SUBMITTED_TTL,
    ClusterCache,
    ClusterView,
)
from extproc.tenant_proofs import ALL_TENANTS, TenantProofs, tenant_of_path


def pod(
    name: str, tenant: str = "demo", rv: str = "1", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    meta = {"name": name, "tenant": tenant, "namespace": "default", "resourceVersion": rv}
    return {"metadata": {**meta, "labels": labels or {}}, "spec": {"virtualMachine": {"name": "vm"}}}


def container_pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "tenant": "demo", "namespace": "default"}, "spec": {"containers": []}}


def action(
    name: str,
    pod_name: str,
    spec: dict[str, Any],
    complete: bool = False,
    created: str = "2026-01-01T00:00:00Z",
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "tenant": "demo",
            "namespace": "default",
            "resourceVersion": name,
            "creationTimestamp": created,
        },
        "spec": {"podName": pod_name, **spec},
        "status": {"complete": True} if complete else {},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def synced_cache(clock: Clock | None = None) -> ClusterCache:
    cache = ClusterCache(clock=clock or Clock(), wall=lambda: 1767225600.0)  # 2026-01-01T00:00:00Z
    for kind in (POD, ACTION, REPLICASET):
        assert not cache.synced
        cache.apply_list(kind, [])
    assert cache.synced
    return cache


def test_is_a_cluster_view() -> None:
    view: ClusterView = ClusterCache()
    assert view.synced is False


def test_pods_only_vm_pods_and_label_lookup() -> None:
    cache = synced_cache()
    cache.apply_list(POD, [pod("a", labels={"k": "1"}), pod("b", labels={"k": "2"}), container_pod("c")])
    assert cache.pod("demo", "default", "a") is not None
    assert cache.pod("demo", "default", "c") is None
    assert cache.pod("alt", "default", "a") is None
    assert [p["metadata"]["name"] for p in cache.pods_with_label("demo", "default", "k", "2")] == ["b"]
    assert cache.locate_pod("default", "a") == "demo"
    cache.apply_event(POD, "DELETED", pod("a"))
    assert cache.pod("demo", "default", "a") is None
    assert cache.locate_pod("default", "a") is None


def test_relist_is_replayed_to_listeners_as_changes() -> None:
    cache = synced_cache()
    seen: list[tuple[str, str, str]] = []
    cache.subscribe(lambda kind, change, obj: seen.append((kind, change, obj["metadata"]["name"])))
    cache.apply_list(POD, [pod("a"), pod("b")])
    cache.apply_list(POD, [pod("a", rv="2"), pod("c")])
    assert seen == [
        ("Pod", "ADDED", "a"),
        ("Pod", "ADDED", "b"),
        ("Pod", "DELETED", "b"),
        ("Pod", "MODIFIED", "a"),
        ("Pod", "ADDED", "c"),
    ]


def test_a_failing_listener_does_not_stop_the_cache() -> None:
    cache = synced_cache()

    def broken(kind: str, change: str, obj: Any) -> None:
        raise RuntimeError("bug")

    cache.subscribe(broken)
    cache.apply_event(POD, "ADDED", pod("a"))
    assert cache.pod("demo", "default", "a") is not None


def test_pending_actions_oldest_first_until_complete() -> None:
    cache = synced_cache()
    reboot = action("reboot-2", "a", {"rebootAction": {}}, created="2026-01-01T00:00:02Z")
    snap = action(
        "snapshot-1", "a", {"snapshotAction": {"snapshotName": "img"}}, created="2026-01-01T00:00:01Z"
    )
    other = action("reboot-3", "b", {"rebootAction": {}})
    cache.apply_list(ACTION, [reboot, snap, other])
    assert [a["metadata"]["name"] for a in cache.pending_actions("demo", "default", "a")] == [
        "snapshot-1",
        "reboot-2",
    ]
    done = copy.deepcopy(reboot)
    done["status"] = {"complete": True}
    cache.apply_event(ACTION, "MODIFIED", done)
    assert [a["metadata"]["name"] for a in cache.pending_actions("demo", "default", "a")] == ["snapshot-1"]
    assert cache.snapshot_action("img") == snap
    cache.apply_event(ACTION, "DELETED", snap)
    assert cache.snapshot_action("img") is None
    assert cache.pending_actions("demo", "default", "a") == []


def test_submitted_action_shows_until_the_watch_does() -> None:
    clock = Clock()
    cache = synced_cache(clock)
    cache.note_submitted("demo", "default", "a", "snapshot", "img", details={"name": "snap1"})
    (stand_in,) = cache.pending_actions("demo", "default", "a")
    assert stand_in["metadata"]["annotations"] == {SUBMITTED: "true"}
    assert cache.snapshot_action("img") is not None
    assert cache.submitted_details("img") == {"name": "snap1"}
    assert [a["spec"]["snapshotAction"] for a in cache.snapshot_actions("demo")] == [{"snapshotName": "img"}]
    assert cache.snapshot_actions("alt") == []
    real = action("snapshot-1767225600", "a", {"snapshotAction": {"snapshotName": "img"}})
    cache.apply_event(ACTION, "ADDED", real)
    assert cache.pending_actions("demo", "default", "a") == [real]


def test_submitted_action_never_seen_is_forgotten() -> None:
    clock = Clock()
    cache = synced_cache(clock)
    cache.note_submitted("demo", "default", "a", "reboot", "reboot-5")
    assert len(cache.pending_actions("demo", "default", "a")) == 1
    clock.now += SUBMITTED_TTL
    assert cache.pending_actions("demo", "default", "a") == []


def test_hard_reboot_is_remembered_on_the_real_action() -> None:
    cache = synced_cache()
    cache.note_submitted("demo", "default", "a", "reboot", "reboot-7", hard=True)
    cache.apply_event(ACTION, "ADDED", action("reboot-7", "a", {"rebootAction": {}}))
    (shown,) = cache.pending_actions("demo", "default", "a")
    assert shown["metadata"]["annotations"] == {REBOOT_TYPE: "HARD"}
    cache.apply_event(ACTION, "ADDED", action("reboot-8", "a", {"rebootAction": {}}))
    marks = [a["metadata"].get("annotations") for a in cache.pending_actions("demo", "default", "a")]
    assert marks == [{REBOOT_TYPE: "HARD"}, None]


async def test_wait_for_reruns_the_probe_after_changes() -> None:
    cache = synced_cache()

    async def later() -> None:
        await asyncio.sleep(0)
        cache.apply_event(POD, "ADDED", pod("a"))

    task = asyncio.create_task(later())
    found = await cache.wait_for(lambda: cache.pod("demo", "default", "a"), timeout=5)
    await task
    assert found is not None
    assert await cache.wait_for(lambda: cache.pod("demo", "default", "zzz"), timeout=0.01) is None


def test_replicasets_with_label() -> None:
    cache = synced_cache()
    rs = {"metadata": {"name": "r", "tenant": "demo", "namespace": "default", "labels": {"k": "v"}}}
    cache.apply_list(REPLICASET, [rs, {"metadata": {"name": "s", "tenant": "demo", "namespace": "default"}}])
    assert cache.replicasets_with_label("k") == [rs]


# -- tenant proofs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "tenant"),
    [
        ("/api/v1/tenants/demo/namespaces/default/pods/x", "demo"),
        ("/apis/apps/v1/tenants/alt/namespaces/default/replicasets", "alt"),
        ("/api/v1/tenants/all/pods?limit=5", ALL_TENANTS),
        ("/api/v1/tenants/demo", "demo"),
        ("/api/v1/namespaces/default/pods", None),
    ],
)
def test_tenant_of_path(path: str, tenant: str | None) -> None:
    assert tenant_of_path(path) == tenant


def test_proofs_remember_2xx_per_token_and_tenant() -> None:
    clock = Clock()
    proofs = TenantProofs(capacity=2, ttl=60, clock=clock)
    proofs.record("t1", "/api/v1/tenants/demo/namespaces/default/pods/x", 200)
    proofs.record("t1", "/api/v1/tenants/alt/namespaces/default/pods/x", 403)
    proofs.record("t2", "/api/v1/namespaces/default/pods/x", 200)
    assert proofs.proven("t1", "demo")
    assert not proofs.proven("t1", "alt")
    assert not proofs.proven("t2", "demo")
    assert not proofs.proven(None, "demo")
    assert not proofs.proven("t1", None)
    clock.now += 61
    assert not proofs.proven("t1", "demo")


def test_proofs_all_tenants_and_capacity() -> None:
    proofs = TenantProofs(capacity=2)
    proofs.record("admin", "/api/v1/tenants/all/pods", 200)
    assert proofs.proven("admin", "anything")
    proofs.record("t2", "/api/v1/tenants/demo/pods", 200)
    proofs.record("t3", "/api/v1/tenants/demo/pods", 200)
    assert not proofs.proven("admin", "anything")  # least recently proven, evicted
    assert proofs.proven("t3", "demo")
