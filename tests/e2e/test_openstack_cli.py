"""The unmodified `openstack` CLI (python-openstackclient) against the gateway."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import OpenStackCLI

pytestmark = pytest.mark.e2e


def test_flavor_list_shows_devstack_flavors(cli: OpenStackCLI) -> None:
    flavors = {f["Name"]: f for f in cli.json("flavor", "list")}
    assert flavors["m1.tiny"]["ID"] == "1"
    assert flavors["m1.tiny"]["RAM"] == 512
    assert flavors["m1.tiny"]["VCPUs"] == 1
    assert "ds4G" in flavors


def test_image_list_shows_cirros(cli: OpenStackCLI) -> None:
    images = cli.json("image", "list")
    assert [(i["Name"], i["Status"]) for i in images] == [("cirros-0.5.2-x86_64-disk", "active")]


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
