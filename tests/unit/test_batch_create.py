"""Batch create (min_count/max_count): the ReplicaSet sent, the reply, names and list filters.

The watch cache is the real ``ClusterCache``, fed by hand with the objects Arktos's controller would make
(``controller_pods``: named ``<rs>-<5 chars>``, the template's labels and annotations, an ownerReference).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
from collections.abc import Awaitable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from extproc import annotations as keys
from extproc import app
from extproc.catalog import CatalogStore
from extproc.cluster_cache import ClusterCache
from extproc.compute import batch, server_create, server_item, server_list
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from tests.shared_fixtures import ARKTOS_FIXTURES

PUBLIC = "http://gw.example:8080"
IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"
TOKEN = "demo-token"
TENANT = "demo"
NS = "default"


def ctx(cluster: ClusterCache | None = None, tenant: str | None = TENANT) -> RequestContext:
    return RequestContext(GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", tenant, cluster)


def request(method: str, body: Any = None, **query: str) -> ClientRequest:
    data = orjson.dumps(body) if body is not None else b""
    return ClientRequest(method, "/", {k: [v] for k, v in query.items()}, {"x-auth-token": TOKEN}, data)


def server_body(**extra: Any) -> dict[str, Any]:
    return {"server": {"name": "web", "imageRef": IMAGE_ID, "flavorRef": "1", **extra}}


def as_forward(outcome: Outcome) -> Forward:
    assert isinstance(outcome, Forward), outcome
    return outcome


def as_reply(outcome: Outcome) -> Reply:
    assert isinstance(outcome, Reply), outcome
    return outcome


def fault(reply: Reply) -> tuple[int, str]:
    ((_, value),) = orjson.loads(reply.body).items()
    return reply.status, value["message"]


def reply_now(result: Reply | Awaitable[Reply]) -> Reply:
    if isinstance(result, Reply):
        return result

    async def wait() -> Reply:
        return await result

    return asyncio.run(wait())


def created_rs(rs: Mapping[str, Any]) -> ArktosReply:
    """Arktos's 201 to the ReplicaSet POST (fixture 26's shape: metadata gains tenant, uid, ...)."""
    body = copy.deepcopy(dict(rs))
    body["metadata"].update({"tenant": TENANT, "namespace": NS, "uid": "rs-uid", "resourceVersion": "10"})
    body["status"] = {"replicas": 0}
    return ArktosReply(201, {"content-type": "application/json"}, orjson.dumps(body))


_rv = itertools.count(100)


def controller_pods(
    rs: Mapping[str, Any], suffixes: list[str], created: str = "2026-01-01T10:00:00Z"
) -> list[dict[str, Any]]:
    """The pods Arktos's ReplicaSet controller makes from ``rs`` (fixture 28's shape)."""
    name = rs["metadata"]["name"]
    template = rs["spec"]["template"]
    pods = []
    for suffix in suffixes:
        pods.append(
            {
                "metadata": {
                    "name": f"{name}-{suffix}",
                    "generateName": f"{name}-",
                    "tenant": TENANT,
                    "namespace": NS,
                    "labels": {**template["metadata"]["labels"], keys.RESERVATION_ID: name},
                    "annotations": dict(template["metadata"]["annotations"]),
                    "creationTimestamp": created,
                    "resourceVersion": str(next(_rv)),
                    "ownerReferences": [{"kind": "ReplicaSet", "name": name, "controller": True}],
                },
                "spec": copy.deepcopy(template["spec"]),
                "status": {"phase": "Pending"},
            }
        )
    return pods


def batch_forward(cluster: ClusterCache | None = None, **extra: Any) -> tuple[Forward, dict[str, Any]]:
    forward = as_forward(server_create.create_server(ctx(cluster), request("POST", server_body(**extra)), {}))
    assert forward.upstream.body is not None
    return forward, orjson.loads(forward.upstream.body)


def synced_cache() -> ClusterCache:
    cache = ClusterCache()
    for kind in ("Pod", "Action", "ReplicaSet"):
        cache.apply_list(kind, [])
    return cache


# ---------------------------------------------------------------------------------------------------------
# The request


def test_batch_is_one_replicaset_whose_template_is_the_single_create_pod() -> None:
    forward, rs = batch_forward(min_count=2, max_count=3)
    assert forward.upstream.method == "POST"
    assert forward.upstream.path == "/apis/apps/v1/tenants/demo/namespaces/default/replicasets"
    single = as_forward(server_create.create_server(ctx(), request("POST", server_body()), {}))
    assert single.upstream.body is not None
    pod = orjson.loads(single.upstream.body)

    reservation = rs["metadata"]["name"]
    assert re.fullmatch(r"r-[a-z0-9]{8}", reservation)
    assert rs["kind"] == "ReplicaSet" and rs["apiVersion"] == "apps/v1"
    # Nova creates max_count servers when it can.
    assert rs["spec"]["replicas"] == 3
    assert rs["spec"]["selector"] == {"matchLabels": {keys.RESERVATION_ID: reservation}}
    template = rs["spec"]["template"]
    assert template["metadata"]["labels"] == {keys.RESERVATION_ID: reservation}
    assert template["spec"] == pod["spec"]
    assert template["spec"]["virtualMachine"]["imagePullPolicy"] == "IfNotPresent"
    annotations = dict(template["metadata"]["annotations"])
    assert annotations.pop(keys.BATCH_SIZE) == "3"
    # Every member carries the create's instance action (Nova gives a multi-create one request id).
    record_key = keys.INSTANCE_ACTION_PREFIX + "req-1"
    assert orjson.loads(annotations.pop(record_key))["action"] == "create"
    single_annotations = dict(pod["metadata"]["annotations"])
    single_annotations.pop(record_key)
    # A single server's hostname is fixed at create; a member's follows its name "<name>-<index>" (Nova's).
    assert single_annotations.pop(keys.HOSTNAME) == "web"
    assert keys.HOSTNAME not in annotations
    assert annotations == single_annotations
    assert "name" not in template["metadata"]


def test_replicaset_template_passes_arktos_template_validation() -> None:
    """The simulator's validation (checked against the recordings, fixture 27) accepts the template."""
    from arktos_sim import validation

    _, rs = batch_forward(max_count=4)
    validation.prepare_replicaset(copy.deepcopy(rs))  # raises a 422 ApiError if Arktos would refuse it


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"min_count": 0}, "Invalid input for field/attribute min_count. Value: 0."),
        ({"max_count": 0}, "Invalid input for field/attribute max_count. Value: 0."),
        ({"min_count": "0"}, "Invalid input received: min_count must be >= 1"),
        ({"min_count": 3, "max_count": 2}, "min_count must be <= max_count"),
        ({"min_count": "two"}, "Invalid input for field/attribute min_count. Value: two."),
        ({"max_count": 1.5}, "Invalid input for field/attribute max_count. Value: 1.5."),
        ({"min_count": 2, "return_reservation_id": "maybe"}, "Invalid input for field/attribute"),
    ],
)
def test_invalid_counts_are_400_and_nothing_is_sent(counts: dict[str, Any], message: str) -> None:
    status, text = fault(
        as_reply(server_create.create_server(ctx(), request("POST", server_body(**counts)), {}))
    )
    assert status == 400
    assert text.startswith(message)


