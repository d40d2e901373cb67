"""Server lists answered from the watch-fed cache: authorized by a one-item probe of the same Arktos list,
identical to the full-list translation, and never older than the client's own writes through the gateway."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from extproc import annotations as keys
from extproc import app
from extproc.catalog import CatalogStore
from extproc.cluster_cache import ACTION, POD, REPLICASET, ClusterCache
from extproc.compute import server_list
from extproc.compute.pod_facts import facts, list_facts
from extproc.compute.server_view import ServerView
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from tests.unit.server_doubles import PODS, PUBLIC, TOKEN, arktos_reply, pod_list, vm_pod

LIST_QUERIES: list[dict[str, Any]] = [
    {},
    {"name": "web"},
    {"name": "^db-2$"},
    {"status": "active"},
    {"status": ["BUILD", "ACTIVE"]},
    {"image": "other-image"},
    {"flavor": "2"},
    {"reservation_id": "r-11111111"},
    {"reservation_id": "r-x,y=z"},
    {"changes-since": "2024-01-01T00:00:02Z"},
    {"ip": "^10\\.0\\."},
    {"limit": "2"},
    {"limit": "2", "marker": "a3"},
    {"limit": "1", "marker": "a4", "name": "web"},
    {"marker": "a3", "name": "web"},
    {"marker": "nope"},
    {"all_tenants": "1"},
    {"all_tenants": "1", "tenant_id": "other"},
    {"all_tenants": "1", "project_id": "demo", "limit": "3"},
]


def cluster_pods() -> list[dict[str, Any]]:
    """``PODS`` as Arktos lists them (namespace, uid, resourceVersion), plus another tenant's server."""
    pods = copy.deepcopy([p for p in PODS if "virtualMachine" in p["spec"]])
    other = vm_pod("k2", "2024-01-01T00:00:08Z", tenant="other")
    for rv, pod in enumerate([*pods, other], start=10):
        pod["metadata"].update(namespace="default", uid=str(uuid.uuid4()), resourceVersion=str(rv))
    return [*pods, other]


def synced(pods: list[dict[str, Any]]) -> ClusterCache:
    cache = ClusterCache()
    cache.apply_list(POD, pods)
    cache.apply_list(ACTION, [])
    cache.apply_list(REPLICASET, [])
    return cache


