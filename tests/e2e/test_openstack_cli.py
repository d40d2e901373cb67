"""The unmodified `openstack` CLI (python-openstackclient) against the gateway."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import OpenStackCLI
from tests.e2e.test_image_lifecycle import image_create

CIRROS_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"

pytestmark = pytest.mark.e2e


def test_flavor_list_shows_devstack_flavors(cli: OpenStackCLI) -> None:
    flavors = {f["Name"]: f for f in cli.json("flavor", "list")}
    assert flavors["m1.tiny"]["ID"] == "1"
    assert flavors["m1.tiny"]["RAM"] == 512
    assert flavors["m1.tiny"]["VCPUs"] == 1
    assert "ds4G" in flavors


def test_image_list_shows_the_builtin_image_and_the_projects_own(cli: OpenStackCLI) -> None:
    # Other tests add and remove the project's images: this one checks the images it controls, so it
    # passes in any order, alone or in the whole suite.
    created = image_create(cli, "--disk-format", "qcow2", "--container-format", "bare", "listed-own")
    try:
        images = {i["ID"]: (i["Name"], i["Status"]) for i in cli.json("image", "list")}
        assert images[CIRROS_ID] == ("cirros-0.5.2-x86_64-disk", "active")
        assert images[created["id"]] == ("listed-own", "queued")
    finally:
        cli.run("image", "delete", created["id"])
    assert created["id"] not in {i["ID"] for i in cli.json("image", "list")}


def test_server_lifecycle(cli: OpenStackCLI) -> None:
    created = cli.json(
        "server", "create", "--image", "cirros-0.5.2-x86_64-disk", "--flavor", "m1.tiny", "--wait", "vm1"
    )
    assert created["status"] == "ACTIVE"
    assert created["name"] == "vm1"
    server_id = created["id"]

    listed = {s["Name"]: s for s in cli.json("server", "list")}
    assert listed["vm1"]["ID"] == server_id
    assert listed["vm1"]["Status"] == "ACTIVE"
    assert listed["vm1"]["Image"] == "cirros-0.5.2-x86_64-disk"
    assert listed["vm1"]["Flavor"] == "m1.tiny"
    assert listed["vm1"]["Networks"], "a running VM has an address"

    shown = cli.json("server", "show", "vm1")
    assert shown["id"] == server_id
    assert shown["status"] == "ACTIVE"
    assert shown["OS-EXT-STS:vm_state"] == "active"
    assert shown["OS-EXT-STS:power_state"] in ("Running", 1)
    assert shown["project_id"] == "demo"

    cli.run("server", "delete", "--wait", "vm1")
    assert "vm1" not in {s["Name"] for s in cli.json("server", "list")}
    missing = cli.run("server", "show", "vm1", check=False)
    assert missing.returncode != 0
    assert "No Server found for vm1" in missing.stderr


def test_admin_sees_all_projects(cli: OpenStackCLI, admin_cli: OpenStackCLI) -> None:
    created = cli.json(
        "server", "create", "--image", "cirros-0.5.2-x86_64-disk", "--flavor", "1", "vm-admin-sees"
    )
    try:
        everything = admin_cli.json("server", "list", "--all-projects", "--long")
        mine = [s for s in everything if s["ID"] == created["id"]]
        assert len(mine) == 1
        # The admin's own project (system) holds none of the demo tenant's servers.
        assert created["id"] not in {s["ID"] for s in admin_cli.json("server", "list")}
    finally:
        cli.run("server", "delete", "--wait", created["id"])


def test_unknown_flavor_is_a_clear_error(cli: OpenStackCLI) -> None:
    proc = cli.run(
        "server", "create", "--image", "cirros-0.5.2-x86_64-disk", "--flavor", "m9.huge", "vm-x", check=False
    )
    assert proc.returncode != 0
    assert "m9.huge" in proc.stderr
    assert "vm-x" not in {s["Name"] for s in cli.json("server", "list")}
