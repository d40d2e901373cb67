"""The states Nova shows while an action is still running (REBOOT, a snapshot image not yet active),
observed for certain: a stack of its own whose node agent takes 8 s per VM operation, so the reads that
follow an action's 202 land while the node agent is still working on it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from extproc.annotations import INSTANCE_ACTION_PREFIX
from gateway_stack import Stack
from tests.e2e.conftest import DEMO_TOKEN, Api, ArktosAdmin, StackFactory
from tests.polling import eventually

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.sim_only(
        "needs the simulator's node agent slowed down (--vm-boot-seconds) for its own stack"
    ),
]

IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"
# Long enough for a read right after a 202 (or a processor restart) to arrive first on a loaded machine.
NODE_AGENT_SECONDS = 8.0


@pytest.fixture(scope="module")
def slow_stack(make_stack: StackFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack(tmp_path_factory.mktemp("slow"), vm_boot_seconds=NODE_AGENT_SECONDS) as slow:
        assert isinstance(slow, Stack)
        yield slow


@pytest.fixture(scope="module")
def slow_api(slow_stack: Stack) -> Api:
    return Api(slow_stack.public_url, DEMO_TOKEN, "demo")


@pytest.fixture(scope="module")
def server_id(slow_api: Api) -> Iterator[str]:
    created = slow_api.post(
        "/servers", json={"server": {"name": "in-flight", "imageRef": IMAGE_ID, "flavorRef": "1"}}
    )
    assert created.status_code == 202, created.text
    sid: str = created.json()["server"]["id"]
    wait_until_active(slow_api, sid)
    yield sid
    slow_api.delete(f"/servers/{sid}")


def shown(api: Api, sid: str) -> dict[str, Any]:
    reply = api.get(f"/servers/{sid}")
    assert reply.status_code == 200, reply.text
    server: dict[str, Any] = reply.json()["server"]
    return server


def wait_until_active(api: Api, sid: str) -> dict[str, Any]:
    def idle() -> dict[str, Any] | None:
        server = shown(api, sid)
        return server if (server["status"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", None) else None

    return eventually(f"server {sid} ACTIVE with no task", idle)


def test_a_reboot_shows_reboot_until_the_node_agent_has_done_it(slow_api: Api, server_id: str) -> None:
    for kind, status, task in (("SOFT", "REBOOT", "rebooting"), ("HARD", "HARD_REBOOT", "rebooting_hard")):
        reply = slow_api.post(f"/servers/{server_id}/action", json={"reboot": {"type": kind}})
        assert reply.status_code == 202, reply.text
        during = shown(slow_api, server_id)
        assert (during["status"], during["OS-EXT-STS:task_state"]) == (status, task)
        wait_until_active(slow_api, server_id)


def test_a_hard_reboot_stays_hard_for_a_restarted_processor(
    slow_stack: Stack, slow_api: Api, server_id: str
) -> None:
    """Arktos has one kind of reboot: the type lives in the reboot's instance-action record on the pod, so a
    processor that did not submit it (restarted here; another replica alike) still shows HARD_REBOOT.

    The simulator's node agent is held (SIGUSR1) until the restarted processor has been read, so the reboot
    is still running then however long the restart takes on a loaded machine."""
    assert slow_stack.sim is not None
    slow_stack.sim.signal(signal.SIGUSR1)
    try:
        reply = slow_api.post(f"/servers/{server_id}/action", json={"reboot": {"type": "HARD"}})
        assert reply.status_code == 202, reply.text
        request_id = reply.headers["x-openstack-request-id"]
        pod_path = f"/api/v1/tenants/demo/namespaces/default/pods/{server_id}"

        arktos = ArktosAdmin(slow_stack)

        def recorded() -> dict[str, Any] | None:
            pod = arktos.get(pod_path)
            record = pod["metadata"].get("annotations", {}).get(INSTANCE_ACTION_PREFIX + request_id)
            return orjson.loads(record) if record else None

        assert eventually("the reboot's record on the pod", recorded)["reboot_type"] == "HARD"
        slow_stack.restart_processor(kill=True)

        def rebooting() -> dict[str, Any] | None:
            # The restarted processor serves before its watches have listed (no task shown until then).
            server = shown(slow_api, server_id)
            return server if server["OS-EXT-STS:task_state"] is not None else None

        during = eventually("the restarted processor showing the reboot", rebooting)
        assert (during["status"], during["OS-EXT-STS:task_state"]) == ("HARD_REBOOT", "rebooting_hard")
    finally:
        slow_stack.sim.signal(signal.SIGUSR2)
        wait_until_active(slow_api, server_id)


def test_a_snapshot_is_an_image_in_progress_before_it_is_active(slow_api: Api, server_id: str) -> None:
    reply = slow_api.post(f"/servers/{server_id}/action", json={"createImage": {"name": "in-flight-snap"}})
    assert reply.status_code == 202, reply.text
    location = reply.headers["Location"]
    first = slow_api.session.get(location, timeout=30)
    assert first.status_code == 200
    # queued: the processor has noted its Action and the watch has not shown it yet; saving: Arktos has it.
    assert first.json()["status"] in ("queued", "saving")
    during = shown(slow_api, server_id)
    assert (during["status"], during["OS-EXT-STS:task_state"]) == ("ACTIVE", "image_snapshot")

    def active() -> dict[str, Any] | None:
        image: dict[str, Any] = slow_api.session.get(location, timeout=30).json()
        return image if image["status"] == "active" else None

    assert eventually("the snapshot image active", active)["name"] == "in-flight-snap"
