"""Nova flavors: the ConfigMap GET each read becomes, and the exact Nova shapes of its translation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from extproc.catalog import CatalogStore
from extproc.catalog_entries import DEFAULT_FLAVORS
from extproc.compute import flavors
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from tests.shared_fixtures import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES
PUBLIC = "http://172.31.10.216"


def devstack(name: str) -> dict[str, Any]:
    return orjson.loads((FIXTURES / "devstack" / name).read_bytes())


def arktos(name: str) -> dict[str, Any]:
    return orjson.loads((FIXTURES / "arktos" / name).read_bytes())


def ctx(tenant: str | None = None) -> RequestContext:
    return RequestContext(
        config=GatewayConfig(public_url=PUBLIC),
        catalog=CatalogStore(),
        request_id="req-00000000-0000-0000-0000-000000000000",
        tenant=tenant,
    )


def request(
    path: str = "/compute/v2.1/flavors", query: Mapping[str, list[str]] | None = None
) -> ClientRequest:
    return ClientRequest(method="GET", path=path, query=query or {}, headers={"x-auth-token": "tok"})


def q(**params: str) -> dict[str, list[str]]:
    return {k: [v] for k, v in params.items()}


NOT_FOUND = ArktosReply(
    status=404,
    headers={"content-type": "application/json"},
    body=orjson.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": "NotFound",
            "message": 'configmaps "openstack-flavors" not found',
            "code": 404,
        }
    ),
)


def configmap(data: Mapping[str, Any]) -> ArktosReply:
    encoded = {name: orjson.dumps(spec).decode() for name, spec in data.items()}
    body = {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "openstack-flavors"},
        "data": encoded,
    }
    return ArktosReply(status=200, headers={}, body=orjson.dumps(body))


def status_reply(fixture: str) -> ArktosReply:
    recorded = arktos(fixture)
    return ArktosReply(status=recorded["status"], headers={}, body=orjson.dumps(recorded["body"]))


def run(outcome: Reply | Forward, reply: ArktosReply = NOT_FOUND) -> Reply:
    assert isinstance(outcome, Forward), outcome
    return outcome.translate(reply)


def body(reply: Reply) -> Any:
    return orjson.loads(reply.body)


# ---------------------------------------------------------------------------------------------------------
# The Arktos call


@pytest.mark.parametrize(
    ("handler", "params"),
    [
        (flavors.list_flavors, {}),
        (flavors.list_flavors_detail, {}),
        (flavors.show_flavor, {"flavor_id": "1"}),
        (flavors.show_extra_specs, {"flavor_id": "1"}),
    ],
)
@pytest.mark.parametrize(
    ("tenant", "path"),
    [
        ("tenant1", "/api/v1/tenants/tenant1/namespaces/default/configmaps/openstack-flavors"),
        (None, "/api/v1/namespaces/default/configmaps/openstack-flavors"),
    ],
)
def test_every_read_is_a_configmap_get_with_the_client_token(
    handler: Any, params: dict[str, str], tenant: str | None, path: str
) -> None:
    outcome = handler(ctx(tenant), request(), params)
    assert isinstance(outcome, Forward)
    assert outcome.upstream.method == "GET"
    assert outcome.upstream.path == path
    assert outcome.upstream.body is None
    assert outcome.upstream.bearer_token is None  # the client's own X-Auth-Token


# ---------------------------------------------------------------------------------------------------------
# Exact shapes vs DevStack


def test_list_matches_devstack_fixture_05() -> None:
    fixture = devstack("05-get-compute-v2-1-flavors.json")
    reply = run(flavors.list_flavors(ctx(), request(), {}))
    assert reply.status == fixture["status"] == 200
    assert reply.headers["content-type"] == "application/json"
    assert body(reply) == fixture["response_body"]


@pytest.mark.parametrize(
    "fixture_name", ["06-get-compute-v2-1-flavors-1.json", "12-get-compute-v2-1-flavors-1.json"]
)
def test_show_matches_devstack_fixture(fixture_name: str) -> None:
    fixture = devstack(fixture_name)
    reply = run(flavors.show_flavor(ctx(), request("/compute/v2.1/flavors/1"), {"flavor_id": "1"}))
    assert reply.status == 200
    shown = body(reply)
    assert shown == fixture["response_body"]
    assert list(shown["flavor"]) == list(fixture["response_body"]["flavor"])  # key order too
    assert b'"rxtx_factor":1.0' in reply.body


def test_show_by_name_is_404_like_devstack_fixture_04() -> None:
    fixture = devstack("04-get-compute-v2-1-flavors-m1-tiny.json")
    reply = run(flavors.show_flavor(ctx(), request(), {"flavor_id": "m1.tiny"}))
    assert reply.status == 404
    assert body(reply) == fixture["response_body"]
    assert reply.headers["content-type"] == fixture["response_headers"]["Content-Type"]


def test_detail_entries_have_the_show_keys_in_order() -> None:
    keys = list(devstack("06-get-compute-v2-1-flavors-1.json")["response_body"]["flavor"])
    listed = body(run(flavors.list_flavors_detail(ctx(), request(), {})))["flavors"]
    assert len(listed) == 12
    assert all(list(f) == keys for f in listed)
    assert listed[4] == {
        "id": "42",
        "name": "m1.nano",
        "ram": 128,
        "disk": 1,
        "swap": "",
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "OS-FLV-DISABLED:disabled": False,
        "vcpus": 1,
        "os-flavor-access:is_public": True,
        "rxtx_factor": 1.0,
        "links": [
            {"rel": "self", "href": f"{PUBLIC}/compute/v2.1/flavors/42"},
            {"rel": "bookmark", "href": f"{PUBLIC}/compute/flavors/42"},
        ],
    }


def test_project_urls_keep_the_project_in_links() -> None:
    reply = run(flavors.show_flavor(ctx("tenant1"), request(), {"flavor_id": "c1"}))
    assert body(reply)["flavor"]["links"] == [
        {"rel": "self", "href": f"{PUBLIC}/compute/v2.1/tenant1/flavors/c1"},
        {"rel": "bookmark", "href": f"{PUBLIC}/compute/tenant1/flavors/c1"},
    ]


def test_configmap_flavors_add_to_the_public_ones() -> None:
    """A tenant's own ConfigMap adds flavors only it sees; the public ones (the built-in defaults while the
    system tenant has no ConfigMap) stay, as Nova's public flavors are every project's. Fixture 25's m1.tiny
    has id 1, a public flavor's: it is not listed twice."""
    reply = run(flavors.list_flavors(ctx("tenant1"), request(), {}), status_reply("25-cm-get.json"))
    assert [f["id"] for f in body(reply)["flavors"]] == sorted(f.id for f in DEFAULT_FLAVORS)
    custom = configmap({"big": {"id": "b", "ram": 1024, "vcpus": 2, "disk": 3, "swap": 256, "ephemeral": 4}})
    shown = body(run(flavors.show_flavor(ctx("tenant1"), request(), {"flavor_id": "b"}), custom))["flavor"]
    assert (shown["name"], shown["swap"], shown["OS-FLV-EXT-DATA:ephemeral"]) == ("big", 256, 4)
    public = run(flavors.show_flavor(ctx("tenant1"), request(), {"flavor_id": "1"}), custom)
    assert body(public)["flavor"]["name"] == "m1.tiny"


