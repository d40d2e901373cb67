"""extproc.network: Neutron's networks, subnets, ports and security groups over Arktos Network objects,
and a server create's ``networks`` as the VM pod's network label and NICs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from extproc import routes
from extproc.catalog import CatalogStore
from extproc.cluster_cache import POD, ClusterCache
from extproc.compute import server_create
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.errors import Service, error_body
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from extproc.network import filters, handlers, objects, schemas, server_nics, views
from extproc.network.store import NetworkStore
from extproc.tenant_proofs import TenantProofs
from tests.shared_fixtures import ARKTOS_FIXTURES

PUBLIC = "http://gw.example:8080"
TOKEN = "demo-token"
NET1_UID = "456a7cd8-f5e6-494f-936a-737cab7cf04d"
NET2_UID = "61e09ae8-0635-44f8-ad32-9984b54a16d9"
OTHER_UID = "0b5b7a34-3c55-4d7e-9d7c-5b2f7f1e0a11"


def recorded(number: str) -> dict[str, Any]:
    (path,) = ARKTOS_FIXTURES.glob(f"{number}-*.json")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def network_object(name: str, uid: str, tenant: str = "demo", **spec: Any) -> dict[str, Any]:
    """Fixture 47's Network, with the placeholders filled in."""
    obj = recorded("47")["body"]
    obj["metadata"].update(
        {"name": name, "uid": uid, "tenant": tenant, "resourceVersion": "225"},
        creationTimestamp="2026-11-30T09:10:34Z",
    )
    obj["spec"].update(spec)
    return obj


def store_with(*objs: dict[str, Any]) -> NetworkStore:
    store = NetworkStore()
    store.replace_all(list(objs))
    return store


def vm_pod(name: str, tenant: str = "demo", network: str | None = None, **spec: Any) -> dict[str, Any]:
    labels = {objects.NETWORK_LABEL: network} if network else {}
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "tenant": tenant,
            "namespace": "default",
            "labels": labels,
            "resourceVersion": "1",
            "creationTimestamp": "2026-11-30T09:12:00Z",
        },
        "spec": {"virtualMachine": {"name": "vm", "image": "x"}, **spec},
        "status": {"phase": "Running", "podIP": "10.244.0.7", "nicStatuses": []},
    }


def context(
    store: NetworkStore | None = None,
    tenant: str | None = None,
    cluster: ClusterCache | None = None,
    proofs: TenantProofs | None = None,
) -> RequestContext:
    return RequestContext(
        GatewayConfig(public_url=PUBLIC),
        CatalogStore(),
        "req-1",
        tenant,
        cluster=cluster,
        proofs=proofs,
        networks=store,
    )


def request(method: str, path: str = "/", body: Any = None, **query: Any) -> ClientRequest:
    data = orjson.dumps(body) if body is not None else b""
    multi = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    return ClientRequest(method, path, multi, {"x-auth-token": TOKEN}, data)


def arktos(status: int, body: Any) -> ArktosReply:
    return ArktosReply(status, {"content-type": "application/json"}, orjson.dumps(body))


def as_forward(outcome: Outcome) -> Forward:
    assert isinstance(outcome, Forward), outcome
    return outcome


def as_reply(outcome: Outcome) -> Reply:
    assert isinstance(outcome, Reply), outcome
    return outcome


def translated(outcome: Outcome, reply: ArktosReply) -> Reply:
    result = as_forward(outcome).translate(reply)
    assert isinstance(result, Reply)
    return result


def body_of(reply: Reply) -> Any:
    return orjson.loads(reply.body)


def neutron_error(reply: Reply) -> tuple[int, str, str]:
    error = body_of(reply)["NeutronError"]
    assert error["detail"] == ""
    return reply.status, error["type"], error["message"]


def network_list(*objs: dict[str, Any]) -> ArktosReply:
    listed = recorded("48")["body"]
    listed["items"] = list(objs)
    return arktos(200, listed)


# ------------------------------------------------------------------------------------------------ views


