"""Batch creates with several processor replicas (issue 12 item 3): the create reply's first member is
marked in Arktos, so every replica indexes it 1; the reconcilers of two replicas running at once write the
same indices, each conditional on the pod version it was computed from, and never overwrite each other."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import orjson
import pytest

from extproc import annotations as keys
from extproc.batch_reconciler import BatchReconciler, ReconcileError
from extproc.catalog import CatalogStore
from extproc.cluster_cache import ClusterCache
from extproc.compute import batch, server_create
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import MERGE_PATCH_CONTENT_TYPE, Reply
from tests.unit.test_batch_create import (
    NS,
    PUBLIC,
    TENANT,
    as_forward,
    batch_forward,
    controller_pods,
    created_rs,
    request,
    server_body,
    synced_cache,
)
from tests.unit.test_batch_reconciler import FakeArktos, names_in, stored_rs

POD_PATH = "/api/v1/tenants/demo/namespaces/default/pods/"


class VersionedArktos(FakeArktos):
    """The stand-in, with Arktos's optimistic concurrency: a patch naming another resourceVersion is 409."""

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str | None = None
    ) -> tuple[int, Any]:
        if method == "PATCH":
            pod = self.cache.pod(TENANT, NS, path.rsplit("/", 1)[-1])
            expected = (body.get("metadata") or {}).get("resourceVersion")
            if pod is not None and expected and expected != pod["metadata"]["resourceVersion"]:
                self.calls.append((method, path, body))
                return 409, {"kind": "Status", "reason": "Conflict", "code": 409}
        status, reply = await super().request(method, path, body, content_type)
        if method == "PATCH" and status == 200:
            bumped = copy.deepcopy(reply)
            bumped["metadata"]["resourceVersion"] = str(int(bumped["metadata"]["resourceVersion"]) + 1000)
            self.cache.apply_event("Pod", "MODIFIED", bumped)
            reply = bumped
        return status, reply


def batch_of(cache: ClusterCache, suffixes: list[str]) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    _, rs = batch_forward(max_count=len(suffixes))
    pods = controller_pods(rs, suffixes)
    cache.apply_event("ReplicaSet", "ADDED", stored_rs(rs, len(suffixes)))
    cache.apply_list("Pod", pods)
    return rs, rs["metadata"]["name"], pods


def test_the_create_reply_marks_its_member_in_arktos_before_it_answers() -> None:
    cache = synced_cache()
    arktos = FakeArktos(cache)
    context = RequestContext(
        GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", TENANT, cache, arktos=arktos
    )
    forward = as_forward(server_create.create_server(context, request("POST", server_body(max_count=2)), {}))
    assert forward.upstream.body is not None
    rs = orjson.loads(forward.upstream.body)

    async def scenario() -> Reply:
        pending = forward.translate(created_rs(rs))
        assert not isinstance(pending, Reply)
        task = asyncio.ensure_future(pending)
        await asyncio.sleep(0)
        for pod in controller_pods(rs, ["zzzzz", "aaaaa"]):
            cache.apply_event("Pod", "ADDED", pod)
        return await task

    reply = asyncio.run(scenario())
    first = orjson.loads(reply.body)["server"]["id"]
    assert arktos.calls == [("PATCH", POD_PATH + first, batch.FIRST_MARK_PATCH)]
    assert batch.FIRST_MARK_PATCH == {"metadata": {"annotations": {keys.FIRST_MEMBER: "true"}}}
    assert MERGE_PATCH_CONTENT_TYPE == "application/merge-patch+json"


def test_a_member_marked_by_another_replica_is_index_1_here_at_once() -> None:
    cache = synced_cache()
    arktos = VersionedArktos(cache)
    # The reply (another replica) answered with ...-zzzzz, which member_order alone would make web-2.
    _, reservation, pods = batch_of(cache, ["zzzzz", "aaaaa"])
    marked = copy.deepcopy(pods[0])
    marked["metadata"]["annotations"][keys.FIRST_MEMBER] = "true"
    cache.apply_event("Pod", "MODIFIED", marked)
    asyncio.run(BatchReconciler(cache, arktos).reconcile((TENANT, NS, reservation)))
    assert names_in(cache, reservation) == {f"{reservation}-zzzzz": "web-1", f"{reservation}-aaaaa": "web-2"}
    assert arktos.methods()[-1] == "DELETE"


