"""Batch members Arktos refused to create (quota) as ERROR servers, the create reply's member as name-1,
and server writes guarded by the cache's uid. Real ``ClusterCache``, real translators, Arktos replies by hand.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import orjson

from extproc import annotations as keys
from extproc.arktos_watch import GoneError
from extproc.batch_reconciler import BatchReconciler
from extproc.catalog import CatalogStore
from extproc.cluster_cache import ClusterCache
from extproc.compute import batch, server_item, server_list
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from extproc.tenant_proofs import TenantProofs
from tests.unit.test_batch_create import (
    NS,
    TENANT,
    TOKEN,
    as_forward,
    batch_forward,
    controller_pods,
    reply_now,
    request,
    synced_cache,
)
from tests.unit.test_batch_reconciler import FakeArktos, stored_rs

QUOTA = 'pods "r-x-" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2'
# What Nova says for it (Kubernetes' names stay out of OpenStack replies).
NOVA_QUOTA = "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
FAILURE = {
    "type": "ReplicaFailure",
    "status": "True",
    "lastTransitionTime": "2026-01-01T10:00:05Z",
    "reason": "FailedCreate",
    "message": QUOTA,
}


def ctx(cache: ClusterCache | None, proofs: TenantProofs | None = None) -> RequestContext:
    config = GatewayConfig(public_url="http://gw")
    return RequestContext(config, CatalogStore(), "req-1", TENANT, cache, proofs)


def partial_batch() -> tuple[ClusterCache, dict[str, Any], list[dict[str, Any]]]:
    """3 asked, 2 made, the third refused by a quota."""
    cache = synced_cache()
    _, rs = batch_forward(max_count=3)
    stored = stored_rs(rs, 2, [FAILURE])
    stored["metadata"]["creationTimestamp"] = "2026-01-01T10:00:00Z"
    pods = controller_pods(rs, ["bbbbb", "aaaaa"])
    for pod in pods:
        pod["metadata"]["uid"] = "uid-" + pod["metadata"]["name"]
    cache.apply_event("ReplicaSet", "ADDED", stored)
    cache.apply_list("Pod", pods)
    return cache, stored, pods


def json_of(reply: Reply) -> Any:
    return orjson.loads(reply.body)


def test_failed_member_ids_are_valid_server_ids_and_round_trip() -> None:
    from extproc.ids import is_server_id

    sid = batch.failed_member_id("r-abcd1234", 3)
    assert sid == "r-abcd1234-failed-3" and is_server_id(sid)
    assert batch.parse_failed_member_id(sid) == ("r-abcd1234", 3)
    assert batch.parse_failed_member_id("r-abcd1234-bbbbb") is None


def test_missing_member_is_listed_as_an_error_server_with_the_quota_fault() -> None:
    cache, rs, pods = partial_batch()
    reservation = rs["metadata"]["name"]
    forward = as_forward(server_list.list_servers_detail(ctx(cache), request("GET"), {}))
    probe = ArktosReply(200, {}, orjson.dumps({"items": pods[:1]}))
    listed = {s["name"]: s for s in json_of(reply_now(forward.translate(probe)))["servers"]}
    assert sorted(listed) == ["web-1", "web-2", "web-3"]
    failed = listed["web-3"]
    assert failed["id"] == f"{reservation}-failed-3"
    assert failed["status"] == "ERROR"
    assert failed["fault"] == {"code": 500, "created": "2026-01-01T10:00:05Z", "message": NOVA_QUOTA}
    assert listed["web-1"]["status"] == "BUILD"
    # Filters apply to it as to any server.
    by_status = as_forward(server_list.list_servers(ctx(cache), request("GET", status="ERROR"), {}))
    assert [s["id"] for s in json_of(reply_now(by_status.translate(probe)))["servers"]] == [failed["id"]]


def test_no_missing_member_while_the_controller_reports_no_failure() -> None:
    cache, rs, _ = partial_batch()
    healthy = copy.deepcopy(rs)
    healthy["status"] = {"replicas": 2}
    healthy["metadata"]["resourceVersion"] = "6"
    cache.apply_event("ReplicaSet", "MODIFIED", healthy)
    assert (
        batch.failed_indices_of(
            healthy, cache.pods_with_label(TENANT, NS, keys.RESERVATION_ID, rs["metadata"]["name"])
        )
        == []
    )


def test_show_of_a_missing_member_reads_the_replicaset() -> None:
    cache, rs, _ = partial_batch()
    sid = f"{rs['metadata']['name']}-failed-3"
    forward = as_forward(server_item.show_server(ctx(cache), request("GET"), {"server_id": sid}))
    assert (forward.upstream.method, forward.upstream.path) == (
        "GET",
        f"/apis/apps/v1/tenants/demo/namespaces/default/replicasets/{rs['metadata']['name']}",
    )
    shown = reply_now(forward.translate(ArktosReply(200, {}, orjson.dumps(rs))))
    assert shown.status == 200
    assert (json_of(shown)["server"]["status"], json_of(shown)["server"]["name"]) == ("ERROR", "web-3")
    not_found = {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                 "message": f'replicasets.apps "{rs["metadata"]["name"]}" not found'}  # fmt: skip
    gone = reply_now(forward.translate(ArktosReply(404, {}, orjson.dumps(not_found))))
    assert gone.status == 404 and sid in json_of(gone)["itemNotFound"]["message"]
    # The controller made it meanwhile: no such missing member any more.
    cache.apply_event("Pod", "ADDED", controller_pods(rs, ["ccccc"])[0])
    assert reply_now(forward.translate(ArktosReply(200, {}, orjson.dumps(rs)))).status == 404


def test_delete_of_a_missing_member_lowers_the_replicas_conditionally() -> None:
    cache, rs, _ = partial_batch()
    sid = f"{rs['metadata']['name']}-failed-3"
    forward = as_forward(server_item.delete_server(ctx(cache), request("DELETE"), {"server_id": sid}))
    assert forward.upstream.method == "PATCH"
    assert forward.upstream.content_type == "application/json-patch+json"
    assert orjson.loads(forward.upstream.body or b"") == [
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "test", "path": "/status/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 2},
    ]
    assert reply_now(forward.translate(ArktosReply(200, {}, orjson.dumps(rs)))).status == 204
    assert reply_now(forward.translate(ArktosReply(422, {}, b"{}"))).status == 409
    # An index that is not missing: a patch Arktos always refuses, answered 404.
    other = as_forward(
        server_item.delete_server(ctx(cache), request("DELETE"), {"server_id": sid[:-1] + "1"})
    )
    assert orjson.loads(other.upstream.body or b"") == batch.IMPOSSIBLE_REPLICAS_PATCH
    assert reply_now(other.translate(ArktosReply(422, {}, b"{}"))).status == 404


def test_reconciler_keeps_a_partial_batch_and_detaches_it_once_replicas_drop() -> None:
    cache, rs, _ = partial_batch()
    arktos = FakeArktos(cache)
    reconciler = BatchReconciler(cache, arktos)
    key = (TENANT, NS, rs["metadata"]["name"])
    asyncio.run(reconciler.reconcile(key))
    assert arktos.calls == []
    lowered = copy.deepcopy(rs)
    lowered["spec"]["replicas"] = 2
    lowered["status"] = {"replicas": 2}
    cache.apply_event("ReplicaSet", "MODIFIED", lowered)
    asyncio.run(reconciler.reconcile(key))
    assert arktos.methods() == ["PATCH", "PATCH", "DELETE"]


def test_reconciler_does_not_delete_a_failing_batch_whose_pods_the_cache_has_not_shown() -> None:
    """Pods and ReplicaSets come on separate watches: the failure may arrive before the pods made."""
    cache = synced_cache()
    _, rs = batch_forward(max_count=3)
    cache.apply_event("ReplicaSet", "ADDED", stored_rs(rs, 2, [FAILURE]))
    arktos = FakeArktos(cache)
    asyncio.run(BatchReconciler(cache, arktos).reconcile((TENANT, NS, rs["metadata"]["name"])))
    assert arktos.calls == []


# ---------------------------------------------------------------------------------------------------------
# The create reply's member is name-1


def test_the_reply_member_is_index_1_everywhere() -> None:
    cache = synced_cache()
    forward, rs = batch_forward(cache, min_count=3, max_count=3)
    reservation = rs["metadata"]["name"]
    first = controller_pods(rs, ["zzzzz"])[0]

    async def scenario() -> Reply:
        task = asyncio.ensure_future(forward.translate(_created(rs)))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        cache.apply_event("Pod", "ADDED", first)
        return await task

    reply = asyncio.run(scenario())
    assert json_of(reply)["server"]["id"] == f"{reservation}-zzzzz"
    # The rest come in the same second with names that sort first.
    for pod in controller_pods(rs, ["aaaaa", "bbbbb"]):
        cache.apply_event("Pod", "ADDED", pod)
    members = cache.pods_with_label(TENANT, NS, keys.RESERVATION_ID, reservation)
    assert batch.assign_indices(members)[f"{reservation}-zzzzz"] == 1
    # The list (cache path), the full-list fallback and the show agree...
    probe = ArktosReply(200, {}, orjson.dumps({"items": [first]}))
    listed = as_forward(server_list.list_servers(ctx(cache), request("GET"), {}))
    names = {s["id"]: s["name"] for s in json_of(reply_now(listed.translate(probe)))["servers"]}
    assert names[f"{reservation}-zzzzz"] == "web-1"
    arktos_pods = [copy.deepcopy(dict(p)) for p in members]
    for pod in arktos_pods:
        pod["metadata"]["annotations"].pop(keys.FIRST_MEMBER, None)
    cache.note_written(TENANT, "999999")  # a write the watch has not shown: the list reads Arktos's
    full = as_forward(server_list.list_servers(ctx(cache), request("GET"), {}))
    assert "limit=1" not in full.upstream.path
    items = ArktosReply(200, {}, orjson.dumps({"items": arktos_pods}))
    names = {s["id"]: s["name"] for s in json_of(reply_now(full.translate(items)))["servers"]}
    assert names[f"{reservation}-zzzzz"] == "web-1"
    # ... and the reconciler writes it.
    arktos = FakeArktos(cache)
    cache.apply_event("ReplicaSet", "ADDED", stored_rs(rs, 3))
    asyncio.run(BatchReconciler(cache, arktos).reconcile((TENANT, NS, reservation)))
    written = {path.rsplit("/", 1)[-1]: body for m, path, body in arktos.calls if m == "PATCH"}
    assert written[f"{reservation}-zzzzz"]["metadata"]["annotations"][keys.BATCH_INDEX] == "1"
    assert keys.FIRST_MEMBER not in written[f"{reservation}-zzzzz"]["metadata"]["annotations"]


def _created(rs: dict[str, Any]) -> ArktosReply:
    from tests.unit.test_batch_create import created_rs

    return created_rs(rs)


# ---------------------------------------------------------------------------------------------------------
# DELETE / PUT of an id the cache does not know as a VM pod


def vm_cache() -> tuple[ClusterCache, dict[str, Any]]:
    cache, _, pods = partial_batch()
    return cache, pods[0]


def delete(cache: ClusterCache | None, sid: str, proofs: TenantProofs | None = None) -> Forward | Reply:
    req = ClientRequest("DELETE", "/", {}, {"x-auth-token": TOKEN}, b"")
    return server_item.delete_server(ctx(cache, proofs), req, {"server_id": sid})


def proven() -> TenantProofs:
    proofs = TenantProofs()
    proofs.record(TOKEN, "/api/v1/tenants/demo/namespaces/default/pods", 200)
    return proofs


def test_delete_of_a_cached_vm_pod_carries_its_uid() -> None:
    cache, pod = vm_cache()
    forward = delete(cache, pod["metadata"]["name"])
    assert isinstance(forward, Forward)
    assert orjson.loads(forward.upstream.body or b"")["preconditions"] == {"uid": pod["metadata"]["uid"]}
    assert reply_now(forward.translate(ArktosReply(200, {}, b"{}"))).status == 204
    # Another object of that name now (a container pod, a new pod): not the server the client meant.
    assert reply_now(forward.translate(ArktosReply(409, {}, b"{}"))).status == 404


def test_delete_of_an_id_the_synced_cache_does_not_know() -> None:
    cache, _ = vm_cache()
    sid = "3f1d1c3e-0000-4000-8000-000000000001"
    assert isinstance(local := delete(cache, sid, proven()), Reply) and local.status == 404
    # Without a proof that Arktos let this token into the tenant, Arktos answers (a uid nothing has).
    forward = delete(cache, sid)
    assert isinstance(forward, Forward)
    assert orjson.loads(forward.upstream.body or b"")["preconditions"] == {"uid": server_item.NO_OBJECT_UID}
    assert reply_now(forward.translate(ArktosReply(409, {}, b"{}"))).status == 404


def test_delete_forwards_as_before_when_the_cache_cannot_decide() -> None:
    cache, pod = vm_cache()
    cache.note_written(TENANT, "999999")  # a write the watch has not shown yet
    forward = delete(cache, "3f1d1c3e-0000-4000-8000-000000000001", proven())
    assert isinstance(forward, Forward) and forward.upstream.body is None
    unsynced = ClusterCache()
    forward = delete(unsynced, pod["metadata"]["name"], proven())
    assert isinstance(forward, Forward) and forward.upstream.body is None


def test_rename_of_a_cached_vm_pod_is_a_json_patch_testing_its_uid() -> None:
    cache, pod = vm_cache()
    req = ClientRequest("PUT", "/", {}, {"x-auth-token": TOKEN}, orjson.dumps({"server": {"name": "new"}}))
    forward = as_forward(server_item.update_server(ctx(cache), req, {"server_id": pod["metadata"]["name"]}))
    assert forward.upstream.content_type == "application/json-patch+json"
    assert orjson.loads(forward.upstream.body or b"") == [
        {"op": "test", "path": "/metadata/uid", "value": pod["metadata"]["uid"]},
        {"op": "add", "path": "/metadata/annotations/openstack.arktos.io~1display-name", "value": "new"},
    ]
    assert reply_now(forward.translate(ArktosReply(422, {}, b"{}"))).status == 404


# ---------------------------------------------------------------------------------------------------------
# Watch health


def test_a_broken_watch_unsyncs_its_resource_until_the_relist_is_applied() -> None:
    cache = synced_cache()
    pod_reflector = next(r for r in cache.reflectors(api_client=None) if r.name == "pod")
    seen: list[bool] = []
    rounds = iter(range(3))

    def relist() -> str:
        seen.append(cache.synced)
        pod_reflector.on_list([])
        if next(rounds) == 1:
            pod_reflector._stop.set()
        return "1"

    def watch(rv: str) -> str:
        seen.append(cache.synced)
        raise GoneError()

    pod_reflector.relist = relist  # type: ignore[method-assign]
    pod_reflector.watch = watch  # type: ignore[method-assign]
    pod_reflector.run()
    # listed (synced), watching (synced), 410: relisting (unsynced until applied), then synced again.
    assert seen == [True, True, False]
    assert cache.synced
    cache.note_watch_broken("ReplicaSet")
    assert not cache.synced and cache.resource_synced("Pod") and not cache.resource_synced("ReplicaSet")
    forward = as_forward(server_list.list_servers(ctx(cache), request("GET"), {}))
    assert "limit=1" not in forward.upstream.path  # the full list from Arktos, not the cache
    cache.apply_list("ReplicaSet", [])
    assert cache.synced


def test_refused_members_are_built_once_per_change_not_per_list(monkeypatch: Any) -> None:
    """1,000 asked, 2 made: the 998 ERROR servers are derived when the batch changes, and every later list
    pages through what was derived (its cost no longer grows with max_count)."""
    cache = synced_cache()
    _, rs = batch_forward(max_count=1000)
    stored = stored_rs(rs, 2, [FAILURE])
    stored["metadata"]["creationTimestamp"] = "2026-01-01T10:00:00Z"
    cache.apply_event("ReplicaSet", "ADDED", stored)
    cache.apply_list("Pod", controller_pods(rs, ["bbbbb", "aaaaa"]))
    built: list[int] = []
    real_failed_member = batch.failed_member

    def counting(rs_: Any, index: int) -> dict[str, Any]:
        built.append(index)
        return real_failed_member(rs_, index)

    monkeypatch.setattr(batch, "failed_member", counting)

    def listed() -> list[dict[str, Any]]:
        req = ClientRequest("GET", "/", {"limit": ["5"]}, {"x-auth-token": TOKEN}, b"")
        forward = as_forward(server_list.list_servers_detail(ctx(cache), req, {}))
        probe = ArktosReply(200, {}, orjson.dumps({"items": [{"metadata": {"tenant": TENANT}}]}))
        reply = forward.translate(probe)
        assert isinstance(reply, Reply) and reply.status == 200
        found: list[dict[str, Any]] = json_of(reply)["servers"]
        return found

    first = listed()
    assert len(built) == 998 and len(first) == 5
    for _ in range(3):
        assert listed() == first
    assert len(built) == 998  # nothing rebuilt while nothing changed
    # The ReplicaSet changes (one refused member given up): the next list shows it.
    fewer = copy.deepcopy(stored)
    fewer["spec"]["replicas"] = 999
    fewer["metadata"]["resourceVersion"] = "6"
    cache.apply_event("ReplicaSet", "MODIFIED", fewer)
    listed()
    assert len(built) == 998 + 997
