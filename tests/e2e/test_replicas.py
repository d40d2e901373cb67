"""Two processors behind one Envoy agree (issue 12 item 3): a server created, renamed or deleted through one
replica shows in the very next list, answered by the other, whose own watch has not seen the write yet.

Envoy (one worker) sends each request's ext_proc stream to the two processors in turn (round robin), so a
write and the list right after it are served by different replicas; the test checks that from the
processors' logs. On the simulator every watch event is delayed (``--watch-delay-seconds``): the list's
replica has not seen the write when the list arrives, so only the revision Arktos reports on the list
(fixture 37) can tell it to wait for its watch or read Arktos. A real Arktos's watches lag as they do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from gateway_stack import Stack
from tests.e2e.conftest import DEMO_TOKEN, Api, StackFactory

pytestmark = pytest.mark.e2e

# Shorter than a list waits for its watch (server_list.FRESHNESS_WAIT_SECONDS): the wait is what serves.
SLOW_WATCH_SECONDS = 0.15
ROUNDS = 100


@pytest.fixture(scope="module")
def replicas(make_stack: StackFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("replicas")
    with make_stack(workdir, processors=2, sim_watch_delay_seconds=SLOW_WATCH_SECONDS) as running:
        yield running


def served_by(stack: Stack, request_ids: list[str]) -> dict[str, int]:
    """Which processor (0, 1) logged each request id (its log line follows the reply: wait for all)."""
    logs = [stack.processor_log, *stack.replica_logs]
    found: dict[str, int] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for index, path in enumerate(logs):
            for line in Path(path).read_bytes().splitlines():
                if b'"request_id"' not in line:
                    continue
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if entry.get("event") == "request" and entry.get("request_id") in request_ids:
                    found[entry["request_id"]] = index
        if len(found) == len(request_ids):
            break
        time.sleep(0.2)
    return found


def test_a_write_through_one_replica_is_in_the_next_list_through_the_other(replicas: Stack) -> None:
    api = Api(replicas.public_url, DEMO_TOKEN, "demo")
    pairs: list[tuple[str, str]] = []
    sid = ""
    for round_ in range(ROUNDS):
        step = round_ % 3
        if step == 0:
            written = api.post(
                "/servers",
                json={
                    "server": {
                        "name": f"rep-{round_}",
                        "imageRef": "cirros-0.5.2-x86_64-disk",
                        "flavorRef": "1",
                    }
                },
            )
            assert written.status_code == 202, written.text
            sid = written.json()["server"]["id"]
        elif step == 1:
            written = api.put(f"/servers/{sid}", json={"server": {"name": f"renamed-{round_}"}})
            assert written.status_code == 200, written.text
        else:
            written = api.delete(f"/servers/{sid}")
            assert written.status_code == 204, written.text
        listed = api.get("/servers/detail")
        assert listed.status_code == 200, listed.text
        servers = {s["id"]: s for s in listed.json()["servers"]}
        if step == 0:
            assert sid in servers, f"round {round_}: the created server is not listed"
        elif step == 1:
            assert servers[sid]["name"] == f"renamed-{round_}", f"round {round_}: {servers[sid]['name']}"
        else:
            # Gone, or shown as being deleted until Arktos's node confirms; never as if nothing happened.
            assert sid not in servers or servers[sid]["OS-EXT-STS:task_state"] == "deleting", round_
        pairs.append((written.headers["x-openstack-request-id"], listed.headers["x-openstack-request-id"]))

    ids = [rid for pair in pairs for rid in pair]
    where = served_by(replicas, ids)
    assert len(where) == len(ids), "every request is in one processor's log"
    crossed = [where[write] != where[listing] for write, listing in pairs]
    assert all(crossed), f"{crossed.count(False)} of {ROUNDS} lists went to the replica that wrote"
