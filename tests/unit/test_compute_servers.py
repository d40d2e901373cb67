"""Servers (extproc.compute.server_create, server_list, server_item): translations both ways."""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from extproc import annotations as keys
from extproc import headers
from extproc.catalog import CatalogStore
from extproc.compute import create_request, server_create, server_item, server_list
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.keypair_store import KeypairStore
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from extproc.tenant_proofs import TenantProofs
from extproc.users import user_id_for_token
from tests.shared_fixtures import SHARED_FIXTURES
from tests.unit.keypair_objects import keypair_configmap

FIXTURES = SHARED_FIXTURES
PUBLIC = "http://gw.example:8080"
IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"
IMAGE_URL = "download.cirros-cloud.net/0.5.2/cirros-0.5.2-x86_64-disk.img"
TOKEN = "demo-token"


def devstack(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "devstack" / name).read_text())
    return loaded


def arktos(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "arktos" / name).read_text())
    return loaded


def arktos_reply(name: str) -> ArktosReply:
    recorded = arktos(name)
    return ArktosReply(
        recorded["status"], {"content-type": "application/json"}, orjson.dumps(recorded["body"])
    )


def ctx(tenant: str | None = "demo", version: tuple[int, int] = (2, 1)) -> RequestContext:
    return RequestContext(
        GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", tenant, compute_version=version
    )


def request(
    method: str, path: str = "/", body: Any = None, raw: bytes | None = None, **query: Any
) -> ClientRequest:
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else b"")
    multi = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    return ClientRequest(method, path, multi, {"x-auth-token": TOKEN}, data)


def as_forward(outcome: Outcome) -> Forward:
    assert isinstance(outcome, Forward), outcome
    return outcome


def as_reply(outcome: Outcome) -> Reply:
    assert isinstance(outcome, Reply), outcome
    return outcome


def fault(reply: Reply) -> tuple[int, str, str]:
    body = orjson.loads(reply.body)
    ((name, value),) = body.items()
    assert value["code"] == reply.status
    return reply.status, name, value["message"]


def create(body: Any, tenant: str | None = "demo", version: tuple[int, int] = (2, 1)) -> Outcome:
    return server_create.create_server(ctx(tenant, version), request("POST", body=body), {})


DEVSTACK_NETWORK = "2608d099-c5cb-45c9-a85e-c7daba9f95bf"


def fixture_09_request() -> dict[str, Any]:
    """DevStack's create without its ``networks``: that Neutron network exists only in that DevStack."""
    body: dict[str, Any] = devstack("09-post-compute-v2-1-servers.json")["request_body"]
    assert body["server"].pop("networks") == [{"uuid": DEVSTACK_NETWORK}]
    return body


def test_devstack_create_on_its_own_network_is_refused_here() -> None:
    body: dict[str, Any] = devstack("09-post-compute-v2-1-servers.json")["request_body"]
    reply = as_reply(create(body))
    assert fault(reply) == (400, "badRequest", f"Network {DEVSTACK_NETWORK} could not be found.")


# ---------------------------------------------------------------------------------------------------------
# POST /servers


def test_create_builds_a_vm_pod_arktos_accepts() -> None:
    forward = as_forward(create(fixture_09_request()))
    up = forward.upstream
    assert (up.method, up.path, up.content_type) == (
        "POST",
        "/api/v1/tenants/demo/namespaces/default/pods",
        "application/json",
    )
    assert up.bearer_token is None
    assert up.body is not None
    pod = orjson.loads(up.body)
    server_id = pod["metadata"]["name"]
    assert str(uuid.UUID(server_id)) == server_id
    # Every field we send exists in what Arktos stored for a VM pod (fixtures 03 and 08).
    stored_vm = arktos("08-pod-create-uuidname.json")["body"]["spec"]["virtualMachine"]
    assert set(pod["spec"]) == {"virtualMachine"}
    assert set(pod["spec"]["virtualMachine"]) <= set(stored_vm)
    assert pod["spec"]["virtualMachine"] == {
        "name": "test-2",
        "image": IMAGE_URL,
        "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "1", "memory": "512Mi"}},
        "keyPairName": "default",
        "powerSpec": "Running",
    }
    assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
    annotations = dict(pod["metadata"]["annotations"])
    # The create's instance action, recorded on the pod it creates (extproc.compute.instance_actions).
    record = orjson.loads(annotations.pop(keys.INSTANCE_ACTION_PREFIX + "req-1"))
    assert (record["action"], record["user_id"], record["project_id"]) == (
        "create",
        user_id_for_token(TOKEN),
        "demo",
    )
    assert annotations == {
        keys.DISPLAY_NAME: "test-2",
        keys.FLAVOR_ID: "1",
        keys.IMAGE_ID: IMAGE_ID,
        keys.USER_ID: user_id_for_token(TOKEN),
        keys.METADATA: "{}",
        keys.CREATED_BY: keys.CREATED_BY_GATEWAY,
        # What later microversions show, as Nova records it at boot: below 2.19 the description is the
        # name; the hostname from the name; the flavor and the image's standard properties.
        keys.DESCRIPTION: '"test-2"',
        keys.HOSTNAME: "test-2",
        keys.FLAVOR: orjson.dumps(
            {
                "vcpus": 1,
                "ram": 512,
                "disk": 1,
                "ephemeral": 0,
                "swap": 0,
                "original_name": "m1.tiny",
                "extra_specs": {},
            }
        ).decode(),
        keys.IMAGE_PROPERTIES: '{"hw_rng_model":"virtio"}',
    }
    ((label, value),) = pod["metadata"]["labels"].items()
    assert label == keys.RESERVATION_ID
    assert re.fullmatch(r"r-[a-z0-9]{8}", value)


