"""The image lifecycle with the real clients through Envoy: register, web-download import, boot from it,
rebuild to another image (ACTIVE and SHUTOFF), ``image set``, delete (registered images and snapshots;
Glance, Nova's proxy, openstacksdk). Two servers in all: each boot costs seconds."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from typing import Any

import openstack
import pytest
import requests

from gateway_stack import Stack
from tests.e2e.conftest import ADMIN_TOKEN, VENV_BIN, Api, OpenStackCLI
from tests.e2e.test_server_actions import arktos_get
from tests.polling import eventually

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.5.2-x86_64-disk"
CIRROS_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"
URI = "https://images.example.org/jammy/jammy-server-cloudimg-amd64.img"
IMAGES_CONFIGMAP = "/api/v1/tenants/demo/namespaces/default/configmaps/openstack-images"


def image_create(cli: OpenStackCLI, *args: str) -> Any:
    """``openstack image create`` as typed in a shell: osc reads image data from any stdin that is not a
    terminal, so the command gets a terminal (a pty) as stdin, like a user's shell gives it."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run(
            [str(VENV_BIN / "openstack"), "image", "create", *args, "-f", "json"],
            env=cli.env,
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def pod_of(stack: Stack, sid: str) -> dict[str, Any]:
    pod: dict[str, Any] = arktos_get(stack, f"/api/v1/tenants/demo/namespaces/default/pods/{sid}").json()
    return pod


def cirros_url(stack: Stack) -> str:
    """The URL the built-in cirros image boots (what the pod's VM image becomes)."""
    data = arktos_get(stack, IMAGES_CONFIGMAP).json().get("data") or {}
    entry = json.loads(data.get(IMAGE, "{}")) if data else {}
    return str(entry.get("url") or "download.cirros-cloud.net/0.5.2/cirros-0.5.2-x86_64-disk.img")


def test_register_import_boot_rebuild_set_and_delete(cli: OpenStackCLI, stack: Stack, alt_api: Api) -> None:
    created = image_create(
        cli,
        "--property",
        "os_distro=ubuntu",
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "web-img",
    )
    assert created["status"] == "queued"
    assert created["properties"]["os_distro"] == "ubuntu"
    image_id = created["id"]
    assert image_id in arktos_get(stack, IMAGES_CONFIGMAP).json()["data"]

    cli.run("image", "import", "--method", "web-download", "--uri", URI, "web-img")
    assert cli.json("image", "show", "web-img")["status"] == "active"
    # Another tenant cannot see it, change it or delete it.
    assert alt_api.get(f"/image/v2/images/{image_id}").status_code == 404
    assert alt_api.session.delete(f"{alt_api.public_url}/image/v2/images/{image_id}").status_code == 404

    server = cli.json("server", "create", "--image", "web-img", "--flavor", "m1.tiny", "--wait", "web-vm")
    try:
        pod = pod_of(stack, server["id"])
        assert pod["spec"]["virtualMachine"]["image"] == URI
        before = pod["status"]["virtualMachineStatus"]
        assert before["image"] == URI

        # Rebuild of an ACTIVE server to another image: one Arktos write, the VM recreated from it.
        calls = len(stack.arktos_requests())
        cli.run("server", "rebuild", "--image", IMAGE, "--wait", "web-vm")
        # A SelfSubjectAccessReview (catalog reads, extproc.access_review) is a POST that writes nothing.
        writes = [
            c
            for c in stack.arktos_requests()[calls:]
            if c[0] in ("PATCH", "POST", "PUT", "DELETE") and not c[1].endswith("/selfsubjectaccessreviews")
        ]
        assert [(m, p.rsplit("/", 1)[-1]) for m, p in writes] == [("PATCH", server["id"])], "one Arktos write"
        pod = pod_of(stack, server["id"])
        assert pod["spec"]["virtualMachine"]["image"] == cirros_url(stack)
        after = pod["status"]["virtualMachineStatus"]
        assert after["image"] == cirros_url(stack) and after["virtualMachineId"] != before["virtualMachineId"]
        shown = cli.json("server", "show", "web-vm")
        assert shown["status"] == "ACTIVE" and shown["image"].endswith(f"({CIRROS_ID})")
        again = cli.run("server", "rebuild", "--image", IMAGE, "web-vm", check=False)
        assert again.returncode != 0 and "would not reinstall it" in again.stderr
    finally:
        cli.run("server", "delete", "--wait", server["id"])

    cli.run("image", "set", "--property", "hw_rng_model=virtio", "--name", "web-img2", "web-img")
    changed = cli.json("image", "show", image_id)
    assert changed["name"] == "web-img2"
    assert changed["properties"]["hw_rng_model"] == "virtio"
    assert changed["properties"]["os_distro"] == "ubuntu"

    cli.run("image", "delete", "web-img2")
    assert "web-img2" not in {i["Name"] for i in cli.json("image", "list")}
    assert image_id not in arktos_get(stack, IMAGES_CONFIGMAP).json()["data"]
    assert IMAGE in {i["Name"] for i in cli.json("image", "list")}, "the built-in images stay"
    assert cli.run("image", "delete", image_id, check=False).returncode != 0


