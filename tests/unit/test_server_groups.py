"""extproc.compute.server_groups and extproc.server_group_store: Nova server groups as one ConfigMap each,
and the ``group`` scheduler hint as the VM pod's label and (anti-)affinity."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from extproc import keypair_store, routes, server_group_store
from extproc.annotations import SERVER_GROUP_LABEL
from extproc.catalog import CatalogStore
from extproc.catalog_watch import CatalogWatch
from extproc.cluster_cache import ACTION, POD, REPLICASET, ClusterCache
from extproc.compute import batch, server_create, server_groups
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from extproc.server_group_store import ServerGroupStore, configmap_name
from extproc.tenant_proofs import TenantProofs
from extproc.users import user_id_for_token

TOKEN = "demo-token"
USER = user_id_for_token(TOKEN)
FLAVORS_PATH = "/api/v1/tenants/demo/namespaces/default/configmaps/openstack-flavors"
GROUP_ID = "0b6dcb1e-3c4c-4b8f-9a7e-5f0f2d8b1c11"
IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"
# Nova's 2.1 view keys (nova/api/openstack/compute/server_groups.py _format_server_group).
VIEW_KEYS = {"id", "name", "policies", "members", "metadata"}


def group_configmap(
    policy: str = "anti-affinity",
    group_id: str = GROUP_ID,
    name: str = "g1",
    tenant: str = "demo",
    uid: str | None = None,
    resource_version: str = "7",
    created: str = "2026-11-30T06:08:37Z",
) -> dict[str, Any]:
    """What the gateway POSTs for a group, with the metadata Arktos adds (fixture 24's shape)."""
    obj = server_group_store.group_configmap(group_id, name, policy, USER)
    obj["metadata"].update(
        namespace="default",
        tenant=tenant,
        uid=uid or str(uuid.uuid4()),
        resourceVersion=resource_version,
        creationTimestamp=created,
        selfLink=f"/api/v1/tenants/{tenant}/namespaces/default/configmaps/{obj['metadata']['name']}",
    )
    return obj


def member_pod(name: str, group_id: str = GROUP_ID, tenant: str = "demo") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "tenant": tenant,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "9",
            "labels": {SERVER_GROUP_LABEL: group_id},
        },
        "spec": {"virtualMachine": {"name": "vm", "image": "x"}},
    }


def context(
    tenant: str | None = "demo",
    store: ServerGroupStore | None = None,
    proven: bool = True,
    cluster: ClusterCache | None = None,
) -> RequestContext:
    proofs = TenantProofs()
    if proven:
        proofs.record(TOKEN, FLAVORS_PATH, 200)
    return RequestContext(
        GatewayConfig(), CatalogStore(), "req-1", tenant, cluster, proofs=proofs, server_groups=store
    )


def request(method: str, body: Any = None, version: str | None = None, **query: str) -> ClientRequest:
    data = orjson.dumps(body) if body is not None else b""
    sent = {"x-auth-token": TOKEN}
    if version is not None:
        sent["openstack-api-version"] = f"compute {version}"
    return ClientRequest(method, "/", {k: [v] for k, v in query.items()}, sent, data)


def reply(status: int, body: Any) -> ArktosReply:
    return ArktosReply(status, {"content-type": "application/json"}, orjson.dumps(body))


def as_forward(outcome: Outcome) -> Forward:
    assert isinstance(outcome, Forward), outcome
    return outcome


def body_of(outcome: Any) -> tuple[int, Any]:
    assert isinstance(outcome, Reply), outcome
    return outcome.status, orjson.loads(outcome.body) if outcome.body else None


def message_of(outcome: Any) -> tuple[int, str]:
    status, body = body_of(outcome)
    ((_, fault),) = body.items()
    return status, fault["message"]


def create_body(policy: str = "anti-affinity", name: str = "g1") -> dict[str, Any]:
    return {"server_group": {"name": name, "policies": [policy]}}


# -- create ------------------------------------------------------------------------------------------------


