"""One catalog per caller (issue 17 item 2), end to end: a tenant's own ``openstack-flavors`` and
``openstack-images`` ConfigMaps, written into Arktos behind the gateway's back, are what its clients list
and boot from, whether the URL names the project (the CLI, from the token's catalog) or not (Nova's short
path, raw requests).

Both parts need a user whose own tenant holds the ConfigMaps (Glance's URLs name no project: its reads are
the token's own tenant's), so alt's catalog gets them for this module and loses them after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from gateway_stack import Stack
from tests.e2e.conftest import ALT_TOKEN, Api, ArktosAdmin, OpenStackCLI, wait_deleted
from tests.polling import eventually

pytestmark = pytest.mark.e2e

CIRROS_URL = "download.cirros-cloud.net/0.5.2/cirros-0.5.2-x86_64-disk.img"
CIRROS_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"
OWN_FLAVOR = {"id": "c17-flavor", "ram": 256, "vcpus": 2, "disk": 1}
OWN_IMAGE = {"id": "17171717-1717-4717-8717-171717171717", "url": CIRROS_URL}


@pytest.fixture(scope="module")
def alt_catalog(stack: Stack) -> Iterator[None]:
    """alt's own catalog ConfigMaps, removed after (alt's catalog is the defaults again)."""
    arktos = ArktosAdmin(stack)
    arktos.put_configmap("alt", "openstack-flavors", {"c17.custom": OWN_FLAVOR})
    # An images ConfigMap replaces the default images: cirros stays for the other tests of alt.
    cirros = {"id": CIRROS_ID, "url": CIRROS_URL, "name": "cirros-0.5.2-x86_64-disk"}
    arktos.put_configmap("alt", "openstack-images", {"c17-image": OWN_IMAGE, "cirros": cirros})
    try:
        yield
    finally:
        arktos.delete_configmap("alt", "openstack-flavors")
        arktos.delete_configmap("alt", "openstack-images")


def test_cli_lists_and_boots_from_the_tenants_own_catalog(
    stack: Stack, alt_catalog: None, tmp_path: Path
) -> None:
    clouds = yaml.safe_load(stack.clouds_yaml.read_text())
    cloud = clouds["clouds"]["arktos"]
    cloud["auth"].update(username="alt", password=ALT_TOKEN, project_name="alt")
    clouds_yaml = tmp_path / "clouds.yaml"
    clouds_yaml.write_text(yaml.safe_dump({"clouds": {"alt": cloud}}))
    cli = OpenStackCLI(clouds_yaml, "alt")

    def flavor_listed() -> dict[str, Any] | None:
        flavors = {f["Name"]: f for f in cli.json("flavor", "list")}
        return flavors if "c17.custom" in flavors else None

    flavors = eventually("alt's own flavor in its list", flavor_listed)
    assert flavors["c17.custom"]["ID"] == OWN_FLAVOR["id"]
    assert flavors["c17.custom"]["VCPUs"] == OWN_FLAVOR["vcpus"]
    assert "m1.tiny" in flavors  # the public flavors stay: every project sees them
    # Its images ConfigMap is its whole image catalog (the defaults are replaced).
    images = sorted(i["Name"] for i in cli.json("image", "list"))
    assert images == ["c17-image", "cirros-0.5.2-x86_64-disk"]

    name = f"c17-{uuid.uuid4().hex[:6]}"
    server = cli.json("server", "create", "--flavor", "c17.custom", "--image", "c17-image", "--wait", name)
    try:
        assert server["status"] == "ACTIVE"
        assert server["image"].startswith("c17-image"), server["image"]
        assert "c17.custom" in str(server["flavor"]), server["flavor"]
    finally:
        cli.run("server", "delete", "--wait", server["id"])


def test_short_path_create_uses_the_flavor_the_short_path_list_shows(stack: Stack, alt_catalog: None) -> None:
    """No project in the URL: Arktos resolves the caller's tenant. The listed flavor must be bootable; it
    was refused as "could not be found" when the create looked in the built-in defaults instead."""
    short = Api(stack.public_url, ALT_TOKEN, None)
    flavor_id = str(OWN_FLAVOR["id"])

    def listed() -> bool | None:
        reply = short.get("/flavors")
        assert reply.status_code == 200, reply.text
        return True if flavor_id in [f["id"] for f in reply.json()["flavors"]] else None

    eventually("alt's own flavor in its short-path list", listed)
    body = {"server": {"name": "short-path", "flavorRef": flavor_id, "imageRef": CIRROS_ID}}

    def created() -> requests.Response | None:
        # The processor's copy of alt's catalog comes from its watch: a 400 that names the flavor means the
        # watch has not delivered the ConfigMap yet (nothing was created), anything else is the answer.
        reply = short.post("/servers", json=body)
        return None if reply.status_code == 400 and flavor_id in reply.text else reply

    reply = eventually("the short-path create", created)
    assert reply.status_code == 202, reply.text
    server_id = reply.json()["server"]["id"]
    try:
        shown = short.get(f"/servers/{server_id}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["server"]["flavor"]["id"] == flavor_id
    finally:
        assert short.delete(f"/servers/{server_id}").status_code == 204
        wait_deleted(short, server_id)
