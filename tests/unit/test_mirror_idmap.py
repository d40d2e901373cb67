"""The id map of the mirror and the replay: learning from paired replies, rewriting for the shadow."""

from __future__ import annotations

import json
from typing import Any

from gateway_stack.mirror.exchange import ExchangeSide, HttpRequest, HttpResponse, body_from_bytes
from gateway_stack.mirror.idmap import IdMap, Kind, with_project, without_project
from tests.shared_fixtures import DEVSTACK_FIXTURES

P_IMAGE = "6db08272-a856-49da-8909-7c4c73ab0bac"
S_IMAGE = "11111111-2222-3333-4444-555555555555"
P_SERVER = "bad005cf-17e1-48ad-b9f7-e9f9352beb13"
S_SERVER = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
UNKNOWN = "99999999-8888-7777-6666-555555555555"


def devstack(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEVSTACK_FIXTURES / name).read_text())
    return loaded


def ok(body: Any, status: int = 200, **headers: str) -> HttpResponse:
    return HttpResponse(status, headers, body)


def get(path: str, query: str = "") -> HttpRequest:
    return HttpRequest("GET", path, query)


def learned_catalogs() -> IdMap:
    idmap = IdMap()
    primary_images = devstack("03-get-image-v2-images-name-cirros-0-5-2-x86-64-disk.json")["response_body"]
    shadow_images = {"images": [{"id": S_IMAGE, "name": "cirros-0.5.2-x86_64-disk"}]}
    idmap.learn(
        get("/image/v2/images", "name=cirros-0.5.2-x86_64-disk"), ok(primary_images), ok(shadow_images)
    )
    primary_flavors = devstack("05-get-compute-v2-1-flavors.json")["response_body"]
    shadow_flavors = {
        "flavors": [{"id": "m1.tiny-uid", "name": "m1.tiny"}, {"id": "small", "name": "m1.small"}]
    }
    idmap.learn(get("/compute/v2.1/flavors"), ok(primary_flavors), ok(shadow_flavors))
    return idmap


def test_catalogs_map_by_name_from_the_devstack_replies() -> None:
    idmap = learned_catalogs()
    assert idmap.shadow_id(Kind.IMAGE, P_IMAGE) == S_IMAGE
    assert idmap.shadow_id(Kind.FLAVOR, "1") == "m1.tiny-uid"
    assert idmap.shadow_id(Kind.FLAVOR, "2") == "small"
    # A flavor only the primary has maps to nothing.
    assert idmap.shadow_id(Kind.FLAVOR, "42") is None
    assert idmap.corresponds(P_IMAGE, S_IMAGE)
    assert not idmap.corresponds(P_IMAGE, "something-else")


def test_the_devstack_create_is_rewritten_for_the_shadow() -> None:
    idmap = learned_catalogs()
    idmap.pair(Kind.NETWORK, "2608d099-c5cb-45c9-a85e-c7daba9f95bf", "net-uid")
    recorded = devstack("09-post-compute-v2-1-servers.json")
    create = HttpRequest(
        "POST", "/compute/v2.1/servers", "", {"content-type": "application/json"}, recorded["request_body"]
    )
    out = idmap.rewrite(create)
    assert out.unmapped == ()
    server = out.request.body["server"]
    assert server["imageRef"] == S_IMAGE
    assert server["flavorRef"] == "m1.tiny-uid"
    assert server["networks"] == [{"uuid": "net-uid"}]
    assert server["name"] == "test-2"  # everything else unchanged
    assert create.body["server"]["imageRef"] == P_IMAGE  # the primary's request is not modified


def test_a_paired_create_maps_the_server_in_later_paths_and_queries() -> None:
    idmap = learned_catalogs()
    recorded = devstack("09-post-compute-v2-1-servers.json")
    shadow_reply = {"server": {"id": S_SERVER, "links": []}, "reservation_id": "r-shadow"}
    primary_reply = dict(recorded["response_body"], reservation_id="r-primary")
    create = HttpRequest("POST", "/compute/v2.1/servers", "", {}, recorded["request_body"])
    idmap.learn(create, ok(primary_reply, 202), ok(shadow_reply, 202))
    assert idmap.shadow_id(Kind.SERVER, P_SERVER) == S_SERVER
    assert idmap.shadow_id(Kind.RESERVATION, "r-primary") == "r-shadow"

    show = idmap.rewrite(get(f"/compute/v2.1/servers/{P_SERVER}"))
    assert show.request.path == f"/compute/v2.1/servers/{S_SERVER}"
    action = idmap.rewrite(
        HttpRequest("POST", f"/compute/v2.1/servers/{P_SERVER}/action", "", {}, {"reboot": {"type": "SOFT"}})
    )
    assert action.request.path == f"/compute/v2.1/servers/{S_SERVER}/action"
    listed = idmap.rewrite(
        get("/compute/v2.1/servers/detail", f"image={P_IMAGE}&reservation_id=r-primary&marker={P_SERVER}")
    )
    assert listed.request.query == f"image={S_IMAGE}&reservation_id=r-shadow&marker={S_SERVER}"
    assert listed.unmapped == ()