def test_create_posts_one_group_configmap_and_answers_novas_view() -> None:
    store = ServerGroupStore()
    forward = as_forward(server_groups.create_group(context(store=store), request("POST", create_body()), {}))
    assert (forward.upstream.method, forward.upstream.path) == (
        "POST",
        "/api/v1/tenants/demo/namespaces/default/configmaps",
    )
    assert forward.upstream.body is not None
    posted = orjson.loads(forward.upstream.body)
    group_id = posted["metadata"]["labels"][SERVER_GROUP_LABEL]
    assert str(uuid.UUID(group_id)) == group_id
    assert posted["metadata"]["name"] == configmap_name(group_id)
    assert posted["data"] == {"name": "g1", "policy": "anti-affinity", "user_id": USER}
    created = group_configmap(group_id=group_id)
    status, body = body_of(forward.translate(reply(201, created)))
    assert status == 200
    assert body == {
        "server_group": {
            "id": group_id,
            "name": "g1",
            "policies": ["anti-affinity"],
            "members": [],
            "metadata": {},
        }
    }
    # Read-your-writes: a server create right after it finds the policy without the watch.
    assert store.policy("demo", group_id) == "anti-affinity"


def test_view_has_project_and_user_from_2_13() -> None:
    stored = server_group_store.from_configmap(group_configmap())
    assert stored is not None
    assert set(server_groups.group_view(stored, [], (2, 1), "demo")) == VIEW_KEYS
    view = server_groups.group_view(stored, [], (2, 13), "demo")
    assert (view["project_id"], view["user_id"]) == ("demo", USER)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'server_group' is a required property"),
        ({"server_group": {"name": "g"}}, "'policies' is a required property"),
        ({"server_group": {"policies": ["affinity"]}}, "'name' is a required property"),
        (create_body(name=""), "Invalid input for field/attribute name."),
        (create_body(name=" g"), "Can not start or end with whitespace"),
        (create_body("best-effort"), "'best-effort' is not one of ['anti-affinity', 'affinity']"),
        # Soft policies exist from microversion 2.15 only.
        (create_body("soft-anti-affinity"), "is not one of ['anti-affinity', 'affinity']"),
        ({"server_group": {"name": "g", "policies": []}}, "attribute policies. Value: []."),
        ({"server_group": {"name": "g", "policies": ["affinity", "anti-affinity"]}}, "policies"),
        ({"server_group": {"name": "g", "policies": ["affinity"], "rules": {}}}, "'rules' was unexpected"),
        ({"server_group": {"name": "g", "policies": ["affinity"]}, "x": 1}, "'x' was unexpected"),
    ],
)
def test_create_validation_is_novas_2_1_schema(body: Any, message: str) -> None:
    status, text = message_of(server_groups.create_group(context(), request("POST", body), {}))
    assert status == 400
    assert message in text


@pytest.mark.parametrize("policy", ["soft-affinity", "soft-anti-affinity", "affinity", "anti-affinity"])
def test_every_policy_is_valid_from_2_15(policy: str) -> None:
    assert server_groups.validate_create(create_body(policy), (2, 15)) is None


def test_create_of_malformed_json_is_400_without_arktos() -> None:
    req = ClientRequest("POST", "/", {}, {"x-auth-token": TOKEN}, b"{nope")
    assert message_of(server_groups.create_group(context(), req, {})) == (400, "Malformed request body")


def test_create_refused_by_arktos_is_passed_on_in_novas_words() -> None:
    forward = as_forward(server_groups.create_group(context(), request("POST", create_body()), {}))
    forbidden = {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403, "message": "no"}
    status, _ = message_of(forward.translate(reply(403, forbidden)))
    assert status == 403


def versioned(version: tuple[int, int], tenant: str | None = "demo") -> RequestContext:
    return RequestContext(GatewayConfig(), CatalogStore(), "req-1", tenant, compute_version=version)


def test_policy_and_rules_replace_policies_and_metadata_from_2_64() -> None:
    stored = server_group_store.from_configmap(group_configmap())
    assert stored is not None
    assert set(server_groups.group_view(stored, [], (2, 63), "demo")) == VIEW_KEYS | {"project_id", "user_id"}
    view = server_groups.group_view(stored, [], (2, 64), "demo")
    assert set(view) == {"id", "name", "policy", "rules", "members", "project_id", "user_id"}
    assert (view["policy"], view["rules"]) == ("anti-affinity", {})


