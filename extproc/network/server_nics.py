"""A server create's ``networks`` -> the VM pod's network label and ``spec.nics`` (Nova's checks first).

Nova resolves every requested network before it creates anything (``_check_requested_networks``); so does
the gateway, from the watch-fed ``NetworkStore`` of the URL's tenant:

- absent or ``auto``: the tenant's default network, as today (no label: Arktos's ``default``; ``auto``
  names the tenant's Network ``default`` explicitly when it has one);
- ``none``: refused (400): Arktos gives every VM pod a network, so a server without one cannot exist;
- ``[{"uuid": <network id>, "fixed_ip": <ip>, "tag": ...}]``: one NIC per entry, ``eth0``, ``eth1``...,
  with ``ipAddress`` for a fixed IP (Arktos accepts several NICs, recorded from a real server);
  an unknown id is Nova's 400 ``Network <id> could not be found.``, a fixed IP outside the network's CIDRs
  Nova's 400 for an address Neutron refuses; a fixed IP with ``max_count`` > 1 Nova's 400;
- NICs on two different networks: 400, because a pod names ONE network (its label), so Arktos can attach
  a VM to one network only;
- ``{"port": <id>}``: Nova's 400 ``Port id <id> could not be found.``: ports are the NICs of servers (read
  only), so there is never a free port to attach.

A refusal read from the store is told only after Arktos has admitted the caller to the tenant
(``arktos_first``), so nobody learns which network ids exist in another tenant; a network id found in the
store but belonging to another tenant is "not found" in the URL's tenant, as in Nova.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from extproc import arktos_paths
from extproc.arktos_first import refuse_after_arktos
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, echo
from extproc.messages import Outcome
from extproc.network.objects import DEFAULT_NETWORK, ArktosNetwork, contains

Json = dict[str, Any]

NONE_REFUSED = (
    "Arktos attaches every server to a network: networks 'none' is not supported (omit networks, or ask "
    "for 'auto' or a network)."
)
ONE_NETWORK = (
    "Arktos attaches a server to one network: every requested network must be the same network "
    "(several NICs on it are accepted)."
)
FIXED_IP_AND_MAX_COUNT = "max_count cannot be greater than 1 if an fixed_ip is specified."


@dataclass(frozen=True, slots=True)
class NicPlan:
    """What the pod gets: the Arktos name of its network (None: no label, Arktos's default) and NICs."""

    network: str | None = None
    nics: tuple[Json, ...] = field(default_factory=tuple)


def _canonical(network_id: str) -> str:
    """Neutron's spelling of a UUID-like id (Nova accepts any case, with or without dashes or braces)."""
    try:
        return str(uuid.UUID(network_id))
    except ValueError:
        return network_id


def network_not_found(network_id: str) -> str:
    return f"Network {echo(network_id)} could not be found."


def _refused_from_store(ctx: RequestContext, token: str | None, tenant: str, message: str) -> Outcome:
    if ctx.networks is None:
        # No Network watch (a processor without Arktos): nobody's networks were consulted, nothing to hide.
        return bad_request(Service.COMPUTE, message)
    probe = arktos_paths.networks(tenant)
    return refuse_after_arktos(ctx, token, bad_request(Service.COMPUTE, message), tenant, probe)


def plan(ctx: RequestContext, token: str | None, requested: Any, max_count: int) -> NicPlan | Outcome:
    """The pod's network for the create body's ``networks`` value (already schema-checked), or the answer."""
    if requested is None:
        return NicPlan()
    if requested == "none":
        return bad_request(Service.COMPUTE, NONE_REFUSED)
    tenant = ctx.tenant
    store = ctx.networks
    if requested == "auto":
        named = store.by_name(tenant, DEFAULT_NETWORK) if store is not None and tenant else None
        return NicPlan(network=named.name if named is not None else None)
    entries: Sequence[Json] = [e for e in requested if isinstance(e, dict)]
    if not entries:
        return NicPlan()
    for entry in entries:
        if entry.get("port"):
            return bad_request(Service.COMPUTE, f"Port id {echo(entry['port'])} could not be found.")
    if any(entry.get("fixed_ip") for entry in entries) and max_count > 1:
        return bad_request(Service.COMPUTE, FIXED_IP_AND_MAX_COUNT)
    if tenant is None:
        return bad_request(
            Service.COMPUTE,
            "networks needs the project in the compute URL (/compute/v2.1/<project>/servers), as the service "
            "catalog gives it.",
        )
    chosen: list[ArktosNetwork] = []
    for entry in entries:
        network_id = _canonical(str(entry.get("uuid") or ""))
        found = store.by_uid(network_id) if store is not None else None
        if found is None or found.tenant != tenant:
            return _refused_from_store(ctx, token, tenant, network_not_found(network_id))
        chosen.append(found)
    for entry, network in zip(entries, chosen, strict=True):
        ip = entry.get("fixed_ip")
        if ip and network.cidrs and not contains(network, str(ip)):
            message = (
                f"Invalid input received: Fixed IP {echo(ip)} is not a valid ip address for network "
                f"{network.uid}."
            )
            return _refused_from_store(ctx, token, tenant, message)
    if len({n.uid for n in chosen}) > 1:
        return bad_request(Service.COMPUTE, ONE_NETWORK)
    nics: list[Json] = []
    for index, entry in enumerate(entries):
        nic: Json = {"name": f"eth{index}"}
        if entry.get("fixed_ip"):
            nic["ipAddress"] = str(entry["fixed_ip"])
        if entry.get("tag"):
            nic["tag"] = str(entry["tag"])
        nics.append(nic)
    return NicPlan(network=chosen[0].name, nics=tuple(nics))
