"""extproc.compute.actions: each action's Arktos request, its reply translation, and the state checks."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import orjson
import pytest

from extproc.catalog import CatalogStore
from extproc.catalog_configmaps import image_entry
from extproc.cluster_cache import ACTION, POD, REPLICASET, ClusterCache
from extproc.compute import action_request, actions, image_actions, instance_actions
from extproc.compute.action_rules import Kind
from extproc.compute.replies import view_for
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from extproc.snapshots import SnapshotRequest, snapshot_id_of, snapshot_image
from extproc.tenant_proofs import TenantProofs
from tests.shared_fixtures import SHARED_FIXTURES

PUBLIC = "http://gw.example:8080"
TOKEN = "demo-token"
SID = "bad005cf-17e1-48ad-b9f7-e9f9352beb13"
POD_PATH = f"/api/v1/tenants/demo/namespaces/default/pods/{SID}"


def recorded_pod() -> dict[str, Any]:
    fixture = json.loads((SHARED_FIXTURES / "arktos" / "09-pod-get.json").read_text())
    pod: dict[str, Any] = fixture["body"]
    pod["metadata"].update({"name": SID, "tenant": "demo", "namespace": "default", "resourceVersion": "1"})
    return pod


def running_pod() -> dict[str, Any]:
    pod = recorded_pod()
    pod["spec"]["virtualMachine"]["powerSpec"] = "Running"
    pod["spec"]["nodeName"] = "node-1"
    pod["status"] = {
        "phase": "Running",
        "podIP": "10.244.0.5",
        "virtualMachineStatus": {"state": "active", "powerState": "running"},
    }
    return pod


def stopped_pod() -> dict[str, Any]:
    pod = running_pod()
    pod["spec"]["virtualMachine"]["powerSpec"] = "Shutdown"
    pod["status"]["phase"] = "NoSchedule"
    pod["status"]["virtualMachineStatus"] = {"state": "stopped", "powerState": "shutdown"}
    return pod


def cache_with(*pods: dict[str, Any], actions_: list[dict[str, Any]] | None = None) -> ClusterCache:
    cache = ClusterCache()
    cache.apply_list(POD, list(pods))
    cache.apply_list(ACTION, actions_ or [])
    cache.apply_list(REPLICASET, [])
    return cache


def proven() -> TenantProofs:
    proofs = TenantProofs()
    proofs.record(TOKEN, f"{POD_PATH}", 200)
    return proofs


def ctx(
    cluster: ClusterCache | None = None,
    proofs: TenantProofs | None = None,
    tenant: str | None = "demo",
    catalog: CatalogStore | None = None,
) -> RequestContext:
    return RequestContext(
        GatewayConfig(public_url=PUBLIC), catalog or CatalogStore(), "req-1", tenant, cluster, proofs
    )


def post(body: Any, raw: bytes | None = None) -> ClientRequest:
    data = raw if raw is not None else orjson.dumps(body)
    return ClientRequest(
        "POST", f"/compute/v2.1/demo/servers/{SID}/action", {}, {"x-auth-token": TOKEN}, data
    )


def handle(context: RequestContext, body: Any, raw: bytes | None = None) -> Reply | Forward:
    return actions.server_action(context, post(body, raw), {"server_id": SID, "project_id": "demo"})


def status_reply(code: int, reason: str, name: str = "", message: str = "") -> ArktosReply:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 300 else "Failure",
        "message": message,
        "reason": reason,
        "details": {"name": name},
        "code": code,
    }
    return ArktosReply(code, {"content-type": "application/json"}, orjson.dumps(body))


def error(reply: Reply) -> tuple[int, str]:
    (fault,) = orjson.loads(reply.body).values()
    return reply.status, fault["message"]


def translated(outcome: Reply | Forward, reply: ArktosReply) -> Reply:
    assert isinstance(outcome, Forward)
    result = outcome.translate(reply)
    assert isinstance(result, Reply)
    return result


# -- parsing -----------------------------------------------------------------------------------------------


INVALID = "Invalid input for field/attribute"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"migrateToTheMoon": {}}, "There is no such action: migrateToTheMoon"),
        ({"os-stop": None, "os-start": None}, "Malformed request body"),
        ({}, "Malformed request body"),
        ([], "Malformed request body"),
        ({"reboot": {}}, f"{INVALID} reboot. Value: {{}}. 'type' is a required property"),
        ({"reboot": {"type": "GENTLE"}}, f"{INVALID} type. Value: GENTLE. 'GENTLE' is not one of"),
        ({"createImage": {}}, f"{INVALID} createImage. Value: {{}}. 'name' is a required property"),
        ({"createImage": {"name": " x"}}, "An invalid 'name' value was provided."),
        ({"createImage": {"name": "x", "metadata": {"k": 1}}}, f"{INVALID} k."),
        ({"rebuild": {}}, f"{INVALID} rebuild. Value: {{}}. 'imageRef' is a required property"),
    ],
)  # fmt: skip
def test_bad_bodies_are_nova_400(body: Any, message: str) -> None:
    reply = handle(ctx(), body)
    assert isinstance(reply, Reply)
    status, text = error(reply)
    assert status == 400
    assert text.startswith(message)


@pytest.mark.parametrize("raw", [b"", b"{", b"null"])
def test_unparseable_body_is_400(raw: bytes) -> None:
    reply = handle(ctx(), None, raw=raw)
    assert isinstance(reply, Reply)
    assert error(reply) == (400, "Malformed request body")


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"reboot": {"type": "soft"}}, Kind.REBOOT_SOFT),
        ({"reboot": {"type": "Hard"}}, Kind.REBOOT_HARD),
        ({"os-stop": None}, Kind.STOP),
        ({"os-start": {}}, Kind.START),
    ],
)
def test_parse_action(body: Any, kind: Kind) -> None:
    parsed = action_request.parse_action(body)
    assert isinstance(parsed, action_request.ActionRequest)
    assert parsed.kind is kind


# -- request translation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["SOFT", "HARD"])
def test_reboot_is_one_custom_action(kind: str) -> None:
    outcome = handle(ctx(), {"reboot": {"type": kind}})
    assert isinstance(outcome, Forward)
    up = outcome.upstream
    assert (up.method, up.path, up.content_type) == ("POST", f"{POD_PATH}/action", "application/json")
    assert up.body is not None
    assert orjson.loads(up.body) == {
        "apiVersion": "v1",
        "kind": "CustomAction",
        "operation": "reboot",
        "rebootParams": {"delayInSeconds": 0},
    }
    reply = translated(outcome, status_reply(201, "", "reboot-1795784286"))
    assert (reply.status, reply.body) == (202, b"")


@pytest.mark.parametrize(
    ("action", "current", "wanted"), [("os-stop", "Running", "Shutdown"), ("os-start", "Shutdown", "Running")]
)
def test_stop_start_is_one_conditional_patch(action: str, current: str, wanted: str) -> None:
    outcome = handle(ctx(), {action: None})
    assert isinstance(outcome, Forward)
    up = outcome.upstream
    assert (up.method, up.path, up.content_type) == ("PATCH", POD_PATH, "application/json-patch+json")
    assert up.body is not None
    ops = orjson.loads(up.body)
    assert ops[:3] == [
        # A locked server refuses in the same write (absent annotation tests as null in Arktos).
        {"op": "test", "path": "/metadata/annotations/openstack.arktos.io~1locked-by", "value": None},
        {"op": "test", "path": "/spec/virtualMachine/powerSpec", "value": current},
        {"op": "replace", "path": "/spec/virtualMachine/powerSpec", "value": wanted},
    ]
    # The same patch records the instance action (its request id is the request's).
    (record,) = ops[3:]
    assert (record["op"], record["path"]) == (
        "add",
        "/metadata/annotations/instance-action.openstack.arktos.io~1req-1",
    )
    assert orjson.loads(record["value"])["action"] == ("stop" if action == "os-stop" else "start")
    ok = translated(outcome, ArktosReply(200, {}, orjson.dumps(running_pod())))
    assert (ok.status, ok.body) == (202, b"")


def test_stop_of_a_vm_pod_without_annotations_records_the_action_as_the_whole_map() -> None:
    # A VM pod made without the gateway may have no annotations: an "add" inside the missing map would
    # fail the whole patch (422, read as a state conflict), so the record comes as the map itself.
    pod = running_pod()
    pod["metadata"].pop("annotations", None)
    outcome = handle(ctx(cache_with(pod), proven()), {"os-stop": None})
    assert isinstance(outcome, Forward) and outcome.upstream.body is not None
    # (nor is the lock tested: nothing can have locked a pod without annotations)
    record = orjson.loads(outcome.upstream.body)[2]
    assert (record["op"], record["path"]) == ("add", "/metadata/annotations")
    (value,) = record["value"].values()
    assert orjson.loads(value)["action"] == "stop"


@pytest.mark.parametrize(("action", "state"), [("os-stop", "stopped"), ("os-start", "active")])
def test_failed_power_test_without_cache_is_phrased_from_the_test(action: str, state: str) -> None:
    outcome = handle(ctx(), {action: None})
    failed = status_reply(
        422, "Invalid", message="the server rejected our request due to an error in our request"
    )
    nova = "stop" if action == "os-stop" else "start"
    assert error(translated(outcome, failed)) == (
        409,
        f"Cannot '{nova}' instance {SID} while it is in vm_state {state}",
    )


def test_failed_power_test_uses_the_cache_once_arktos_authorized() -> None:
    # Not proven for the token: the pre-check is skipped, but after Arktos's 422 the cache may phrase it.
    pod = running_pod()
    pod["spec"]["virtualMachine"]["powerSpec"] = "Shutdown"  # powering off
    outcome = handle(ctx(cache_with(pod)), {"os-stop": None})
    reply = translated(outcome, status_reply(422, "Invalid"))
    assert error(reply) == (409, f"Cannot 'stop' instance {SID} while it is in task_state powering-off")


def test_create_image_is_a_snapshot_named_by_a_new_image_id() -> None:
    cache = cache_with(running_pod())
    outcome = handle(ctx(cache), {"createImage": {"name": "snap1", "metadata": {"k": "v"}}})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.body is not None
    sent = orjson.loads(outcome.upstream.body)
    image_id = sent["snapshotParams"]["snapshotName"]
    assert sent == {
        "apiVersion": "v1",
        "kind": "CustomAction",
        "operation": "snapshot",
        "snapshotParams": {"snapshotName": image_id},
    }
    reply = translated(outcome, status_reply(201, "", image_id))
    assert (reply.status, reply.body) == (202, b"")
    assert reply.headers["location"] == f"{PUBLIC}/image/v2/images/{image_id}"
    # Shown at once as a snapshot in flight, with the name given.
    details = cache.submitted_details(image_id)
    assert details is not None
    assert (details["name"], details["server_id"], details["metadata"]) == ("snap1", SID, {"k": "v"})
    assert [a["metadata"]["annotations"] for a in cache.pending_actions("demo", "default", SID)] == [
        {"openstack.arktos.io/submitted": "true"}
    ]


def _catalog_with(image: Any) -> CatalogStore:
    store = CatalogStore()
    store.set_configmap("demo", "openstack-images", {image.id: image_entry(image)})
    return store


SNAP_ID = "11111111-2222-4333-8444-555555555555"


def _snapshot(server: str, status: str = "active") -> Any:
    request = SnapshotRequest("snap1", server, {})
    return snapshot_image(
        SNAP_ID,
        "demo",
        "default",
        request,
        status,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
        "arktos-snap-7",
    )


def test_rebuild_from_own_snapshot_is_a_restore() -> None:
    catalog = _catalog_with(_snapshot(SID))
    cache = cache_with(running_pod())
    outcome = handle(
        ctx(cache, proven(), catalog=catalog), {"rebuild": {"imageRef": "snap1", "adminPass": "pw"}}
    )
    assert isinstance(outcome, Forward)
    assert outcome.upstream.body is not None
    assert orjson.loads(outcome.upstream.body) == {
        "apiVersion": "v1",
        "kind": "CustomAction",
        "operation": "restore",
        "restoreParams": {"snapshotID": "arktos-snap-7"},
    }
    reply = translated(outcome, status_reply(201, "", "arktos-snap-7"))
    assert reply.status == 202
    server = orjson.loads(reply.body)["server"]
    assert (server["id"], server["status"]) == (SID, "REBUILD")
    assert "adminPass" not in server
    assert "OS-EXT-STS:task_state" not in server


CIRROS = "6db08272-a856-49da-8909-7c4c73ab0bac"
OTHER_IMAGE = "download.example.org/other.img"


def _catalog_with_other_snapshot() -> CatalogStore:
    catalog = CatalogStore()
    catalog.set_configmap(
        "demo",
        "openstack-images",
        {
            SNAP_ID: image_entry(_snapshot("other")),
            "cirros": f'{{"id": "{CIRROS}", "url": "{OTHER_IMAGE}"}}',
            "queued": '{"id": "99999999-2222-4333-8444-555555555555", "status": "queued"}',
        },
    )
    return catalog


def test_rebuild_from_another_servers_snapshot_is_400() -> None:
    known = ctx(cache_with(running_pod()), proven(), catalog=_catalog_with_other_snapshot())
    reply = handle(known, {"rebuild": {"imageRef": SNAP_ID}})
    assert isinstance(reply, Reply)
    assert error(reply) == (400, image_actions.not_own_snapshot(SNAP_ID, SID))


def test_rebuild_refusals_wait_for_arktos_to_say_the_server_exists() -> None:
    """Nova looks the server up first: without the cache's word, one GET of the pod comes before the 400."""
    for ref, message in (
        (SNAP_ID, image_actions.not_own_snapshot(SNAP_ID, SID)),
        ("nope", "Image nope could not be found."),
        ("queued", "Image queued is not active."),
    ):
        outcome = handle(ctx(catalog=_catalog_with_other_snapshot()), {"rebuild": {"imageRef": ref}})
        assert isinstance(outcome, Forward) and outcome.upstream.method == "GET"
        assert outcome.upstream.path == POD_PATH
        assert error(translated(outcome, ArktosReply(200, {}, orjson.dumps(running_pod())))) == (400, message)
        missing = translated(outcome, status_reply(404, "NotFound"))
        assert error(missing) == (404, f"Instance {SID} could not be found.")


