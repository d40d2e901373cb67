"""POST /servers (extproc.compute.server_create, create_request): a create's Arktos request and its reply."""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from typing import Any

import orjson
import pytest

from extproc import annotations as keys
from extproc import headers
from extproc.catalog import CatalogStore
from extproc.compute import create_request, server_create
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.keypair_store import KeypairStore
from extproc.messages import ArktosReply, Outcome
from extproc.tenant_proofs import TenantProofs
from extproc.users import user_id_for_token
from tests.unit.keypair_objects import keypair_configmap
from tests.unit.server_doubles import (
    DEVSTACK_NETWORK,
    IMAGE_ID,
    IMAGE_URL,
    PUBLIC,
    TOKEN,
    arktos,
    arktos_reply,
    as_forward,
    as_reply,
    create,
    ctx,
    devstack,
    fault,
    fixture_09_request,
    request,
    with_fields,
)


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
