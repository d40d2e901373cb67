"""Arktos names an Action ``<operation>-<unix seconds>`` per namespace (fixtures 54-55): two users
rebooting two different servers of one project within the same second must both succeed (issue 9 item 9).
The processor sends such Actions one per project and second (``extproc.action_pacing``); a collision it
cannot foresee (an Action made outside the gateway) is retried by Envoy past the second boundary; a Nova
state conflict never is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from gateway_stack import Stack
from tests.e2e.conftest import DEMO_TOKEN, Api
from tests.e2e.test_server_actions import restart_count
from tests.polling import eventually

pytestmark = pytest.mark.e2e

IMAGE = "6db08272-a856-49da-8909-7c4c73ab0bac"


def active_server(api: Api, name: str) -> str:
    reply = api.post("/servers", json={"server": {"name": name, "imageRef": IMAGE, "flavorRef": "1"}})
    assert reply.status_code == 202, reply.text
    sid = str(reply.json()["server"]["id"])

    eventually(f"{name} ACTIVE", lambda: active_and_idle(api, sid))
    return sid


@pytest.fixture(scope="module")
def two_servers(demo_api: Api) -> Iterator[tuple[str, str]]:
    first, second = active_server(demo_api, "collide-1"), active_server(demo_api, "collide-2")
    yield first, second
    for sid in (first, second):
        demo_api.delete(f"/servers/{sid}")


COLLISION_ATTEMPTS = 5


def active_and_idle(api: Api, sid: str) -> bool | None:
    server = api.get(f"/servers/{sid}").json()["server"]
    return True if server["status"] == "ACTIVE" and server["OS-EXT-STS:task_state"] is None else None


def attempts(entries: list[dict[str, Any]]) -> int:
    """POSTs that reached Arktos: the simulator's audit log has one entry per attempt; Envoy's access log (a
    real Arktos) one per client request, with the number of upstream attempts Envoy made for it."""
    return sum(int(e.get("attempts") or 1) for e in entries)


def soft_reboot(session: Api, sid: str) -> requests.Response:
    return session.post(f"/servers/{sid}/action", json={"reboot": {"type": "SOFT"}})


def at_the_start_of_a_second() -> None:
    """Both requests then reach Arktos within the same second (they take milliseconds)."""
    time.sleep(1.02 - time.time() % 1)


def action_posts(stack: Stack, before: int, sid: str) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.arktos_request_log()[before:]
        if e["method"] == "POST" and e["path"] == f"/api/v1/tenants/demo/namespaces/default/pods/{sid}/action"
    ]


def test_two_reboots_in_one_second_both_succeed(
    stack: Stack, demo_api: Api, two_servers: tuple[str, str]
) -> None:
    """The processor sends them to Arktos in two different seconds: neither collides nor is retried."""
    # Two users, two sessions (one each), the same project.
    sessions = [Api(stack.public_url, DEMO_TOKEN, "demo") for _ in two_servers]
    for sid in two_servers:
        eventually(f"{sid} ACTIVE", lambda sid=sid: active_and_idle(demo_api, sid))
    restarts = {sid: restart_count(stack, sid) for sid in two_servers}
    before = len(stack.arktos_request_log())
    at_the_start_of_a_second()
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(soft_reboot, sessions, two_servers))
    assert [r.status_code for r in replies] == [202, 202], [r.text for r in replies]
    for sid, count in restarts.items():
        eventually("reboot", lambda sid=sid, count=count: restart_count(stack, sid) == count + 1 or None)
    posts = sorted(attempts(action_posts(stack, before, sid)) for sid in two_servers)
    assert posts == [1, 1], posts


def direct_reboot(stack: Stack, sid: str) -> requests.Response:
    """A reboot that does not go through the gateway (kubectl, another processor): the pacer cannot see it."""
    body = {
        "apiVersion": "v1",
        "kind": "CustomAction",
        "operation": "reboot",
        "rebootParams": {"delayInSeconds": 0},
    }
    return requests.post(
        f"{stack.arktos_url}/api/v1/tenants/demo/namespaces/default/pods/{sid}/action",
        json=body,
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        verify=str(stack.ca_path) if stack.ca_path else True,
        timeout=30,
    )


def test_a_collision_with_a_reboot_from_outside_the_gateway_is_retried(
    stack: Stack, demo_api: Api, two_servers: tuple[str, str]
) -> None:
    """Envoy retries Arktos's 409 on the Action name past the second boundary: the reboot succeeds."""
    outside, ours = two_servers
    # NOTE: on a loaded machine the two requests can reach Arktos in different seconds and not collide; every
    # attempt must succeed, and the test goes on until one attempt did collide (proving the retry).
    collided = []
    for _attempt in range(COLLISION_ATTEMPTS):
        for sid in two_servers:
            eventually(f"{sid} ACTIVE", lambda sid=sid: active_and_idle(demo_api, sid))
        count = restart_count(stack, ours)
        before = len(stack.arktos_request_log())
        at_the_start_of_a_second()
        assert direct_reboot(stack, outside).status_code == 201
        reply = soft_reboot(demo_api, ours)
        assert reply.status_code == 202, reply.text
        eventually("reboot", lambda count=count: restart_count(stack, ours) == count + 1 or None)
        posts = attempts(action_posts(stack, before, ours))
        assert posts in (1, 2), posts
        collided.append(posts == 2)
        if posts == 2:
            break
    assert any(collided), f"the reboots never reached Arktos in one second in {len(collided)} attempts"


def test_a_nova_state_conflict_is_not_retried(
    stack: Stack, demo_api: Api, two_servers: tuple[str, str]
) -> None:
    """os-start of a running server on the short path (the cache cannot decide without the tenant):
    Arktos refuses the conditional powerSpec patch; exactly one call, Nova's 409."""
    sid = two_servers[0]
    eventually(
        "ACTIVE",
        lambda: True if demo_api.get(f"/servers/{sid}").json()["server"]["status"] == "ACTIVE" else None,
    )
    before = len(stack.arktos_request_log())
    reply = Api(stack.public_url, DEMO_TOKEN, None).post(f"/servers/{sid}/action", json={"os-start": None})
    assert reply.status_code == 409, reply.text
    assert "while it is in vm_state active" in reply.json()["conflictingRequest"]["message"]
    calls = [e for e in stack.arktos_request_log()[before:] if e["path"].endswith(sid)]
    assert [c["method"] for c in calls] == ["PATCH"]


def test_retry_headers_from_clients_never_reach_envoys_router(
    stack: Stack, two_servers: tuple[str, str]
) -> None:
    """A client cannot make the gateway retry (or time out) its own requests."""
    sid = two_servers[1]
    before = len(stack.arktos_request_log())
    reply = requests.post(
        f"{stack.public_url}/compute/v2.1/servers/{sid}/action",
        json={"os-start": None},
        headers={
            "X-Auth-Token": DEMO_TOKEN,
            "x-envoy-retry-on": "4xx,retriable-status-codes",
            "x-envoy-retriable-status-codes": "409,422",
            "x-envoy-max-retries": "5",
        },
        timeout=30,
    )
    assert reply.status_code == 409, reply.text
    calls = [e for e in stack.arktos_request_log()[before:] if e["path"].endswith(sid)]
    assert [c["method"] for c in calls] == ["PATCH"]