def test_any_action_on_a_server_the_cache_knows_is_missing_is_404_first() -> None:
    cache = cache_with(running_pod())
    other = "0b0c0d0e-0000-4000-8000-000000000000"
    request = ClientRequest(
        "POST",
        f"/compute/v2.1/demo/servers/{other}/action",
        {},
        {"x-auth-token": TOKEN},
        orjson.dumps({"rebuild": {"imageRef": "no-such-image"}}),
    )
    reply = actions.server_action(ctx(cache, proven()), request, {"server_id": other, "project_id": "demo"})
    assert isinstance(reply, Reply)
    assert error(reply) == (404, f"Instance {other} could not be found.")


def rebuilt(pod: dict[str, Any], image: str = OTHER_IMAGE) -> dict[str, Any]:
    """Arktos's reply to the rebuild patch: the new image in the spec, the old one still reported."""
    pod = copy.deepcopy(pod)
    pod["metadata"]["annotations"]["openstack.arktos.io/image-id"] = CIRROS
    pod["spec"]["virtualMachine"]["image"] = image
    pod["status"]["virtualMachineStatus"]["image"] = "download.cirros-cloud.net/old.img"
    return pod


def test_rebuild_to_any_image_is_one_patch_of_the_vm_image_with_the_uid_test() -> None:
    pod = running_pod()
    pod["metadata"]["uid"] = "uid-1"
    pod["metadata"]["annotations"] = {"openstack.arktos.io/display-name": "vm1"}
    known = ctx(cache_with(pod), proven(), catalog=_catalog_with_other_snapshot())
    body = {
        "rebuild": {
            "imageRef": CIRROS,
            "name": "vm2",
            "metadata": {"k": "v"},
            "adminPass": "pw",
            "accessIPv6": "2001:DB8::0:1",
        }
    }
    outcome = handle(known, body)
    assert isinstance(outcome, Forward)
    upstream = outcome.upstream
    assert (upstream.method, upstream.path, upstream.content_type) == (
        "PATCH",
        POD_PATH,
        "application/json-patch+json",
    )
    assert upstream.body is not None
    ops = orjson.loads(upstream.body)
    record = ops.pop(5)
    assert ops == [
        {"op": "test", "path": "/metadata/uid", "value": "uid-1"},
        {"op": "test", "path": "/metadata/annotations/openstack.arktos.io~1locked-by", "value": None},
        {"op": "add", "path": "/metadata/annotations/openstack.arktos.io~1image-id", "value": CIRROS},
        {"op": "add", "path": "/metadata/annotations/openstack.arktos.io~1display-name", "value": "vm2"},
        {"op": "add", "path": "/metadata/annotations/openstack.arktos.io~1metadata", "value": '{"k":"v"}'},
        # Nova's rebuild sets the access address too, canonical.
        {
            "op": "add",
            "path": "/metadata/annotations/openstack.arktos.io~1access-ipv6",
            "value": "2001:db8::1",
        },
        {"op": "replace", "path": "/spec/virtualMachine/image", "value": OTHER_IMAGE},
    ]
    # The same patch records the rebuild as an instance action.
    assert record["path"] == "/metadata/annotations/instance-action.openstack.arktos.io~1req-1"
    assert orjson.loads(record["value"])["action"] == "rebuild"
    answered = rebuilt(pod)
    answered["metadata"]["annotations"]["openstack.arktos.io/display-name"] = "vm2"
    reply = translated(outcome, ArktosReply(200, {}, orjson.dumps(answered)))
    assert reply.status == 202
    server = orjson.loads(reply.body)["server"]
    assert (server["id"], server["name"], server["status"]) == (SID, "vm2", "REBUILD")
    assert "adminPass" not in server
    assert server["image"]["id"] == CIRROS
    # The uid test failed: not the server the cache knew.
    assert error(translated(outcome, status_reply(422, "Invalid")))[0] == 404


