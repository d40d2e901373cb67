"""openstacksdk and python-novaclient, used as libraries, against the gateway."""

from __future__ import annotations

import openstack
import pytest
from keystoneauth1 import loading, session
from novaclient import client as nova_client

from gateway_stack import Stack
from tests.e2e.conftest import DEMO_TOKEN

pytestmark = pytest.mark.e2e


def test_sdk_create_list_delete(conn: openstack.connection.Connection) -> None:
    server = conn.create_server(
        "sdk-vm", image="cirros-0.5.2-x86_64-disk", flavor="m1.tiny", wait=True, timeout=120, auto_ip=False
    )
    assert server.status == "ACTIVE"
    assert server.name == "sdk-vm"
    listed = {s.id: s for s in conn.list_servers()}
    assert listed[server.id].name == "sdk-vm"
    assert listed[server.id].status == "ACTIVE"
    assert conn.delete_server(server.id, wait=True, timeout=120) is True
    assert conn.get_server(server.id) is None


def test_sdk_create_server_with_default_arguments_returns_the_active_server(
    conn: openstack.connection.Connection,
) -> None:
    # NOTE: with auto_ip (the default) the SDK, after ACTIVE, decides whether the server needs a floating IP
    # (no network service in the catalog: "nova-network"): a server whose accessIPv4 is set has its public
    # address already; otherwise it asks GET /os-floating-ip-pools and fails without a pool.
    server = conn.create_server("sdk-defaults", image="cirros-0.5.2-x86_64-disk", flavor="m1.tiny", wait=True)
    try:
        assert server.status == "ACTIVE"
        assert server.name == "sdk-defaults"
        fixed = [a["addr"] for addrs in server.addresses.values() for a in addrs]
        assert server.access_ipv4 in fixed
        assert server.public_v4 == server.access_ipv4
    finally:
        assert conn.delete_server(server.id, wait=True, timeout=120) is True


def test_sdk_lists_no_floating_ip_pools(conn: openstack.connection.Connection) -> None:
    assert conn.list_floating_ip_pools() == []


def test_sdk_finds_a_flavor_in_nova_and_an_image_in_glance(conn: openstack.connection.Connection) -> None:
    flavor = conn.compute.find_flavor("m1.small", ignore_missing=False)
    assert (flavor.id, flavor.ram, flavor.vcpus, flavor.disk) == ("2", 2048, 1, 20)
    # Glance (Nova's own /images proxy: test_client_flows.test_nova_image_proxy).
    image = conn.image.find_image("cirros-0.5.2-x86_64-disk", ignore_missing=False)
    assert image.status == "active"
    assert image.disk_format == "qcow2"


def test_novaclient_lists_servers(stack: Stack, conn: openstack.connection.Connection) -> None:
    loader = loading.get_plugin_loader("password")
    auth = loader.load_from_options(
        auth_url=f"{stack.public_url}/identity/v3",
        username="demo",
        password=DEMO_TOKEN,
        project_name="demo",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    nova = nova_client.Client("2.1", session=session.Session(auth=auth))
    server = conn.create_server("nova-vm", image="cirros-0.5.2-x86_64-disk", flavor="m1.tiny", wait=False)
    try:
        names = {s.name: s for s in nova.servers.list()}
        assert names["nova-vm"].id == server.id
        assert nova.flavors.find(name="m1.tiny").id == "1"
        assert nova.servers.get(server.id).name == "nova-vm"
    finally:
        conn.delete_server(server.id, wait=True, timeout=120)
