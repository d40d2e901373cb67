"""Keypairs through Envoy with the real `openstack` CLI and openstacksdk; VM pods read from the simulator."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import openstack
import pytest
import requests

from extproc.keypair_store import configmap_name
from gateway_stack import Stack
from tests.e2e.conftest import ADMIN_TOKEN, ALT_TOKEN, Api, OpenStackCLI

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.5.2-x86_64-disk"


def ssh_keygen(*args: str) -> str:
    return subprocess.run(["ssh-keygen", *args], check=True, capture_output=True, text=True).stdout


def arktos_get(stack: Stack, path: str) -> requests.Response:
    return requests.get(
        stack.arktos_url + path,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        verify=str(stack.ca_path) if stack.ca_path else True,
        timeout=10,
    )


def demo_pods(stack: Stack) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = arktos_get(stack, "/api/v1/tenants/demo/namespaces/default/pods").json()[
        "items"
    ]
    return items


def test_cli_keypair_lifecycle_and_server_key(stack: Stack, cli: OpenStackCLI, tmp_path: Path) -> None:
    # `keypair create k1 > k1.pem`: the private key file is one ssh-keygen reads.
    created = cli.run("keypair", "create", "e2e-k1")
    pem = tmp_path / "k1.pem"
    pem.write_text(created.stdout)
    pem.chmod(0o600)
    k1_public = ssh_keygen("-y", "-f", str(pem)).split()[:2]

    # `keypair create --public-key id.pub k2`: the fingerprint is the one ssh-keygen computes.
    ssh_keygen("-q", "-t", "ed25519", "-N", "", "-C", "me@e2e", "-f", str(tmp_path / "id"))
    imported = cli.json("keypair", "create", "--public-key", str(tmp_path / "id.pub"), "e2e-k2")
    printed = ssh_keygen("-l", "-E", "md5", "-f", str(tmp_path / "id.pub")).split()[1].removeprefix("MD5:")
    assert imported["fingerprint"] == printed

    listed = {k["Name"]: k["Fingerprint"] for k in cli.json("keypair", "list")}
    assert listed["e2e-k2"] == printed
    assert "e2e-k1" in listed
    shown = cli.json("keypair", "show", "e2e-k2")
    assert (shown["name"], shown["fingerprint"], shown["is_deleted"]) == ("e2e-k2", printed, False)
    public = cli.run("keypair", "show", "--public-key", "e2e-k2").stdout.strip()
    assert public == (tmp_path / "id.pub").read_text().strip()

    duplicate = cli.run("keypair", "create", "--public-key", str(tmp_path / "id.pub"), "e2e-k2", check=False)
    assert duplicate.returncode != 0 and "Key pair 'e2e-k2' already exists." in duplicate.stderr

    # The keypair lives in Arktos as a ConfigMap of the tenant.
    stored = arktos_get(
        stack, f"/api/v1/tenants/demo/namespaces/default/configmaps/{configmap_name('e2e-k2')}"
    )
    assert stored.status_code == 200 and stored.json()["data"]["name"] == "e2e-k2"

    # `server create --key-name k1`: the VM pod carries k1's public key.
    server = cli.json(
        "server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--key-name", "e2e-k1", "--wait", "kp-vm"
    )
    try:
        assert server["key_name"] == "e2e-k1"
        pod = arktos_get(stack, f"/api/v1/tenants/demo/namespaces/default/pods/{server['id']}").json()
        vm = pod["spec"]["virtualMachine"]
        assert vm["keyPairName"] == "e2e-k1"
        assert vm["publicKey"].split()[:2] == k1_public
        assert cli.json("server", "show", server["id"])["key_name"] == "e2e-k1"
    finally:
        cli.run("server", "delete", "--wait", server["id"])

    # `--key-name nokey`: 400 before anything is created.
    before = {p["metadata"]["name"] for p in demo_pods(stack)}
    refused = cli.run(
        "server",
        "create",
        "--image",
        IMAGE,
        "--flavor",
        "m1.tiny",
        "--key-name",
        "nokey",
        "kp-vm2",
        check=False,
    )
    assert refused.returncode != 0 and "Invalid key_name provided." in refused.stderr
    after = demo_pods(stack)
    assert {p["metadata"]["name"] for p in after} <= before
    assert not [
        p
        for p in after
        if p["metadata"].get("annotations", {}).get("openstack.arktos.io/display-name") == "kp-vm2"
    ]

    cli.run("keypair", "delete", "e2e-k1", "e2e-k2")
    remaining = {k["Name"] for k in cli.json("keypair", "list")}
    assert not {"e2e-k1", "e2e-k2"} & remaining
    gone = cli.run("keypair", "show", "e2e-k1", check=False)
    assert gone.returncode != 0 and "No Keypair found for e2e-k1" in gone.stderr


def test_sdk_generates_a_keypair_as_nova_21(conn: openstack.connection.Connection, tmp_path: Path) -> None:
    # Without a public key Nova 2.1 generates one (RSA 2048) and returns the private key once.
    keypair = conn.compute.create_keypair(name="e2e-generated")
    try:
        assert keypair.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
        pem = tmp_path / "gen.pem"
        pem.write_text(keypair.private_key)
        pem.chmod(0o600)
        assert ssh_keygen("-y", "-f", str(pem)).split()[:2] == keypair.public_key.split()[:2]
        again = conn.compute.get_keypair("e2e-generated")
        assert again.private_key is None
        assert again.fingerprint == keypair.fingerprint
        server = conn.create_server(
            "kp-sdk", image=IMAGE, flavor="m1.tiny", key_name="e2e-generated", wait=True
        )
        try:
            assert server.status == "ACTIVE" and server.key_name == "e2e-generated"
        finally:
            conn.delete_server(server.id, wait=True, timeout=120)
    finally:
        conn.compute.delete_keypair("e2e-generated")
    assert conn.compute.find_keypair("e2e-generated") is None


def test_keypairs_are_per_tenant(demo_api: Api, alt_api: Api, stack: Stack) -> None:
    created = demo_api.post("/os-keypairs", json={"keypair": {"name": "e2e-private"}})
    assert created.status_code == 200
    try:
        assert "e2e-private" not in [
            k["keypair"]["name"] for k in alt_api.get("/os-keypairs").json()["keypairs"]
        ]
        assert alt_api.get("/os-keypairs/e2e-private").status_code == 404
        # Another tenant's URL: Arktos refuses the alt user, whatever the demo tenant holds.
        other = Api(stack.public_url, ALT_TOKEN, "demo")
        for name in ("e2e-private", "nokey"):
            body = {"server": {"name": "x", "imageRef": IMAGE, "flavorRef": "1", "key_name": name}}
            assert other.post("/servers", json=body).status_code == 403
        assert other.get("/os-keypairs/e2e-private").status_code == 403
    finally:
        assert demo_api.delete("/os-keypairs/e2e-private").status_code == 202