def test_rebuild_of_a_stopped_server_is_allowed_and_stays_shutoff() -> None:
    pod = stopped_pod()
    pod["metadata"]["annotations"] = {}
    outcome = handle(
        ctx(cache_with(pod), proven(), catalog=_catalog_with_other_snapshot()),
        {"rebuild": {"imageRef": CIRROS}},
    )
    assert isinstance(outcome, Forward) and outcome.upstream.method == "PATCH"
    server = orjson.loads(translated(outcome, ArktosReply(200, {}, orjson.dumps(rebuilt(pod)))).body)[
        "server"
    ]
    assert server["status"] == "REBUILD"
    done = rebuilt(pod)
    done["status"]["virtualMachineStatus"]["image"] = OTHER_IMAGE
    assert view_for(ctx()).show(done)["status"] == "SHUTOFF"


def test_restore_and_snapshot_of_a_stopped_server_say_why_arktos_cannot() -> None:
    catalog = _catalog_with(_snapshot(SID))
    stopped = ctx(cache_with(stopped_pod()), proven(), catalog=catalog)
    reply = handle(stopped, {"rebuild": {"imageRef": SNAP_ID}})
    assert isinstance(reply, Reply)
    status, message = error(reply)
    assert status == 409
    assert message.startswith(f"Cannot 'rebuild' instance {SID} while it is in vm_state stopped: ")
    assert "Arktos can only restore a snapshot into a running VM" in message
    reply = handle(stopped, {"createImage": {"name": "s"}})
    assert isinstance(reply, Reply)
    status, message = error(reply)
    assert status == 409
    assert message.startswith(f"Cannot 'createImage' instance {SID} while it is in vm_state stopped: ")
    assert "Arktos can only snapshot a running VM" in message


