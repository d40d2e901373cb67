"""Server groups through Envoy with the real `openstack` CLI: the group is a ConfigMap of the tenant, and
servers created with `--hint group=<id>` carry its label and policy as pod anti-affinity in Arktos."""

from __future__ import annotations

import time
import uuid
from typing import Any

import openstack
import pytest
import requests

from extproc.annotations import SERVER_GROUP_LABEL
from extproc.server_group_store import configmap_name
from gateway_stack import Stack
from tests.e2e.conftest import ADMIN_TOKEN, Api, OpenStackCLI, wait_deleted

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.5.2-x86_64-disk"


def arktos_get(stack: Stack, path: str) -> requests.Response:
    return requests.get(
        stack.arktos_url + path,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        verify=str(stack.ca_path) if stack.ca_path else True,
        timeout=10,
    )


def demo_pod(stack: Stack, name: str) -> dict[str, Any]:
    found: dict[str, Any] = arktos_get(stack, f"/api/v1/tenants/demo/namespaces/default/pods/{name}").json()
    return found


def demo_pod_names(stack: Stack) -> set[str]:
    listed = arktos_get(stack, "/api/v1/tenants/demo/namespaces/default/pods").json()
    return {p["metadata"]["name"] for p in listed["items"]}


def members_once_seen(api: Api, group_id: str, expected: set[str], timeout: float = 20.0) -> set[str]:
    """The group's members once they include ``expected`` (members come from the processor's watch of the
    pods, which may lag the create by a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        shown = api.get(f"{api.compute}/os-server-groups/{group_id}")
        assert shown.status_code == 200, shown.text
        members = set(shown.json()["server_group"]["members"])
        if expected <= members or time.monotonic() > deadline:
            return members
        time.sleep(0.5)


def test_cli_anti_affinity_group_and_its_members(
    stack: Stack, cli: OpenStackCLI, demo_api: Api, alt_api: Api
) -> None:
    # The CLI where the issue names it (create, the hints, show, delete); raw API calls for the exact shapes.
    created = cli.json("server", "group", "create", "--policy", "anti-affinity", "e2e-g1")
    group_id = created["id"]
    assert str(uuid.UUID(group_id)) == group_id
    assert created["name"] == "e2e-g1"
    groups = f"{demo_api.compute}/os-server-groups"
    servers: list[str] = []
    try:
        # The group is a ConfigMap of the demo tenant.
        stored = arktos_get(
            stack, f"/api/v1/tenants/demo/namespaces/default/configmaps/{configmap_name(group_id)}"
        )
        assert stored.status_code == 200, stored.text
        assert stored.json()["data"]["policy"] == "anti-affinity"

        # Nova's raw shapes (2.1).
        expected = {
            "id": group_id,
            "name": "e2e-g1",
            "policies": ["anti-affinity"],
            "members": [],
            "metadata": {},
        }
        shown = demo_api.get(f"{groups}/{group_id}")
        assert shown.status_code == 200, shown.text
        assert shown.json() == {"server_group": expected}
        listed = demo_api.get(groups)
        assert listed.status_code == 200, listed.text
        assert expected in listed.json()["server_groups"]
        # Another tenant's user learns nothing: in its own project the group does not exist, and in demo's
        # Arktos refuses it.
        assert alt_api.get(f"{alt_api.compute}/os-server-groups/{group_id}").status_code == 404
        foreign = alt_api.get(f"{groups}/{group_id}")
        assert foreign.status_code in (401, 403), foreign.text

        # Two servers with the group hint: each pod carries the group label and the required anti-affinity.
        for name in ("sg-vm1", "sg-vm2"):
            server = cli.json(
                "server",
                "create",
                "--image",
                IMAGE,
                "--flavor",
                "m1.tiny",
                "--hint",
                f"group={group_id}",
                name,
            )
            servers.append(server["id"])
        term = {
            "labelSelector": {"matchLabels": {SERVER_GROUP_LABEL: group_id}},
            "topologyKey": "kubernetes.io/hostname",
        }
        for sid in servers:
            pod = demo_pod(stack, sid)
            assert pod["metadata"]["labels"][SERVER_GROUP_LABEL] == group_id
            assert pod["spec"]["affinity"] == {
                "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
            }
        assert members_once_seen(demo_api, group_id, set(servers)) == set(servers)
        cli_members = cli.json("server", "group", "show", "e2e-g1")["members"]
        assert set(servers) <= set(cli_members if isinstance(cli_members, list) else cli_members.split(", "))

        # An unknown group: Nova's 400, and nothing created.
        before = demo_pod_names(stack)
        unknown = str(uuid.uuid4())
        body = {
            "server": {"name": "sg-vm3", "imageRef": image_id_of(demo_api), "flavorRef": "1"},
            "os:scheduler_hints": {"group": unknown},
        }
        refused = demo_api.post("/servers", json=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["badRequest"]["message"] == f"Instance group {unknown} could not be found."
        assert demo_pod_names(stack) <= before
    finally:
        for sid in servers:
            assert demo_api.delete(f"/servers/{sid}").status_code == 204
        for sid in servers:
            wait_deleted(demo_api, sid, timeout=120)
        cli.run("server", "group", "delete", group_id)
    gone = demo_api.get(f"{groups}/{group_id}")
    assert gone.status_code == 404
    assert gone.json()["itemNotFound"]["message"] == f"Instance group {group_id} could not be found."
    assert all(g["id"] != group_id for g in demo_api.get(groups).json()["server_groups"])


def image_id_of(api: Api) -> str:
    images = api.get("/images").json()["images"]
    return str(next(i["id"] for i in images if i["name"] == IMAGE))


def test_soft_policies_need_microversion_2_15(demo_api: Api) -> None:
    # The gateway serves 2.1, where Nova's schema knows affinity and anti-affinity only.
    body = {"server_group": {"name": "soft", "policies": ["soft-anti-affinity"]}}
    refused = demo_api.post(f"{demo_api.compute}/os-server-groups", json=body)
    assert refused.status_code == 400
    assert "is not one of ['anti-affinity', 'affinity']" in refused.json()["badRequest"]["message"]


def test_sdk_affinity_group_by_name(stack: Stack, conn: openstack.connection.Connection) -> None:
    # openstacksdk finds the group by name (a GET by name is Nova's 404, then the list) and sends its id as
    # the scheduler hint.
    group = conn.create_server_group("e2e-sdk-g", policies=["affinity"])
    try:
        assert group.policies == ["affinity"]
        server = conn.create_server("sg-sdk", image=IMAGE, flavor="m1.tiny", group="e2e-sdk-g", wait=True)
        try:
            assert server.status == "ACTIVE"
            pod = demo_pod(stack, server.id)
            assert pod["metadata"]["labels"][SERVER_GROUP_LABEL] == group.id
            required = pod["spec"]["affinity"]["podAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"
            ]
            assert required[0]["labelSelector"] == {"matchLabels": {SERVER_GROUP_LABEL: group.id}}
            deadline = time.monotonic() + 20
            while server.id not in conn.compute.get_server_group(group.id).member_ids:
                assert time.monotonic() < deadline, "the server never showed as a member"
                time.sleep(0.5)
        finally:
            conn.delete_server(server.id, wait=True, timeout=120)
    finally:
        assert conn.delete_server_group(group.id)
    assert conn.compute.find_server_group("e2e-sdk-g") is None
