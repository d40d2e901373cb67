"""Prerendered catalog replies (``extproc.catalog_rendered``, issue 13 lever (q1)): a flavors or images
reply answered from the catalog is rendered once per (generation, tenant, render key), its bytes are the
render's, every input of the render moves the key, and Arktos still decides every read before it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from extproc import app
from extproc.access_cache import AccessDecisions
from extproc.catalog import CatalogStore
from extproc.catalog_configmaps import image_entry
from extproc.catalog_entries import DEFAULT_IMAGES
from extproc.catalog_rendered import RenderedReplies
from extproc.cluster_cache import ACTION, ClusterCache
from extproc.config import GatewayConfig
from extproc.messages import ClientRequest, Forward, Reply
from extproc.snapshots import SnapshotRequest
from tests.unit.server_doubles import PUBLIC, TOKEN
from tests.unit.test_access_cache import Clock, review_reply
from tests.unit.test_actions_snapshots import DONE, IMAGE_ID, SID, cache_with, record, snap_action

NAMESPACE = "default"
DEMO_FLAVORS = f"/api/v1/tenants/demo/namespaces/{NAMESPACE}/configmaps/openstack-flavors"
ALT_FLAVORS = f"/api/v1/tenants/alt/namespaces/{NAMESPACE}/configmaps/openstack-flavors"
SHORT_FLAVORS = f"/api/v1/namespaces/{NAMESPACE}/configmaps/openstack-flavors"
SHORT_IMAGES = f"/api/v1/namespaces/{NAMESPACE}/configmaps/openstack-images"
DEMO_IMAGES = f"/api/v1/tenants/demo/namespaces/{NAMESPACE}/configmaps/openstack-images"
ALT_TOKEN = "alt-token"


def flavor_data(*specs: dict[str, Any]) -> dict[str, str]:
    return {str(spec["id"]): orjson.dumps(spec).decode() for spec in specs}


SYSTEM = flavor_data(
    {"id": "1", "name": "m1.tiny", "ram": 512, "vcpus": 1, "disk": 1},
    {"id": "2", "name": "m1.small", "ram": 2048, "vcpus": 1, "disk": 20, "description": "small"},
    {"id": "p", "name": "private", "ram": 64, "vcpus": 1, "disk": 1, "is_public": False, "projects": ["alt"]},
)
DEMO_OWN = flavor_data({"id": "d1", "name": "demo.only", "ram": 256, "vcpus": 1, "disk": 2, "swap": 16})


def catalog_items() -> list[tuple[str, str, dict[str, str], str]]:
    return [
        ("system", "openstack-flavors", SYSTEM, "5"),
        ("demo", "openstack-flavors", DEMO_OWN, "6"),
    ]


def new_catalog(cluster: ClusterCache | None = None) -> CatalogStore:
    catalog = CatalogStore()
    catalog.replace_all(catalog_items())
    return catalog


def gateway(
    catalog: CatalogStore, cluster: ClusterCache | None = None, public_url: str = PUBLIC
) -> app.Gateway:
    decisions = AccessDecisions(ttl=5.0, clock=Clock())
    for token, path, tenant in [
        (TOKEN, DEMO_FLAVORS, None),
        (TOKEN, SHORT_FLAVORS, "demo"),
        (TOKEN, SHORT_IMAGES, "demo"),
        (TOKEN, DEMO_IMAGES, None),
        (ALT_TOKEN, ALT_FLAVORS, None),
        (ALT_TOKEN, SHORT_FLAVORS, "alt"),
        (ALT_TOKEN, SHORT_IMAGES, "alt"),
    ]:
        decisions.record(token, "GET", path, 200, tenant)
    config = GatewayConfig(public_url=public_url, namespace=NAMESPACE)
    return app.Gateway(config, catalog, cluster, decisions=decisions)


def get(path: str, token: str = TOKEN, version: str | None = None) -> ClientRequest:
    base, _, qs = path.partition("?")
    query: dict[str, list[str]] = {}
    for pair in qs.split("&") if qs else ():
        name, _, value = pair.partition("=")
        query.setdefault(name, []).append(value)
    headers = {"x-auth-token": token}
    if version is not None:
        headers["openstack-api-version"] = f"compute {version}"
    return ClientRequest("GET", base, query, headers)


def answered(gw: app.Gateway, req: ClientRequest, request_id: str = "req-1") -> Reply:
    outcome = gw.handle(req, request_id)
    assert isinstance(outcome, Reply), outcome
    return outcome


def fresh(req: ClientRequest, catalog: CatalogStore, cluster: ClusterCache | None = None) -> Reply:
    """The reply rendered afresh: the first read of a new gateway (nothing memoized yet)."""
    assert len(catalog.rendered) == 0
    return answered(gateway(catalog, cluster), req)


def same(a: Reply, b: Reply) -> bool:
    return (a.status, a.body) == (b.status, b.body)


# ---------------------------------------------------------------------------------------------------------
# Rendered once; the bytes are the render's


READS = [
    "/compute/v2.1/demo/flavors",
    "/compute/v2.1/demo/flavors/detail",
    "/compute/v2.1/demo/flavors/detail?limit=2",
    "/compute/v2.1/demo/flavors/detail?sort_key=memory_mb&sort_dir=desc&minDisk=2",
    "/compute/v2.1/demo/flavors/detail?marker=1&limit=1",
    "/compute/v2.1/demo/flavors/detail?marker=nope",  # Nova's 400
    "/compute/v2.1/demo/flavors/d1",
    "/compute/v2.1/demo/flavors/nope",  # 404
    "/compute/v2.1/flavors/detail",
    "/compute/v2.1/demo/images",
    "/compute/v2.1/demo/images/detail?limit=1",
    "/image/v2/images",
    "/image/v2/images?limit=1&sort_key=name",
]


VERSIONS = ["2.1", "2.55", "2.61", "2.75", "2.102"]
# Nova's image API (a proxy to Glance) ends at 2.35.
CASES = [
    (path, version)
    for path in READS
    for version in (["2.1", "2.35"] if path.startswith("/compute/v2.1/demo/images") else VERSIONS)
]


@pytest.mark.parametrize(("path", "version"), CASES)
def test_a_memoized_reply_is_the_render_byte_for_byte(path: str, version: str) -> None:
    req = get(path, version=version)
    unmemoized = fresh(req, new_catalog())
    catalog = new_catalog()
    gw = gateway(catalog)
    first = answered(gw, req, "req-1")
    assert len(catalog.rendered) == 1
    second = answered(gw, req, "req-2")
    assert second.body is first.body  # from the memo, not rendered again
    assert same(second, unmemoized) and same(first, unmemoized)
    # Each reply has its own headers: the request id is the request's, never the memoized one's.
    assert (first.headers["x-openstack-request-id"], second.headers["x-openstack-request-id"]) == (
        "req-1",
        "req-2",
    )
    assert {k: v for k, v in second.headers.items() if "request-id" not in k} == {
        k: v for k, v in unmemoized.headers.items() if "request-id" not in k
    }


# ---------------------------------------------------------------------------------------------------------
# Each input of the render moves the key


def test_every_catalog_write_renders_again() -> None:
    catalog = new_catalog()
    gw = gateway(catalog)
    flavors = get("/compute/v2.1/demo/flavors/detail")
    images = get("/image/v2/images")
    before = answered(gw, flavors)
    answered(gw, images)
    changes = [
        # The cluster-wide flavors (an administrator's flavor create).
        lambda c: c.set_configmap(
            "system",
            "openstack-flavors",
            {**SYSTEM, **flavor_data({"id": "9", "name": "new", "ram": 1, "vcpus": 1, "disk": 1})},
            "10",
        ),
        # The tenant's own flavors.
        lambda c: c.set_configmap(
            "demo",
            "openstack-flavors",
            flavor_data({"id": "d2", "name": "x", "ram": 2, "vcpus": 1, "disk": 1}),
            "11",
        ),
        # Deleted: back to the cluster-wide set alone.
        lambda c: c.set_configmap("demo", "openstack-flavors", None),
        # The tenant's images.
        lambda c: c.set_configmap("demo", "openstack-images", {"mine": image_entry(DEFAULT_IMAGES[0])}, "12"),
        # A relist.
        lambda c: c.replace_all(catalog_items()),
    ]
    expected = new_catalog()
    for change in changes:
        change(catalog)
        change(expected)
        for req in (flavors, images):
            expected.rendered = RenderedReplies()  # compare with a render of the same data, nothing memoized
            assert same(answered(gw, req), fresh(req, expected)), req.path
    # A write changed what the tenant sees: the reply did change with it.
    catalog.set_configmap(
        "demo",
        "openstack-flavors",
        flavor_data({"id": "d9", "name": "z", "ram": 3, "vcpus": 1, "disk": 1}),
        "20",
    )
    after = orjson.loads(answered(gw, flavors).body)
    assert "d9" in [f["id"] for f in after["flavors"]]
    assert "d9" not in [f["id"] for f in orjson.loads(before.body)["flavors"]]


def test_a_write_of_an_older_version_is_not_shown() -> None:
    catalog = new_catalog()
    gw = gateway(catalog)
    answered(gw, get("/compute/v2.1/demo/flavors"))
    old = flavor_data({"id": "old", "name": "o", "ram": 1, "vcpus": 1, "disk": 1})
    catalog.set_configmap("demo", "openstack-flavors", old, "1")  # older than "6": the store ignores it
    body = orjson.loads(answered(gw, get("/compute/v2.1/demo/flavors")).body)
    assert "old" not in [f["id"] for f in body["flavors"]]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # The microversion (fields).
        (get("/compute/v2.1/demo/flavors/detail"), get("/compute/v2.1/demo/flavors/detail", version="2.75")),
        (get("/compute/v2.1/demo/flavors/d1"), get("/compute/v2.1/demo/flavors/d1", version="2.61")),
        # Index and detail.
        (get("/compute/v2.1/demo/flavors"), get("/compute/v2.1/demo/flavors/detail")),
        (get("/compute/v2.1/demo/images"), get("/compute/v2.1/demo/images/detail")),
        # The item.
        (get("/compute/v2.1/demo/flavors/1"), get("/compute/v2.1/demo/flavors/2")),
        # The query, its values' order (Nova reads the last one) and its names' order (Glance's links).
        (get("/compute/v2.1/demo/flavors?limit=1"), get("/compute/v2.1/demo/flavors?limit=2")),
        (
            get("/compute/v2.1/demo/flavors?limit=1&limit=2"),
            get("/compute/v2.1/demo/flavors?limit=2&limit=1"),
        ),
        (get("/image/v2/images?limit=1&sort_dir=asc"), get("/image/v2/images?sort_dir=asc&limit=1")),
        # The link prefix: the URL's project or none (the short path), same tenant's catalog.
        (get("/compute/v2.1/demo/flavors"), get("/compute/v2.1/flavors")),
        # The tenant: another token and tenant, another catalog (alt sees the private flavor).
        (get("/compute/v2.1/demo/flavors"), get("/compute/v2.1/alt/flavors", ALT_TOKEN)),
        # The same short path, another tenant's catalog (the tenant Arktos answered each token in).
        (get("/compute/v2.1/flavors"), get("/compute/v2.1/flavors", ALT_TOKEN)),
    ],
)
def test_each_input_of_the_render_is_in_the_key(a: ClientRequest, b: ClientRequest) -> None:
    catalog = new_catalog()
    gw = gateway(catalog)
    answered(gw, a)
    memoized = len(catalog.rendered)
    reply_b = answered(gw, b)
    assert len(catalog.rendered) == memoized + 1  # a render of its own
    assert same(reply_b, fresh(b, new_catalog()))
    assert not same(reply_b, fresh(a, new_catalog()))


def test_the_public_url_is_in_the_key() -> None:
    """Two configurations over one store (the links' prefix differs)."""
    catalog = new_catalog()
    req = get("/compute/v2.1/demo/flavors")
    one = answered(gateway(catalog), req)
    other = answered(gateway(catalog, public_url="https://elsewhere.example"), req)
    assert b"https://elsewhere.example/compute/v2.1/demo/flavors/1" in other.body
    assert b"elsewhere" not in one.body


def test_a_snapshot_in_flight_is_shown_live_not_from_the_memo() -> None:
    """The overlay of snapshots in flight (``snapshots.with_live_state``) is not in the catalog's generation:
    while it changes what the tenant's ConfigMap says, the reply is rendered afresh each time."""
    cluster = cache_with(snap_action())
    catalog = new_catalog()
    data = {image.name: image_entry(image) for image in (*DEFAULT_IMAGES, record("queued"))}
    catalog.set_configmap("demo", "openstack-images", data, "20")
    gw = gateway(catalog, cluster)
    images = get("/image/v2/images")

    def status() -> str:
        body = orjson.loads(answered(gw, images).body)
        return next(i["status"] for i in body["images"] if i["id"] == IMAGE_ID)

    assert status() == "saving"  # the Action in flight
    assert len(catalog.rendered) == 0
    cluster.apply_event(ACTION, "MODIFIED", snap_action(DONE))
    assert status() == "active"  # the Action done, the record not yet: still the overlay
    assert len(catalog.rendered) == 0
    # Recorded active: the ConfigMap alone says it all, the reply is memoized again.
    data[record("active").name] = image_entry(record("active", "arktos-snap-1"))
    catalog.set_configmap("demo", "openstack-images", data, "21")
    assert status() == "active"
    assert len(catalog.rendered) == 1
    # A snapshot not recorded yet (the first milliseconds): shown from the submission, afresh.
    cluster.note_submitted(
        "demo",
        "default",
        SID,
        "snapshot",
        "22222222-2222-4333-8444-555555555555",
        details=SnapshotRequest("snap2", SID, {}).as_details(),
    )
    body = orjson.loads(answered(gw, images).body)
    assert "snap2" in [i["name"] for i in body["images"]]
    assert same(answered(gw, images), fresh(images, _copy(catalog), cluster))


def _copy(catalog: CatalogStore) -> CatalogStore:
    catalog.rendered = RenderedReplies()
    return catalog


# ---------------------------------------------------------------------------------------------------------
# Arktos still decides first


def test_a_memoized_reply_goes_only_to_a_token_arktos_let_read_it() -> None:
    catalog = new_catalog()
    gw = gateway(catalog)
    req = get("/compute/v2.1/demo/flavors/detail")
    answered(gw, req)
    # Another token, no decision: Arktos is asked (the review), not the memo.
    outcome = gw.handle(get("/compute/v2.1/demo/flavors/detail", "stranger"), "r")
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    refused = outcome.translate(review_reply(False))
    assert isinstance(refused, Reply) and refused.status == 403
    # Allowed by the review: the memoized bytes.
    outcome = gw.handle(get("/compute/v2.1/demo/flavors/detail", "another"), "r")
    assert isinstance(outcome, Forward)
    allowed = outcome.translate(review_reply(True))
    assert isinstance(allowed, Reply) and same(allowed, answered(gw, req))
    # A tenant the token has no decision for: Arktos is asked about that tenant.
    outcome = gw.handle(get("/compute/v2.1/alt/flavors/detail"), "r")
    assert isinstance(outcome, Forward) and outcome.upstream.body is not None
    assert orjson.loads(outcome.upstream.body)["spec"]["resourceAttributes"]["tenant"] == "alt"
    # The catalog's watch broken: Arktos's ConfigMap, memo or not.
    catalog.note_watch_broken()
    outcome = gw.handle(req, "r")
    assert isinstance(outcome, Forward) and outcome.upstream.path == DEMO_FLAVORS


# ---------------------------------------------------------------------------------------------------------
# The memo's bounds


def reply_of(size: int) -> Reply:
    return Reply(200, b"x" * size, {"content-type": "application/json"})


def test_the_memo_is_bounded_by_entries_and_bytes() -> None:
    memo = RenderedReplies(capacity=3, max_bytes=1000)
    for n in range(5):
        memo.reply((1, 1), (n,), lambda: reply_of(10))
    assert len(memo) == 3
    renders: list[int] = []

    def render(n: int) -> Reply:
        renders.append(n)
        return reply_of(10)

    memo.reply((1, 1), (0,), lambda: render(0))  # the oldest went first
    memo.reply((1, 1), (4,), lambda: render(4))
    assert renders == [0]
    memo.reply((1, 1), ("big",), lambda: reply_of(240))
    memo.reply((1, 1), ("big2",), lambda: reply_of(240))
    memo.reply((1, 1), ("big3",), lambda: reply_of(240))
    memo.reply((1, 1), ("big4",), lambda: reply_of(240))
    assert len(memo) <= 3 and memo.size_bytes <= 1000
    # Bigger than a quarter of the budget: rendered each time, never kept.
    memo.reply((1, 1), ("huge",), lambda: reply_of(300))
    assert ("huge",) not in [key[1:] for key in memo]


def test_a_new_generation_drops_the_old_and_an_old_render_is_not_kept() -> None:
    memo = RenderedReplies()
    memo.reply((1, 1), ("a",), lambda: reply_of(1))
    memo.reply((1, 2), ("a",), lambda: reply_of(2))
    assert len(memo) == 1
    # A render of generation 1 finishing after generation 2 was seen (a reader that started earlier).
    late = memo.reply((1, 1), ("b",), lambda: reply_of(3))
    assert late.body == b"xxx" and len(memo) == 1
    assert memo.reply((1, 2), ("a",), lambda: reply_of(9)).body == b"xx"
