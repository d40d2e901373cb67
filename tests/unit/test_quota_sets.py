"""Nova's quota sets and absolute limits from ResourceQuotas (``extproc.compute.tenant_quota``, the mapping,
and ``extproc.compute.quota_sets``, the translators). ResourceQuotas and VM pods are real-Arktos recordings
(fixtures 39, 40, 42); expectations follow ``nova/api/openstack/compute/quota_sets.py`` and
``views/limits.py`` at microversion 2.1."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest

from extproc.catalog import CatalogStore
from extproc.cluster_cache import ACTION, POD, REPLICASET, RESOURCEQUOTA, ClusterCache
from extproc.compute import quota_sets, tenant_quota
from extproc.compute.quota import PodQuota, pod_quota
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from extproc.tenant_proofs import TenantProofs
from tests.shared_fixtures import ARKTOS_FIXTURES

TOKEN = "demo-token"
QUOTAS_PATH = "/api/v1/tenants/demo/namespaces/default/resourcequotas"


def recorded(number: str) -> dict[str, Any]:
    (path,) = ARKTOS_FIXTURES.glob(f"{number}-*.json")
    body: dict[str, Any] = json.loads(path.read_text())["body"]
    return body


def recorded_quota(tenant: str = "demo", **hard: str) -> dict[str, Any]:
    """Fixture 42 (limits pods=2, cpu 4, memory 4Gi; two pods used), in ``tenant``, ``hard`` overriding."""
    quota = copy.deepcopy(recorded("42"))
    quota["metadata"].update(tenant=tenant, resourceVersion="5", uid="u-1")
    quota["spec"]["hard"].update(hard)
    return quota


def vm_pod(
    name: str, cpu: str = "1", memory: str = "512Mi", tenant: str = "demo", **meta: Any
) -> dict[str, Any]:
    """Fixture 40's VM pod (1 CPU, 512 MiB) with the given name and resources."""
    pod = copy.deepcopy(recorded("40"))
    pod["metadata"].update(name=name, tenant=tenant, resourceVersion="9", uid=f"uid-{name}", **meta)
    resources = {"cpu": cpu, "memory": memory}
    pod["spec"]["virtualMachine"]["resources"] = {"limits": resources, "requests": resources}
    return pod


def cache_with(quotas: list[dict[str, Any]], pods: list[dict[str, Any]]) -> ClusterCache:
    cache = ClusterCache()
    cache.apply_list(ACTION, [])
    cache.apply_list(REPLICASET, [])
    cache.apply_list(POD, pods)
    cache.apply_list(RESOURCEQUOTA, quotas)
    return cache


def proven(tenant: str = "demo") -> TenantProofs:
    proofs = TenantProofs()
    proofs.record(TOKEN, f"/api/v1/tenants/{tenant}/namespaces/default/pods", 200)
    return proofs


def context(
    tenant: str | None = "demo",
    cluster: ClusterCache | None = None,
    proofs: TenantProofs | None = None,
    version: tuple[int, int] = (2, 1),
) -> RequestContext:
    return RequestContext(
        GatewayConfig(), CatalogStore(), "req-1", tenant, cluster, proofs, compute_version=version
    )


def request(method: str = "GET", body: Any = None, **query: str) -> ClientRequest:
    raw = b"" if body is None else orjson.dumps(body)
    return ClientRequest(method, "/", {k: [v] for k, v in query.items()}, {"x-auth-token": TOKEN}, raw)


def listed(*quotas: dict[str, Any]) -> ArktosReply:
    return ArktosReply(200, {}, orjson.dumps({"kind": "ResourceQuotaList", "items": list(quotas)}))


def answered(outcome: Outcome, reply: ArktosReply) -> tuple[int, Any]:
    assert isinstance(outcome, Forward), outcome
    result = outcome.translate(reply)
    assert isinstance(result, Reply)
    return result.status, orjson.loads(result.body)


def refused(outcome: Outcome) -> tuple[int, str]:
    assert isinstance(outcome, Reply), outcome
    ((_, value),) = orjson.loads(outcome.body).items()
    return outcome.status, value["message"]


# -- the mapping ------------------------------------------------------------------------------------------


def test_recorded_quota_maps_onto_instances_cores_ram() -> None:
    limits = tenant_quota.limits([recorded("42")])
    assert (limits["instances"], limits["cores"], limits["ram"]) == (2, 4, 4096)
    assert limits["metadata_items"] == 128
    assert limits["key_pairs"] == -1