@pytest.mark.parametrize(
    ("counts", "replicas"),
    [({"min_count": 2}, 2), ({"min_count": "2", "max_count": "5"}, 5), ({"max_count": 3}, 3)],
)
def test_counts_as_nova_reads_them(counts: dict[str, Any], replicas: int) -> None:
    _, rs = batch_forward(**counts)
    assert rs["spec"]["replicas"] == replicas


def test_one_server_stays_a_single_pod() -> None:
    forward = as_forward(server_create.create_server(ctx(), request("POST", server_body(min_count=1)), {}))
    assert forward.upstream.path.endswith("/pods")


# ---------------------------------------------------------------------------------------------------------
# The reply


def test_return_reservation_id_answers_the_replicaset_name() -> None:
    forward, rs = batch_forward(synced_cache(), max_count=2, return_reservation_id=True)
    reply = reply_now(forward.translate(created_rs(rs)))
    assert reply.status == 202
    assert orjson.loads(reply.body) == {"reservation_id": rs["metadata"]["name"]}


def test_reply_is_the_first_member_once_the_controller_made_it() -> None:
    cache = synced_cache()
    forward, rs = batch_forward(cache, min_count=3, max_count=3, adminPass="secret")

    async def scenario() -> Reply:
        pending = forward.translate(created_rs(rs))
        assert not isinstance(pending, Reply)
        task = asyncio.ensure_future(pending)
        await asyncio.sleep(0)
        assert not task.done()  # nothing made yet: the reply waits
        for pod in controller_pods(rs, ["zzzzz", "aaaaa", "mmmmm"]):
            cache.apply_event("Pod", "ADDED", pod)
        return await task

    reply = asyncio.run(scenario())
    assert reply.status == 202
    server = orjson.loads(reply.body)["server"]
    reservation = rs["metadata"]["name"]
    # Same timestamp: the name decides, the member named name-1 is the one answered.
    assert server["id"] == f"{reservation}-aaaaa"
    assert "adminPass" not in server
    assert reply.headers["location"] == f"{PUBLIC}/compute/v2.1/demo/servers/{reservation}-aaaaa"


