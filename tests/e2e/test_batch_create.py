"""Batch create (min_count/max_count) end to end: real clients → Envoy → processor → Arktos simulator.

Checks what a user sees (names, statuses, reservation filter) and, straight on the simulator, what the
gateway left behind: no ReplicaSet once the batch is finished, pods without ownerReferences.
"""

from __future__ import annotations

from typing import Any

import openstack
import orjson
import pytest
import requests

from extproc import annotations as keys
from extproc.catalog import CatalogStore
from extproc.compute import server_create
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ClientRequest, Forward
from gateway_stack import Stack
from tests.e2e.conftest import ADMIN_TOKEN, DEMO_TOKEN, Api, ArktosAdmin, OpenStackCLI
from tests.polling import eventually

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.5.2-x86_64-disk"


class Sim(ArktosAdmin):
    """What the gateway left in Arktos for a batch."""

    def replicaset_exists(self, reservation: str) -> bool:
        resp = self.session.get(
            f"{self.url}/apis/apps/v1/tenants/demo/namespaces/default/replicasets/{reservation}", timeout=10
        )
        return resp.status_code == 200

    def members(self, reservation: str) -> list[dict[str, Any]]:
        selector = f"{keys.RESERVATION_ID}={reservation}"
        listed = self.get(f"/api/v1/tenants/demo/namespaces/default/pods?labelSelector={selector}")
        items: list[dict[str, Any]] = listed["items"]
        return items


@pytest.fixture(scope="module")
def sim(stack: Stack) -> Sim:
    return Sim(stack)


def batch_of(demo_api: Api, reservation: str, detail: bool = True) -> list[dict[str, Any]]:
    path = "/servers/detail" if detail else "/servers"
    resp = demo_api.get(path, params={"reservation_id": reservation})
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["servers"]
    return found


def detached(sim: Sim, reservation: str, count: int) -> list[dict[str, Any]] | None:
    """The batch's pods once the gateway has named them and deleted their ReplicaSet (Orphan)."""
    if sim.replicaset_exists(reservation):
        return None
    members = sim.members(reservation)
    if len(members) != count or any(m["metadata"].get("ownerReferences") for m in members):
        return None
    return members


def all_active(demo_api: Api, reservation: str, count: int) -> list[dict[str, Any]] | None:
    found = batch_of(demo_api, reservation)
    if len(found) == count and all(s["status"] == "ACTIVE" for s in found):
        return found
    return None


def create_batch(demo_api: Api, name: str, count: int) -> str:
    body = {
        "server": {
            "name": name,
            "imageRef": IMAGE,
            "flavorRef": "1",
            "min_count": count,
            "max_count": count,
            "return_reservation_id": True,
        }
    }
    resp = demo_api.post("/servers", json=body)
    assert resp.status_code == 202, resp.text
    reservation: str = resp.json()["reservation_id"]
    return reservation


def delete_all(demo_api: Api, reservation: str) -> None:
    for server in batch_of(demo_api, reservation, detail=False):
        demo_api.delete(f"/servers/{server['id']}")


# ---------------------------------------------------------------------------------------------------------


def test_cli_create_min_max_wait(cli: OpenStackCLI, demo_api: Api, sim: Sim) -> None:
    shown = cli.json(
        "server",
        "create",
        "--image",
        IMAGE,
        "--flavor",
        "m1.tiny",
        "--min",
        "3",
        "--max",
        "3",
        "--wait",
        "clib",
    )
    assert shown["status"] == "ACTIVE"
    reservation = shown["id"].rsplit("-", 1)[0]  # Arktos names RS pods <rs>-<5 chars> (fixture 28)
    members = eventually("the batch detached", lambda: detached(sim, reservation, 3))
    # The reply's server is the batch's first member, name-1 (the reply's choice is index 1).
    assert shown["id"] in {m["metadata"]["name"] for m in members}
    assert shown["name"] == "clib-1"
    assert sorted(m["metadata"]["annotations"][keys.DISPLAY_NAME] for m in members) == [
        "clib-1",
        "clib-2",
        "clib-3",
    ]
    eventually("all ACTIVE", lambda: all_active(demo_api, reservation, 3))
    listed = cli.json("server", "list", "--name", "^clib-")
    assert sorted(s["Name"] for s in listed) == ["clib-1", "clib-2", "clib-3"]
    delete_all(demo_api, reservation)


