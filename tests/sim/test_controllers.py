"""The node agent's state machine (driven by a fake clock) and the ReplicaSet controller."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from arktos_sim import auth, meta
from arktos_sim.api import Api, ApiRequest, ApiResponse
from arktos_sim.node_agent import NodeAgent
from arktos_sim.quota_controller import QuotaController
from arktos_sim.replicaset_controller import ReplicaSetController
from arktos_sim.resources import ACTIONS, PODS
from arktos_sim.store import Store

from .conftest import TOKENS

BOOT = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[Api, NodeAgent, Clock]:
    clock = Clock()
    store = Store()
    api = Api(store, auth.TokenFile.parse(TOKENS), clock=clock)
    api.ensure_tenant("demo")
    agent = NodeAgent(store, BOOT, clock=clock)
    return api, agent, clock


def call(
    api: Api, method: str, path: str, body: object = None, content_type: str = "application/json"
) -> tuple[int, Any]:
    raw = orjson.dumps(body) if body is not None else b""
    resp = api.handle(ApiRequest(method, path, {}, "Bearer demo-token", content_type, raw))
    assert isinstance(resp, ApiResponse)
    return resp.status, orjson.loads(resp.body)


def pod(api: Api, name: str = "p") -> dict[str, Any]:
    entry = api.store.get(PODS, ("demo", "default", name))
    assert entry is not None
    return entry.obj


def advance(agent: NodeAgent, clock: Clock, seconds: float) -> None:
    clock.now += seconds
    agent.step()


def create_vm(
    api: Api, name: str = "p", annotations: dict[str, str] | None = None, image: str = "cirros.img"
) -> None:
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {"virtualMachine": {"name": "vm", "image": image, "keyPairName": "k"}},
    }
    if annotations:
        body["metadata"]["annotations"] = annotations
    assert call(api, "POST", "/api/v1/namespaces/default/pods", body)[0] == 201


def vm_state(p: dict[str, Any]) -> tuple[str, str, str, bool]:
    vms = p["status"]["virtualMachineStatus"]
    # ready: false is absent, as Arktos serializes it (omitempty)
    return p["status"]["phase"], vms["state"], vms["powerState"], vms.get("ready", False)


def test_vm_boots_stops_and_starts() -> None:
    api, agent, clock = setup()
    create_vm(api)
    agent.step()
    assert vm_state(pod(api)) == ("Pending", "suspended", "nostate", False)
    assert pod(api)["spec"]["nodeName"] and pod(api)["status"]["hostIP"]
    advance(agent, clock, BOOT - 1)
    assert pod(api)["status"]["phase"] == "Pending"
    advance(agent, clock, 1)
    p = pod(api)
    assert vm_state(p) == ("Running", "active", "running", True)
    assert p["status"]["podIP"].startswith("10.244.") and p["status"]["startTime"]
    assert p["status"]["nicStatuses"][0]["state"] == "Ready"
    patch = {"spec": {"virtualMachine": {"powerSpec": "Shutdown"}}}
    call(api, "PATCH", "/api/v1/namespaces/default/pods/p", patch, "application/merge-patch+json")
    advance(agent, clock, BOOT)
    assert vm_state(pod(api)) == ("NoSchedule", "stopped", "shutdown", False)
    patch = {"spec": {"virtualMachine": {"powerSpec": "Running"}}}
    call(api, "PATCH", "/api/v1/namespaces/default/pods/p", patch, "application/merge-patch+json")
    agent.step()
    assert vm_state(pod(api)) == ("Pending", "suspended", "nostate", False)
    advance(agent, clock, BOOT)
    assert vm_state(pod(api)) == ("Running", "active", "running", True)


def test_bound_pod_is_deleted_gracefully_until_the_agent_confirms() -> None:
    # As recorded from Arktos (fixtures 62-65): a pod bound to a node keeps deletionTimestamp (now + the grace
    # period) until the kubelet confirms with a grace-period-0 DELETE; a repeated DELETE changes nothing.
    api, agent, clock = setup()
    create_vm(api)
    agent.step()
    code, deleted = call(api, "DELETE", "/api/v1/namespaces/default/pods/p")
    assert code == 200 and deleted["metadata"]["deletionGracePeriodSeconds"] == 30
    assert deleted["metadata"]["deletionTimestamp"] == meta.timestamp(clock.now + 30)
    assert call(api, "DELETE", "/api/v1/namespaces/default/pods/p")[1] == deleted
    assert call(api, "GET", "/api/v1/namespaces/default/pods/p")[0] == 200
    agent.step()
    assert call(api, "GET", "/api/v1/namespaces/default/pods/p")[0] == 404


def test_grace_period_zero_and_unbound_pods_go_at_once() -> None:
    api, agent, clock = setup()
    create_vm(api, "unbound")  # the agent has not run: no node
    code, deleted = call(api, "DELETE", "/api/v1/namespaces/default/pods/unbound")
    assert code == 200 and deleted["metadata"]["deletionGracePeriodSeconds"] == 0
    assert call(api, "GET", "/api/v1/namespaces/default/pods/unbound")[0] == 404
    create_vm(api, "bound")
    agent.step()
    first = call(api, "DELETE", "/api/v1/namespaces/default/pods/bound")[1]
    clock.now += 5
    code, final = call(api, "DELETE", "/api/v1/namespaces/default/pods/bound", {"gracePeriodSeconds": 0})
    # shortened from the first request's time, as Kubernetes does
    assert code == 200 and final["metadata"]["deletionGracePeriodSeconds"] == 0
    assert meta.parse_timestamp(final["metadata"]["deletionTimestamp"]) == (
        meta.parse_timestamp(first["metadata"]["deletionTimestamp"]) - 30
    )
    assert call(api, "GET", "/api/v1/namespaces/default/pods/bound")[0] == 404


def set_image(api: Api, image: str) -> None:
    ops = [{"op": "replace", "path": "/spec/virtualMachine/image", "value": image}]
    status, _ = call(api, "PATCH", "/api/v1/namespaces/default/pods/p", ops, "application/json-patch+json")
    assert status == 200


def test_image_change_restarts_a_running_vm_from_the_new_image() -> None:
    api, agent, clock = setup()
    create_vm(api)
    agent.step()
    advance(agent, clock, BOOT)
    before = pod(api)["status"]["virtualMachineStatus"]
    assert before["image"] == "cirros.img" and before.get("restartCount", 0) == 0
    set_image(api, "ubuntu.img")
    agent.step()
    restarting = pod(api)
    assert vm_state(restarting) == ("Pending", "suspended", "nostate", False)
    assert restarting["status"]["virtualMachineStatus"]["image"] == "cirros.img", "old image until it is up"
    advance(agent, clock, BOOT)
    after = pod(api)
    assert vm_state(after) == ("Running", "active", "running", True)
    vms = after["status"]["virtualMachineStatus"]
    assert vms["image"] == "ubuntu.img" and vms["restartCount"] == 1
    assert vms["virtualMachineId"] != before["virtualMachineId"] and vms["imageId"] != before["imageId"]


def test_image_change_of_a_stopped_vm_keeps_it_stopped() -> None:
    api, agent, clock = setup()
    create_vm(api)
    agent.step()
    advance(agent, clock, BOOT)
    patch = {"spec": {"virtualMachine": {"powerSpec": "Shutdown"}}}
    call(api, "PATCH", "/api/v1/namespaces/default/pods/p", patch, "application/merge-patch+json")
    advance(agent, clock, BOOT)
    set_image(api, "ubuntu.img")
    agent.step()
    assert pod(api)["status"]["virtualMachineStatus"]["image"] == "cirros.img"
    advance(agent, clock, BOOT)
    after = pod(api)
    assert vm_state(after) == ("NoSchedule", "stopped", "shutdown", False)
    assert after["status"]["virtualMachineStatus"]["image"] == "ubuntu.img"


def test_pod_ips_are_unique() -> None:
    api, agent, clock = setup()
    for i in range(5):
        create_vm(api, f"p{i}")
    agent.step()
    advance(agent, clock, BOOT)
    ips = {pod(api, f"p{i}")["status"]["podIP"] for i in range(5)}
    assert len(ips) == 5


def test_failure_injection() -> None:
    api, agent, clock = setup()
    create_vm(api, "a", annotations={"arktos-sim/fail": "true"})
    create_vm(api, "b", image="http://images/fail.img")
    agent.step()
    advance(agent, clock, BOOT)
    for name in ("a", "b"):
        p = pod(api, name)
        assert vm_state(p) == ("Failed", "error", "crashed", False)
        assert p["status"]["reason"] and p["status"]["message"]


def test_actions_complete() -> None:
    api, agent, clock = setup()
    create_vm(api)
    agent.step()
    advance(agent, clock, BOOT)
    code, reply = call(
        api,
        "POST",
        "/api/v1/namespaces/default/pods/p/action",
        {"operation": "reboot", "rebootParams": {"delayInSeconds": 0}},
    )
    assert code == 201 and reply["details"]["name"] == f"reboot-{int(clock.now)}"
    code, reply = call(
        api,
        "POST",
        "/api/v1/namespaces/default/pods/p/action",
        {"operation": "snapshot", "snapshotParams": {"snapshotName": "s1"}},
    )
    assert code == 201 and reply["details"]["name"] == "s1"
    assert "restartCount" not in pod(api)["status"]["virtualMachineStatus"]  # 0 (omitempty) before completion
    # same operation within the same second collides on the Action name, as on Arktos
    code, reply = call(
        api,
        "POST",
        "/api/v1/namespaces/default/pods/p/action",
        {"operation": "reboot", "rebootParams": {"delayInSeconds": 0}},
    )
    assert code == 409
    advance(agent, clock, BOOT)
    assert pod(api)["status"]["virtualMachineStatus"]["restartCount"] == 1
    _, actions = call(api, "GET", "/api/v1/namespaces/default/actions")
    by_op = {a["metadata"]["name"].split("-")[0]: a["status"] for a in actions["items"]}
    assert by_op["reboot"] == {"complete": True, "rebootStatus": {"rebootSuccessful": True}}
    snapshot_id = by_op["snapshot"]["snapshotStatus"]["snapshotID"]
    assert by_op["snapshot"]["complete"] and snapshot_id
    code, reply = call(
        api,
        "POST",
        "/api/v1/namespaces/default/pods/p/action",
        {"operation": "restore", "restoreParams": {"snapshotID": snapshot_id}},
    )
    assert code == 201 and reply["details"]["name"] == snapshot_id
    advance(agent, clock, BOOT)
    restore = api.store.get(ACTIONS, ("demo", "default", reply["details"]["name"]))
    restores = [
        e.obj for e in api.store.table(ACTIONS).scan("demo", "default") if "restoreAction" in e.obj["spec"]
    ]
    assert restore is None and restores[0]["status"]["restoreStatus"] == {"restoreSuccessful": True}
    advance(agent, clock, 3600)
    assert not list(api.store.table(ACTIONS).scan("demo", "default"))  # expired


def test_action_errors() -> None:
    api, _, _ = setup()
    create_vm(api)
    assert call(api, "POST", "/api/v1/namespaces/default/pods/nope/action", {"operation": "reboot"})[0] == 404
    code, body = call(api, "POST", "/api/v1/namespaces/default/pods/p/action", {"operation": "explode"})
    assert code == 400 and body["message"] == "Unsupported operation 'explode' for Pod 'p'"


# ----------------------------------------------------------------------------- ReplicaSets
RS = {
    "metadata": {"name": "r"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"reservation": "r"}},
        "template": {
            "metadata": {"labels": {"reservation": "r"}},
            "spec": {
                "virtualMachine": {
                    "name": "vm",
                    "image": "img",
                    "keyPairName": "k",
                    "imagePullPolicy": "IfNotPresent",
                }
            },
        },
    },
}
RS_PATH = "/apis/apps/v1/namespaces/default/replicasets"


def rs_pods(api: Api) -> list[dict[str, Any]]:
    return [e.obj for e in api.store.table(PODS).scan("demo", "default")]


def test_replicaset_controller_keeps_replicas() -> None:
    api, agent, clock = setup()
    controller = ReplicaSetController(api.store, api)
    code, rs = call(api, "POST", RS_PATH, RS)
    assert code == 201 and rs["status"] == {"replicas": 0} and rs["metadata"]["generation"] == 1
    controller.sync_all()
    pods = rs_pods(api)
    assert len(pods) == 3
    for p in pods:
        assert p["metadata"]["name"].startswith("r-") and len(p["metadata"]["name"]) == 7
        ref = p["metadata"]["ownerReferences"][0]
        assert ref["uid"] == rs["metadata"]["uid"] and ref["controller"] and ref["kind"] == "ReplicaSet"
        assert p["spec"]["virtualMachine"]["powerSpec"] == "Running"  # pod defaults applied
    victim = pods[0]["metadata"]["name"]
    call(api, "DELETE", f"/api/v1/namespaces/default/pods/{victim}")
    controller.sync_all()
    names = {p["metadata"]["name"] for p in rs_pods(api)}
    assert len(names) == 3 and victim not in names
    agent.step()
    advance(agent, clock, BOOT)
    controller.sync_all()
    _, rs = call(api, "GET", f"{RS_PATH}/r")
    assert rs["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "observedGeneration": 1,
    }
    call(api, "PATCH", f"{RS_PATH}/r", {"spec": {"replicas": 1}}, "application/merge-patch+json")
    controller.sync_all()
    # Bound pods are deleted gracefully: marked until the node agent (the kubelet) confirms.
    assert sum(1 for p in rs_pods(api) if p["metadata"].get("deletionTimestamp")) == 2
    agent.step()
    assert len(rs_pods(api)) == 1
    _, rs = call(api, "GET", f"{RS_PATH}/r")
    assert rs["metadata"]["generation"] == 2 and rs["status"]["observedGeneration"] == 2


def test_replicaset_orphan_and_background_delete() -> None:
    api, _, _ = setup()
    controller = ReplicaSetController(api.store, api)
    call(api, "POST", RS_PATH, RS)
    controller.sync_all()
    code, body = call(api, "DELETE", f"{RS_PATH}/r", {"kind": "DeleteOptions", "propagationPolicy": "Orphan"})
    assert (
        code == 200 and body["metadata"]["finalizers"] == ["orphan"] and body["metadata"]["deletionTimestamp"]
    )
    controller.sync_all()
    pods = rs_pods(api)
    assert len(pods) == 3 and all("ownerReferences" not in p["metadata"] for p in pods)
    assert call(api, "GET", f"{RS_PATH}/r")[0] == 404
    # a new ReplicaSet with the same selector adopts the orphans; Background deletion removes them
    call(api, "POST", RS_PATH, RS)
    controller.sync_all()
    assert len(rs_pods(api)) == 3 and all(p["metadata"].get("ownerReferences") for p in rs_pods(api))
    code, body = call(api, "DELETE", f"{RS_PATH}/r", {"propagationPolicy": "Background"})
    assert code == 200 and body["kind"] == "Status" and body["status"] == "Success"
    controller.sync_all()
    assert rs_pods(api) == []


def test_replicaset_template_validation() -> None:
    api, _, _ = setup()
    bad = orjson.loads(orjson.dumps(RS))
    del bad["spec"]["template"]["spec"]["virtualMachine"]["imagePullPolicy"]
    code, body = call(api, "POST", RS_PATH, bad)
    assert code == 422
    assert body["details"]["causes"][0]["field"] == "spec.template.spec.virtualMachine.imagePullPolicy"
    bad = orjson.loads(orjson.dumps(RS))
    bad["spec"]["selector"] = {"matchLabels": {"other": "x"}}
    assert call(api, "POST", RS_PATH, bad)[0] == 422


def test_replicaset_refused_pod_creates_become_a_replica_failure() -> None:
    """A pod create Arktos refuses (here: a quota admission) does not stop the controller: like Kubernetes's
    it records ReplicaFailure/FailedCreate with the error, and clears it once a later sync succeeds."""
    from arktos_sim import status

    api, _, _ = setup()
    controller = ReplicaSetController(api.store, api)
    real_create = api.create_object
    quota = {"left": 2}
    message = (
        'pods "r-x" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2'
    )

    def create_with_quota(rt: Any, obj: Any, tenant: Any, namespace: Any) -> Any:
        if rt is PODS:
            if quota["left"] == 0:
                raise status.ApiError(status.failure(403, "Forbidden", message))
            quota["left"] -= 1
        return real_create(rt, obj, tenant, namespace)

    api.create_object = create_with_quota  # type: ignore[method-assign]
    assert call(api, "POST", RS_PATH, RS)[0] == 201
    controller.sync_all()
    assert len(rs_pods(api)) == 2
    _, rs = call(api, "GET", f"{RS_PATH}/r")
    assert rs["status"]["replicas"] == 2
    (condition,) = rs["status"]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "ReplicaFailure",
        "True",
        "FailedCreate",
    )
    assert condition["message"] == message

    quota["left"] = 1
    call(api, "PATCH", f"{RS_PATH}/r", {"metadata": {"labels": {"x": "y"}}}, "application/merge-patch+json")
    controller.sync_all()
    assert len(rs_pods(api)) == 3
    _, rs = call(api, "GET", f"{RS_PATH}/r")
    assert "conditions" not in rs["status"] and rs["status"]["replicas"] == 3


def test_replicaset_controller_slow_start() -> None:
    """Missing pods come in batches of 1, 2, 4, ...: the first pod of a big ReplicaSet exists at once."""
    api, _, _ = setup()
    controller = ReplicaSetController(api.store, api)
    body = {**RS, "spec": {**RS["spec"], "replicas": 5}}
    assert call(api, "POST", RS_PATH, body)[0] == 201
    key = ("demo", "default", "r")
    counts = []
    for _ in range(4):
        controller.sync(key)
        counts.append(len(rs_pods(api)))
    assert counts == [1, 3, 5, 5]


QUOTA_PATH = "/api/v1/tenants/demo/namespaces/default/resourcequotas"


def test_resource_quota_refuses_pods_past_its_count_as_kubernetes_does() -> None:
    """A ResourceQuota's ``spec.hard.pods``: the pod create past it is 403 Forbidden with the apiserver's
    admission message; a ReplicaSet gets the pods the quota allows and a ReplicaFailure for the rest, and
    makes the missing pod once another pod of the namespace goes."""
    api, _, _ = setup()
    controller = ReplicaSetController(api.store, api)
    status_, quota = call(
        api, "POST", QUOTA_PATH, {"metadata": {"name": "compute"}, "spec": {"hard": {"pods": "2"}}}
    )
    assert status_ == 201 and quota["status"] == {}  # the quota controller counts later (fixture 38)
    assert call(api, "POST", RS_PATH, RS)[0] == 201
    controller.sync_all()
    made = rs_pods(api)
    assert len(made) == 2
    _, rs = call(api, "GET", f"{RS_PATH}/r")
    (condition,) = rs["status"]["conditions"]
    assert condition["type"] == "ReplicaFailure"
    assert condition["message"] == (
        'pods "r-" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2'
    )
    refused, body = call(
        api,
        "POST",
        "/api/v1/namespaces/default/pods",
        {
            "metadata": {"name": "extra"},
            "spec": {"virtualMachine": {"name": "vm", "image": "c", "keyPairName": "k"}},
        },
    )
    assert refused == 403
    assert (body["reason"], body["code"], body["details"]) == (
        "Forbidden",
        403,
        {"name": "extra", "kind": "pods"},
    )
    assert body["message"] == (
        'pods "extra" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2'
    )
    # A pod gone frees the quota: the controller makes the missing one (and, here, the replacement).
    api.delete_pod(("demo", "default", made[0]["metadata"]["name"]))
    controller.sync_all()
    assert len(rs_pods(api)) == 2
    _, rs = call(api, "GET", f"{RS_PATH}/r")
    assert rs["status"]["replicas"] == 2


def test_quota_controller_counts_live_pods_as_arktos_reports_them() -> None:
    """``status.hard`` copies the spec, ``status.used`` counts the namespace's live pods (fixtures 39, 42:
    other resources stay "0" for VM pods); deletions and spec changes are counted again."""
    api, _, _ = setup()
    quotas = QuotaController(api.store)
    hard = {"pods": "3", "requests.cpu": "4"}
    call(api, "POST", QUOTA_PATH, {"metadata": {"name": "compute"}, "spec": {"hard": hard}})
    vm = {"virtualMachine": {"name": "vm", "image": "c", "keyPairName": "k"}}
    for name in ("one", "two"):
        assert (
            call(api, "POST", "/api/v1/namespaces/default/pods", {"metadata": {"name": name}, "spec": vm})[0]
            == 201
        )
    quotas.sync_all()
    _, quota = call(api, "GET", f"{QUOTA_PATH}/compute")
    assert quota["status"] == {"hard": hard, "used": {"pods": "2", "requests.cpu": "0"}}
    api.delete_pod(("demo", "default", "one"))
    quotas.sync_all()
    _, quota = call(api, "GET", f"{QUOTA_PATH}/compute")
    assert quota["status"]["used"]["pods"] == "1"
    version = quota["metadata"]["resourceVersion"]
    quotas.sync_all()  # nothing changed: no write
    assert call(api, "GET", f"{QUOTA_PATH}/compute")[1]["metadata"]["resourceVersion"] == version


def test_json_patch_test_on_status_guards_a_scale_down() -> None:
    """The gateway gives up a missing member with test(spec.replicas), test(status.replicas), replace."""
    api, _, _ = setup()
    controller = ReplicaSetController(api.store, api)
    assert call(api, "POST", RS_PATH, RS)[0] == 201
    controller.sync_all()
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "test", "path": "/status/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 2},
    ]
    assert call(api, "PATCH", f"{RS_PATH}/r", ops, "application/json-patch+json")[0] == 422
    ops[1]["value"] = 3
    status_, rs = call(api, "PATCH", f"{RS_PATH}/r", ops, "application/json-patch+json")
    assert status_ == 200 and rs["spec"]["replicas"] == 2 and rs["status"]["replicas"] == 3


def test_a_held_node_agent_finishes_nothing_until_released() -> None:
    """The simulator-only hold (SIGUSR1/SIGUSR2): the agent's task does no due work while held."""
    api, agent, clock = setup()

    async def scenario() -> None:
        task = asyncio.create_task(agent.run())
        try:
            agent.hold()
            create_vm(api)
            clock.now += BOOT + 1
            for _ in range(20):
                await asyncio.sleep(0)
            assert "nodeName" not in pod(api)["spec"]
            agent.release()
            for _ in range(20):
                await asyncio.sleep(0)
            assert pod(api)["spec"]["nodeName"]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