def test_a_failed_create_teaches_nothing() -> None:
    idmap = IdMap()
    create = HttpRequest("POST", "/compute/v2.1/servers", "", {}, {"server": {"name": "x"}})
    idmap.learn(create, ok({"server": {"id": P_SERVER}}, 202), ok({"badRequest": {"code": 400}}, 400))
    assert idmap.shadow_id(Kind.SERVER, P_SERVER) is None


def test_unknown_ids_are_sent_as_is_and_reported() -> None:
    idmap = learned_catalogs()
    out = idmap.rewrite(
        HttpRequest(
            "POST", f"/compute/v2.1/servers/{P_SERVER}/action", "", {}, {"rebuild": {"imageRef": UNKNOWN}}
        )
    )
    assert out.request.path == f"/compute/v2.1/servers/{P_SERVER}/action"
    assert out.request.body == {"rebuild": {"imageRef": UNKNOWN}}
    assert out.unmapped == (
        f"no shadow id for the primary's server {P_SERVER}",
        f"no shadow id for the primary's image {UNKNOWN}",
    )


def test_a_lookup_by_name_is_not_an_unmapped_id() -> None:
    out = learned_catalogs().rewrite(get("/compute/v2.1/flavors/m1.tiny"))
    assert out.request.path == "/compute/v2.1/flavors/m1.tiny"
    assert out.unmapped == ()
    # Before any catalog is known: a name where a UUID id goes is a name.
    by_name = IdMap().rewrite(get("/image/v2/images/cirros-0.5.2-x86_64-disk"))
    assert by_name.unmapped == ()
    assert IdMap().rewrite(get(f"/image/v2/images/{P_IMAGE}")).unmapped == (
        f"no shadow id for the primary's image {P_IMAGE}",
    )


def test_a_name_twice_on_the_shadow_maps_nothing() -> None:
    idmap = IdMap()
    idmap.learn_catalog(Kind.IMAGE, [{"id": "p1", "name": "cirros"}], [{"id": "s1", "name": "cirros"}])
    assert idmap.shadow_id(Kind.IMAGE, "p1") == "s1"
    idmap.learn_shadow_names(Kind.IMAGE, [{"id": "s2", "name": "cirros"}])
    assert idmap.shadow_id(Kind.IMAGE, "p1") is None


def test_links_as_refs_keep_their_url_and_map_the_id() -> None:
    idmap = learned_catalogs()
    body = {"server": {"flavorRef": "http://nova.example/compute/v2.1/flavors/1", "imageRef": P_IMAGE}}
    out = idmap.rewrite(HttpRequest("POST", "/compute/v2.1/servers", "", {}, body))
    assert out.request.body["server"]["flavorRef"] == "http://nova.example/compute/v2.1/flavors/m1.tiny-uid"


def test_project_segment_and_hint_group_and_bdm_image() -> None:
    idmap = learned_catalogs()
    idmap.pair(Kind.PROJECT, "0123456789abcdef0123456789abcdef", "demo")
    idmap.pair(Kind.SERVER_GROUP, "pg", "sg")
    body = {
        "server": {
            "name": "a",
            "flavorRef": "2",
            "block_device_mapping_v2": [
                {"uuid": P_IMAGE, "source_type": "image"},
                {"uuid": "v", "source_type": "volume"},
            ],
        },
        "os:scheduler_hints": {"group": "pg"},
    }
    out = idmap.rewrite(
        HttpRequest("POST", "/compute/v2.1/0123456789abcdef0123456789abcdef/servers", "", {}, body)
    )
    assert out.request.path == "/compute/v2.1/demo/servers"
    assert out.request.body["os:scheduler_hints"] == {"group": "sg"}
    assert out.request.body["server"]["block_device_mapping_v2"] == [
        {"uuid": S_IMAGE, "source_type": "image"},
        {"uuid": "v", "source_type": "volume"},
    ]


