"""Flavor management for administrators (issue 18 item 3): POST/DELETE /flavors, os-flavor-access and the
os-extra_specs writes, each ONE conditional write of the system tenant's flavors ConfigMap with the caller's
token (Arktos's RBAC decides), answered in Nova's shapes and words."""

from __future__ import annotations

from typing import Any

import orjson

from extproc import app as app_module
from extproc.annotations import FLAVORS_CONFIGMAP
from extproc.catalog import SYSTEM_TENANT, CatalogStore
from extproc.catalog_entries import DEFAULT_FLAVORS
from extproc.compute import flavor_manage, flavors
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply

SYSTEM_CM = "/api/v1/tenants/system/namespaces/default/configmaps/openstack-flavors"
FORBIDDEN = ArktosReply(403, {}, b'{"kind":"Status","code":403,"reason":"Forbidden"}')


def entry(**fields: Any) -> str:
    return orjson.dumps({"ram": 64, "vcpus": 1, "disk": 1, **fields}).decode()


def store_with_system(data: dict[str, str] | None, version: str = "40") -> CatalogStore:
    store = CatalogStore()
    if data is not None:
        store.set_configmap(SYSTEM_TENANT, FLAVORS_CONFIGMAP, data, version)
    return store


def ctx(
    store: CatalogStore, version: tuple[int, int] = (2, 1), tenant: str | None = "system"
) -> RequestContext:
    return RequestContext(GatewayConfig(), store, "req-1", tenant, compute_version=version)


def post(body: Any, path: str = "/compute/v2.1/flavors") -> ClientRequest:
    return ClientRequest("POST", path, {}, {"x-auth-token": "admin-token"}, orjson.dumps(body))


def configmap_reply(request_body: bytes, status: int = 200, version: str = "41") -> ArktosReply:
    """What Arktos answers to the write: the ConfigMap as written (a PATCH's data, or a POST's document)."""
    sent = orjson.loads(request_body)
    data = sent["data"] if isinstance(sent, dict) else next(op["value"] for op in sent if op["op"] == "add")
    body = {
        "kind": "ConfigMap",
        "metadata": {"name": FLAVORS_CONFIGMAP, "tenant": "system", "resourceVersion": version},
        "data": data,
    }
    return ArktosReply(status, {}, orjson.dumps(body))


def forward(outcome: Outcome) -> Forward:
    assert isinstance(outcome, Forward), outcome
    return outcome


def answer(outcome: Outcome, reply: ArktosReply) -> Reply:
    result = forward(outcome).translate(reply)
    assert isinstance(result, Reply)
    return result


def error(reply: Reply) -> tuple[int, str]:
    body = orjson.loads(reply.body)
    return reply.status, next(iter(body.values()))["message"]


CREATE = {"flavor": {"name": "f1", "id": "f1", "ram": 512, "vcpus": 2, "disk": 1}}


def test_first_create_makes_the_system_configmap_with_the_defaults_and_the_new_flavor() -> None:
    outcome = forward(flavor_manage.create_flavor(ctx(store_with_system(None)), post(CREATE), {}))
    assert (outcome.upstream.method, outcome.upstream.path) == (
        "POST",
        "/api/v1/tenants/system/namespaces/default/configmaps",
    )
    sent = orjson.loads(outcome.upstream.body)
    assert sent["metadata"]["name"] == FLAVORS_CONFIGMAP
    assert set(sent["data"]) == {f.name for f in DEFAULT_FLAVORS} | {"f1"}
    reply = outcome.translate(configmap_reply(outcome.upstream.body, 201))
    assert isinstance(reply, Reply) and reply.status == 200
    shown = orjson.loads(reply.body)["flavor"]
    assert (
        shown["id"],
        shown["name"],
        shown["ram"],
        shown["vcpus"],
        shown["os-flavor-access:is_public"],
    ) == (
        "f1",
        "f1",
        512,
        2,
        True,
    )


def test_create_is_a_conditional_patch_and_arktos_decides_who_may() -> None:
    store = store_with_system({"m1.tiny": entry(id="1")}, "40")
    outcome = forward(flavor_manage.create_flavor(ctx(store), post(CREATE), {}))
    assert (outcome.upstream.method, outcome.upstream.path) == ("PATCH", SYSTEM_CM)
    ops = orjson.loads(outcome.upstream.body)
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "40"}
    assert set(ops[1]["value"]) == {"m1.tiny", "f1"}
    refused = outcome.translate(FORBIDDEN)
    assert isinstance(refused, Reply)
    assert error(refused) == (
        403,
        "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed.",
    )
    raced = outcome.translate(ArktosReply(409, {}, b'{"kind":"Status","code":409}'))
    assert isinstance(raced, Reply) and raced.status == 409


