"""Flavor management for administrators (issue 18 item 3) with the openstack CLI: a private flavor for one
project, its extra specs, who sees it, who may write, and its deletion. The flavors live in the system
tenant's ``openstack-flavors`` ConfigMap; Arktos's RBAC decides who may write it (the administrator may,
demo may not)."""

from __future__ import annotations

import uuid

import pytest

from gateway_stack import Stack
from tests.e2e.conftest import ADMIN_TOKEN, Api, OpenStackCLI

pytestmark = pytest.mark.e2e


def test_private_flavor_for_a_project_with_properties(
    stack: Stack, admin_cli: OpenStackCLI, demo_api: Api, alt_api: Api
) -> None:
    name = f"f1-{uuid.uuid4().hex[:6]}"
    created = admin_cli.json(
        "flavor",
        "create",
        "--private",
        "--project",
        "demo",
        "--ram",
        "256",
        "--disk",
        "1",
        "--vcpus",
        "1",
        name,
    )
    flavor_id = created["id"]
    try:
        assert created["name"] == name
        assert created["os-flavor-access:is_public"] is False
        admin_cli.run("flavor", "set", "--property", "hw:cpu_policy=dedicated", name)
        shown = admin_cli.json("flavor", "show", name)
        assert "hw:cpu_policy" in str(shown["properties"]), shown
        access = admin_cli.json("flavor", "show", name)["access_project_ids"]
        assert access == ["demo"], access

        # demo sees it (private, with access), alt does not; the specs are demo's to read.
        demo_ids = [f["id"] for f in demo_api.get("/flavors").json()["flavors"]]
        assert flavor_id in demo_ids
        alt_ids = [f["id"] for f in alt_api.get("/flavors").json()["flavors"]]
        assert flavor_id not in alt_ids
        specs = demo_api.get(f"/flavors/{flavor_id}/os-extra_specs")
        assert specs.json() == {"extra_specs": {"hw:cpu_policy": "dedicated"}}

        # demo may not manage flavors: Arktos refuses its write of the system tenant's ConfigMap.
        refused = demo_api.post(f"/flavors/{flavor_id}/os-extra_specs", json={"extra_specs": {"x": "y"}})
        assert refused.status_code == 403, refused.text
        assert refused.json()["forbidden"]["message"] == (
            "Policy doesn't allow os_compute_api:os-flavor-extra-specs:create to be performed."
        )
        taken = demo_api.post("/flavors", json={"flavor": {"name": name, "ram": 1, "vcpus": 1, "disk": 0}})
        assert taken.status_code == 403, taken.text  # not "already exists": demo may not know it
    finally:
        admin_cli.run("flavor", "delete", flavor_id)
    assert flavor_id not in [f["id"] for f in demo_api.get("/flavors").json()["flavors"]]


def test_description_update_at_2_55_raw_http(stack: Stack, demo_api: Api) -> None:
    """``PUT /flavors/{id}`` (Nova 2.55): the administrator changes a flavor's description, demo reads it and
    may not change it (Arktos refuses its write), and below 2.55 the method does not exist (Nova's 404)."""
    admin = Api(stack.public_url, ADMIN_TOKEN, None)
    v255 = {"OpenStack-API-Version": "compute 2.55"}
    name = f"fd-{uuid.uuid4().hex[:6]}"
    body = {"flavor": {"name": name, "ram": 128, "vcpus": 1, "disk": 1, "description": "before"}}
    created = admin.post("/flavors", json=body, headers=v255)
    assert created.status_code == 200, created.text
    flavor_id = created.json()["flavor"]["id"]
    try:
        below = admin.put(
            f"/flavors/{flavor_id}",
            json={"flavor": {"description": "x"}},
            headers={"OpenStack-API-Version": "compute 2.54"},
        )
        assert below.status_code == 404, below.text
        assert below.json() == {"itemNotFound": {"code": 404, "message": "The resource could not be found."}}

        updated = admin.put(f"/flavors/{flavor_id}", json={"flavor": {"description": "after"}}, headers=v255)
        assert updated.status_code == 200, updated.text
        assert updated.headers["OpenStack-API-Version"] == "compute 2.55"
        shown = updated.json()["flavor"]
        assert (shown["id"], shown["name"], shown["description"]) == (flavor_id, name, "after")
        seen = demo_api.get(f"/flavors/{flavor_id}", headers=v255)
        assert seen.json()["flavor"]["description"] == "after", seen.text

        mine = {"flavor": {"description": "mine"}}
        refused = demo_api.put(f"/flavors/{flavor_id}", json=mine, headers=v255)
        assert refused.status_code == 403, refused.text
        assert refused.json()["forbidden"]["message"] == (
            "Policy doesn't allow os_compute_api:os-flavor-manage:update to be performed."
        )
        invalid = admin.put(f"/flavors/{flavor_id}", json={"flavor": {"name": "x"}}, headers=v255)
        assert invalid.status_code == 400, invalid.text
        missing = admin.put("/flavors/no-such-flavor", json={"flavor": {"description": "x"}}, headers=v255)
        assert missing.status_code == 404, missing.text
        assert missing.json()["itemNotFound"]["message"] == "Flavor no-such-flavor could not be found."
        assert admin.get(f"/flavors/{flavor_id}", headers=v255).json()["flavor"]["description"] == "after"
    finally:
        assert admin.delete(f"/flavors/{flavor_id}").status_code == 202
