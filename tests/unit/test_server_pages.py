"""Prerendered server-list pages (``extproc.compute.server_pages``, issue 13 lever (p3)): a page answered from
the watch cache is memoized, and EVERY source it is rendered from moves it: each test below lists once (the
page is remembered), changes one source, and checks that the next list is the page rendered afresh and that
it differs (so the test fails if that source were left out of the key). Real ``ClusterCache``,
``CatalogStore`` and translators; Arktos's probe replies by hand."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from extproc import annotations as keys
from extproc.catalog import CatalogStore
from extproc.cluster_cache import (
    ACTION,
    POD,
    REBOOT_TYPE_TTL,
    REPLICASET,
    SUBMITTED_TTL,
    ClusterCache,
)
from extproc.compute import server_list, server_pages
from extproc.compute.server_pages import PageMemo
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ClientRequest, Forward, Reply
from tests.unit.server_doubles import PUBLIC, TOKEN, pod_list, vm_pod
from tests.unit.test_batch_create import batch_forward, controller_pods
from tests.unit.test_batch_reconciler import stored_rs
from tests.unit.test_compute_list_cache import cluster_pods

NEW_IMAGE = "11111111-2222-3333-4444-555555555555"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def own_memo(monkeypatch: pytest.MonkeyPatch) -> Iterator[PageMemo]:
    """A memo of this test's own (the processor's is module-wide)."""
    memo = PageMemo()
    monkeypatch.setattr(server_pages, "PAGES", memo)
    yield memo


class Lists:
    """Lists of one cache and catalog, as ``server_list`` answers them after the probe."""

    def __init__(self, pods: list[dict[str, Any]] | None = None, catalog: CatalogStore | None = None) -> None:
        self.clock = Clock()
        self.cache = ClusterCache(clock=self.clock, wall=lambda: 1767225600.0)
        self.cache.apply_list(POD, pods if pods is not None else cluster_pods())
        self.cache.apply_list(ACTION, [])
        self.cache.apply_list(REPLICASET, [])
        self.catalog = catalog or CatalogStore()

    def reply(
        self,
        *,
        detail: bool = True,
        tenant: str | None = "demo",
        version: tuple[int, int] = (2, 1),
        public: str = PUBLIC,
        namespace: str = "default",
        probe: list[dict[str, Any]] | None = None,
        **query: Any,
    ) -> Reply:
        config = GatewayConfig(public_url=public, namespace=namespace)
        ctx = RequestContext(config, self.catalog, "req-1", tenant, self.cache, compute_version=version)
        multi = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
        path = "/compute/v2.1/servers" + ("/detail" if detail else "")
        req = ClientRequest("GET", path, multi, {"x-auth-token": TOKEN})
        handler = server_list.list_servers_detail if detail else server_list.list_servers
        forward = handler(ctx, req, {})
        assert isinstance(forward, Forward) and forward.direct, forward
        listed = probe if probe is not None else [self.demo_pod()]
        result = forward.translate(pod_list(listed))
        assert isinstance(result, Reply), result
        return result

    def page(self, **kwargs: Any) -> bytes:
        reply = self.reply(**kwargs)
        assert reply.status == 200, reply.body
        return reply.body

    def fresh(self, **kwargs: Any) -> bytes:
        """The page rendered without any memo (what the memo must equal)."""
        saved = server_pages.PAGES
        server_pages.PAGES = PageMemo(capacity=0)
        try:
            return self.page(**kwargs)
        finally:
            server_pages.PAGES = saved

    def pod(self, name: str) -> dict[str, Any]:
        found = self.cache.pod("demo", "default", name)
        assert found is not None
        return copy.deepcopy(dict(found))

    def demo_pod(self) -> dict[str, Any]:
        return self.pod("a1")


def remembered_then_changed(lists: Lists, change: Callable[[], None], **kwargs: Any) -> tuple[bytes, bytes]:
    """The page before and after ``change``, checking that it was served from the memo before the change and
    is the fresh render after it."""
    before = lists.page(**kwargs)
    assert lists.page(**kwargs) is before  # the same bytes object: from the memo
    assert before == lists.fresh(**kwargs)
    change()
    after = lists.page(**kwargs)
    assert after == lists.fresh(**kwargs)
    assert after != before
    return before, after


def servers(body: bytes) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = orjson.loads(body)["servers"]
    return listed


def by_id(body: bytes) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in servers(body)}


# ---------------------------------------------------------------------------------------------------------
# The memo itself


@pytest.mark.parametrize("detail", [False, True])
@pytest.mark.parametrize(
    "query",
    [{}, {"limit": "2"}, {"limit": "2", "marker": "a3"}, {"name": "web"}, {"status": "ACTIVE"}],
)
def test_a_remembered_page_is_the_page_rendered_afresh(detail: bool, query: dict[str, Any]) -> None:
    lists = Lists()
    first = lists.page(detail=detail, **query)
    again = lists.page(detail=detail, **query)
    assert again is first and first == lists.fresh(detail=detail, **query)


def test_an_error_page_is_not_remembered(own_memo: PageMemo) -> None:
    lists = Lists()
    assert lists.reply(marker="nope").status == 400
    assert len(own_memo) == 0


def test_the_memo_is_bounded_by_entries_and_bytes() -> None:
    memo = PageMemo(capacity=2, max_bytes=10)

    def key(name: str) -> server_pages.PageKey:
        return server_pages.PageKey(True, (), "demo", "default", (("name", (name,)),))

    def body(data: bytes) -> Callable[[], Reply]:
        return lambda: Reply(200, data)

    memo.page(key("a"), lambda: 1, body(b"aaaa"))
    memo.page(key("b"), lambda: 1, body(b"bbbb"))
    memo.page(key("a"), lambda: 1, body(b"xxxx"))  # a hit: "a" becomes the most recent
    memo.page(key("c"), lambda: 1, body(b"cccc"))  # "b", the least recent, goes
    assert len(memo) == 2
    assert memo.page(key("a"), lambda: 1, body(b"new")).body == b"aaaa"
    assert memo.page(key("b"), lambda: 1, body(b"new")).body == b"new"
    # Bytes: 4 + 3 + 4 > 10, so only the two most recent stay; a body over the bound is never kept.
    assert len(memo) == 2
    memo.page(key("d"), lambda: 1, body(b"d" * 11))
    assert memo.page(key("d"), lambda: 1, body(b"other")).body == b"other"


def test_a_newer_stamps_page_replaces_the_older_one(own_memo: PageMemo) -> None:
    """Stamps only move forward: a scope that keeps changing holds one page per key, not one per change."""
    lists = Lists()
    for rv in range(90, 95):
        lists.page()
        pod = lists.pod("a2")
        pod["metadata"]["resourceVersion"] = str(rv)
        lists.cache.apply_event(POD, "MODIFIED", pod)
    last = lists.page()
    assert len(own_memo) == 1 and own_memo.size_bytes == len(last)
    assert lists.page() is last


def test_a_page_is_not_filed_under_a_stamp_that_moved_while_it_rendered(own_memo: PageMemo) -> None:
    stamps = iter(range(100))
    key = server_pages.PageKey(True, (), "demo", "default", ())
    own_memo.page(key, lambda: next(stamps), lambda: Reply(200, b"{}"))
    assert len(own_memo) == 0


# ---------------------------------------------------------------------------------------------------------
# Each source of a page moves it


def test_a_pod_change_in_the_scope_moves_the_page() -> None:
    lists = Lists()

    def rename() -> None:
        pod = lists.pod("a2")
        pod["metadata"]["annotations"][keys.DISPLAY_NAME] = "renamed"
        pod["metadata"]["resourceVersion"] = "90"
        lists.cache.apply_event(POD, "MODIFIED", pod)

    _, after = remembered_then_changed(lists, rename)
    assert by_id(after)["a2"]["name"] == "renamed"


def test_another_tenants_pod_change_keeps_the_page() -> None:
    lists = Lists()
    before = lists.page()
    other = vm_pod("k9", "2024-01-01T00:00:09Z", tenant="other")
    other["metadata"].update(namespace="default", uid="u-k9", resourceVersion="91")
    lists.cache.apply_event(POD, "ADDED", other)
    assert lists.page() is before
    # ... which an all-tenants page shows.
    remembered_then_changed(
        lists,
        lambda: lists.cache.apply_event(POD, "DELETED", {**other, "metadata": {**other["metadata"]}}),
        all_tenants="1",
    )


def test_a_refused_batch_member_moves_the_page() -> None:
    """A ReplicaSet change alone (no pod event): the member Arktos refused shows as an ERROR server."""
    _, rs = batch_forward(max_count=3)
    pods = controller_pods(rs, ["bbbbb", "aaaaa"])
    for pod in pods:
        pod["metadata"]["uid"] = "uid-" + pod["metadata"]["name"]
    lists = Lists(pods)
    lists.cache.apply_event(REPLICASET, "ADDED", stored_rs(rs, 2))
    failure = {
        "type": "ReplicaFailure",
        "status": "True",
        "lastTransitionTime": "2026-01-01T10:00:05Z",
        "reason": "FailedCreate",
        "message": "exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2",
    }
    failed = stored_rs(rs, 2, [failure])
    failed["metadata"]["resourceVersion"] = "6"
    before, after = remembered_then_changed(
        lists, lambda: lists.cache.apply_event(REPLICASET, "MODIFIED", failed), probe=pods[:1]
    )
    assert len(servers(before)) == 2
    assert [s["status"] for s in servers(after) if s["id"] not in by_id(before)] == ["ERROR"]


def reboot_action(name: str, pod_name: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "tenant": "demo",
            "namespace": "default",
            "resourceVersion": "94",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"podName": pod_name, "rebootAction": {}},
        "status": {},
    }


def test_an_action_in_flight_moves_the_page() -> None:
    lists = Lists()
    _, after = remembered_then_changed(
        lists, lambda: lists.cache.apply_event(ACTION, "ADDED", reboot_action("reboot-1", "a2"))
    )
    assert by_id(after)["a2"]["status"] == "REBOOT"
    done = reboot_action("reboot-1", "a2")
    done["status"] = {"complete": True}
    _, after = remembered_then_changed(lists, lambda: lists.cache.apply_event(ACTION, "MODIFIED", done))
    assert by_id(after)["a2"]["status"] == "ACTIVE"


def test_a_submission_the_watch_does_not_show_yet_moves_the_page_and_its_expiry_too() -> None:
    """The journal changes without any watch event, and its stand-ins expire with time alone."""
    lists = Lists()
    _, after = remembered_then_changed(
        lists, lambda: lists.cache.note_submitted("demo", "default", "a2", "reboot", "reboot-5")
    )
    assert by_id(after)["a2"]["status"] == "REBOOT"

    def expire() -> None:
        lists.clock.now += SUBMITTED_TTL

    _, after = remembered_then_changed(lists, expire)
    assert by_id(after)["a2"]["status"] == "ACTIVE"


def test_a_hard_reboots_note_expiring_moves_the_page() -> None:
    """The Action is in the watch (no stand-in); only the journal's note says HARD, until REBOOT_TYPE_TTL."""
    lists = Lists()
    lists.cache.note_submitted("demo", "default", "a2", "reboot", "reboot-6", hard=True)
    lists.cache.apply_event(ACTION, "ADDED", reboot_action("reboot-6", "a2"))
    before = lists.page()
    assert by_id(before)["a2"]["status"] == "HARD_REBOOT"
    lists.clock.now += SUBMITTED_TTL  # the stand-in's expiry: nothing shown changes
    assert lists.page() == before

    def expire() -> None:
        lists.clock.now += REBOOT_TYPE_TTL

    _, after = remembered_then_changed(lists, expire)
    assert by_id(after)["a2"]["status"] == "REBOOT"


