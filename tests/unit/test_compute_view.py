"""extproc.compute.server_view: pod -> Nova server, compared with DevStack's own replies."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from extproc import annotations as keys
from extproc.compute.server_fields import addresses, mac_address, parse_time, updated_at
from extproc.compute.server_view import ServerView
from tests.shared_fixtures import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES
DEVSTACK_URL = "http://172.31.10.216"
SERVER_ID = "bad005cf-17e1-48ad-b9f7-e9f9352beb13"
IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"
IMAGE_URL = "download.cirros-cloud.net/0.5.2/cirros-0.5.2-x86_64-disk.img"
PROJECT = "135f59752049436e95ea0642343340ae"


def devstack(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "devstack" / name).read_text())
    return loaded


def arktos_body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "arktos" / name).read_text())["body"]
    return loaded


def recorded_show() -> dict[str, Any]:
    server = devstack("10-get-compute-v2-1-servers-bad005cf-17e1-48ad-b9f7-e9f9352beb13.json")[
        "response_body"
    ]
    return {k: v for k, v in server["server"].items() if not k.startswith("OS-EXT-SRV-ATTR:")}


def gateway_pod(**status: Any) -> dict[str, Any]:
    """The pod the gateway creates for fixture 09's request, as Arktos returns it (shape of fixture 09)."""
    pod = copy.deepcopy(arktos_body("09-pod-get.json"))
    pod["metadata"].update(
        name=SERVER_ID,
        tenant=PROJECT,
        creationTimestamp="2021-11-16T22:51:56Z",
        labels={keys.RESERVATION_ID: "r-abcd1234"},
        annotations={
            keys.DISPLAY_NAME: "test-2",
            keys.FLAVOR_ID: "1",
            keys.IMAGE_ID: IMAGE_ID,
            keys.USER_ID: "08c04c8e508c4a549df8302573e97dfb",
            keys.METADATA: "{}",
            keys.CREATED_BY: keys.CREATED_BY_GATEWAY,
        },
    )
    pod["spec"]["virtualMachine"]["keyPairName"] = "default"
    pod["status"].update(status)
    return pod


def running_pod() -> dict[str, Any]:
    pod = gateway_pod(
        phase="Running",
        podIP="10.0.0.7",
        startTime="2021-11-16T22:52:03Z",
        conditions=[
            {"type": "Ready", "status": "True", "lastTransitionTime": "2021-11-16T22:52:10Z"},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2021-11-16T22:51:57Z"},
        ],
        virtualMachineStatus={"state": "active", "powerState": "running", "ready": True, "restartCount": 0},
    )
    pod["spec"]["nodeName"] = "node-a"
    return pod


def catalog_lookup(tenant: str | None, url: str) -> str | None:
    return IMAGE_ID if url == IMAGE_URL else None


DEVSTACK_VIEW = ServerView(DEVSTACK_URL, None, catalog_lookup)


def test_building_server_equals_devstack_fixture_10() -> None:
    shown = DEVSTACK_VIEW.show(gateway_pod())
    expected = recorded_show()
    assert shown == expected
    assert list(shown) == list(expected)  # Nova's key order too


def test_create_reply_matches_devstack_fixture_09() -> None:
    recorded = devstack("09-post-compute-v2-1-servers.json")["response_body"]["server"]
    # Nova with instance passwords disabled: the recorded reply without adminPass (see README).
    created = DEVSTACK_VIEW.create(SERVER_ID)
    assert created == {key: value for key, value in recorded.items() if key != "adminPass"}


