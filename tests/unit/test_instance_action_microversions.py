"""Instance actions at each microversion that changes them (nova/api/openstack/compute/instance_actions.py):
2.58 paging, changes-since and updated_at; 2.62 hostId and host; 2.66 changes-before; 2.84 details; 2.102
show's strict query. Each gate is tested at the version below it and at its version."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from extproc.catalog import CatalogStore
from extproc.compute import instance_actions as ia
from extproc.compute.server_fields import host_id
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from tests.unit.test_instance_actions import SID, annotated, cache_with, reboot_action, record, vm_pod

Version = tuple[int, int]
RECORDS = [
    record("stop", "req-a", "2026-11-30T09:01:00.000000"),
    record("start", "req-b", "2026-11-30T09:02:00.000000"),
    record("stop", "req-c", "2026-11-30T09:03:00.000000"),
    record("start", "req-d", "2026-11-30T09:04:00.000000"),
]


def ctx(version: Version, tenant: str = "demo", cluster: Any = None) -> RequestContext:
    return RequestContext(
        GatewayConfig(public_url="http://gw"),
        CatalogStore(),
        "req-1",
        tenant,
        cluster,
        compute_version=version,
    )


def get(**query: str) -> ClientRequest:
    return ClientRequest("GET", "/x", {k: [v] for k, v in query.items()}, {"x-auth-token": "t"})


def listed(context: RequestContext, **query: str) -> tuple[int, Any]:
    outcome = ia.list_instance_actions(context, get(**query), {"server_id": SID})
    if isinstance(outcome, Reply):
        return outcome.status, orjson.loads(outcome.body)
    assert isinstance(outcome, Forward)
    reply = outcome.translate(ArktosReply(200, {}, orjson.dumps(vm_pod(**annotated(*RECORDS)))))
    assert isinstance(reply, Reply)
    return reply.status, orjson.loads(reply.body)


def ids(body: Any) -> list[str]:
    return [a["request_id"] for a in body["instanceActions"]]


def test_updated_at_from_258() -> None:
    _, before = listed(ctx((2, 57)))
    assert "updated_at" not in before["instanceActions"][0]
    _, at = listed(ctx((2, 58)))
    assert at["instanceActions"][0]["updated_at"] == at["instanceActions"][0]["start_time"]


def test_limit_and_marker_page_newest_first_from_258() -> None:
    _, whole = listed(ctx((2, 57)), limit="2", marker="req-d")
    assert ids(whole) == ["req-d", "req-c", "req-b", "req-a"]
    _, page = listed(ctx((2, 58)), limit="2", marker="req-d")
    assert ids(page) == ["req-c", "req-b"]
    assert page["links"] == [
        {
            "rel": "next",
            "href": f"http://gw/compute/v2.1/demo/servers/{SID}/os-instance-actions?limit=2&marker=req-b",
        }
    ]
    _, tail = listed(ctx((2, 58)), limit="2", marker="req-b")
    assert ids(tail) == ["req-a"] and "links" not in tail
    assert listed(ctx((2, 58)), marker="req-zz") == (
        400,
        {"badRequest": {"code": 400, "message": "Marker req-zz could not be found."}},
    )


def test_changes_since_from_258_and_changes_before_from_266() -> None:
    _, since = listed(ctx((2, 58)), **{"changes-since": "2026-11-30T09:02:00Z"})
    assert ids(since) == ["req-d", "req-c", "req-b"]
    # changes-before is no parameter at 2.58-2.65: refused by the strict schema.
    status, body = listed(ctx((2, 65)), **{"changes-before": "2026-11-30T09:02:00Z"})
    assert (status, body["badRequest"]["message"]) == (
        400,
        "Additional properties are not allowed ('changes-before' was unexpected)",
    )
    _, window = listed(
        ctx((2, 66)), **{"changes-since": "2026-11-30T09:02:00Z", "changes-before": "2026-11-30T09:03:00Z"}
    )
    assert ids(window) == ["req-c", "req-b"]
    assert listed(
        ctx((2, 66)), **{"changes-since": "2026-11-30T09:03:00Z", "changes-before": "2026-11-30T09:02:00Z"}
    ) == (400, {"badRequest": {"code": 400, "message": ia.CHANGES_ORDER}})


def test_list_query_is_strict_from_258() -> None:
    _, ignored = listed(ctx((2, 57)), bogus="1")
    assert len(ids(ignored)) == 4
    status, body = listed(ctx((2, 58)), bogus="1")
    assert (status, body["badRequest"]["message"]) == (
        400,
        "Additional properties are not allowed ('bogus' was unexpected)",
    )
    status, body = listed(ctx((2, 58)), **{"changes-since": "yesterday"})
    assert (status, body["badRequest"]["message"]) == (
        400,
        "Invalid input for query parameters changes-since. Value: yesterday. "
        "'yesterday' is not a 'date-time'",
    )


def shown_event(version: Version, tenant: str) -> dict[str, Any]:
    reboot = record("reboot", "req-c", "2026-11-30T09:03:00.500000", ref="reboot-1796012580")
    pod = vm_pod(**annotated(reboot))
    pod["metadata"]["tenant"] = tenant
    pod["spec"]["nodeName"] = "node-7"
    action = reboot_action("reboot-1796012580", "2026-11-30T09:03:00Z", "uid-c")
    action["metadata"]["tenant"] = tenant
    action["status"]["errorMessage"] = "libvirt: domain crashed"
    outcome = ia.show_instance_action(
        ctx(version, tenant, cache_with(pod, [action])), get(), {"server_id": SID, "request_id": "req-c"}
    )
    assert isinstance(outcome, Forward)
    reply = outcome.translate(ArktosReply(200, {}, orjson.dumps(pod)))
    assert isinstance(reply, Reply)
    (event,) = orjson.loads(reply.body)["instanceAction"]["events"]
    return dict(event)


@pytest.mark.parametrize(
    ("version", "tenant", "extra"),
    [
        ((2, 61), "demo", set()),
        ((2, 62), "demo", {"hostId"}),
        ((2, 61), "system", {"traceback"}),
        ((2, 62), "system", {"traceback", "hostId", "host"}),
        ((2, 83), "system", {"traceback", "hostId", "host"}),
        ((2, 84), "demo", {"hostId"}),
        ((2, 84), "system", {"traceback", "hostId", "host", "details"}),
    ],
)
def test_event_host_fields_from_262_and_details_from_284(
    version: Version, tenant: str, extra: set[str]
) -> None:
    event = shown_event(version, tenant)
    assert set(event) == {"event", "start_time", "finish_time", "result"} | extra
    if "hostId" in event:
        # Hashed with the action's project (Nova: the action's, else the server's).
        assert event["hostId"] == host_id("demo", "node-7")
    if "host" in event:
        assert event["host"] == "node-7"
    if "details" in event:
        assert (event["result"], event["details"]) == ("Error", "libvirt: domain crashed")


def test_show_query_is_strict_from_2102() -> None:
    params = {"server_id": SID, "request_id": "req-a"}
    assert isinstance(ia.show_instance_action(ctx((2, 101)), get(bogus="1"), params), Forward)
    refused = ia.show_instance_action(ctx((2, 102)), get(bogus="1"), params)
    assert isinstance(refused, Reply) and refused.status == 400