def test_snapshot_image_ids_from_location_or_body_and_glance_creates() -> None:
    idmap = IdMap()
    snap = HttpRequest(
        "POST", f"/compute/v2.1/servers/{P_SERVER}/action", "", {}, {"createImage": {"name": "s"}}
    )
    idmap.learn(
        snap,
        ok(None, 202, location="http://nova/image/v2/images/p-snap"),
        ok({"image_id": "s-snap"}, 202),
    )
    assert idmap.shadow_id(Kind.IMAGE, "p-snap") == "s-snap"
    glance = HttpRequest("POST", "/image/v2/images", "", {}, {"name": "up"})
    idmap.learn(glance, ok({"id": "p-up", "name": "up"}, 201), ok({"id": "s-up", "name": "up"}, 201))
    assert idmap.shadow_id(Kind.IMAGE, "p-up") == "s-up"
    group = HttpRequest("POST", "/compute/v2.1/os-server-groups", "", {}, {"server_group": {"name": "g"}})
    idmap.learn(
        group,
        ok({"server_group": {"id": "p-g", "name": "g"}}),
        ok({"server_group": {"id": "s-g", "name": "g"}}),
    )
    assert idmap.shadow_id(Kind.SERVER_GROUP, "p-g") == "s-g"


def test_request_ids_map_for_instance_actions() -> None:
    idmap = IdMap()
    idmap.learn(
        get("/compute/v2.1/servers"),
        ok({}, **{"x-openstack-request-id": "req-p"}),
        ok({}, 200, **{"x-openstack-request-id": "req-s"}),
    )
    out = idmap.rewrite(get(f"/compute/v2.1/servers/{P_SERVER}/os-instance-actions/req-p"))
    assert out.request.path.endswith("/os-instance-actions/req-s")


def test_memory_is_bounded() -> None:
    idmap = IdMap(max_entries=10)
    for n in range(100):
        idmap.pair(Kind.SERVER, f"p{n}", f"s{n}")
    assert idmap.shadow_id(Kind.SERVER, "p0") is None
    assert idmap.shadow_id(Kind.SERVER, "p99") == "s99"


def test_capture_lines_never_hold_credentials_and_round_trip() -> None:
    request = HttpRequest(
        "post",
        "/compute/v2.1/servers",
        "",
        {"X-Auth-Token": "secret", "Authorization": "Bearer x", "OpenStack-API-Version": "compute 2.1"},
        {"server": {}},
    )
    side = ExchangeSide(
        "rid", "shadow", "2026-11-30T12:00:00Z", request, ok({"a": 1}, **{"X-Subject-Token": "t"})
    )
    line = side.to_line()
    assert "secret" not in line and "Bearer" not in line and '"t"' not in line
    back = ExchangeSide.from_json(json.loads(line))
    assert back.request.method == "POST"
    assert back.request.headers == {"openstack-api-version": "compute 2.1"}
    assert back.response is not None and back.response.body == {"a": 1}


def test_bodies_that_are_not_json_are_wrapped() -> None:
    assert body_from_bytes(b"") is None
    assert body_from_bytes(b'{"a": 1}', "application/json") == {"a": 1}
    assert body_from_bytes(b"404 Not Found\n\nThe resource could not be found.", "text/plain") == {
        "$text": "404 Not Found\n\nThe resource could not be found."
    }


def test_project_segments_paired_from_both_paths_and_dropped_or_added() -> None:
    idmap = IdMap()
    idmap.learn_project("/compute/v2.1/0123abcd/servers", "/compute/v2.1/demo/servers")
    assert idmap.shadow_id(Kind.PROJECT, "0123abcd") == "demo"
    assert without_project("/compute/v2.1/demo/servers/x") == "/compute/v2.1/servers/x"
    assert without_project("/compute/demo/servers/x") == "/compute/servers/x"  # a bookmark link
    assert without_project("/compute/v2.1/servers/x") == "/compute/v2.1/servers/x"
    assert without_project("/compute/v2.1") == "/compute/v2.1"
    assert with_project("/compute/v2.1/servers", "demo") == "/compute/v2.1/demo/servers"
    assert with_project("/compute/v2.1/demo/servers", "demo") == "/compute/v2.1/demo/servers"
    assert with_project("/compute/v2.1/", "demo") == "/compute/v2.1/"
    assert with_project("/image/v2/images", "demo") == "/image/v2/images"