def test_active_server() -> None:
    shown = DEVSTACK_VIEW.show(running_pod())
    # With a port (an address), Nova adds the port's security groups.
    assert set(shown) == set(recorded_show()) | {"security_groups"}
    assert shown["security_groups"] == [{"name": "default"}]
    assert shown["status"] == "ACTIVE"
    assert (
        shown["OS-EXT-STS:vm_state"],
        shown["OS-EXT-STS:task_state"],
        shown["OS-EXT-STS:power_state"],
    ) == (
        "active",
        None,
        1,
    )
    assert shown["progress"] == 100
    assert shown["hostId"] == hashlib.sha224((PROJECT + "node-a").encode()).hexdigest()
    assert shown["OS-EXT-AZ:availability_zone"] == "nova"
    assert shown["OS-SRV-USG:launched_at"] == "2021-11-16T22:52:03.000000"
    assert shown["created"] == "2021-11-16T22:51:56Z"
    assert shown["updated"] == "2021-11-16T22:52:10Z"
    mac = shown["addresses"]["default"][0]["OS-EXT-IPS-MAC:mac_addr"]
    assert shown["addresses"] == {
        "default": [
            {"version": 4, "addr": "10.0.0.7", "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": mac}
        ]
    }
    assert mac.startswith("fa:16:3e:") and len(mac) == 17
    # Booted without a key: the default keypair Arktos needed is not shown as the user's key.
    assert shown["key_name"] is None
    assert "fault" not in shown


def test_mac_is_stable_and_per_server() -> None:
    pod = running_pod()
    other = running_pod()
    other["metadata"]["name"] = "another"
    assert mac_address(pod, "10.0.0.7") == mac_address(copy.deepcopy(pod), "10.0.0.7")
    assert mac_address(pod, "10.0.0.7") != mac_address(other, "10.0.0.7")


def test_network_label_and_ipv6() -> None:
    pod = running_pod()
    pod["metadata"]["labels"]["arktos.futurewei.com/network"] = "net-1"
    pod["status"]["podIPs"] = [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}]
    found = addresses(pod)
    assert list(found) == ["net-1"]
    assert [(a["version"], a["addr"]) for a in found["net-1"]] == [(4, "10.0.0.7"), (6, "fd00::7")]
    assert addresses(pod, extended=False) == {
        "net-1": [{"version": 4, "addr": "10.0.0.7"}, {"version": 6, "addr": "fd00::7"}]
    }


def test_links_repeat_the_url_project() -> None:
    view = ServerView("http://gw:8080", "demo", catalog_lookup)
    shown = view.show(gateway_pod())
    assert shown["links"] == [
        {"rel": "self", "href": f"http://gw:8080/compute/v2.1/demo/servers/{SERVER_ID}"},
        {"rel": "bookmark", "href": f"http://gw:8080/compute/demo/servers/{SERVER_ID}"},
    ]
    assert shown["image"]["links"] == [
        {"rel": "bookmark", "href": f"http://gw:8080/compute/demo/images/{IMAGE_ID}"}
    ]
    assert shown["flavor"]["links"] == [{"rel": "bookmark", "href": "http://gw:8080/compute/demo/flavors/1"}]


def test_pod_not_made_by_the_gateway() -> None:
    """A VM pod created directly in Arktos (fixture 09): names, image and key come from the spec."""
    shown = DEVSTACK_VIEW.show(arktos_body("09-pod-get.json"))
    assert shown["id"] == shown["name"] == "p1"
    assert shown["tenant_id"] == "tenant1"
    assert shown["user_id"] == ""
    assert shown["metadata"] == {}
    assert shown["image"]["id"] == IMAGE_ID  # reverse lookup by the VM image URL
    assert shown["flavor"] == ""
    assert shown["key_name"] == "k1"
    assert shown["created"] == ""  # the fixture's timestamp is a placeholder
    unknown_image = ServerView(DEVSTACK_URL, None, lambda tenant, url: None).show(
        arktos_body("09-pod-get.json")
    )
    assert unknown_image["image"] == ""


def test_user_metadata_and_key_and_access_ips() -> None:
    pod = gateway_pod()
    pod["metadata"]["annotations"].update(
        {
            keys.METADATA: '{"role": "web", "tier": "1"}',
            keys.KEY_NAME: "mykey",
            keys.ACCESS_IPV4: "192.0.2.1",
        }
    )
    shown = DEVSTACK_VIEW.show(pod)
    assert shown["metadata"] == {"role": "web", "tier": "1"}
    assert shown["key_name"] == "mykey"
    assert shown["accessIPv4"] == "192.0.2.1"
    assert shown["accessIPv6"] == ""