def test_snapshot_properties_delete_and_a_shutoff_server(
    cli: OpenStackCLI, stack: Stack, demo_api: Api
) -> None:
    server = cli.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--wait", "snap-vm")
    sid = server["id"]
    try:
        cli.run(
            "server", "image", "create", "--wait", "--name", "snapdel",
            "--property", "image_type=golden", "--property", "owner_note=x", "snap-vm",
        )  # fmt: skip
        snapshot = cli.json("image", "show", "snapdel")
        # The user's properties win over Nova's own (image_type), as in Nova.
        assert snapshot["properties"]["image_type"] == "golden"
        assert snapshot["properties"]["owner_note"] == "x"
        assert snapshot["properties"]["instance_uuid"] == sid

        cli.run("image", "delete", "snapdel")
        assert "snapdel" not in {i["Name"] for i in cli.json("image", "list")}
        assert snapshot["id"] not in arktos_get(stack, IMAGES_CONFIGMAP).json()["data"]
        refused = cli.run("server", "rebuild", "--image", snapshot["id"], "snap-vm", check=False)
        assert refused.returncode != 0
        # The processor's restart replays the snapshot's Action: the deleted image stays deleted.
        stack.restart_processor()
        cli.json("server", "show", "snap-vm")
        assert snapshot["id"] not in arktos_get(stack, IMAGES_CONFIGMAP).json()["data"]
        assert cli.run("image", "show", snapshot["id"], check=False).returncode != 0

        cli.run("server", "stop", "snap-vm")
        eventually(
            "SHUTOFF", lambda: True if cli.json("server", "show", sid)["status"] == "SHUTOFF" else None
        )
        off = demo_api.post(f"/servers/{sid}/action", json={"createImage": {"name": "off"}})
        assert off.status_code == 409
        assert "Arktos can only snapshot a running VM" in off.json()["conflictingRequest"]["message"]

        # Rebuild of a SHUTOFF server to another image: REBUILD, then SHUTOFF again, from the new image.
        image_create(cli, "--disk-format", "qcow2", "--container-format", "bare", "rb-img")
        cli.run("image", "import", "--method", "web-download", "--uri", URI, "rb-img")
        rb_img = cli.json("image", "show", "rb-img")
        reply = demo_api.post(
            f"/servers/{sid}/action",
            json={"rebuild": {"imageRef": rb_img["id"], "name": "rb-renamed", "metadata": {"k": "v"}}},
        )
        assert reply.status_code == 202, reply.text
        rebuilt = reply.json()["server"]
        assert (rebuilt["status"], rebuilt["name"], rebuilt["metadata"]) == (
            "REBUILD",
            "rb-renamed",
            {"k": "v"},
        )

        def back_shutoff() -> dict[str, Any] | None:
            shown = cli.json("server", "show", sid)
            return shown if shown["status"] == "SHUTOFF" and shown["OS-EXT-STS:task_state"] is None else None

        eventually("the rebuilt server to be SHUTOFF again", back_shutoff)
        pod = pod_of(stack, sid)
        assert pod["spec"]["virtualMachine"]["powerSpec"] == "Shutdown"
        assert pod["status"]["virtualMachineStatus"]["image"] == URI
    finally:
        cli.run("server", "delete", "--wait", sid, check=False)
        cli.run("image", "delete", "rb-img", check=False)


def test_builtin_and_protected_images_refuse_deletion(cli: OpenStackCLI, demo_api: Api) -> None:
    refused = cli.run("image", "delete", IMAGE, check=False)
    assert refused.returncode != 0
    assert IMAGE in {i["Name"] for i in cli.json("image", "list")}
    nova = demo_api.delete(f"/images/{CIRROS_ID}")
    assert nova.status_code == 403
    assert nova.json() == {"forbidden": {"code": 403, "message": "You are not allowed to delete the image."}}

    image_create(cli, "--protected", "--disk-format", "qcow2", "--container-format", "bare", "prot")
    refused = cli.run("image", "delete", "prot", check=False)
    assert refused.returncode != 0
    assert "is protected and cannot be deleted" in refused.stderr
    cli.run("image", "set", "--unprotected", "prot")
    cli.run("image", "delete", "prot")
    assert "prot" not in {i["Name"] for i in cli.json("image", "list")}