def test_a_recorded_network_as_neutron_shows_it() -> None:
    network = objects.from_object(network_object("net1", NET1_UID))
    assert network is not None
    view = views.network_view(network)
    assert (view["id"], view["name"], view["project_id"], view["status"]) == (
        NET1_UID,
        "net1",
        "demo",
        "ACTIVE",
    )
    ((subnet),) = views.subnet_views(network)
    assert view["subnets"] == [subnet["id"]]
    assert (subnet["cidr"], subnet["ip_version"], subnet["network_id"]) == ("10.10.0.0/24", 4, NET1_UID)
    assert subnet["allocation_pools"] == [{"start": "10.10.0.1", "end": "10.10.0.254"}]
    assert (view["shared"], view["router:external"], view["admin_state_up"]) == (False, False, True)


@pytest.mark.parametrize(
    ("phase", "status"),
    [
        ("Ready", "ACTIVE"),
        ("Pending", "BUILD"),
        ("Failed", "ERROR"),
        ("Terminating", "DOWN"),
        (None, "ACTIVE"),
    ],
)
def test_network_status_follows_the_phase(phase: str | None, status: str) -> None:
    obj = network_object("net1", NET1_UID)
    if phase is not None:
        obj["status"] = {"phase": phase}
    network = objects.from_object(obj)
    assert network is not None
    assert views.network_view(network)["status"] == status


def test_the_neutron_name_is_the_display_name_annotation() -> None:
    obj = network_object("net-0a1b2c", NET1_UID)
    obj["metadata"]["annotations"] = {objects.DISPLAY_NAME: "My network"}
    network = objects.from_object(obj)
    assert network is not None
    assert (network.name, views.network_view(network)["name"]) == ("net-0a1b2c", "My network")


def test_a_new_network_is_named_after_a_label_name_else_generated() -> None:
    made = objects.new_object("net1", "flat")
    assert made["metadata"]["name"] == "net1"
    assert made["spec"] == {"type": "flat", "service": {"ipam": "Kubernetes"}}
    assert made["metadata"]["annotations"][objects.DISPLAY_NAME] == "net1"
    other = objects.new_object("My Net", "vxlan")
    assert other["metadata"]["name"].startswith("net-") and other["spec"]["type"] == "vxlan"


def test_ports_are_the_nics_of_a_vm_pod() -> None:
    network = objects.from_object(network_object("net1", NET1_UID))
    pod = vm_pod(
        "vm1",
        network="net1",
        nics=[{"name": "eth0", "ipAddress": "10.10.0.5"}, {"name": "eth1"}],
    )
    pod["status"]["podIP"] = "10.10.0.5"
    pod["status"]["nicStatuses"] = [{"name": "eth0", "portID": "p-0", "state": "Ready"}]
    first, second = views.port_views(pod, network, "demo")
    assert (first["id"], first["device_id"], first["device_owner"], first["status"]) == (
        "p-0",
        "vm1",
        "compute:nova",
        "ACTIVE",
    )
    assert network is not None
    (subnet,) = views.subnet_views(network)
    assert first["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.10.0.5"}]
    assert first["network_id"] == NET1_UID and first["mac_address"].startswith("fa:16:3e:")
    # A NIC with no address of its own: no fixed IP, a stable derived id, DOWN until reported.
    assert (second["fixed_ips"], second["status"]) == ([], "DOWN")
    assert second["id"] == views.port_views(pod, network, "demo")[1]["id"]


def test_a_pod_without_nics_has_one_port_on_the_default_network() -> None:
    (port,) = views.port_views(vm_pod("vm1"), None, "demo")
    assert port["network_id"] == views.default_network_id("demo")
    assert port["fixed_ips"] == [{"ip_address": "10.244.0.7"}]


def test_the_port_mac_is_the_one_server_addresses_show() -> None:
    from extproc.compute.server_fields import addresses

    pod = vm_pod("vm1", network="net1")
    (port,) = views.port_views(pod, None, "demo")
    (entry,) = addresses(pod)["net1"]
    assert entry["OS-EXT-IPS-MAC:mac_addr"] == port["mac_address"]


def test_server_addresses_list_the_fixed_ips_of_every_nic() -> None:
    from extproc.compute.server_fields import addresses

    pod = vm_pod("vm1", network="net1", nics=[{"name": "eth0"}, {"name": "eth1", "ipAddress": "10.10.0.9"}])
    assert [e["addr"] for e in addresses(pod)["net1"]] == ["10.244.0.7", "10.10.0.9"]


