"""Keystone v3 facade: versions, auth request parsing, token issue/validate/revoke and the token body."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from extproc.catalog import CatalogStore
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.identity import handlers as identity
from extproc.identity import views
from extproc.identity.auth_request import AuthBadRequest, AuthRefused, AuthRequest, parse_auth_request
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from extproc.users import user_id_for_token
from tests.shared_fixtures import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES
PUBLIC = "http://172.31.10.216"
TOKEN = "t1-token"
UNAUTHORIZED = {
    "error": {
        "code": 401,
        "message": "The request you have made requires authentication.",
        "title": "Unauthorized",
    }
}


def devstack(name: str) -> dict[str, Any]:
    return orjson.loads((FIXTURES / "devstack" / name).read_bytes())


def arktos(name: str) -> dict[str, Any]:
    return orjson.loads((FIXTURES / "arktos" / name).read_bytes())


def ctx(config: GatewayConfig | None = None) -> RequestContext:
    return RequestContext(config or GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", None)


def client(
    method: str = "POST",
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, list[str]] | None = None,
) -> ClientRequest:
    raw = body if isinstance(body, bytes) else orjson.dumps(body) if body is not None else b""
    return ClientRequest(
        method=method, path="/identity/v3/auth/tokens", query=query or {}, headers=headers or {}, body=raw
    )


def password_auth(scope: Any = None, user: dict[str, Any] | None = None) -> dict[str, Any]:
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": user or {"name": "admin", "domain": {"name": "Default"}, "password": TOKEN},
            },
        }
    }
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def token_auth(token: str = TOKEN, scope: Any = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["token"], "token": {"id": token}}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def project(name: str = "tenant1") -> dict[str, Any]:
    return {"project": {"name": name, "domain": {"id": "default"}}}


def body(reply: Reply) -> Any:
    return orjson.loads(reply.body)


def namespace_reply() -> ArktosReply:
    recorded = arktos("02-ns-short-as-tenant.json")
    return ArktosReply(recorded["status"], {}, orjson.dumps(recorded["body"]))


def status(code: int) -> ArktosReply:
    return ArktosReply(code, {}, orjson.dumps({"kind": "Status", "code": code, "message": "m"}))


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "now", lambda: datetime(2021, 11, 16, 22, 51, 55, tzinfo=UTC))
    monkeypatch.setattr(views, "audit_id", lambda: "f2myGIZIQKeLKLNimwJVng")


# ---------------------------------------------------------------------------------------------------------
# Versions


def test_versions_match_devstack_fixture_00() -> None:
    fixture = devstack("00-get-identity.json")
    reply = identity.versions(ctx(), client("GET"), {})
    assert isinstance(reply, Reply)
    assert reply.status == fixture["status"] == 300
    assert reply.headers["location"] == fixture["response_headers"]["Location"]
    assert reply.headers["content-type"] == "application/json"
    assert body(reply) == fixture["response_body"]


def test_v3_version_document() -> None:
    reply = identity.v3_version(ctx(), client("GET"), {})
    assert isinstance(reply, Reply)
    assert reply.status == 200
    entry = devstack("00-get-identity.json")["response_body"]["versions"]["values"][0]
    assert body(reply) == {"version": entry}


# ---------------------------------------------------------------------------------------------------------
# Parsing


def test_parse_password_scoped_by_project_name() -> None:
    parsed = parse_auth_request(orjson.dumps(password_auth(project())))
    assert parsed == AuthRequest(methods=("password",), token=TOKEN, user_name="admin", project="tenant1")


def test_parse_password_by_user_id_and_project_id() -> None:
    parsed = parse_auth_request(
        orjson.dumps(password_auth({"project": {"id": "tenant2"}}, user={"id": "u1", "password": TOKEN}))
    )
    assert (parsed.user_name, parsed.project, parsed.token) == ("arktos-user", "tenant2", TOKEN)


def test_parse_token_method_unscoped_and_default_scope() -> None:
    parsed = parse_auth_request(orjson.dumps(token_auth(scope="unscoped")))
    assert parsed == AuthRequest(("token",), TOKEN, "arktos-user", None, unscoped=True)
    parsed = parse_auth_request(orjson.dumps(token_auth()))
    assert (parsed.project, parsed.unscoped) == (None, False)


def test_parse_both_methods_need_the_same_secret() -> None:
    both = password_auth()
    both["auth"]["identity"]["methods"] = ["password", "token"]
    both["auth"]["identity"]["token"] = {"id": TOKEN}
    assert parse_auth_request(orjson.dumps(both)).methods == ("password", "token")
    both["auth"]["identity"]["token"] = {"id": "other"}
    with pytest.raises(AuthRefused):
        parse_auth_request(orjson.dumps(both))


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[]",
        {},
        {"auth": "x"},
        {"auth": {}},
        {"auth": {"identity": {}}},
        {"auth": {"identity": {"methods": []}}},
        {"auth": {"identity": {"methods": "password"}}},
        {"auth": {"identity": {"methods": ["password"]}}},
        {"auth": {"identity": {"methods": ["token"], "token": {}}}},
        {"auth": {"identity": {"methods": ["token"], "token": {"id": 5}}}},
        password_auth(user={"domain": {"id": "default"}, "password": TOKEN}),
        password_auth(user={"name": "admin", "domain": {"id": "default"}}),
        password_auth(user={"name": "", "password": TOKEN}),
        password_auth(user={"name": "a", "domain": "default", "password": TOKEN}),
        password_auth(scope={}),
        password_auth(scope=["project"]),
        password_auth(scope={"project": "tenant1"}),
        password_auth(scope={"project": {"domain": {"id": "default"}}}),
    ],
)
def test_bad_bodies_are_keystone_400(document: Any) -> None:
    raw = document if isinstance(document, bytes) else orjson.dumps(document)
    with pytest.raises(AuthBadRequest):
        parse_auth_request(raw)
    reply = identity.issue_token(ctx(), client(body=raw), {})
    assert isinstance(reply, Reply)
    assert reply.status == 400
    error = body(reply)["error"]
    assert (error["code"], error["title"]) == (400, "Bad Request")
    assert error["message"]


@pytest.mark.parametrize(
    "document",
    [
        {"auth": {"identity": {"methods": ["totp"], "totp": {}}}},
        {"auth": {"identity": {"methods": ["application_credential"]}}},
        token_auth(token=""),
        token_auth(token="has space"),
        token_auth(token="line\nbreak"),
        password_auth(user={"name": "admin", "domain": {"id": "default"}, "password": ""}),
        password_auth({"domain": {"id": "default"}}),
        password_auth({"system": {"all": True}}),
        password_auth(project("Tenant1")),
        password_auth(project("tenant_1")),
        password_auth(project("a" * 64)),
        password_auth(project("-x")),
        password_auth({"project": {"id": "../x"}}),
    ],
)
def test_unusable_credentials_or_scopes_are_401_without_calling_arktos(document: Any) -> None:
    reply = identity.issue_token(ctx(), client(body=document), {})
    assert isinstance(reply, Reply)
    assert reply.status == 401
    assert body(reply)["error"]["code"] == 401
    assert body(reply)["error"]["title"] == "Unauthorized"
    assert reply.headers["www-authenticate"]


# ---------------------------------------------------------------------------------------------------------
# Issue


def issue(document: Any, reply: ArktosReply, **kwargs: Any) -> Reply:
    outcome = identity.issue_token(ctx(), client(body=document, **kwargs), {})
    assert isinstance(outcome, Forward)
    return outcome.translate(reply)


def test_scoped_issue_calls_the_tenant_namespace_with_the_credential() -> None:
    outcome = identity.issue_token(ctx(), client(body=password_auth(project())), {})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.method == "GET"
    assert outcome.upstream.path == "/api/v1/tenants/tenant1/namespaces/default"
    assert outcome.upstream.bearer_token == TOKEN
    assert outcome.upstream.body is None


@pytest.mark.parametrize("scope", [None, "unscoped"])
def test_unscoped_issue_uses_the_short_path(scope: Any) -> None:
    outcome = identity.issue_token(ctx(), client(body=token_auth(scope=scope)), {})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path == "/api/v1/namespaces/default"
    assert outcome.upstream.bearer_token == TOKEN


def test_token_body_has_keystones_shape() -> None:
    fixture = devstack("keystone-token-response-body.json")["token"]
    reply = issue(password_auth(project()), namespace_reply())
    assert reply.status == 201
    assert reply.headers["x-subject-token"] == TOKEN
    assert reply.headers["content-type"] == "application/json"
    token = body(reply)["token"]
    assert list(token) == list(fixture)
    assert set(token["user"]) == set(fixture["user"])
    assert set(token["project"]) == set(fixture["project"])
    assert all(set(entry) == set(fixture["catalog"][0]) for entry in token["catalog"])
    endpoint_keys = set(fixture["catalog"][0]["endpoints"][0])
    assert all(set(e) == endpoint_keys for entry in token["catalog"] for e in entry["endpoints"])
    assert token["methods"] == ["password"]
    assert token["user"] == {
        "domain": {"id": "default", "name": "Default"},
        "id": user_id_for_token(TOKEN),
        "name": "admin",
        "password_expires_at": None,
    }
    assert token["project"] == {
        "domain": {"id": "default", "name": "Default"},
        "id": "tenant1",
        "name": "tenant1",
    }
    assert token["is_domain"] is False
    assert token["audit_ids"] == fixture["audit_ids"]
    assert token["issued_at"] == "2021-11-16T22:51:55.000000Z"
    assert token["expires_at"] == "2021-11-17T10:51:55.000000Z"
    assert [r["name"] for r in token["roles"]] == ["member", "reader"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["id"]) for r in token["roles"])


def test_catalog_urls() -> None:
    token = body(issue(password_auth(project()), namespace_reply()))["token"]
    catalog = {entry["type"]: entry for entry in token["catalog"]}
    assert set(catalog) == {"identity", "compute", "image", "network"}
    names = [catalog[kind]["name"] for kind in ("identity", "compute", "image", "network")]
    assert names == ["keystone", "nova", "glance", "neutron"]
    urls = {kind: entry["endpoints"][0]["url"] for kind, entry in catalog.items()}
    assert urls == {
        "identity": f"{PUBLIC}/identity",
        "compute": f"{PUBLIC}/compute/v2.1/tenant1",
        "image": f"{PUBLIC}/image",
        "network": f"{PUBLIC}/networking",
    }
    for entry in catalog.values():
        (endpoint,) = entry["endpoints"]
        assert (endpoint["interface"], endpoint["region"], endpoint["region_id"]) == (
            "public",
            "RegionOne",
            "RegionOne",
        )
    # Stable ids: the same next time.
    again = body(issue(password_auth(project()), namespace_reply()))["token"]["catalog"]
    assert again == token["catalog"]


def test_catalog_follows_config_region_and_url() -> None:
    config = GatewayConfig(public_url="https://cloud.example", region="East")
    outcome = identity.issue_token(ctx(config), client(body=password_auth(project("t9"))), {})
    assert isinstance(outcome, Forward)
    token = body(outcome.translate(namespace_reply()))["token"]
    compute = next(e for e in token["catalog"] if e["type"] == "compute")["endpoints"][0]
    assert (compute["url"], compute["region"]) == ("https://cloud.example/compute/v2.1/t9", "East")


def test_system_tenant_gets_admin() -> None:
    token = body(issue(password_auth(project("system")), namespace_reply()))["token"]
    assert [r["name"] for r in token["roles"]] == ["member", "reader", "admin"]
    member = body(issue(password_auth(project()), namespace_reply()))["token"]["roles"][0]
    assert token["roles"][0] == member


def test_short_path_scopes_to_the_tokens_tenant() -> None:
    token = body(issue(token_auth(), namespace_reply()))["token"]
    assert token["project"]["id"] == "tenant1"  # metadata.tenant of fixture 02
    assert token["user"]["name"] == "arktos-user"
    assert token["methods"] == ["token"]


def test_explicitly_unscoped_token_has_no_project_or_catalog() -> None:
    reply = issue(token_auth(scope="unscoped"), namespace_reply())
    assert reply.status == 201
    token = body(reply)["token"]
    assert set(token) == {"methods", "user", "audit_ids", "expires_at", "issued_at"}


def test_nocatalog() -> None:
    token = body(issue(password_auth(project()), namespace_reply(), query={"nocatalog": [""]}))["token"]
    assert "catalog" not in token
    assert token["roles"]


@pytest.mark.parametrize("code", [401, 403, 404])
def test_refused_tokens_are_keystone_401(code: int) -> None:
    reply = issue(password_auth(project()), status(code))
    assert reply.status == 401
    assert body(reply) == UNAUTHORIZED
    assert "x-subject-token" not in reply.headers


@pytest.mark.parametrize(("code", "expected"), [(500, 500), (503, 503), (409, 409)])
def test_other_arktos_failures_are_keystone_errors(code: int, expected: int) -> None:
    reply = issue(password_auth(project()), status(code))
    assert reply.status == expected
    assert body(reply)["error"]["code"] == expected


def test_unreachable_arktos_is_503() -> None:
    reply = issue(password_auth(project()), ArktosReply(503, {}, b"upstream connect error"))
    assert reply.status == 503
    assert set(body(reply)["error"]) == {"code", "message", "title"}


def test_short_path_with_garbage_body_is_an_error() -> None:
    reply = issue(token_auth(), ArktosReply(200, {}, b"<html>"))
    assert reply.status >= 500


# ---------------------------------------------------------------------------------------------------------
# Validate and revoke


def validate(method: str, reply: ArktosReply, **headers: str) -> Reply:
    sent = {"x-auth-token": "caller", "x-subject-token": "subject", **headers}
    outcome = identity.validate_token(ctx(), client(method, headers=sent), {})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path == "/api/v1/namespaces/default"
    assert outcome.upstream.bearer_token == sent["x-subject-token"]
    return outcome.translate(reply)


def test_validate_get_returns_the_token_body() -> None:
    reply = validate("GET", namespace_reply())
    assert reply.status == 200
    assert reply.headers["x-subject-token"] == "subject"
    token = body(reply)["token"]
    assert token["user"]["id"] == user_id_for_token("subject")
    assert token["project"]["id"] == "tenant1"
    assert {e["type"] for e in token["catalog"]} == {"identity", "compute", "image", "network"}


def test_validate_head_is_200_without_body() -> None:
    reply = validate("HEAD", namespace_reply())
    assert (reply.status, reply.body) == (200, b"")
    assert reply.headers["x-subject-token"] == "subject"


@pytest.mark.parametrize("code", [401, 403])
def test_validate_unknown_token_is_404(code: int) -> None:
    reply = validate("GET", status(code))
    assert reply.status == 404
    assert body(reply) == {"error": {"code": 404, "message": "Could not find token.", "title": "Not Found"}}


def test_validate_needs_both_tokens() -> None:
    no_subject = identity.validate_token(ctx(), client("GET", headers={"x-auth-token": "c"}), {})
    assert isinstance(no_subject, Reply) and no_subject.status == 400
    no_caller = identity.validate_token(ctx(), client("GET", headers={"x-subject-token": "s"}), {})
    assert isinstance(no_caller, Reply) and no_caller.status == 401


def test_revoke_is_keystones_not_implemented_never_a_pretended_204() -> None:
    # The gateway cannot invalidate an Arktos token: a 204 would tell the client the token is dead while
    # Arktos still accepts it. Keystone answers an operation it cannot perform with 501 NotImplemented.
    reply = identity.revoke_token(
        ctx(), client("DELETE", headers={"x-auth-token": "c", "x-subject-token": "s"}), {}
    )
    assert isinstance(reply, Reply)
    assert reply.status == 501
    error = orjson.loads(reply.body)["error"]
    assert (error["code"], error["title"]) == (501, "Not Implemented")
    assert error["message"].startswith("The action you have requested has not been implemented.")
    assert "Arktos" in error["message"]
    missing = identity.revoke_token(ctx(), client("DELETE", headers={"x-auth-token": "c"}), {})
    assert isinstance(missing, Reply) and missing.status == 400