def test_access_ips_default_to_the_vm_address_the_user_did_not_set() -> None:
    # NOTE: "may be automatically set by the provider" (Nova's API reference); openstacksdk then takes the
    # VM's address as the public one and asks for no floating IP.
    pod = running_pod()
    pod["status"]["podIPs"] = [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}]
    shown = DEVSTACK_VIEW.show(pod)
    assert (shown["accessIPv4"], shown["accessIPv6"]) == ("10.0.0.7", "fd00::7")
    pod["metadata"]["annotations"][keys.ACCESS_IPV4] = "192.0.2.1"
    assert DEVSTACK_VIEW.show(pod)["accessIPv4"] == "192.0.2.1"
    assert DEVSTACK_VIEW.show(gateway_pod())["accessIPv4"] == ""


def test_recorded_access_ip_shows_canonical() -> None:
    pod = gateway_pod()
    pod["metadata"]["annotations"][keys.ACCESS_IPV6] = "2001:0DB8:0000::0001"
    assert DEVSTACK_VIEW.show(pod)["accessIPv6"] == "2001:db8::1"


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"text"'])
def test_bad_metadata_annotation_shows_empty(raw: str) -> None:
    pod = gateway_pod()
    pod["metadata"]["annotations"][keys.METADATA] = raw
    assert DEVSTACK_VIEW.show(pod)["metadata"] == {}


def test_error_server_has_a_fault_and_no_progress() -> None:
    pod = gateway_pod(phase="Failed", message="image pull failed")
    shown = DEVSTACK_VIEW.show(pod)
    assert shown["status"] == "ERROR"
    assert shown["fault"] == {"code": 500, "created": "2021-11-16T22:51:56Z", "message": "image pull failed"}
    assert "progress" not in shown


def test_shutoff_server_has_no_progress() -> None:
    pod = gateway_pod(phase="NoSchedule", virtualMachineStatus={"state": "stopped", "powerState": "shutdown"})
    pod["spec"]["virtualMachine"]["powerSpec"] = "Shutdown"
    shown = DEVSTACK_VIEW.show(pod)
    assert shown["status"] == "SHUTOFF"
    assert shown["OS-EXT-STS:power_state"] == 4
    assert "progress" not in shown
    assert "fault" not in shown


def test_deleting_server() -> None:
    pod = running_pod()
    pod["metadata"]["deletionTimestamp"] = "2021-11-16T22:55:00Z"
    shown = DEVSTACK_VIEW.show(pod)
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("ACTIVE", "deleting")


def test_pending_task_is_passed_to_the_table() -> None:
    shown = DEVSTACK_VIEW.show(running_pod(), pending_task="rebooting")
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("REBOOT", "rebooting")


def test_basic_and_index() -> None:
    assert DEVSTACK_VIEW.index([gateway_pod()]) == [
        {"id": SERVER_ID, "name": "test-2", "links": recorded_show()["links"]}
    ]


def test_update_reply_has_no_extension_attributes() -> None:
    updated = DEVSTACK_VIEW.update(running_pod())
    assert not any(k.startswith(("OS-EXT-", "OS-SRV-USG", "os-extended-volumes")) for k in updated)
    assert {"key_name", "config_drive", "security_groups"}.isdisjoint(updated)
    assert updated["addresses"] == {"default": [{"version": 4, "addr": "10.0.0.7"}]}
    assert updated["status"] == "ACTIVE"
    assert updated["progress"] == 100


def test_time_helpers() -> None:
    assert parse_time("2021-11-16T22:51:56Z") == parse_time("2021-11-16T23:51:56+01:00")
    assert parse_time("<creationTimestamp>") is None
    assert parse_time(None) is None
    assert updated_at({"metadata": {}}) is None