def test_a_catalog_change_moves_the_page() -> None:
    """Pods without the image-id annotation show the image the catalog has at their URL."""
    pods = cluster_pods()
    for pod in pods:
        del pod["metadata"]["annotations"][keys.IMAGE_ID]
    lists = Lists(pods)
    image = {"id": NEW_IMAGE, "name": "mine", "url": pods[0]["spec"]["virtualMachine"]["image"]}

    def new_image() -> None:
        lists.catalog.set_configmap("demo", "openstack-images", {"mine": orjson.dumps(image).decode()}, "95")

    _, after = remembered_then_changed(lists, new_image)
    assert {s["image"]["id"] for s in servers(after)} == {NEW_IMAGE}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"limit": "2"}, {"limit": "3"}),
        ({"limit": "2"}, {"limit": "2", "marker": "a3"}),
        ({"name": "web"}, {"name": "db"}),
        ({}, {"status": "SHUTOFF"}),
        # The next link repeats the parameters, those the filters ignore too.
        ({"limit": "1"}, {"limit": "1", "deleted": "False"}),
        ({"limit": "1", "name": ["a", "web"]}, {"limit": "1", "name": ["web", "a"]}),
    ],
)
def test_the_query_is_part_of_the_key(first: dict[str, Any], second: dict[str, Any]) -> None:
    lists = Lists()
    a = lists.page(**first)
    b = lists.page(**second)
    assert a != b
    assert (a, b) == (lists.fresh(**first), lists.fresh(**second))


