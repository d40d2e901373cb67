"""What a server create may ask of the network: ``networks`` and ``security_groups``, checked as Nova does.

A VM pod joins its tenant's Arktos network; Arktos has no ports, no floating IPs and no security groups.
Nova refuses, with 400 and before anything is created, a create that asks for something its Neutron does
not have; so does the gateway, with the same words (nova/api/openstack/compute/servers.py
``_get_requested_networks``, nova/network/neutron.py ``validate_networks`` and ``_get_security_group_ids``):

- ``networks``: ``"auto"`` and ``"none"`` (2.37's strings, which the gateway parses at any version), or a
  list of ``{"uuid": <network id>}``: an id that is not a UUID is "Bad networks format", one the tenant
  has no network of is "Network <id> could not be found."; a ``port`` is "Port id <id> could not be
  found." (Arktos has no ports).
- ``security_groups``: only ``default`` exists (every VM pod is in it); any other name is
  "Security group <name> not found.".

Which network ids a tenant has is the caller's ``known_network``; nothing here reads the cluster. Server
create checks the tenant's networks in ``extproc.network.server_nics`` (from the Network watch, told after
Arktos admits the caller), which also refuses ``"none"`` (every Arktos VM pod is on a network).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_SECURITY_GROUP = "default"


@dataclass(frozen=True, slots=True)
class RequestedNetworking:
    """The networks (ids, in order) and the security group names a create asks for."""

    network_ids: tuple[str, ...] = ()
    port_ids: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()


def _is_uuid_like(value: str) -> bool:
    """oslo.utils ``uuidutils.is_uuid_like``: a UUID, dashes and case aside."""
    try:
        return str(uuid.UUID(value)).replace("-", "") == value.lower().replace("-", "").strip("{}")
    except ValueError:
        return False


def parse(server: Mapping[str, Any]) -> RequestedNetworking | str:
    """The create's networking (the schema has checked the shapes), or Nova's 400 message for a bad
    ``networks`` entry (checked in the API before anything else about the create)."""
    networks: Any = server.get("networks")
    network_ids: list[str] = []
    port_ids: list[str] = []
    if isinstance(networks, list):
        for network in networks:
            port = network.get("port")
            if port:
                if port in port_ids:
                    return f"Port ID '{port}' was specified twice: you cannot attach a port multiple times."
                port_ids.append(str(port))
                continue
            if "uuid" not in network:
                return "Bad network format: missing 'uuid'"
            net_id = str(network["uuid"])
            if not _is_uuid_like(net_id):
                return f"Bad networks format: network uuid is not in proper format ({net_id})"
            network_ids.append(net_id)
    groups: Sequence[Any] = server.get("security_groups") or []
    # Nova: [sg['name'] for sg in security_groups if sg.get('name')], duplicates removed.
    names = tuple(dict.fromkeys(str(g["name"]) for g in groups if isinstance(g, dict) and g.get("name")))
    return RequestedNetworking(tuple(network_ids), tuple(port_ids), names)


def refusal(requested: RequestedNetworking, known_network: Callable[[str], bool]) -> str | None:
    """Nova's 400 message when the create asks for a security group, port or network that does not exist
    (security groups first, as ``_validate_and_build_base_options`` checks them before the networks)."""
    for name in requested.security_groups:
        if name != DEFAULT_SECURITY_GROUP:
            return f"Security group {name} not found."
    if requested.port_ids:
        return f"Port id {requested.port_ids[0]} could not be found."
    missing = [net_id for net_id in dict.fromkeys(requested.network_ids) if not known_network(net_id)]
    if missing:
        return f"Network {', '.join(missing)} could not be found."
    return None
