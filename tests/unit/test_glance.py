"""Glance v2 facade: versions, images (list filters, pagination, show), schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import orjson
import pytest

from extproc.catalog import CatalogStore
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.image import handlers as glance
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from tests.shared_fixtures import SHARED_FIXTURES
from tests.unit.catalog_replies import body, configmap, q, run, uuid

FIXTURES = SHARED_FIXTURES
PUBLIC = "http://172.31.10.216"
CIRROS = "6db08272-a856-49da-8909-7c4c73ab0bac"


def devstack(name: str) -> dict[str, Any]:
    return orjson.loads((FIXTURES / "devstack" / name).read_bytes())


def ctx() -> RequestContext:
    # Glance URLs name no project: the tenant is always the caller's own (short path).
    return RequestContext(GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", None)


def request(query: Mapping[str, list[str]] | None = None, path: str = "/image/v2/images") -> ClientRequest:
    return ClientRequest(method="GET", path=path, query=query or {}, headers={"x-auth-token": "t"})


def many(count: int, **extra: Any) -> ArktosReply:
    return configmap(
        {
            f"img-{n:02d}": {
                "id": uuid(n),
                "url": f"h/{n}",
                "created_at": f"2021-01-01T00:{n:02d}:00Z",
                **extra,
            }
            for n in range(count)
        }
    )


def ids(reply: Reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [i["id"] for i in body(reply)["images"]]


# ---------------------------------------------------------------------------------------------------------
# Versions and schemas (no Arktos call)


@pytest.mark.parametrize("path", ["/image", "/image/"])
def test_versions_match_devstack_fixture_01(path: str) -> None:
    fixture = devstack("01-get-image.json")
    reply = glance.versions(ctx(), request(path=path), {})
    assert isinstance(reply, Reply)
    assert reply.status == fixture["status"] == 300
    assert reply.headers["content-type"] == "application/json"
    assert body(reply) == fixture["response_body"]


def test_schemas_are_valid_json_schemas_and_accept_what_we_send() -> None:
    image_schema = glance.image_schema(ctx(), request(path="/image/v2/schemas/image"), {})
    images_schema = glance.images_schema(ctx(), request(path="/image/v2/schemas/images"), {})
    assert isinstance(image_schema, Reply) and isinstance(images_schema, Reply)
    assert image_schema.status == images_schema.status == 200
    single, plural = body(image_schema), body(images_schema)
    assert (single["name"], plural["name"]) == ("image", "images")
    assert single["additionalProperties"] == {"type": "string"}
    for key in ("id", "name", "status", "visibility", "size", "checksum", "min_ram", "tags", "self", "file"):
        assert key in single["properties"]
    jsonschema.Draft4Validator.check_schema(single)
    jsonschema.Draft4Validator.check_schema(plural)
    # What DevStack's Glance sent, and what we send, both pass (glanceclient validates with warlock).
    jsonschema.validate(
        devstack("11-get-image-v2-images-6db08272-a856-49da-8909-7c4c73ab0bac.json")["response_body"], single
    )
    jsonschema.validate(body(run(glance.show_image(ctx(), request(), {"image_id": CIRROS}))), single)
    varied = many(
        3, size=None, checksum=None, tags=["x"], properties={"os_distro": "d"}, visibility="private"
    )
    listed = body(run(glance.list_images(ctx(), request(q(limit="2")), {}), varied))
    jsonschema.validate(listed, plural)
    listed["images"][0]["hw_rng_model"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(listed, plural)  # the schema really checks extra properties


# ---------------------------------------------------------------------------------------------------------
# Show


def test_show_reads_the_callers_own_configmap() -> None:
    outcome = glance.show_image(ctx(), request(), {"image_id": CIRROS})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.method == "GET"
    assert outcome.upstream.path == "/api/v1/namespaces/default/configmaps/openstack-images"
    assert outcome.upstream.bearer_token is None


def test_show_matches_devstack_fixture_11() -> None:
    fixture = devstack("11-get-image-v2-images-6db08272-a856-49da-8909-7c4c73ab0bac.json")["response_body"]
    reply = run(glance.show_image(ctx(), request(), {"image_id": CIRROS}))
    assert (reply.status, reply.headers["content-type"]) == (200, "application/json")
    shown = body(reply)
    assert list(shown) == list(fixture)  # same keys, same order
    # NOTE: the built-in image belongs to no project: owner is null instead of DevStack's project id.
    assert shown["owner"] is None
    assert {k: v for k, v in shown.items() if k != "owner"} == {
        k: v for k, v in fixture.items() if k != "owner"
    }


def test_show_by_name_is_404_without_arktos() -> None:
    reply = glance.show_image(ctx(), request(), {"image_id": "cirros-0.5.2-x86_64-disk"})
    assert isinstance(reply, Reply)
    assert reply.status == devstack("02-get-image-v2-images-cirros-0-5-2-x86-64-disk.json")["status"]
    assert body(reply) == {
        "code": "404 Not Found",
        "title": "Not Found",
        "message": "No image found with ID cirros-0.5.2-x86_64-disk",
    }


def test_show_unknown_uuid_is_404() -> None:
    reply = run(glance.show_image(ctx(), request(), {"image_id": uuid(5)}))
    assert reply.status == 404
    assert body(reply)["message"] == f"No image found with ID {uuid(5)}"


@pytest.mark.parametrize(("status", "title"), [(401, "Unauthorized"), (403, "Forbidden")])
def test_arktos_refusals_are_glance_errors(status: int, title: str) -> None:
    refusal = ArktosReply(status, {}, orjson.dumps({"kind": "Status", "code": status, "message": "denied"}))
    for outcome in (
        glance.show_image(ctx(), request(), {"image_id": CIRROS}),
        glance.list_images(ctx(), request(), {}),
    ):
        reply = run(outcome, refusal)
        assert reply.status == status
        assert body(reply)["code"] == f"{status} {title}"
        assert body(reply)["title"] == title


# ---------------------------------------------------------------------------------------------------------
# List


def test_list_by_name_matches_devstack_fixture_03() -> None:
    fixture = devstack("03-get-image-v2-images-name-cirros-0-5-2-x86-64-disk.json")["response_body"]
    reply = run(glance.list_images(ctx(), request(q(name="cirros-0.5.2-x86_64-disk")), {}))
    listed = body(reply)
    assert (listed["first"], listed["schema"]) == (fixture["first"], fixture["schema"])
    assert "next" not in listed
    (image,) = listed["images"]
    (expected,) = fixture["images"]
    assert image == {**expected, "owner": None}


def test_list_without_query() -> None:
    listed = body(run(glance.list_images(ctx(), request(), {})))
    assert listed["first"] == "/v2/images"
    assert [i["id"] for i in listed["images"]] == [CIRROS]
    assert body(run(glance.list_images(ctx(), request(q(name="nope")), {}))) == {
        "images": [],
        "first": "/v2/images?name=nope",
        "schema": "/v2/schemas/images",
    }


def test_id_filters() -> None:
    cm = many(4)
    assert ids(run(glance.list_images(ctx(), request(q(id=f"in:{uuid(1)},{uuid(3)}")), {}), cm)) == [
        uuid(3),
        uuid(1),
    ]
    assert ids(run(glance.list_images(ctx(), request(q(id=uuid(2).upper())), {}), cm)) == [uuid(2)]
    assert ids(run(glance.list_images(ctx(), request(q(name="in:img-00,img-02")), {}), cm)) == [
        uuid(2),
        uuid(0),
    ]


def test_status_visibility_and_hidden_filters() -> None:
    cm = configmap(
        {
            "pub": {"id": uuid(1), "url": "u"},
            "priv": {"id": uuid(2), "url": "u", "visibility": "private", "status": "queued"},
            "comm": {"id": uuid(3), "url": "u", "visibility": "community"},
            "hid": {"id": uuid(4), "url": "u", "os_hidden": True},
        }
    )

    def listed(**params: str) -> list[str]:
        return sorted(ids(run(glance.list_images(ctx(), request(q(**params)), {}), cm)))

    assert listed() == [uuid(1), uuid(2)]  # no community, no hidden by default
    assert listed(status="active") == [uuid(1)]
    assert listed(status="in:active,queued") == [uuid(1), uuid(2)]
    assert listed(visibility="private") == [uuid(2)]
    assert listed(visibility="community") == [uuid(3)]
    assert listed(visibility="all") == [uuid(1), uuid(2), uuid(3)]
    assert listed(os_hidden="true") == [uuid(4)]
    assert listed(member_status="all", status="active") == [uuid(1)]


def test_property_tag_and_size_filters() -> None:
    cm = configmap(
        {
            "a": {
                "id": uuid(1),
                "url": "u",
                "size": 100,
                "tags": ["x", "y"],
                "properties": {"os_distro": "ubuntu"},
            },
            "b": {"id": uuid(2), "url": "u", "size": 300, "tags": ["x"], "protected": True},
            "c": {"id": uuid(3), "url": "u"},
        }
    )

    def listed(query: dict[str, list[str]]) -> list[str]:
        return sorted(ids(run(glance.list_images(ctx(), request(query), {}), cm)))

    assert listed(q(os_distro="ubuntu")) == [uuid(1)]
    assert listed(q(unknown_property="x")) == []  # Glance: any other parameter filters on a property
    assert listed({"tag": ["x"]}) == [uuid(1), uuid(2)]
    assert listed({"tag": ["x", "y"]}) == [uuid(1)]
    assert listed(q(size_min="200")) == [uuid(2)]
    assert listed(q(size_max="200")) == [uuid(1)]
    assert listed(q(protected="true")) == [uuid(2)]
    assert listed(q(disk_format="qcow2", container_format="bare")) == [uuid(1), uuid(2), uuid(3)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (q(limit="many"), "limit param must be an integer"),
        (q(limit="-3"), "limit param must be positive"),
        (q(status="ACTIVE"), "Invalid status value: ACTIVE"),
        (q(visibility="everyone"), "Invalid visibility value: everyone"),
        (q(size_min="big"), "Invalid value for size_min: big"),
        (q(sort_key="colour"), "Invalid sort key: colour."),
        (q(sort_dir="sideways"), "Invalid sort direction: sideways"),
        (q(sort="name:up"), "Invalid sort direction: up"),
        (q(protected="perhaps"), "Invalid value 'perhaps' for protected filter"),
        (
            q(created_at="gte:yesterday"),
            'Bad "created_at" query filter format. Use ISO 8601 DateTime notation.',
        ),
        (q(updated_at="soon:2021-01-01T00:00:00Z"), "Unable to filter on a unknown operator."),
        (q(name="like:cirros"), "Unable to filter by unknown operator 'like'."),
        (q(name='in:a"b'), 'Invalid filter value a"b. There is no comma before opening quotation mark.'),
        (q(name='in:"a'), 'Invalid filter value "a. The quote is not closed.'),
        (q(member_status="maybe"), "Invalid status: maybe"),
        (
            {"changes-since": ["2021-01-01T00:00:00Z"]},
            'The "changes-since" filter is no longer available on v2.',
        ),
    ],
)
def test_bad_list_parameters_are_400_without_calling_arktos(
    query: dict[str, list[str]], message: str
) -> None:
    reply = glance.list_images(ctx(), request(query), {})
    assert isinstance(reply, Reply)
    assert reply.status == 400
    assert body(reply)["code"] == "400 Bad Request"
    assert body(reply)["message"].startswith(message)


def test_default_page_is_25_newest_first_with_next() -> None:
    reply = run(glance.list_images(ctx(), request(), {}), many(30))
    listed = body(reply)
    assert [i["id"] for i in listed["images"]] == [uuid(n) for n in range(29, 4, -1)]
    assert listed["next"] == f"/v2/images?marker={uuid(5)}"
    follow = parse_qs(urlsplit(listed["next"]).query)
    rest = body(run(glance.list_images(ctx(), request(follow), {}), many(30)))
    assert [i["id"] for i in rest["images"]] == [uuid(n) for n in range(4, -1, -1)]
    assert "next" not in rest
    assert rest["first"] == "/v2/images"  # the marker is dropped from "first"


def test_rally_query_limit_and_next_keeps_filters() -> None:
    reply = run(glance.list_images(ctx(), request(q(status="active", limit="2")), {}), many(3))
    listed = body(reply)
    assert [i["id"] for i in listed["images"]] == [uuid(2), uuid(1)]
    assert listed["first"] == "/v2/images?status=active&limit=2"
    assert listed["next"] == f"/v2/images?status=active&limit=2&marker={uuid(1)}"
    huge = run(glance.list_images(ctx(), request(q(limit="5000")), {}), many(3))
    assert len(body(huge)["images"]) == 3


def test_a_full_last_page_still_has_next_like_glance() -> None:
    listed = body(run(glance.list_images(ctx(), request(q(limit="3")), {}), many(3)))
    assert listed["next"] == f"/v2/images?limit=3&marker={uuid(0)}"
    empty = body(run(glance.list_images(ctx(), request(q(limit="3", marker=uuid(0))), {}), many(3)))
    assert empty["images"] == [] and "next" not in empty


def test_unknown_marker_is_400() -> None:
    reply = run(glance.list_images(ctx(), request(q(marker=uuid(99))), {}), many(3))
    assert reply.status == 400
    assert body(reply)["message"] == f"marker [{uuid(99)}] not found"


def test_sorting() -> None:
    cm = many(3)
    assert ids(run(glance.list_images(ctx(), request(q(sort_key="name", sort_dir="asc")), {}), cm)) == [
        uuid(0),
        uuid(1),
        uuid(2),
    ]
    assert ids(run(glance.list_images(ctx(), request(q(sort="created_at:asc")), {}), cm)) == [
        uuid(0),
        uuid(1),
        uuid(2),
    ]
    assert ids(run(glance.list_images(ctx(), request(q(sort="name")), {}), cm)) == [uuid(2), uuid(1), uuid(0)]
    same_time = configmap({n: {"id": uuid(i), "url": "u"} for i, n in enumerate("abc")})
    # Equal created_at: id breaks the tie, in the same (descending) direction.
    assert ids(run(glance.list_images(ctx(), request(), {}), same_time)) == [uuid(2), uuid(1), uuid(0)]


def test_time_filters_compare_as_glance_does() -> None:
    cm = many(4)  # created_at 2021-01-01T00:00:00Z ... 00:03:00Z

    def listed(query: dict[str, list[str]]) -> list[str]:
        return sorted(ids(run(glance.list_images(ctx(), request(query), {}), cm)))

    assert listed(q(created_at="gte:2049-01-01T00:00:00Z")) == []
    assert listed(q(created_at="gte:2021-01-01T00:02:00Z")) == [uuid(2), uuid(3)]
    assert listed(q(created_at="gt:2021-01-01T00:02:00Z")) == [uuid(3)]
    assert listed(q(created_at="lt:2021-01-01T00:01:00Z")) == [uuid(0)]
    assert listed(q(created_at="lte:2021-01-01T00:01:00Z")) == [uuid(0), uuid(1)]
    assert listed(q(created_at="neq:2021-01-01T00:01:00Z")) == [uuid(0), uuid(2), uuid(3)]
    # No operator: equality, even though an ISO time has colons; a zone offset is honoured.
    assert listed(q(created_at="2021-01-01T02:01:00+02:00")) == [uuid(1)]
    assert listed(q(created_at="eq:2021-01-01T00:03:00")) == [uuid(3)]  # no zone: UTC
    assert listed(q(updated_at="gte:2049-01-01T00:00:00Z")) == []


def test_in_and_eq_operators_on_names() -> None:
    cm = configmap(
        {
            "a": {"id": uuid(1), "url": "u", "name": "plain"},
            "b": {"id": uuid(2), "url": "u", "name": "with,comma"},
            "c": {"id": uuid(3), "url": "u", "name": "eq:literal"},
        }
    )

    def listed(query: dict[str, list[str]]) -> list[str]:
        return sorted(ids(run(glance.list_images(ctx(), request(query), {}), cm)))

    assert listed(q(name='in:plain,"with,comma"')) == [uuid(1), uuid(2)]
    assert listed(q(name="eq:plain")) == [uuid(1)]
    assert listed(q(name="eq:eq:literal")) == [uuid(3)]
    assert listed(q(member_status="all")) == [uuid(1), uuid(2), uuid(3)]