# ---------------------------------------------------------------------------------------------------------
# Arktos errors


@pytest.mark.parametrize(
    ("fixture", "status", "fault"),
    [
        ("14-pod-get-notoken.json", 403, "forbidden"),
        ("16-pod-get-crosstenant.json", 403, "forbidden"),
        ("15-pod-get-badtoken.json", 401, "unauthorized"),
    ],
)
def test_arktos_refusals_become_nova_faults(fixture: str, status: int, fault: str) -> None:
    for handler, params in (
        (flavors.list_flavors, {}),
        (flavors.show_flavor, {"flavor_id": "1"}),
        (flavors.show_extra_specs, {"flavor_id": "1"}),
    ):
        reply = run(handler(ctx("tenant1"), request(), params), status_reply(fixture))
        assert reply.status == status
        assert set(body(reply)) == {fault}
        assert body(reply)[fault]["code"] == status
        assert reply.headers["content-type"] == "application/json; charset=UTF-8"


def test_unreachable_arktos_is_503() -> None:
    reply = run(flavors.list_flavors(ctx(), request(), {}), ArktosReply(502, {}, b"upstream connect error"))
    assert reply.status == 503
    assert "serviceUnavailable" in body(reply)


def test_unexpected_200_body_is_an_error_not_a_crash() -> None:
    reply = run(flavors.list_flavors(ctx(), request(), {}), ArktosReply(200, {}, b"[]"))
    assert reply.status == 503


# ---------------------------------------------------------------------------------------------------------
# Filters, sort and pagination


