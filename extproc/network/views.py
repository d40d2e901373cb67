"""Neutron v2.0 representations of Arktos networks, their addresses, VM NICs and the default security group.

Pure functions of Arktos objects (plus the public URL for links). What Arktos does not know is shown as
Neutron shows a plain network without the feature: ``router:external`` and ``shared`` false, no QoS, the
standard MTU; ids Arktos does not have are derived (UUID5) from what it does, so they never change.

- network: id = the Network's uid; ``status`` from ``status.phase`` (no phase: no controller manages the
  network, it is usable as Arktos's flat networks are: ACTIVE).
- subnet: one per CIDR of ``spec.service.cidrs``, the addresses Arktos knows for the network; Arktos
  allocates them itself (``service.ipam``), so no gateway, allocation pool = the whole CIDR, DHCP on.
- port: one per NIC of a VM pod (``spec.nics``, or the one NIC Arktos gives a pod without any): its fixed
  IP is the NIC's ``ipAddress``, else (first NIC) the pod's IP; id = the NIC's ``portId``/reported
  ``portID``, else derived; ``device_owner`` ``compute:nova``, ``device_id`` the server id.
- security group: Neutron's ``default`` group of the project, allowing what Arktos allows (everything):
  Arktos has no per-VM firewall the gateway could map without NetworkPolicies.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from extproc.compute.server_fields import mac_address
from extproc.network.objects import DEFAULT_NETWORK, ArktosNetwork, nic_addresses, pod_nics

Json = dict[str, Any]

# Neutron's default MTU for a network without an overlay (a flat/VLAN physical network).
DEFAULT_MTU = 1500
AVAILABILITY_ZONE = "nova"
DEVICE_OWNER = "compute:nova"
_IDS = uuid.UUID("3b1c6f2e-6a49-5c53-9b1e-8f7e0a1d2c4b")

# Network status for each Arktos phase (the CRD's enum); no phase: ACTIVE (module docstring).
PHASE_STATUS: Mapping[str, str] = {
    "": "ACTIVE",
    "Ready": "ACTIVE",
    "Pending": "BUILD",
    "Failed": "ERROR",
    "Unknown": "DOWN",
    "Terminating": "DOWN",
}


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(_IDS, "\x1f".join(parts)))


def subnet_id(network: ArktosNetwork, cidr: str) -> str:
    return derived_id("subnet", network.uid, cidr)


def default_network_id(tenant: str) -> str:
    """The id of a tenant's implicit network ``default`` when no Network object of that name exists."""
    return derived_id("network", tenant, DEFAULT_NETWORK)


def security_group_id(tenant: str) -> str:
    return derived_id("security-group", tenant, "default")


def _neutron_time(value: str) -> str:
    # Kubernetes: 2026-11-30T09:10:34Z; Neutron: the same (ISO 8601 with Z).
    return value or "1970-01-01T00:00:00Z"


def _revision(network: ArktosNetwork) -> int:
    try:
        return int(network.resource_version)
    except ValueError:
        return 0


def network_view(network: ArktosNetwork) -> Json:
    created = _neutron_time(network.created)
    return {
        "id": network.uid,
        "name": network.display_name,
        "tenant_id": network.tenant,
        "project_id": network.tenant,
        "admin_state_up": True,
        "status": PHASE_STATUS.get(network.phase, "DOWN"),
        "subnets": [subnet_id(network, cidr) for cidr in network.cidrs],
        "shared": False,
        "router:external": False,
        "mtu": DEFAULT_MTU,
        "availability_zone_hints": [],
        "availability_zones": [AVAILABILITY_ZONE],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "port_security_enabled": True,
        "qos_policy_id": None,
        "is_default": network.name == DEFAULT_NETWORK,
        "l2_adjacency": True,
        "description": "",
        "dns_domain": "",
        "tags": [],
        "created_at": created,
        "updated_at": created,
        "revision_number": _revision(network),
    }