def test_rebuild_from_the_image_the_vm_runs_is_refused_as_arktos_would_not_reinstall() -> None:
    pod = running_pod()
    pod["spec"]["virtualMachine"]["image"] = OTHER_IMAGE
    known = ctx(cache_with(pod), proven(), catalog=_catalog_with_other_snapshot())
    reply = handle(known, {"rebuild": {"imageRef": CIRROS}})
    assert isinstance(reply, Reply)
    status, message = error(reply)
    assert status == 400 and "Arktos recreates a VM only when its image changes" in message


def test_restore_reply_does_not_make_up_a_name_the_cache_does_not_know() -> None:
    outcome = handle(ctx(catalog=_catalog_with(_snapshot(SID))), {"rebuild": {"imageRef": SNAP_ID}})
    server = orjson.loads(translated(outcome, status_reply(201, "", "arktos-snap-7")).body)["server"]
    assert server["id"] == SID and server["status"] == "REBUILD"
    assert "name" not in server


def test_snapshot_properties_keep_the_users_metadata_over_novas() -> None:
    request = SnapshotRequest("s", SID, {"image_type": "backup", "arktos_snapshot_id": "forged", "k": "v"})
    image = snapshot_image(SNAP_ID, "demo", "default", request, "active", "t", "t", "arktos-snap-7")
    assert image.properties["image_type"] == "backup"
    assert image.properties["k"] == "v"
    assert image.properties["instance_uuid"] == SID
    assert image.properties["arktos_snapshot_id"] == "arktos-snap-7"
    # Still this server's snapshot (its URL says so), so it is restorable and not bootable.
    assert snapshot_id_of(image, SID) == "arktos-snap-7"