def test_create_without_project_uses_the_short_path() -> None:
    forward = as_forward(create(fixture_09_request(), tenant=None))
    assert forward.upstream.path == "/api/v1/namespaces/default/pods"


def test_create_reply_is_nova_202() -> None:
    forward = as_forward(create(fixture_09_request()))
    assert forward.upstream.body is not None
    sent = orjson.loads(forward.upstream.body)
    server_id = sent["metadata"]["name"]
    stored = copy.deepcopy(arktos("08-pod-create-uuidname.json")["body"])
    stored["metadata"].update(sent["metadata"])
    reply = forward.translate(ArktosReply(201, {}, orjson.dumps(stored)))
    assert reply.status == 202
    assert reply.headers["location"] == f"{PUBLIC}/compute/v2.1/demo/servers/{server_id}"
    assert reply.headers["content-type"] == "application/json"
    server = orjson.loads(reply.body)["server"]
    recorded = devstack("09-post-compute-v2-1-servers.json")["response_body"]["server"]
    # NOTE: Nova with instance passwords disabled (enable_instance_password = False) leaves adminPass out;
    # the gateway cannot put a password into an Arktos VM, so it must not hand one out.
    assert list(server) == [key for key in recorded if key != "adminPass"]
    assert server["id"] == server_id
    assert server["links"][0] == {"rel": "self", "href": f"{PUBLIC}/compute/v2.1/demo/servers/{server_id}"}
    assert server["OS-DCF:diskConfig"] == "MANUAL"
    assert server["security_groups"] == [{"name": "default"}]


def test_create_reply_never_echoes_an_admin_pass_and_gives_the_reservation_id() -> None:
    body = fixture_09_request()
    body["server"]["adminPass"] = "s3cret"
    forward = as_forward(create(body))
    assert forward.upstream.body is not None
    assert b"s3cret" not in forward.upstream.body
    assert "adminPass" not in orjson.loads(forward.translate(ArktosReply(201, {}, b"{}")).body)["server"]
    body["server"]["return_reservation_id"] = "True"
    forward = as_forward(create(body))
    assert forward.upstream.body is not None
    label = orjson.loads(forward.upstream.body)["metadata"]["labels"][keys.RESERVATION_ID]
    assert orjson.loads(forward.translate(ArktosReply(201, {}, b"{}")).body) == {"reservation_id": label}


