"""Keystone's read APIs through Envoy with the real openstack CLI and raw requests: projects are Arktos
tenants, Arktos decides with the caller's own token what the caller may see."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from extproc.users import user_id_for_token
from gateway_stack import Stack
from tests.e2e.conftest import ADMIN_TOKEN, DEMO_TOKEN, OpenStackCLI

pytestmark = pytest.mark.e2e


def keystone(
    stack: Stack, path: str, token: str | None, method: str = "GET", **kwargs: Any
) -> requests.Response:
    headers = {"X-Auth-Token": token} if token is not None else {}
    return requests.request(
        method, f"{stack.public_url}/identity/v3{path}", headers=headers, timeout=30, **kwargs
    )


def test_cli_lists_my_projects_and_shows_mine(cli: OpenStackCLI) -> None:
    mine = cli.json("project", "list", "--my-projects")
    assert [(p["ID"], p["Name"]) for p in mine] == [("demo", "demo")]
    shown = cli.json("project", "show", "demo")
    assert (shown["id"], shown["name"], shown["domain_id"], shown["enabled"]) == (
        "demo",
        "demo",
        "default",
        True,
    )


def test_project_list_is_every_tenant_for_administrators_only(
    cli: OpenStackCLI, admin_cli: OpenStackCLI, stack: Stack
) -> None:
    refused = keystone(stack, "/projects", DEMO_TOKEN)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"].endswith("identity:list_projects.")
    # osc answers Keystone's 403 by listing the user's own projects (/v3/users/{me}/projects).
    assert [p["Name"] for p in cli.json("project", "list")] == ["demo"]
    names = {p["Name"] for p in admin_cli.json("project", "list")}
    assert {"demo", "alt", "system"} <= names


def test_cli_catalog_services_and_endpoints_agree_with_the_token(cli: OpenStackCLI, stack: Stack) -> None:
    catalog = {entry["Type"]: entry for entry in cli.json("catalog", "list")}
    assert {"identity", "compute", "image"} <= set(catalog)
    services = {s["Type"]: s for s in cli.json("service", "list")}
    assert {t: s["Name"] for t, s in services.items()} == {t: c["Name"] for t, c in catalog.items()}
    endpoints = cli.json("endpoint", "list")
    compute = [e for e in endpoints if e["Service Type"] == "compute"]
    assert [e["URL"] for e in compute] == [f"{stack.public_url}/compute/v2.1/demo"]
    assert cli.json("endpoint", "show", compute[0]["ID"])["url"] == f"{stack.public_url}/compute/v2.1/demo"


def test_cli_shows_the_default_domain_and_my_role_assignments(cli: OpenStackCLI) -> None:
    domain = cli.json("domain", "show", "default")
    assert (domain["id"], domain["name"], domain["enabled"]) == ("default", "Default", True)
    assignments = cli.json("role", "assignment", "list", "--user", user_id_for_token(DEMO_TOKEN), "--names")
    assert sorted(a["Role"] for a in assignments) == ["member", "reader"]
    assert {a["Project"] for a in assignments} == {"demo@Default"}


def test_another_tenant_is_forbidden_whether_or_not_it_exists(stack: Stack) -> None:
    other = keystone(stack, "/projects/alt", DEMO_TOKEN)
    missing = keystone(stack, "/projects/no-such-project", DEMO_TOKEN)
    assert (other.status_code, missing.status_code) == (403, 403)
    assert other.json() == missing.json()
    assert other.json()["error"]["message"].endswith("identity:get_project.")
    # An administrator learns that a project does not exist.
    admin_missing = keystone(stack, "/projects/no-such-project", ADMIN_TOKEN)
    assert admin_missing.status_code == 404
    assert admin_missing.json()["error"]["message"] == "Could not find project: no-such-project."


def test_the_caller_and_nobody_else(stack: Stack) -> None:
    me = user_id_for_token(DEMO_TOKEN)
    shown = keystone(stack, f"/users/{me}", DEMO_TOKEN)
    assert shown.status_code == 200
    assert (shown.json()["user"]["id"], shown.json()["user"]["default_project_id"]) == (me, "demo")
    assert keystone(stack, f"/users/{user_id_for_token(ADMIN_TOKEN)}", DEMO_TOKEN).status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/users"), ("POST", "/projects"), ("PATCH", "/projects/demo"), ("DELETE", "/roles/abc")],
)
def test_identity_writes_say_where_identities_live(stack: Stack, method: str, path: str) -> None:
    reply = keystone(stack, path, DEMO_TOKEN, method, json={})
    assert reply.status_code == 501
    assert "live in Arktos" in reply.json()["error"]["message"]
    assert keystone(stack, path, None, method, json={}).status_code == 401


def test_reads_need_a_valid_token(stack: Stack) -> None:
    assert keystone(stack, "/auth/projects", None).status_code == 401
    refused = keystone(stack, "/auth/projects", "not-a-token")
    assert refused.status_code == 401
    assert refused.json()["error"]["title"] == "Unauthorized"