def _cidr_facts(cidr: str) -> tuple[int, str, str] | None:
    """(ip version, first and last usable address) of a CIDR, None if it is not one."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    hosts = (net[1], net[-2]) if net.num_addresses > 2 else (net[0], net[-1])
    return net.version, str(hosts[0]), str(hosts[1])


def subnet_views(network: ArktosNetwork) -> list[Json]:
    views = []
    created = _neutron_time(network.created)
    for cidr in network.cidrs:
        facts = _cidr_facts(cidr)
        if facts is None:
            continue
        version, first, last = facts
        views.append(
            {
                "id": subnet_id(network, cidr),
                "name": f"{network.display_name}-{cidr}",
                "network_id": network.uid,
                "tenant_id": network.tenant,
                "project_id": network.tenant,
                "ip_version": version,
                "cidr": str(ipaddress.ip_network(cidr, strict=False)),
                "gateway_ip": None,
                "enable_dhcp": True,
                "allocation_pools": [{"start": first, "end": last}],
                "dns_nameservers": [],
                "host_routes": [],
                "ipv6_ra_mode": None,
                "ipv6_address_mode": None,
                "subnetpool_id": None,
                "service_types": [],
                "description": "",
                "tags": [],
                "created_at": created,
                "updated_at": created,
                "revision_number": _revision(network),
            }
        )
    return views


def port_views(
    pod: Mapping[str, Any],
    network: ArktosNetwork | None,
    tenant: str,
) -> list[Json]:
    """The ports of one VM pod; ``network`` is the Network its label names (None: the implicit default)."""
    meta = pod.get("metadata") or {}
    server_id = str(meta.get("name") or "")
    uid = str(meta.get("uid") or server_id)
    status = pod.get("status") or {}
    reported = {
        str(n.get("name")): n
        for n in status.get("nicStatuses") or []
        if isinstance(n, dict) and n.get("name")
    }
    network_id = network.uid if network is not None else default_network_id(tenant)
    created = _neutron_time(str(meta.get("creationTimestamp") or ""))
    views = []
    for nic, (name, ip) in zip(pod_nics(pod), nic_addresses(pod), strict=True):
        seen = reported.get(name) or {}
        # The MAC server views show for that address (a NIC without one: one derived from its name).
        mac = mac_address(pod, ip or name)
        port_id = str(nic.get("portId") or seen.get("portID") or derived_id("port", uid, name))
        fixed_ips: list[Json] = []
        if ip:
            fixed_ip: Json = {"ip_address": ip}
            if network is not None:
                for cidr in network.cidrs:
                    try:
                        if ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False):
                            fixed_ip = {"subnet_id": subnet_id(network, cidr), "ip_address": ip}
                            break
                    except ValueError:
                        continue
            fixed_ips.append(fixed_ip)
        views.append(
            {
                "id": port_id,
                "name": "",
                "network_id": network_id,
                "tenant_id": tenant,
                "project_id": tenant,
                "mac_address": mac,
                "fixed_ips": fixed_ips,
                "device_id": server_id,
                "device_owner": DEVICE_OWNER,
                "status": "ACTIVE" if seen.get("state") == "Ready" else "DOWN",
                "admin_state_up": True,
                "binding:vnic_type": "normal",
                "security_groups": [security_group_id(tenant)],
                "allowed_address_pairs": [],
                "extra_dhcp_opts": [],
                "port_security_enabled": True,
                "description": "",
                "tags": [],
                "created_at": created,
                "updated_at": created,
                "revision_number": 0,
            }
        )
    return views


def _rule(tenant: str, direction: str, ethertype: str) -> Json:
    return {
        "id": derived_id("security-group-rule", tenant, direction, ethertype),
        "security_group_id": security_group_id(tenant),
        "tenant_id": tenant,
        "project_id": tenant,
        "direction": direction,
        "ethertype": ethertype,
        "protocol": None,
        "port_range_min": None,
        "port_range_max": None,
        # NOTE: Neutron's default group lets in only its members; Arktos filters nothing, so the rules
        # say what really happens: everything in, everything out.
        "remote_ip_prefix": "0.0.0.0/0" if ethertype == "IPv4" else "::/0",
        "remote_group_id": None,
        "description": "",
    }


def default_security_group(tenant: str) -> Json:
    """Neutron's ``default`` group of the project, with rules that allow what Arktos allows: everything."""
    rules: Sequence[Json] = [
        _rule(tenant, direction, ethertype)
        for direction in ("ingress", "egress")
        for ethertype in ("IPv4", "IPv6")
    ]
    return {
        "id": security_group_id(tenant),
        "name": "default",
        "tenant_id": tenant,
        "project_id": tenant,
        "description": "Default security group",
        "security_group_rules": list(rules),
        "shared": False,
        "stateful": True,
        "tags": [],
        "created_at": "1970-01-01T00:00:00Z",
        "updated_at": "1970-01-01T00:00:00Z",
        "revision_number": 0,
    }
