"""extproc.app.Gateway: routing, microversions, reply headers, and no exception ever escaping."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
import pytest

from extproc import app, headers
from extproc.catalog import CatalogStore
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.errors import Service
from extproc.messages import ArktosReply, ArktosRequest, ClientRequest, Forward, Outcome, Reply
from extproc.routes import Match, Route

REQUEST_ID = "req-5a4d3c2b-1111-2222-3333-444455556666"
COMPUTE_HEADERS = {
    "x-openstack-request-id": REQUEST_ID,
    "x-compute-request-id": REQUEST_ID,
    "openstack-api-version": "compute 2.1",
    "x-openstack-nova-api-version": "2.1",
    "vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
}


def gateway(**config: object) -> app.Gateway:
    return app.Gateway(GatewayConfig(**config), CatalogStore())  # type: ignore[arg-type]


def request(
    method: str, path: str, hdrs: Mapping[str, str] | None = None, body: bytes = b"", **query: str
) -> ClientRequest:
    return ClientRequest(
        method=method,
        path=path,
        query={k: [v] for k, v in query.items()},
        headers={"x-auth-token": "demo-token", **(hdrs or {})},
        body=body,
    )


def as_reply(outcome: Outcome) -> Reply:
    assert isinstance(outcome, Reply), outcome
    return outcome


def as_forward(outcome: Outcome) -> Forward:
    assert isinstance(outcome, Forward), outcome
    return outcome


def test_compute_reply_carries_request_id_and_microversion_headers() -> None:
    reply = as_reply(gateway().handle(request("GET", "/compute/v2.1"), REQUEST_ID))
    assert reply.status == 200
    for key, value in COMPUTE_HEADERS.items():
        assert reply.headers[key] == value
    assert reply.headers["content-type"] == "application/json"


def test_translated_compute_reply_is_decorated_too() -> None:
    forward = as_forward(gateway().handle(request("DELETE", "/compute/v2.1/demo/servers/abc"), REQUEST_ID))
    assert forward.upstream == ArktosRequest("DELETE", "/api/v1/tenants/demo/namespaces/default/pods/abc")
    reply = forward.translate(ArktosReply(200, {}, b"{}"))
    assert reply.status == 204
    for key, value in COMPUTE_HEADERS.items():
        assert reply.headers[key] == value


def test_identity_reply_gets_only_the_request_id() -> None:
    reply = as_reply(gateway().handle(request("GET", "/identity/nope"), REQUEST_ID))
    assert reply.status == 404
    assert reply.headers["x-openstack-request-id"] == REQUEST_ID
    assert "x-compute-request-id" not in reply.headers
    assert "openstack-api-version" not in reply.headers


def test_unknown_route_never_forwards() -> None:
    outcome = gateway().handle(request("GET", "/api/v1/namespaces/default/pods"), REQUEST_ID)
    reply = as_reply(outcome)
    assert reply.status == 404
    assert orjson.loads(reply.body)["itemNotFound"]["code"] == 404


def test_project_segment_becomes_the_tenant() -> None:
    forward = as_forward(gateway().handle(request("GET", "/compute/v2.1/tenant1/servers"), REQUEST_ID))
    assert forward.upstream.path == "/api/v1/tenants/tenant1/namespaces/default/pods"
    short = as_forward(gateway().handle(request("GET", "/compute/v2.1/servers"), REQUEST_ID))
    assert short.upstream.path == "/api/v1/namespaces/default/pods"


@pytest.mark.parametrize(
    "hdrs",
    [
        {},
        {"openstack-api-version": "compute 2.1"},
        {"openstack-api-version": "compute latest"},
        {"openstack-api-version": "compute LATEST"},
        {"x-openstack-nova-api-version": "2.1"},
        {"x-openstack-nova-api-version": "latest"},
        {"openstack-api-version": "image 2.5"},  # another service's version is not ours to judge
        {"openstack-api-version": "image 2.5, compute 2.1"},
        # The standard header wins over the legacy one.
        {"openstack-api-version": "compute 2.1", "x-openstack-nova-api-version": "2.50"},
    ],
)
def test_acceptable_microversions(hdrs: dict[str, str]) -> None:
    reply = as_reply(gateway().handle(request("GET", "/compute/v2.1", hdrs), REQUEST_ID))
    assert reply.status == 200


@pytest.mark.parametrize(
    ("hdrs", "version"),
    [
        ({"openstack-api-version": "compute 2.105"}, "2.105"),
        ({"openstack-api-version": "compute 2.0"}, "2.0"),
        ({"openstack-api-version": "compute 3.1"}, "3.1"),
        ({"openstack-api-version": "compute 1.104"}, "1.104"),
        ({"x-openstack-nova-api-version": "2.999"}, "2.999"),
        ({"openstack-api-version": "compute 2.200", "x-openstack-nova-api-version": "2.1"}, "2.200"),
    ],
)
def test_unsupported_microversion_is_406_compute_fault(hdrs: dict[str, str], version: str) -> None:
    reply = as_reply(gateway().handle(request("GET", "/compute/v2.1/servers", hdrs), REQUEST_ID))
    assert reply.status == 406
    assert orjson.loads(reply.body) == {
        "computeFault": {
            "code": 406,
            "message": f"Version {version} is not supported by the API. Minimum is 2.1 and maximum is 2.104.",
        }
    }
    assert reply.headers["x-openstack-request-id"] == REQUEST_ID


@pytest.mark.parametrize("value", ["2", "2.01", "abc", "2.1.1", "v2.1", "2.", ".1"])
def test_malformed_microversion_is_400(value: str) -> None:
    reply = as_reply(
        gateway().handle(request("GET", "/compute/v2.1", {"x-openstack-nova-api-version": value}), REQUEST_ID)
    )
    assert reply.status == 400
    message = orjson.loads(reply.body)["badRequest"]["message"]
    assert message == f"API Version String {value} is of invalid format. Must be of format MajorNum.MinorNum."


def test_microversion_headers_do_not_matter_outside_compute() -> None:
    hdrs = {"openstack-api-version": "compute 9.9"}
    reply = as_reply(gateway().handle(request("GET", "/identity/nope", hdrs), REQUEST_ID))
    assert reply.status == 404


def test_negotiate_compute_version_values() -> None:
    assert headers.negotiate_compute_version({}) == (2, 1)
    # Current Nova's maximum (nova/api/openstack/api_version_request.py _MAX_API_VERSION).
    assert headers.negotiate_compute_version({"openstack-api-version": "compute latest"}) == (2, 104)
    assert headers.negotiate_compute_version({"openstack-api-version": "compute 2.10"}) == (2, 10)
    assert headers.negotiate_compute_version({"x-openstack-nova-api-version": "2.104"}) == (2, 104)
    assert headers.requested_compute_version({"openstack-api-version": "volume 3.0, compute  2.1 "}) == "2.1"
    assert headers.requested_compute_version({"x-openstack-nova-api-version": "  "}) is None
    refused = headers.negotiate_compute_version({"openstack-api-version": "compute 2.105"})
    assert refused == headers.VersionError(
        406, "Version 2.105 is not supported by the API. Minimum is 2.1 and maximum is 2.104."
    )


@pytest.mark.parametrize(
    ("hdrs", "served"),
    [
        ({}, "2.1"),
        ({"openstack-api-version": "compute 2.47"}, "2.47"),
        ({"openstack-api-version": "compute latest"}, "2.104"),
        ({"x-openstack-nova-api-version": "2.9"}, "2.9"),
    ],
)
def test_reply_headers_name_the_served_microversion(hdrs: dict[str, str], served: str) -> None:
    reply = as_reply(gateway().handle(request("GET", "/compute/v2.1", hdrs), REQUEST_ID))
    assert reply.headers["openstack-api-version"] == f"compute {served}"
    assert reply.headers["x-openstack-nova-api-version"] == served
    forward = as_forward(
        gateway().handle(request("DELETE", "/compute/v2.1/demo/servers/abc", hdrs), REQUEST_ID)
    )
    translated = forward.translate(ArktosReply(200, {}, b"{}"))
    assert isinstance(translated, Reply)
    assert translated.headers["openstack-api-version"] == f"compute {served}"


def test_request_ids_look_like_nova_ones() -> None:
    first, second = headers.new_request_id(), headers.new_request_id()
    assert first != second
    assert first.startswith("req-") and len(first) == 40


def test_body_over_limit_is_413_over_limit() -> None:
    body = b'{"server": {}}' + b" " * 100
    reply = as_reply(
        gateway(max_request_body_bytes=50).handle(
            request("POST", "/compute/v2.1/servers", body=body), REQUEST_ID
        )
    )
    assert reply.status == 413
    assert orjson.loads(reply.body)["overLimit"]["code"] == 413


def _broken(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    raise KeyError("a bug")


def _returns_garbage(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return "not an outcome"  # type: ignore[return-value]


def _broken_translate(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    def translate(reply: ArktosReply) -> Reply:
        raise ValueError("a translation bug")

    return Forward(ArktosRequest("GET", "/api/v1/namespaces/default/pods"), translate)


def _with_route(monkeypatch: pytest.MonkeyPatch, handler: object, service: Service = Service.COMPUTE) -> None:
    route = Route("GET", "/compute/v2.1/servers", handler)  # type: ignore[arg-type]
    monkeypatch.setattr(app, "resolve", lambda method, path: Match(route, service, {}))


@pytest.mark.parametrize("handler", [_broken, _returns_garbage])
def test_handler_bug_becomes_a_nova_500(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, handler: object
) -> None:
    _with_route(monkeypatch, handler)
    with caplog.at_level(logging.ERROR, logger="extproc.app"):
        reply = as_reply(gateway().handle(request("GET", "/compute/v2.1/servers"), REQUEST_ID))
    assert reply.status == 500
    body = orjson.loads(reply.body)
    assert list(body) == ["computeFault"]
    assert body["computeFault"]["code"] == 500
    assert REQUEST_ID in body["computeFault"]["message"]
    assert "Traceback" not in reply.body.decode()
    assert reply.headers["x-compute-request-id"] == REQUEST_ID
    assert any(r.exc_info for r in caplog.records), "the bug is logged with its traceback"


def test_translate_bug_becomes_a_nova_500(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _with_route(monkeypatch, _broken_translate)
    forward = as_forward(gateway().handle(request("GET", "/compute/v2.1/servers"), REQUEST_ID))
    with caplog.at_level(logging.ERROR, logger="extproc.app"):
        reply = forward.translate(ArktosReply(200, {}, b"{}"))
    assert reply.status == 500
    assert orjson.loads(reply.body)["computeFault"]["code"] == 500
    assert reply.headers["x-openstack-request-id"] == REQUEST_ID
    assert any(r.exc_info for r in caplog.records)


def test_identity_bug_is_a_keystone_shaped_500(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_route(monkeypatch, _broken, Service.IDENTITY)
    reply = as_reply(gateway().handle(request("GET", "/identity/v3"), REQUEST_ID))
    assert reply.status == 500
    assert orjson.loads(reply.body)["error"]["code"] == 500


def test_handler_headers_are_not_duplicated_in_another_case() -> None:
    reply = Reply(200, b"", {"X-OpenStack-Request-Id": "stale", "content-type": "application/json"})
    decorated = app.Gateway._decorate(Service.IMAGE, reply, REQUEST_ID)
    assert decorated.headers == {"content-type": "application/json", "x-openstack-request-id": REQUEST_ID}


LEGACY_V2_DOCUMENT = {
    "version": {
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [
            {"rel": "self", "href": "http://gw.example/compute/v2/"},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}
        ],
    }
}


@pytest.mark.parametrize("path", ["/compute/v2", "/compute/v2/", "/compute/v2/demo", "/compute/v2/demo/"])
def test_legacy_v2_endpoint_the_versions_document_advertises_answers(path: str) -> None:
    listed = orjson.loads(
        as_reply(gateway(public_url="http://gw.example").handle(request("GET", "/compute/"), REQUEST_ID)).body
    )
    (v20,) = [v for v in listed["versions"] if v["id"] == "v2.0"]
    assert v20["links"][0]["href"] == "http://gw.example/compute/v2/"
    reply = as_reply(gateway(public_url="http://gw.example").handle(request("GET", path), REQUEST_ID))
    assert reply.status == 200
    assert orjson.loads(reply.body) == LEGACY_V2_DOCUMENT


def test_legacy_v2_is_the_api_without_microversions() -> None:
    # Nova's LegacyV2CompatibleWrapper: microversion headers in the request are ignored, none answered.
    hdrs = {"openstack-api-version": "compute 2.105", "x-openstack-nova-api-version": "9.9"}
    forward = as_forward(gateway().handle(request("GET", "/compute/v2/demo/servers", hdrs), REQUEST_ID))
    assert forward.upstream.path == "/api/v1/tenants/demo/namespaces/default/pods"
    reply = forward.translate(ArktosReply(200, {}, b'{"items": []}'))
    assert reply.status == 200
    assert orjson.loads(reply.body) == {"servers": []}
    assert reply.headers["x-openstack-request-id"] == REQUEST_ID
    assert reply.headers["x-compute-request-id"] == REQUEST_ID
    for absent in ("openstack-api-version", "x-openstack-nova-api-version", "vary"):
        assert absent not in reply.headers
    short = as_forward(gateway().handle(request("GET", "/compute/v2/servers"), REQUEST_ID))
    assert short.upstream.path == "/api/v1/namespaces/default/pods"
    missing = as_reply(gateway().handle(request("GET", "/compute/v2/demo/servers/a b"), REQUEST_ID))
    assert missing.status == 404
    assert "openstack-api-version" not in missing.headers
    # v2.1 still negotiates.
    refused = as_reply(gateway().handle(request("GET", "/compute/v2.1/demo/servers", hdrs), REQUEST_ID))
    assert refused.status == 406
