"""Tenancy is Arktos's to decide, and no client input can reach an Arktos path the gateway did not build."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from gateway_stack import Stack
from tests.e2e.conftest import ADMIN_TOKEN, ALT_TOKEN, DEMO_TOKEN, Api
from tests.hostile_ids import HOSTILE_IDS

pytestmark = pytest.mark.e2e


def raw_get(public_url: str, path: str, token: str) -> tuple[int, dict[str, object]]:
    """GET a path byte for byte: http.client does not normalize dot segments or escapes."""
    parts = urlsplit(public_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request("GET", path, headers={"X-Auth-Token": token})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_hostile_server_ids_never_reach_arktos(stack: Stack, hostile: str) -> None:
    before = stack.arktos_requests()
    for path in [
        f"/compute/v2.1/servers/{hostile}",
        f"/compute/v2.1/demo/servers/{hostile}",
        f"/compute/v2.1/{hostile}/servers",
        f"/compute/v2.1/flavors/{hostile}",
        f"/image/v2/images/{hostile}",
    ]:
        status, body = raw_get(stack.public_url, path, DEMO_TOKEN)
        assert status in (400, 404), (path, status, body)
        assert body, path
        fault = next(iter(body.values()))
        assert isinstance(fault, dict) or "code" in body, (path, body)
    reached = stack.arktos_requests()[len(before) :]
    # Flavor and image lookups read the tenant's catalog ConfigMap; nothing else may be called.
    allowed = {
        "/api/v1/namespaces/default/configmaps/openstack-flavors",
        "/api/v1/namespaces/default/configmaps/openstack-images",
    }
    assert {path for _, path in reached} <= allowed, reached


def test_traversal_in_raw_path_never_reaches_arktos(stack: Stack) -> None:
    before = stack.arktos_requests()
    for path in [
        "/compute/v2.1/servers/../../../api/v1/tenants/all/pods",
        "/compute/../api/v1/tenants/all/pods",
        "/identity/../api/v1/tenants",
        "/image/v2/../../api/v1/namespaces/default/pods",
        "/compute/v2.1/servers/x/../../../../apis/apps/v1/replicasets",
    ]:
        status, _ = raw_get(stack.public_url, path, ADMIN_TOKEN)
        assert status in (400, 404), (path, status)
    assert stack.arktos_requests()[len(before) :] == []


def test_cross_tenant_requests_are_refused_by_arktos(demo_api: Api, alt_api: Api) -> None:
    created = demo_api.post(
        "/servers",
        json={
            "server": {"name": "mine", "imageRef": "6db08272-a856-49da-8909-7c4c73ab0bac", "flavorRef": "1"}
        },
    )
    assert created.status_code == 202, created.text
    server_id = created.json()["server"]["id"]
    try:
        # alt, naming demo's project in the URL: Arktos says 403, the gateway says forbidden.
        as_alt = Api(alt_api.public_url, ALT_TOKEN, "demo")
        listed = as_alt.get("/servers")
        assert listed.status_code == 403
        assert listed.json()["forbidden"]["code"] == 403
        assert as_alt.get(f"/servers/{server_id}").status_code == 403
        assert as_alt.delete(f"/servers/{server_id}").status_code == 403
        # alt in its own project simply does not have that server.
        assert alt_api.get(f"/servers/{server_id}").status_code == 404
        assert server_id not in {s["id"] for s in alt_api.get("/servers").json()["servers"]}
        # No token at all: Arktos treats the caller as system:anonymous.
        anonymous = Api(demo_api.public_url, None, "demo").get("/servers")
        assert anonymous.status_code in (401, 403)
    finally:
        assert demo_api.delete(f"/servers/{server_id}").status_code == 204