def test_no_quota_is_unlimited_and_the_tightest_quota_binds() -> None:
    assert {tenant_quota.limits([])[r] for r in tenant_quota.COUNTED} == {-1}
    other = recorded_quota(pods="5", **{"requests.cpu": "500m", "requests.memory": "1.5Gi"})
    limits = tenant_quota.limits([recorded_quota(), other])
    # 0.5 core admits no 1-core server: rounded down, as 1.5 GiB is 1536 MiB.
    assert (limits["instances"], limits["cores"], limits["ram"]) == (2, 0, 1536)


@pytest.mark.parametrize("value", ["", "lots", "-1", "1e999999", "9" * 70, None, True, ["1"]])
def test_unreadable_quantities_limit_nothing(value: Any) -> None:
    quota = {"spec": {"hard": {"pods": value, "cpu": value, "memory": value}}}
    assert {tenant_quota.limits([quota])[r] for r in tenant_quota.COUNTED} == {-1}


def test_in_use_counts_the_vm_pods_that_quota_admission_counts() -> None:
    deleting = vm_pod("d", deletionTimestamp="2026-01-01T00:00:00Z")
    failed = vm_pod("f")
    failed["status"]["phase"] = "Failed"
    container = {"metadata": {"name": "c"}, "spec": {"containers": [{"name": "c"}]}}
    used = tenant_quota.in_use([vm_pod("a"), vm_pod("b", cpu="2", memory="2Gi"), deleting, failed, container])
    assert (used["instances"], used["cores"], used["ram"]) == (2, 3, 2560)


# -- GET --------------------------------------------------------------------------------------------------


def test_show_lists_the_tenants_quotas_with_the_clients_token_and_answers_novas_shape() -> None:
    outcome = quota_sets.show_quota_set(context(None), request(), {"tenant_id": "demo"})
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path) == ("GET", QUOTAS_PATH)
    assert outcome.upstream.bearer_token is None  # the client's own token: Arktos authorizes it
    status, body = answered(outcome, listed(recorded_quota()))
    assert status == 200
    assert body == {
        "quota_set": {
            "id": "demo",
            "cores": 4,
            "fixed_ips": -1,
            "floating_ips": -1,
            "injected_file_content_bytes": 10240,
            "injected_file_path_bytes": 255,
            "injected_files": 5,
            "instances": 2,
            "key_pairs": -1,
            "metadata_items": 128,
            "ram": 4096,
            "security_group_rules": -1,
            "security_groups": -1,
            "server_group_members": -1,
            "server_groups": -1,
        }
    }


def test_show_refused_by_arktos_is_novas_policy_error() -> None:
    outcome = quota_sets.show_quota_set(context(), request(), {"tenant_id": "alt"})
    forbidden = {
        "kind": "Status",
        "code": 403,
        "message": 'resourcequotas is forbidden: User "demo" cannot list',
    }
    status, body = answered(outcome, ArktosReply(403, {}, orjson.dumps(forbidden)))
    assert (status, body["forbidden"]["message"]) == (
        403,
        "Policy doesn't allow this operation to be performed.",
    )


def test_detail_counts_in_use_from_the_tenants_vm_pods_in_the_cache() -> None:
    cache = cache_with([recorded_quota()], [vm_pod("a", cpu="2", memory="1Gi"), vm_pod("z", tenant="alt")])
    outcome = quota_sets.show_quota_detail(context(cluster=cache), request(), {"tenant_id": "demo"})
    status, body = answered(outcome, listed(recorded_quota()))
    assert status == 200
    quota_set = body["quota_set"]
    assert quota_set["id"] == "demo"
    assert quota_set["instances"] == {"in_use": 1, "limit": 2, "reserved": 0}
    assert quota_set["cores"] == {"in_use": 2, "limit": 4, "reserved": 0}
    assert quota_set["ram"] == {"in_use": 1024, "limit": 4096, "reserved": 0}
    assert quota_set["key_pairs"] == {"in_use": 0, "limit": -1, "reserved": 0}


def test_detail_without_a_current_cache_takes_instances_from_the_quota_status() -> None:
    outcome = quota_sets.show_quota_detail(context(), request(), {"tenant_id": "demo"})
    _, body = answered(outcome, listed(recorded_quota()))
    assert body["quota_set"]["instances"] == {"in_use": 2, "limit": 2, "reserved": 0}