def test_create_with_everything() -> None:
    user_data = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    body = {
        "server": {
            "name": "Web Server #1",
            "imageRef": f"http://glance/v2/images/{IMAGE_ID}",
            "flavorRef": f"{PUBLIC}/compute/v2.1/flavors/3",
            "key_name": "mykey",
            "user_data": user_data,
            "metadata": {"role": "web"},
            "accessIPv4": "192.0.2.1",
            "min_count": "1",
            "max_count": 1,
            "networks": "auto",
            "security_groups": [{"name": "default"}],
            "availability_zone": "nova",
            "config_drive": True,
            "description": "the web",
            "tags": ["a", "b", "a"],
            "hostname": "web1.example.org",
        },
        "os:scheduler_hints": {"ignored": True, "same_host": [IMAGE_ID]},
    }
    keypairs = KeypairStore()
    keypairs.replace_all([keypair_configmap("mykey", "ssh-ed25519 AAAA", "fp", "u", tenant="demo")])
    proofs = TenantProofs()
    proofs.record(TOKEN, "/api/v1/tenants/demo/namespaces/default/configmaps/openstack-flavors", 200)
    known = RequestContext(
        GatewayConfig(public_url=PUBLIC),
        CatalogStore(),
        "req-1",
        "demo",
        proofs=proofs,
        keypairs=keypairs,
        compute_version=headers.MAX_COMPUTE_VERSION,
    )
    forward = as_forward(server_create.create_server(known, request("POST", body=body), {}))
    assert forward.upstream.body is not None
    pod = orjson.loads(forward.upstream.body)
    vm = pod["spec"]["virtualMachine"]
    assert vm["name"] == "web-server-1"
    assert vm["keyPairName"] == "mykey"
    assert vm["publicKey"] == "ssh-ed25519 AAAA"
    assert vm["resources"]["limits"] == {"cpu": "2", "memory": "4096Mi"}
    # Nova's user_data is base64 text; Arktos's []byte userData carries base64 of that text.
    assert base64.b64decode(vm["userData"]).decode() == user_data
    annotations = pod["metadata"]["annotations"]
    assert annotations[keys.KEY_NAME] == "mykey"
    assert annotations[keys.FLAVOR_ID] == "3"
    assert annotations[keys.ACCESS_IPV4] == "192.0.2.1"
    assert json.loads(annotations[keys.METADATA]) == {"role": "web"}
    assert annotations[keys.DISPLAY_NAME] == "Web Server #1"
    assert json.loads(annotations[keys.DESCRIPTION]) == "the web"
    assert json.loads(annotations[keys.TAGS]) == ["a", "b"]
    assert annotations[keys.HOSTNAME] == "web1.example.org"
    assert annotations[keys.PINNED_AZ] == "nova"
    assert json.loads(annotations[keys.SCHEDULER_HINTS]) == {"ignored": ["true"], "same_host": [IMAGE_ID]}


def test_osc_block_device_mapping_gives_the_image() -> None:
    body = {
        "server": {
            "name": "vm1",
            "imageRef": "",
            "flavorRef": "1",
            "block_device_mapping_v2": [
                {
                    "uuid": IMAGE_ID,
                    "boot_index": 0,
                    "source_type": "image",
                    "destination_type": "local",
                    "delete_on_termination": True,
                }
            ],
        }
    }
    forward = as_forward(create(body))
    assert forward.upstream.body is not None
    assert orjson.loads(forward.upstream.body)["spec"]["virtualMachine"]["image"] == IMAGE_URL


@pytest.mark.parametrize(
    "bdm",
    [
        {"uuid": "v1", "boot_index": 0, "source_type": "volume", "destination_type": "volume"},
        {
            "uuid": IMAGE_ID,
            "boot_index": 0,
            "source_type": "image",
            "destination_type": "volume",
            "volume_size": 1,
        },
        {"source_type": "blank", "destination_type": "local", "boot_index": -1, "guest_format": "swap"},
        {"uuid": IMAGE_ID, "boot_index": 1, "source_type": "image", "destination_type": "local"},
    ],
)
def test_other_block_device_mappings_are_refused(bdm: dict[str, Any]) -> None:
    body = {
        "server": {"name": "vm1", "imageRef": IMAGE_ID, "flavorRef": "1", "block_device_mapping_v2": [bdm]}
    }
    status, name, message = fault(as_reply(create(body)))
    assert (status, name) == (400, "badRequest")
    assert "only accepted entry boots from an image onto local disk" in message


UNAUTHENTICATED = "The request you have made requires authentication."


def with_fields(**fields: Any) -> dict[str, Any]:
    return {"server": {"name": "x", "imageRef": IMAGE_ID, "flavorRef": "1", **fields}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"server": {"name": "x", "imageRef": IMAGE_ID}}, "'flavorRef' is a required property"),
        ({"server": {"imageRef": IMAGE_ID, "flavorRef": "1"}}, "'name' is a required property"),
        ({"srv": {}}, "'server' is a required property"),
        ([], "is not of type 'object'"),
        (with_fields(name=""), "Invalid input for field/attribute name."),
        (with_fields(name="x" * 256), "is too long"),
        (with_fields(name=" x"), "Can not start or end with whitespace"),
        (with_fields(flavorRef=""), "flavorRef"),
        (with_fields(user_data="not base64!"), "user_data"),
        (with_fields(user_data="QUFB" * 16384), "is too long"),
        (with_fields(metadata={"k": 1}), "attribute k. Value: 1"),
        (with_fields(metadata={"k/": "v"}), "metadata"),
        (with_fields(metadata={"k": "v" * 256}), "k"),
        (with_fields(networks="some"), "networks"),
        (with_fields(accessIPv4="1.2.3"), "accessIPv4"),
        (with_fields(min_count=0), "min_count"),
        (with_fields(min_count="0"), "min_count must be >= 1"),
        (with_fields(max_count="a"), "max_count"),
        (with_fields(min_count=1.5), "min_count"),
        (with_fields(min_count=3, max_count=2), "min_count must be <= max_count"),
        ({"server": {"name": "x", "flavorRef": "1"}}, "Missing imageRef attribute"),
        (with_fields(availability_zone="az9"), "availability zone"),
        (with_fields(return_reservation_id="maybe"), "return_reservation_id"),
    ],
)
def test_invalid_create_bodies_are_400_before_arktos(body: Any, message: str) -> None:
    status, name, text = fault(as_reply(create(body)))
    assert (status, name) == (400, "badRequest")
    assert message in text


