"""``GET /os-availability-zone``: one zone, the same shape at every microversion; Nova's strict query from
2.102 (``schemas/availability_zone.py`` index_query_v2102)."""

from __future__ import annotations

import orjson

from extproc.catalog import CatalogStore
from extproc.compute import versions
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ClientRequest

ZONES = {"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]}


def zones(version: tuple[int, int], **query: str) -> tuple[int, object]:
    ctx = RequestContext(GatewayConfig(), CatalogStore(), "req-1", "demo", compute_version=version)
    req = ClientRequest("GET", "/", {k: [v] for k, v in query.items()}, {"x-auth-token": "t"})
    reply = versions.availability_zones(ctx, req, {})
    return reply.status, orjson.loads(reply.body)


def test_one_zone_at_every_version_and_unknown_parameters_refused_from_2102() -> None:
    assert zones((2, 1)) == (200, ZONES)
    assert zones((2, 101), bogus="1") == (200, ZONES)
    assert zones((2, 102)) == (200, ZONES)
    assert zones((2, 102), bogus="1") == (
        400,
        {
            "badRequest": {
                "code": 400,
                "message": "Additional properties are not allowed ('bogus' was unexpected)",
            }
        },
    )
