"""Instance actions (``server event list/show``) through Envoy: the request ids the client saw, durably."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests

from extproc.compute import instance_actions
from extproc.instance_action_recorder import MAX_RECORDS
from gateway_stack import Stack
from tests.e2e.conftest import ADMIN_TOKEN, Api, OpenStackCLI
from tests.polling import eventually

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.5.2-x86_64-disk"
REQUEST_ID = "x-openstack-request-id"


def settled(api: Api, sid: str, status: str) -> None:
    def probe() -> bool | None:
        server = api.get(f"/servers/{sid}").json()["server"]
        return True if server["status"] == status and server["OS-EXT-STS:task_state"] is None else None

    eventually(f"{sid} to be {status}", probe)


@pytest.fixture(scope="module")
def server(cli: OpenStackCLI) -> Iterator[dict[str, Any]]:
    created = cli.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--wait", "events-vm")
    yield created
    cli.run("server", "delete", "--wait", created["id"], check=False)


def act(api: Api, sid: str, body: dict[str, Any]) -> str:
    reply = api.post(f"/servers/{sid}/action", json=body)
    assert reply.status_code == 202, reply.text
    return reply.headers[REQUEST_ID]


def test_event_list_and_show_tell_each_action_with_the_request_id_the_client_saw(
    cli: OpenStackCLI, demo_api: Api, stack: Stack, server: dict[str, Any]
) -> None:
    sid = server["id"]
    done: list[tuple[str, str]] = []
    done.append(("reboot", act(demo_api, sid, {"reboot": {"type": "SOFT"}})))
    settled(demo_api, sid, "ACTIVE")
    done.append(("stop", act(demo_api, sid, {"os-stop": None})))
    settled(demo_api, sid, "SHUTOFF")
    done.append(("start", act(demo_api, sid, {"os-start": None})))
    settled(demo_api, sid, "ACTIVE")
    snapshot = demo_api.post(f"/servers/{sid}/action", json={"createImage": {"name": "events-snap"}})
    assert snapshot.status_code == 202, snapshot.text
    done.append(("createImage", snapshot.headers[REQUEST_ID]))
    image_id = snapshot.headers["location"].rsplit("/", 1)[1]
    try:
        settled(demo_api, sid, "ACTIVE")

        def recorded() -> list[dict[str, Any]] | None:
            listed = cli.json("server", "event", "list", "--long", sid)
            return listed if len(listed) == len(done) + 1 else None

        # The CustomActions' records reach the pod just after Arktos accepted them.
        listed = eventually("every action in the history", recorded)
        # Newest first, as Nova lists them; the create first of all.
        assert [(e["Action"], e["Request ID"]) for e in listed[:-1]] == list(reversed(done))
        assert listed[-1]["Action"] == "create"
        assert {e["Server ID"] for e in listed} == {sid}
        assert {e["Project ID"] for e in listed} == {"demo"}
        user_ids = {e["User ID"] for e in listed}
        assert len(user_ids) == 1 and None not in user_ids

        stop_id = done[1][1]
        shown = cli.json("server", "event", "show", sid, stop_id)
        assert (shown["action"], shown["request_id"]) == ("stop", stop_id)
        raw = demo_api.get(f"/servers/{sid}/os-instance-actions/{stop_id}")
        assert raw.status_code == 200, raw.text
        action = raw.json()["instanceAction"]
        assert set(action) == {
            "action",
            "instance_uuid",
            "request_id",
            "user_id",
            "project_id",
            "start_time",
            "message",
            "events",
        }
        assert (action["instance_uuid"], action["project_id"], action["message"]) == (sid, "demo", None)

        # Durable: the history is in Arktos (the pod's records, the Actions), not in the processor.
        stack.restart_processor()
        again = eventually("the history after the processor restarted", recorded)
        assert [(e["Action"], e["Request ID"]) for e in again] == [
            (e["Action"], e["Request ID"]) for e in listed
        ]
    finally:
        cli.run("image", "delete", image_id, check=False)


def test_unknown_request_id_and_missing_server_are_novas_404(demo_api: Api, server: dict[str, Any]) -> None:
    sid = server["id"]
    unknown = demo_api.get(f"/servers/{sid}/os-instance-actions/req-00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "itemNotFound": {"code": 404, "message": "Action req-00000000-0000-0000-0000-000000000000 not found"}
    }
    missing = "6b8e5f3c-1d1b-4a4e-9a55-000000000000"
    gone = demo_api.get(f"/servers/{missing}/os-instance-actions")
    assert (gone.status_code, gone.json()["itemNotFound"]["message"]) == (
        404,
        f"Instance {missing} could not be found.",
    )


def test_another_tenant_learns_nothing_of_the_history(alt_api: Api, server: dict[str, Any]) -> None:
    reply = alt_api.get(f"/servers/{server['id']}/os-instance-actions")
    assert reply.status_code == 404
    assert reply.json()["itemNotFound"]["message"] == f"Instance {server['id']} could not be found."


def arktos_pod(stack: Stack, sid: str, method: str = "GET", body: Any = None) -> requests.Response:
    """Straight to Arktos as its administrator: what Arktos really holds."""
    return requests.request(
        method,
        f"{stack.arktos_url}/api/v1/tenants/demo/namespaces/default/pods/{sid}",
        data=orjson.dumps(body) if body is not None else None,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/merge-patch+json"},
        verify=str(stack.ca_path) if stack.ca_path else True,
        timeout=10,
    )


def test_the_records_on_a_pod_stay_bounded(demo_api: Api, stack: Stack, server: dict[str, Any]) -> None:
    sid = server["id"]
    extra = MAX_RECORDS + 20
    # As if the server had lived through that many actions (written by Arktos's administrator).
    records: dict[str, str] = {}
    for i in range(extra):
        made = instance_actions.ActionRecord(
            "stop", f"req-bound-{i:04d}", f"2000-01-01T00:00:00.{i:06d}", "u", "demo"
        )
        records.update(instance_actions.record_annotations(made))
    patched = arktos_pod(stack, sid, "PATCH", {"metadata": {"annotations": records}})
    assert patched.status_code == 200, patched.text

    def pruned() -> list[str] | None:
        annotations = arktos_pod(stack, sid).json()["metadata"]["annotations"]
        kept = sorted(k for k in annotations if k.startswith("instance-action.openstack.arktos.io/"))
        return kept if len(kept) == MAX_RECORDS else None

    kept = eventually("the processor to prune the oldest records", pruned)
    # The oldest went; the server's own newer actions stayed.
    assert "instance-action.openstack.arktos.io/req-bound-0000" not in kept
    listed = demo_api.get(f"/servers/{sid}/os-instance-actions")
    assert listed.status_code == 200
    assert any(a["action"] == "create" for a in listed.json()["instanceActions"])