def test_malformed_json_is_400() -> None:
    reply = as_reply(server_create.create_server(ctx(), request("POST", raw=b"{not json"), {}))
    assert fault(reply) == (400, "badRequest", "Malformed request body")
    empty = as_reply(server_create.create_server(ctx(), request("POST", raw=b""), {}))
    assert fault(empty)[:2] == (400, "badRequest")


def proven_ctx(tenant: str = "demo") -> RequestContext:
    """A context where Arktos has just answered this test's token 2xx in ``tenant``."""
    proofs = TenantProofs()
    proofs.record(TOKEN, f"/api/v1/tenants/{tenant}/namespaces/default/pods", 200)
    return RequestContext(GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", tenant, None, proofs)


def test_unknown_flavor_and_image_are_400() -> None:
    def create(body: Any) -> Outcome:
        return server_create.create_server(proven_ctx(), request("POST", body=body), {})

    no_flavor = {"server": {"name": "x", "imageRef": IMAGE_ID, "flavorRef": "m9.huge"}}
    assert fault(as_reply(create(no_flavor))) == (400, "badRequest", "Flavor m9.huge could not be found.")
    no_image = {"server": {"name": "x", "imageRef": "1f2e3d4c-0000-0000-0000-000000000000", "flavorRef": "1"}}
    assert fault(as_reply(create(no_image))) == (
        400,
        "badRequest",
        "Image 1f2e3d4c-0000-0000-0000-000000000000 could not be found.",
    )


def test_a_snapshot_image_cannot_boot_a_new_server() -> None:
    snapshot_id = "5a9e1c3b-1111-4222-8333-944455556666"
    record = {
        "id": snapshot_id,
        "name": "snap1",
        "url": "arktos-snapshot://demo/default/a1/s-1",
        "properties": {"image_type": "snapshot", "instance_uuid": "a1", "arktos_snapshot_id": "s-1"},
    }
    context = proven_ctx()
    context.catalog.set_configmap("demo", keys.IMAGES_CONFIGMAP, {snapshot_id: json.dumps(record)})
    body = {"server": {"name": "x", "imageRef": snapshot_id, "flavorRef": "1"}}
    reply = as_reply(server_create.create_server(context, request("POST", body=body), {}))
    status, name, message = fault(reply)
    assert (status, name) == (400, "badRequest")
    assert "is a snapshot of another server" in message


POLICY = "Policy doesn't allow this operation to be performed."
CONFLICT = "There was a conflict when trying to complete your request."


@pytest.mark.parametrize(
    ("flavor", "image", "configmap"),
    [
        ("m9.huge", IMAGE_ID, "openstack-flavors"),
        ("1", "1f2e3d4c-0000-0000-0000-000000000000", "openstack-images"),
    ],
)
def test_catalog_refusal_waits_for_arktos_to_admit_the_caller(
    flavor: str, image: str, configmap: str
) -> None:
    """Without a recent 2xx for this token in the URL's tenant, a refusal read from the watch-fed catalog
    is told only after one GET of that catalog with the caller's token: Arktos's 403 comes first, so another
    tenant's catalog cannot be probed (issue 9 item 3)."""
    body = {"server": {"name": "x", "imageRef": image, "flavorRef": flavor}}
    outcome = as_forward(create(body, tenant="alt"))
    assert (outcome.upstream.method, outcome.upstream.path) == (
        "GET",
        f"/api/v1/tenants/alt/namespaces/default/configmaps/{configmap}",
    )
    refused = outcome.translate(arktos_reply("16-pod-get-crosstenant.json"))
    assert fault(refused) == (403, "forbidden", POLICY)
    for admitted in (200, 404):  # a missing ConfigMap: the built-in defaults, the refusal stands
        status, name, _ = fault(outcome.translate(ArktosReply(admitted, {}, b"{}")))
        assert (status, name) == (400, "badRequest")


@pytest.mark.parametrize(
    ("fixture", "status", "name", "message"),
    [
        (
            "05-pod-create-nokey.json",
            400,
            "badRequest",
            "Invalid input for the request: Required value: KeyPairName and PublicKey can't be both empty",
        ),
        ("04-pod-create-dup.json", 409, "conflictingRequest", CONFLICT),
        ("16-pod-get-crosstenant.json", 403, "forbidden", POLICY),
        ("15-pod-get-badtoken.json", 401, "unauthorized", UNAUTHENTICATED),
        ("14-pod-get-notoken.json", 403, "forbidden", POLICY),
    ],
)  # fmt: skip
def test_create_refused_by_arktos(fixture: str, status: int, name: str, message: str) -> None:
    """In Nova's words: Arktos's messages name pods, users and namespaces (issue 9 item 5)."""
    forward = as_forward(create(fixture_09_request()))
    reply = forward.translate(arktos_reply(fixture))
    got_status, got_name, got_message = fault(reply)
    assert (got_status, got_name) == (status, name)
    assert got_message == message
    assert reply.headers["content-type"] == "application/json; charset=UTF-8"


def test_arktos_unreachable_is_503() -> None:
    forward = as_forward(create(fixture_09_request()))
    reply = forward.translate(ArktosReply(503, {}, b"upstream connect error"))
    assert fault(reply)[:2] == (503, "serviceUnavailable")


# ---------------------------------------------------------------------------------------------------------
# GET /servers, /servers/detail


def vm_pod(
    name: str,
    created: str,
    display: str | None = None,
    tenant: str = "demo",
    flavor: str = "1",
    image: str = IMAGE_ID,
    phase: str = "Running",
    reservation: str = "r-00000000",
    ip: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if phase == "Running":
        status["virtualMachineStatus"] = {"state": "active", "powerState": "running"}
    if ip:
        status["podIP"] = ip
    return {
        "metadata": {
            "name": name,
            "tenant": tenant,
            "creationTimestamp": created,
            "labels": {keys.RESERVATION_ID: reservation},
            "annotations": {
                keys.DISPLAY_NAME: display or name,
                keys.FLAVOR_ID: flavor,
                keys.IMAGE_ID: image,
                keys.CREATED_BY: keys.CREATED_BY_GATEWAY,
            },
        },
        "spec": {
            "nodeName": "n1",
            "virtualMachine": {"name": "vm", "image": IMAGE_URL, "powerSpec": "Running"},
        },
        "status": status,
    }


def container_pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "tenant": "demo", "creationTimestamp": "2030-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        "status": {"phase": "Running"},
    }


PODS = [
    vm_pod("a1", "2024-01-01T00:00:01Z", "web-1", ip="10.0.0.1"),
    vm_pod("a2", "2024-01-01T00:00:02Z", "web-2", flavor="2", ip="10.0.0.2"),
    vm_pod("a3", "2024-01-01T00:00:03Z", "db-1", phase="Pending", reservation="r-11111111"),
    vm_pod("a4", "2024-01-01T00:00:03Z", "db-2", image="other-image", ip="10.1.0.4"),
    container_pod("c1"),
]


def pod_list(pods: list[dict[str, Any]]) -> ArktosReply:
    body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods}
    return ArktosReply(200, {}, orjson.dumps(body))


