"""Nova's exact answers at the edges (issue 11 item 6), through Envoy with the real clients: limit=0,
canonical access addresses, networks and security groups a create may not ask for, every Nova server
action Arktos cannot perform, and the legacy /compute/v2 endpoint."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import openstack
import pytest
import requests
from keystoneauth1 import loading, session
from novaclient import client as nova_client

from gateway_stack import Stack
from tests.e2e.conftest import DEMO_TOKEN, Api, OpenStackCLI, wait_deleted

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.5.2-x86_64-disk"
MISSING = "0b8c3c5e-1d1f-4e5a-9a3b-6f7e8d9c0a1b"
# Every Nova server action Arktos has no counterpart for (forceDelete deletes; resetNetwork is Nova's 410).
ACTIONS = [
    "addFixedIp", "addFloatingIp", "addSecurityGroup", "changePassword", "confirmResize", "createBackup",
    "evacuate", "injectNetworkInfo", "migrate", "os-getConsoleOutput", "os-getRDPConsole",
    "os-getSPICEConsole", "os-getSerialConsole", "os-getVNCConsole", "os-migrateLive", "os-resetState",
    "pause", "removeFixedIp", "removeFloatingIp", "removeSecurityGroup", "rescue", "resize", "restore",
    "resume", "revertResize", "shelve", "shelveOffload", "suspend", "trigger_crash_dump", "unpause",
    "unrescue", "unshelve",
]  # fmt: skip


def fault(reply: Any) -> tuple[int, str]:
    ((_, value),) = reply.json().items()
    return reply.status_code, value["message"]


def action_body(action: str) -> dict[str, Any]:
    return {action: {"name": "default"} if "SecurityGroup" in action else None}


def first_microversion(action: str) -> dict[str, str]:
    """The header asking for the first microversion Nova has the action at (trigger_crash_dump: 2.17)."""
    return {"OpenStack-API-Version": "compute 2.17"} if action == "trigger_crash_dump" else {}


@pytest.fixture(scope="module")
def image_id(cli: OpenStackCLI) -> str:
    return str(cli.json("image", "show", IMAGE)["id"])


def create(api: Api, name: str, image: str, **extra: Any) -> str:
    body = {"server": {"name": name, "imageRef": image, "flavorRef": "1", **extra}}
    created = api.post("/servers", json=body)
    assert created.status_code == 202, created.text
    return str(created.json()["server"]["id"])


@pytest.fixture(scope="module")
def server(demo_api: Api, image_id: str) -> Iterator[str]:
    sid = create(demo_api, "edges-vm", image_id)
    yield sid
    demo_api.delete(f"/servers/{sid}")
    wait_deleted(demo_api, sid)


def test_limit_0_is_an_empty_page_without_next_link(demo_api: Api, server: str) -> None:
    for path in ("/servers", "/servers/detail"):
        reply = demo_api.get(path, params={"limit": "0"})
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"servers": []}
    # The server exists: a page of one shows it.
    assert demo_api.get("/servers", params={"limit": "1"}).json()["servers"]
    bad = demo_api.get("/servers", params={"limit": "-1"})
    assert fault(bad) == (
        400,
        "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'",
    )


def test_access_addresses_are_stored_and_shown_canonical(
    conn: openstack.connection.Connection, demo_api: Api, server: str
) -> None:
    conn.compute.update_server(server, access_ipv4="192.0.2.10", access_ipv6="2001:DB8:0:0::0A")
    shown = conn.compute.get_server(server)
    assert (shown.access_ipv4, shown.access_ipv6) == ("192.0.2.10", "2001:db8::a")
    raw = demo_api.get(f"/servers/{server}").json()["server"]
    assert raw["accessIPv6"] == "2001:db8::a"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # openstacksdk negotiates 2.100, where a create names its networks (2.37) and the schema checks that
        # network ids are UUIDs.
        ({"security_groups": [{"name": "web"}], "networks": "auto"}, "Security group web not found."),
        ({"networks": [{"uuid": MISSING}]}, f"Network {MISSING} could not be found."),
        (
            # Nova's schema (2.37+: a list of UUID networks, or "auto"/"none") reports the first error.
            {"networks": [{"uuid": "public"}]},
            "is not valid under any of the given schemas",
        ),
        ({"networks": [{"port": MISSING}]}, f"Port id {MISSING} could not be found."),
    ],
)
def test_create_with_a_group_or_network_that_does_not_exist_is_400_and_creates_nothing(
    conn: openstack.connection.Connection,
    stack: Stack,
    image_id: str,
    fields: dict[str, Any],
    message: str,
) -> None:
    name = f"edges-{uuid.uuid4().hex[:8]}"
    before = len(stack.arktos_requests())
    with pytest.raises(openstack.exceptions.BadRequestException) as refused:
        conn.compute.create_server(name=name, image_id=image_id, flavor_id="1", **fields)
    assert refused.value.status_code == 400
    assert message in str(refused.value)
    calls = stack.arktos_requests()[before:]
    assert not [c for c in calls if c[0] == "POST" and c[1].endswith("/pods")], calls
    assert list(conn.compute.servers(name=name)) == []


def test_create_in_the_default_group_on_auto_networking_works(demo_api: Api, image_id: str) -> None:
    body = {
        "server": {
            "name": "edges-default",
            "imageRef": image_id,
            "flavorRef": "1",
            "networks": "auto",
            "security_groups": [{"name": "default"}],
        }
    }
    # "auto" is 2.37's: below, Nova's schema has only the list.
    assert demo_api.post("/servers", json=body).status_code == 400
    created = demo_api.post("/servers", json=body, headers={"OpenStack-API-Version": "compute 2.37"})
    assert created.status_code == 202, created.text
    sid = str(created.json()["server"]["id"])
    assert demo_api.delete(f"/servers/{sid}").status_code == 204
    wait_deleted(demo_api, sid)


@pytest.mark.parametrize("action", [*ACTIONS, "forceDelete"])
def test_every_nova_action_on_a_missing_server_is_404(demo_api: Api, action: str) -> None:
    reply = demo_api.post(
        f"/servers/{MISSING}/action", json=action_body(action), headers=first_microversion(action)
    )
    assert fault(reply) == (404, f"Instance {MISSING} could not be found.")


def test_every_nova_action_on_an_existing_server_is_novas_answer(demo_api: Api, server: str) -> None:
    answers: dict[str, tuple[int, str]] = {}
    for action in ACTIONS:
        reply = demo_api.post(
            f"/servers/{server}/action", json=action_body(action), headers=first_microversion(action)
        )
        answers[action] = (reply.status_code, reply.text)
        assert "There is no such action" not in reply.text, action
    assert answers["addSecurityGroup"] == (202, "")
    for action in ("confirmResize", "revertResize"):
        assert answers[action][0] == 400
        assert "Instance has not been resized." in answers[action][1]
    for action in ("unpause", "resume", "unrescue", "unshelve", "shelveOffload", "restore"):
        assert answers[action][0] == 409
        assert f"Cannot '{action}' instance {server} while it is in vm_state" in answers[action][1]
    for action in set(ACTIONS) - {
        "addSecurityGroup", "confirmResize", "revertResize",
        "unpause", "resume", "unrescue", "unshelve", "shelveOffload", "restore",
    }:  # fmt: skip
        status, text = answers[action]
        assert status == 409, (action, text)
        assert f"Operation '{action}' not supported for instance {server}: Arktos" in text


def test_cli_pause_is_409_saying_why(cli: OpenStackCLI, server: str) -> None:
    paused = cli.run("server", "pause", server, check=False)
    assert paused.returncode != 0
    assert f"Operation 'pause' not supported for instance {server}: Arktos cannot pause a VM" in paused.stderr
    assert "ConflictException: 409" in paused.stderr


def test_sdk_security_groups_of_a_server_in_default_only(
    conn: openstack.connection.Connection, server: str
) -> None:
    conn.compute.add_security_group_to_server(server, {"name": "default"})  # type: ignore[arg-type]
    with pytest.raises(openstack.exceptions.ConflictException) as removed:
        conn.compute.remove_security_group_from_server(server, {"name": "default"})  # type: ignore[arg-type]
    assert "every server is in 'default' and cannot leave it" in str(removed.value)
    with pytest.raises(openstack.exceptions.NotFoundException) as other:
        conn.compute.add_security_group_to_server(server, {"name": "web"})  # type: ignore[arg-type]
    assert "Security group web is not found for project demo" in str(other.value)
    assert conn.compute.get_server(server).security_groups == [{"name": "default"}]


def test_force_delete_deletes_the_server(demo_api: Api, image_id: str) -> None:
    sid = create(demo_api, "edges-force", image_id)
    reply = demo_api.post(f"/servers/{sid}/action", json={"forceDelete": None})
    assert (reply.status_code, reply.content) == (202, b"")
    wait_deleted(demo_api, sid)


def test_legacy_v2_endpoint_is_the_api_without_microversions(
    stack: Stack, demo_api: Api, server: str
) -> None:
    versions = requests.get(f"{stack.public_url}/compute/", timeout=10).json()["versions"]
    (v20,) = [v for v in versions if v["id"] == "v2.0"]
    legacy = v20["links"][0]["href"]
    assert legacy == f"{stack.public_url}/compute/v2/"
    document = requests.get(legacy, timeout=10)
    assert document.status_code == 200
    assert document.json()["version"]["id"] == "v2.0"
    # A microversion header that v2.1 refuses (406) is ignored, and none is answered.
    asked = {"OpenStack-API-Version": "compute 2.105"}
    refused = demo_api.get("/servers", headers=asked)
    assert refused.status_code == 406
    listed = demo_api.get(f"{legacy}demo/servers", headers=asked)
    assert listed.status_code == 200, listed.text
    assert server in [s["id"] for s in listed.json()["servers"]]
    assert listed.headers["x-openstack-request-id"].startswith("req-")
    for absent in ("OpenStack-API-Version", "X-OpenStack-Nova-API-Version", "Vary"):
        assert absent not in listed.headers
    missing = demo_api.get(f"{legacy}demo/servers/{MISSING}")
    assert missing.status_code == 404
    assert missing.json()["itemNotFound"]["message"] == f"Instance {MISSING} could not be found."


def test_novaclient_on_the_legacy_v2_endpoint(stack: Stack, server: str) -> None:
    loader = loading.get_plugin_loader("password")
    auth = loader.load_from_options(
        auth_url=f"{stack.public_url}/identity/v3",
        username="demo",
        password=DEMO_TOKEN,
        project_name="demo",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    nova = nova_client.Client(
        "2", session=session.Session(auth=auth), endpoint_override=f"{stack.public_url}/compute/v2/demo"
    )
    assert server in [s.id for s in nova.servers.list()]
    assert nova.flavors.find(name="m1.tiny").id == "1"