def test_defaults_are_a_tenant_without_resourcequota_and_ask_nothing() -> None:
    outcome = quota_sets.show_quota_defaults(context(), request(), {"tenant_id": "anyone"})
    assert isinstance(outcome, Reply) and outcome.status == 200
    quota_set = orjson.loads(outcome.body)["quota_set"]
    assert quota_set["id"] == "anyone"
    assert (quota_set["instances"], quota_set["cores"], quota_set["ram"]) == (-1, -1, -1)
    assert quota_set["metadata_items"] == 128


def test_limits_are_novas_absolute_limits_with_usage() -> None:
    cache = cache_with([recorded_quota()], [vm_pod("a"), vm_pod("b")])
    outcome = quota_sets.limits(context(cluster=cache), request(), {})
    assert isinstance(outcome, Forward) and outcome.upstream.path == QUOTAS_PATH
    status, body = answered(outcome, listed(recorded_quota()))
    assert status == 200
    assert body == {
        "limits": {
            "rate": [],
            "absolute": {
                "maxImageMeta": 128,
                "maxPersonality": 5,
                "maxPersonalitySize": 10240,
                "maxSecurityGroupRules": -1,
                "maxSecurityGroups": -1,
                "maxServerGroupMembers": -1,
                "maxServerGroups": -1,
                "maxServerMeta": 128,
                "maxTotalCores": 4,
                "maxTotalFloatingIps": -1,
                "maxTotalInstances": 2,
                "maxTotalKeypairs": -1,
                "maxTotalRAMSize": 4096,
                "totalCoresUsed": 2,
                "totalFloatingIpsUsed": 0,
                "totalInstancesUsed": 2,
                "totalRAMUsed": 1024,
                "totalSecurityGroupsUsed": 0,
                "totalServerGroupsUsed": 0,
            },
        }
    }


def test_limits_of_another_project_ask_arktos_about_that_tenant() -> None:
    outcome = quota_sets.limits(context(), request(tenant_id="alt"), {})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path == "/api/v1/tenants/alt/namespaces/default/resourcequotas"
    # "all" is Arktos's every-tenant keyword, never a project: refused before Arktos.
    assert refused(quota_sets.limits(context(), request(tenant_id="all"), {}))[0] == 404


def test_limits_without_quota_are_unlimited() -> None:
    _, body = answered(quota_sets.limits(context(), request(), {}), listed())
    absolute = body["limits"]["absolute"]
    assert (absolute["maxTotalInstances"], absolute["maxTotalCores"], absolute["maxTotalRAMSize"]) == (
        -1,
        -1,
        -1,
    )


# -- PUT --------------------------------------------------------------------------------------------------


def update(
    body: Any, cluster: ClusterCache | None = None, proofs: TenantProofs | None = None, **query: str
) -> Outcome:
    return quota_sets.update_quota_set(
        context(cluster=cluster, proofs=proofs), request("PUT", body, **query), {"tenant_id": "demo"}
    )


def test_update_patches_the_tenants_only_quota_on_the_keys_it_uses() -> None:
    cache = cache_with([recorded_quota()], [])
    outcome = update({"quota_set": {"instances": 10, "cores": "8", "ram": 8192}}, cache)
    assert isinstance(outcome, Forward)
    upstream = outcome.upstream
    assert (upstream.method, upstream.path) == ("PATCH", f"{QUOTAS_PATH}/compute")
    assert upstream.content_type == "application/merge-patch+json"
    assert orjson.loads(upstream.body or b"") == {
        "spec": {"hard": {"pods": "10", "requests.cpu": "8", "requests.memory": "8192Mi"}}
    }
    written = recorded_quota(pods="10", **{"requests.cpu": "8", "requests.memory": "8192Mi"})
    status, body = answered(outcome, ArktosReply(200, {}, orjson.dumps(written)))
    assert status == 200
    assert "id" not in body["quota_set"]  # Nova's update view has no id
    assert (body["quota_set"]["instances"], body["quota_set"]["cores"], body["quota_set"]["ram"]) == (
        10,
        8,
        8192,
    )


def test_update_to_unlimited_removes_the_limit() -> None:
    cache = cache_with([recorded_quota(cpu="6")], [])
    outcome = update({"quota_set": {"cores": -1}}, cache)
    assert isinstance(outcome, Forward)
    assert orjson.loads(outcome.upstream.body or b"") == {
        "spec": {"hard": {"requests.cpu": None, "cpu": None}}
    }


