"""Neutron v2.0 handlers (``/networking/v2.0/...``): networks, subnets, ports, security groups.

Neutron's URLs name no project, so every Arktos call takes the caller's tenant from Arktos's short paths
(``/apis/arktos.futurewei.com/v1/networks``, ``/api/v1/namespaces/<ns>/pods``), and every read is the
client's own Arktos read, translated: Arktos authorizes it, and an id of another tenant's network is
simply not in the caller's list (404, as for an unknown id).

Writes name one network by id. The watch-fed ``NetworkStore`` gives its tenant and Arktos name; the write
goes to that tenant with the client's token and ``preconditions.uid`` (a patch tests the uid), so Arktos
authorizes it and it can never touch a recreated namesake. Arktos's 403 there reads as the 404 of an
unknown id: nobody learns which ids exist in another tenant. ``NetworkInUse`` (a VM pod of the tenant
still names the network) is decided from the cluster cache, so it is told only after Arktos has admitted
the caller to that tenant (``arktos_first``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson

from extproc import arktos_paths, client_json
from extproc.context import RequestContext
from extproc.errors import FORBIDDEN_MESSAGES, Service, echo, error_reply, from_arktos, network_error_reply
from extproc.ids import is_server_id
from extproc.messages import (
    JSON_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
)
from extproc.network import filters, objects, schemas, views
from extproc.network.objects import NETWORK_LABEL, ArktosNetwork

Json = dict[str, Any]

NEUTRON_VERSION = "v2.0"
# What a read-only security group answers to a write (module ``views``: Arktos filters no traffic).
SECURITY_GROUPS_READ_ONLY = (
    "The resource could not be found. Security groups are read-only on Arktos: it has no per-VM firewall "
    "the gateway could map without NetworkPolicies, so every server is in the project's default group, "
    "which allows all traffic."
)
# The extensions this facade implements (``GET /v2.0/extensions``): clients probe some before using them.
EXTENSIONS: tuple[tuple[str, str, str], ...] = (
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("security-group", "security-group", "The security groups extension (read only on Arktos)."),
    ("network_availability_zone", "Network Availability Zone", "Availability zone support for network."),
)


def _json(status: int, body: Any) -> Reply:
    return Reply(status=status, body=orjson.dumps(body), headers={"content-type": JSON_CONTENT_TYPE})


def network_not_found(network_id: str) -> Reply:
    return network_error_reply(404, "NetworkNotFound", f"Network {echo(network_id)} could not be found.")


def _arktos_error(reply: ArktosReply, not_found: Reply | None = None) -> Reply:
    """Arktos's refusal in Neutron's shape; 403 and 404 on a named object read as ``not_found``."""
    if not_found is not None and reply.status in (403, 404):
        return not_found
    if reply.status == 403:
        return network_error_reply(403, "PolicyNotAuthorized", FORBIDDEN_MESSAGES[Service.NETWORK])
    return from_arktos(Service.NETWORK, reply)


def _body(req: ClientRequest) -> Any | Reply:
    if not req.body:
        return error_reply(Service.NETWORK, 400, "Request body is missing.")
    try:
        return client_json.loads(req.body)
    except orjson.JSONDecodeError:
        return error_reply(Service.NETWORK, 400, "Malformed request body.")


def _load(reply: ArktosReply) -> Any:
    try:
        return orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None


# ------------------------------------------------------------------------------------------------ discovery


def versions(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    """``GET /networking/``: Neutron's version list (no token needed, as Neutron)."""
    href = f"{ctx.config.public_url}/networking/{NEUTRON_VERSION}/"
    return _json(
        200,
        {
            "versions": [
                {"id": NEUTRON_VERSION, "status": "CURRENT", "links": [{"href": href, "rel": "self"}]}
            ]
        },
    )


RESOURCES = ("network", "subnet", "port", "security_group", "security_group_rule", "floatingip")