def test_create_takes_policy_and_rules_from_2_64() -> None:
    at_264 = {"server_group": {"name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": "1"}}}
    assert message_of(server_groups.create_group(versioned((2, 63)), request("POST", at_264), {}))[0] == 400
    forward = as_forward(server_groups.create_group(versioned((2, 64)), request("POST", at_264), {}))
    posted = orjson.loads(forward.upstream.body or b"")
    assert posted["data"] == {
        "name": "g",
        "policy": "anti-affinity",
        "user_id": USER,
        "max_server_per_host": "1",
    }
    created = group_configmap()
    created["data"]["max_server_per_host"] = "1"
    status, body = body_of(forward.translate(reply(201, created)))
    assert status == 200
    assert (body["server_group"]["policy"], body["server_group"]["rules"]) == (
        "anti-affinity",
        {"max_server_per_host": 1},
    )
    # The 2.1 body is refused from 2.64: policies is gone, policy is required.
    status, text = message_of(
        server_groups.create_group(versioned((2, 64)), request("POST", create_body()), {})
    )
    assert status == 400 and "'policy' is a required property" in text


@pytest.mark.parametrize(
    ("rules", "policy", "status", "message"),
    [
        ({"max_server_per_host": 2}, "anti-affinity", 409, server_groups.MAX_SERVER_PER_HOST_UNSUPPORTED),
        ({"max_server_per_host": 1}, "affinity", 400, "Only anti-affinity policy supports rules."),
        ({"max_server_per_host": 0}, "anti-affinity", 400, "0 is less than the minimum of 1"),
        ({"other": 1}, "anti-affinity", 400, "'other' was unexpected"),
    ],
)
def test_rules_nova_refuses_or_arktos_cannot_apply(
    rules: dict[str, Any], policy: str, status: int, message: str
) -> None:
    body = {"server_group": {"name": "g", "policy": policy, "rules": rules}}
    got_status, text = message_of(server_groups.create_group(versioned((2, 64)), request("POST", body), {}))
    assert got_status == status and message in text


def test_list_refuses_unknown_query_parameters_from_2_75_and_show_from_2_102() -> None:
    bogus = request("GET", bogus="1")
    assert isinstance(server_groups.list_groups(versioned((2, 74)), bogus, {}), Forward)
    assert message_of(server_groups.list_groups(versioned((2, 75)), bogus, {})) == (
        400,
        "Additional properties are not allowed ('bogus' was unexpected)",
    )
    assert isinstance(
        server_groups.list_groups(versioned((2, 75)), request("GET", limit="1", offset="1"), {}), Forward
    )
    params = {"server_group_id": GROUP_ID}
    assert isinstance(server_groups.show_group(versioned((2, 101)), bogus, params), Forward)
    assert message_of(server_groups.show_group(versioned((2, 102)), bogus, params))[0] == 400


# -- show, list, delete ------------------------------------------------------------------------------------


def cache_with(*pods: dict[str, Any]) -> ClusterCache:
    cache = ClusterCache()
    cache.apply_list(POD, list(pods))
    cache.apply_list(ACTION, [])
    cache.apply_list(REPLICASET, [])
    return cache


def test_show_gets_the_configmap_and_lists_the_members_of_that_tenant_only() -> None:
    cache = cache_with(
        member_pod("b-server"),
        member_pod("a-server"),
        member_pod("not-a-member", group_id=str(uuid.uuid4())),
        member_pod("other-tenant", tenant="other"),
    )
    params = {"server_group_id": GROUP_ID}
    forward = as_forward(server_groups.show_group(context(cluster=cache), request("GET"), params))
    assert (forward.upstream.method, forward.upstream.path) == (
        "GET",
        f"/api/v1/tenants/demo/namespaces/default/configmaps/openstack-server-group-{GROUP_ID}",
    )
    status, body = body_of(forward.translate(reply(200, group_configmap())))
    assert status == 200
    assert body["server_group"]["members"] == ["a-server", "b-server"]
    assert body["server_group"]["policies"] == ["anti-affinity"]


