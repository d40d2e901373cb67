"""Nova's quota rule for creates (``min_count``/``max_count``) from the tenant's ResourceQuota, and the
bound on ``max_count`` per request. Expectations follow ``nova.compute.utils.check_num_instances_quota``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from extproc.catalog import CatalogStore
from extproc.cluster_cache import ACTION, POD, REPLICASET, RESOURCEQUOTA, ClusterCache
from extproc.compute import quota, server_create
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from extproc.tenant_proofs import TenantProofs
from tests.shared_fixtures import ARKTOS_FIXTURES

IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"
TOKEN = "demo-token"


def resource_quota(
    hard: Any, used: Any | None, tenant: str = "demo", name: str = "compute"
) -> dict[str, Any]:
    status: dict[str, Any] = {} if used is None else {"hard": {"pods": hard}, "used": {"pods": used}}
    return {
        "metadata": {"name": name, "tenant": tenant, "namespace": "default", "resourceVersion": "7"},
        "spec": {"hard": {"pods": hard, "requests.cpu": "4"}},
        "status": status,
    }


def cache_with(*quotas: dict[str, Any]) -> ClusterCache:
    cache = ClusterCache()
    for kind in (POD, ACTION, REPLICASET):
        cache.apply_list(kind, [])
    cache.apply_list(RESOURCEQUOTA, list(quotas))
    return cache


def proven(tenant: str = "demo") -> TenantProofs:
    proofs = TenantProofs()
    proofs.record(TOKEN, f"/api/v1/tenants/{tenant}/namespaces/default/configmaps/openstack-flavors", 200)
    return proofs


def create(
    cluster: ClusterCache | None,
    proofs: TenantProofs | None,
    tenant: str | None = "demo",
    config: GatewayConfig | None = None,
    **counts: Any,
) -> Outcome:
    ctx = RequestContext(config or GatewayConfig(), CatalogStore(), "req-1", tenant, cluster, proofs)
    body = {"server": {"name": "web", "imageRef": IMAGE_ID, "flavorRef": "1", **counts}}
    request = ClientRequest("POST", "/", {}, {"x-auth-token": TOKEN}, orjson.dumps(body))
    return server_create.create_server(ctx, request, {})


def replicas(outcome: Outcome) -> int:
    """How many servers the forwarded create asks Arktos for (1: a single pod)."""
    assert isinstance(outcome, Forward), outcome
    body = orjson.loads(outcome.upstream.body or b"{}")
    if body["kind"] == "Pod":
        return 1
    count: int = body["spec"]["replicas"]
    return count


def refusal(outcome: Outcome) -> tuple[int, str]:
    assert isinstance(outcome, Reply), outcome
    ((_, value),) = orjson.loads(outcome.body).items()
    return outcome.status, value["message"]


@pytest.mark.parametrize(
    ("min_count", "max_count", "room", "expected"),
    [
        (1, 5, 10, 5),
        (1, 5, 3, 3),
        (2, 5, 2, 2),
        (1, 1, 1, 1),
        (3, 5, 2, "Quota exceeded for instances: Requested 3-5, but already used 8 of 10 instances"),
        (2, 2, 0, "Quota exceeded for instances: Requested 2, but already used 10 of 10 instances"),
    ],
)
def test_servers_to_create_is_novas_rule(min_count: int, max_count: int, room: int, expected: Any) -> None:
    found = quota.servers_to_create(min_count, max_count, quota.PodQuota(10, 10 - room))
    if isinstance(expected, str):
        assert found == quota.OverQuota(expected)
    else:
        assert found == expected


def test_tightest_counted_pod_quota_binds() -> None:
    assert quota.pod_quota([]) is None
    assert quota.pod_quota([{"spec": {"hard": {"requests.cpu": "4"}}}]) is None
    assert quota.pod_quota([resource_quota("5", "1"), resource_quota("3", "2")]) == quota.PodQuota(3, 2)
    # Not counted yet by the quota controller (fixture 38): nothing to foresee.
    assert quota.pod_quota([resource_quota("5", "1"), resource_quota("3", None)]) is None


def test_batch_makes_as_many_as_fit_between_min_and_max() -> None:
    cache = cache_with(resource_quota("10", "7"))
    assert replicas(create(cache, proven(), min_count=2, max_count=5)) == 3
    assert replicas(create(cache, proven(), max_count=3)) == 3
    # Room for exactly one: Nova makes one server, named as asked (no "-1").
    one = create(cache_with(resource_quota("10", "9")), proven(), max_count=4)
    assert replicas(one) == 1
    assert (
        orjson.loads(one.upstream.body or b"")["metadata"]["annotations"]["openstack.arktos.io/display-name"]
        == "web"
    )  # type: ignore[union-attr]


def test_fewer_than_min_count_fit_is_novas_403_and_nothing_is_created() -> None:
    cache = cache_with(resource_quota("2", "1"))
    assert refusal(create(cache, proven(), min_count=2, max_count=4)) == (
        403,
        "Quota exceeded for instances: Requested 2-4, but already used 1 of 2 instances",
    )
    full = cache_with(resource_quota("2", "2"))
    assert refusal(create(full, proven())) == (
        403,
        "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances",
    )


@pytest.mark.parametrize(
    ("proofs", "tenant"),
    [
        (None, "demo"),
        (TenantProofs(), "demo"),  # Arktos has not let this token into demo yet
        (proven("alt"), "demo"),  # ... only into another tenant
        (proven(), None),  # short path: only Arktos knows the caller's tenant
    ],
)
def test_quota_is_told_only_to_a_token_arktos_let_into_the_tenant(
    proofs: TenantProofs | None, tenant: str | None
) -> None:
    full = cache_with(resource_quota("2", "2"))
    # Nothing foreseen: Arktos authorizes the create and refuses what is over its quota itself.
    assert replicas(create(full, proofs, tenant, min_count=2, max_count=4)) == 4
    assert replicas(create(full, proofs, tenant)) == 1


def test_unsynced_quota_watch_foresees_nothing() -> None:
    cache = ClusterCache()
    for kind in (POD, ACTION, REPLICASET):
        cache.apply_list(kind, [])
    assert replicas(create(cache, proven(), max_count=4)) == 4


def test_max_count_above_the_configured_maximum_is_400() -> None:
    config = GatewayConfig(max_servers_per_request=50)
    assert replicas(create(None, None, config=config, max_count=50)) == 50
    assert refusal(create(None, None, config=config, max_count=51)) == (
        400,
        "Invalid input for field/attribute max_count. Value: 51. 51 is greater than the maximum of 50",
    )
    huge = "9" * 30  # past 64 bits: refused before anything is encoded
    assert refusal(create(None, None, max_count=huge))[0] == 400
    assert refusal(create(None, None, min_count=huge, max_count=huge))[0] == 400
    assert refusal(create(None, None, max_count=1_000_000))[0] == 400


def test_arktos_quota_refusal_of_a_single_create_reads_as_novas() -> None:
    recorded = orjson.loads((ARKTOS_FIXTURES / "41-pod-create-over-quota.json").read_bytes())
    reply = ArktosReply(403, {}, orjson.dumps(recorded["body"]))
    outcome = create(None, None)
    assert isinstance(outcome, Forward)
    translated = outcome.translate(reply)
    assert isinstance(translated, Reply)
    assert refusal(translated) == (
        403,
        "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances",
    )


# -- cores and ram: Arktos does not count a VM pod's resources, the gateway checks them ---------------------


def vm_pod_of(name: str, cpu: str, memory: str) -> dict[str, Any]:
    resources = {"cpu": cpu, "memory": memory}
    return {
        "metadata": {
            "name": name,
            "tenant": "demo",
            "namespace": "default",
            "resourceVersion": "3",
            "uid": name,
        },
        "spec": {"virtualMachine": {"name": "vm", "resources": {"limits": resources, "requests": resources}}},
        "status": {"phase": "Running"},
    }


def cores_quota(cores: str, memory: str = "64Gi") -> dict[str, Any]:
    quota_ = resource_quota("10", "1")
    quota_["spec"]["hard"].update({"requests.cpu": cores, "requests.memory": memory})
    return quota_


@pytest.mark.parametrize(
    ("min_count", "max_count", "expected"),
    [
        (1, 1, 1),  # 2 of 4 cores used, m1.tiny takes 1
        (1, 5, 2),  # as many as the cores allow
        (3, 5, "Quota exceeded for cores: Requested 5, but already used 2 of 4 cores"),
    ],
)
def test_cores_limit_a_create_as_novas_rule(min_count: int, max_count: int, expected: int | str) -> None:
    cache = cache_with(cores_quota("4"))
    cache.apply_list(POD, [vm_pod_of("a", "2", "1Gi")])
    outcome = create(cache, proven(), min_count=min_count, max_count=max_count)
    if isinstance(expected, int):
        assert replicas(outcome) == expected
    else:
        assert refusal(outcome) == (403, expected)


def test_every_exceeded_resource_is_named_as_nova_does() -> None:
    # Instances (1 of 10) have room: only cores and ram are named, in Nova's (sorted) order.
    cache = cache_with(cores_quota("1", "512Mi"))
    cache.apply_list(POD, [vm_pod_of("a", "1", "512Mi")])
    assert refusal(create(cache, proven())) == (
        403,
        "Quota exceeded for cores, ram: Requested 1, 512, but already used 1, 512 of 1, 512 cores, ram",
    )