def test_rebuild_from_unknown_image_is_400() -> None:
    known = ctx(cache_with(running_pod()), proven())
    reply = handle(known, {"rebuild": {"imageRef": SNAP_ID}})
    assert isinstance(reply, Reply)
    assert error(reply) == (400, f"Image {SNAP_ID} could not be found.")


@pytest.mark.parametrize("ref", [SNAP_ID, "6db08272-a856-49da-8909-7c4c73ab0bac", "snap-of-another-server"])
def test_rebuild_refusal_waits_for_arktos_to_show_the_server(ref: str) -> None:
    """Without a recent 2xx for this token in the tenant, the catalog's refusal is told only after a GET of
    the server: Arktos's 403 (in Nova's words) or 404 come first, whatever the image (issue 9 item 3)."""
    catalog = _catalog_with(_snapshot("some-other-server"))
    outcome = handle(ctx(catalog=catalog), {"rebuild": {"imageRef": ref}})
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path) == ("GET", POD_PATH)
    assert outcome.upstream.body is None
    forbidden = translated(
        outcome, status_reply(403, "Forbidden", message='pods "x" is forbidden: User "demo"')
    )
    assert error(forbidden) == (403, "Policy doesn't allow this operation to be performed.")
    assert error(translated(outcome, status_reply(404, "NotFound"))) == (
        404,
        f"Instance {SID} could not be found.",
    )
    assert translated(outcome, ArktosReply(200, {}, b"{}")).status == 400


