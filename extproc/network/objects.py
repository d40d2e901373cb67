"""Arktos Network objects as the gateway reads and writes them (fixtures 47-49, ../shared/arktos-api.md).

A Network is tenant-scoped: ``metadata.{name, tenant, uid}``, ``spec: {type, vpcID, service: {ipam,
cidrs}}``, ``status: {phase, message, dnsServiceIP}``. Pods join one with the label
``arktos.futurewei.com/network`` (no label: the tenant's network ``default``).

Neutron's id of a network is the object's uid (a UUID, stable for the object's life). Neutron's name may be
any text and may change; an Arktos name is a DNS-1123 label fixed at creation. So the object is named after
the Neutron name when that is a valid label (``network create net1`` makes ``net1``, which pods and Arktos
tools can name), else ``net-<random>``, and the Neutron name lives in the annotation
``openstack.arktos.io/display-name`` (a rename patches only that).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from extproc import annotations as keys

API_VERSION = "arktos.futurewei.com/v1"
KIND = "Network"
# The label a pod names its network with, and the network a pod without it is on (arktos-api.md).
NETWORK_LABEL = "arktos.futurewei.com/network"
DEFAULT_NETWORK = "default"
DISPLAY_NAME = keys.DISPLAY_NAME

_LABEL_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ArktosNetwork:
    """What the gateway takes from one Network object."""

    uid: str
    name: str  # the Arktos object name (what pods' network label says)
    tenant: str
    display_name: str  # Neutron's name
    network_type: str
    vpc: str
    cidrs: tuple[str, ...]
    phase: str
    created: str
    resource_version: str


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def from_object(obj: Mapping[str, Any]) -> ArktosNetwork | None:
    """The network an Arktos object describes, None if it is not a usable Network."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return None
    uid, name = meta.get("uid"), meta.get("name")
    if not isinstance(uid, str) or not uid or not isinstance(name, str) or not name:
        return None
    spec = _mapping(obj.get("spec"))
    service = _mapping(spec.get("service"))
    cidrs = service.get("cidrs")
    status = _mapping(obj.get("status"))
    annotations = _mapping(meta.get("annotations"))
    display = annotations.get(DISPLAY_NAME)
    return ArktosNetwork(
        uid=uid,
        name=name,
        tenant=str(meta.get("tenant") or "system"),
        display_name=display if isinstance(display, str) else name,
        network_type=str(spec.get("type") or ""),
        vpc=str(spec.get("vpcID") or ""),
        cidrs=tuple(c for c in cidrs if isinstance(c, str)) if isinstance(cidrs, list) else (),
        phase=str(status.get("phase") or ""),
        created=str(meta.get("creationTimestamp") or ""),
        resource_version=str(meta.get("resourceVersion") or ""),
    )


def from_list(body: Any) -> list[ArktosNetwork] | None:
    """The networks of a NetworkList body, None if it is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        return None
    found = (from_object(item) for item in body["items"] if isinstance(item, dict))
    return [n for n in found if n is not None]


def object_name_for(display_name: str) -> str:
    """The Arktos name of a new network called ``display_name`` in Neutron (module docstring)."""
    if _LABEL_NAME.fullmatch(display_name):
        return display_name
    return "net-" + secrets.token_hex(6)


def new_object(display_name: str, network_type: str) -> Json:
    """The Network a Neutron create makes: Arktos allocates its addresses (ipam Kubernetes, as fixture 47
    shows Arktos's own default); no CIDR is chosen by the gateway."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": object_name_for(display_name),
            "annotations": {DISPLAY_NAME: display_name, keys.CREATED_BY: keys.CREATED_BY_GATEWAY},
        },
        "spec": {"type": network_type, "service": {"ipam": "Kubernetes"}},
    }


def contains(network: ArktosNetwork, ip: str) -> bool:
    """Whether ``ip`` is an address of one of the network's CIDRs (a network without CIDRs has none)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for cidr in network.cidrs:
        try:
            if address in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


# ---------------------------------------------------------------------------------- VM pods on networks


def pod_network_name(pod: Mapping[str, Any]) -> str:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return str(labels.get(NETWORK_LABEL) or DEFAULT_NETWORK)


def pod_nics(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The pod's NICs as its spec names them (a VM pod without ``spec.nics`` has one, ``eth0``)."""
    nics = (pod.get("spec") or {}).get("nics")
    if isinstance(nics, list) and nics:
        return [n if isinstance(n, dict) else {} for n in nics]
    return [{"name": "eth0"}]


def _pod_ip(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("podIP") or "")


def nic_addresses(pod: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(NIC name, IP or "") of every NIC: its fixed ``ipAddress``, else for the first NIC the pod's IP."""
    found = []
    for index, nic in enumerate(pod_nics(pod)):
        name = str(nic.get("name") or f"eth{index}")
        ip = str(nic.get("ipAddress") or "") or (_pod_ip(pod) if index == 0 else "")
        found.append((name, ip))
    return found