def listing(
    detail: bool = False, tenant: str | None = "demo", pods: list[dict[str, Any]] | None = None, **query: Any
) -> dict[str, Any]:
    handler = server_list.list_servers_detail if detail else server_list.list_servers
    path = "/compute/v2.1/demo/servers" + ("/detail" if detail else "")
    forward = as_forward(handler(ctx(tenant), request("GET", path, **query), {}))
    reply = forward.translate(pod_list(PODS if pods is None else pods))
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    loaded: dict[str, Any] = orjson.loads(reply.body)
    return loaded


def ids(body: Mapping[str, Any]) -> list[str]:
    return [s["id"] for s in body["servers"]]


def test_list_paths() -> None:
    def path(tenant: str | None, **query: Any) -> str:
        return as_forward(server_list.list_servers(ctx(tenant), request("GET", **query), {})).upstream.path

    assert path("demo") == "/api/v1/tenants/demo/namespaces/default/pods"
    assert path(None) == "/api/v1/namespaces/default/pods"
    assert path("demo", all_tenants="1") == "/api/v1/tenants/all/pods"
    assert path(None, all_tenants="True") == "/api/v1/tenants/all/pods"
    assert path("demo", all_tenants="false") == "/api/v1/tenants/demo/namespaces/default/pods"


def test_index_lists_vm_pods_newest_first() -> None:
    body = listing()
    assert ids(body) == ["a4", "a3", "a2", "a1"]  # same created time: id descending
    assert body["servers"][0] == {
        "id": "a4",
        "name": "db-2",
        "links": [
            {"rel": "self", "href": f"{PUBLIC}/compute/v2.1/demo/servers/a4"},
            {"rel": "bookmark", "href": f"{PUBLIC}/compute/demo/servers/a4"},
        ],
    }
    assert "servers_links" not in body