def ids_of(reply: Reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [f["id"] for f in body(reply)["flavors"]]


def test_min_ram_and_min_disk() -> None:
    reply = run(flavors.list_flavors(ctx(), request(query=q(minRam="4096")), {}))
    assert ids_of(reply) == ["3", "4", "5", "d4"]
    reply = run(flavors.list_flavors_detail(ctx(), request(query=q(minRam="2048", minDisk="20")), {}))
    assert ids_of(reply) == ["2", "3", "4", "5", "d4"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (q(minRam="big"), "Invalid minRam filter [big]"),
        (q(minDisk="1.5"), "Invalid minDisk filter [1.5]"),
        (q(is_public="maybe"), "Invalid is_public filter [maybe]"),
        (q(limit="x"), "Invalid input for query parameters limit. Value: x. 'x' does not match '^[0-9]*$'"),
        (
            q(limit="-1"),
            "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'",
        ),
        (q(sort_key="colour"), "Invalid sort key: colour"),
        (q(sort_dir="up"), "Invalid sort direction: up"),
    ],
)
def test_bad_list_parameters_are_400_without_calling_arktos(
    query: dict[str, list[str]], message: str
) -> None:
    outcome = flavors.list_flavors(ctx(), request(query=query), {})
    assert isinstance(outcome, Reply)
    assert outcome.status == 400
    assert body(outcome) == {"badRequest": {"code": 400, "message": message}}


def test_is_public_and_disabled() -> None:
    data = {
        "pub": {"id": "p", "ram": 1, "vcpus": 1, "disk": 1},
        "priv": {"id": "q", "ram": 1, "vcpus": 1, "disk": 1, "is_public": False},
        "off": {"id": "r", "ram": 1, "vcpus": 1, "disk": 1, "disabled": True},
    }
    cm = configmap(data)

    def mine(reply: Reply) -> list[str]:
        return [i for i in ids_of(reply) if i in data_ids]

    data_ids = ("p", "q", "r")
    assert mine(run(flavors.list_flavors(ctx(), request(), {}), cm)) == ["p", "q"]
    assert mine(run(flavors.list_flavors(ctx(), request(query=q(is_public="true")), {}), cm)) == ["p", "q"]
    assert ids_of(run(flavors.list_flavors(ctx(), request(query=q(is_public="False")), {}), cm)) == ["q"]
    assert mine(run(flavors.list_flavors(ctx(), request(query=q(is_public="None")), {}), cm)) == ["p", "q"]
    # A disabled flavor is hidden from lists but can still be shown (servers booted from it).
    shown = run(flavors.show_flavor(ctx(), request(), {"flavor_id": "r"}), cm)
    assert body(shown)["flavor"]["OS-FLV-DISABLED:disabled"] is True


def test_sort_key_and_dir() -> None:
    reply = run(flavors.list_flavors(ctx(), request(query=q(sort_key="memory_mb", sort_dir="desc")), {}))
    assert ids_of(reply)[:3] == ["5", "4", "d4"]
    reply = run(flavors.list_flavors(ctx(), request(query=q(sort_key="name")), {}))
    assert ids_of(reply)[:2] == ["c1", "d2"]  # cirros256, ds1G


def test_limit_gives_a_next_link_and_marker_continues() -> None:
    reply = run(flavors.list_flavors(ctx(), request(query=q(limit="2", minRam="1")), {}))
    assert ids_of(reply) == ["1", "2"]
    (link,) = body(reply)["flavors_links"]
    assert link["rel"] == "next"
    assert (
        link["href"] == f"{PUBLIC}/compute/v2.1/flavors?limit=2&minRam=1&marker=2"
    )  # as Nova: sorted, marker last
    follow = parse_qs(urlsplit(link["href"]).query)
    reply = run(flavors.list_flavors(ctx(), request(query=follow), {}))
    assert ids_of(reply) == ["3", "4"]


def test_detail_next_link_with_project() -> None:
    reply = run(flavors.list_flavors_detail(ctx("tenant1"), request(query=q(limit="5")), {}))
    assert body(reply)["flavors_links"] == [
        {"rel": "next", "href": f"{PUBLIC}/compute/v2.1/tenant1/flavors/detail?limit=5&marker=42"}
    ]


def test_last_partial_page_has_no_link() -> None:
    reply = run(flavors.list_flavors(ctx(), request(query=q(marker="d2", limit="5")), {}))
    assert ids_of(reply) == ["d3", "d4"]
    assert "flavors_links" not in body(reply)
    reply = run(flavors.list_flavors(ctx(), request(), {}))
    assert "flavors_links" not in body(reply)


def test_unknown_marker_is_400() -> None:
    reply = run(flavors.list_flavors(ctx(), request(query=q(marker="zz")), {}))
    assert reply.status == 400
    assert body(reply) == {"badRequest": {"code": 400, "message": "marker [zz] not found"}}


def test_limit_zero_gives_nothing_and_no_link() -> None:
    reply = run(flavors.list_flavors(ctx(), request(query=q(limit="0")), {}))
    assert body(reply) == {"flavors": []}


def test_a_limit_of_any_length_is_at_most_the_maximum() -> None:
    # Python refuses int() of more than 4,300 digits: such a limit must still be the maximum, not a 500.
    assert flavors.nova_limit("9" * 5000) == flavors.NOVA_MAX_LIMIT
    assert flavors.nova_limit("0" * 5000 + "2") == 2
    reply = run(flavors.list_flavors(ctx(), request(query=q(limit="9" * 5000)), {}))
    assert reply.status == 200


