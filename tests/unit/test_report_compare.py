"""The compatibility report's pure parts: body comparison, the rules, the per-endpoint summary, rendering."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from gateway_stack.mirror.exchange import ExchangeSide, HttpRequest, HttpResponse
from gateway_stack.mirror.idmap import IdMap, Kind
from gateway_stack.report.capture import ReadStats, pair_sides, read_capture
from gateway_stack.report.compare import compare_bodies, compare_pair, endpoint_of
from gateway_stack.report.render import html_page, terminal_table
from gateway_stack.report.rules import RULES
from gateway_stack.report.summary import summarize
from tests.shared_fixtures import DEVSTACK_FIXTURES

P_SERVER = "bad005cf-17e1-48ad-b9f7-e9f9352beb13"
S_SERVER = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
P_IMAGE = "6db08272-a856-49da-8909-7c4c73ab0bac"
S_IMAGE = "11111111-2222-3333-4444-555555555555"


def devstack_body(name: str) -> Any:
    return json.loads((DEVSTACK_FIXTURES / name).read_text())["response_body"]


def shadow_of_devstack_show() -> Any:
    """The DevStack server show as the gateway would answer it: its own ids, host, clock and identity."""
    body = copy.deepcopy(devstack_body(f"10-get-compute-v2-1-servers-{P_SERVER}.json"))
    server = body["server"]
    text = json.dumps(body).replace(P_SERVER, S_SERVER).replace(P_IMAGE, S_IMAGE)
    text = text.replace("http://172.31.10.216", "http://127.0.0.1:8080")
    body = json.loads(text)
    server = body["server"]
    server.update(
        created="2026-11-30T12:00:00Z",
        updated="2026-11-30T12:00:01Z",
        tenant_id="demo",
        user_id="demo",
        hostId="f" * 56,
        addresses={"public": [{"addr": "10.0.0.5", "version": 4}]},
    )
    return body


def mapped() -> IdMap:
    idmap = IdMap()
    idmap.pair(Kind.SERVER, P_SERVER, S_SERVER)
    idmap.pair(Kind.IMAGE, P_IMAGE, S_IMAGE)
    return idmap


def test_everything_that_must_differ_is_excused_by_its_rule() -> None:
    primary = devstack_body(f"10-get-compute-v2-1-servers-{P_SERVER}.json")
    differences = compare_bodies(primary, shadow_of_devstack_show(), mapped())
    assert differences, "the bodies do differ"
    assert [d for d in differences if d.rule is None] == []
    rules = {d.path: d.rule for d in differences}
    assert rules["server.id"] == "ids mapped"
    assert rules["server.image.id"] == "ids mapped"
    assert rules["server.created"] == "timestamps"
    assert rules["server.links[].href"] == "hosts in links"
    assert rules["server.image.links[].href"] == "hosts in links"
    assert rules["server.hostId"] == "hostId"
    assert rules["server.tenant_id"] == rules["server.user_id"] == "identity ids"
    # addresses {} vs {"public": [...]}: a key only the shadow has inside addresses is still an extra key
    assert {d.kind for d in differences if d.path.startswith("server.addresses")} == {"extra"} or rules.get(
        "server.addresses"
    )


def test_real_differences_are_reported_by_kind() -> None:
    primary = devstack_body(f"10-get-compute-v2-1-servers-{P_SERVER}.json")
    shadow = shadow_of_devstack_show()
    del shadow["server"]["OS-EXT-STS:vm_state"]
    shadow["server"]["progress"] = "0"
    shadow["server"]["status"] = "ACTIVE"
    shadow["server"]["locked"] = False
    real = {(d.path, d.kind) for d in compare_bodies(primary, shadow, mapped()) if d.rule is None}
    assert real == {
        ("server.OS-EXT-STS:vm_state", "missing"),
        ("server.progress", "type"),
        ("server.status", "value"),
        ("server.locked", "extra"),
    }


def test_an_unmapped_id_is_a_difference() -> None:
    primary = devstack_body(f"10-get-compute-v2-1-servers-{P_SERVER}.json")
    real = [d for d in compare_bodies(primary, shadow_of_devstack_show(), IdMap()) if d.rule is None]
    assert {d.path for d in real} >= {"server.id", "server.image.id"}
    # Links whose ids are not known to be the same thing are not excused either.
    assert "server.links[].href" in {d.path for d in real}


def test_lists_are_matched_by_mapped_id_then_name_not_position() -> None:
    idmap = IdMap()
    idmap.pair(Kind.FLAVOR, "1", "tiny-uid")
    primary = {
        "flavors": [{"id": "1", "name": "m1.tiny"}, {"id": "2", "name": "m1.small"}, {"id": "9", "name": "x"}]
    }
    shadow = {
        "flavors": [
            {"id": "small", "name": "m1.small"},
            {"id": "tiny-uid", "name": "m1.tiny"},
            {"id": "y", "name": "y"},
        ]
    }
    found = {
        (d.path, d.kind, json.dumps(d.primary), json.dumps(d.shadow), d.rule)
        for d in compare_bodies(primary, shadow, idmap)
    }
    assert found == {
        ("flavors[].id", "value", '"1"', '"tiny-uid"', "ids mapped"),
        ("flavors[].id", "value", '"2"', '"small"', None),  # same name, an id the map does not pair
        ("flavors[]", "missing", '{"name": "x"}', "null", None),
        ("flavors[]", "extra", "null", '{"name": "y"}', None),
    }


def test_scalar_lists_compare_without_order() -> None:
    assert compare_bodies({"tags": ["a", "b"]}, {"tags": ["b", "a"]}, IdMap()) == []
    found = compare_bodies({"tags": ["a", "b"]}, {"tags": ["a"]}, IdMap())
    assert [(d.path, d.kind, d.primary) for d in found] == [("tags[]", "missing", "b")]


def test_deep_json_is_bounded() -> None:
    deep: Any = "leaf"
    for _ in range(500):
        deep = {"a": deep}
    other = json.loads(json.dumps(deep).replace("leaf", "other"))
    found = compare_bodies(deep, other, IdMap())
    assert len(found) == 1 and found[0].kind == "value"


def side(rid: str, which: str, request: HttpRequest, status: int, body: Any, **headers: str) -> ExchangeSide:
    return ExchangeSide(rid, which, "2026-11-30T12:00:00Z", request, HttpResponse(status, headers, body))  # type: ignore[arg-type]


def test_headers_that_matter_are_compared() -> None:
    request = HttpRequest("GET", "/compute/v2.1/flavors")
    primary = side(
        "1",
        "primary",
        request,
        200,
        {},
        **{
            "content-type": "application/json",
            "x-openstack-request-id": "req-1",
            "openstack-api-version": "compute 2.1",
        },
    )
    shadow = side(
        "1",
        "shadow",
        request,
        200,
        {},
        **{"content-type": "application/json; charset=UTF-8", "openstack-api-version": "compute 2.79"},
    )
    found = {(d.path, d.kind) for d in compare_pair("1", primary, shadow, IdMap()).differences}
    assert found == {
        ("headers.openstack-api-version", "value"),
        ("headers.x-openstack-request-id", "missing"),
    }


def test_endpoints_are_the_gateways_route_templates() -> None:
    assert endpoint_of("GET", f"/compute/v2.1/servers/{P_SERVER}") == "GET /compute/v2.1/servers/{server_id}"
    assert (
        endpoint_of("GET", "/compute/v2.1/demo/servers/detail")
        == "GET /compute/v2.1/{project_id}/servers/detail"
    )
    assert (
        endpoint_of("POST", f"/compute/v2.1/servers/{P_SERVER}/action")
        == "POST /compute/v2.1/servers/{server_id}/action"
    )
    assert endpoint_of("GET", "/image/v2/images") == "GET /image/v2/images"
    # Not served by the gateway: id-like segments generalized.
    assert (
        endpoint_of("GET", f"/placement/resource_providers/{P_SERVER}")
        == "GET /placement/resource_providers/{id}"
    )


def capture_lines() -> list[ExchangeSide]:
    """A small capture: a create, its show twice (one with a difference), a flavor list, an unmirrored one."""
    create = HttpRequest(
        "POST", "/compute/v2.1/servers", "", {}, {"server": {"name": "a", "imageRef": P_IMAGE}}
    )
    show = HttpRequest("GET", f"/compute/v2.1/servers/{P_SERVER}")
    shadow_show = HttpRequest("GET", f"/compute/v2.1/servers/{S_SERVER}")
    ok_show = shadow_of_devstack_show()
    bad_show = copy.deepcopy(ok_show)
    bad_show["server"]["status"] = "ERROR"
    primary_show = devstack_body(f"10-get-compute-v2-1-servers-{P_SERVER}.json")
    catalog = HttpRequest("GET", "/image/v2/images")
    return [
        side("c", "primary", catalog, 200, {"images": [{"id": P_IMAGE, "name": "cirros"}]}),
        side("c", "shadow", catalog, 200, {"images": [{"id": S_IMAGE, "name": "cirros"}]}),
        side("1", "primary", create, 202, {"server": {"id": P_SERVER}}),
        side("1", "shadow", create, 202, {"server": {"id": S_SERVER}}),
        side("2", "shadow", shadow_show, 200, ok_show),  # sides arrive in any order
        side("2", "primary", show, 200, primary_show),
        side("3", "primary", show, 200, primary_show),
        side("3", "shadow", shadow_show, 200, bad_show),
        side("4", "primary", HttpRequest("DELETE", f"/compute/v2.1/servers/{P_SERVER}"), 204, None),
        side("5", "primary", HttpRequest("GET", "/compute/v2.1/flavors/1"), 200, {"flavor": {"id": "1"}}),
        side(
            "5", "shadow", HttpRequest("GET", "/compute/v2.1/flavors/1"), 404, {"itemNotFound": {"code": 404}}
        ),
    ]


def test_summary_pairs_learns_and_orders_worst_first(tmp_path: Path) -> None:
    lines = capture_lines()
    (tmp_path / "capture-0001.jsonl").write_text("".join(s.to_line() + "\n" for s in lines[:5]))
    (tmp_path / "capture-0002.jsonl").write_text(
        "".join(s.to_line() + "\n" for s in lines[5:]) + '{"torn": \n'
    )
    stats = ReadStats()
    summary = summarize(read_capture(tmp_path, stats))
    assert stats.files == 2 and stats.unreadable_lines == 1
    assert summary.totals == {
        "exchanges": 6,
        "paired": 5,
        "unpaired": 1,
        "status_agree": 4,
        "identical": 3,
        "with_differences": 2,
        "unreadable_lines": 0,
    }
    order = [e.endpoint for e in summary.endpoints]
    # The status disagreement first, then the show with a difference in 1 of its 2 exchanges.
    assert order[:2] == ["GET /compute/v2.1/flavors/{flavor_id}", "GET /compute/v2.1/servers/{server_id}"]
    show = summary.endpoints[1]
    assert (show.exchanges, show.paired, show.status_agree, show.identical) == (2, 2, 2, 1)
    assert [(p.path, p.kind, p.count, p.primary, p.shadow) for p in show.places.values()] == [
        ("server.status", "value", 1, "BUILD", "ERROR")
    ]
    assert show.excused["ids mapped"] == 4  # the server id and the image id, twice: learned from the create
    assert show.examples[0].id == "3"  # the worst example first
    delete = next(e for e in summary.endpoints if e.endpoint.startswith("DELETE"))
    assert delete.paired == 0
    assert "the request was not mirrored to the shadow (or its reply was not captured)" in delete.notes


def test_report_renders_the_same_numbers_everywhere_and_escapes() -> None:
    lines = capture_lines()
    hostile = HttpRequest("GET", "/compute/v2.1/flavors/<script>")
    lines.append(
        side("6", "primary", hostile, 404, {"itemNotFound": {"message": "<script>alert(1)</script>"}})
    )
    lines.append(side("6", "shadow", hostile, 404, {"itemNotFound": {"message": "other"}}))
    report = summarize(pair_sides(lines)).to_json("capture")
    assert [r["name"] for r in report["rules"]] == [r.name for r in RULES]
    table = terminal_table(report)
    rows = {line.split("  ")[0]: line.split() for line in table.splitlines()}
    # flavors: the 200/404 exchange and the hostile one (404 both, another message).
    assert rows["GET /compute/v2.1/flavors/{flavor_id}"][2:6] == ["2", "1/2", "50%", "0/2"]
    assert "7 exchanges, 6 paired, status agrees in 5, identical (after the rules) 3" in table
    e = next(e for e in report["endpoints"] if e["endpoint"] == "GET /compute/v2.1/flavors/{flavor_id}")
    assert (e["exchanges"], e["status_agree"], e["identical"]) == (2, 1, 0)
    page = html_page(report)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "server.status" in page and "ids mapped" in page
    json.dumps(report)  # report.json is plain JSON


def test_pairs_stream_and_waiting_sides_are_bounded() -> None:
    request = HttpRequest("GET", "/compute/v2.1/flavors")
    lines = [side(str(n), "primary", request, 200, {}) for n in range(5)]
    lines.insert(2, side("0", "shadow", request, 200, {}))
    pairs = list(pair_sides(iter(lines), max_waiting=2))
    # "0" completes as soon as its shadow side is read; "1" and "2" wait, and the oldest waiting side is
    # handed on alone when a third would wait.
    assert [(p.id, p.primary is not None, p.shadow is not None) for p in pairs] == [
        ("0", True, True),
        ("1", True, False),
        ("2", True, False),
        ("3", True, False),
        ("4", True, False),
    ]