def resources(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    """``GET /networking/v2.0``: the collections this facade serves."""
    base = f"{ctx.config.public_url}/networking/{NEUTRON_VERSION}"
    listed = []
    for name in RESOURCES:
        collection = f"{name}s".replace("_", "-")
        listed.append(
            {
                "name": name,
                "collection": collection,
                "links": [{"href": f"{base}/{collection}", "rel": "self"}],
            }
        )
    return _json(200, {"resources": listed})


def extensions(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    found = [
        {
            "alias": alias,
            "name": name,
            "description": text,
            "links": [],
            "updated": "2013-01-01T10:00:00-00:00",
        }
        for alias, name, text in EXTENSIONS
    ]
    return _json(200, {"extensions": found})


# ------------------------------------------------------------------------------------------------- networks


def _read_networks(ctx: RequestContext, answer: Callable[[list[ArktosNetwork]], Reply]) -> Forward:
    """The caller's networks, read from Arktos with the client's token, then ``answer``ed."""

    def translate(reply: ArktosReply) -> Reply:
        networks = objects.from_list(_load(reply)) if reply.status == 200 else None
        if networks is None:
            return _arktos_error(reply)
        return answer(networks)

    return Forward(ArktosRequest(method="GET", path=arktos_paths.networks(None)), translate)


def _listing(
    req: ClientRequest, collection: str, attributes: tuple[str, ...], build: Callable[[], list[Json]]
) -> Reply:
    query = filters.parse(req.query, attributes)
    if isinstance(query, str):
        return error_reply(Service.NETWORK, 400, query)
    return _json(200, {collection: filters.apply(build(), query)})


# Filterable attributes: those of the views (rendered once from an empty network).
_SAMPLE = objects.ArktosNetwork("", "", "", "", "", "", (), "", "", "")
NETWORK_ATTRIBUTES = tuple(views.network_view(_SAMPLE))


def list_networks(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    query = filters.parse(req.query, NETWORK_ATTRIBUTES)
    if isinstance(query, str):
        return error_reply(Service.NETWORK, 400, query)
    parsed = query

    def answer(networks: list[ArktosNetwork]) -> Reply:
        return _json(200, {"networks": filters.apply([views.network_view(n) for n in networks], parsed)})

    return _read_networks(ctx, answer)


def show_network(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    network_id = params["network_id"]

    def answer(networks: list[ArktosNetwork]) -> Reply:
        for network in networks:
            if network.uid == network_id:
                return _json(200, {"network": filters.fields_only(views.network_view(network), req.query)})
        return network_not_found(network_id)

    return _read_networks(ctx, answer)


def create_network(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    body = _body(req)
    if isinstance(body, Reply):
        return body
    create = schemas.network_create(body)
    if isinstance(create, str):
        return error_reply(Service.NETWORK, 400, create)
    obj = objects.new_object(create.name, ctx.config.network_type)
    store = ctx.networks

    def translate(reply: ArktosReply) -> Reply:
        created = objects.from_object(_load(reply) or {}) if reply.status in (200, 201) else None
        if created is None:
            if reply.status == 409:
                return error_reply(
                    Service.NETWORK,
                    409,
                    f"Arktos names networks uniquely in a project: a network named {echo(create.name)} "
                    "already exists.",
                )
            return _arktos_error(reply)
        if store is not None:
            store.put(created)
        return _json(201, {"network": views.network_view(created)})

    upstream = ArktosRequest(
        method="POST",
        path=arktos_paths.networks(None),
        body=orjson.dumps(obj),
        content_type=JSON_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


def _known(ctx: RequestContext, network_id: str) -> ArktosNetwork | None:
    return ctx.networks.by_uid(network_id) if ctx.networks is not None else None


def update_network(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    network_id = params["network_id"]
    body = _body(req)
    if isinstance(body, Reply):
        return body
    update = schemas.network_update(body)
    if isinstance(update, str):
        return error_reply(Service.NETWORK, 400, update)
    known = _known(ctx, network_id)
    if known is None:
        return network_not_found(network_id)
    store = ctx.networks
    # NOTE: a merge patch naming the uid: Arktos refuses it (409) if the name is now another network's.
    meta: Json = {"uid": known.uid}
    if update.name is not None:
        meta["annotations"] = {objects.DISPLAY_NAME: update.name}
    patch = {"metadata": meta}

    def translate(reply: ArktosReply) -> Reply:
        updated = objects.from_object(_load(reply) or {}) if reply.status == 200 else None
        if updated is None:
            if reply.status == 422:
                # The uid no longer matches: the network of that id was deleted (its name reused).
                return network_not_found(network_id)
            return _arktos_error(reply, network_not_found(network_id))
        if store is not None:
            store.put(updated)
        return _json(200, {"network": views.network_view(updated)})

    upstream = ArktosRequest(
        method="PATCH",
        path=arktos_paths.network(known.tenant, known.name),
        body=orjson.dumps(patch),
        content_type="application/merge-patch+json",
    )
    return Forward(upstream, translate)


def delete_network(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    network_id = params["network_id"]
    known = _known(ctx, network_id)
    if known is None:
        return network_not_found(network_id)
    cluster = ctx.cluster
    if cluster is not None and cluster.pods_with_label(
        known.tenant, ctx.config.namespace, NETWORK_LABEL, known.name
    ):
        in_use = network_error_reply(
            409,
            "NetworkInUse",
            f"Unable to complete operation on network {network_id}. There are one or more ports still in use "
            "on the network.",
        )
        # Told once Arktos has let the caller read that network (``arktos_first``); a refusal there is
        # the 404 of an unknown id, as for a delete of a network that is not in use.

        def refuse_once_admitted(reply: ArktosReply) -> Reply:
            if 200 <= reply.status < 300:
                return in_use
            return _arktos_error(reply, network_not_found(network_id))

        probe = ArktosRequest(method="GET", path=arktos_paths.network(known.tenant, known.name))
        return Forward(probe, refuse_once_admitted)
    store = ctx.networks

    def translate(reply: ArktosReply) -> Reply:
        if reply.status not in (200, 202):
            return _arktos_error(reply, network_not_found(network_id))
        if store is not None:
            store.remove(known.uid)
        return Reply(status=204)

    options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": known.uid}}
    upstream = ArktosRequest(
        method="DELETE",
        path=arktos_paths.network(known.tenant, known.name),
        body=orjson.dumps(options),
        content_type=JSON_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


# -------------------------------------------------------------------------------------------------- subnets


SUBNET_ATTRIBUTES = tuple(views.subnet_views(replace(_SAMPLE, cidrs=("10.0.0.0/24",)))[0])


def list_subnets(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    query = filters.parse(req.query, SUBNET_ATTRIBUTES)
    if isinstance(query, str):
        return error_reply(Service.NETWORK, 400, query)
    parsed = query

    def answer(networks: list[ArktosNetwork]) -> Reply:
        subnets = [s for n in networks for s in views.subnet_views(n)]
        return _json(200, {"subnets": filters.apply(subnets, parsed)})

    return _read_networks(ctx, answer)


def show_subnet(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    subnet_id = params["subnet_id"]

    def answer(networks: list[ArktosNetwork]) -> Reply:
        for network in networks:
            for subnet in views.subnet_views(network):
                if subnet["id"] == subnet_id:
                    return _json(200, {"subnet": filters.fields_only(subnet, req.query)})
        return network_error_reply(404, "SubnetNotFound", f"Subnet {echo(subnet_id)} could not be found.")

    return _read_networks(ctx, answer)


def subnets_read_only(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    return error_reply(
        Service.NETWORK,
        400,
        "Subnets are read-only on Arktos: a network's addresses are the CIDRs Arktos allocates from "
        "(spec.service.cidrs of its Network), set by the cloud's operator.",
    )


# ---------------------------------------------------------------------------------------------------- ports


PORT_ATTRIBUTES = tuple(views.port_views({}, None, "")[0])


def _vm_pods(body: Any) -> list[Mapping[str, Any]] | None:
    if isinstance(body, dict) and body.get("kind") == "Pod":
        items = [body]
    elif isinstance(body, dict) and isinstance(body.get("items"), list):
        items = body["items"]
    else:
        return None
    return [p for p in items if isinstance(p, dict) and (p.get("spec") or {}).get("virtualMachine")]


def _ports(ctx: RequestContext, pods: list[Mapping[str, Any]]) -> list[Json]:
    store = ctx.networks
    found: list[Json] = []
    for pod in pods:
        tenant = str((pod.get("metadata") or {}).get("tenant") or "system")
        name = objects.pod_network_name(pod)
        network = store.by_name(tenant, name) if store is not None else None
        found.extend(views.port_views(pod, network, tenant))
    return found


def list_ports(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    query = filters.parse(req.query, PORT_ATTRIBUTES)
    if isinstance(query, str):
        return error_reply(Service.NETWORK, 400, query)
    parsed = query
    device_ids = parsed.filters.get("device_id", ())
    if len(device_ids) == 1 and not is_server_id(device_ids[0]):
        return _json(200, {"ports": []})
    # One server's ports (``port list --server``): one GET of that pod; otherwise the namespace's pods.
    one = device_ids[0] if len(device_ids) == 1 else None
    path = (
        arktos_paths.pod(None, ctx.config.namespace, one)
        if one is not None
        else arktos_paths.pods(None, ctx.config.namespace)
    )

    def translate(reply: ArktosReply) -> Reply:
        if one is not None and reply.status == 404:
            return _json(200, {"ports": []})
        pods = _vm_pods(_load(reply)) if reply.status == 200 else None
        if pods is None:
            return _arktos_error(reply)
        return _json(200, {"ports": filters.apply(_ports(ctx, pods), parsed)})

    return Forward(ArktosRequest(method="GET", path=path), translate)


def show_port(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    port_id = params["port_id"]

    def translate(reply: ArktosReply) -> Reply:
        pods = _vm_pods(_load(reply)) if reply.status == 200 else None
        if pods is None:
            return _arktos_error(reply)
        for port in _ports(ctx, pods):
            if port["id"] == port_id:
                return _json(200, {"port": filters.fields_only(port, req.query)})
        return network_error_reply(404, "PortNotFound", f"Port {echo(port_id)} could not be found.")

    return Forward(ArktosRequest(method="GET", path=arktos_paths.pods(None, ctx.config.namespace)), translate)


def ports_read_only(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    return error_reply(
        Service.NETWORK,
        400,
        "Ports are read-only on Arktos: a port is a NIC of a server, made by the server's create "
        '(networks: [{"uuid": ..., "fixed_ip": ...}]).',
    )


# ------------------------------------------------------------------------------------------ security groups


SECURITY_GROUP_ATTRIBUTES = tuple(views.default_security_group(""))


def _with_tenant(answer: Callable[[str], Reply]) -> Forward:
    """``answer`` for the caller's tenant, once Arktos has named it (one GET of the caller's namespace)."""

    def translate(reply: ArktosReply) -> Reply:
        body = _load(reply) if reply.status == 200 else None
        meta = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(meta, dict):
            return _arktos_error(reply)
        return answer(str(meta.get("tenant") or "system"))

    return Forward(ArktosRequest(method="GET", path=arktos_paths.namespace("default")), translate)


def list_security_groups(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    query = filters.parse(req.query, SECURITY_GROUP_ATTRIBUTES)
    if isinstance(query, str):
        return error_reply(Service.NETWORK, 400, query)
    parsed = query
    return _with_tenant(
        lambda tenant: _json(
            200, {"security_groups": filters.apply([views.default_security_group(tenant)], parsed)}
        )
    )


def show_security_group(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    group_id = params["security_group_id"]

    def answer(tenant: str) -> Reply:
        group = views.default_security_group(tenant)
        if group["id"] != group_id:
            return network_error_reply(
                404, "SecurityGroupNotFound", f"Security group {echo(group_id)} does not exist"
            )
        return _json(200, {"security_group": filters.fields_only(group, req.query)})

    return _with_tenant(answer)


def list_security_group_rules(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    attributes = tuple(views.default_security_group("")["security_group_rules"][0])
    query = filters.parse(req.query, attributes)
    if isinstance(query, str):
        return error_reply(Service.NETWORK, 400, query)
    parsed = query
    return _with_tenant(
        lambda tenant: _json(
            200,
            {
                "security_group_rules": filters.apply(
                    views.default_security_group(tenant)["security_group_rules"], parsed
                )
            },
        )
    )


def security_groups_read_only(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    return network_error_reply(404, "HTTPNotFound", SECURITY_GROUPS_READ_ONLY)


def list_floating_ips(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Reply:
    """Arktos has no floating IPs (as Nova's ``/os-floating-ip-pools`` says): an empty list."""
    return _json(200, {"floatingips": []})