def test_sdk_min_max_and_list_by_reservation(conn: openstack.connection.Connection, demo_api: Api) -> None:
    image = conn.image.find_image(IMAGE, ignore_missing=False)
    # openstacksdk negotiates 2.100: from 2.37 a create names its networks ("auto": the tenant's).
    server = conn.compute.create_server(
        name="sdkb", image_id=image.id, flavor_id="1", min_count=2, max_count=2, networks="auto"
    )
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=120)
    assert server.name == "sdkb-1"
    reservation = server.id.rsplit("-", 1)[0]
    by_reservation = eventually("both ACTIVE", lambda: all_active(demo_api, reservation, 2))
    assert sorted(s["name"] for s in by_reservation) == ["sdkb-1", "sdkb-2"]
    listed = list(conn.compute.servers(details=True, reservation_id=reservation))
    assert sorted(s.name for s in listed) == ["sdkb-1", "sdkb-2"]
    assert {s.id for s in listed} == {s["id"] for s in by_reservation}
    for s in listed:
        conn.compute.delete_server(s.id)


def test_reservation_id_lists_exactly_that_batch(demo_api: Api, sim: Sim) -> None:
    first = create_batch(demo_api, "resa", 3)
    second = create_batch(demo_api, "resb", 2)
    assert first != second
    for reservation, count, name in ((first, 3, "resa"), (second, 2, "resb")):
        brief = eventually("listed", lambda r=reservation, c=count: (  # type: ignore[misc]
            found if len(found := batch_of(demo_api, r, detail=False)) == c else None))  # fmt: skip
        assert sorted(s["name"] for s in brief) == [f"{name}-{i}" for i in range(1, count + 1)]
        detail = batch_of(demo_api, reservation)
        assert {s["id"] for s in detail} == {s["id"] for s in brief}
        assert {s["id"] for s in detail} == {m["metadata"]["name"] for m in sim.members(reservation)}
    assert batch_of(demo_api, "r-nosuchxx") == []
    delete_all(demo_api, first)
    delete_all(demo_api, second)


def test_deleting_one_member_leaves_the_others_and_no_replacement(demo_api: Api, sim: Sim) -> None:
    reservation = create_batch(demo_api, "indep", 3)
    eventually("the batch detached", lambda: detached(sim, reservation, 3))
    servers_ = eventually("all ACTIVE", lambda: all_active(demo_api, reservation, 3))
    names_before = {s["id"]: s["name"] for s in servers_}
    victim = next(s["id"] for s in servers_ if s["name"] == "indep-2")

    assert demo_api.delete(f"/servers/{victim}").status_code == 204
    eventually(
        "the member gone", lambda: True if demo_api.get(f"/servers/{victim}").status_code == 404 else None
    )

    left = batch_of(demo_api, reservation)
    assert {s["id"]: s["name"] for s in left} == {k: v for k, v in names_before.items() if k != victim}
    assert all(s["status"] == "ACTIVE" for s in left)
    # Nothing replaces it on Arktos either.
    assert sorted(m["metadata"]["name"] for m in sim.members(reservation)) == sorted(s["id"] for s in left)
    # Stop/start one member: a per-server action, the other one is untouched.
    one, other = left
    assert demo_api.post(f"/servers/{one['id']}/action", json={"os-stop": None}).status_code == 202
    eventually("stopped", lambda: True if demo_api.get(f"/servers/{one['id']}").json()["server"]["status"]
               == "SHUTOFF" else None)  # fmt: skip
    assert demo_api.get(f"/servers/{other['id']}").json()["server"]["status"] == "ACTIVE"
    delete_all(demo_api, reservation)