def test_the_default_security_group_allows_everything() -> None:
    group = views.default_security_group("demo")
    assert group["name"] == "default"
    assert {
        (r["direction"], r["ethertype"], r["remote_ip_prefix"]) for r in group["security_group_rules"]
    } == {
        ("ingress", "IPv4", "0.0.0.0/0"),
        ("ingress", "IPv6", "::/0"),
        ("egress", "IPv4", "0.0.0.0/0"),
        ("egress", "IPv6", "::/0"),
    }


# ---------------------------------------------------------------------------------------------- filters


def test_filters_as_neutron_reads_them() -> None:
    items = [{"id": "a", "name": "x", "shared": False}, {"id": "b", "name": "y", "shared": True}]
    query = filters.parse({"shared": ["False"], "fields": ["id"]}, ["id", "name", "shared"])
    assert isinstance(query, filters.ListQuery)
    assert filters.apply(items, query) == [{"id": "a"}]
    both = filters.parse({"id": ["a", "b"]}, ["id"])
    assert isinstance(both, filters.ListQuery) and len(filters.apply(items, both)) == 2
    assert filters.parse({"colour": ["red"]}, ["id"]) == "[colour] is invalid attribute for filtering"
    assert isinstance(filters.parse({"id": ["a"] * 101}, ["id"]), str)


def test_fixed_ips_filter_by_address() -> None:
    items = [{"fixed_ips": [{"ip_address": "10.0.0.5"}]}, {"fixed_ips": []}]
    query = filters.parse({"fixed_ips": ["ip_address=10.0.0.5"]}, ["fixed_ips"])
    assert isinstance(query, filters.ListQuery)
    assert filters.apply(items, query) == [items[0]]


# ---------------------------------------------------------------------------------------------- schemas


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "Resource body required"),
        ({"network": {"name": "n", "colour": 1}}, "Unrecognized attribute(s) 'colour'"),
        ({"network": {"name": 5}}, "Invalid input for name. Reason: '5' is not a valid string."),
        ({"network": {"name": "n", "shared": True}}, "Invalid input for shared."),
        ({"network": {"name": "n", "admin_state_up": False}}, "Invalid input for admin_state_up."),
        ({"network": {"name": "n", "router:external": True}}, "Invalid input for router:external."),
    ],
)
def test_network_create_refusals(body: Any, problem: str) -> None:
    found = schemas.network_create(body)
    assert isinstance(found, str) and found.startswith(problem)


def test_what_osc_sends_is_a_valid_create() -> None:
    assert schemas.network_create(
        {"network": {"name": "net1", "admin_state_up": True}}
    ) == schemas.NetworkCreate("net1")
    assert schemas.network_update({"network": {"name": "net2"}}) == schemas.NetworkUpdate("net2")
    assert isinstance(schemas.network_update({"network": {"mtu": 9000}}), str)


def test_neutron_error_shape() -> None:
    assert orjson.loads(error_body(Service.NETWORK, 404, "gone")) == {
        "NeutronError": {"type": "HTTPNotFound", "message": "gone", "detail": ""}
    }


# --------------------------------------------------------------------------------------------- handlers


def test_list_networks_is_the_callers_list_translated() -> None:
    outcome = handlers.list_networks(context(), request("GET", name="net1"), {})
    upstream = as_forward(outcome).upstream
    assert (upstream.method, upstream.path) == ("GET", "/apis/arktos.futurewei.com/v1/networks")
    reply = translated(
        outcome, network_list(network_object("net1", NET1_UID), network_object("net2", NET2_UID))
    )
    assert [n["id"] for n in body_of(reply)["networks"]] == [NET1_UID]


def test_list_networks_refuses_an_unknown_filter_before_arktos() -> None:
    reply = as_reply(handlers.list_networks(context(), request("GET", colour="red"), {}))
    assert neutron_error(reply) == (400, "HTTPBadRequest", "[colour] is invalid attribute for filtering")


def test_show_network_of_another_id_is_not_found() -> None:
    outcome = handlers.show_network(context(), request("GET"), {"network_id": OTHER_UID})
    reply = translated(outcome, network_list(network_object("net1", NET1_UID)))
    assert neutron_error(reply) == (404, "NetworkNotFound", f"Network {OTHER_UID} could not be found.")


def test_a_refused_read_is_neutrons_403() -> None:
    outcome = handlers.list_networks(context(), request("GET"), {})
    refusal = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403}
    assert translated(outcome, arktos(403, refusal)).status == 403