# -- Arktos's answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "nova", "task"),
    [
        ({"reboot": {"type": "SOFT"}}, "reboot", "rebooting"),
        ({"reboot": {"type": "HARD"}}, "reboot", "rebooting_hard"),
        ({"createImage": {"name": "s"}}, "createImage", "image_snapshot"),
    ],
)
def test_action_name_collision_is_nova_409_not_500(body: Any, nova: str, task: str) -> None:
    outcome = handle(ctx(), body)
    collided = status_reply(409, "AlreadyExists", message='actions "reboot-1795784286" already exists')
    assert error(translated(outcome, collided)) == (
        409,
        f"Cannot '{nova}' instance {SID} while it is in task_state {task}",
    )


@pytest.mark.parametrize(
    "body", [{"reboot": {"type": "HARD"}}, {"os-stop": None}, {"createImage": {"name": "s"}}]
)
def test_missing_server_is_404(body: Any) -> None:
    missing = status_reply(404, "NotFound", message=f'pods "{SID}" not found')
    assert error(translated(handle(ctx(), body), missing)) == (404, f"Instance {SID} could not be found.")


def test_forbidden_is_403() -> None:
    forbidden = status_reply(403, "Forbidden", message="forbidden")
    assert translated(handle(ctx(), {"os-stop": None}), forbidden).status == 403


# -- when the cache decides --------------------------------------------------------------------------------