def test_detail_items_are_full_servers() -> None:
    body = listing(detail=True)
    assert ids(body) == ["a4", "a3", "a2", "a1"]
    by_id = {s["id"]: s for s in body["servers"]}
    assert by_id["a3"]["status"] == "BUILD"
    assert by_id["a2"]["status"] == "ACTIVE"
    assert by_id["a2"]["flavor"]["id"] == "2"
    assert by_id["a1"]["addresses"]["default"][0]["addr"] == "10.0.0.1"


def test_arktos_fixture_list_keeps_vm_pods() -> None:
    reply_body = arktos("12-pod-list-label.json")["body"]
    body = listing(pods=reply_body["items"])
    assert sorted(ids(body)) == ["f5dc173b-6804-445a-a6d8-c705dad5b5eb", "p1"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"name": "web"}, ["a2", "a1"]),
        ({"name": "^db-2$"}, ["a4"]),
        ({"status": "active"}, ["a4", "a2", "a1"]),
        ({"status": "BUILD"}, ["a3"]),
        ({"status": ["BUILD", "ACTIVE"]}, ["a4", "a3", "a2", "a1"]),
        ({"status": "SHUTOFF"}, []),
        ({"image": "other-image"}, ["a4"]),
        ({"image": f"http://glance/v2/images/{IMAGE_ID}"}, ["a3", "a2", "a1"]),
        ({"flavor": "2"}, ["a2"]),
        ({"flavor": "99"}, []),
        ({"reservation_id": "r-11111111"}, ["a3"]),
        ({"changes-since": "2024-01-01T00:00:02Z"}, ["a4", "a3", "a2"]),
        ({"changes-since": "2024-01-01T01:00:02+01:00"}, ["a4", "a3", "a2"]),
        ({"ip": "^10\\.0\\."}, ["a2", "a1"]),
        ({"deleted": "False", "is_public": "None", "sort_key": "created_at"}, ["a4", "a3", "a2", "a1"]),
        ({"tenant_id": "other"}, ["a4", "a3", "a2", "a1"]),  # ignored without all_tenants
        ({"tenant_id": "other", "all_tenants": "1"}, []),
        ({"project_id": "demo", "all_tenants": "1"}, ["a4", "a3", "a2", "a1"]),
    ],
)
def test_list_filters(query: dict[str, Any], expected: list[str]) -> None:
    assert ids(listing(**query)) == expected


def test_all_tenants_lists_only_the_gateway_namespace() -> None:
    elsewhere = vm_pod("k1", "2024-01-01T00:00:09Z", tenant="other")
    elsewhere["metadata"]["namespace"] = "kube-system"
    here = vm_pod("k2", "2024-01-01T00:00:08Z", tenant="other")
    here["metadata"]["namespace"] = "default"
    pods = [elsewhere, here, *PODS]
    assert ids(listing(pods=pods, all_tenants="1")) == ["k2", "a4", "a3", "a2", "a1"]
    # A tenant's own list comes from the namespace path already.
    assert ids(listing(pods=pods)) == ["k1", "k2", "a4", "a3", "a2", "a1"]