def test_create_network_posts_the_object_and_shows_arktos_answer() -> None:
    store = NetworkStore()
    outcome = handlers.create_network(
        context(store), request("POST", body={"network": {"name": "net1", "admin_state_up": True}}), {}
    )
    upstream = as_forward(outcome).upstream
    assert (upstream.method, upstream.path) == ("POST", "/apis/arktos.futurewei.com/v1/networks")
    assert upstream.body is not None
    sent = orjson.loads(upstream.body)
    assert (sent["metadata"]["name"], sent["spec"]["type"]) == ("net1", "flat")
    reply = translated(outcome, arktos(201, network_object("net1", NET1_UID)))
    assert reply.status == 201 and body_of(reply)["network"]["id"] == NET1_UID
    assert store.by_uid(NET1_UID) is not None  # read-your-writes


def test_create_network_with_a_taken_name_is_a_conflict() -> None:
    outcome = handlers.create_network(context(), request("POST", body={"network": {"name": "net1"}}), {})
    taken = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": "AlreadyExists",
        "code": 409,
    }
    assert translated(outcome, arktos(409, taken)).status == 409


def test_delete_network_goes_to_its_tenant_with_the_uid_as_precondition() -> None:
    store = store_with(network_object("net1", NET1_UID))
    outcome = handlers.delete_network(context(store), request("DELETE"), {"network_id": NET1_UID})
    upstream = as_forward(outcome).upstream
    assert (upstream.method, upstream.path) == (
        "DELETE",
        "/apis/arktos.futurewei.com/v1/tenants/demo/networks/net1",
    )
    assert upstream.body is not None
    assert orjson.loads(upstream.body)["preconditions"] == {"uid": NET1_UID}
    deleted = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    assert translated(outcome, arktos(200, deleted)).status == 204
    assert store.by_uid(NET1_UID) is None


def test_delete_of_an_unknown_or_foreign_network_is_not_found() -> None:
    store = store_with(network_object("net1", NET1_UID, tenant="alt"))
    unknown = as_reply(handlers.delete_network(context(store), request("DELETE"), {"network_id": OTHER_UID}))
    assert neutron_error(unknown)[:2] == (404, "NetworkNotFound")
    outcome = handlers.delete_network(context(store), request("DELETE"), {"network_id": NET1_UID})
    forbidden = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": "Forbidden",
        "code": 403,
    }
    # Arktos refuses the caller in that tenant: the same answer as an unknown id.
    assert neutron_error(translated(outcome, arktos(403, forbidden)))[:2] == (404, "NetworkNotFound")


def _cluster_with(*pods: dict[str, Any]) -> ClusterCache:
    cluster = ClusterCache()
    cluster.apply_list(POD, list(pods))
    return cluster


def test_delete_of_a_network_in_use_is_409_once_arktos_admitted_the_caller() -> None:
    store = store_with(network_object("net1", NET1_UID))
    cluster = _cluster_with(vm_pod("vm1", network="net1"))
    # Neutron's URL names no tenant, so the cache's refusal always follows one GET with the client's token.
    outcome = handlers.delete_network(
        context(store, cluster=cluster), request("DELETE"), {"network_id": NET1_UID}
    )
    probe = as_forward(outcome).upstream
    assert (probe.method, probe.path) == ("GET", "/apis/arktos.futurewei.com/v1/tenants/demo/networks/net1")
    in_use = translated(outcome, arktos(200, network_object("net1", NET1_UID)))
    assert neutron_error(in_use)[:2] == (409, "NetworkInUse")
    # Arktos refuses the caller there: the 404 of an unknown id (nothing learnt about the other tenant).
    forbidden = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": "Forbidden",
        "code": 403,
    }
    assert neutron_error(translated(outcome, arktos(403, forbidden)))[:2] == (404, "NetworkNotFound")


def test_update_network_renames_it_through_a_uid_guarded_merge_patch() -> None:
    store = store_with(network_object("net1", NET1_UID))
    outcome = handlers.update_network(
        context(store), request("PUT", body={"network": {"name": "renamed"}}), {"network_id": NET1_UID}
    )
    upstream = as_forward(outcome).upstream
    assert (upstream.method, upstream.content_type) == ("PATCH", "application/merge-patch+json")
    assert upstream.body is not None
    assert orjson.loads(upstream.body) == {
        "metadata": {"uid": NET1_UID, "annotations": {objects.DISPLAY_NAME: "renamed"}}
    }
    renamed = network_object("net1", NET1_UID)
    renamed["metadata"]["annotations"] = {objects.DISPLAY_NAME: "renamed"}
    assert body_of(translated(outcome, arktos(200, renamed)))["network"]["name"] == "renamed"
    recreated = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422}
    assert translated(outcome, arktos(422, recreated)).status == 404