def test_show_of_a_missing_group_is_novas_404() -> None:
    forward = as_forward(server_groups.show_group(context(), request("GET"), {"server_group_id": GROUP_ID}))
    missing = {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": "x"}
    assert message_of(forward.translate(reply(404, missing))) == (
        404,
        f"Instance group {GROUP_ID} could not be found.",
    )


def test_show_of_a_configmap_that_is_no_group_is_404() -> None:
    other = keypair_store.keypair_configmap("k", "ssh-rsa AAAA", "fp", USER)
    forward = as_forward(server_groups.show_group(context(), request("GET"), {"server_group_id": GROUP_ID}))
    assert message_of(forward.translate(reply(200, other)))[0] == 404


@pytest.mark.parametrize("raw", ["g1", GROUP_ID.upper(), GROUP_ID + "0", "..", "%2F"])
def test_an_id_that_is_no_group_uuid_is_404_before_arktos(raw: str) -> None:
    resolved = routes.resolve("GET", f"/compute/v2.1/demo/os-server-groups/{raw}")
    assert isinstance(resolved, Reply)
    status, text = message_of(resolved)
    assert status == 404
    assert text.startswith("Instance group ")


def test_routes_list_every_server_group_method() -> None:
    for method, path in [
        ("GET", "/compute/v2.1/demo/os-server-groups"),
        ("POST", "/compute/v2.1/demo/os-server-groups"),
        ("GET", f"/compute/v2.1/demo/os-server-groups/{GROUP_ID}"),
        ("DELETE", f"/compute/v2.1/os-server-groups/{GROUP_ID}"),
    ]:
        match = routes.resolve(method, path)
        assert isinstance(match, routes.Match), (method, path)
    assert message_of(routes.resolve("PUT", f"/compute/v2.1/os-server-groups/{GROUP_ID}"))[0] == 405


def listed(*items: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {}, "items": list(items)}


def test_list_is_oldest_first_paged_as_novas_limited() -> None:
    groups = [
        group_configmap(group_id=str(uuid.UUID(int=i)), name=f"g{i}", created=f"2026-11-30T06:0{i}:00Z")
        for i in (3, 1, 2)
    ]
    forward = as_forward(server_groups.list_groups(context(), request("GET"), {}))
    assert forward.upstream.path == (
        "/api/v1/tenants/demo/namespaces/default/configmaps?labelSelector=openstack.arktos.io%2Fserver-group"
    )
    _, body = body_of(forward.translate(reply(200, listed(*groups))))
    assert [g["name"] for g in body["server_groups"]] == ["g1", "g2", "g3"]
    paged = as_forward(
        server_groups.list_groups(context(), request("GET", offset="1", limit="0" * 20 + "1"), {})
    )
    _, body = body_of(paged.translate(reply(200, listed(*groups))))
    assert [g["name"] for g in body["server_groups"]] == ["g2"]
    # Nova's common.limited: limit 0 is the maximum, not an empty page.
    everything = as_forward(server_groups.list_groups(context(), request("GET", limit="0"), {}))
    _, body = body_of(everything.translate(reply(200, listed(*groups))))
    assert len(body["server_groups"]) == 3
    # Offsets and limits of any size: past the end is an empty page, a huge limit the maximum.
    far = as_forward(server_groups.list_groups(context(), request("GET", offset="9" * 5000), {}))
    assert body_of(far.translate(reply(200, listed(*groups)))) == (200, {"server_groups": []})
    huge = as_forward(server_groups.list_groups(context(), request("GET", limit="9" * 5000), {}))
    _, body = body_of(huge.translate(reply(200, listed(*groups))))
    assert len(body["server_groups"]) == 3


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "x"}, "Invalid input for query parameters limit. Value: x. 'x' does not match '^[0-9]*$'"),
        (
            {"limit": "-1"},
            "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'",
        ),
        (
            {"offset": "1.5"},
            "Invalid input for query parameters offset. Value: 1.5. '1.5' does not match '^[0-9]*$'",
        ),
    ],
)
def test_list_paging_errors_are_novas(query: dict[str, str], message: str) -> None:
    status, text = message_of(server_groups.list_groups(context(), request("GET", **query), {}))
    assert (status, text[: len(message)]) == (400, message)


