"""Neutron's checks of network create and update bodies (``neutron/api/v2/attributes`` rules), and what
Arktos cannot do, refused in Neutron's 400 before anything reaches Arktos.

Neutron's words: a missing resource key is "Resource body required", an unknown attribute
"Unrecognized attribute(s) 'x'", a bad value "Invalid input for <attr>. Reason: <why>.".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from extproc.errors import echo

NAME_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 255

# Attributes a create may carry, with the only value Arktos can honour (None: any value is accepted).
_CREATE_DEFAULTS: Mapping[str, Any] = {
    "name": None,
    "description": "",
    "admin_state_up": True,
    "shared": False,
    "router:external": False,
    "port_security_enabled": True,
    "availability_zone_hints": [],
    "mtu": 1500,
    "tenant_id": None,
    "project_id": None,
    "dns_domain": None,
    "is_default": False,
    "qos_policy_id": None,
}
_WHY_NOT: Mapping[str, str] = {
    "description": "Arktos networks have no description.",
    "availability_zone_hints": "Arktos networks have no availability zones but nova.",
    "mtu": "Arktos networks have the MTU 1500.",
    "admin_state_up": "Arktos networks cannot be administratively down.",
    "shared": "Arktos networks belong to one project and cannot be shared.",
    "router:external": "Arktos has no external networks (no routers, no floating IPs).",
    "port_security_enabled": "Arktos has no per-port security (every server is in the default group).",
    "is_default": "The project's default network on Arktos is the network named default.",
    "qos_policy_id": "Arktos networks have no QoS policies.",
}
_UPDATABLE = frozenset({"name"})


@dataclass(frozen=True, slots=True)
class NetworkCreate:
    name: str


@dataclass(frozen=True, slots=True)
class NetworkUpdate:
    name: str | None


def _resource(body: Any) -> Mapping[str, Any] | str:
    if not isinstance(body, dict) or "network" not in body:
        return "Resource body required"
    network = body["network"]
    if not isinstance(network, dict):
        return "Resource body required"
    return network


def _string(network: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = network.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        return f"Invalid input for {key}. Reason: '{echo(value)}' is not a valid string."
    if len(value) > limit:
        return f"Invalid input for {key}. Reason: '{echo(value)}' exceeds maximum length of {limit}."
    return None


def _same(value: Any, default: Any) -> bool:
    if isinstance(default, list):
        return value == default or (isinstance(value, list) and value in ([], ["nova"]))
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() == str(default).lower()
        return value is default or (type(value) is int and value == int(default))
    return bool(value == default)


def network_create(body: Any) -> NetworkCreate | str:
    network = _resource(body)
    if isinstance(network, str):
        return network
    unknown = sorted(k for k in network if k not in _CREATE_DEFAULTS)
    if unknown:
        return f"Unrecognized attribute(s) '{echo(', '.join(unknown))}'"
    for key, limit in (("name", NAME_MAX_LENGTH), ("description", DESCRIPTION_MAX_LENGTH)):
        problem = _string(network, key, limit)
        if problem is not None:
            return problem
    for key, why in _WHY_NOT.items():
        if key in network and not _same(network[key], _CREATE_DEFAULTS[key]):
            return f"Invalid input for {key}. Reason: {why}"
    return NetworkCreate(name=str(network.get("name") or ""))


def network_update(body: Any) -> NetworkUpdate | str:
    network = _resource(body)
    if isinstance(network, str):
        return network
    refused = sorted(k for k in network if k not in _UPDATABLE)
    if refused:
        return f"Cannot update read-only attribute(s) {echo(', '.join(refused))}: only the name can change."
    problem = _string(network, "name", NAME_MAX_LENGTH)
    if problem is not None:
        return problem
    name = network.get("name")
    return NetworkUpdate(name=name if isinstance(name, str) else None)
