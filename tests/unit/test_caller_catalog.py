"""One catalog per caller (issue 17 item 2): a short-path create (no project in the URL) resolves its flavor
and image in the catalog of the caller's own tenant, the one ``GET /flavors`` on the same path lists.

The caller's tenant is only Arktos's to tell: it is learned from Arktos's replies to the token's short-path
reads (fixture 25's ConfigMap and fixture 02's namespace carry ``metadata.tenant``)."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from extproc.annotations import FLAVORS_CONFIGMAP
from extproc.catalog import CatalogStore
from extproc.compute import flavors, server_create
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.identity import handlers as identity
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from extproc.tenant_proofs import TenantProofs
from tests.shared_fixtures import ARKTOS_FIXTURES

TOKEN = "tenant1-token"
IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"
# Only tenant1's catalog has it; the built-in defaults do not.
CUSTOM = {"f-custom": orjson.dumps({"id": "f-custom", "ram": 1024, "vcpus": 3, "disk": 5}).decode()}


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((ARKTOS_FIXTURES / name).read_bytes())
    return loaded


def configmap_reply(data: dict[str, str]) -> ArktosReply:
    """Arktos's 200 to the short-path GET of the caller's flavors ConfigMap (fixture 25's shape)."""
    body = copy.deepcopy(fixture("25-cm-get.json")["body"])
    body["metadata"]["name"] = FLAVORS_CONFIGMAP
    body["data"] = data
    return ArktosReply(200, {}, orjson.dumps(body))


def namespace_reply() -> ArktosReply:
    """Arktos's 200 to the short-path namespace GET made with tenant1's token (fixture 02)."""
    return ArktosReply(200, {}, orjson.dumps(fixture("02-ns-short-as-tenant.json")["body"]))


def catalog_with_custom_flavors() -> CatalogStore:
    catalog = CatalogStore()
    catalog.set_configmap("tenant1", FLAVORS_CONFIGMAP, CUSTOM, "5")
    return catalog


def context(catalog: CatalogStore, proofs: TenantProofs, tenant: str | None = None) -> RequestContext:
    return RequestContext(GatewayConfig(), catalog, "req-1", tenant, proofs=proofs)


def create_request(flavor_ref: str) -> ClientRequest:
    body = {"server": {"name": "web", "imageRef": IMAGE_ID, "flavorRef": flavor_ref}}
    return ClientRequest("POST", "/compute/v2.1/servers", {}, {"x-auth-token": TOKEN}, orjson.dumps(body))


def list_request() -> ClientRequest:
    return ClientRequest("GET", "/compute/v2.1/flavors", {}, {"x-auth-token": TOKEN}, b"")


def translated(outcome: Outcome, reply: ArktosReply) -> Reply:
    assert isinstance(outcome, Forward)
    result = outcome.translate(reply)
    assert isinstance(result, Reply)
    return result


def pod_of(outcome: Outcome) -> dict[str, Any]:
    assert isinstance(outcome, Forward), outcome
    assert (outcome.upstream.method, outcome.upstream.path) == ("POST", "/api/v1/namespaces/default/pods")
    pod: dict[str, Any] = orjson.loads(outcome.upstream.body)
    return pod


def test_short_path_create_uses_the_flavor_the_short_path_list_shows() -> None:
    catalog, proofs = catalog_with_custom_flavors(), TenantProofs()
    ctx = context(catalog, proofs)
    listed = translated(flavors.list_flavors(ctx, list_request(), {}), configmap_reply(CUSTOM))
    assert "f-custom" in [f["id"] for f in orjson.loads(listed.body)["flavors"]]

    pod = pod_of(server_create.create_server(ctx, create_request("f-custom"), {}))
    resources = pod["spec"]["virtualMachine"]["resources"]
    assert resources["limits"]["cpu"] == "3", resources


def test_short_path_create_refusal_from_the_callers_catalog_is_told_after_arktos() -> None:
    """Decided from tenant1's catalog: Nova's 400, told after Arktos has let the token read its own tenant's
    ConfigMap (the probe), as for a URL tenant."""
    catalog, proofs = catalog_with_custom_flavors(), TenantProofs()
    proofs.learn_own_tenant(TOKEN, "tenant1")
    outcome = server_create.create_server(context(catalog, proofs), create_request("nowhere"), {})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path == "/api/v1/namespaces/default/configmaps/openstack-flavors"
    refusal = translated(outcome, configmap_reply(CUSTOM))
    assert (refusal.status, orjson.loads(refusal.body)) == (
        400,
        {"badRequest": {"code": 400, "message": "Flavor nowhere could not be found."}},
    )


def test_unknown_callers_tenant_is_asked_of_arktos_when_catalogs_differ() -> None:
    catalog, proofs = catalog_with_custom_flavors(), TenantProofs()
    ctx = context(catalog, proofs)
    outcome = server_create.create_server(ctx, create_request("f-custom"), {})
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path) == ("GET", "/api/v1/namespaces/default")
    answer = translated(outcome, namespace_reply())
    assert answer.status == 409
    assert orjson.loads(answer.body)["conflictingRequest"]["message"] == server_create.UNKNOWN_OWN_TENANT
    assert proofs.own_tenant(TOKEN) == "tenant1"
    # The retry is built from tenant1's catalog.
    pod = pod_of(server_create.create_server(ctx, create_request("f-custom"), {}))
    assert pod["spec"]["virtualMachine"]["resources"]["limits"]["cpu"] == "3"


def test_unknown_callers_tenant_asked_of_arktos_keeps_arktos_refusal() -> None:
    outcome = server_create.create_server(
        context(catalog_with_custom_flavors(), TenantProofs()), create_request("f-custom"), {}
    )
    answer = translated(outcome, ArktosReply(401, {}, b'{"kind":"Status","code":401}'))
    assert answer.status == 401


def test_unknown_callers_tenant_does_not_matter_when_no_tenant_has_a_catalog() -> None:
    """Every tenant sees the defaults: the create goes ahead at once, as before."""
    pod = pod_of(
        server_create.create_server(context(CatalogStore(), TenantProofs()), create_request("1"), {})
    )
    assert pod["spec"]["virtualMachine"]["resources"]["limits"]["cpu"] == "1"


def test_unscoped_token_issue_teaches_the_tokens_tenant() -> None:
    proofs = TenantProofs()
    ctx = context(CatalogStore(), proofs)
    auth = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "u", "domain": {"name": "Default"}, "password": TOKEN}},
            }
        }
    }
    request = ClientRequest("POST", "/identity/v3/auth/tokens", {}, {}, orjson.dumps(auth))
    reply = translated(identity.issue_token(ctx, request, {}), namespace_reply())
    assert reply.status == 201
    assert proofs.own_tenant(TOKEN) == "tenant1"


def test_url_tenant_wins_over_the_tokens_own() -> None:
    catalog, proofs = catalog_with_custom_flavors(), TenantProofs()
    proofs.learn_own_tenant(TOKEN, "tenant1")
    outcome = server_create.create_server(context(catalog, proofs, tenant="other"), create_request("1"), {})
    assert isinstance(outcome, Forward)
    assert outcome.upstream.path == "/api/v1/tenants/other/namespaces/default/pods"


def test_own_tenant_memory_is_bounded() -> None:
    proofs = TenantProofs(capacity=2)
    for n in range(3):
        proofs.learn_own_tenant(f"token-{n}", f"t{n}")
    assert [proofs.own_tenant(f"token-{n}") for n in range(3)] == [None, "t1", "t2"]
