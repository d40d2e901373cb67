"""A list answered from the cache is never older than the revision Arktos authorized it at (issue 12 item 3):
the ``limit=1`` probe's collection resourceVersion (fixture 37). A replica whose watch has not reached it
waits for the watch, then reads the list from Arktos itself; a scope Arktos listed exactly as the cache
holds it is current at that revision."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable
from typing import Any

import orjson
import pytest

from extproc.arktos_client import ArktosUnavailable
from extproc.catalog import CatalogStore
from extproc.cluster_cache import POD, ClusterCache
from extproc.compute import server_list
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, Forward, Reply
from tests.unit.server_doubles import PUBLIC, vm_pod
from tests.unit.test_compute_list_cache import cluster_pods, request, synced

DEMO_PODS = "/api/v1/tenants/demo/namespaces/default/pods"


class FakeArktos:
    """The processor's own Arktos calls: records them, answers ``reply`` (or raises it)."""

    def __init__(self, reply: tuple[int, Any] | Exception) -> None:
        self.reply = reply
        self.calls: list[tuple[str, str]] = []

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str | None = None
    ) -> tuple[int, Any]:
        self.calls.append((method, path))
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


@pytest.fixture(autouse=True)
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_list, "FRESHNESS_WAIT_SECONDS", 0.05)


def demo_pods() -> list[dict[str, Any]]:
    return [p for p in cluster_pods() if p["metadata"]["tenant"] == "demo"]


def probe(cache: ClusterCache, arktos: FakeArktos | None, tenant: str | None = "demo") -> Forward:
    ctx = RequestContext(
        GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", tenant, cache, arktos=arktos
    )
    outcome = server_list.list_servers(ctx, request(), {})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path.endswith("limit=1")
    return outcome


def probe_at(pods: list[dict[str, Any]], revision: str) -> ArktosReply:
    body = {"kind": "PodList", "metadata": {"resourceVersion": revision}, "items": pods[:1]}
    return ArktosReply(200, {}, orjson.dumps(body))


def names(reply: Reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [s["name"] for s in orjson.loads(reply.body)["servers"]]


async def waited(result: Reply | Awaitable[Reply]) -> Reply:
    assert not isinstance(result, Reply), "the list should have waited for the watch"
    return await result


def test_a_revision_the_watch_has_reached_is_answered_from_the_cache_at_once() -> None:
    cache = synced(cluster_pods())  # pods at resourceVersions 10..14
    arktos = FakeArktos(ArktosUnavailable("not called"))
    for revision in ("13", "14"):
        reply = probe(cache, arktos).translate(probe_at(demo_pods(), revision))
        assert isinstance(reply, Reply) and len(names(reply)) == 4
    assert arktos.calls == []


async def test_a_revision_ahead_of_the_watch_waits_for_it() -> None:
    cache = synced(cluster_pods())
    arktos = FakeArktos(ArktosUnavailable("not called"))
    created = vm_pod("new", "2024-01-01T00:00:09Z")
    created["metadata"].update(namespace="default", uid="u-new", resourceVersion="20")

    pending = probe(cache, arktos).translate(probe_at(demo_pods(), "20"))
    # The write another replica made reaches this one's watch a little later.
    asyncio.get_running_loop().call_later(0.01, cache.apply_event, POD, "ADDED", created)
    assert "new" in names(await waited(pending))
    assert arktos.calls == []


async def test_a_watch_that_does_not_catch_up_reads_arktos_itself() -> None:
    cache = synced(cluster_pods())
    renamed = copy.deepcopy(demo_pods())
    renamed[0]["metadata"]["annotations"] = {"openstack.arktos.io/name": "renamed"}
    renamed[0]["metadata"]["resourceVersion"] = "19"
    arktos = FakeArktos((200, {"kind": "PodList", "metadata": {"resourceVersion": "20"}, "items": renamed}))
    assert len(names(await waited(probe(cache, arktos).translate(probe_at(demo_pods(), "20"))))) == 4
    # The processor's own list of the very scope Arktos authorized (tenant, namespace), whole.
    assert arktos.calls == [("GET", DEMO_PODS)]
    # Arktos listed something else than the cache holds: the next list at that revision asks again.
    await waited(probe(cache, arktos).translate(probe_at(demo_pods(), "20")))
    assert len(arktos.calls) == 2


async def test_a_scope_arktos_listed_as_the_cache_holds_it_is_current_at_that_revision() -> None:
    cache = synced(cluster_pods())
    arktos = FakeArktos(
        (200, {"kind": "PodList", "metadata": {"resourceVersion": "30"}, "items": demo_pods()})
    )
    first = await waited(probe(cache, arktos).translate(probe_at(demo_pods(), "30")))
    assert len(arktos.calls) == 1
    # Nothing written anywhere since (same revision): the cache answers at once, the same servers.
    again = probe(cache, arktos).translate(probe_at(demo_pods(), "30"))
    assert isinstance(again, Reply) and names(again) == names(first)
    assert len(arktos.calls) == 1
    # Another tenant's scope is not proven by it, nor is a later revision.
    await waited(probe(cache, arktos, tenant="other").translate(probe_at(demo_pods(), "30")))
    await waited(probe(cache, arktos).translate(probe_at(demo_pods(), "31")))
    assert len(arktos.calls) == 3


@pytest.mark.parametrize("failure", [ArktosUnavailable("down"), (500, {"kind": "Status"})])
async def test_arktos_unreachable_for_the_list_is_a_503_in_novas_shape(failure: Any) -> None:
    cache = synced(cluster_pods())
    reply = await waited(probe(cache, FakeArktos(failure)).translate(probe_at(demo_pods(), "20")))
    assert reply.status == 503
    assert orjson.loads(reply.body)["serviceUnavailable"]["code"] == 503
    assert (await waited(probe(cache, None).translate(probe_at(demo_pods(), "20")))).status == 503


def test_a_probe_without_a_revision_is_answered_as_before() -> None:
    # Arktos always reports one (fixture 37); a reply without it gives nothing to wait for.
    cache = synced(cluster_pods())
    body = {"kind": "PodList", "metadata": {}, "items": demo_pods()[:1]}
    reply = probe(cache, None).translate(ArktosReply(200, {}, orjson.dumps(body)))
    assert isinstance(reply, Reply) and len(names(reply)) == 4