def test_reply_without_a_member_in_time_names_the_reservation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "FIRST_SERVER_WAIT_SECONDS", 0.01)
    forward, rs = batch_forward(synced_cache(), max_count=2)
    reply = reply_now(forward.translate(created_rs(rs)))
    assert reply.status == 202
    assert orjson.loads(reply.body)["server"]["id"] == rs["metadata"]["name"]


def test_reply_when_arktos_refuses_every_member_is_the_error() -> None:
    cache = synced_cache()
    forward, rs = batch_forward(cache, max_count=2)
    failing = json.loads(created_rs(rs).body)
    failing["status"] = {
        "replicas": 0,
        "conditions": [
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": 'pods "x" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=9',
            }
        ],
    }
    cache.apply_event("ReplicaSet", "ADDED", failing)
    status, message = fault(reply_now(forward.translate(created_rs(rs))))
    assert status == 403
    # Nova's words (the recorded condition has no "limited" part: Nova's generic quota message).
    assert message.startswith("Quota exceeded for instances")
    assert "pods" not in message


def test_replicaset_refused_by_arktos_is_a_nova_error() -> None:
    forward, _ = batch_forward(synced_cache(), max_count=2)
    recorded = json.loads((ARKTOS_FIXTURES / "27-rs-create-nopullpolicy.json").read_text())
    reply = reply_now(forward.translate(ArktosReply(422, {}, orjson.dumps(recorded["body"]))))
    assert reply.status == 400


def test_async_translation_is_decorated_and_guarded_by_the_gateway() -> None:
    cache = synced_cache()
    gateway = app.Gateway(GatewayConfig(public_url=PUBLIC), CatalogStore(), cache)
    body = orjson.dumps(server_body(max_count=2, return_reservation_id=True))
    req = ClientRequest("POST", "/compute/v2.1/demo/servers", {}, {"x-auth-token": TOKEN}, body)
    forward = as_forward(gateway.handle(req, "req-42"))
    assert forward.upstream.body is not None
    rs = orjson.loads(forward.upstream.body)
    reply = reply_now(forward.translate(created_rs(rs)))
    assert reply.status == 202
    assert reply.headers["x-openstack-request-id"] == "req-42"
    broken = reply_now(forward.translate(ArktosReply(201, {}, b"not json at all")))
    # return_reservation_id does not read the body; an unreadable one otherwise is no crash either.
    assert broken.status == 202


# ---------------------------------------------------------------------------------------------------------
# Names


def test_indices_follow_creation_order_and_written_ones_are_kept() -> None:
    _, rs = batch_forward(max_count=4)
    late = controller_pods(rs, ["aaaaa"], created="2026-01-01T10:00:05Z")
    early = controller_pods(rs, ["ccccc", "bbbbb"])
    written = controller_pods(rs, ["00000"])
    written[0]["metadata"]["annotations"][keys.BATCH_INDEX] = "2"
    names = batch.assign_indices(late + early + written)
    r = rs["metadata"]["name"]
    assert names == {f"{r}-00000": 2, f"{r}-bbbbb": 1, f"{r}-ccccc": 3, f"{r}-aaaaa": 4}


def test_shown_names_never_change_while_the_reconciler_writes_them() -> None:
    """Whatever order the reconciler's writes land in, every list shows the same names all along."""
    _, rs = batch_forward(max_count=3)
    pods = controller_pods(rs, ["qjlf9", "s9z7d", "sq2kn"])
    before = {p["metadata"]["name"]: p["metadata"]["annotations"][keys.DISPLAY_NAME] for p in
              batch.with_provisional_names(pods)}  # fmt: skip
    assert sorted(before.values()) == ["web-1", "web-2", "web-3"]
    indices = batch.assign_indices(pods)
    for order in itertools.permutations(range(3)):
        state = copy.deepcopy(pods)
        for i in order:
            patch = batch.name_patch(batch.base_name(state[i]), indices[state[i]["metadata"]["name"]])
            state[i]["metadata"]["annotations"].update(patch["metadata"]["annotations"])
            shown = {
                p["metadata"]["name"]: p["metadata"]["annotations"][keys.DISPLAY_NAME]
                for p in batch.with_provisional_names(state)
            }
            assert shown == before


def test_list_shows_members_with_their_names_and_filters_by_reservation() -> None:
    _, rs = batch_forward(max_count=3)
    reservation = rs["metadata"]["name"]
    other_rs = copy.deepcopy(rs)
    other_rs["metadata"]["name"] = "r-00000000"
    pods = controller_pods(rs, ["k2k2k", "a1a1a", "z9z9z"]) + controller_pods(other_rs, ["b1b1b"])
    forward = as_forward(server_list.list_servers(ctx(), request("GET", reservation_id=reservation), {}))
    query = parse_qs(urlsplit(forward.upstream.path).query)
    assert query == {"labelSelector": [f"{keys.RESERVATION_ID}={reservation}"]}
    # Even if Arktos answered more than the selector asked, only that batch is listed.
    listed = orjson.dumps({"kind": "PodList", "items": pods})
    reply = reply_now(forward.translate(ArktosReply(200, {}, listed)))
    shown = {s["id"]: s["name"] for s in orjson.loads(reply.body)["servers"]}
    assert shown == {
        f"{reservation}-a1a1a": "web-1",
        f"{reservation}-k2k2k": "web-2",
        f"{reservation}-z9z9z": "web-3",
    }


