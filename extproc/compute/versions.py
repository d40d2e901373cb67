"""Compute documents the processor answers alone, without calling Arktos.

- Version discovery (``nova/api/openstack/compute/views/versions.py``): ``GET /compute/`` lists v2.0
  (SUPPORTED, the legacy API) and v2.1 (CURRENT); ``GET /compute/v2.1`` shows v2.1 alone. min = max = 2.1.
- Small resources real clients touch around server creation, in Nova's 2.1 shapes:
  ``/os-availability-zone`` and ``/os-floating-ip-pools``. Arktos has no zones or floating IPs the
  gateway could read, so these say "one zone named nova" and "no pools" rather than invent data.
  (Keypairs are ``extproc.compute.keypairs``, ``/limits`` and quotas ``extproc.compute.quota_sets``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from extproc.compute.query_schema import ALL_QUERIES_STRICT_FROM, QuerySchema
from extproc.context import RequestContext
from extproc.headers import MAX_VERSION_STRING, MIN_VERSION_STRING
from extproc.messages import ClientRequest, Reply, json_reply

AVAILABILITY_ZONE = "nova"
V21_UPDATED = "2013-07-23T11:33:21Z"
V20_UPDATED = "2011-01-21T11:33:21Z"


def _compute_url(ctx: RequestContext) -> str:
    return f"{ctx.config.public_url}/compute"


def v21_entry(ctx: RequestContext) -> dict[str, Any]:
    """The v2.1 version as ``GET /compute/v2.1`` shows it (with describedby and media-types)."""
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_VERSION_STRING,
        "min_version": MIN_VERSION_STRING,
        "updated": V21_UPDATED,
        "links": [
            {"rel": "self", "href": f"{_compute_url(ctx)}/v2.1/"},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
        ],
    }


def versions_document(ctx: RequestContext) -> dict[str, Any]:
    # NOTE: Nova's version list (build_versions) carries only a self link per version; describedby and
    # media-types appear on the single-version document.
    return {
        "versions": [
            {
                "id": "v2.0",
                "status": "SUPPORTED",
                "version": "",
                "min_version": "",
                "updated": V20_UPDATED,
                "links": [{"rel": "self", "href": f"{_compute_url(ctx)}/v2/"}],
            },
            {
                "id": "v2.1",
                "status": "CURRENT",
                "version": MAX_VERSION_STRING,
                "min_version": MIN_VERSION_STRING,
                "updated": V21_UPDATED,
                "links": [{"rel": "self", "href": f"{_compute_url(ctx)}/v2.1/"}],
            },
        ]
    }


def v20_entry(ctx: RequestContext) -> dict[str, Any]:
    """The legacy v2.0 version as ``GET /compute/v2/`` shows it (Nova's VersionsV2 for a legacy request)."""
    return {
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": V20_UPDATED,
        "links": [
            {"rel": "self", "href": f"{_compute_url(ctx)}/v2/"},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}
        ],
    }


def versions_index(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    """``GET /compute`` and ``/compute/``."""
    return json_reply(200, versions_document(ctx))


def version_show(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    """``GET /compute/v2.1`` (with or without the project and trailing slash)."""
    return json_reply(200, {"version": v21_entry(ctx)})


def legacy_version_show(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    """``GET /compute/v2`` (with or without the project and trailing slash): the legacy API's document."""
    return json_reply(200, {"version": v20_entry(ctx)})


# Nova's index_query takes no parameter; from 2.102 any is a 400 (index_query_v2102).
_ZONES_QUERY = QuerySchema({}, strict_from=ALL_QUERIES_STRICT_FROM)


def availability_zones(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    """``GET /os-availability-zone``: the one zone every server is in (no microversion changes its shape)."""
    refused = _ZONES_QUERY.refusal(req, ctx.compute_version)
    if refused is not None:
        return refused
    return json_reply(
        200,
        {
            "availabilityZoneInfo": [
                {"zoneName": AVAILABILITY_ZONE, "zoneState": {"available": True}, "hosts": None}
            ]
        },
    )


def floating_ip_pools(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    """``GET /os-floating-ip-pools`` (Nova's network proxy API, up to microversion 2.35): Arktos has no
    floating IPs, so no pools, as a Nova without floating IP networks answers."""
    return json_reply(200, {"floating_ip_pools": []})