def test_subnets_are_the_cidrs_of_the_callers_networks() -> None:
    outcome = handlers.list_subnets(context(), request("GET", network_id=NET1_UID), {})
    reply = translated(
        outcome,
        network_list(
            network_object("net1", NET1_UID), network_object("net2", NET2_UID, service={"cidrs": []})
        ),
    )
    (subnet,) = body_of(reply)["subnets"]
    assert subnet["cidr"] == "10.10.0.0/24"


def test_port_list_of_one_server_reads_that_pod() -> None:
    store = store_with(network_object("net1", NET1_UID))
    outcome = handlers.list_ports(context(store), request("GET", device_id="vm1"), {})
    assert as_forward(outcome).upstream.path == "/api/v1/namespaces/default/pods/vm1"
    (port,) = body_of(translated(outcome, arktos(200, {"kind": "Pod", **vm_pod("vm1", network="net1")})))[
        "ports"
    ]
    assert (port["device_id"], port["network_id"]) == ("vm1", NET1_UID)
    missing = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
    assert body_of(translated(outcome, arktos(404, missing))) == {"ports": []}
    # A device id that cannot be a server: no port, nothing asked.
    assert body_of(as_reply(handlers.list_ports(context(store), request("GET", device_id="A B"), {}))) == {
        "ports": []
    }


def test_security_groups_read_the_tenant_from_arktos_and_refuse_writes() -> None:
    outcome = handlers.list_security_groups(context(), request("GET"), {})
    assert as_forward(outcome).upstream.path == "/api/v1/namespaces/default"
    namespace = recorded("02")["body"]
    (group,) = body_of(translated(outcome, arktos(200, namespace)))["security_groups"]
    assert (group["name"], group["project_id"]) == ("default", namespace["metadata"]["tenant"])
    refused = handlers.security_groups_read_only(context(), request("POST"), {})
    assert refused.status == 404 and "read-only on Arktos" in neutron_error(refused)[2]


def test_routes_name_the_neutron_handlers() -> None:
    match = routes.resolve("GET", f"/networking/v2.0/networks/{NET1_UID}")
    assert isinstance(match, routes.Match) and match.route.handler is handlers.show_network
    by_name = routes.resolve("GET", "/networking/v2.0/networks/net1")
    assert isinstance(by_name, Reply)
    assert neutron_error(by_name) == (404, "HTTPNotFound", "Network net1 could not be found.")
    versions = routes.resolve("GET", "/networking/")
    assert isinstance(versions, routes.Match) and versions.route.public


# --------------------------------------------------------------------------------- server create on networks


def plan(ctx: RequestContext, requested: Any, max_count: int = 1) -> server_nics.NicPlan | Outcome:
    return server_nics.plan(ctx, TOKEN, requested, max_count)


def proven_context(store: NetworkStore) -> RequestContext:
    proofs = TenantProofs()
    proofs.record(TOKEN, "/api/v1/tenants/demo/namespaces/default/pods", 200)
    return context(store, tenant="demo", proofs=proofs)


def fault(outcome: Any) -> tuple[int, str]:
    reply = as_reply(outcome)
    ((_, value),) = body_of(reply).items()
    return reply.status, value["message"]


def test_networks_become_the_pod_label_and_nics() -> None:
    ctx = proven_context(store_with(network_object("net1", NET1_UID)))
    chosen = plan(ctx, [{"uuid": NET1_UID}, {"uuid": NET1_UID.upper(), "fixed_ip": "10.10.0.5"}])
    assert chosen == server_nics.NicPlan(
        network="net1", nics=({"name": "eth0"}, {"name": "eth1", "ipAddress": "10.10.0.5"})
    )


def test_no_networks_or_auto_without_a_default_network_is_todays_create() -> None:
    ctx = proven_context(store_with(network_object("net1", NET1_UID)))
    assert plan(ctx, None) == server_nics.NicPlan()
    assert plan(ctx, "auto") == server_nics.NicPlan()
    with_default = proven_context(store_with(network_object("default", NET2_UID)))
    assert plan(with_default, "auto") == server_nics.NicPlan(network="default")


