"""A list's collection resourceVersion is the store's revision when it was read, as on Arktos (fixture 37):
it orders like Arktos's (global: a later write of any kind gives a larger value), which is what the gateway's
replicas compare their watches with (issue 12 item 3). And the watch-delay test control keeps events in order.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from arktos_sim.api import Api
from arktos_sim.resources import PODS
from arktos_sim.store import Watcher
from tests.shared_fixtures import ARKTOS_FIXTURES

from .test_logic import call, make_api, vm_pod

PODS_PATH = "/api/v1/tenants/demo/namespaces/default/pods"


def revision(api: Api) -> int:
    status, listed = call(api, "GET", PODS_PATH, limit="1")
    assert status == 200
    return int(listed["metadata"]["resourceVersion"])


def test_a_limit_1_list_carries_the_stores_revision_as_recorded() -> None:
    recorded: dict[str, Any] = orjson.loads((ARKTOS_FIXTURES / "37-pod-list-limit1-rv.json").read_bytes())
    assert recorded["request"]["path"].endswith("pods?limit=1")
    assert "resourceVersion" in recorded["body"]["metadata"]
    api = make_api()
    call(api, "POST", PODS_PATH, body=vm_pod("p1"))
    call(api, "POST", PODS_PATH, body=vm_pod("p2"))
    status, listed = call(api, "GET", PODS_PATH, limit="1")
    assert status == 200 and len(listed["items"]) == 1 and set(listed["metadata"]) >= {"resourceVersion"}
    # Not the listed item's own version: the store's, at or above every object written so far.
    assert int(listed["metadata"]["resourceVersion"]) >= max(
        int(call(api, "GET", f"{PODS_PATH}/{n}")[1]["metadata"]["resourceVersion"]) for n in ("p1", "p2")
    )


def test_a_later_write_of_any_kind_gives_a_larger_revision() -> None:
    api = make_api()
    call(api, "POST", PODS_PATH, body=vm_pod("p1"))
    first = revision(api)
    assert revision(api) == first  # a read moves nothing
    # A ConfigMap write moves a pod list's value too (recorded on Arktos: 395 -> 396).
    configmap = {"metadata": {"name": "c1"}, "data": {"k": "v"}}
    assert call(api, "POST", "/api/v1/tenants/demo/namespaces/default/configmaps", body=configmap)[0] == 201
    second = revision(api)
    assert second > first
    call(api, "DELETE", f"{PODS_PATH}/p1")
    assert revision(api) > second


async def test_delayed_watch_events_arrive_late_and_in_order() -> None:
    api = make_api()
    store = api.store
    store.watch_delay = 0.05
    watcher = Watcher("demo", "default", [], [])
    store.watch(PODS, watcher, str(store.rv))
    for i in range(5):
        call(api, "POST", PODS_PATH, body=vm_pod(f"p{i}"))
    assert watcher.queue.empty()
    lines = [await asyncio.wait_for(watcher.queue.get(), 1.0) for _ in range(5)]
    assert [b'"name":"p%d"' % i in line for i, line in enumerate(lines)] == [True] * 5
