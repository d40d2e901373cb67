"""Nova's network proxy APIs (``/os-networks``, ``/os-tenant-networks``, microversions up to 2.35) over
Arktos's Networks, for older clients: the same data as Neutron's ``/v2.0/networks`` (``extproc.network``),
read with the client's token in the URL's tenant.

Shapes as Nova answers them since nova-network is gone (``nova/api/openstack/compute/networks.py`` and
``tenant_networks.py``): ``os-networks`` shows ``id`` and ``label`` and every other nova-network field as
null (the admin-only fields are left out: Arktos alone knows whether the caller is an administrator);
``os-tenant-networks`` shows ``id``, ``label`` and ``cidr`` as the string ``"None"``. An unknown id is
Nova's 404 ``Network not found``. Writes were removed from Nova (410) and are not routed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from extproc import arktos_paths
from extproc.context import RequestContext
from extproc.errors import Service, error_reply, from_arktos
from extproc.messages import (
    JSON_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
)
from extproc.network import objects
from extproc.network.objects import ArktosNetwork

Json = dict[str, Any]

NOT_FOUND = "Network not found"
# nova-network's fields a non-admin sees (networks.py ``fields``): all null but id and label.
PROXY_FIELDS = (
    "id",
    "cidr",
    "netmask",
    "gateway",
    "broadcast",
    "dns1",
    "dns2",
    "cidr_v6",
    "gateway_v6",
    "label",
    "netmask_v6",
)


def proxy_view(network: ArktosNetwork) -> Json:
    view: Json = dict.fromkeys(PROXY_FIELDS)
    view.update(id=network.uid, label=network.display_name)
    return view


def tenant_view(network: ArktosNetwork) -> Json:
    # Nova's own comment: "yes, this is bananas, but this is what the API returned historically".
    return {"id": network.uid, "cidr": str(None), "label": network.display_name}


def _read(ctx: RequestContext, answer: Callable[[list[ArktosNetwork]], Reply]) -> Forward:
    def translate(reply: ArktosReply) -> Reply:
        body = None
        if reply.status == 200:
            try:
                body = orjson.loads(reply.body)
            except orjson.JSONDecodeError:
                body = None
        networks = objects.from_list(body)
        if networks is None:
            return from_arktos(Service.COMPUTE, reply)
        return answer(networks)

    return Forward(ArktosRequest(method="GET", path=arktos_paths.networks(ctx.tenant)), translate)


def _json(body: Json) -> Reply:
    return Reply(status=200, body=orjson.dumps(body), headers={"content-type": JSON_CONTENT_TYPE})


def _list(
    view: Callable[[ArktosNetwork], Json],
) -> Callable[[RequestContext, ClientRequest, Mapping[str, str]], Outcome]:
    def handler(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
        return _read(ctx, lambda networks: _json({"networks": [view(n) for n in networks]}))

    return handler


def _show(
    view: Callable[[ArktosNetwork], Json],
) -> Callable[[RequestContext, ClientRequest, Mapping[str, str]], Outcome]:
    def handler(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
        network_id = params["network_id"]

        def answer(networks: list[ArktosNetwork]) -> Reply:
            for network in networks:
                if network.uid == network_id:
                    return _json({"network": view(network)})
            return error_reply(Service.COMPUTE, 404, NOT_FOUND)

        return _read(ctx, answer)

    return handler


list_networks = _list(proxy_view)
show_network = _show(proxy_view)
list_tenant_networks = _list(tenant_view)
show_tenant_network = _show(tenant_view)