def test_failing_vm_in_a_batch_is_an_error_server_with_a_fault(demo_api: Api, stack: Stack) -> None:
    """A batch whose VMs fail to boot: every server shows ERROR with the fault, none goes missing."""
    body = {"server": {"name": "failb", "imageRef": IMAGE, "flavorRef": "1", "max_count": 2,
                       "return_reservation_id": True, "metadata": {}}}  # fmt: skip
    # The simulator fails VMs annotated arktos-sim/fail; the gateway has no such field, so the batch is
    # created with the exact ReplicaSet the gateway would send, plus that annotation, straight on Arktos.
    reservation, rs = gateway_replicaset(stack, body)
    rs["spec"]["template"]["metadata"]["annotations"]["arktos-sim/fail"] = "true"
    post_replicaset(stack, rs)
    failed = eventually("both ERROR", lambda: (
        found if len(found := batch_of(demo_api, reservation)) == 2
        and all(s["status"] == "ERROR" for s in found) else None))  # fmt: skip
    assert sorted(s["name"] for s in failed) == ["failb-1", "failb-2"]
    assert all(s["fault"]["code"] == 500 and s["fault"]["message"] for s in failed)
    delete_all(demo_api, reservation)


def test_batch_makes_what_the_quota_allows_as_nova_does(stack: Stack, sim: Sim) -> None:
    """Nova's min_count/max_count against the tenant's instance quota (its ResourceQuota's pods): as many
    as fit between min_count and max_count are created, all ACTIVE, no ERROR member; when fewer than
    min_count fit, 403 ``Quota exceeded for instances`` and nothing is created."""
    tenant = "quota"
    body = {
        "apiVersion": "v1",
        "kind": "Tenant",
        "metadata": {"name": tenant},
        "spec": {"storageClusterId": "0"},
    }
    created = sim.session.post(f"{sim.url}/api/v1/tenants", json=body, timeout=10)
    assert created.status_code == 201, created.text
    # Arktos's tenant controller makes the tenant's namespaces (at once on the simulator).
    eventually("the tenant's default namespace", lambda: True if requests_status(
        sim, f"/api/v1/tenants/{tenant}/namespaces/default") == 200 else None)  # fmt: skip
    quotas = f"{sim.url}/api/v1/tenants/{tenant}/namespaces/default/resourcequotas"
    quota = {"metadata": {"name": "compute"}, "spec": {"hard": {"pods": "0"}}}
    resp = sim.session.post(quotas, json=quota, timeout=10)
    assert resp.status_code == 201, resp.text
    api = Api(stack.public_url, ADMIN_TOKEN, tenant)
    assert api.get("/servers").status_code == 200  # Arktos lets the token into the tenant

    def post(name: str, min_count: int, max_count: int) -> requests.Response:
        body = {"server": {"name": name, "imageRef": IMAGE, "flavorRef": "1", "min_count": min_count,
                           "max_count": max_count, "return_reservation_id": True}}  # fmt: skip
        return api.post("/servers", json=body)

    # Until the processor's watch shows the counted quota, Arktos itself refuses these (nothing is created
    # either way: no room at all); then the gateway answers Nova's words before anything reaches Arktos.
    nova_words = "Quota exceeded for instances: Requested 2, but already used 0 of 0 instances"
    eventually("the quota known", lambda: True if (r := post("probe", 2, 2)).status_code == 403
               and r.json()["forbidden"]["message"] == nova_words else None)  # fmt: skip

    patch = {"spec": {"hard": {"pods": "2"}}}
    resp = sim.session.patch(f"{quotas}/compute", json=patch, timeout=10,
                             headers={"Content-Type": "application/merge-patch+json"})  # fmt: skip
    assert resp.status_code == 200, resp.text

    def created() -> str | None:
        resp = post("quo", 1, 5)
        if resp.status_code == 403:  # the watch has not shown the new limit yet: nothing was created
            return None
        assert resp.status_code == 202, resp.text
        return str(resp.json()["reservation_id"])

    reservation = eventually("room for two", created)

    def listed() -> list[dict[str, Any]] | None:
        found = batch_of(api, reservation)
        return found if len(found) == 2 and all(s["status"] == "ACTIVE" for s in found) else None

    found = eventually("two ACTIVE servers", listed)
    assert sorted(s["name"] for s in found) == ["quo-1", "quo-2"]
    eventually("the batch detached", lambda: True if requests_status(
        sim, f"/apis/apps/v1/tenants/{tenant}/namespaces/default/replicasets/{reservation}") == 404
        else None)  # fmt: skip
    assert len(batch_of(api, reservation)) == 2  # no ERROR member

    refused = post("more", 2, 3)
    assert refused.status_code == 403, refused.text
    assert refused.json()["forbidden"]["message"].startswith("Quota exceeded for instances: Requested 2-3, ")
    pods = sim.get(f"/api/v1/tenants/{tenant}/namespaces/default/pods")["items"]
    assert len(pods) == 2
    for server in found:
        assert api.delete(f"/servers/{server['id']}").status_code == 204


