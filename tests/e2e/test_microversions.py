"""Microversions 2.1 to 2.104 end to end (issue 18 item 1): raw requests at gated microversions through the
real Envoy and processor, and the clients that negotiate (openstacksdk, novaclient, the openstack CLI) at the
version they choose and at 2.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openstack
import pytest
from novaclient import client as nova_client
from openstack.config import OpenStackConfig

from gateway_stack import Stack
from tests.e2e.conftest import Api, OpenStackCLI
from tests.polling import eventually

pytestmark = pytest.mark.e2e

IMAGE = "6db08272-a856-49da-8909-7c4c73ab0bac"


def at(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {version}"}


def test_version_document_latest_and_the_reply_headers(demo_api: Api) -> None:
    listed = demo_api.get("/compute/")
    (current,) = [v for v in listed.json()["versions"] if v["id"] == "v2.1"]
    assert (current["min_version"], current["version"]) == ("2.1", "2.104")
    for asked, served in (("latest", "2.104"), ("2.47", "2.47"), ("2.104", "2.104")):
        reply = demo_api.get("/flavors", headers=at(asked))
        assert reply.status_code == 200, reply.text
        assert reply.headers["OpenStack-API-Version"] == f"compute {served}"
        assert reply.headers["X-OpenStack-Nova-API-Version"] == served
    refused = demo_api.get("/flavors", headers=at("2.105"))
    assert refused.status_code == 406
    assert refused.json()["computeFault"]["message"] == (
        "Version 2.105 is not supported by the API. Minimum is 2.1 and maximum is 2.104."
    )


@pytest.fixture(scope="module")
def tagged_server(demo_api: Api) -> Iterator[str]:
    body = {
        "server": {
            "name": "mv server",
            "imageRef": IMAGE,
            "flavorRef": "1",
            "networks": "auto",
            "description": "made at 2.100",
            "tags": ["red", "blue"],
            "hostname": "mv-host",
        },
        "os:scheduler_hints": {"same_host": [IMAGE]},
    }
    created = demo_api.post("/servers", json=body, headers=at("2.100"))
    assert created.status_code == 202, created.text
    sid = str(created.json()["server"]["id"])
    eventually(
        "ACTIVE",
        lambda: True if demo_api.get(f"/servers/{sid}").json()["server"]["status"] == "ACTIVE" else None,
    )
    yield sid
    demo_api.delete(f"/servers/{sid}")


def test_create_fields_are_refused_below_their_microversion(demo_api: Api) -> None:
    base = {"name": "never", "imageRef": IMAGE, "flavorRef": "1"}
    for version, extra in (
        ("2.18", {"description": "d"}),
        ("2.51", {"tags": ["t"]}),
        ("2.36", {"networks": "auto"}),
    ):
        reply = demo_api.post("/servers", json={"server": {**base, **extra}}, headers=at(version))
        assert reply.status_code == 400, (version, reply.text)
    # From 2.37 a create names its networks.
    missing = demo_api.post("/servers", json={"server": base}, headers=at("2.37"))
    assert missing.status_code == 400
    assert "'networks' is a required property" in missing.json()["badRequest"]["message"]


def test_show_gates(demo_api: Api, tagged_server: str) -> None:
    path = f"/servers/{tagged_server}"
    old = demo_api.get(path).json()["server"]
    for field in ("description", "tags", "locked", "OS-EXT-SRV-ATTR:hostname", "scheduler_hints"):
        assert field not in old
    assert set(old["flavor"]) == {"id", "links"}
    new = demo_api.get(path, headers=at("2.100")).json()["server"]
    assert new["description"] == "made at 2.100"
    assert new["tags"] == ["red", "blue"]
    assert new["locked"] is False and new["locked_reason"] is None
    assert new["OS-EXT-SRV-ATTR:hostname"] == "mv-host"
    assert new["pinned_availability_zone"] is None
    assert new["scheduler_hints"] == {"same_host": [IMAGE]}
    assert new["server_groups"] == []
    assert new["trusted_image_certificates"] is None
    assert new["flavor"]["original_name"] == "m1.tiny"
    assert (new["flavor"]["vcpus"], new["flavor"]["ram"]) == (1, 512)
    # 2.98: the image's standard properties, as the create recorded them (a dict, possibly empty).
    assert isinstance(new["image"]["properties"], dict)
    assert "properties" not in demo_api.get(path, headers=at("2.97")).json()["server"]["image"]
    at_246 = demo_api.get(path, headers=at("2.46")).json()["server"]
    assert set(at_246["flavor"]) == {"id", "links"}
    at_247 = demo_api.get(path, headers=at("2.47")).json()["server"]
    assert at_247["flavor"] == {k: v for k, v in new["flavor"].items()}


def test_put_reply_equals_show_from_2_75(demo_api: Api, tagged_server: str) -> None:
    path = f"/servers/{tagged_server}"
    before = demo_api.put(path, json={"server": {"description": "x"}}, headers=at("2.74"))
    assert before.status_code == 200, before.text
    assert "OS-EXT-STS:vm_state" not in before.json()["server"]
    after = demo_api.put(
        path, json={"server": {"description": "y", "hostname": "mv-host2"}}, headers=at("2.94")
    )
    assert after.status_code == 200, after.text
    shown = demo_api.get(path, headers=at("2.94")).json()["server"]
    assert after.json()["server"]["description"] == shown["description"] == "y"
    assert after.json()["server"]["OS-EXT-SRV-ATTR:hostname"] == "mv-host2"
    assert after.json()["server"]["OS-EXT-STS:vm_state"] == shown["OS-EXT-STS:vm_state"]
    refused = demo_api.put(path, json={"server": {"description": "z"}}, headers=at("2.18"))
    assert refused.status_code == 400


def test_tags_api_and_filters(demo_api: Api, tagged_server: str) -> None:
    tags = f"/servers/{tagged_server}/tags"
    assert demo_api.get(tags, headers=at("2.25")).status_code == 404
    assert demo_api.get(tags, headers=at("2.26")).json() == {"tags": ["red", "blue"]}
    added = demo_api.put(f"{tags}/green", headers=at("2.26"))
    assert added.status_code == 201, added.text
    assert added.headers["Location"].endswith(f"/servers/{tagged_server}/tags/green")
    assert demo_api.get(f"{tags}/green", headers=at("2.26")).status_code == 204
    assert demo_api.delete(f"{tags}/blue", headers=at("2.26")).status_code == 204
    missing = demo_api.get(f"{tags}/blue", headers=at("2.26"))
    assert missing.status_code == 404

    def listed(query: dict[str, str], version: str = "2.26") -> list[str]:
        reply = demo_api.get("/servers", params=query, headers=at(version))
        assert reply.status_code == 200, reply.text
        return [s["id"] for s in reply.json()["servers"]]

    assert tagged_server in listed({"tags": "red,green"})
    assert tagged_server not in listed({"tags": "red,blue"})
    assert tagged_server not in listed({"not-tags-any": "green"})
    # Below 2.26 the filter is no filter.
    assert tagged_server in listed({"tags": "nothing-has-this"}, "2.25")
    replaced = demo_api.put(tags, json={"tags": ["only"]}, headers=at("2.26"))
    assert replaced.json() == {"tags": ["only"]}


def test_list_query_strictness(demo_api: Api) -> None:
    assert demo_api.get("/servers", params={"bogus": "1"}, headers=at("2.74")).status_code == 200
    strict = demo_api.get("/servers", params={"bogus": "1"}, headers=at("2.75"))
    assert strict.status_code == 400
    assert (
        strict.json()["badRequest"]["message"]
        == "Additional properties are not allowed ('bogus' was unexpected)"
    )
    assert demo_api.get("/servers", params={"status": "NOPE"}, headers=at("2.37")).json() == {"servers": []}
    assert demo_api.get("/servers", params={"status": "NOPE"}, headers=at("2.38")).status_code == 400


def test_create_image_reply_from_2_45(demo_api: Api, tagged_server: str) -> None:
    reply = demo_api.post(
        f"/servers/{tagged_server}/action", json={"createImage": {"name": "mv-snap"}}, headers=at("2.45")
    )
    assert reply.status_code == 202, reply.text
    image_id = reply.json()["image_id"]
    assert "Location" not in reply.headers
    eventually(
        "snapshot active",
        lambda: (
            True if demo_api.get(f"/image/v2/images/{image_id}").json().get("status") == "active" else None
        ),
    )
    demo_api.delete(f"/image/v2/images/{image_id}")


# -- clients that negotiate --------------------------------------------------------------------------------


def sdk(stack: Stack, version: str | None) -> openstack.connection.Connection:
    """openstacksdk from the clouds.yaml `make run` writes; ``version`` pins the compute microversion."""
    extra: dict[str, Any] = {"compute_api_version": version} if version else {}
    region = OpenStackConfig(config_files=[str(stack.clouds_yaml)]).get_one(cloud="arktos", **extra)
    return openstack.connection.Connection(config=region)


@pytest.mark.parametrize("version", [None, "2.1"])
def test_openstacksdk_at_its_maximum_and_at_2_1(stack: Stack, version: str | None) -> None:
    conn = sdk(stack, version)
    # From 2.37 a create names its networks (openstacksdk's proxy sends what it is given).
    networks: dict[str, Any] = {} if version == "2.1" else {"networks": "auto"}
    server = conn.compute.create_server(
        name=f"sdk-mv-{version or 'max'}", image_id=IMAGE, flavor_id="1", **networks
    )
    try:
        server = conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
        shown = conn.compute.get_server(server.id)
        if version is None:
            # openstacksdk's Server negotiates up to 2.100: the embedded flavor and the later fields.
            assert shown.flavor.original_name == "m1.tiny"
            assert shown.tags == []
            assert shown.is_locked is False
        else:
            assert shown.flavor.id == "1"
        assert shown.id in {s.id for s in conn.compute.servers()}
        conn.compute.stop_server(shown)
        conn.compute.wait_for_server(shown, status="SHUTOFF", wait=120)
    finally:
        conn.compute.delete_server(server.id)
        conn.compute.wait_for_delete(server, wait=120)


@pytest.mark.parametrize("version", ["2.96", "2.1"])
def test_novaclient_at_its_maximum_and_at_2_1(stack: Stack, version: str) -> None:
    session = sdk(stack, None).session
    nova = nova_client.Client(version, session=session)
    kwargs: dict[str, Any] = {"nics": "auto"} if version != "2.1" else {}
    server = nova.servers.create(f"nova-mv-{version}", IMAGE, "1", **kwargs)
    try:
        eventually("ACTIVE", lambda: True if nova.servers.get(server.id).status == "ACTIVE" else None)
        shown = nova.servers.get(server.id)
        if version == "2.96":
            assert shown.flavor["original_name"] == "m1.tiny"
            assert shown.pinned_availability_zone is None
            shown.update(description="by novaclient")
            assert nova.servers.get(server.id).description == "by novaclient"
        else:
            assert shown.flavor["id"] == "1"
    finally:
        nova.servers.delete(server.id)


def test_cli_at_its_negotiated_version_and_at_2_1(cli: OpenStackCLI) -> None:
    created = cli.json("server", "create", "--image", IMAGE, "--flavor", "1", "--wait", "cli-mv")
    try:
        assert created["status"] == "ACTIVE"
        latest = cli.json("server", "show", created["id"])
        # The CLI negotiates the highest microversion both know: the flavor is embedded (2.47+).
        assert latest["flavor"]["original_name"] == "m1.tiny"
        old = cli.json("--os-compute-api-version", "2.1", "server", "show", created["id"])
        assert old["id"] == created["id"]
        assert old["flavor"] == "m1.tiny (1)"
    finally:
        cli.run("server", "delete", "--wait", created["id"])
