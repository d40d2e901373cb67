"""HEAD as each service answers it, Nova's 415 for other media types, short echoes, no project "all"."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from extproc import arktos_paths
from extproc.app import Gateway
from extproc.catalog import CatalogStore
from extproc.config import GatewayConfig
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply

GATEWAY = Gateway(GatewayConfig(), CatalogStore())


def handle(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"", **query: str
) -> Reply | Forward:
    request = ClientRequest(
        method,
        path,
        {k: [v] for k, v in query.items()},
        {"x-auth-token": "demo-token", **(headers or {})},
        body,
    )
    return GATEWAY.handle(request, "req-1")


def reply(method: str, path: str, **kwargs: Any) -> Reply:
    outcome = handle(method, path, **kwargs)
    assert isinstance(outcome, Reply), outcome
    return outcome


@pytest.mark.parametrize(
    "path",
    [
        "/compute/",
        "/compute/v2.1",
        "/compute/v2.1/demo/servers",
        "/compute/v2.1/flavors/1",
        "/compute/v2.1/nope",
    ],
)
def test_head_on_compute_is_novas_404(path: str) -> None:
    # Nova's routes carry a method condition per route (routes.Mapper): HEAD matches none, so 404.
    head = reply("HEAD", path)
    assert (head.status, head.body) == (404, b"")


@pytest.mark.parametrize("path", ["/identity", "/identity/v3"])
def test_head_on_identity_is_the_get_without_a_body(path: str) -> None:
    # Keystone is a Flask app: HEAD is answered by every GET rule, without the body.
    get, head = reply("GET", path), reply("HEAD", path)
    assert head.status == get.status and get.body
    assert head.body == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_head_on_glance_is_405_as_glance_rejects_other_methods() -> None:
    head = reply("HEAD", "/image/v2/images")
    assert (head.status, head.body) == (405, b"")
    assert "GET" in head.headers["allow"]


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("application/json", True),
        ("application/json; charset=UTF-8", True),
        ("Application/JSON", True),
        ("application/vnd.openstack.compute+json", True),
        ("text/plain", True),  # webob: no media type declared
        ("", True),
        ("application/x-www-form-urlencoded", False),
        ("text/html; charset=utf-8", False),
        ("application/xml", False),
    ],
)
def test_compute_media_types_as_nova(content_type: str, accepted: bool) -> None:
    body = b'{"server": {"name": "x"}}'
    outcome = handle("PUT", "/compute/v2.1/demo/servers/abc", {"content-type": content_type}, body)
    if accepted:
        assert isinstance(outcome, Forward)
    else:
        assert isinstance(outcome, Reply)
        assert orjson.loads(outcome.body) == {
            "badMediaType": {"code": 415, "message": "Unsupported Content-Type"}
        }


def test_a_get_declaring_another_media_type_is_415_too() -> None:
    # Nova checks the declared type of every request (wsgi.Resource.get_body), body or not.
    assert reply("GET", "/compute/v2.1/demo/flavors", headers={"content-type": "text/html"}).status == 415


def test_keystone_refuses_a_body_not_declared_json() -> None:
    refused = reply("POST", "/identity/v3/auth/tokens", headers={"content-type": "text/xml"}, body=b"{}")
    assert refused.status == 400
    assert orjson.loads(refused.body)["error"]["message"].startswith(
        "Expecting to find application/json in Content-Type header."
    )


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/compute/v2.1/servers/" + "x" * 5000, {}),
        ("/compute/v2.1/flavors/" + "x" * 5000, {}),
        ("/compute/v2.1/demo/servers", {"all_tenants": "y" * 5000}),
        ("/compute/v2.1/demo/servers", {"changes-since": "z" * 5000}),
        ("/compute/v2.1/demo/flavors", {"minRam": "w" * 5000}),
        ("/image/v2/images/" + "v" * 5000, {}),
    ],
)
def test_error_messages_echo_at_most_255_characters(path: str, query: dict[str, str]) -> None:
    refused = reply("GET", path, **query)
    assert 400 <= refused.status < 500
    assert len(refused.body) < 700, refused.body[:100]


def test_marker_echo_is_short_after_arktos_answers() -> None:
    outcome = handle("GET", "/compute/v2.1/demo/servers", marker="m" * 5000)
    assert isinstance(outcome, Forward)
    translated = outcome.translate(ArktosReply(200, {}, b'{"kind": "PodList", "items": []}'))
    assert isinstance(translated, Reply)
    assert translated.status == 400 and len(translated.body) < 700


def test_project_all_is_no_project() -> None:
    for path in [
        "/compute/v2.1/all/servers",
        "/compute/v2.1/all/servers/detail",
        "/compute/v2.1/all/flavors",
    ]:
        refused = reply("GET", path, all_tenants="1")
        assert refused.status == 404, path
    # Defense in depth: no tenant path can be built for "all" (the all-tenants paths have their builders).
    with pytest.raises(ValueError):
        arktos_paths.pods("all", "default")
    assert arktos_paths.all_tenants_pods() == "/api/v1/tenants/all/pods"
