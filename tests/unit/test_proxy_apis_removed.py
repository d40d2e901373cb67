"""Nova's proxy APIs (images, os-networks, os-tenant-networks, os-floating-ip-pools) exist up to microversion
2.35 and are a bare 404 from 2.36 (``@wsgi.api_version("2.1", MAX_PROXY_API_SUPPORT_VERSION)``), through the
real route table and ``extproc.app.Gateway``."""

from __future__ import annotations

import orjson
import pytest

from extproc import app, headers
from extproc.catalog import CatalogStore
from extproc.config import GatewayConfig
from extproc.messages import ClientRequest, Forward, Reply
from extproc.routes import COMPUTE_ROUTES, MAX_PROXY_API_VERSION

NETWORK = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
GENERIC_404 = orjson.dumps({"itemNotFound": {"code": 404, "message": "The resource could not be found."}})
PROXY_REQUESTS = [
    ("GET", "/compute/v2.1/demo/images"),
    ("GET", "/compute/v2.1/demo/images/detail"),
    ("GET", "/compute/v2.1/demo/images/cirros"),
    ("DELETE", "/compute/v2.1/demo/images/cirros"),
    ("GET", "/compute/v2.1/demo/os-floating-ip-pools"),
    ("GET", "/compute/v2.1/demo/os-networks"),
    ("GET", f"/compute/v2.1/demo/os-networks/{NETWORK}"),
    ("GET", "/compute/v2.1/demo/os-tenant-networks"),
    ("GET", f"/compute/v2.1/demo/os-tenant-networks/{NETWORK}"),
]


@pytest.fixture(autouse=True)
def served_up_to_latest(monkeypatch: pytest.MonkeyPatch) -> None:
    # NOTE: the versions above 2.35 must be negotiable for the gate to be reachable, whatever the
    # advertised maximum is while this runs.
    if headers.MAX_COMPUTE_VERSION < (2, 36):
        monkeypatch.setattr(headers, "MAX_COMPUTE_VERSION", (2, 104))


def handle(method: str, path: str, version: str) -> Reply | Forward:
    gateway = app.Gateway(GatewayConfig(), CatalogStore())
    request = ClientRequest(
        method, path, {}, {"x-auth-token": "demo-token", "openstack-api-version": f"compute {version}"}
    )
    return gateway.handle(request, "req-1")


@pytest.mark.parametrize(("method", "path"), PROXY_REQUESTS)
def test_proxy_apis_are_served_at_235(method: str, path: str) -> None:
    outcome = handle(method, path, "2.35")
    # Answered by the route's handler: forwarded to Arktos, or a reply that is not the route table's 404.
    if isinstance(outcome, Reply):
        assert outcome.body != GENERIC_404 or outcome.status != 404


@pytest.mark.parametrize(("method", "path"), PROXY_REQUESTS)
def test_proxy_apis_are_nova_404_from_236(method: str, path: str) -> None:
    outcome = handle(method, path, "2.36")
    assert isinstance(outcome, Reply)
    assert outcome.status == 404
    assert orjson.loads(outcome.body) == {
        "itemNotFound": {"code": 404, "message": "The resource could not be found."}
    }


def test_only_the_proxy_apis_end_at_235() -> None:
    prefix = "/compute/v2.1/{project_id}/"
    ended = {
        r.pattern.removeprefix(prefix)
        for r in COMPUTE_ROUTES
        if r.pattern.startswith(prefix) and r.served_until
    }
    assert {r.served_until for r in COMPUTE_ROUTES if r.served_until is not None} == {MAX_PROXY_API_VERSION}
    assert ended == {
        "images",
        "images/detail",
        "images/{image_id}",
        "os-floating-ip-pools",
        "os-networks",
        "os-networks/{network_id}",
        "os-tenant-networks",
        "os-tenant-networks/{network_id}",
    }