def requests_status(sim: Sim, path: str) -> int:
    return sim.session.get(sim.url + path, timeout=10).status_code


# ---------------------------------------------------------------------------------------------------------
# Restart safety


def gateway_replicaset(stack: Stack, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The ReplicaSet the gateway's own translation sends for ``body`` (demo tenant)."""
    ctx = RequestContext(GatewayConfig(public_url=stack.public_url), CatalogStore(), "req-test", "demo")
    req = ClientRequest("POST", "/compute/v2.1/demo/servers", {}, {"x-auth-token": DEMO_TOKEN},
                        orjson.dumps(body))  # fmt: skip
    forward = server_create.create_server(ctx, req, {})
    assert isinstance(forward, Forward) and forward.upstream.body is not None
    rs: dict[str, Any] = orjson.loads(forward.upstream.body)
    return str(rs["metadata"]["name"]), rs


def post_replicaset(stack: Stack, rs: dict[str, Any]) -> None:
    resp = requests.post(
        f"{stack.arktos_url}/apis/apps/v1/tenants/demo/namespaces/default/replicasets",
        json=rs,
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        verify=str(stack.ca_path) if stack.ca_path else True,
        timeout=10,
    )
    assert resp.status_code == 201, resp.text


def test_batch_created_while_the_processor_is_dead_is_finished_after_restart(
    stack: Stack, demo_api: Api, sim: Sim
) -> None:
    """The processor dies between create and detach (here: before it could do anything, and one name was
    already written by it): the restarted processor finishes the batch, keeping the name written."""
    body = {"server": {"name": "crash", "imageRef": IMAGE, "flavorRef": "1", "max_count": 3}}
    reservation, rs = gateway_replicaset(stack, body)
    stack.kill_processor()
    try:
        post_replicaset(stack, rs)
        members = eventually("the controller's pods", lambda: (
            found if len(found := sim.members(reservation)) == 3 else None))  # fmt: skip
        assert all(m["metadata"].get("ownerReferences") for m in members)
        # What a processor killed in the middle of naming leaves: one member already named.
        pre_named = max(members, key=lambda m: m["metadata"]["name"])["metadata"]["name"]
        resp = sim.session.patch(
            f"{sim.url}/api/v1/tenants/demo/namespaces/default/pods/{pre_named}",
            data=orjson.dumps(
                {"metadata": {"annotations": {keys.DISPLAY_NAME: "crash-1", keys.BATCH_INDEX: "1"}}}
            ),
            headers={"Content-Type": "application/merge-patch+json"},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        assert sim.replicaset_exists(reservation)
    finally:
        stack.start_processor()

    finished = eventually("the batch detached", lambda: detached(sim, reservation, 3))
    names = {m["metadata"]["name"]: m["metadata"]["annotations"][keys.DISPLAY_NAME] for m in finished}
    assert names[pre_named] == "crash-1"
    assert sorted(names.values()) == ["crash-1", "crash-2", "crash-3"]
    # Independent now: deleting one leaves two, with nothing to replace it.
    victim = next(k for k, v in names.items() if v == "crash-3")
    assert demo_api.delete(f"/servers/{victim}").status_code == 204
    eventually(
        "the member gone", lambda: True if demo_api.get(f"/servers/{victim}").status_code == 404 else None
    )
    assert {s["name"] for s in batch_of(demo_api, reservation)} == {"crash-1", "crash-2"}
    delete_all(demo_api, reservation)


def test_processor_killed_right_after_the_create_reply(stack: Stack, demo_api: Api, sim: Sim) -> None:
    reservation = create_batch(demo_api, "kill", 4)
    stack.kill_processor()
    stack.start_processor()
    members = eventually("the batch detached", lambda: detached(sim, reservation, 4))
    names = sorted(m["metadata"]["annotations"][keys.DISPLAY_NAME] for m in members)
    assert names == ["kill-1", "kill-2", "kill-3", "kill-4"]
    assert sorted(s["name"] for s in batch_of(demo_api, reservation)) == names
    delete_all(demo_api, reservation)