def ctx(cluster: ClusterCache | None, tenant: str | None = "demo") -> RequestContext:
    return RequestContext(GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", tenant, cluster)


def request(detail: bool = False, **query: Any) -> ClientRequest:
    multi = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    path = "/compute/v2.1/demo/servers" + ("/detail" if detail else "")
    return ClientRequest("GET", path, multi, {"x-auth-token": TOKEN})


def forward_of(cluster: ClusterCache | None, detail: bool, tenant: str | None = "demo", **q: Any) -> Forward:
    handler = server_list.list_servers_detail if detail else server_list.list_servers
    outcome = handler(ctx(cluster, tenant), request(detail, **q), {})
    assert isinstance(outcome, Forward), outcome
    return outcome


def translated(forward: Forward, reply: ArktosReply) -> Reply:
    result = forward.translate(reply)
    assert isinstance(result, Reply)
    return result


def query_of(forward: Forward) -> dict[str, list[str]]:
    return parse_qs(urlsplit(forward.upstream.path).query)


def probe_reply(pods: list[dict[str, Any]]) -> ArktosReply:
    return pod_list(pods[:1])


# ---------------------------------------------------------------------------------------------------------
# The probe and the answer


@pytest.mark.parametrize("detail", [False, True])
@pytest.mark.parametrize("query", LIST_QUERIES)
def test_cache_answer_is_the_full_list_answer(query: dict[str, Any], detail: bool) -> None:
    pods = cluster_pods()
    full = forward_of(None, detail, **query)
    probe = forward_of(synced(pods), detail, **query)
    # The same Arktos list, path and selector, one item only.
    assert urlsplit(probe.upstream.path).path == urlsplit(full.upstream.path).path
    assert query_of(probe) == {**query_of(full), "limit": ["1"]}
    assert probe.upstream.method == full.upstream.method == "GET"
    # Arktos's full list of that path: the tenant's pods, or everybody's.
    listed = pods if query.get("all_tenants") else [p for p in pods if p["metadata"]["tenant"] == "demo"]
    expected = translated(full, pod_list(listed))
    got = translated(probe, probe_reply(listed))
    assert (got.status, orjson.loads(got.body)) == (expected.status, orjson.loads(expected.body))


def test_short_path_takes_the_tenant_from_the_probe() -> None:
    pods = cluster_pods()
    demo = [p for p in pods if p["metadata"]["tenant"] == "demo"]
    forward = forward_of(synced(pods), False, tenant=None)
    assert forward.upstream.path == "/api/v1/namespaces/default/pods?limit=1"
    body = orjson.loads(translated(forward, probe_reply(demo)).body)
    assert [s["id"] for s in body["servers"]] == ["a4", "a3", "a2", "a1"]
    other = [p for p in pods if p["metadata"]["tenant"] == "other"]
    body = orjson.loads(translated(forward, probe_reply(other)).body)
    assert [s["id"] for s in body["servers"]] == ["k2"]


def test_short_path_probe_without_pods_is_an_empty_list() -> None:
    # The caller's tenant has no pod at all in the namespace (whatever the cache holds for others).
    forward = forward_of(synced(cluster_pods()), False, tenant=None)
    assert orjson.loads(translated(forward, pod_list([])).body) == {"servers": []}
    with_marker = forward_of(synced(cluster_pods()), False, tenant=None, marker="a1")
    assert translated(with_marker, pod_list([])).status == 400


def test_refused_probe_is_the_lists_error() -> None:
    forward = forward_of(synced(cluster_pods()), False, tenant="system")
    assert translated(forward, arktos_reply("16-pod-get-crosstenant.json")).status == 403
    # The short path reads the probe's pod (the caller's tenant): a malformed list is Arktos's fault.
    short = forward_of(synced(cluster_pods()), False, tenant=None)
    assert translated(short, ArktosReply(200, {}, b"[]")).status == 500


def test_every_probe_needs_its_body_for_the_revision_it_carries() -> None:
    """Issue 13 lever 3 (status-only probes) does not apply to server lists: the probe's body carries the
    collection resourceVersion the answer must not be older than (issue 12 item 3, fixture 37), even when
    the tenant is in the URL (or all tenants): a 2xx without it is never answered from the cache."""
    pods = cluster_pods()
    for tenant, query in (("demo", {}), ("demo", {"all_tenants": "1"}), (None, {})):
        forward = forward_of(synced(pods), True, tenant=tenant, **query)
        assert translated(forward, ArktosReply(200, {}, b"")).status == 500
    # Errors are translated from their body.
    forward = forward_of(synced(pods), False, tenant="system")
    assert translated(forward, arktos_reply("16-pod-get-crosstenant.json")).status == 403


def test_cache_reflects_changes_and_sorts_again() -> None:
    pods = cluster_pods()
    cache = synced(pods)
    forward = forward_of(cache, False)
    first = orjson.loads(translated(forward, probe_reply(pods)).body)["servers"][0]
    assert first["id"] == "a4"
    newer = vm_pod("a9", "2024-01-02T00:00:00Z")
    newer["metadata"].update(namespace="default", uid="u-a9", resourceVersion="99")
    cache.apply_event(POD, "ADDED", newer)
    gone = copy.deepcopy(pods[0])
    gone["metadata"]["resourceVersion"] = "100"
    cache.apply_event(POD, "DELETED", gone)
    ids = [s["id"] for s in orjson.loads(translated(forward, probe_reply(pods)).body)["servers"]]
    assert ids == ["a9", "a4", "a3", "a2"]


# ---------------------------------------------------------------------------------------------------------
# When the full list is read instead


def test_without_a_synced_cache_the_full_list_is_read() -> None:
    assert "limit" not in query_of(forward_of(None, False))
    assert "limit" not in query_of(forward_of(ClusterCache(), False))
    # Through Envoy: its reply may be 28 MB (the processor reads only the one-item probe itself).
    assert not forward_of(None, True).direct


def test_the_probe_is_read_by_the_processor_and_stays_direct_through_the_gateway() -> None:
    cache = synced(cluster_pods())
    assert forward_of(cache, True).direct and forward_of(cache, False).direct
    outcome = gateway(cache).handle(client("GET", "/compute/v2.1/demo/servers/detail"), "req-1")
    assert isinstance(outcome, Forward) and outcome.direct


def gateway(cache: ClusterCache) -> app.Gateway:
    return app.Gateway(GatewayConfig(public_url=PUBLIC), CatalogStore(), cache)


def client(method: str, path: str, body: Any = None) -> ClientRequest:
    data = orjson.dumps(body) if body is not None else b""
    return ClientRequest(method, path, {}, {"x-auth-token": TOKEN}, data)


def through(gw: app.Gateway, req: ClientRequest, reply: ArktosReply) -> tuple[Forward, Reply]:
    outcome = gw.handle(req, "req-1")
    assert isinstance(outcome, Forward)
    return outcome, translated(outcome, reply)


def test_own_writes_are_listed_from_arktos_until_the_watch_shows_them() -> None:
    pods = cluster_pods()
    cache = synced(pods)
    gw = gateway(cache)
    list_req = client("GET", "/compute/v2.1/demo/servers")
    assert "limit=1" in through(gw, list_req, probe_reply(pods))[0].upstream.path

    # A create through the gateway: Arktos's 201 carries the new pod's version.
    create = {"server": {"name": "vm", "imageRef": "cirros-0.5.2-x86_64-disk", "flavorRef": "1"}}
    forward = gw.handle(client("POST", "/compute/v2.1/demo/servers", create), "req-2")
    assert isinstance(forward, Forward) and forward.upstream.body is not None
    created = orjson.loads(forward.upstream.body)
    created["metadata"].update(tenant="demo", namespace="default", uid="u-new", resourceVersion="500")
    created["metadata"]["creationTimestamp"] = "2024-02-01T00:00:00Z"
    assert translated(forward, ArktosReply(201, {}, orjson.dumps(created))).status == 202
    assert cache.written_version("demo") == 500 and not cache.caught_up("demo")

    # The watch has not shown it yet: the list reads Arktos's whole list, which has it.
    fallback, reply = through(gw, list_req, pod_list([*pods, created]))
    assert "limit" not in fallback.upstream.path
    assert orjson.loads(reply.body)["servers"][0]["id"] == created["metadata"]["name"]
    # Other tenants' lists are not held back; all-tenants lists are.
    other = client("GET", "/compute/v2.1/other/servers")
    assert "limit=1" in through(gw, other, probe_reply(pods[-1:]))[0].upstream.path
    assert cache.caught_up("other") and not cache.caught_up(None)

    # Once the watch applied it, the cache answers, with the new server.
    cache.apply_event(POD, "ADDED", created)
    probe, reply = through(gw, list_req, probe_reply(pods))
    assert "limit=1" in probe.upstream.path
    assert orjson.loads(reply.body)["servers"][0]["id"] == created["metadata"]["name"]

    # A delete: Arktos's 200 carries the pod at the version of its deletion.
    sid = created["metadata"]["name"]
    deleted = copy.deepcopy(created)
    deleted["metadata"]["resourceVersion"] = "501"
    _, reply = through(
        gw, client("DELETE", f"/compute/v2.1/demo/servers/{sid}"), ArktosReply(200, {}, orjson.dumps(deleted))
    )
    assert reply.status == 204 and not cache.caught_up("demo")
    assert "limit" not in through(gw, list_req, pod_list(pods))[0].upstream.path
    cache.apply_event(POD, "DELETED", deleted)
    probe, reply = through(gw, list_req, probe_reply(pods))
    assert "limit=1" in probe.upstream.path
    assert sid not in [s["id"] for s in orjson.loads(reply.body)["servers"]]


def test_failed_writes_and_other_paths_are_not_noted() -> None:
    cache = synced(cluster_pods())
    gw = gateway(cache)
    sid = "a1"
    missing = arktos_reply("11-pod-get-missing.json")
    through(gw, client("DELETE", f"/compute/v2.1/demo/servers/{sid}"), missing)
    through(gw, client("GET", f"/compute/v2.1/demo/servers/{sid}"), pod_list([]))
    assert cache.written_version("demo") == -1 and cache.caught_up(None)


# ---------------------------------------------------------------------------------------------------------
# The cache's bookkeeping


def test_written_versions_are_bounded_and_never_forgotten_downwards(monkeypatch: pytest.MonkeyPatch) -> None:
    from extproc import read_your_writes

    monkeypatch.setattr(read_your_writes, "WRITTEN_CAPACITY", 2)
    cache = synced([])
    cache.note_written("t1", "7")
    cache.note_written("t2", "5")
    cache.note_written("t3", "3")  # t1 evicted: its version becomes everyone's bound
    assert cache.written_version("t1") == 7 and cache.written_version("unknown") == 7
    assert cache.written_version("t3") == 3 and cache.written_version(None) == 7
    cache.note_pod_progress("6")
    assert cache.caught_up("t2") and not cache.caught_up("t1") and not cache.caught_up(None)
    cache.note_pod_progress("7")
    assert cache.caught_up(None)


def test_container_pod_events_and_bookmarks_advance_the_watch() -> None:
    cache = synced([])
    cache.note_written("demo", "12")
    container = {"metadata": {"name": "c", "tenant": "demo", "namespace": "default", "resourceVersion": "12"}}
    cache.apply_event(POD, "ADDED", {**container, "spec": {"containers": []}})
    assert cache.caught_up("demo") and cache.pod("demo", "default", "c") is None


def test_a_write_without_a_version_waits_for_one_more_event() -> None:
    cache = synced(cluster_pods())  # at version 14
    cache.note_written("demo", None)
    assert not cache.caught_up("demo")
    cache.note_pod_progress("15")
    assert cache.caught_up("demo")


def test_versions_that_are_not_integers_turn_the_cache_path_off() -> None:
    cache = synced(cluster_pods())
    cache.note_written("demo", "abc")
    assert not cache.caught_up("demo") and not cache.caught_up("other")
    assert "limit" not in query_of(forward_of(cache, False))


def test_derived_values_are_rebuilt_only_after_a_change_in_their_scope() -> None:
    pods = cluster_pods()
    cache = synced(pods)
    built: list[int] = []

    def build(items: list[Mapping[str, Any]]) -> int:
        built.append(len(items))
        return len(items)

    assert cache.derived("demo", "default", build) == 4
    assert cache.derived("demo", "default", build) == 4
    assert cache.derived(None, "default", build) == 5
    other = vm_pod("k3", "2024-01-01T00:00:09Z", tenant="other")
    other["metadata"].update(namespace="default", resourceVersion="50")
    cache.apply_event(POD, "ADDED", other)
    assert cache.derived("demo", "default", build) == 4  # another tenant's change: kept
    assert cache.derived(None, "default", build) == 6
    assert built == [4, 5, 6]


# ---------------------------------------------------------------------------------------------------------
# Memoized views


def test_list_views_equal_fresh_views_and_follow_new_versions() -> None:
    pods = cluster_pods()
    view = ServerView(PUBLIC, "demo")
    assert view.detail(pods) == [view.show(p) for p in pods]
    assert list_facts(pods[0]) is list_facts(copy.deepcopy(pods[0]))  # same uid and version: same facts
    changed = copy.deepcopy(pods[0])
    changed["metadata"]["annotations"][keys.USER_ID] = "someone"
    changed["metadata"]["resourceVersion"] = "77"
    assert list_facts(changed) == facts(changed) and list_facts(changed).user_id == "someone"
    # The displayed name (a batch member's provisional one) is per request, not a fact.
    renamed = copy.deepcopy(changed)
    renamed["metadata"]["annotations"][keys.DISPLAY_NAME] = "web-7"
    assert view.detail([renamed])[0]["name"] == "web-7"
