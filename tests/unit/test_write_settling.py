"""``Gateway.until_settled``: a compute write waits for the watch cache to show this processor's earlier pod
writes of its tenant before it is built from the cache (read-your-writes for writes; e2e:
``tests/e2e/test_write_after_write.py``)."""

from __future__ import annotations

import asyncio
import copy

import pytest

from extproc import app
from extproc.cluster_cache import POD, ClusterCache
from extproc.messages import ClientRequest
from tests.unit.test_compute_list_cache import client, cluster_pods, gateway, synced

METADATA = "/compute/v2.1/demo/servers/a1/metadata"


def behind() -> tuple[ClusterCache, app.Gateway]:
    """A cache whose watch has not applied the processor's last pod write of tenant demo (version 500)."""
    cache = synced(cluster_pods())
    cache.note_written("demo", "500")
    return cache, gateway(cache)


def a_pod_at(cache: ClusterCache, version: str) -> None:
    pod = copy.deepcopy(cluster_pods()[0])
    pod["metadata"]["resourceVersion"] = version
    cache.apply_event(POD, "MODIFIED", pod)


def test_a_current_cache_builds_every_request_at_once() -> None:
    gw = gateway(synced(cluster_pods()))
    for method in ("GET", "POST", "PUT", "DELETE"):
        assert gw.until_settled(client(method, METADATA, {"metadata": {}})) is None


@pytest.mark.parametrize(
    "request_",
    [
        client("GET", METADATA),
        client("GET", "/compute/v2.1/demo/servers/detail"),
        # Another tenant's write: its cache is current.
        client("POST", "/compute/v2.1/other/servers/k2/metadata", {"metadata": {"a": "1"}}),
        # A create builds on no pod (quota and catalog come from other watches; Arktos enforces its quota).
        client("POST", "/compute/v2.1/demo/servers", {"server": {"name": "n"}}),
        # Not a compute write: the images' ConfigMaps have their own versions (extproc.image.records).
        client("DELETE", "/image/v2/images/i1"),
        client("POST", "/identity/v3/auth/tokens", {}),
    ],
    ids=["get", "list", "other-tenant", "create", "image", "identity"],
)
def test_reads_and_writes_the_pending_write_does_not_concern_go_at_once(request_: ClientRequest) -> None:
    _, gw = behind()
    assert gw.until_settled(request_) is None


@pytest.mark.parametrize(
    "request_",
    [
        client("POST", METADATA, {"metadata": {"a": "1"}}),
        client("DELETE", f"{METADATA}/a"),
        client("PUT", "/compute/v2.1/demo/servers/a1", {"server": {"name": "n"}}),
        client("POST", "/compute/v2.1/demo/servers/a1/action", {"lock": None}),
        client("DELETE", "/compute/v2.1/demo/servers/a1"),
        # The short path: its tenant is only known from the cache, so any pending write holds it.
        client("POST", "/compute/v2.1/servers/a1/metadata", {"metadata": {"a": "1"}}),
    ],
    ids=["metadata", "metadata-item", "update", "action", "delete", "short-path"],
)
def test_a_write_of_the_tenant_waits_until_the_watch_shows_the_pending_write(request_: ClientRequest) -> None:
    cache, gw = behind()

    async def run() -> tuple[bool, bool]:
        waiting = gw.until_settled(request_)
        assert waiting is not None
        task = asyncio.ensure_future(waiting)
        await asyncio.sleep(0.01)
        before = task.done()
        a_pod_at(cache, "499")  # a change, still short of the write
        await asyncio.sleep(0.01)
        still = task.done()
        a_pod_at(cache, "500")
        await asyncio.wait_for(task, 1.0)
        return before, still

    assert asyncio.run(run()) == (False, False)
    assert gw.until_settled(request_) is None


def test_a_watch_that_never_shows_it_holds_the_write_only_so_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "WRITE_CATCH_UP_SECONDS", 0.05)
    _, gw = behind()

    async def run() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiting = gw.until_settled(client("DELETE", f"{METADATA}/a"))
        assert waiting is not None
        await waiting
        return loop.time() - started

    assert 0.04 <= asyncio.run(run()) < 1.0


def test_versions_that_do_not_compare_hold_nothing() -> None:
    cache, gw = behind()
    a_pod_at(cache, "not-a-number")
    assert not cache.caught_up("demo")  # lists read Arktos for good
    assert gw.until_settled(client("DELETE", f"{METADATA}/a")) is None