def test_delete_is_one_delete_of_the_configmap_then_204_and_forgotten() -> None:
    store = ServerGroupStore()
    created = group_configmap()
    store.replace_all([created])
    forward = as_forward(
        server_groups.delete_group(context(store=store), request("DELETE"), {"server_group_id": GROUP_ID})
    )
    assert forward.upstream.method == "DELETE"
    assert forward.upstream.path.endswith(f"/configmaps/openstack-server-group-{GROUP_ID}")
    success = {
        "kind": "Status",
        "status": "Success",
        "details": {
            "name": configmap_name(GROUP_ID),
            "kind": "configmaps",
            "uid": created["metadata"]["uid"],
        },
    }
    answered = forward.translate(reply(200, success))
    assert isinstance(answered, Reply) and (answered.status, answered.body) == (204, b"")
    assert store.policy("demo", GROUP_ID) is None
    # A late watch event of the deleted group does not bring it back.
    store.apply_event("MODIFIED", created)
    assert store.policy("demo", GROUP_ID) is None


def test_delete_of_a_missing_group_is_novas_404() -> None:
    forward = as_forward(
        server_groups.delete_group(context(), request("DELETE"), {"server_group_id": GROUP_ID})
    )
    assert message_of(forward.translate(reply(404, {"kind": "Status", "code": 404}))) == (
        404,
        f"Instance group {GROUP_ID} could not be found.",
    )


# -- the store, fed by the ConfigMap watch -------------------------------------------------------------


def test_the_configmap_watch_feeds_the_store() -> None:
    store = ServerGroupStore()
    watch = CatalogWatch(CatalogStore(), api_client=None, server_groups=store)  # type: ignore[arg-type]
    other_id = str(uuid.uuid4())
    other = group_configmap("affinity", group_id=other_id, tenant="other")
    watch._listed([group_configmap(), other])
    assert store.synced
    assert store.policy("demo", GROUP_ID) == "anti-affinity"
    assert store.policy("demo", other_id) is None
    assert store.policy("other", other_id) == "affinity"
    watch._changed("DELETED", other)
    assert store.policy("other", other_id) is None


def test_a_configmap_not_written_by_the_gateway_is_no_group() -> None:
    forged = group_configmap()
    forged["metadata"]["name"] = "something-else"
    assert server_group_store.from_configmap(forged) is None
    bad_policy = group_configmap()
    bad_policy["data"]["policy"] = "spread"
    assert server_group_store.from_configmap(bad_policy) is None


# -- server create with the group hint ---------------------------------------------------------------------


def server_body(
    group: str | None = GROUP_ID, key: str = "os:scheduler_hints", **server: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"server": {"name": "vm1", "imageRef": IMAGE_ID, "flavorRef": "1", **server}}
    if group is not None:
        body[key] = {"group": group, "other_hint": "ignored"}
    return body


def created_pod(ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    forward = as_forward(server_create.create_server(ctx, request("POST", body), {}))
    assert forward.upstream.body is not None
    pod: dict[str, Any] = orjson.loads(forward.upstream.body)
    return pod


def term() -> dict[str, Any]:
    return {
        "labelSelector": {"matchLabels": {SERVER_GROUP_LABEL: GROUP_ID}},
        "topologyKey": "kubernetes.io/hostname",
    }


@pytest.mark.parametrize(
    ("policy", "affinity"),
    [
        ("anti-affinity", {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term()]}}),
        ("affinity", {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term()]}}),
        (
            "soft-anti-affinity",
            {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 100, "podAffinityTerm": term()}
                    ]
                }
            },
        ),
        (
            "soft-affinity",
            {
                "podAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 100, "podAffinityTerm": term()}
                    ]
                }
            },
        ),
    ],
)
def test_a_member_pod_carries_the_group_label_and_its_policy_as_affinity(
    policy: str, affinity: dict[str, Any]
) -> None:
    store = ServerGroupStore()
    store.replace_all([group_configmap(policy)])
    pod = created_pod(context(store=store), server_body())
    assert pod["metadata"]["labels"][SERVER_GROUP_LABEL] == GROUP_ID
    assert pod["spec"]["affinity"] == affinity
    assert pod["spec"]["virtualMachine"]["image"]  # the rest of the pod is build_pod's