def test_the_same_query_in_another_order_is_the_same_page() -> None:
    lists = Lists()
    first = lists.page(limit="2", name="web")
    assert lists.page(name="web", limit="2") is first


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"detail": True}, {"detail": False}),
        ({"version": (2, 1)}, {"version": (2, 19)}),
        ({"public": PUBLIC}, {"public": "https://other.example"}),
        # The URL's project is in every link (short path: none).
        ({"tenant": "demo"}, {"tenant": None}),
        ({}, {"all_tenants": "1"}),
    ],
)
def test_the_request_is_part_of_the_key(first: dict[str, Any], second: dict[str, Any]) -> None:
    lists = Lists()
    a = lists.page(**first)
    b = lists.page(**second)
    assert a != b
    assert (a, b) == (lists.fresh(**first), lists.fresh(**second))


def more_pods(tenant: str, namespace: str, count: int) -> list[dict[str, Any]]:
    pods = []
    for i in range(count):
        pod = vm_pod(f"{tenant[:1]}{namespace[:1]}{i}", f"2024-01-01T00:00:1{i}Z", tenant=tenant)
        pod["metadata"].update(
            namespace=namespace, uid=f"u-{tenant}-{namespace}-{i}", resourceVersion=str(60 + i)
        )
        pods.append(pod)
    return pods