def test_update_creates_the_gateways_own_quota_when_the_tenant_has_none() -> None:
    outcome = update({"quota_set": {"instances": 3, "ram": -1}}, cache_with([], []))
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path) == ("POST", QUOTAS_PATH)
    created = orjson.loads(outcome.upstream.body or b"")
    assert created["kind"] == "ResourceQuota"
    assert created["metadata"]["name"] == "openstack-compute"
    assert created["spec"] == {"hard": {"pods": "3"}}


def test_update_with_several_quotas_writes_the_gateways_own() -> None:
    own = recorded_quota()
    own["metadata"]["name"] = "openstack-compute"
    cache = cache_with([recorded_quota(), own], [])
    outcome = update({"quota_set": {"instances": 1}}, cache)
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path == f"{QUOTAS_PATH}/openstack-compute"


def test_update_that_loses_a_race_with_another_writer_is_a_conflict_to_retry() -> None:
    outcome = update({"quota_set": {"instances": 1}}, cache_with([], []))
    exists = {"kind": "Status", "code": 409, "reason": "AlreadyExists", "message": "already exists"}
    status, body = answered(outcome, ArktosReply(409, {}, orjson.dumps(exists)))
    assert status == 409 and "retry" in body["conflictingRequest"]["message"]


def test_update_below_usage_is_novas_400_unless_forced() -> None:
    cache = cache_with([recorded_quota()], [vm_pod("a"), vm_pod("b")])
    assert refused(update({"quota_set": {"instances": 1}}, cache, proven())) == (
        400,
        "Quota limit 1 for instances must be greater than or equal to already used and reserved 2.",
    )
    assert isinstance(update({"quota_set": {"instances": 1, "force": True}}, cache, proven()), Forward)
    # A token Arktos has not let into the tenant learns nothing about its usage: Arktos decides the write.
    assert isinstance(update({"quota_set": {"instances": 1}}, cache, None), Forward)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'quota_set' is a required property"),
        ({"quota_set": {"instances": "ten"}}, "Invalid input for field/attribute instances. Value: ten."),
        ({"quota_set": {"instances": -2}}, "Invalid input for field/attribute instances. Value: -2."),
        ({"quota_set": {"cores": 2**31}}, "Invalid input for field/attribute cores."),
        ({"quota_set": {"ram": "9" * 5000}}, "Quota limit 999"),
        (
            {"quota_set": {"gigabytes": 1}},
            "Additional properties are not allowed ('gigabytes' was unexpected)",
        ),
        ({"quota_set": {"key_pairs": 10}}, "Quota key_pairs cannot be changed on Arktos"),
    ],
)
def test_update_refuses_what_nova_refuses_before_arktos(body: Any, message: str) -> None:
    status, said = refused(update(body, cache_with([recorded_quota()], [])))
    assert status == 400
    assert message in said


def test_update_per_user_is_refused_saying_why() -> None:
    status, said = refused(update({"quota_set": {"instances": 1}}, user_id="u1"))
    assert status == 400 and "Arktos has no per-user quotas" in said


def test_update_of_only_fixed_values_changes_nothing_and_answers_the_current_limits() -> None:
    outcome = update(
        {"quota_set": {"metadata_items": 128, "force": "true"}}, cache_with([recorded_quota()], [])
    )
    assert isinstance(outcome, Forward) and outcome.upstream.method == "GET"
    status, body = answered(outcome, listed(recorded_quota()))
    assert status == 200 and body["quota_set"]["instances"] == 2 and "id" not in body["quota_set"]


def test_create_quota_reads_counts_as_arktos_stores_them() -> None:
    """Arktos writes a count of 1000 pods back as ``1k``: the create's quota check still reads it."""
    counted = {"spec": {"hard": {"pods": "1k"}}, "status": {"used": {"pods": "2"}}}
    assert pod_quota([counted]) == PodQuota(1000, 2)
    assert pod_quota([{"spec": {"hard": {"pods": "1500m"}}, "status": {"used": {"pods": "0"}}}]) is None


# -- microversions (Nova's quota_sets.py and limits.py gates) ----------------------------------------------

NETWORK_QUOTAS = {"fixed_ips", "floating_ips", "security_group_rules", "security_groups"}
PERSONALITY_QUOTAS = {"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"}