def test_reservation_filter_that_is_no_label_value_matches_nothing() -> None:
    forward = as_forward(server_list.list_servers(ctx(), request("GET", reservation_id="r-x,y=z"), {}))
    assert "labelSelector" not in forward.upstream.path
    reply = reply_now(forward.translate(ArktosReply(200, {}, orjson.dumps({"items": []}))))
    assert orjson.loads(reply.body) == {"servers": []}


def test_show_of_an_unnamed_member_uses_its_siblings_from_the_cache() -> None:
    cache = synced_cache()
    _, rs = batch_forward(max_count=2)
    pods = controller_pods(rs, ["bbbbb", "aaaaa"])
    cache.apply_list("Pod", pods)
    sid = pods[0]["metadata"]["name"]
    forward = as_forward(server_item.show_server(ctx(cache), request("GET"), {"server_id": sid}))
    reply = reply_now(forward.translate(ArktosReply(200, {}, orjson.dumps(pods[0]))))
    assert orjson.loads(reply.body)["server"]["name"] == "web-2"


def test_show_of_the_reservation_id_is_the_first_member() -> None:
    cache = synced_cache()
    _, rs = batch_forward(max_count=2)
    reservation = rs["metadata"]["name"]
    cache.apply_list("Pod", controller_pods(rs, ["bbbbb", "aaaaa"]))
    forward = as_forward(server_item.show_server(ctx(cache), request("GET"), {"server_id": reservation}))
    missing = json.loads((ARKTOS_FIXTURES / "11-pod-get-missing.json").read_text())["body"]
    reply = reply_now(forward.translate(ArktosReply(404, {}, orjson.dumps(missing))))
    assert reply.status == 200
    server = orjson.loads(reply.body)["server"]
    assert (server["id"], server["name"]) == (f"{reservation}-aaaaa", "web-1")
    # Any other missing id is still Nova's 404.
    other = as_forward(server_item.show_server(ctx(cache), request("GET"), {"server_id": "r-zzzzzzzz"}))
    assert reply_now(other.translate(ArktosReply(404, {}, orjson.dumps(missing)))).status == 404


def test_failed_member_is_an_error_server_with_a_fault() -> None:
    _, rs = batch_forward(max_count=2)
    pods = controller_pods(rs, ["aaaaa", "bbbbb"])
    pods[1]["status"] = {
        "phase": "Failed",
        "reason": "VmBootFailed",
        "message": "the VM image failed to boot",
    }
    forward = as_forward(server_list.list_servers_detail(ctx(), request("GET"), {}))
    reply = reply_now(forward.translate(ArktosReply(200, {}, orjson.dumps({"items": pods}))))
    by_name = {s["name"]: s for s in orjson.loads(reply.body)["servers"]}
    assert by_name["web-2"]["status"] == "ERROR"
    assert by_name["web-2"]["fault"]["message"] == "the VM image failed to boot"
    assert by_name["web-1"]["status"] == "BUILD"


def test_a_fault_that_names_kubernetes_objects_is_told_in_novas_words() -> None:
    """A kubelet's reason for failing a pod names pods and nodes: the fault says the VM failed (issue 9
    item 5); a message free of Kubernetes names (the node agent's own) is kept, as above."""
    _, rs = batch_forward(max_count=2)
    pods = controller_pods(rs, ["aaaaa", "bbbbb"])[1:]
    pods[0]["status"] = {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "Pod The node was low on resource: memory. Container vm was using 600Mi, which exceeds "
        'its request of 0. pods "x" evicted from namespace default',
    }
    forward = as_forward(server_list.list_servers_detail(ctx(), request("GET"), {}))
    reply = reply_now(forward.translate(ArktosReply(200, {}, orjson.dumps({"items": pods}))))
    (server,) = orjson.loads(reply.body)["servers"]
    assert server["status"] == "ERROR"
    assert server["fault"]["message"] == "The virtual machine failed."


def test_failure_reply_maps_quota_to_403_and_the_rest_to_400() -> None:
    assert batch.failure_reply("pods is forbidden: exceeded quota: q").status == 403
    assert batch.failure_reply('Pod "x" is invalid: spec: Required value') == batch.CreationFailure(
        400, "Arktos refused to create the instance."
    )
    assert batch.failure_reply("the VM image failed to boot") == batch.CreationFailure(
        400, "the VM image failed to boot"
    )