def test_without_a_mark_the_reconciler_waits_then_names_by_creation_order() -> None:
    cache = synced_cache()
    arktos = VersionedArktos(cache)
    now = [100.0]
    reconciler = BatchReconciler(cache, arktos, mark_wait=6.0, clock=lambda: now[0])
    _, reservation, _ = batch_of(cache, ["zzzzz", "aaaaa"])

    async def scenario() -> None:
        await reconciler.reconcile((TENANT, NS, reservation))
        assert arktos.calls == []  # the reply's mark may still come
        now[0] += 6.0
        await reconciler.reconcile((TENANT, NS, reservation))

    asyncio.run(scenario())
    assert names_in(cache, reservation) == {f"{reservation}-aaaaa": "web-1", f"{reservation}-zzzzz": "web-2"}


def test_index_writes_are_conditional_on_the_version_they_were_computed_from() -> None:
    cache = synced_cache()
    arktos = VersionedArktos(cache)
    _, reservation, pods = batch_of(cache, ["aaaaa", "bbbbb"])
    asyncio.run(BatchReconciler(cache, arktos, mark_wait=0).reconcile((TENANT, NS, reservation)))
    patches = [body for method, _, body in arktos.calls if method == "PATCH"]
    assert sorted(p["metadata"]["resourceVersion"] for p in patches) == sorted(
        p["metadata"]["resourceVersion"] for p in pods
    )


def test_two_replicas_reconciling_at_once_agree_and_never_overwrite() -> None:
    # Replica B's cache lags: it has not seen the names replica A has just written.
    cache_a, cache_b = synced_cache(), synced_cache()
    arktos = VersionedArktos(cache_a)
    _, reservation, pods = batch_of(cache_a, ["zzzzz", "aaaaa", "mmmmm"])
    cache_b.apply_event(
        "ReplicaSet", "ADDED", copy.deepcopy(cache_a.replicasets_with_label(keys.RESERVATION_ID)[0])
    )
    cache_b.apply_list("Pod", copy.deepcopy(pods))
    asyncio.run(BatchReconciler(cache_a, arktos, mark_wait=0).reconcile((TENANT, NS, reservation)))
    written = names_in(cache_a, reservation)
    assert sorted(written.values()) == ["web-1", "web-2", "web-3"]
    arktos.cache = cache_a  # Arktos holds what A wrote; B's writes go there, built on B's stale versions
    arktos.calls.clear()
    with pytest.raises(ReconcileError):  # 409: retried once B's cache shows the newer pods
        asyncio.run(BatchReconciler(cache_b, arktos, mark_wait=0).reconcile((TENANT, NS, reservation)))
    assert arktos.methods() == ["PATCH", "PATCH", "PATCH"]
    assert names_in(cache_a, reservation) == written


def test_a_batch_whose_reply_gives_the_reservation_id_is_named_without_waiting() -> None:
    # No member will be marked: the ReplicaSet says so, and no reconciler waits (a real Arktos's controller
    # replaces members whose VM failed meanwhile).
    cache = synced_cache()
    arktos = VersionedArktos(cache)
    _, rs = batch_forward(max_count=2, return_reservation_id=True)
    assert rs["metadata"]["annotations"][keys.FIRST_MEMBER] == batch.NO_FIRST_MEMBER
    assert keys.FIRST_MEMBER not in rs["spec"]["template"]["metadata"]["annotations"]
    assert keys.FIRST_MEMBER not in batch_forward(max_count=2)[1]["metadata"]["annotations"]
    cache.apply_event("ReplicaSet", "ADDED", stored_rs(rs, 2))
    cache.apply_list("Pod", controller_pods(rs, ["zzzzz", "aaaaa"]))
    reservation = rs["metadata"]["name"]
    asyncio.run(BatchReconciler(cache, arktos, mark_wait=60.0).reconcile((TENANT, NS, reservation)))
    assert names_in(cache, reservation) == {f"{reservation}-aaaaa": "web-1", f"{reservation}-zzzzz": "web-2"}