def test_a_taken_name_is_told_only_to_a_caller_arktos_lets_write() -> None:
    store = store_with_system({"secret": entry(id="s", is_public=False)})
    body = {"flavor": {"name": "secret", "ram": 1, "vcpus": 1, "disk": 0}}
    outcome = forward(flavor_manage.create_flavor(ctx(store), post(body), {}))
    assert outcome.upstream.method == "PATCH"
    assert orjson.loads(outcome.upstream.body) == [
        {"op": "test", "path": "/metadata/name", "value": FLAVORS_CONFIGMAP}
    ]
    assert error(answer(outcome, FORBIDDEN))[0] == 403
    ok = ArktosReply(200, {}, b'{"kind":"ConfigMap"}')
    assert error(answer(outcome, ok)) == (409, "Flavor with name secret already exists.")
    same_id = {"flavor": {"name": "other", "id": "s", "ram": 1, "vcpus": 1, "disk": 0}}
    assert error(answer(flavor_manage.create_flavor(ctx(store), post(same_id), {}), ok)) == (
        409,
        "Flavor with ID s already exists.",
    )


def test_create_body_is_validated_as_novas_schema() -> None:
    store = store_with_system(None)
    missing = flavor_manage.create_flavor(
        ctx(store), post({"flavor": {"name": "x", "vcpus": 1, "disk": 1}}), {}
    )
    assert isinstance(missing, Reply) and error(missing) == (
        400,
        "Invalid input for field/attribute flavor. Value: {'name': 'x', 'vcpus': 1, 'disk': 1}. "
        "'ram' is a required property",
    )
    zero = {"flavor": {"name": "x", "ram": 0, "vcpus": 1, "disk": 1}}
    refused = flavor_manage.create_flavor(ctx(store), post(zero), {})
    assert isinstance(refused, Reply) and refused.status == 400 and "ram" in error(refused)[1]
    described = {"flavor": {**CREATE["flavor"], "description": "d"}}
    below = flavor_manage.create_flavor(ctx(store, (2, 54)), post(described), {})
    assert isinstance(below, Reply) and below.status == 400  # description is a 2.55 property
    at = forward(flavor_manage.create_flavor(ctx(store, (2, 55)), post(described), {}))
    shown = orjson.loads(answer(at, configmap_reply(at.upstream.body, 201)).body)["flavor"]
    assert shown["description"] == "d"
    spaced = {"flavor": {"name": "x", "id": "a b", "ram": 1, "vcpus": 1, "disk": 1}}
    refused = flavor_manage.create_flavor(ctx(store), post(spaced), {})
    assert isinstance(refused, Reply) and refused.status == 400 and "ConfigMap key" in error(refused)[1]


def test_delete_removes_the_flavor_and_404s_an_unknown_one() -> None:
    store = store_with_system({"m1.tiny": entry(id="1"), "f1": entry(id="f1")})
    delete = ClientRequest("DELETE", "/compute/v2.1/flavors/f1", {}, {"x-auth-token": "t"})
    outcome = forward(flavor_manage.delete_flavor(ctx(store), delete, {"flavor_id": "f1"}))
    assert set(orjson.loads(outcome.upstream.body)[1]["value"]) == {"m1.tiny"}
    done = outcome.translate(configmap_reply(outcome.upstream.body))
    assert isinstance(done, Reply) and (done.status, done.body) == (202, b"")
    missing = flavor_manage.delete_flavor(ctx(store), delete, {"flavor_id": "nope"})
    assert error(answer(missing, ArktosReply(200, {}, b"{}"))) == (404, "Flavor nope could not be found.")


