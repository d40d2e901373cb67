"""Arktos names an Action ``<operation>-<unix seconds>`` per namespace (fixtures 54-55) and refuses a second
one in the same second (409 AlreadyExists). A burst of reboots of different servers in one project must all
succeed (issue 9 item 9; ``make bench``'s reboot row at 16 connections): the processor lets them go to
Arktos one per second, first come first served (``extproc.action_pacing``), through the real Envoy.
Envoy's retry of the 409 alone left a burst of this size to chance: a request losing ten rounds got 409.
"""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from extproc.messages import ArktosReply, ArktosRequest, ClientRequest, Forward, Reply
from tests.plumbing.harness import Plumbing, Seen

pytestmark = pytest.mark.timeout(120)

BURST = 18
SCOPE = "demo/default/reboot"


class ClockNamingArktos:
    """Arktos's naming of Actions: ``reboot-<unix seconds>`` in the namespace, 409 when taken."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.names: list[str] = []
        self.collisions = 0

    def respond(self, seen: Seen) -> tuple[int, bytes]:
        name = f"reboot-{int(time.time())}"
        with self.lock:
            if name in self.names:
                self.collisions += 1
                return 409, orjson.dumps({"kind": "Status", "reason": "AlreadyExists", "code": 409})
            self.names.append(name)
        return 201, orjson.dumps({"kind": "Status", "status": "Success", "details": {"name": name}})


def reboot_route(request: ClientRequest) -> Forward:
    sid = request.path.split("/")[-2]

    def translate(reply: ArktosReply) -> Reply:
        return Reply(202 if reply.status == 201 else reply.status, b"", {})

    upstream = ArktosRequest(
        "POST",
        f"/api/v1/tenants/demo/namespaces/default/pods/{sid}/action",
        body=b'{"operation":"reboot"}',
        content_type="application/json",
        retry_name_collision=True,
        name_clock_scope=SCOPE,
    )
    return Forward(upstream, translate)


def post(env: Plumbing, sid: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", env.public_port, timeout=60)
    try:
        body = b'{"reboot": {"type": "SOFT"}}'
        headers = {"X-Auth-Token": "t", "Content-Type": "application/json"}
        conn.request("POST", f"/compute/v2.1/demo/servers/{sid}/action", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_a_burst_of_reboots_in_one_project_all_succeed(env: Plumbing) -> None:
    arktos = ClockNamingArktos()
    env.arktos.respond = arktos.respond
    sids = [f"s{i}" for i in range(BURST)]
    for sid in sids:
        env.gateway.routes[f"/compute/v2.1/demo/servers/{sid}/action"] = reboot_route
    started = time.monotonic()
    with ThreadPoolExecutor(BURST) as pool:
        statuses = list(pool.map(lambda sid: post(env, sid), sids))
    elapsed = time.monotonic() - started
    assert statuses == [202] * BURST
    # One Action per second: the burst took about as many seconds as it has requests.
    assert len(set(arktos.names)) == BURST
    assert elapsed > BURST - 2
