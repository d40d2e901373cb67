"""Nova's image proxy (/compute/v2.1/images): ConfigMap GET and Nova 2.1 image views."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from extproc.catalog import CatalogStore
from extproc.compute import images
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from tests.shared_fixtures import SHARED_FIXTURES
from tests.unit.catalog_replies import body, configmap, q, run, uuid

FIXTURES = SHARED_FIXTURES
PUBLIC = "http://172.31.10.216"
CIRROS = "6db08272-a856-49da-8909-7c4c73ab0bac"


def ctx(tenant: str | None = None) -> RequestContext:
    return RequestContext(GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", tenant)


def request(query: Mapping[str, list[str]] | None = None) -> ClientRequest:
    return ClientRequest(method="GET", path="/compute/v2.1/images", query=query or {}, headers={})


THREE = configmap(
    {
        f"img{n}": {
            "id": uuid(n),
            "url": f"h/{n}.img",
            "created_at": f"2021-01-0{n}T00:00:00Z",
            "min_disk": n,
            "min_ram": 64 * n,
            "status": "active" if n != 2 else "queued",
        }
        for n in (1, 2, 3)
    }
)


@pytest.mark.parametrize(
    ("handler", "params"),
    [
        (images.list_images, {}),
        (images.list_images_detail, {}),
        (images.show_image, {"image_id": CIRROS}),
    ],
)
def test_reads_are_configmap_gets(handler: Any, params: dict[str, str]) -> None:
    outcome = handler(ctx("tenant1"), request(), params)
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path, outcome.upstream.bearer_token) == (
        "GET",
        "/api/v1/tenants/tenant1/namespaces/default/configmaps/openstack-images",
        None,
    )
    short = handler(ctx(), request(), params)
    assert short.upstream.path == "/api/v1/namespaces/default/configmaps/openstack-images"


def _links(tenant: str = "") -> list[dict[str, str]]:
    project = f"/{tenant}" if tenant else ""
    return [
        {"rel": "self", "href": f"{PUBLIC}/compute/v2.1{project}/images/{CIRROS}"},
        {"rel": "bookmark", "href": f"{PUBLIC}/compute{project}/images/{CIRROS}"},
        {
            "rel": "alternate",
            "type": "application/vnd.openstack.image",
            "href": f"{PUBLIC}/image/images/{CIRROS}",
        },
    ]


def test_index_shape() -> None:
    reply = run(images.list_images(ctx(), request(), {}))
    assert (reply.status, reply.headers["content-type"]) == (200, "application/json")
    assert body(reply) == {"images": [{"id": CIRROS, "name": "cirros-0.5.2-x86_64-disk", "links": _links()}]}


DETAIL = {
    "id": CIRROS,
    "name": "cirros-0.5.2-x86_64-disk",
    "minRam": 0,
    "minDisk": 0,
    "metadata": {
        "hw_rng_model": "virtio",
        "owner_specified.openstack.md5": "",
        "owner_specified.openstack.object": "images/cirros-0.5.2-x86_64-disk",
        "owner_specified.openstack.sha256": "",
    },
    "created": "2021-11-16T18:15:41Z",
    "updated": "2021-11-16T18:15:42Z",
    "status": "ACTIVE",
    "progress": 100,
    "OS-EXT-IMG-SIZE:size": 16300544,
    "links": _links(),
}


def test_detail_and_show_shape() -> None:
    listed = body(run(images.list_images_detail(ctx(), request(), {})))
    assert listed == {"images": [DETAIL]}
    assert list(listed["images"][0]) == list(DETAIL)
    shown = run(images.show_image(ctx(), request(), {"image_id": CIRROS}))
    assert (shown.status, body(shown)) == (200, {"image": DETAIL})


def test_show_with_project_links_and_any_uuid_spelling() -> None:
    shown = run(images.show_image(ctx("tenant1"), request(), {"image_id": CIRROS.upper()}))
    assert body(shown)["image"]["links"] == _links("tenant1")


def test_show_unknown_is_nova_404() -> None:
    reply = run(images.show_image(ctx(), request(), {"image_id": uuid(9)}))
    assert reply.status == 404
    assert body(reply) == {"itemNotFound": {"code": 404, "message": "Image not found."}}
    # A name (not a UUID) can never be an image id: answered without asking Arktos.
    direct = images.show_image(ctx(), request(), {"image_id": "cirros-0.5.2-x86_64-disk"})
    assert isinstance(direct, Reply)
    assert body(direct) == {"itemNotFound": {"code": 404, "message": "Image not found."}}


def test_status_progress_and_disk_config() -> None:
    cm = configmap(
        {
            "q": {"id": uuid(1), "url": "u", "status": "queued", "properties": {"auto_disk_config": "True"}},
            "k": {"id": uuid(2), "url": "u", "status": "killed"},
            "d": {"id": uuid(3), "url": "u", "status": "deactivated"},
        }
    )
    shown = {i["id"]: i for i in body(run(images.list_images_detail(ctx(), request(), {}), cm))["images"]}
    assert (shown[uuid(1)]["status"], shown[uuid(1)]["progress"]) == ("SAVING", 25)
    assert shown[uuid(1)]["OS-DCF:diskConfig"] == "AUTO"
    assert (shown[uuid(2)]["status"], shown[uuid(2)]["progress"]) == ("ERROR", 0)
    assert shown[uuid(3)]["status"] == "UNKNOWN"
    assert "OS-DCF:diskConfig" not in shown[uuid(2)]


def ids(reply: Reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [i["id"] for i in body(reply)["images"]]


def test_newest_first_and_filters() -> None:
    assert ids(run(images.list_images(ctx(), request(), {}), THREE)) == [uuid(3), uuid(2), uuid(1)]
    assert ids(run(images.list_images(ctx(), request(q(name="img2")), {}), THREE)) == [uuid(2)]
    assert ids(run(images.list_images(ctx(), request(q(status="ACTIVE")), {}), THREE)) == [uuid(3), uuid(1)]
    assert ids(run(images.list_images(ctx(), request(q(minDisk="2")), {}), THREE)) == [uuid(3), uuid(2)]
    assert ids(run(images.list_images(ctx(), request(q(minRam="192")), {}), THREE)) == [uuid(3)]
    assert ids(run(images.list_images(ctx(), request(q(foo="bar")), {}), THREE)) == [
        uuid(3),
        uuid(2),
        uuid(1),
    ]


def test_property_filters() -> None:
    cm = configmap(
        {
            "snap": {"id": uuid(1), "url": "u", "properties": {"image_type": "snapshot"}},
            "b": {"id": uuid(2), "url": "u"},
        }
    )
    assert ids(run(images.list_images(ctx(), request(q(type="snapshot")), {}), cm)) == [uuid(1)]
    assert ids(run(images.list_images(ctx(), request({"property-image_type": ["snapshot"]}), {}), cm)) == [
        uuid(1)
    ]


def test_pagination() -> None:
    reply = run(images.list_images(ctx("t1"), request(q(limit="2")), {}), THREE)
    assert ids(reply) == [uuid(3), uuid(2)]
    assert body(reply)["images_links"] == [
        {"rel": "next", "href": f"{PUBLIC}/compute/v2.1/t1/images?limit=2&marker={uuid(2)}"}
    ]
    reply = run(images.list_images_detail(ctx(), request(q(limit="2", marker=uuid(2))), {}), THREE)
    assert ids(reply) == [uuid(1)]
    assert "images_links" not in body(reply)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (q(limit="a"), "Invalid input for query parameters limit. Value: a. 'a' does not match '^[0-9]*$'"),
        (q(minRam="x"), "Invalid minRam filter [x]"),
    ],
)
def test_bad_parameters_are_400(query: dict[str, list[str]], message: str) -> None:
    reply = images.list_images(ctx(), request(query), {})
    assert isinstance(reply, Reply)
    assert body(reply) == {"badRequest": {"code": 400, "message": message}}


def test_unknown_marker_is_400() -> None:
    reply = run(images.list_images(ctx(), request(q(marker=uuid(7))), {}), THREE)
    assert reply.status == 400
    assert body(reply)["badRequest"]["message"] == f"marker [{uuid(7)}] not found"


@pytest.mark.parametrize(("status", "fault"), [(401, "unauthorized"), (403, "forbidden")])
def test_arktos_refusals(status: int, fault: str) -> None:
    refusal = ArktosReply(status, {}, orjson.dumps({"kind": "Status", "code": status, "message": "no"}))
    for handler, params in ((images.list_images, {}), (images.show_image, {"image_id": CIRROS})):
        reply = run(handler(ctx("t1"), request(), params), refusal)
        assert reply.status == status
        assert body(reply)[fault]["code"] == status
