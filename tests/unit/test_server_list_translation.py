"""GET /servers, /servers/detail (extproc.compute.server_list): list paths, queries, pages and replies."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from extproc.compute import server_list
from extproc.messages import ArktosReply
from tests.unit.server_doubles import (
    IMAGE_ID,
    PODS,
    PUBLIC,
    arktos,
    arktos_reply,
    as_forward,
    as_reply,
    ctx,
    fault,
    ids,
    listing,
    pod_list,
    request,
    vm_pod,
)

# ---------------------------------------------------------------------------------------------------------
# GET /servers, /servers/detail


def test_list_paths() -> None:
    def path(tenant: str | None, **query: Any) -> str:
        return as_forward(server_list.list_servers(ctx(tenant), request("GET", **query), {})).upstream.path

    assert path("demo") == "/api/v1/tenants/demo/namespaces/default/pods"
    assert path(None) == "/api/v1/namespaces/default/pods"
    assert path("demo", all_tenants="1") == "/api/v1/tenants/all/pods"
    assert path(None, all_tenants="True") == "/api/v1/tenants/all/pods"
    assert path("demo", all_tenants="false") == "/api/v1/tenants/demo/namespaces/default/pods"


def test_index_lists_vm_pods_newest_first() -> None:
    body = listing()
    assert ids(body) == ["a4", "a3", "a2", "a1"]  # same created time: id descending
    assert body["servers"][0] == {
        "id": "a4",
        "name": "db-2",
        "links": [
            {"rel": "self", "href": f"{PUBLIC}/compute/v2.1/demo/servers/a4"},
            {"rel": "bookmark", "href": f"{PUBLIC}/compute/demo/servers/a4"},
        ],
    }
    assert "servers_links" not in body


def test_detail_items_are_full_servers() -> None:
    body = listing(detail=True)
    assert ids(body) == ["a4", "a3", "a2", "a1"]
    by_id = {s["id"]: s for s in body["servers"]}
    assert by_id["a3"]["status"] == "BUILD"
    assert by_id["a2"]["status"] == "ACTIVE"
    assert by_id["a2"]["flavor"]["id"] == "2"
    assert by_id["a1"]["addresses"]["default"][0]["addr"] == "10.0.0.1"


def test_arktos_fixture_list_keeps_vm_pods() -> None:
    reply_body = arktos("12-pod-list-label.json")["body"]
    body = listing(pods=reply_body["items"])
    assert sorted(ids(body)) == ["f5dc173b-6804-445a-a6d8-c705dad5b5eb", "p1"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"name": "web"}, ["a2", "a1"]),
        ({"name": "^db-2$"}, ["a4"]),
        ({"status": "active"}, ["a4", "a2", "a1"]),
        ({"status": "BUILD"}, ["a3"]),
        ({"status": ["BUILD", "ACTIVE"]}, ["a4", "a3", "a2", "a1"]),
        ({"status": "SHUTOFF"}, []),
        ({"image": "other-image"}, ["a4"]),
        ({"image": f"http://glance/v2/images/{IMAGE_ID}"}, ["a3", "a2", "a1"]),
        ({"flavor": "2"}, ["a2"]),
        ({"flavor": "99"}, []),
        ({"reservation_id": "r-11111111"}, ["a3"]),
        ({"changes-since": "2024-01-01T00:00:02Z"}, ["a4", "a3", "a2"]),
        ({"changes-since": "2024-01-01T01:00:02+01:00"}, ["a4", "a3", "a2"]),
        ({"ip": "^10\\.0\\."}, ["a2", "a1"]),
        ({"deleted": "False", "is_public": "None", "sort_key": "created_at"}, ["a4", "a3", "a2", "a1"]),
        ({"tenant_id": "other"}, ["a4", "a3", "a2", "a1"]),  # ignored without all_tenants
        ({"tenant_id": "other", "all_tenants": "1"}, []),
        ({"project_id": "demo", "all_tenants": "1"}, ["a4", "a3", "a2", "a1"]),
    ],
)
def test_list_filters(query: dict[str, Any], expected: list[str]) -> None:
    assert ids(listing(**query)) == expected


def test_all_tenants_lists_only_the_gateway_namespace() -> None:
    elsewhere = vm_pod("k1", "2024-01-01T00:00:09Z", tenant="other")
    elsewhere["metadata"]["namespace"] = "kube-system"
    here = vm_pod("k2", "2024-01-01T00:00:08Z", tenant="other")
    here["metadata"]["namespace"] = "default"
    pods = [elsewhere, here, *PODS]
    assert ids(listing(pods=pods, all_tenants="1")) == ["k2", "a4", "a3", "a2", "a1"]
    # A tenant's own list comes from the namespace path already.
    assert ids(listing(pods=pods)) == ["k1", "k2", "a4", "a3", "a2", "a1"]


def test_pagination_walks_all_servers_with_next_links() -> None:
    first = listing(limit="2")
    assert ids(first) == ["a4", "a3"]
    (link,) = first["servers_links"]
    assert link["rel"] == "next"
    url = urlsplit(link["href"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{PUBLIC}/compute/v2.1/demo/servers"
    assert url.query == "limit=2&marker=a3"
    second = listing(**{k: v[0] for k, v in parse_qs(url.query).items()})
    assert ids(second) == ["a2", "a1"]
    # Full page: Nova offers a next link even if it leads to an empty page.
    assert second["servers_links"][0]["href"].endswith("limit=2&marker=a1")
    third = listing(limit="2", marker="a1")
    assert ids(third) == []
    assert "servers_links" not in third


def test_next_link_keeps_other_parameters_sorted() -> None:
    body = listing(detail=True, limit="1", name="web", status="ACTIVE")
    href = body["servers_links"][0]["href"]
    assert href == f"{PUBLIC}/compute/v2.1/demo/servers/detail?limit=1&marker=a2&name=web&status=ACTIVE"


def test_next_link_without_project() -> None:
    handler_ctx = ctx(None)
    forward = as_forward(server_list.list_servers(handler_ctx, request("GET", limit="1"), {}))
    body = orjson.loads(forward.translate(pod_list(PODS)).body)
    assert body["servers_links"][0]["href"] == f"{PUBLIC}/compute/v2.1/servers?limit=1&marker=a4"


def test_marker_of_a_filtered_out_server_still_pages() -> None:
    assert ids(listing(marker="a3", name="web")) == ["a2", "a1"]


def test_default_limit_is_1000() -> None:
    many = [vm_pod(f"s{i:04d}", "2024-01-01T00:00:00Z") for i in range(1001)]
    body = listing(pods=many)
    assert len(body["servers"]) == 1000
    assert body["servers_links"][0]["href"].endswith("marker=s0001")  # no limit param: none added
    assert len(listing(pods=many, limit="5000")["servers"]) == 1000


def test_limit_0_is_an_empty_page_without_next_link() -> None:
    # Nova's get_limit_and_marker: min(max_limit, 0) is 0, and _get_collection_links offers no link then.
    assert listing(limit="0") == {"servers": []}
    assert listing(detail=True, limit="0") == {"servers": []}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "x"}, "Invalid input for query parameters limit. Value: x. 'x' does not match '^[0-9]*$'"),
        ({"limit": "-1"}, "Invalid input for query parameters limit. Value: -1. '-1' does not match"),
        ({"limit": "1.5"}, "Invalid input for query parameters limit. Value: 1.5."),
        ({"all_tenants": "maybe"}, "Unrecognized value 'maybe'"),
        ({"changes-since": "yesterday"}, "changes-since"),
    ],
)
def test_bad_list_queries_are_400_before_arktos(query: dict[str, str], message: str) -> None:
    reply = as_reply(server_list.list_servers(ctx(), request("GET", **query), {}))
    status, name, text = fault(reply)
    assert (status, name) == (400, "badRequest")
    assert message in text


def test_unknown_marker_is_400() -> None:
    forward = as_forward(server_list.list_servers(ctx(), request("GET", marker="nope"), {}))
    assert fault(forward.translate(pod_list(PODS))) == (400, "badRequest", "marker [nope] not found")


def test_list_refused_by_arktos_is_403() -> None:
    forward = as_forward(server_list.list_servers(ctx("system"), request("GET"), {}))
    assert fault(forward.translate(arktos_reply("16-pod-get-crosstenant.json")))[:2] == (403, "forbidden")


def test_list_with_unexpected_body_is_500() -> None:
    forward = as_forward(server_list.list_servers(ctx(), request("GET"), {}))
    assert fault(forward.translate(ArktosReply(200, {}, b"[]")))[:2] == (500, "computeFault")
