"""Nova's simple tenant usage from VM pods (``extproc.compute.usage``); expectations follow
``nova/api/openstack/compute/simple_tenant_usage.py`` at microversion 2.1. Pods are fixture 40's VM pod."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from extproc.catalog import CatalogStore
from extproc.compute import usage
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from tests.unit.test_quota_sets import vm_pod

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def pod(name: str, created: str, tenant: str = "demo", **resources: str) -> dict[str, Any]:
    found = vm_pod(name, tenant=tenant, creationTimestamp=created, **resources)
    found["metadata"]["annotations"] = {
        "openstack.arktos.io/flavor-id": "1",
        "openstack.arktos.io/display-name": name,
    }
    return found


def request(**query: str) -> ClientRequest:
    return ClientRequest("GET", "/", {k: [v] for k, v in query.items()}, {"x-auth-token": "t"})


def answered(outcome: Outcome, pods: list[dict[str, Any]]) -> Any:
    assert isinstance(outcome, Forward), outcome
    result = outcome.translate(ArktosReply(200, {}, orjson.dumps({"kind": "PodList", "items": pods})))
    assert isinstance(result, Reply) and result.status == 200
    return orjson.loads(result.body)


def context() -> RequestContext:
    return RequestContext(GatewayConfig(), CatalogStore(), "req-1", "demo")


def test_period_in_novas_formats_and_its_refusals() -> None:
    asked = request(start="2026-11-30T10:00:00", end="2026-11-30 11:00:00.500000")
    assert usage.period(asked, NOW) == (
        datetime(2026, 11, 30, 10, tzinfo=UTC),
        datetime(2026, 11, 30, 11, 0, 0, 500000, tzinfo=UTC),
    )
    # An end after now is now (Nova bills nothing in the future).
    assert usage.period(request(start="2026-11-30T10:00:00", end="2027-01-01T00:00:00"), NOW)[1] == NOW  # type: ignore[index]
    assert usage.period(request(start="yesterday"), NOW) == usage.INVALID_TIME
    assert usage.period(request(start="2026-11-30T13:00:00"), NOW) == usage.START_AFTER_END
    assert usage.period(request(), NOW) == usage.START_AFTER_END  # both now: Nova's 400 too


def test_tenant_usage_bills_each_server_within_the_period() -> None:
    pods = [
        pod("a", "2026-11-30T08:00:00Z"),  # before the period: billed from its start
        pod("b", "2026-11-30T11:00:00Z", cpu="2", memory="1Gi"),  # inside: billed from its creation
        pod("c", "2026-11-30T11:30:00Z"),  # created after the period ended
    ]
    start, stop = datetime(2026, 11, 30, 10, tzinfo=UTC), datetime(2026, 11, 30, 11, 30, tzinfo=UTC)
    (summary,) = usage.tenant_usages(pods, CatalogStore(), start, stop, NOW, detailed=True)
    assert summary["tenant_id"] == "demo"
    assert summary["start"] == "2026-11-30T10:00:00.000000"
    assert summary["stop"] == "2026-11-30T11:30:00.000000"
    assert summary["total_hours"] == pytest.approx(2.0)
    assert summary["total_vcpus_usage"] == pytest.approx(1.5 * 1 + 0.5 * 2)
    assert summary["total_memory_mb_usage"] == pytest.approx(1.5 * 512 + 0.5 * 1024)
    assert summary["total_local_gb_usage"] == pytest.approx(1.5 * 1 + 0.5 * 1)  # m1.tiny: 1 GiB disk
    first = summary["server_usages"][0]
    assert first == {
        "ended_at": None,
        "flavor": "m1.tiny",
        "hours": pytest.approx(1.5),
        "instance_id": "a",
        "local_gb": 1,
        "memory_mb": 512,
        "name": "a",
        "started_at": "2026-11-30T08:00:00.000000",
        "state": "building",
        "tenant_id": "demo",
        "uptime": 4 * 3600,
        "vcpus": 1,
    }
    assert [s["instance_id"] for s in summary["server_usages"]] == ["a", "b"]


def test_a_server_being_deleted_is_terminated_at_its_deletion() -> None:
    deleting = pod("d", "2026-11-30T09:00:00Z")
    deleting["metadata"]["deletionTimestamp"] = "2026-11-30T10:30:00Z"
    start, stop = datetime(2026, 11, 30, 10, tzinfo=UTC), datetime(2026, 11, 30, 11, tzinfo=UTC)
    (summary,) = usage.tenant_usages([deleting], CatalogStore(), start, stop, NOW, detailed=True)
    (entry,) = summary["server_usages"]
    assert (entry["state"], entry["ended_at"], entry["hours"]) == (
        "terminated",
        "2026-11-30T10:30:00.000000",
        0.5,
    )


def test_show_asks_arktos_for_the_tenants_pods_with_the_clients_token() -> None:
    outcome = usage.show_usage(context(), request(start="2026-11-01T00:00:00"), {"tenant_id": "alt"})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path == "/api/v1/tenants/alt/namespaces/default/pods"
    assert outcome.upstream.bearer_token is None
    body = answered(outcome, [pod("x", "2026-11-29T00:00:00Z", tenant="alt")])
    assert body["tenant_usage"]["tenant_id"] == "alt"
    assert len(body["tenant_usage"]["server_usages"]) == 1
    # No server in the period: Nova's empty object.
    assert answered(outcome, []) == {"tenant_usage": {}}


def test_index_lists_every_tenant_through_arktos_all_tenants_list() -> None:
    outcome = usage.list_usage(context(), request(start="2026-11-01T00:00:00"), {})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path == "/api/v1/tenants/all/pods"
    pods = [pod("x", "2026-11-29T00:00:00Z", tenant="alt"), pod("y", "2026-11-28T00:00:00Z")]
    body = answered(outcome, pods)
    # Without detailed=1 no server_usages, tenants in the order of their first server.
    assert [u["tenant_id"] for u in body["tenant_usages"]] == ["demo", "alt"]
    assert all("server_usages" not in u for u in body["tenant_usages"])
    detailed = usage.list_usage(context(), request(start="2026-11-01T00:00:00", detailed="1"), {})
    assert all("server_usages" in u for u in answered(detailed, pods)["tenant_usages"])


@pytest.mark.parametrize("handler", [usage.list_usage, usage.show_usage])
def test_bad_times_are_novas_400_before_arktos(handler: Any) -> None:
    reply = handler(context(), request(start="30/11/2026"), {"tenant_id": "demo"})
    assert isinstance(reply, Reply) and reply.status == 400
    assert (
        orjson.loads(reply.body)["badRequest"]["message"]
        == "Invalid datetime string: Datetime is in invalid format"
    )


# -- microversions: 2.40 paging, 2.75 strict query ---------------------------------------------------------


def versioned(version: tuple[int, int]) -> RequestContext:
    return RequestContext(
        GatewayConfig(public_url="http://gw"), CatalogStore(), "req-1", "demo", compute_version=version
    )


def paged_request(**query: str) -> ClientRequest:
    return ClientRequest(
        "GET", "/", {"start": ["2026-11-01T00:00:00"], **{k: [v] for k, v in query.items()}}, {}
    )


def test_servers_are_paged_from_240() -> None:
    pods = [pod(n, f"2026-11-2{i}T00:00:00Z") for i, n in enumerate(["a", "b", "c"], start=1)]
    server_ids = [p["metadata"]["name"] for p in pods]
    whole = usage.show_usage(versioned((2, 39)), paged_request(limit="2"), {"tenant_id": "demo"})
    body = answered(whole, pods)
    assert len(body["tenant_usage"]["server_usages"]) == 3
    assert "tenant_usage_links" not in body
    first = answered(
        usage.show_usage(versioned((2, 40)), paged_request(limit="2"), {"tenant_id": "demo"}), pods
    )
    assert [s["instance_id"] for s in first["tenant_usage"]["server_usages"]] == server_ids[:2]
    assert first["tenant_usage_links"] == [
        {
            "rel": "next",
            "href": "http://gw/compute/v2.1/demo/os-simple-tenant-usage/demo"
            f"?limit=2&marker={server_ids[1]}&start=2026-11-01T00%3A00%3A00",
        }
    ]
    rest = usage.list_usage(
        versioned((2, 40)), paged_request(limit="2", marker=server_ids[1], detailed="1"), {}
    )
    body = answered(rest, pods)
    assert [s["instance_id"] for s in body["tenant_usages"][0]["server_usages"]] == server_ids[2:]
    assert "tenant_usages_links" not in body
    unknown = usage.list_usage(versioned((2, 40)), paged_request(marker="nope"), {})
    assert isinstance(unknown, Forward)
    refused = unknown.translate(ArktosReply(200, {}, orjson.dumps({"items": pods})))
    assert isinstance(refused, Reply)
    assert (refused.status, orjson.loads(refused.body)["badRequest"]["message"]) == (
        400,
        "Marker nope could not be found.",
    )


def test_unknown_query_parameters_are_refused_from_275() -> None:
    assert isinstance(usage.list_usage(versioned((2, 74)), paged_request(bogus="1"), {}), Forward)
    refused = usage.list_usage(versioned((2, 75)), paged_request(bogus="1"), {})
    assert isinstance(refused, Reply) and refused.status == 400
    # detailed is the index's parameter, not show's.
    assert isinstance(
        usage.show_usage(versioned((2, 75)), paged_request(detailed="1"), {"tenant_id": "demo"}), Reply
    )
