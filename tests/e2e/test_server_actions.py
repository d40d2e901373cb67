"""Server actions (reboot, stop, start, createImage, rebuild) with the real clients through Envoy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openstack
import pytest
import requests

from gateway_stack import Stack
from tests.e2e.conftest import ADMIN_TOKEN, Api, OpenStackCLI
from tests.polling import eventually

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.5.2-x86_64-disk"


def arktos_get(stack: Stack, path: str) -> requests.Response:
    """Straight to Arktos (the simulator) as its administrator: what Arktos really holds."""
    return requests.get(
        stack.arktos_url + path,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        verify=str(stack.ca_path) if stack.ca_path else True,
        timeout=10,
    )


def restart_count(stack: Stack, sid: str) -> int:
    pod = arktos_get(stack, f"/api/v1/tenants/demo/namespaces/default/pods/{sid}").json()
    return int(pod["status"]["virtualMachineStatus"].get("restartCount", 0))


def wait_status(cli: OpenStackCLI, name: str, status: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        shown = cli.json("server", "show", name)
        return shown if shown["status"] == status and shown["OS-EXT-STS:task_state"] is None else None

    return eventually(f"{name} to be {status}", probe)


@pytest.fixture(scope="module")
def vm(cli: OpenStackCLI) -> Iterator[dict[str, Any]]:
    created = cli.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--wait", "act-vm")
    yield created
    cli.run("server", "delete", "--wait", created["id"], check=False)


def test_reboot_soft_and_hard(cli: OpenStackCLI, stack: Stack, vm: dict[str, Any]) -> None:
    before = restart_count(stack, vm["id"])
    cli.run("server", "reboot", "--wait", "act-vm")
    # --wait returns once the server is ACTIVE again; the reboot itself finishes on the node agent.
    eventually("the soft reboot", lambda: True if restart_count(stack, vm["id"]) == before + 1 else None)
    cli.run("server", "reboot", "--hard", "--wait", "act-vm")
    eventually("the hard reboot", lambda: True if restart_count(stack, vm["id"]) == before + 2 else None)
    shown = wait_status(cli, "act-vm", "ACTIVE")
    assert shown["OS-EXT-STS:vm_state"] == "active"


def test_reboot_is_one_arktos_call(stack: Stack, demo_api: Api, vm: dict[str, Any]) -> None:
    before = len(stack.arktos_requests())
    reply = demo_api.post(f"/servers/{vm['id']}/action", json={"reboot": {"type": "SOFT"}})
    assert reply.status_code == 202, reply.text
    assert reply.content == b""
    calls = stack.arktos_requests()[before:]
    assert calls == [("POST", f"/api/v1/tenants/demo/namespaces/default/pods/{vm['id']}/action")]
    # REBOOT while it runs: test_in_flight_states (a stack whose node agent is slow enough to see it).
    eventually(
        "the reboot to finish",
        lambda: True if demo_api.get(f"/servers/{vm['id']}").json()["server"]["status"] == "ACTIVE" else None,
    )


def test_stop_start_and_invalid_transitions(cli: OpenStackCLI, vm: dict[str, Any]) -> None:
    refused = cli.run("server", "start", "act-vm", check=False)
    assert refused.returncode != 0
    assert f"Cannot 'start' instance {vm['id']} while it is in vm_state active" in refused.stderr
    assert "409" in refused.stderr

    cli.run("server", "stop", "act-vm")
    shown = wait_status(cli, "act-vm", "SHUTOFF")
    assert shown["OS-EXT-STS:vm_state"] == "stopped"

    again = cli.run("server", "stop", "act-vm", check=False)
    assert again.returncode != 0
    assert f"Cannot 'stop' instance {vm['id']} while it is in vm_state stopped" in again.stderr
    soft = cli.run("server", "reboot", "act-vm", check=False)
    assert soft.returncode != 0
    assert f"Cannot 'reboot' instance {vm['id']} while it is in vm_state stopped" in soft.stderr

    cli.run("server", "start", "act-vm")
    shown = wait_status(cli, "act-vm", "ACTIVE")
    assert shown["OS-EXT-STS:power_state"] in ("Running", 1)


def test_snapshot_becomes_image_and_rebuild(
    cli: OpenStackCLI, stack: Stack, alt_api: Api, vm: dict[str, Any]
) -> None:
    cli.run("server", "image", "create", "--wait", "--name", "snap1", "act-vm")
    image = cli.json("image", "show", "snap1")
    assert image["status"] == "active"
    assert image["visibility"] == "private"
    assert image["owner"] == "demo"
    assert image["properties"]["image_type"] == "snapshot"
    assert image["properties"]["instance_uuid"] == vm["id"]
    assert "snap1" in {i["Name"] for i in cli.json("image", "list")}
    # Another tenant sees nothing of it.
    assert "snap1" not in {i["name"] for i in alt_api.get("/image/v2/images").json()["images"]}
    assert alt_api.get(f"/image/v2/images/{image['id']}").status_code == 404

    # Durable in Arktos, not only in the processor's memory.
    configmap = arktos_get(stack, "/api/v1/tenants/demo/namespaces/default/configmaps/openstack-images")
    assert configmap.status_code == 200
    assert image["id"] in configmap.json()["data"]
    assert any(IMAGE in v for v in configmap.json()["data"].values()), "the defaults are kept"

    before = len(stack.arktos_requests())
    cli.run("server", "rebuild", "--image", "snap1", "--wait", "act-vm")
    restores = [
        c for c in stack.arktos_requests()[before:] if c[0] == "POST" and c[1].endswith(f"{vm['id']}/action")
    ]
    assert len(restores) == 1
    actions = arktos_get(stack, "/api/v1/tenants/demo/namespaces/default/actions").json()["items"]
    snapshot_id = image["properties"]["arktos_snapshot_id"]
    assert any(
        (a["spec"].get("restoreAction") or {}).get("snapshotID") == snapshot_id
        and a["spec"]["podName"] == vm["id"]
        for a in actions
    )
    wait_status(cli, "act-vm", "ACTIVE")

    # Any other image is a rebuild of the VM from it (tests/e2e/test_image_lifecycle.py); the one it already
    # runs would not reinstall anything in Arktos.
    refused = cli.run("server", "rebuild", "--image", IMAGE, "act-vm", check=False)
    assert refused.returncode != 0
    assert "would not reinstall it" in refused.stderr
    assert "400" in refused.stderr


def test_snapshot_survives_a_processor_restart(cli: OpenStackCLI, stack: Stack, vm: dict[str, Any]) -> None:
    cli.run("server", "image", "create", "--wait", "--name", "snap-restart", "act-vm")
    image = cli.json("image", "show", "snap-restart")
    stack.restart_processor()
    assert cli.json("image", "show", "snap-restart")["status"] == "active"
    assert cli.json("image", "show", image["id"])["name"] == "snap-restart"

    # A snapshot the processor never recorded (say it died right after Arktos's 201): recorded on start.
    stack.stop_processor()
    removed = requests.patch(
        stack.arktos_url + "/api/v1/tenants/demo/namespaces/default/configmaps/openstack-images",
        data=f'[{{"op": "remove", "path": "/data/{image["id"]}"}}]',
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json-patch+json"},
        verify=str(stack.ca_path) if stack.ca_path else True,
        timeout=10,
    )
    assert removed.status_code == 200, removed.text
    assert image["id"] not in removed.json()["data"]
    stack.start_processor()

    def recorded() -> dict[str, Any] | None:
        data = arktos_get(stack, "/api/v1/tenants/demo/namespaces/default/configmaps/openstack-images")
        return data.json()["data"] if image["id"] in data.json()["data"] else None

    eventually("the snapshot to be recorded again", recorded)
    again = cli.json("image", "show", image["id"])
    assert again["status"] == "active"
    # The name given to createImage lived only in the dead processor's memory.
    assert again["name"] == f"snapshot-{image['id']}"


def test_action_errors(demo_api: Api, vm: dict[str, Any]) -> None:
    sid = vm["id"]
    # Nova's known actions get Nova's answers (test_nova_edges); only an action Nova does not know is this.
    unknown = demo_api.post(f"/servers/{sid}/action", json={"os-getConsoleLog": {}})
    assert unknown.status_code == 400
    assert unknown.json() == {
        "badRequest": {"code": 400, "message": "There is no such action: os-getConsoleLog"}
    }
    two = demo_api.post(f"/servers/{sid}/action", json={"os-stop": None, "os-start": None})
    assert two.status_code == 400
    assert two.json()["badRequest"]["message"] == "Malformed request body"
    bad = demo_api.post(f"/servers/{sid}/action", json={"reboot": {"type": "GENTLE"}})
    assert bad.status_code == 400
    assert "GENTLE" in bad.json()["badRequest"]["message"]
    missing = demo_api.post(
        "/servers/0b0c0d0e-0000-4000-8000-000000000000/action", json={"reboot": {"type": "HARD"}}
    )
    assert missing.status_code == 404
    assert missing.json()["itemNotFound"]["message"] == (
        "Instance 0b0c0d0e-0000-4000-8000-000000000000 could not be found."
    )
    snapshot = demo_api.post(f"/servers/{sid}/action", json={"createImage": {"name": "snap-raw"}})
    assert snapshot.status_code == 202
    assert snapshot.content == b""
    location = snapshot.headers["Location"]
    assert location.startswith(f"{demo_api.public_url}/image/v2/images/")
    # Visible at once (its state while in progress: test_in_flight_states), then active.
    assert demo_api.get(location).status_code == 200
    eventually("snapshot", lambda: True if demo_api.get(location).json()["status"] == "active" else None)


def test_openstacksdk_reboot_stop_start(conn: openstack.connection.Connection) -> None:
    server = conn.create_server(
        "sdk-act", image=IMAGE, flavor="m1.tiny", wait=True, timeout=120, auto_ip=False
    )

    def idle(status: str) -> Any:
        # NOTE: the SDK's wait_for_server returns at once when the object it holds already has the status
        # (ACTIVE before a reboot), so wait on fresh reads until Nova's task_state is back to null.
        def probe() -> Any:
            fresh = conn.compute.get_server(server.id)
            return fresh if fresh.status == status and fresh.task_state is None else None

        return eventually(f"sdk-act {status}", probe)

    try:
        conn.compute.reboot_server(server, "SOFT")
        idle("ACTIVE")
        conn.compute.stop_server(server)
        stopped = conn.compute.wait_for_server(server, status="SHUTOFF", wait=60)
        assert stopped.vm_state == "stopped"
        conn.compute.start_server(server)
        started = conn.compute.wait_for_server(server, status="ACTIVE", wait=60)
        assert started.power_state == 1
    finally:
        conn.delete_server(server.id, wait=True, timeout=120)