def test_tenant_access_add_list_remove() -> None:
    store = store_with_system({"p": entry(id="p", is_public=False), "pub": entry(id="pub")})
    action = "/compute/v2.1/flavors/p/action"
    add = forward(
        flavor_manage.flavor_action(
            ctx(store), post({"addTenantAccess": {"tenant": "demo"}}, action), {"flavor_id": "p"}
        )
    )
    written = orjson.loads(add.upstream.body)[1]["value"]["p"]
    assert orjson.loads(written)["projects"] == ["demo"]
    reply = add.translate(configmap_reply(add.upstream.body))
    assert isinstance(reply, Reply)
    assert orjson.loads(reply.body) == {"flavor_access": [{"flavor_id": "p", "tenant_id": "demo"}]}

    # The watch (or the write's reply) brings the change: demo now sees the private flavor, alt does not.
    app_module.note_configmap_write(store, configmap_reply(add.upstream.body))
    assert "p" in [f.id for f in store.flavors("demo")]
    assert "p" not in [f.id for f in store.flavors("alt")]

    again = flavor_manage.flavor_action(
        ctx(store), post({"addTenantAccess": {"tenant": "demo"}}, action), {"flavor_id": "p"}
    )
    ok = ArktosReply(200, {}, b"{}")
    assert error(answer(again, ok)) == (
        409,
        "Flavor access already exists for flavor p and project demo combination.",
    )
    add_demo = post({"addTenantAccess": {"tenant": "demo"}})
    # Below 2.7 Nova records access to a public flavor; from 2.7 it is a 409.
    below = forward(flavor_manage.flavor_action(ctx(store, (2, 6)), add_demo, {"flavor_id": "pub"}))
    assert below.upstream.method == "PATCH" and len(orjson.loads(below.upstream.body)) == 2
    public = flavor_manage.flavor_action(ctx(store, (2, 7)), add_demo, {"flavor_id": "pub"})
    assert error(answer(public, ok)) == (409, "Can not add access to a public flavor.")
    remove = flavor_manage.flavor_action(
        ctx(store), post({"removeTenantAccess": {"tenant": "alt"}}), {"flavor_id": "p"}
    )
    assert error(answer(remove, ok)) == (404, "Flavor access not found for p / alt combination.")
    bad = flavor_manage.flavor_action(
        ctx(store), post({"addTenantAccess": {"tenant": "Not A Tenant"}}), {"flavor_id": "p"}
    )
    assert isinstance(bad, Reply) and error(bad) == (400, "Project ID Not A Tenant is not a valid project.")

    listing = ClientRequest("GET", "/compute/v2.1/flavors/p/os-flavor-access", {}, {"x-auth-token": "t"})
    listed = forward(flavor_manage.list_flavor_access(ctx(store), listing, {"flavor_id": "p"}))
    assert listed.upstream.path == SYSTEM_CM
    shown = listed.translate(configmap_reply(add.upstream.body))
    assert isinstance(shown, Reply) and orjson.loads(shown.body)["flavor_access"][0]["tenant_id"] == "demo"
    public_list = flavor_manage.list_flavor_access(ctx(store), listing, {"flavor_id": "pub"})
    assert error(answer(public_list, configmap_reply(add.upstream.body))) == (
        404,
        "Access list not available for public flavors.",
    )
    assert error(answer(public_list, FORBIDDEN))[0] == 403


def test_extra_specs_writes() -> None:
    store = store_with_system({"f": entry(id="f", extra_specs={"a": "1"})})
    create = post(
        {"extra_specs": {"hw:cpu_policy": "dedicated", "n": 2}}, "/compute/v2.1/flavors/f/os-extra_specs"
    )
    outcome = forward(flavor_manage.create_extra_specs(ctx(store), create, {"flavor_id": "f"}))
    written = orjson.loads(orjson.loads(outcome.upstream.body)[1]["value"]["f"])["extra_specs"]
    assert written == {"a": "1", "hw:cpu_policy": "dedicated", "n": "2"}
    reply = outcome.translate(configmap_reply(outcome.upstream.body))
    assert isinstance(reply, Reply)
    assert orjson.loads(reply.body) == {"extra_specs": {"hw:cpu_policy": "dedicated", "n": 2}}

    put = ClientRequest("PUT", "/x", {}, {"x-auth-token": "t"}, orjson.dumps({"b": "2"}))
    mismatch = flavor_manage.update_extra_spec(ctx(store), put, {"flavor_id": "f", "spec_key": "a"})
    assert isinstance(mismatch, Reply) and error(mismatch) == (400, "Request body and URI mismatch")
    delete = ClientRequest("DELETE", "/x", {}, {"x-auth-token": "t"})
    gone = flavor_manage.delete_extra_spec(ctx(store), delete, {"flavor_id": "f", "spec_key": "zz"})
    assert error(answer(gone, ArktosReply(200, {}, b"{}"))) == (
        404,
        "Flavor f has no extra specs with key zz.",
    )
    removed = forward(
        flavor_manage.delete_extra_spec(ctx(store), delete, {"flavor_id": "f", "spec_key": "a"})
    )
    assert orjson.loads(orjson.loads(removed.upstream.body)[1]["value"]["f"])["extra_specs"] == {}

    show = ClientRequest("GET", "/x", {}, {"x-auth-token": "t"})
    one = answer(
        flavors.show_extra_spec(ctx(store, tenant="demo"), show, {"flavor_id": "f", "spec_key": "a"}),
        ArktosReply(404, {}, b"{}"),
    )
    assert orjson.loads(one.body) == {"a": "1"}


def put(body: Any, path: str = "/compute/v2.1/flavors/f") -> ClientRequest:
    return ClientRequest("PUT", path, {}, {"x-auth-token": "admin-token"}, orjson.dumps(body))