def test_the_tenant_arktos_resolved_is_part_of_the_key() -> None:
    """Short path: the tenant is the probe's pod's (Arktos's decision), the request's URL is the same. The
    other tenant has as many pods as demo, so the two scopes' stamps are alike."""
    lists = Lists([*cluster_pods(), *more_pods("other", "default", 3)])
    assert lists.cache.scope_stamp("demo", "default") == lists.cache.scope_stamp("other", "default")
    other = lists.cache.pod("other", "default", "k2")
    assert other is not None
    demo_page = lists.page(tenant=None)
    other_page = lists.page(tenant=None, probe=[copy.deepcopy(dict(other))])
    assert len(servers(other_page)) == 4 and "k2" in by_id(other_page)
    assert "k2" not in by_id(demo_page)
    assert other_page == lists.fresh(tenant=None, probe=[copy.deepcopy(dict(other))])


def test_the_namespace_is_part_of_the_key() -> None:
    """As many pods in both namespaces: alike stamps."""
    elsewhere = more_pods("demo", "other-ns", 4)
    lists = Lists([*cluster_pods(), *elsewhere])
    assert lists.cache.scope_stamp("demo", "default") == lists.cache.scope_stamp("demo", "other-ns")
    default_page = lists.page()
    other_page = lists.page(namespace="other-ns", probe=elsewhere[:1])
    assert sorted(by_id(other_page)) == sorted(p["metadata"]["name"] for p in elsewhere)
    assert not set(by_id(default_page)) & set(by_id(other_page))


def test_two_caches_never_share_a_page() -> None:
    """Counters of two caches start alike: their stamps still differ."""
    pods = cluster_pods()
    renamed = copy.deepcopy(pods)
    renamed[1]["metadata"]["annotations"][keys.DISPLAY_NAME] = "renamed"
    catalog = CatalogStore()
    first, second = Lists(pods, catalog), Lists(renamed, catalog)
    assert first.cache.scope_stamp("demo", "default")[1:] == second.cache.scope_stamp("demo", "default")[1:]
    assert first.page() != second.page()
    assert second.page() == second.fresh()


def test_two_catalogs_never_share_a_page() -> None:
    """Counters of two catalogs start alike (one change each here): their generations still differ."""
    pods = cluster_pods()
    for pod in pods:
        del pod["metadata"]["annotations"][keys.IMAGE_ID]
    lists = Lists(pods)
    url = pods[0]["spec"]["virtualMachine"]["image"]
    first, second = CatalogStore(), CatalogStore()
    for catalog, image_id in ((first, NEW_IMAGE), (second, NEW_IMAGE.replace("1", "9"))):
        image = {"id": image_id, "name": "mine", "url": url}
        catalog.set_configmap("demo", "openstack-images", {"mine": orjson.dumps(image).decode()}, "95")
    assert first.generation[1:] == second.generation[1:]
    lists.catalog = first
    a = lists.page()
    lists.catalog = second
    b = lists.page()
    assert a != b and b == lists.fresh()