def test_cache_decides_only_for_a_proven_token_in_the_named_tenant() -> None:
    cache = cache_with(stopped_pod())
    refused = handle(ctx(cache, proven()), {"reboot": {"type": "SOFT"}})
    assert isinstance(refused, Reply)
    assert error(refused) == (409, f"Cannot 'reboot' instance {SID} while it is in vm_state stopped")
    # Same state, but the token never got a 2xx in this tenant: Arktos must answer first.
    assert isinstance(handle(ctx(cache, TenantProofs()), {"reboot": {"type": "SOFT"}}), Forward)
    # Proven for another tenant only.
    other = TenantProofs()
    other.record(TOKEN, "/api/v1/tenants/alt/namespaces/default/pods", 200)
    assert isinstance(handle(ctx(cache, other), {"reboot": {"type": "SOFT"}}), Forward)
    # Short path: the tenant is Arktos's to decide.
    assert isinstance(handle(ctx(cache, proven(), tenant=None), {"reboot": {"type": "SOFT"}}), Forward)
    # A cache that has not synced yet decides nothing.
    unsynced = ClusterCache()
    unsynced.apply_list(POD, [stopped_pod()])
    assert isinstance(handle(ctx(unsynced, proven()), {"reboot": {"type": "SOFT"}}), Forward)


def test_pod_unknown_to_the_cache_is_404_for_a_proven_caller_else_forwarded() -> None:
    # The synced cache has every pod of the tenant and Arktos has let this token in: no such server.
    reply = handle(ctx(cache_with(), proven()), {"os-start": None})
    assert isinstance(reply, Reply) and error(reply) == (404, f"Instance {SID} could not be found.")
    # Without the proof, Arktos decides (its 404 is the answer).
    assert isinstance(handle(ctx(cache_with()), {"os-start": None}), Forward)


def test_hard_reboot_of_a_stopped_server_powers_it_on() -> None:
    outcome = handle(ctx(cache_with(stopped_pod()), proven()), {"reboot": {"type": "HARD"}})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.method == "PATCH"
    assert outcome.upstream.body is not None
    assert {
        "op": "replace",
        "path": "/spec/virtualMachine/powerSpec",
        "value": "Running",
    } in orjson.loads(outcome.upstream.body)


def test_start_while_powering_off_is_refused_from_the_cache() -> None:
    pod = running_pod()
    pod["spec"]["virtualMachine"]["powerSpec"] = "Shutdown"
    refused = handle(ctx(cache_with(pod), proven()), {"os-start": None})
    assert isinstance(refused, Reply)
    assert error(refused) == (409, f"Cannot 'start' instance {SID} while it is in vm_state active")


def test_soft_reboot_while_rebooting_is_refused_hard_is_allowed() -> None:
    rebooting = {
        "metadata": {"name": "reboot-100", "tenant": "demo", "namespace": "default", "resourceVersion": "2"},
        "spec": {"podName": SID, "rebootAction": {}},  # as fixture 56
        "status": {},
    }
    cache = cache_with(running_pod(), actions_=[rebooting])
    soft = handle(ctx(cache, proven()), {"reboot": {"type": "SOFT"}})
    assert isinstance(soft, Reply)
    assert error(soft) == (409, f"Cannot 'reboot' instance {SID} while it is in task_state rebooting")
    assert isinstance(handle(ctx(cache, proven()), {"reboot": {"type": "HARD"}}), Forward)
    done = copy.deepcopy(rebooting)
    done["status"] = {"complete": True}
    cache.apply_event(ACTION, "MODIFIED", done)
    assert isinstance(handle(ctx(cache, proven()), {"reboot": {"type": "SOFT"}}), Forward)


# -- pacing the Actions Arktos names from its clock (issue 9 item 9) ---------------------------------------


@pytest.mark.parametrize(
    ("body", "operation"),
    [
        ({"reboot": {"type": "SOFT"}}, "reboot"),
        ({"reboot": {"type": "HARD"}}, "reboot"),
        ({"createImage": {"name": "s"}}, "snapshot"),
    ],
)
def test_custom_actions_of_a_proven_caller_wait_in_their_project_queue(body: Any, operation: str) -> None:
    outcome = handle(ctx(cache_with(running_pod()), proven()), body)
    assert isinstance(outcome, Forward)
    assert outcome.upstream.name_clock_scope == f"demo/default/{operation}"
    assert outcome.upstream.retry_name_collision