DESCRIBE = {"flavor": {"description": "for the build farm"}}


def test_update_below_2_55_is_novas_bare_404_before_the_body_is_read() -> None:
    store = store_with_system({"f": entry(id="f")})
    for version in ((2, 1), (2, 54)):
        for body in (DESCRIBE, {"not": "valid"}):
            below = flavor_manage.update_flavor(ctx(store, version), put(body), {"flavor_id": "f"})
            assert isinstance(below, Reply) and error(below) == (404, "The resource could not be found.")


def test_update_sets_the_description_in_one_conditional_patch_and_answers_the_show_view() -> None:
    store = store_with_system({"m1.tiny": entry(id="1"), "f": entry(id="f", extra_specs={"a": "1"})}, "40")
    outcome = forward(flavor_manage.update_flavor(ctx(store, (2, 55)), put(DESCRIBE), {"flavor_id": "f"}))
    assert (outcome.upstream.method, outcome.upstream.path) == ("PATCH", SYSTEM_CM)
    ops = orjson.loads(outcome.upstream.body)
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "40"}
    written = {key: orjson.loads(value) for key, value in ops[1]["value"].items()}
    assert written["f"]["description"] == "for the build farm"
    assert "description" not in written["m1.tiny"]  # nothing else changes
    shown = orjson.loads(answer(outcome, configmap_reply(outcome.upstream.body)).body)["flavor"]
    assert (shown["id"], shown["description"]) == ("f", "for the build farm")
    assert "extra_specs" not in shown  # a 2.61 field

    at_261 = forward(flavor_manage.update_flavor(ctx(store, (2, 61)), put(DESCRIBE), {"flavor_id": "f"}))
    shown = orjson.loads(answer(at_261, configmap_reply(at_261.upstream.body)).body)["flavor"]
    assert shown["extra_specs"] == {"a": "1"}

    # A null description clears it (Nova's schema allows null).
    cleared = forward(
        flavor_manage.update_flavor(
            ctx(store, (2, 55)), put({"flavor": {"description": None}}), {"flavor_id": "f"}
        )
    )
    written = orjson.loads(orjson.loads(cleared.upstream.body)[1]["value"]["f"])
    assert "description" not in written
    shown = orjson.loads(answer(cleared, configmap_reply(cleared.upstream.body)).body)["flavor"]
    assert shown["description"] is None


def test_update_arktos_decides_and_an_unknown_flavor_is_told_only_after_it_let_the_caller_write() -> None:
    store = store_with_system({"f": entry(id="f")})
    outcome = forward(flavor_manage.update_flavor(ctx(store, (2, 55)), put(DESCRIBE), {"flavor_id": "f"}))
    assert error(answer(outcome, FORBIDDEN)) == (
        403,
        "Policy doesn't allow os_compute_api:os-flavor-manage:update to be performed.",
    )
    raced = answer(outcome, ArktosReply(409, {}, b'{"kind":"Status","code":409}'))
    assert raced.status == 409

    missing = forward(flavor_manage.update_flavor(ctx(store, (2, 55)), put(DESCRIBE), {"flavor_id": "nope"}))
    assert orjson.loads(missing.upstream.body) == [
        {"op": "test", "path": "/metadata/name", "value": FLAVORS_CONFIGMAP}
    ]
    assert error(answer(missing, FORBIDDEN))[0] == 403
    assert error(answer(missing, ArktosReply(200, {}, b"{}"))) == (404, "Flavor nope could not be found.")


def test_update_body_is_validated_as_novas_schema() -> None:
    store = store_with_system({"f": entry(id="f")})
    cases = [
        {"flavor": {}},  # description is required
        {"flavor": {"description": "d", "name": "renamed"}},  # nothing else may change
        {"description": "d"},
        {"flavor": {"description": "x" * 65536}},
        {"flavor": {"description": "bell\u0007"}},  # not printable (valid_description_regex)
        {"flavor": {"description": 5}},
    ]
    for body in cases:
        refused = flavor_manage.update_flavor(ctx(store, (2, 55)), put(body), {"flavor_id": "f"})
        assert isinstance(refused, Reply) and refused.status == 400, body
    longest = {"flavor": {"description": "x" * 65535}}
    assert isinstance(
        flavor_manage.update_flavor(ctx(store, (2, 55)), put(longest), {"flavor_id": "f"}), Forward
    )


def test_create_refuses_an_unprintable_description_as_nova_does() -> None:
    body = {"flavor": {**CREATE["flavor"], "description": "bell\u0007"}}
    refused = flavor_manage.create_flavor(ctx(store_with_system(None), (2, 55)), post(body), {})
    assert isinstance(refused, Reply) and refused.status == 400
