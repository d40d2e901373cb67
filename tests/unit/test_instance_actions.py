"""extproc.compute.instance_actions: records on the pod, Arktos Actions, Nova's views and the handlers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from extproc import annotations as keys
from extproc import instance_action_recorder as recorder_module
from extproc.catalog import CatalogStore
from extproc.cluster_cache import ACTION, POD, REPLICASET, ClusterCache
from extproc.compute import instance_actions as ia
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.instance_action_recorder import InstanceActionRecorder, prune_patch
from extproc.messages import MERGE_PATCH_CONTENT_TYPE, ArktosReply, ClientRequest, Forward, Reply
from extproc.routes import resolve
from extproc.users import user_id_for_token
from tests.shared_fixtures import ARKTOS_FIXTURES

TOKEN = "demo-token"
SID = "359ef41a-9c40-4e6f-9b83-6ae194e2b051"
POD_PATH = f"/api/v1/tenants/demo/namespaces/default/pods/{SID}"
# Nova's keys of an action at 2.1 (nova/api/openstack/compute/instance_actions.py ACTION_KEYS).
ACTION_KEYS = {"action", "instance_uuid", "request_id", "user_id", "project_id", "start_time", "message"}


def vm_pod(**annotations: str) -> dict[str, Any]:
    fixture = json.loads((ARKTOS_FIXTURES / "09-pod-get.json").read_text())
    pod: dict[str, Any] = fixture["body"]
    pod["metadata"].update(
        {
            "name": SID,
            "tenant": "demo",
            "namespace": "default",
            "creationTimestamp": "2026-11-30T09:00:00Z",
            "annotations": {keys.CREATED_BY: keys.CREATED_BY_GATEWAY, **annotations},
        }
    )
    return pod


def reboot_action(name: str, created: str, uid: str, complete: bool = True) -> dict[str, Any]:
    """An Action as Arktos returns it (fixture 56), for ``SID``."""
    action: dict[str, Any] = json.loads((ARKTOS_FIXTURES / "56-action-get.json").read_text())["body"]
    action["metadata"].update(
        {"name": name, "tenant": "demo", "namespace": "default", "creationTimestamp": created, "uid": uid}
    )
    action["spec"]["podName"] = SID
    action["status"] = {"complete": complete, "podName": SID} if complete else {}
    return action


def record(action: str, request_id: str, start: str, ref: str = "") -> ia.ActionRecord:
    return ia.ActionRecord(action, request_id, start, "u1", "demo", ref)


def annotated(*records: ia.ActionRecord) -> dict[str, str]:
    found: dict[str, str] = {}
    for r in records:
        found.update(ia.record_annotations(r))
    return found


def cache_with(pod: dict[str, Any], actions: list[dict[str, Any]]) -> ClusterCache:
    cache = ClusterCache()
    cache.apply_list(POD, [pod])
    cache.apply_list(ACTION, actions)
    cache.apply_list(REPLICASET, [])
    return cache


def ctx(
    cluster: ClusterCache | None = None, tenant: str | None = "demo", request_id: str = "req-1"
) -> RequestContext:
    return RequestContext(GatewayConfig(public_url="http://gw"), CatalogStore(), request_id, tenant, cluster)


def get(path: str) -> ClientRequest:
    return ClientRequest("GET", path, {}, {"x-auth-token": TOKEN})


def body_of(reply: Reply) -> Any:
    return orjson.loads(reply.body)


def listed(context: RequestContext, pod: dict[str, Any] | None, status: int = 200) -> Reply:
    outcome = ia.list_instance_actions(context, get("/x"), {"server_id": SID})
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path) == (
        "GET",
        POD_PATH if context.tenant else outcome.upstream.path,
    )
    reply = outcome.translate(ArktosReply(status, {}, orjson.dumps(pod) if pod is not None else b""))
    assert isinstance(reply, Reply)
    return reply


def shown(context: RequestContext, pod: dict[str, Any], request_id: str) -> Reply:
    outcome = ia.show_instance_action(context, get("/x"), {"server_id": SID, "request_id": request_id})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path == POD_PATH
    reply = outcome.translate(ArktosReply(200, {}, orjson.dumps(pod)))
    assert isinstance(reply, Reply)
    return reply


# -- records -----------------------------------------------------------------------------------------------


def test_a_record_is_one_annotation_named_by_the_request_id_and_reads_back() -> None:
    now = datetime(2026, 11, 30, 9, 1, 2, 345678, tzinfo=UTC)
    made = ia.new_record(ctx(), TOKEN, ia.STOP, now=now)
    assert made == ia.ActionRecord(
        "stop", "req-1", "2026-11-30T09:01:02.345678", user_id_for_token(TOKEN), "demo"
    )
    ((key, value),) = ia.record_annotations(made).items()
    assert key == "instance-action.openstack.arktos.io/req-1"
    assert ia.record_of(key, value) == made
    op = ia.record_patch_op(made)
    assert op == {
        "op": "add",
        "path": "/metadata/annotations/instance-action.openstack.arktos.io~1req-1",
        "value": value,
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("openstack.arktos.io/metadata", '{"action": "x"}'),
        ("instance-action.openstack.arktos.io/req-2", "not json"),
        ("instance-action.openstack.arktos.io/req-2", '["create"]'),
        ("instance-action.openstack.arktos.io/req-2", '{"start_time": "x"}'),
    ],
)
def test_other_annotations_are_not_records(key: str, value: str) -> None:
    assert ia.record_of(key, value) is None


# -- history -----------------------------------------------------------------------------------------------


def test_history_is_the_pod_records_and_its_actions_newest_first() -> None:
    create = record("create", "req-a", "2026-11-30T09:00:00.100000")
    stop = record("stop", "req-b", "2026-11-30T09:05:00.000000")
    reboot = record("reboot", "req-c", "2026-11-30T09:03:00.500000", ref="reboot-1796012580")
    pod = vm_pod(**annotated(create, stop, reboot))
    actions = [
        reboot_action("reboot-1796012580", "2026-11-30T09:03:00Z", "uid-c"),
        # An Action the gateway has no record of (the processor died before writing it).
        reboot_action("reboot-1796012640", "2026-11-30T09:04:00Z", "uid-d"),
    ]
    entries = ia.history(pod, actions)
    assert [(e.record.action, e.record.request_id) for e in entries] == [
        ("stop", "req-b"),
        ("reboot", "req-uid-d"),
        ("reboot", "req-c"),
        ("create", "req-a"),
    ]
    # The unrecorded Action starts when Arktos created it.
    assert entries[1].record.start_time == "2026-11-30T09:04:00.000000"


def test_an_action_not_recorded_yet_takes_the_request_id_noted_at_submission() -> None:
    pod = vm_pod()
    action = reboot_action("reboot-1796012640", "2026-11-30T09:04:00Z", "uid-d")
    noted = ia.submission_note(
        record("reboot", "req-n", "2026-11-30T09:03:59.900000", ref="reboot-1796012640")
    )
    (entry,) = ia.history(pod, [action], {"reboot-1796012640": noted})
    assert (entry.record.request_id, entry.record.user_id) == ("req-n", "u1")


def test_actions_older_than_the_pod_belong_to_an_earlier_pod_of_that_name() -> None:
    old = reboot_action("reboot-1796000000", "2026-11-30T08:00:00Z", "uid-old")
    assert ia.history(vm_pod(), [old]) == []


def test_two_restores_of_one_snapshot_keep_their_own_request_ids() -> None:
    def restore(name: str, created: str) -> dict[str, Any]:
        action = reboot_action(name, created, "uid-" + name)
        action["spec"] = {"podName": SID, "restoreAction": {"snapshotID": "snap-1"}}
        return action

    first = record("rebuild", "req-1st", "2026-11-30T09:01:00.000000", ref="snap-1")
    second = record("rebuild", "req-2nd", "2026-11-30T09:02:00.000000", ref="snap-1")
    pod = vm_pod(**annotated(second, first))
    actions = [restore("restore-2", "2026-11-30T09:02:00Z"), restore("restore-1", "2026-11-30T09:01:00Z")]
    entries = ia.history(pod, actions)
    assert [(e.record.request_id, (e.arktos_action or {})["metadata"]["name"]) for e in entries] == [
        ("req-2nd", "restore-2"),
        ("req-1st", "restore-1"),
    ]


# -- handlers and views ------------------------------------------------------------------------------------


def test_list_is_novas_shape_from_one_authorized_get_of_the_pod() -> None:
    reboot = record("reboot", "req-c", "2026-11-30T09:03:00.500000", ref="reboot-1796012580")
    create = record("create", "req-a", "2026-11-30T09:00:00.100000")
    pod = vm_pod(**annotated(create, reboot))
    cache = cache_with(pod, [reboot_action("reboot-1796012580", "2026-11-30T09:03:00Z", "uid-c")])
    reply = listed(ctx(cache), pod)
    assert reply.status == 200
    actions = body_of(reply)["instanceActions"]
    assert [set(a) for a in actions] == [ACTION_KEYS, ACTION_KEYS]
    assert actions[0] == {
        "action": "reboot",
        "instance_uuid": SID,
        "request_id": "req-c",
        "user_id": "u1",
        "project_id": "demo",
        "start_time": "2026-11-30T09:03:00.500000",
        "message": None,
    }
    assert actions[1]["action"] == "create"


def test_list_of_a_server_arktos_does_not_show_is_novas_404() -> None:
    missing = {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": "pods x"}
    reply = listed(ctx(), missing, status=404)
    assert (reply.status, body_of(reply)) == (
        404,
        {"itemNotFound": {"code": 404, "message": f"Instance {SID} could not be found."}},
    )


def test_list_of_a_container_pod_is_404() -> None:
    pod = vm_pod()
    del pod["spec"]["virtualMachine"]
    assert listed(ctx(), pod).status == 404


def test_list_without_a_watch_shows_the_records() -> None:
    pod = vm_pod(**annotated(record("create", "req-a", "2026-11-30T09:00:00.100000")))
    assert [a["request_id"] for a in body_of(listed(ctx(None), pod))["instanceActions"]] == ["req-a"]


def test_show_finds_the_action_by_request_id() -> None:
    stop = record("stop", "req-b", "2026-11-30T09:05:00.000000")
    pod = vm_pod(**annotated(stop))
    reply = shown(ctx(), pod, "req-b")
    assert reply.status == 200
    action = body_of(reply)["instanceAction"]
    # ``events`` always (the openstack CLI needs them); Arktos tells no outcome of a stop.
    assert set(action) == ACTION_KEYS | {"events"}
    assert (action["action"], action["request_id"], action["events"]) == ("stop", "req-b", [])


def test_members_see_the_event_of_a_completed_action_without_traceback() -> None:
    reboot = record("reboot", "req-c", "2026-11-30T09:03:00.500000", ref="reboot-1796012580")
    pod = vm_pod(**annotated(reboot))
    cache = cache_with(pod, [reboot_action("reboot-1796012580", "2026-11-30T09:03:00Z", "uid-c")])
    (event,) = body_of(shown(ctx(cache), pod, "req-c"))["instanceAction"]["events"]
    assert event == {
        "event": "compute_reboot_instance",
        "start_time": "2026-11-30T09:03:00.500000",
        "finish_time": None,
        "result": "Success",
    }


def test_show_of_an_unknown_request_id_is_novas_404() -> None:
    reply = shown(ctx(), vm_pod(), "req-nope")
    assert (reply.status, body_of(reply)) == (
        404,
        {"itemNotFound": {"code": 404, "message": "Action req-nope not found"}},
    )


@pytest.mark.parametrize(
    ("vm_status", "result"),
    [
        ({"phase": "Pending"}, None),
        (
            {"phase": "Running", "virtualMachineStatus": {"state": "active", "powerState": "running"}},
            "Success",
        ),
        ({"phase": "Failed", "virtualMachineStatus": {"state": "error", "powerState": "crashed"}}, "Error"),
    ],
)
def test_the_create_event_tells_the_build_from_the_vm_state(
    vm_status: dict[str, Any], result: str | None
) -> None:
    pod = vm_pod(**annotated(record("create", "req-a", "2026-11-30T09:00:00.100000")))
    pod["status"] = vm_status
    (event,) = body_of(shown(ctx(), pod, "req-a"))["instanceAction"]["events"]
    assert (event["event"], event["result"]) == ("compute__do_build_and_run_instance", result)


def test_administrators_see_the_event_of_a_completed_action() -> None:
    reboot = record("reboot", "req-c", "2026-11-30T09:03:00.500000", ref="reboot-1796012580")
    pod = vm_pod(**annotated(reboot))
    pod["metadata"]["tenant"] = "system"
    action = reboot_action("reboot-1796012580", "2026-11-30T09:03:00Z", "uid-c")
    action["metadata"]["tenant"] = "system"
    cache = cache_with(pod, [action])
    outcome = ia.show_instance_action(
        ctx(cache, tenant="system"), get("/x"), {"server_id": SID, "request_id": "req-c"}
    )
    assert isinstance(outcome, Forward)
    reply = outcome.translate(ArktosReply(200, {}, orjson.dumps(pod)))
    assert isinstance(reply, Reply)
    assert body_of(reply)["instanceAction"]["events"] == [
        {
            "event": "compute_reboot_instance",
            "start_time": "2026-11-30T09:03:00.500000",
            "finish_time": None,
            "result": "Success",
            "traceback": None,
        }
    ]


def test_routes_name_both_paths_under_every_compute_prefix() -> None:
    for prefix in ("/compute/v2.1", "/compute/v2.1/demo"):
        listing = resolve("GET", f"{prefix}/servers/{SID}/os-instance-actions")
        one = resolve("GET", f"{prefix}/servers/{SID}/os-instance-actions/req-1")
        assert not isinstance(listing, Reply) and listing.route.handler is ia.list_instance_actions
        assert not isinstance(one, Reply) and one.route.handler is ia.show_instance_action
        assert one.params["request_id"] == "req-1"
    refused = resolve("POST", f"/compute/v2.1/servers/{SID}/os-instance-actions")
    assert isinstance(refused, Reply) and refused.status == 405


# -- the recorder ------------------------------------------------------------------------------------------


class FakeArktos:
    def __init__(self, status: int = 200) -> None:
        self.calls: list[tuple[str, str, Any, str | None]] = []
        self.status = status

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str | None = None
    ) -> tuple[int, Any]:
        self.calls.append((method, path, body, content_type))
        return self.status, {}


def test_the_recorder_writes_a_submitted_action_on_its_pod() -> None:
    async def scenario() -> list[tuple[str, str, Any, str | None]]:
        cache = cache_with(vm_pod(), [])
        client = FakeArktos()
        recorder = InstanceActionRecorder(cache, client, retry_delay=0)  # type: ignore[arg-type]
        recorder.start()
        made = record("reboot", "req-r", "2026-11-30T09:03:00.000000", ref="reboot-1")
        cache.note_submitted("demo", "default", SID, "reboot", "reboot-1", details=ia.submission_note(made))
        # Other submissions (without a record) are not the recorder's.
        cache.note_submitted("demo", "default", SID, "reboot", "reboot-2")
        for _ in range(50):
            if recorder.writes:
                break
            await asyncio.sleep(0.01)
        await recorder.stop()
        return client.calls

    ((method, path, body, content_type),) = asyncio.run(scenario())
    assert (method, path, content_type) == ("PATCH", POD_PATH, MERGE_PATCH_CONTENT_TYPE)
    annotations = orjson.loads(body)["metadata"]["annotations"]
    ((key, value),) = annotations.items()
    assert ia.record_of(key, value) == record("reboot", "req-r", "2026-11-30T09:03:00.000000", ref="reboot-1")


def test_prune_patch_removes_the_oldest_records_beyond_the_bound_each_tested() -> None:
    records = [record("stop", f"req-{i}", f"2026-11-30T09:0{i}:00.000000") for i in range(4)]
    pod = vm_pod(**annotated(*records))
    ops = prune_patch(pod, keep=2)
    removed = [ia.annotation_key(f"req-{i}") for i in (0, 1)]
    assert ops == [
        op
        for key in removed
        for op in (
            {
                "op": "test",
                "path": "/metadata/annotations/" + key.replace("/", "~1"),
                "value": pod["metadata"]["annotations"][key],
            },
            {"op": "remove", "path": "/metadata/annotations/" + key.replace("/", "~1")},
        )
    ]
    assert prune_patch(pod, keep=4) == []


def test_the_recorder_prunes_a_pod_the_watch_shows_with_too_many_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder_module, "MAX_RECORDS", 2)
    records = [record("stop", f"req-{i}", f"2026-11-30T09:0{i}:00.000000") for i in range(3)]

    async def scenario() -> list[tuple[str, str, Any, str | None]]:
        cache = cache_with(vm_pod(), [])
        client = FakeArktos()
        recorder = InstanceActionRecorder(cache, client, retry_delay=0)  # type: ignore[arg-type]
        recorder.start()
        cache.apply_event(POD, "MODIFIED", vm_pod(**annotated(*records)))
        for _ in range(50):
            if recorder.prunes:
                break
            await asyncio.sleep(0.01)
        await recorder.stop()
        return client.calls

    ((method, path, body, content_type),) = asyncio.run(scenario())
    assert (method, path, content_type) == ("PATCH", POD_PATH, "application/json-patch+json")
    key = "/metadata/annotations/" + ia.annotation_key("req-0").replace("/", "~1")
    assert [(op["op"], op["path"]) for op in orjson.loads(body)] == [("test", key), ("remove", key)]