@pytest.mark.parametrize(
    ("version", "gone"),
    [
        ((2, 35), set()),
        ((2, 36), NETWORK_QUOTAS),
        ((2, 56), NETWORK_QUOTAS),
        ((2, 57), NETWORK_QUOTAS | PERSONALITY_QUOTAS),
    ],
)
def test_quota_set_resources_leave_at_236_and_257(version: tuple[int, int], gone: set[str]) -> None:
    every = set(tenant_quota.RESOURCES)
    _, shown = answered(
        quota_sets.show_quota_set(context(version=version), request(), {"tenant_id": "demo"}),
        listed(recorded_quota()),
    )
    assert set(shown["quota_set"]) == (every - gone) | {"id"}
    _, detail = answered(
        quota_sets.show_quota_detail(context(version=version), request(), {"tenant_id": "demo"}),
        listed(recorded_quota()),
    )
    assert set(detail["quota_set"]) == (every - gone) | {"id"}
    defaults = quota_sets.show_quota_defaults(context(version=version), request(), {"tenant_id": "demo"})
    assert isinstance(defaults, Reply)
    assert set(orjson.loads(defaults.body)["quota_set"]) == (every - gone) | {"id"}


@pytest.mark.parametrize(
    ("version", "resource", "accepted"),
    [
        ((2, 35), "floating_ips", True),
        ((2, 36), "floating_ips", False),
        ((2, 56), "injected_files", True),
        ((2, 57), "injected_files", False),
    ],
)
def test_quota_update_refuses_a_resource_gone_at_its_version(
    version: tuple[int, int], resource: str, accepted: bool
) -> None:
    value = tenant_quota.FIXED_LIMITS[resource]
    outcome = quota_sets.update_quota_set(
        context(version=version), request("PUT", {"quota_set": {resource: value}}), {"tenant_id": "demo"}
    )
    if accepted:
        assert isinstance(outcome, Forward)
    else:
        assert refused(outcome) == (
            400,
            f"Invalid input for field/attribute quota_set. Value: {{'{resource}': {value}}}. "
            f"Additional properties are not allowed ('{resource}' was unexpected)",
        )


LIMIT_NAMES_236 = {"maxTotalFloatingIps", "maxSecurityGroups", "maxSecurityGroupRules"}
USED_NAMES_236 = {"totalFloatingIpsUsed", "totalSecurityGroupsUsed"}


@pytest.mark.parametrize(
    ("version", "gone"),
    [
        ((2, 35), set()),
        ((2, 36), LIMIT_NAMES_236 | USED_NAMES_236),
        ((2, 38), LIMIT_NAMES_236 | USED_NAMES_236),
        ((2, 39), LIMIT_NAMES_236 | USED_NAMES_236 | {"maxImageMeta"}),
        ((2, 56), LIMIT_NAMES_236 | USED_NAMES_236 | {"maxImageMeta"}),
        (
            (2, 57),
            LIMIT_NAMES_236 | USED_NAMES_236 | {"maxImageMeta", "maxPersonality", "maxPersonalitySize"},
        ),
    ],
)
def test_absolute_limits_shrink_at_236_239_257(version: tuple[int, int], gone: set[str]) -> None:
    at_21 = set(quota_sets.absolute_limits(tenant_quota.limits([]), {}, (2, 1))["limits"]["absolute"])
    assert len(at_21) == 19
    _, body = answered(quota_sets.limits(context(version=version), request(), {}), listed(recorded_quota()))
    assert set(body["limits"]["absolute"]) == at_21 - gone


@pytest.mark.parametrize(
    ("handler", "params", "allowed"),
    [
        (quota_sets.show_quota_set, {"tenant_id": "demo"}, "user_id"),
        (quota_sets.show_quota_detail, {"tenant_id": "demo"}, "user_id"),
        (quota_sets.limits, {}, "tenant_id"),
    ],
)
def test_unknown_query_parameters_are_refused_from_275(
    handler: Any, params: dict[str, str], allowed: str
) -> None:
    assert isinstance(handler(context(version=(2, 74)), request(bogus="1"), params), Forward)
    assert refused(handler(context(version=(2, 75)), request(bogus="1"), params)) == (
        400,
        "Additional properties are not allowed ('bogus' was unexpected)",
    )
    assert isinstance(handler(context(version=(2, 75)), request(**{allowed: "demo"}), params), Forward)


def test_defaults_refuse_unknown_query_parameters_from_2102() -> None:
    ok = quota_sets.show_quota_defaults(context(version=(2, 101)), request(bogus="1"), {"tenant_id": "demo"})
    assert ok.status == 200
    assert refused(
        quota_sets.show_quota_defaults(context(version=(2, 102)), request(bogus="1"), {"tenant_id": "demo"})
    ) == (400, "Additional properties are not allowed ('bogus' was unexpected)")
