"""Server metadata and lock/unlock with the real CLI and SDK through Envoy (issue 11 items 1 and 2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openstack
import pytest

from gateway_stack import Stack
from tests.e2e.conftest import Api, OpenStackCLI
from tests.e2e.test_server_actions import arktos_get, wait_status
from tests.polling import eventually

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.5.2-x86_64-disk"
NAME = "meta-lock-vm"


@pytest.fixture(scope="module")
def vm(cli: OpenStackCLI, demo_api: Api) -> Iterator[dict[str, Any]]:
    created = cli.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--wait", NAME)
    yield created
    # Whatever a failed test left: unlocked first, so the delete is allowed.
    demo_api.post(f"/servers/{created['id']}/action", json={"unlock": None})
    cli.run("server", "delete", "--wait", created["id"], check=False)


def pod_annotations(stack: Stack, sid: str) -> dict[str, str]:
    pod = arktos_get(stack, f"/api/v1/tenants/demo/namespaces/default/pods/{sid}").json()
    annotations: dict[str, str] = pod["metadata"]["annotations"]
    return annotations


def pod_writes(stack: Stack, before: int) -> list[tuple[str, str]]:
    return [call for call in stack.arktos_requests()[before:] if call[0] != "GET"]


def test_cli_sets_shows_and_unsets_properties(cli: OpenStackCLI, stack: Stack, vm: dict[str, Any]) -> None:
    cli.run("server", "set", "--property", "role=web", "--property", "tier=1", NAME)
    assert cli.json("server", "show", NAME)["properties"] == {"role": "web", "tier": "1"}
    cli.run("server", "unset", "--property", "role", NAME)
    assert cli.json("server", "show", NAME)["properties"] == {"tier": "1"}
    # Stored on the VM pod, in the gateway's metadata annotation.
    assert pod_annotations(stack, vm["id"])["openstack.arktos.io/metadata"] == '{"tier":"1"}'


def test_metadata_api_shapes_and_errors(demo_api: Api, stack: Stack, vm: dict[str, Any]) -> None:
    sid = vm["id"]
    replaced = demo_api.put(f"/servers/{sid}/metadata", json={"metadata": {"a": "1", "b": "2"}})
    assert (replaced.status_code, replaced.json()) == (200, {"metadata": {"a": "1", "b": "2"}})

    before = len(stack.arktos_requests())
    item = demo_api.put(f"/servers/{sid}/metadata/c", json={"meta": {"c": "3"}})
    assert (item.status_code, item.json()) == (200, {"meta": {"c": "3"}})
    # One conditional write of the pod.
    assert pod_writes(stack, before) == [("PATCH", f"/api/v1/tenants/demo/namespaces/default/pods/{sid}")]

    listed = demo_api.get(f"/servers/{sid}/metadata")
    assert (listed.status_code, listed.json()) == (200, {"metadata": {"a": "1", "b": "2", "c": "3"}})
    shown = demo_api.get(f"/servers/{sid}/metadata/b")
    assert (shown.status_code, shown.json()) == (200, {"meta": {"b": "2"}})
    merged = demo_api.post(f"/servers/{sid}/metadata", json={"metadata": {"a": "9"}})
    assert (merged.status_code, merged.json()) == (200, {"metadata": {"a": "9", "b": "2", "c": "3"}})
    gone = demo_api.delete(f"/servers/{sid}/metadata/c")
    assert (gone.status_code, gone.content) == (204, b"")

    missing = demo_api.get(f"/servers/{sid}/metadata/c")
    assert (missing.status_code, missing.json()) == (
        404,
        {"itemNotFound": {"code": 404, "message": "Metadata item was not found"}},
    )
    assert demo_api.delete(f"/servers/{sid}/metadata/c").json()["itemNotFound"]["message"] == (
        "Metadata item was not found"
    )
    mismatch = demo_api.put(f"/servers/{sid}/metadata/a", json={"meta": {"b": "1"}})
    assert (mismatch.status_code, mismatch.json()["badRequest"]["message"]) == (
        400,
        "Request body and URI mismatch",
    )
    blank = demo_api.post(f"/servers/{sid}/metadata", json={"metadata": {"": "x"}})
    assert blank.status_code == 400
    assert "does not match any of the regexes" in blank.json()["badRequest"]["message"]
    too_long = demo_api.post(f"/servers/{sid}/metadata", json={"metadata": {"k" * 256: "x"}})
    assert too_long.status_code == 400

    before = len(stack.arktos_requests())
    over = demo_api.post(f"/servers/{sid}/metadata", json={"metadata": {f"k{i}": "v" for i in range(127)}})
    assert (over.status_code, over.json()) == (
        403,
        {"forbidden": {"code": 403, "message": "Maximum number of metadata items exceeds 128"}},
    )
    assert pod_writes(stack, before) == []  # nothing half-written
    assert demo_api.get(f"/servers/{sid}/metadata").json() == {"metadata": {"a": "9", "b": "2"}}

    unknown = demo_api.get("/servers/00000000-0000-4000-8000-000000000000/metadata")
    assert unknown.status_code == 404
    # The writes are in the server's instance actions (the refused one is not).
    recorded = [
        a["action"] for a in demo_api.get(f"/servers/{sid}/os-instance-actions").json()["instanceActions"]
    ]
    assert recorded.count("update_metadata") >= 3
    assert "delete_metadata" in recorded


def test_lock_refuses_delete_and_writes_until_unlocked(
    cli: OpenStackCLI, demo_api: Api, stack: Stack, vm: dict[str, Any]
) -> None:
    sid = vm["id"]
    cli.run("server", "lock", NAME)
    assert pod_annotations(stack, sid)["openstack.arktos.io/locked-by"] == "owner"
    locked = f"Instance {sid} is locked"

    refused = cli.run("server", "delete", NAME, check=False)
    assert refused.returncode != 0
    assert locked in refused.stderr
    for body in ({"os-stop": None}, {"reboot": {"type": "SOFT"}}, {"createImage": {"name": "s"}}):
        reply = demo_api.post(f"/servers/{sid}/action", json=body)
        assert (reply.status_code, reply.json()) == (
            409,
            {"conflictingRequest": {"code": 409, "message": locked}},
        )
    meta = demo_api.post(f"/servers/{sid}/metadata", json={"metadata": {"x": "1"}})
    assert (meta.status_code, meta.json()["conflictingRequest"]["message"]) == (409, locked)
    # Lock is idempotent (Nova: no change for the owner).
    assert demo_api.post(f"/servers/{sid}/action", json={"lock": None}).status_code == 202
    assert cli.json("server", "show", NAME)["status"] == "ACTIVE"

    cli.run("server", "unlock", NAME)
    assert "openstack.arktos.io/locked-by" not in pod_annotations(stack, sid)
    events = [event["Action"] for event in cli.json("server", "event", "list", NAME)]
    assert events.count("lock") == 1  # the second lock changed nothing, as in Nova
    assert "unlock" in events
    # Unlocked: the writes go through again (the patch's lock test passes on the absent annotation).
    cli.run("server", "stop", NAME)
    wait_status(cli, NAME, "SHUTOFF")
    cli.run("server", "start", NAME)
    wait_status(cli, NAME, "ACTIVE")


def test_sdk_lock_and_metadata(
    conn: openstack.connection.Connection, demo_api: Api, vm: dict[str, Any]
) -> None:
    server = conn.compute.get_server(vm["id"])
    conn.compute.set_server_metadata(server, sdk="yes")
    assert conn.compute.get_server_metadata(server).metadata["sdk"] == "yes"
    conn.compute.lock_server(server)
    with pytest.raises(openstack.exceptions.ConflictException, match="is locked"):
        conn.compute.delete_server_metadata(server, ["sdk"])
    conn.compute.unlock_server(server)
    conn.compute.delete_server_metadata(server, ["sdk"])
    eventually(
        "the sdk item to go",
        lambda: (
            True if "sdk" not in demo_api.get(f"/servers/{vm['id']}/metadata").json()["metadata"] else None
        ),
    )