def test_pagination_walks_all_servers_with_next_links() -> None:
    first = listing(limit="2")
    assert ids(first) == ["a4", "a3"]
    (link,) = first["servers_links"]
    assert link["rel"] == "next"
    url = urlsplit(link["href"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{PUBLIC}/compute/v2.1/demo/servers"
    assert url.query == "limit=2&marker=a3"
    second = listing(**{k: v[0] for k, v in parse_qs(url.query).items()})
    assert ids(second) == ["a2", "a1"]
    # Full page: Nova offers a next link even if it leads to an empty page.
    assert second["servers_links"][0]["href"].endswith("limit=2&marker=a1")
    third = listing(limit="2", marker="a1")
    assert ids(third) == []
    assert "servers_links" not in third


def test_next_link_keeps_other_parameters_sorted() -> None:
    body = listing(detail=True, limit="1", name="web", status="ACTIVE")
    href = body["servers_links"][0]["href"]
    assert href == f"{PUBLIC}/compute/v2.1/demo/servers/detail?limit=1&marker=a2&name=web&status=ACTIVE"


def test_next_link_without_project() -> None:
    handler_ctx = ctx(None)
    forward = as_forward(server_list.list_servers(handler_ctx, request("GET", limit="1"), {}))
    body = orjson.loads(forward.translate(pod_list(PODS)).body)
    assert body["servers_links"][0]["href"] == f"{PUBLIC}/compute/v2.1/servers?limit=1&marker=a4"


def test_marker_of_a_filtered_out_server_still_pages() -> None:
    assert ids(listing(marker="a3", name="web")) == ["a2", "a1"]


def test_default_limit_is_1000() -> None:
    many = [vm_pod(f"s{i:04d}", "2024-01-01T00:00:00Z") for i in range(1001)]
    body = listing(pods=many)
    assert len(body["servers"]) == 1000
    assert body["servers_links"][0]["href"].endswith("marker=s0001")  # no limit param: none added
    assert len(listing(pods=many, limit="5000")["servers"]) == 1000


def test_limit_0_is_an_empty_page_without_next_link() -> None:
    # Nova's get_limit_and_marker: min(max_limit, 0) is 0, and _get_collection_links offers no link then.
    assert listing(limit="0") == {"servers": []}
    assert listing(detail=True, limit="0") == {"servers": []}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "x"}, "Invalid input for query parameters limit. Value: x. 'x' does not match '^[0-9]*$'"),
        ({"limit": "-1"}, "Invalid input for query parameters limit. Value: -1. '-1' does not match"),
        ({"limit": "1.5"}, "Invalid input for query parameters limit. Value: 1.5."),
        ({"all_tenants": "maybe"}, "Unrecognized value 'maybe'"),
        ({"changes-since": "yesterday"}, "changes-since"),
    ],
)
def test_bad_list_queries_are_400_before_arktos(query: dict[str, str], message: str) -> None:
    reply = as_reply(server_list.list_servers(ctx(), request("GET", **query), {}))
    status, name, text = fault(reply)
    assert (status, name) == (400, "badRequest")
    assert message in text


def test_unknown_marker_is_400() -> None:
    forward = as_forward(server_list.list_servers(ctx(), request("GET", marker="nope"), {}))
    assert fault(forward.translate(pod_list(PODS))) == (400, "badRequest", "marker [nope] not found")


def test_list_refused_by_arktos_is_403() -> None:
    forward = as_forward(server_list.list_servers(ctx("system"), request("GET"), {}))
    assert fault(forward.translate(arktos_reply("16-pod-get-crosstenant.json")))[:2] == (403, "forbidden")


def test_list_with_unexpected_body_is_500() -> None:
    forward = as_forward(server_list.list_servers(ctx(), request("GET"), {}))
    assert fault(forward.translate(ArktosReply(200, {}, b"[]")))[:2] == (500, "computeFault")


# ---------------------------------------------------------------------------------------------------------
# GET, PUT, DELETE /servers/{id}


def test_show_server() -> None:
    forward = as_forward(server_item.show_server(ctx(), request("GET"), {"server_id": "a2"}))
    assert (forward.upstream.method, forward.upstream.path) == (
        "GET",
        "/api/v1/tenants/demo/namespaces/default/pods/a2",
    )
    assert forward.upstream.body is None
    reply = forward.translate(ArktosReply(200, {}, orjson.dumps(PODS[1])))
    assert reply.status == 200
    server = orjson.loads(reply.body)["server"]
    assert (server["id"], server["name"], server["status"]) == ("a2", "web-2", "ACTIVE")


def test_show_of_a_container_pod_is_404() -> None:
    forward = as_forward(server_item.show_server(ctx(), request("GET"), {"server_id": "c1"}))
    reply = forward.translate(ArktosReply(200, {}, orjson.dumps(container_pod("c1"))))
    assert fault(reply) == (404, "itemNotFound", "Instance c1 could not be found.")


def test_show_missing_is_instance_not_found() -> None:
    forward = as_forward(server_item.show_server(ctx(), request("GET"), {"server_id": "nope"}))
    assert fault(forward.translate(arktos_reply("11-pod-get-missing.json"))) == (
        404,
        "itemNotFound",
        "Instance nope could not be found.",
    )
    assert fault(forward.translate(arktos_reply("16-pod-get-crosstenant.json")))[:2] == (403, "forbidden")