@pytest.mark.parametrize(
    "context", [ctx(proofs=TenantProofs()), ctx(proofs=None), ctx(proofs=proven(), tenant=None)]
)
def test_an_unproven_caller_or_a_short_path_never_waits_in_a_project_queue(context: RequestContext) -> None:
    """Someone Arktos has not let into the project must neither delay its reboots nor time them; a short
    path's tenant is known to Arktos only. Envoy's retry of the collision still applies."""
    outcome = handle(context, {"reboot": {"type": "SOFT"}})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.name_clock_scope is None
    assert outcome.upstream.retry_name_collision


def test_stop_is_not_paced() -> None:
    outcome = handle(ctx(cache_with(running_pod()), proven()), {"os-stop": None})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.name_clock_scope is None


def test_rebuild_with_other_user_data_is_refused_saying_why() -> None:
    # 2.57 user_data: no recording shows userData patchable (action_request.USER_DATA_UNCHANGEABLE).
    pod = running_pod()
    pod["metadata"]["uid"] = "uid-1"
    pod["metadata"]["annotations"] = {"openstack.arktos.io/display-name": "vm1"}
    known = dataclasses.replace(
        ctx(cache_with(pod), proven(), catalog=_catalog_with_other_snapshot()), compute_version=(2, 57)
    )
    refused = handle(known, {"rebuild": {"imageRef": CIRROS, "user_data": "aGk="}})
    assert isinstance(refused, Reply)
    assert error(refused) == (400, action_request.USER_DATA_UNCHANGEABLE)
    # The user data it has (none) is no change: the rebuild goes ahead.
    assert isinstance(handle(known, {"rebuild": {"imageRef": CIRROS, "user_data": None}}), Forward)


# -- a reboot's type kept in Arktos --------------------------------------------------------------------------


def _other_processor(watched: str, recorded_pod: dict[str, Any], reboot: dict[str, Any]) -> ClusterCache:
    """The cache of a processor that never saw the submission, its watches standing at ``watched``."""
    if watched == "synced":
        return cache_with(recorded_pod, actions_=[reboot])
    if watched == "pod watch behind":  # its pod is the one from before the recorder's patch
        return cache_with(running_pod(), actions_=[reboot])
    # "pods not listed": the Action watch has listed, the pod watch not yet (just restarted); the pod shown
    # is Arktos's own reply.
    cache = ClusterCache()
    cache.apply_list(ACTION, [reboot])
    return cache


@pytest.mark.parametrize("watched", ["synced", "pod watch behind", "pods not listed"])
@pytest.mark.parametrize(("kind", "status"), [("HARD", "HARD_REBOOT"), ("SOFT", "REBOOT")])
def test_a_reboot_type_outlives_the_processor_that_submitted_it(kind: str, status: str, watched: str) -> None:
    """Arktos has one kind of reboot: a processor restarted after a HARD reboot, or another replica, must
    still show HARD_REBOOT. The type travels in the instance-action record the recorder writes on the pod,
    and is read from the pod being shown, whatever the processor's own pod watch holds (CI flake: a
    restarted processor whose Action watch had listed before its pod watch showed REBOOT)."""
    submitting = cache_with(running_pod())
    submitted: list[tuple[Any, ...]] = []
    submitting.on_submitted(lambda *args: submitted.append(args))
    accepted = translated(
        handle(ctx(submitting, proven()), {"reboot": {"type": kind}}),
        status_reply(201, "", "reboot-1795784286"),
    )
    assert accepted.status == 202
    ((_tenant, _namespace, _pod, _operation, ref, details),) = submitted
    record = instance_actions.submitted_record(details)
    assert record is not None
    # The pod as every processor's watch shows it once the recorder's merge patch is in.
    pod = running_pod()
    pod["metadata"].setdefault("annotations", {}).update(instance_actions.record_annotations(record))
    reboot = {
        "metadata": {"name": ref, "tenant": "demo", "namespace": "default", "resourceVersion": "7"},
        "spec": {"podName": SID, "rebootAction": {}},  # as fixture 56
        "status": {},
    }
    # A processor that never saw the submission (restarted, or another replica): only what Arktos holds.
    other = _other_processor(watched, pod, reboot)
    shown = view_for(ctx(other, proven())).show(pod)
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == (
        status,
        f"rebooting{'_hard' * (kind == 'HARD')}",
    )
