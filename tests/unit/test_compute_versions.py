"""extproc.compute.versions: version discovery and the small static compute documents."""

from __future__ import annotations

from typing import Any

import orjson

from extproc.catalog import CatalogStore
from extproc.compute import versions
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ClientRequest, Reply

PUBLIC = "http://gw.example:8080"


def call(handler: Any, tenant: str | None = None) -> dict[str, Any]:
    ctx = RequestContext(GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", tenant)
    reply = handler(ctx, ClientRequest("GET", "/compute", {}, {}), {})
    assert isinstance(reply, Reply)
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    loaded: dict[str, Any] = orjson.loads(reply.body)
    return loaded


def test_version_list_is_novas() -> None:
    assert call(versions.versions_index) == {
        "versions": [
            {
                "id": "v2.0",
                "status": "SUPPORTED",
                "version": "",
                "min_version": "",
                "updated": "2011-01-21T11:33:21Z",
                "links": [{"rel": "self", "href": f"{PUBLIC}/compute/v2/"}],
            },
            {
                "id": "v2.1",
                "status": "CURRENT",
                "version": "2.104",
                "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": f"{PUBLIC}/compute/v2.1/"}],
            },
        ]
    }


def test_v21_document() -> None:
    for tenant in (None, "demo"):
        assert call(versions.version_show, tenant) == {
            "version": {
                "id": "v2.1",
                "status": "CURRENT",
                "version": "2.104",
                "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [
                    {"rel": "self", "href": f"{PUBLIC}/compute/v2.1/"},
                    {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
                ],
                "media-types": [
                    {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
                ],
            }
        }


def test_availability_zone() -> None:
    assert call(versions.availability_zones) == {
        "availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]
    }


def test_no_floating_ip_pools() -> None:
    assert call(versions.floating_ip_pools) == {"floating_ip_pools": []}