def test_delete_server() -> None:
    forward = as_forward(server_item.delete_server(ctx(None), request("DELETE"), {"server_id": "p1"}))
    assert (forward.upstream.method, forward.upstream.path) == (
        "DELETE",
        "/api/v1/namespaces/default/pods/p1",
    )
    reply = forward.translate(arktos_reply("31-pod-delete.json"))
    assert (reply.status, reply.body) == (204, b"")
    assert "content-type" not in reply.headers
    gone = forward.translate(arktos_reply("32-pod-get-after-delete.json"))
    assert fault(gone) == (404, "itemNotFound", "Instance p1 could not be found.")


def test_rename_is_a_merge_patch_of_the_display_name() -> None:
    body = {"server": {"name": "renamed"}}
    forward = as_forward(server_item.update_server(ctx(), request("PUT", body=body), {"server_id": "a2"}))
    up = forward.upstream
    assert (up.method, up.path, up.content_type) == (
        "PATCH",
        "/api/v1/tenants/demo/namespaces/default/pods/a2",
        "application/merge-patch+json",
    )
    assert up.body is not None
    assert orjson.loads(up.body) == {"metadata": {"annotations": {keys.DISPLAY_NAME: "renamed"}}}
    patched = copy.deepcopy(PODS[1])
    patched["metadata"]["annotations"][keys.DISPLAY_NAME] = "renamed"
    reply = forward.translate(ArktosReply(200, {}, orjson.dumps(patched)))
    assert reply.status == 200
    server = orjson.loads(reply.body)["server"]
    assert server["name"] == "renamed"
    assert "OS-EXT-STS:vm_state" not in server


def test_update_access_ips_and_empty_update() -> None:
    body = {"server": {"accessIPv4": "192.0.2.9", "accessIPv6": "2001:db8::9"}}
    forward = as_forward(server_item.update_server(ctx(), request("PUT", body=body), {"server_id": "a2"}))
    assert forward.upstream.body is not None
    assert orjson.loads(forward.upstream.body) == {
        "metadata": {"annotations": {keys.ACCESS_IPV4: "192.0.2.9", keys.ACCESS_IPV6: "2001:db8::9"}}
    }
    empty = as_forward(
        server_item.update_server(ctx(), request("PUT", body={"server": {}}), {"server_id": "a2"})
    )
    assert empty.upstream.body == b"{}"


def test_access_ips_are_stored_canonical() -> None:
    # Nova's IPV6AddressField coerces through netaddr: the address is stored and shown in canonical form.
    body = {"server": {"accessIPv6": "2001:DB8:0:0:0::0009", "accessIPv4": "192.0.2.9"}}
    forward = as_forward(server_item.update_server(ctx(), request("PUT", body=body), {"server_id": "a2"}))
    assert forward.upstream.body is not None
    annotations = orjson.loads(forward.upstream.body)["metadata"]["annotations"]
    assert annotations == {keys.ACCESS_IPV4: "192.0.2.9", keys.ACCESS_IPV6: "2001:db8::9"}
    created = as_forward(create(with_fields(accessIPv6="FD00:0:0:0:0:0:0:1")))
    assert created.upstream.body is not None
    assert orjson.loads(created.upstream.body)["metadata"]["annotations"][keys.ACCESS_IPV6] == "fd00::1"


@pytest.mark.parametrize(
    "body",
    [
        {"server": {"name": ""}},
        {"server": {"flavorRef": "1"}},
        {"name": "x"},
        {"server": {"accessIPv4": "x"}},
    ],
)
def test_invalid_updates_are_400(body: Any) -> None:
    reply = as_reply(server_item.update_server(ctx(), request("PUT", body=body), {"server_id": "a2"}))
    assert fault(reply)[:2] == (400, "badRequest")


def test_update_of_a_missing_server() -> None:
    forward = as_forward(
        server_item.update_server(ctx(), request("PUT", body={"server": {"name": "n"}}), {"server_id": "x"})
    )
    assert (
        fault(forward.translate(arktos_reply("11-pod-get-missing.json")))[2]
        == "Instance x could not be found."
    )


# ---------------------------------------------------------------------------------------------------------
# Pure helpers


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("1", "1"),
        ("m1.tiny", "m1.tiny"),
        ("http://gw/compute/v2.1/flavors/1", "1"),
        ("http://gw/compute/flavors/42/", "42"),
        ("/v2/images/abc", "abc"),
    ],
)
def test_ref_id(ref: str, expected: str) -> None:
    assert create_request.ref_id(ref) == expected


def test_generated_reservation_ids() -> None:
    assert re.fullmatch(r"r-[a-z0-9]{8}", create_request.generate_reservation_id())
