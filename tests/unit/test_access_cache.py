"""Reads answered from the caches only while Arktos's own yes to that token for that very read is fresh
(``extproc.access_cache``): the decision's key, its expiry, and the gateway's use of it for a server, the
flavors and the images."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from extproc import app
from extproc.access_cache import SHORT_PATH, Access, AccessDecisions, access_of
from extproc.catalog import CatalogStore
from extproc.cluster_cache import ACTION, POD, REPLICASET, ClusterCache
from extproc.config import GatewayConfig
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from tests.unit.server_doubles import PUBLIC, TOKEN, arktos_reply, pod_list
from tests.unit.test_compute_list_cache import cluster_pods

DEMO = "/api/v1/tenants/demo/namespaces/default"
POD_PATH = f"{DEMO}/pods/a1"
OTHER_TOKEN = "alt-token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------------------------------------
# The decision's key: exactly what Arktos authorized


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", POD_PATH, Access("demo", "default", "get", "", "pods", "a1")),
        ("GET", f"{DEMO}/pods?limit=1", Access("demo", "default", "list", "", "pods", "")),
        (
            "GET",
            "/api/v1/tenants/all/pods?labelSelector=a%3Db&limit=1",
            Access("all", "", "list", "", "pods", ""),
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps/openstack-images",
            Access(SHORT_PATH, "default", "get", "", "configmaps", "openstack-images"),
        ),
        (
            "GET",
            "/apis/apps/v1/tenants/t/namespaces/n/replicasets",
            Access("t", "n", "list", "apps", "replicasets", ""),
        ),
        (
            "GET",
            "/apis/arktos.futurewei.com/v1/tenants/t/networks/x",
            Access("t", "", "get", "arktos.futurewei.com", "networks", "x"),
        ),
        # Never decisions: writes, watches, subresources, a get across all tenants, odd paths.
        ("POST", "/api/v1/tenants/demo/namespaces/default/pods", None),
        ("DELETE", POD_PATH, None),
        ("GET", f"{DEMO}/pods?watch=1", None),
        ("GET", POD_PATH + "/log", None),
        ("GET", "/api/v1/tenants/all/pods/a1", None),
        ("GET", "/api/v1/tenants/demo/namespaces//pods/a1", None),
        ("GET", "/apis/authorization.k8s.io", None),
        ("GET", "/healthz", None),
    ],
)
def test_access_of_a_read(method: str, path: str, expected: Access | None) -> None:
    assert access_of(method, path) == expected


def test_a_decision_answers_only_the_same_token_and_read_until_it_expires() -> None:
    clock = Clock()
    decisions = AccessDecisions(ttl=5.0, clock=clock)
    decisions.record(TOKEN, "GET", POD_PATH, 200, None)
    assert decisions.allowed_tenant(TOKEN, "GET", POD_PATH) == "demo"
    for token, path in [
        (OTHER_TOKEN, POD_PATH),
        ("", POD_PATH),
        (TOKEN, "/api/v1/tenants/alt/namespaces/default/pods/a1"),  # another tenant
        (TOKEN, "/api/v1/tenants/demo/namespaces/kube-system/pods/a1"),  # another namespace
        (TOKEN, "/api/v1/tenants/demo/namespaces/default/pods/a2"),  # another name
        (TOKEN, "/api/v1/tenants/demo/namespaces/default/pods"),  # another verb
        (TOKEN, "/api/v1/tenants/demo/namespaces/default/configmaps/a1"),  # another resource
    ]:
        assert decisions.allowed_tenant(token, "GET", path) is None, (token, path)
    assert decisions.allowed_tenant(TOKEN, "DELETE", POD_PATH) is None
    # Using a decision does not refresh it: only Arktos's next 2xx does.
    clock.now += 4.9
    assert decisions.allowed_tenant(TOKEN, "GET", POD_PATH) == "demo"
    clock.now += 0.1
    assert decisions.allowed_tenant(TOKEN, "GET", POD_PATH) is None
    assert len(decisions) == 0


@pytest.mark.parametrize("status", [401, 403, 404, 409, 500, 302])
def test_only_a_2xx_is_a_decision(status: int) -> None:
    decisions = AccessDecisions()
    decisions.record(TOKEN, "GET", POD_PATH, status, None)
    assert decisions.allowed_tenant(TOKEN, "GET", POD_PATH) is None


def test_ttl_0_records_nothing() -> None:
    decisions = AccessDecisions(ttl=0)
    decisions.record(TOKEN, "GET", POD_PATH, 200, None)
    assert not decisions.enabled and len(decisions) == 0
    assert decisions.allowed_tenant(TOKEN, "GET", POD_PATH) is None


def test_short_path_keeps_the_tenant_arktos_answered_in() -> None:
    decisions = AccessDecisions()
    short_get = "/api/v1/namespaces/default/configmaps/openstack-images"
    decisions.record(TOKEN, "GET", short_get, 200, None)  # the reply named no tenant: nothing known
    assert decisions.allowed_tenant(TOKEN, "GET", short_get) is None
    decisions.record(TOKEN, "GET", short_get, 200, "demo")
    assert decisions.allowed_tenant(TOKEN, "GET", short_get) == "demo"
    # A tenant path's decision is the path's tenant, whatever the reply says.
    decisions.record(TOKEN, "GET", POD_PATH, 200, "elsewhere")
    assert decisions.allowed_tenant(TOKEN, "GET", POD_PATH) == "demo"
    # A short-path list is never remembered (an empty list names no tenant).
    short_list = "/api/v1/namespaces/default/pods?limit=1"
    decisions.record(TOKEN, "GET", short_list, 200, "demo")
    assert decisions.allowed_tenant(TOKEN, "GET", short_list) is None


def test_capacity_evicts_the_oldest_decision() -> None:
    decisions = AccessDecisions(capacity=2)
    paths = [f"/api/v1/tenants/demo/namespaces/default/pods/p{i}" for i in range(3)]
    for path in paths:
        decisions.record(TOKEN, "GET", path, 200, None)
    assert len(decisions) == 2
    assert [decisions.allowed_tenant(TOKEN, "GET", p) for p in paths] == [None, "demo", "demo"]


# ---------------------------------------------------------------------------------------------------------
# The gateway: a fresh decision answers the very same read from the caches, identical to Arktos's path


def synced_cache(pods: list[dict[str, Any]]) -> ClusterCache:
    cache = ClusterCache()
    cache.apply_list(POD, copy.deepcopy(pods))
    cache.apply_list(ACTION, [])
    cache.apply_list(REPLICASET, [])
    return cache


def gateway(
    cache: ClusterCache | None, clock: Clock, ttl: float = 5.0, catalog: CatalogStore | None = None
) -> app.Gateway:
    decisions = AccessDecisions(ttl=ttl, clock=clock)
    return app.Gateway(
        GatewayConfig(public_url=PUBLIC), catalog or CatalogStore(), cache, decisions=decisions
    )


def get(path: str, token: str = TOKEN) -> ClientRequest:
    return ClientRequest("GET", path, {}, {"x-auth-token": token})


def forwarded(gw: app.Gateway, req: ClientRequest, reply: ArktosReply) -> Reply:
    outcome = gw.handle(req, "req-1")
    assert isinstance(outcome, Forward), outcome
    result = outcome.translate(reply)
    assert isinstance(result, Reply)
    return result


def same(a: Reply, b: Reply) -> bool:
    return (a.status, orjson.loads(a.body)) == (b.status, orjson.loads(b.body))


def pod_reply(pod: dict[str, Any]) -> ArktosReply:
    return ArktosReply(200, {}, orjson.dumps(pod))


def demo_pod() -> dict[str, Any]:
    return next(p for p in cluster_pods() if p["metadata"]["name"] == "a1")


def test_server_show_from_cache_after_arktos_allowed_it() -> None:
    clock = Clock()
    pods = cluster_pods()
    gw = gateway(synced_cache(pods), clock)
    show = get("/compute/v2.1/demo/servers/a1")
    first = forwarded(gw, show, pod_reply(demo_pod()))
    assert first.status == 200
    cached = gw.handle(show, "req-2")
    assert isinstance(cached, Reply) and same(cached, first)
    assert cached.headers["x-openstack-request-id"] == "req-2"
    # Another token, another tenant's URL, another server: Arktos decides.
    assert isinstance(gw.handle(get("/compute/v2.1/demo/servers/a1", OTHER_TOKEN), "r"), Forward)
    assert isinstance(gw.handle(get("/compute/v2.1/other/servers/a1"), "r"), Forward)
    assert isinstance(gw.handle(get("/compute/v2.1/demo/servers/a2"), "r"), Forward)
    # The short path names no tenant Arktos decided for.
    assert isinstance(gw.handle(get("/compute/v2.1/servers/a1"), "r"), Forward)
    # Expired: Arktos again (a revoked token then gets Arktos's 401).
    clock.now += 5.0
    outcome = gw.handle(show, "req-3")
    assert isinstance(outcome, Forward)
    refused = outcome.translate(arktos_reply("15-pod-get-badtoken.json"))
    assert isinstance(refused, Reply) and refused.status == 401
    assert isinstance(gw.handle(show, "req-4"), Forward)


def test_refusals_are_never_decisions() -> None:
    clock = Clock()
    gw = gateway(synced_cache(cluster_pods()), clock)
    show = get("/compute/v2.1/other/servers/k2")
    assert forwarded(gw, show, arktos_reply("16-pod-get-crosstenant.json")).status == 403
    assert isinstance(gw.handle(show, "r"), Forward)


def test_ttl_0_forwards_every_read() -> None:
    gw = gateway(synced_cache(cluster_pods()), Clock(), ttl=0)
    show = get("/compute/v2.1/demo/servers/a1")
    for _ in range(3):
        assert forwarded(gw, show, pod_reply(demo_pod())).status == 200


def test_server_show_asks_arktos_when_the_cache_cannot_answer() -> None:
    clock = Clock()
    pods = cluster_pods()
    cache = synced_cache(pods)
    gw = gateway(cache, clock)
    show = get("/compute/v2.1/demo/servers/a1")
    forwarded(gw, show, pod_reply(demo_pod()))
    # A pod write of this processor the watch has not applied yet: read-your-writes first.
    cache.note_written("demo", "10000")
    assert isinstance(gw.handle(show, "r"), Forward)
    # A pod the cache does not hold (gone, or not a VM): Arktos answers.
    gw = gateway(synced_cache([p for p in pods if p["metadata"]["name"] != "a1"]), clock)
    forwarded(gw, show, pod_reply(demo_pod()))
    assert isinstance(gw.handle(show, "r"), Forward)
    # No synced cache at all.
    gw = gateway(ClusterCache(), clock)
    forwarded(gw, show, pod_reply(demo_pod()))
    assert isinstance(gw.handle(show, "r"), Forward)


def test_server_lists_keep_their_authorizing_probe() -> None:
    """A list's one-item probe is kept whatever Arktos decided before: its resourceVersion tells how fresh
    the cache must be (replicas agree through it, extproc.compute.server_list)."""
    pods = cluster_pods()
    gw = gateway(synced_cache(pods), Clock())
    req = get("/compute/v2.1/demo/servers/detail")
    for _ in range(2):
        outcome = gw.handle(req, "r")
        assert isinstance(outcome, Forward) and "limit=1" in outcome.upstream.path
        outcome.translate(pod_list(pods[:1]))


def flavors_configmap(tenant: str) -> ArktosReply:
    data = {"f1": orjson.dumps({"id": "f1", "ram": 256, "vcpus": 1, "disk": 1}).decode()}
    body = {"kind": "ConfigMap", "metadata": {"name": "openstack-flavors", "tenant": tenant}, "data": data}
    return ArktosReply(200, {}, orjson.dumps(body))


def test_flavors_from_the_catalog_only_while_its_watch_is_synced() -> None:
    clock = Clock()
    catalog = CatalogStore()
    reply = flavors_configmap("demo")
    data = orjson.loads(reply.body)["data"]
    gw = gateway(None, clock, catalog=catalog)
    flavors = get("/compute/v2.1/demo/flavors/detail")
    first = forwarded(gw, flavors, reply)
    assert "f1" in [f["id"] for f in orjson.loads(first.body)["flavors"]]
    # Not synced yet: Arktos's ConfigMap, decision or not.
    assert isinstance(gw.handle(flavors, "r"), Forward)
    catalog.replace_all([("demo", "openstack-flavors", data, "7")])
    cached = gw.handle(flavors, "req-2")
    assert isinstance(cached, Reply) and same(cached, first)
    catalog.note_watch_broken()
    assert isinstance(gw.handle(flavors, "r"), Forward)


def test_glance_images_on_the_short_path_use_the_tenant_arktos_answered_in() -> None:
    clock = Clock()
    catalog = CatalogStore()
    image = {"id": "00000000-0000-0000-0000-000000000007", "name": "mine", "url": "example.invalid/a.img"}
    data = {"mine": orjson.dumps(image).decode()}
    catalog.replace_all([("demo", "openstack-images", data, "9")])
    gw = gateway(synced_cache([]), clock, catalog=catalog)
    images = get("/image/v2/images")
    body = {"kind": "ConfigMap", "metadata": {"name": "openstack-images", "tenant": "demo"}, "data": data}
    first = forwarded(gw, images, ArktosReply(200, {}, orjson.dumps(body)))
    assert [i["name"] for i in orjson.loads(first.body)["images"]] == ["mine"]
    cached = gw.handle(images, "req-2")
    assert isinstance(cached, Reply) and same(cached, first)
    # Another token on the same short path: Arktos resolves its tenant.
    assert isinstance(gw.handle(get("/image/v2/images", OTHER_TOKEN), "r"), Forward)


# ---------------------------------------------------------------------------------------------------------
# No decision yet: a catalog read the caches can answer is asked of Arktos as a SelfSubjectAccessReview


def review_reply(allowed: bool) -> ArktosReply:
    recorded = arktos_reply("44-ssar-own-tenant.json" if allowed else "45-ssar-other-tenant.json")
    return ArktosReply(201, recorded.headers, recorded.body)


def synced_catalog() -> CatalogStore:
    catalog = CatalogStore()
    catalog.replace_all([])  # no tenant has a flavors ConfigMap: the built-in flavors
    return catalog


def test_flavors_without_a_decision_are_reviewed_then_answered_from_the_catalog() -> None:
    clock = Clock()
    gw = gateway(None, clock, catalog=synced_catalog())
    flavors = get("/compute/v2.1/demo/flavors/detail")
    outcome = gw.handle(flavors, "req-1")
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path) == (
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    )
    assert outcome.upstream.body is not None
    attributes = orjson.loads(outcome.upstream.body)["spec"]["resourceAttributes"]
    assert attributes == {
        "tenant": "demo",
        "namespace": "default",
        "verb": "get",
        "resource": "configmaps",
        "name": "openstack-flavors",
    }
    answered = outcome.translate(review_reply(True))
    assert isinstance(answered, Reply) and answered.status == 200
    built_in = forwarded(gateway(None, clock, ttl=0), flavors, catalog_not_found())
    assert same(answered, built_in)
    cached = gw.handle(flavors, "req-2")
    assert isinstance(cached, Reply) and same(cached, built_in)


def catalog_not_found() -> ArktosReply:
    return ArktosReply(404, {}, orjson.dumps({"kind": "Status", "code": 404, "reason": "NotFound"}))


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (review_reply(False), 403),
        (arktos_reply("46-ssar-bad-token.json"), 401),
        (ArktosReply(201, {}, b"{}"), 503),  # no decision in it: the read's answer to a reply not from Arktos
    ],
)
def test_a_refused_review_is_the_reads_refusal_and_no_decision(reply: ArktosReply, status: int) -> None:
    clock = Clock()
    gw = gateway(None, clock, catalog=synced_catalog())
    flavors = get("/compute/v2.1/demo/flavors/detail")
    outcome = gw.handle(flavors, "req-1")
    assert isinstance(outcome, Forward)
    refused = outcome.translate(reply)
    assert isinstance(refused, Reply) and refused.status == status, refused.body
    nxt = gw.handle(flavors, "req-2")
    assert isinstance(nxt, Forward) and nxt.upstream.method == "POST"


def test_no_review_with_ttl_0_on_a_short_path_or_for_a_write() -> None:
    catalog = synced_catalog()
    flavors = get("/compute/v2.1/demo/flavors/detail")
    outcome = gateway(None, Clock(), ttl=0, catalog=catalog).handle(flavors, "r")
    assert isinstance(outcome, Forward) and outcome.upstream.method == "GET"
    gw = gateway(None, Clock(), catalog=catalog)
    outcome = gw.handle(get("/compute/v2.1/flavors/detail"), "r")
    assert isinstance(outcome, Forward) and outcome.upstream.method == "GET"
    # A write's confirming read (Glance's refusal of a delete) stays a GET of the ConfigMap.
    delete = ClientRequest(
        "DELETE", "/image/v2/images/" + "0" * 8 + "-0000-0000-0000-000000000007", {}, {"x-auth-token": TOKEN}
    )
    outcome = gw.handle(delete, "r")
    assert not isinstance(outcome, Forward) or outcome.upstream.method != "POST"