# ---------------------------------------------------------------------------------------------------------
# Extra specs


def test_extra_specs() -> None:
    cm = configmap(
        {"x": {"id": "x", "ram": 1, "vcpus": 1, "disk": 1, "extra_specs": {"hw:mem_page_size": "large"}}}
    )
    reply = run(flavors.show_extra_specs(ctx(), request(), {"flavor_id": "x"}), cm)
    assert (reply.status, body(reply)) == (200, {"extra_specs": {"hw:mem_page_size": "large"}})
    reply = run(flavors.show_extra_specs(ctx(), request(), {"flavor_id": "1"}))
    assert body(reply) == {"extra_specs": {}}
    reply = run(flavors.show_extra_specs(ctx(), request(), {"flavor_id": "m1.tiny"}))
    assert reply.status == 404
    assert body(reply) == {"itemNotFound": {"code": 404, "message": "Flavor m1.tiny could not be found."}}


# ---------------------------------------------------------------------------------------------------------
# Microversion gates (nova/api/openstack/compute/views/flavors.py, schemas/flavors.py)

DESCRIBED = {
    "d": {"id": "d", "ram": 64, "vcpus": 1, "disk": 1, "description": "small one", "extra_specs": {"k": "v"}}
}


def at(version: tuple[int, int]) -> RequestContext:
    return RequestContext(
        config=GatewayConfig(public_url=PUBLIC),
        catalog=CatalogStore(),
        request_id="req-00000000-0000-0000-0000-000000000000",
        tenant=None,
        compute_version=version,
    )


def shown_at(version: tuple[int, int], flavor_id: str = "d") -> dict[str, Any]:
    reply = run(flavors.show_flavor(at(version), request(), {"flavor_id": flavor_id}), configmap(DESCRIBED))
    shown: dict[str, Any] = body(reply)["flavor"]
    return shown


def test_description_from_2_55_in_show_list_and_detail() -> None:
    assert "description" not in shown_at((2, 54))
    assert shown_at((2, 55))["description"] == "small one"
    assert shown_at((2, 55), "1")["description"] is None  # Nova shows a flavor without one as null
    for handler in (flavors.list_flavors, flavors.list_flavors_detail):
        below = body(run(handler(at((2, 54)), request(), {}), configmap(DESCRIBED)))["flavors"]
        above = body(run(handler(at((2, 55)), request(), {}), configmap(DESCRIBED)))["flavors"]
        assert all("description" not in f for f in below)
        assert {f["id"]: f["description"] for f in above}["d"] == "small one"


def test_extra_specs_in_the_flavor_from_2_61() -> None:
    assert "extra_specs" not in shown_at((2, 60))
    assert shown_at((2, 61))["extra_specs"] == {"k": "v"}
    detail = body(run(flavors.list_flavors_detail(at((2, 61)), request(), {}), configmap(DESCRIBED)))
    assert {f["id"]: f["extra_specs"] for f in detail["flavors"]}["1"] == {}
    listed = body(run(flavors.list_flavors(at((2, 61)), request(), {}), configmap(DESCRIBED)))
    assert all("extra_specs" not in f for f in listed["flavors"])  # the index view never has them


def test_no_swap_is_an_empty_string_below_2_75_and_0_from_it() -> None:
    assert shown_at((2, 74))["swap"] == ""
    assert shown_at((2, 75))["swap"] == 0


def test_disabled_and_rxtx_factor_leave_the_view_at_2_102() -> None:
    assert {"OS-FLV-DISABLED:disabled", "rxtx_factor"} <= set(shown_at((2, 101)))
    assert not {"OS-FLV-DISABLED:disabled", "rxtx_factor"} & set(shown_at((2, 102)))


UNEXPECTED = "Additional properties are not allowed ('bogus' was unexpected)"


def test_unknown_list_parameters_are_refused_from_2_75() -> None:
    query = q(bogus="1")
    assert run(flavors.list_flavors(at((2, 74)), request(query=query), {})).status == 200
    refused = flavors.list_flavors(at((2, 75)), request(query=query), {})
    assert isinstance(refused, Reply)
    assert (refused.status, body(refused)) == (
        400,
        {"badRequest": {"code": 400, "message": UNEXPECTED}},
    )
    # name is a filter from 2.102 (a regex, as Nova's), an unknown parameter at 2.75..2.101
    assert isinstance(flavors.list_flavors(at((2, 101)), request(query=q(name="tiny")), {}), Reply)
    named = run(flavors.list_flavors(at((2, 102)), request(query=q(name="^m1\\.t")), {}))
    assert ids_of(named) == ["1"]
    bad = flavors.list_flavors(at((2, 102)), request(query=q(name="(")), {})
    assert isinstance(bad, Reply) and bad.status == 400
