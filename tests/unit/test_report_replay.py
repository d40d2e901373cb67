"""Reading a recorded Nova session (HAR, JSON Lines) and placing its URLs on the gateway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway_stack.report.replay import SessionError, UrlMap, _with_credentials, load_session
from tests.devstack_session import TOKEN_REQUEST, devstack_exchanges, write_har, write_jsonl


@pytest.mark.parametrize("writer", [write_har, write_jsonl])
def test_the_devstack_session_reads_back_in_order(tmp_path: Path, writer: object) -> None:
    path = writer(tmp_path / "session", None)  # type: ignore[operator]
    session = load_session(path)
    recorded = devstack_exchanges()
    assert len(session) == len(recorded) == 14
    assert [(s.request.method, s.url, s.response.status) for s in session] == [
        (e["method"], e["url"], e["status"]) for e in recorded
    ]
    create = session[10]
    assert create.request.path == "/compute/v2.1/servers"
    assert create.request.body == recorded[10]["request_body"]
    assert create.response.body == recorded[10]["response_body"]
    glance_404 = session[3]
    assert glance_404.response.body == {"$text": recorded[3]["response_body_text"]}
    query = session[4]
    assert (query.request.path, query.request.query) == ("/image/v2/images", "name=cirros-0.5.2-x86_64-disk")
    # The recording's token never comes along.
    assert all("x-auth-token" not in s.request.headers for s in session)


def test_a_file_that_is_no_session_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"request": {"method": "GET", "url": "http://x/compute"}, "response": {"status": 200}}\nnot json\n'
    )
    with pytest.raises(SessionError, match="line 2"):
        load_session(bad)


def test_urls_go_to_the_gateways_services_by_the_sessions_catalog() -> None:
    token_body = devstack_exchanges()[0]["response_body"]
    urls = UrlMap()
    urls.learn_catalog("http://172.31.10.216/identity/v3/auth/tokens", token_body)
    base = "http://172.31.10.216"
    assert (
        urls.gateway_path(f"{base}/compute/v2.1/servers", "/compute/v2.1/servers") == "/compute/v2.1/servers"
    )
    # Neutron on its own port (the catalog says network = :9696/).
    assert urls.gateway_path(f"{base}:9696/v2.0/networks", "/v2.0/networks") == "/networking/v2.0/networks"
    assert urls.gateway_path(f"{base}/image/v2/images", "/image/v2/images") == "/image/v2/images"
    # A service the gateway does not serve.
    assert urls.gateway_path(f"{base}/placement/traits", "/placement/traits") is None


def test_without_a_catalog_default_ports_and_devstack_paths_place_urls() -> None:
    urls = UrlMap()
    assert urls.gateway_path("http://nova:8774/v2.1/servers", "/v2.1/servers") == "/compute/v2.1/servers"
    assert urls.gateway_path("http://glance:9292/v2/images", "/v2/images") == "/image/v2/images"
    assert (
        urls.gateway_path("http://h/compute/v2.1/flavors", "/compute/v2.1/flavors") == "/compute/v2.1/flavors"
    )
    assert urls.gateway_path("http://h/volume/v3", "/volume/v3") is None


def test_a_token_request_carries_the_gateways_credentials() -> None:
    body = _with_credentials(TOKEN_REQUEST, "demo-token", "demo")
    assert body["auth"]["identity"]["password"]["user"]["password"] == "demo-token"
    assert body["auth"]["scope"]["project"] == {"name": "demo", "domain": {"name": "Default"}}
    assert TOKEN_REQUEST["auth"]["identity"]["password"]["user"]["password"] == "secret"  # not modified
    by_token = _with_credentials(
        {"auth": {"identity": {"methods": ["token"], "token": {"id": "old"}}}}, "t", None
    )
    assert json.dumps(by_token) == '{"auth": {"identity": {"methods": ["token"], "token": {"id": "t"}}}}'
