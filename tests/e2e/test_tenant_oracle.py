"""No existence oracle across tenants (issue 9 item 3): with demo's token, whatever another tenant's
catalog, snapshots or servers hold, the answer is Arktos's 403 (or, on the short path, Nova's 404 for a
server Arktos does not show demo), identical for objects that exist there and objects that exist nowhere.

Tenant ``oracle`` gets its own flavor, images and a server (made by the admin through the gateway), and
a snapshot image of that server in its catalog; demo then asks about all of them and about ids that exist
nowhere. Each answer must come from Arktos: the simulator's audit log shows a demo request for each.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from gateway_stack import Stack
from tests.e2e.conftest import ADMIN_TOKEN, DEMO_TOKEN, Api, ArktosAdmin
from tests.polling import eventually

pytestmark = pytest.mark.e2e

TENANT = "oracle"
FLAVOR = "o1-secret"
IMAGE = "0d7a6d8e-6a61-4f0e-9d7e-0a1b2c3d4e5f"
BIG_IMAGE = "0d7a6d8e-6a61-4f0e-9d7e-0a1b2c3d4e60"
SNAPSHOT = "0d7a6d8e-6a61-4f0e-9d7e-0a1b2c3d4e61"
NOWHERE = "9f9f9f9f-0000-4000-8000-000000000000"
POLICY = {"forbidden": {"code": 403, "message": "Policy doesn't allow this operation to be performed."}}


def image(image_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": image_id, "url": "example.invalid/disk.img", **extra}


def create_body(flavor: str, image_ref: str) -> dict[str, Any]:
    return {"server": {"name": "probe", "flavorRef": flavor, "imageRef": image_ref}}


@pytest.fixture(scope="module")
def oracle_server(stack: Stack) -> Iterator[str]:
    """A server of tenant ``oracle``, whose catalog has its own flavor, images and a snapshot of it."""
    sim = ArktosAdmin(stack)
    # Arktos requires a storage cluster for a tenant (fixture 01); the simulator checks it too.
    tenant = {"metadata": {"name": TENANT}, "spec": {"storageClusterId": "1"}}
    created = sim.session.post(f"{sim.url}/api/v1/tenants", json=tenant, timeout=10)
    assert created.status_code in (201, 409), created.text
    namespace = f"{sim.url}/api/v1/tenants/{TENANT}/namespaces/default"
    eventually("oracle's namespace", lambda: True if sim.session.get(namespace, timeout=10).ok else None)
    sim.put_configmap(
        TENANT, "openstack-flavors", {FLAVOR: {"id": FLAVOR, "ram": 256, "vcpus": 1, "disk": 1}}
    )
    images = {"plain": image(IMAGE), "big": image(BIG_IMAGE, min_ram=1_000_000)}
    sim.put_configmap(TENANT, "openstack-images", images)
    admin = Api(stack.public_url, ADMIN_TOKEN, TENANT)

    def catalog_synced(flavor: str, image_ref: str, wanted: str) -> Callable[[], bool | None]:
        # The admin may see everything: the processor's catalog answers it at once once the watch has it.
        return lambda: (
            True if wanted in admin.post("/servers", json=create_body(flavor, image_ref)).text else None
        )

    eventually(
        "oracle's flavor in the catalog", catalog_synced(FLAVOR, NOWHERE, f"Image {NOWHERE} could not")
    )

    def created() -> requests.Response | None:
        # NOTE: a real Arktos answers 500 to pod creates in a brand-new tenant until its controllers have
        # set the tenant up (its default service account); nothing is created then.
        reply = admin.post("/servers", json=create_body(FLAVOR, IMAGE))
        assert reply.status_code in (202, 500), reply.text
        return reply if reply.status_code == 202 else None

    server = str(eventually("a server of oracle's", created).json()["server"]["id"])
    snapshot = {
        "id": SNAPSHOT,
        "url": f"arktos-snapshot://{TENANT}/default/{server}/snap-1",
        "properties": {"image_type": "snapshot", "instance_uuid": server},
    }
    sim.put_configmap(TENANT, "openstack-images", {**images, "snap": snapshot})
    eventually(
        "oracle's snapshot in the catalog", catalog_synced(FLAVOR, SNAPSHOT, "is a snapshot of another")
    )
    yield server
    admin.delete(f"/servers/{server}")


def demo_calls(stack: Stack, before: int) -> list[tuple[str, str]]:
    # NOTE: against a real Arktos the log is Envoy's access log, which names no user; every request
    # passing Envoy in these windows is the test's own (demo's): the oracle tenant is set up before,
    # and the processor's own calls never pass Envoy.
    log = stack.arktos_request_log()[before:]
    return [(e["method"], e["path"]) for e in log if e.get("user", "demo") == "demo"]


def test_creating_in_another_tenant_tells_nothing_of_its_catalog(
    stack: Stack, demo_api: Api, oracle_server: str
) -> None:
    cases = {
        "its flavor and image (would boot)": create_body(FLAVOR, IMAGE),
        "its flavor, an image nowhere": create_body(FLAVOR, NOWHERE),
        "a flavor nowhere": create_body("f-nowhere", IMAGE),
        "its snapshot": create_body(FLAVOR, SNAPSHOT),
        "its image too big for the flavor": create_body(FLAVOR, BIG_IMAGE),
    }
    for what, body in cases.items():
        before = len(stack.arktos_request_log())
        reply = demo_api.post(f"/compute/v2.1/{TENANT}/servers", json=body)
        assert (reply.status_code, reply.json()) == (403, POLICY), (what, reply.text)
        calls = demo_calls(stack, before)
        assert len(calls) == 1 and calls[0][1].startswith(f"/api/v1/tenants/{TENANT}/"), (what, calls)


def test_rebuilding_another_tenants_server_tells_nothing_of_its_snapshots(
    stack: Stack, demo_api: Api, oracle_server: str
) -> None:
    for server in (oracle_server, str(uuid.uuid4())):
        for image_ref in (SNAPSHOT, IMAGE, NOWHERE):
            before = len(stack.arktos_request_log())
            reply = demo_api.post(
                f"/compute/v2.1/{TENANT}/servers/{server}/action", json={"rebuild": {"imageRef": image_ref}}
            )
            assert (reply.status_code, reply.json()) == (403, POLICY), (server, image_ref, reply.text)
            assert len(demo_calls(stack, before)) == 1


def test_short_path_rebuild_of_another_tenants_server_is_novas_404(
    stack: Stack, demo_api: Api, oracle_server: str
) -> None:
    """Demo's own tenant has no such server: Nova's 404, whether another tenant has it (and a snapshot of
    it) or not."""
    short = Api(stack.public_url, DEMO_TOKEN, None)
    for server in (oracle_server, str(uuid.uuid4())):
        for image_ref in (SNAPSHOT, IMAGE, NOWHERE):
            reply = short.post(f"/servers/{server}/action", json={"rebuild": {"imageRef": image_ref}})
            assert reply.status_code == 404, (server, image_ref, reply.text)
            assert reply.json() == {
                "itemNotFound": {"code": 404, "message": f"Instance {server} could not be found."}
            }