def test_glance_refusals_over_http(cli: OpenStackCLI, demo_api: Api) -> None:
    # A token Arktos has let into tenant demo (the CLI issued it through the gateway).
    token = cli.run("token", "issue", "-f", "value", "-c", "id").stdout.strip()
    glance = requests.Session()
    glance.headers["X-Auth-Token"] = token
    base = f"{demo_api.public_url}/image/v2"
    info = glance.get(f"{base}/info/import")
    assert info.status_code == 200
    assert info.json()["import-methods"]["value"] == ["web-download"]
    created = glance.post(
        f"{base}/images", json={"name": "raw", "disk_format": "raw", "container_format": "bare"}
    )
    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith(f"/image/v2/images/{created.json()['id']}")
    image_id = created.json()["id"]
    upload = glance.put(
        f"{base}/images/{image_id}/file",
        data=b"\0" * 4096,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 410
    assert "Adding images to store is disabled" in upload.json()["message"]
    patch = glance.patch(f"{base}/images/{image_id}", json=[{"op": "replace", "path": "/name", "value": "x"}])
    assert patch.status_code == 415
    read_only = glance.patch(
        f"{base}/images/{image_id}",
        json=[{"op": "replace", "path": "/status", "value": "active"}],
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    assert read_only.status_code == 403
    assert read_only.json()["message"] == "Attribute 'status' is read-only."
    bad_uri = glance.post(
        f"{base}/images/{image_id}/import",
        json={"method": {"name": "web-download", "uri": "file:///etc/passwd"}},
    )
    assert bad_uri.status_code == 400
    assert glance.delete(f"{base}/images/{image_id}").status_code == 204
    assert glance.delete(f"{base}/images/{image_id}").status_code == 404


def test_nova_proxy_and_openstacksdk_delete(
    conn: openstack.connection.Connection, cli: OpenStackCLI, demo_api: Api, stack: Stack
) -> None:
    sdk_image = conn.image.create_image(name="sdk-img", disk_format="qcow2", container_format="bare")
    assert sdk_image.status == "queued"
    assert conn.delete_image("sdk-img", wait=True)
    assert conn.get_image("sdk-img") is None
    assert sdk_image.id not in arktos_get(stack, IMAGES_CONFIGMAP).json()["data"]

    nova_img = image_create(cli, "--disk-format", "qcow2", "--container-format", "bare", "nova-img")
    deleted = demo_api.delete(f"/images/{nova_img['id']}")
    assert deleted.status_code == 204
    assert demo_api.get(f"/images/{nova_img['id']}").status_code == 404
    assert demo_api.delete(f"/images/{nova_img['id']}").status_code == 404


def test_concurrent_writer_is_not_lost(cli: OpenStackCLI, stack: Stack) -> None:
    """A write by someone else between the processor's read and its write: retried, never overwritten."""
    first = image_create(cli, "--disk-format", "qcow2", "--container-format", "bare", "conc-a")
    # An operator adds an entry straight into Arktos.
    added = requests.patch(
        stack.arktos_url + IMAGES_CONFIGMAP,
        json={"data": {"operator-img": '{"id": "44444444-4444-4444-8444-444444444444", "url": "h/o.img"}'}},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/merge-patch+json"},
        verify=str(stack.ca_path) if stack.ca_path else True,
        timeout=10,
    )
    assert added.status_code == 200, added.text

    def deleted() -> bool | None:
        return True if cli.run("image", "delete", first["id"], check=False).returncode == 0 else None

    eventually("the delete to go through once the processor has seen the new version", deleted)
    data: dict[str, Any] = arktos_get(stack, IMAGES_CONFIGMAP).json()["data"]
    assert "operator-img" in data and first["id"] not in data
    # The stack is shared by the session: leave demo's image list as it was (test_openstack_cli lists it).
    removed = requests.patch(
        stack.arktos_url + IMAGES_CONFIGMAP,
        json={"data": {"operator-img": None}},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/merge-patch+json"},
        verify=str(stack.ca_path) if stack.ca_path else True,
        timeout=10,
    )
    assert removed.status_code == 200, removed.text
