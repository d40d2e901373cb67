"""Keystone read APIs: the pure bodies (``directory_views``) and what each handler asks Arktos and answers."""

from __future__ import annotations

from typing import Any

import orjson

from extproc.catalog import CatalogStore
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.identity import directory, views
from extproc.identity import directory_views as dv
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from tests.shared_fixtures import ARKTOS_FIXTURES

PUBLIC = "http://gw.example:8080"
CONFIG = GatewayConfig(public_url=PUBLIC)


def ctx() -> RequestContext:
    return RequestContext(CONFIG, CatalogStore(), "req-1", None)


def request(path: str, token: str = "tok", **query: list[str]) -> ClientRequest:
    return ClientRequest("GET", path, query, {"x-auth-token": token})


def answer(outcome: Forward | Reply, status: int, body: Any) -> Reply:
    assert isinstance(outcome, Forward)
    reply = outcome.translate(ArktosReply(status, {}, orjson.dumps(body)))
    assert isinstance(reply, Reply)
    return reply


def load_arktos_fixture(name: str) -> Any:
    return orjson.loads((ARKTOS_FIXTURES / f"{name}.json").read_bytes())


NAMESPACE_OF_DEMO = {"kind": "Namespace", "metadata": {"name": "default", "tenant": "demo"}}


def test_project_of_a_tenant_object_recorded_from_arktos() -> None:
    tenant = load_arktos_fixture("73-tenant-get-own")["body"]
    shown = dv.project_of_tenant(CONFIG, tenant)
    assert shown is not None
    assert (shown["id"], shown["name"], shown["domain_id"], shown["enabled"]) == (
        "tenant1",
        "tenant1",
        "default",
        True,
    )
    assert shown["links"]["self"] == f"{PUBLIC}/identity/v3/projects/tenant1"
    terminating = {**tenant, "status": {"phase": "Terminating"}}
    assert dv.project_of_tenant(CONFIG, terminating)["enabled"] is False  # type: ignore[index]
    assert dv.project_of_tenant(CONFIG, {"metadata": {}}) is None


def test_project_filters_as_keystone_reads_them() -> None:
    projects = [dv.project(CONFIG, "a"), dv.project(CONFIG, "b", enabled=False)]
    assert [p["id"] for p in dv.filter_projects(projects, {"name": ["x", "b"]})] == ["b"]
    assert [p["id"] for p in dv.filter_projects(projects, {"enabled": ["true"]})] == ["a"]
    assert [p["id"] for p in dv.filter_projects(projects, {"domain_id": ["other"]})] == []
    assert len(dv.filter_projects(projects, {})) == 2


def test_role_assignments_are_the_token_roles_and_honour_the_filters() -> None:
    body = dv.role_assignments_body(CONFIG, "u1", "demo", {})
    roles = {r["id"]: r["name"] for r in views.roles("demo")}
    assert {a["role"]["id"] for a in body["role_assignments"]} == set(roles)
    assert all(
        a["scope"] == {"project": {"id": "demo"}} and a["user"] == {"id": "u1"}
        for a in body["role_assignments"]
    )
    named = dv.role_assignments_body(CONFIG, "u1", "demo", {"include_names": ["True"]})["role_assignments"]
    assert sorted(a["role"]["name"] for a in named) == sorted(roles.values())
    assert named[0]["scope"]["project"]["domain"] == {"id": "default", "name": "Default"}
    for other in ({"user.id": ["u2"]}, {"scope.project.id": ["alt"]}, {"scope.domain.id": ["default"]}):
        assert dv.role_assignments_body(CONFIG, "u1", "demo", other)["role_assignments"] == []
    member = next(i for i, n in roles.items() if n == "member")
    only = dv.role_assignments_body(CONFIG, "u1", "demo", {"role.id": [member]})["role_assignments"]
    assert [a["role"]["id"] for a in only] == [member]


def test_services_and_endpoints_are_the_token_catalog() -> None:
    catalog = views.catalog(CONFIG, "demo")
    services = dv.services(CONFIG, "demo")
    assert [(s["id"], s["type"], s["name"]) for s in services] == [
        (c["id"], c["type"], c["name"]) for c in catalog
    ]
    endpoints = dv.endpoints(CONFIG, "demo")
    assert [(e["service_id"], e["url"]) for e in endpoints] == [
        (c["id"], c["endpoints"][0]["url"]) for c in catalog
    ]
    assert dv.filter_by(endpoints, {"service_id": [catalog[1]["id"]]}, ("service_id",)) == [endpoints[1]]


def test_auth_projects_is_the_caller_tenant_from_the_short_path_namespace() -> None:
    outcome = directory.auth_projects(ctx(), request("/identity/v3/auth/projects"), {})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path == "/api/v1/namespaces/default"
    assert outcome.upstream.bearer_token is None  # the caller's own token
    body = orjson.loads(answer(outcome, 200, NAMESPACE_OF_DEMO).body)
    assert [p["id"] for p in body["projects"]] == ["demo"]
    assert body["links"] == {"self": f"{PUBLIC}/identity/v3/auth/projects", "previous": None, "next": None}
    assert answer(outcome, 401, {"kind": "Status", "code": 401}).status == 401


def test_project_list_asks_arktos_for_every_tenant_and_refuses_as_keystone() -> None:
    outcome = directory.list_projects(ctx(), request("/identity/v3/projects"), {})
    assert isinstance(outcome, Forward) and outcome.upstream.path == "/api/v1/tenants"
    refused = answer(outcome, 403, load_arktos_fixture("75-tenant-list-as-tenant-user")["body"])
    assert refused.status == 403
    message = orjson.loads(refused.body)["error"]["message"]
    assert message == "You are not authorized to perform the requested action: identity:list_projects."
    listed = {"kind": "TenantList", "items": [{"metadata": {"name": "b"}}, {"metadata": {"name": "a"}}]}
    body = orjson.loads(answer(outcome, 200, listed).body)
    assert [p["name"] for p in body["projects"]] == ["a", "b"]


def test_project_show_hides_whether_another_tenant_exists() -> None:
    outcome = directory.show_project(
        ctx(), request("/identity/v3/projects/system"), {"keystone_project_id": "system"}
    )
    assert isinstance(outcome, Forward) and outcome.upstream.path == "/api/v1/tenants/system"
    other = answer(outcome, 403, load_arktos_fixture("74-tenant-get-other")["body"])
    assert other.status == 403 and b"tenant1" not in other.body and b"demo-admin" not in other.body
    missing = answer(outcome, 404, load_arktos_fixture("76-tenant-get-missing-as-admin")["body"])
    assert missing.status == 404
    assert orjson.loads(missing.body)["error"]["message"] == "Could not find project: system."


def test_user_show_is_the_caller_only() -> None:
    me = directory.user_id_for_token("tok")
    mine = directory.show_user(ctx(), request(f"/identity/v3/users/{me}"), {"keystone_id": me})
    body = orjson.loads(answer(mine, 200, NAMESPACE_OF_DEMO).body)
    assert (body["user"]["id"], body["user"]["default_project_id"]) == (me, "demo")
    other = directory.show_user(ctx(), request("/identity/v3/users/x"), {"keystone_id": "x"})
    assert answer(other, 200, NAMESPACE_OF_DEMO).status == 403


def test_writes_are_not_implemented_and_say_why() -> None:
    reply = directory.not_implemented(ctx(), request("/identity/v3/users"), {})
    assert isinstance(reply, Reply) and reply.status == 501
    assert orjson.loads(reply.body)["error"]["message"] == directory.IDENTITIES_IN_ARKTOS