@pytest.mark.parametrize(
    ("requested", "max_count", "message"),
    [
        ([{"uuid": OTHER_UID}], 1, f"Network {OTHER_UID} could not be found."),
        (
            [{"uuid": NET1_UID, "fixed_ip": "192.168.1.5"}],
            1,
            f"Invalid input received: Fixed IP 192.168.1.5 is not a valid ip address for network {NET1_UID}.",
        ),
        ([{"uuid": NET1_UID, "fixed_ip": "10.10.0.5"}], 2, server_nics.FIXED_IP_AND_MAX_COUNT),
        ([{"uuid": NET1_UID}, {"uuid": NET2_UID}], 1, server_nics.ONE_NETWORK),
        ([{"port": OTHER_UID}], 1, f"Port id {OTHER_UID} could not be found."),
        ("none", 1, server_nics.NONE_REFUSED),
    ],
)
def test_nova_refuses_before_anything_is_created(requested: Any, max_count: int, message: str) -> None:
    store = store_with(network_object("net1", NET1_UID), network_object("net2", NET2_UID, service={}))
    assert fault(plan(proven_context(store), requested, max_count)) == (400, message)


def test_a_network_of_another_tenant_is_not_found_after_arktos_spoke() -> None:
    store = store_with(network_object("net1", NET1_UID, tenant="alt"))
    outcome = plan(context(store, tenant="demo"), [{"uuid": NET1_UID}])
    probe = as_forward(outcome)
    assert probe.upstream.path == "/apis/arktos.futurewei.com/v1/tenants/demo/networks"
    refusal = probe.translate(arktos(200, recorded("48")["body"]))
    assert fault(refusal) == (400, f"Network {NET1_UID} could not be found.")
    forbidden = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": "Forbidden",
        "code": 403,
    }
    refused = probe.translate(arktos(403, forbidden))
    assert isinstance(refused, Reply) and refused.status == 403


def test_create_server_puts_the_network_on_the_pod() -> None:
    ctx = proven_context(store_with(network_object("net1", NET1_UID)))
    body = {
        "server": {
            "name": "vm1",
            "imageRef": "cirros-0.5.2-x86_64-disk",
            "flavorRef": "1",
            "networks": [{"uuid": NET1_UID, "fixed_ip": "10.10.0.5"}],
        }
    }
    outcome = server_create.create_server(ctx, request("POST", body=body), {})
    upstream = as_forward(outcome).upstream
    assert upstream.body is not None
    pod: Mapping[str, Any] = orjson.loads(upstream.body)
    assert pod["metadata"]["labels"][objects.NETWORK_LABEL] == "net1"
    assert pod["spec"]["nics"] == [{"name": "eth0", "ipAddress": "10.10.0.5"}]


# ------------------------------------------------------------------------------- Nova's network proxy APIs


def test_nova_os_networks_answer_from_the_tenants_networks() -> None:
    from extproc.compute import networks as compute_networks

    ctx = context(tenant="demo")
    outcome = compute_networks.list_networks(ctx, request("GET"), {})
    assert as_forward(outcome).upstream.path == "/apis/arktos.futurewei.com/v1/tenants/demo/networks"
    (listed,) = body_of(translated(outcome, network_list(network_object("net1", NET1_UID))))["networks"]
    assert (listed["id"], listed["label"], listed["cidr"], listed["gateway"]) == (
        NET1_UID,
        "net1",
        None,
        None,
    )
    tenant = compute_networks.show_tenant_network(ctx, request("GET"), {"network_id": NET1_UID})
    shown = body_of(translated(tenant, network_list(network_object("net1", NET1_UID))))
    assert shown == {"network": {"id": NET1_UID, "cidr": "None", "label": "net1"}}
    missing = compute_networks.show_network(ctx, request("GET"), {"network_id": OTHER_UID})
    assert body_of(translated(missing, network_list())) == {
        "itemNotFound": {"code": 404, "message": "Network not found"}
    }
    by_name = routes.resolve("GET", "/compute/v2.1/demo/os-networks/net1")
    assert isinstance(by_name, Reply) and body_of(by_name)["itemNotFound"]["message"] == "Network not found"
