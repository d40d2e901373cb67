"""Server lists answered from the processor's watch cache still show a client's own writes at once."""

from __future__ import annotations

import pytest

from gateway_stack import Stack
from tests.e2e.conftest import Api, wait_deleted

pytestmark = pytest.mark.e2e

CREATE = {"server": {"name": "ryw", "imageRef": "cirros-0.5.2-x86_64-disk", "flavorRef": "1"}}


def listed(api: Api, path: str) -> set[str]:
    reply = api.get(path)
    assert reply.status_code == 200, reply.text
    return {s["id"] for s in reply.json()["servers"]}


def test_list_right_after_create_and_delete_shows_the_change(stack: Stack, demo_api: Api) -> None:
    for _ in range(3):
        created = demo_api.post("/servers", json=CREATE)
        assert created.status_code == 202, created.text
        sid = created.json()["server"]["id"]
        assert sid in listed(demo_api, "/servers/detail")
        assert sid in listed(demo_api, "/servers")
        assert demo_api.delete(f"/servers/{sid}").status_code == 204
        # Right after the DELETE: gone, or shown as being deleted (Nova's task_state, until Arktos's node
        # confirms the deletion); never as if nothing happened.
        after = {s["id"]: s for s in demo_api.get("/servers/detail").json()["servers"]}
        assert sid not in after or after[sid]["OS-EXT-STS:task_state"] == "deleting"
        wait_deleted(demo_api, sid)
        assert sid not in listed(demo_api, "/servers/detail")
        assert sid not in listed(demo_api, "/servers")

    # The lists above were authorized by Arktos; at least the ones after the watch caught up were
    # one-item probes answered from the cache (the others read the whole list: both are correct).
    lists = [
        e["path"]
        for e in stack.arktos_request_log()
        if e["method"] == "GET" and str(e["path"]).startswith("/api/v1/tenants/demo/namespaces/default/pods")
    ]
    assert any(path.endswith("pods?limit=1") for path in lists), lists
