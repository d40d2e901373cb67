"""Neutron through Envoy: the `openstack` CLI and openstacksdk on Arktos Network objects (issue 15)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import openstack.connection
import pytest
import requests

from gateway_stack.stack import Stack
from tests.e2e.conftest import ADMIN_TOKEN, DEMO_TOKEN, Api, OpenStackCLI

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.5.2-x86_64-disk"
NETWORKS = "/apis/arktos.futurewei.com/v1/tenants/demo/networks"
NETWORK_LABEL = "arktos.futurewei.com/network"


def arktos(stack: Stack, method: str, path: str, body: Any = None) -> requests.Response:
    """Straight to Arktos as its administrator: what Arktos really holds."""
    return requests.request(
        method,
        stack.arktos_url + path,
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        verify=str(stack.ca_path) if stack.ca_path else True,
        timeout=10,
    )


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


def pod_of(stack: Stack, server_id: str) -> dict[str, Any]:
    reply = arktos(stack, "GET", f"/api/v1/tenants/demo/namespaces/default/pods/{server_id}")
    assert reply.status_code == 200, reply.text
    pod: dict[str, Any] = reply.json()
    return pod


@pytest.fixture
def cidr_network(stack: Stack, cli: OpenStackCLI) -> Iterator[dict[str, Any]]:
    """A Network with addresses, made in Arktos by its operator (Neutron's subnets are read-only here)."""
    name = unique("cidrnet")
    obj = {
        "apiVersion": "arktos.futurewei.com/v1",
        "kind": "Network",
        "metadata": {"name": name},
        "spec": {"type": "flat", "service": {"ipam": "Kubernetes", "cidrs": ["10.10.0.0/24"]}},
    }
    created = arktos(stack, "POST", NETWORKS, obj)
    assert created.status_code == 201, created.text
    yield created.json()
    arktos(stack, "DELETE", f"{NETWORKS}/{name}")


def test_network_create_list_show_delete_with_the_cli(stack: Stack, cli: OpenStackCLI) -> None:
    net = unique("net")
    created = cli.json("network", "create", net)
    assert (created["name"], created["status"], created["project_id"]) == (net, "ACTIVE", "demo")
    network_id = created["id"]
    # Neutron's id is the Network object's uid; the object is named after the network.
    held = arktos(stack, "GET", f"{NETWORKS}/{net}")
    assert held.status_code == 200 and held.json()["metadata"]["uid"] == network_id
    assert held.json()["spec"]["type"] == "flat"
    assert net in {n["Name"] for n in cli.json("network", "list")}
    assert cli.json("network", "show", net)["id"] == network_id
    # Nova's network proxy (older clients) answers from the same networks.
    proxied = Api(stack.public_url, DEMO_TOKEN, "demo").get(
        f"/compute/v2.1/demo/os-tenant-networks/{network_id}"
    )
    assert proxied.json() == {"network": {"id": network_id, "cidr": "None", "label": net}}
    cli.run("network", "delete", net)
    assert arktos(stack, "GET", f"{NETWORKS}/{net}").status_code == 404
    missing = cli.run("network", "show", net, check=False)
    assert missing.returncode != 0 and f"No Network found for {net}" in missing.stderr


def test_server_on_a_network_its_port_and_network_in_use(
    stack: Stack, cli: OpenStackCLI, demo_api: Api
) -> None:
    net, vm = unique("net"), unique("vm-net-")
    made = demo_api.post("/networking/v2.0/networks", json={"network": {"name": net}})
    assert made.status_code == 201, made.text
    network_id = made.json()["network"]["id"]
    server = cli.json(
        "server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--network", net, "--wait", vm
    )
    try:
        assert server["status"] == "ACTIVE"
        pod = pod_of(stack, server["id"])
        assert pod["metadata"]["labels"][NETWORK_LABEL] == net
        assert pod["spec"]["nics"] == [{"name": "eth0"}]
        (address,) = server["addresses"][net]
        (port,) = cli.json("port", "list", "--server", vm, "--long")
        assert port["Fixed IP Addresses"] == [{"ip_address": address}]
        assert port["Status"] == "ACTIVE"
        refused = cli.run("network", "delete", net, check=False)
        assert refused.returncode != 0
        assert "There are one or more ports still in use on the network" in refused.stderr
        assert arktos(stack, "GET", f"{NETWORKS}/{net}").status_code == 200
    finally:
        cli.run("server", "delete", "--wait", vm)
    deleted = demo_api.delete(f"/networking/v2.0/networks/{network_id}")
    assert deleted.status_code == 204, deleted.text
    assert arktos(stack, "GET", f"{NETWORKS}/{net}").status_code == 404


def test_server_create_with_a_fixed_ip(stack: Stack, cli: OpenStackCLI, cidr_network: dict[str, Any]) -> None:
    network_id = cidr_network["metadata"]["uid"]
    name, vm = cidr_network["metadata"]["name"], unique("vm-fixed-")
    (subnet,) = cli.json("subnet", "list", "--network", network_id)
    assert subnet["Subnet"] == "10.10.0.0/24"
    nic = f"net-id={network_id},v4-fixed-ip=10.10.0.5"
    server = cli.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--nic", nic, "--wait", vm)
    try:
        assert cli.json("server", "show", vm)["addresses"] == {name: ["10.10.0.5"]}
        assert pod_of(stack, server["id"])["spec"]["nics"] == [{"name": "eth0", "ipAddress": "10.10.0.5"}]
    finally:
        cli.run("server", "delete", "--wait", vm)


def test_nova_refuses_bad_networks_before_creating_anything(
    stack: Stack, demo_api: Api, cidr_network: dict[str, Any]
) -> None:
    network_id = cidr_network["metadata"]["uid"]
    unknown = "0b5b7a34-3c55-4d7e-9d7c-5b2f7f1e0a11"
    cases = [
        ([{"uuid": unknown}], f"Network {unknown} could not be found."),
        (
            [{"uuid": network_id, "fixed_ip": "192.168.7.7"}],
            "Invalid input received: Fixed IP 192.168.7.7 is not a valid ip address for network "
            f"{network_id}.",
        ),
    ]
    for networks, message in cases:
        name = unique("vm-refused-")
        body = {"server": {"name": name, "imageRef": IMAGE, "flavorRef": "1", "networks": networks}}
        reply = demo_api.post("/servers", json=body)
        assert (reply.status_code, reply.json()) == (400, {"badRequest": {"code": 400, "message": message}})
        listed = demo_api.get("/servers", params={"name": name}).json()["servers"]
        assert listed == []


def test_another_tenants_network_is_not_found(
    stack: Stack, alt_api: Api, cidr_network: dict[str, Any]
) -> None:
    network_id = cidr_network["metadata"]["uid"]
    alt = alt_api
    shown = alt.get(f"/networking/v2.0/networks/{network_id}")
    assert shown.status_code == 404
    assert shown.json()["NeutronError"]["type"] == "NetworkNotFound"
    deleted = alt.delete(f"/networking/v2.0/networks/{network_id}")
    assert deleted.status_code == 404
    assert network_id not in {n["id"] for n in alt.get("/networking/v2.0/networks").json()["networks"]}


def test_sdk_finds_networks_ports_and_the_default_security_group(
    conn: openstack.connection.Connection, cidr_network: dict[str, Any]
) -> None:
    name = cidr_network["metadata"]["name"]
    found = conn.network.find_network(name)
    assert found is not None and found.id == cidr_network["metadata"]["uid"]
    assert [s.cidr for s in conn.network.subnets(network_id=found.id)] == ["10.10.0.0/24"]
    groups = list(conn.network.security_groups())
    assert [g.name for g in groups] == ["default"]
    server = conn.create_server(unique("sdk-net-"), image=IMAGE, flavor="m1.tiny", network=name, wait=True)
    try:
        ports = list(conn.network.ports(device_id=server.id))
        assert [p.network_id for p in ports] == [found.id]
        assert server.addresses[name][0]["addr"] == ports[0].fixed_ips[0]["ip_address"]
    finally:
        conn.delete_server(server.id, wait=True)


def test_security_group_writes_are_refused_as_unsupported(cli: OpenStackCLI) -> None:
    refused = cli.run("security", "group", "create", unique("sg"), check=False)
    assert refused.returncode != 0
    assert "read-only on Arktos" in refused.stderr