def test_the_legacy_hint_key_and_an_upper_case_uuid_name_the_same_group() -> None:
    store = ServerGroupStore()
    store.replace_all([group_configmap()])
    pod = created_pod(context(store=store), server_body(GROUP_ID.upper(), key="OS-SCH-HNT:scheduler_hints"))
    assert pod["metadata"]["labels"][SERVER_GROUP_LABEL] == GROUP_ID


def test_a_batch_template_carries_the_group_too() -> None:
    pod = server_groups.join_group(
        {"metadata": {"labels": {"a": "b"}}, "spec": {"virtualMachine": {}}}, GROUP_ID, "anti-affinity"
    )
    template = batch.build_replicaset(pod, "r-abc", 2)["spec"]["template"]
    assert template["metadata"]["labels"][SERVER_GROUP_LABEL] == GROUP_ID
    assert template["metadata"]["labels"]["a"] == "b"
    assert "podAntiAffinity" in template["spec"]["affinity"]


def test_a_create_without_hint_has_no_affinity() -> None:
    store = ServerGroupStore()
    store.replace_all([group_configmap()])
    pod = created_pod(context(store=store), server_body(group=None))
    assert "affinity" not in pod["spec"]
    assert SERVER_GROUP_LABEL not in pod["metadata"]["labels"]


def test_a_hint_that_is_no_uuid_is_novas_400() -> None:
    status, text = message_of(server_create.create_server(context(), request("POST", server_body("g1")), {}))
    assert status == 400
    # Nova's hint is a UUID or a list of them (schemas/servers.py _hints): jsonschema's oneOf wording.
    reason = "'g1' is not valid under any of the given schemas"
    assert text == f"Invalid input for field/attribute group. Value: g1. {reason}"


def test_an_unknown_group_is_novas_400_before_anything_is_created() -> None:
    store = ServerGroupStore()
    store.replace_all([group_configmap(tenant="other")])
    outcome = server_create.create_server(context(store=store), request("POST", server_body()), {})
    assert message_of(outcome) == (400, f"Instance group {GROUP_ID} could not be found.")


def test_an_unproven_token_asks_arktos_for_the_group_first() -> None:
    store = ServerGroupStore()
    store.replace_all([group_configmap()])
    forward = as_forward(
        server_create.create_server(context(store=store, proven=False), request("POST", server_body()), {})
    )
    # Not the pod create: one GET of the group's ConfigMap with the client's token.
    assert (forward.upstream.method, forward.upstream.path) == (
        "GET",
        f"/api/v1/tenants/demo/namespaces/default/configmaps/openstack-server-group-{GROUP_ID}",
    )
    missing = {"kind": "Status", "code": 404, "reason": "NotFound"}
    assert message_of(forward.translate(reply(404, missing))) == (
        400,
        f"Instance group {GROUP_ID} could not be found.",
    )
    forbidden = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "no"}
    assert message_of(forward.translate(reply(403, forbidden)))[0] == 403
    assert message_of(forward.translate(reply(200, group_configmap())))[0] == 409


def test_the_store_is_not_asked_about_another_tenant_than_the_urls() -> None:
    store = ServerGroupStore()
    store.replace_all([group_configmap(tenant="other")])
    # A token proven in "demo" asking about a group of "other" under /compute/v2.1/other: Arktos first.
    forward = server_create.create_server(
        context(tenant="other", store=store), request("POST", server_body()), {}
    )
    assert as_forward(forward).upstream.method == "GET"
