"""What Nova shows of a VM pod, read from that pod alone: its identity, times, metadata, hostname, user data,
state, key name, host id and addresses.

Pure functions of one pod as Arktos returns it, shared by the server view (``server_view``), the facts it
memoizes per pod version (``pod_facts``) and the other compute modules that read pods.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from extproc import annotations as keys
from extproc.compute.server_status import ServerState, pod_state, server_state
from extproc.network.objects import DEFAULT_NETWORK, NETWORK_LABEL, nic_addresses

AVAILABILITY_ZONE = "nova"

NOVA_TIME = "%Y-%m-%dT%H:%M:%SZ"
USAGE_TIME = "%Y-%m-%dT%H:%M:%S.%f"

Json = dict[str, Any]


def parse_time(value: Any) -> datetime | None:
    """A Kubernetes RFC 3339 timestamp (or any ISO 8601 one) as an aware UTC datetime; None if unusable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def nova_time(value: datetime) -> str:
    return value.strftime(NOVA_TIME)


def usage_time(value: datetime) -> str:
    # NOTE: OS-SRV-USG timestamps are naive and carry microseconds, unlike created/updated.
    return value.strftime(USAGE_TIME)


def pod_annotations(pod: Mapping[str, Any]) -> Mapping[str, str]:
    found = (pod.get("metadata") or {}).get("annotations")
    return found if isinstance(found, dict) else {}


def server_id(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name") or "")


def display_name(pod: Mapping[str, Any]) -> str:
    return pod_annotations(pod).get(keys.DISPLAY_NAME) or server_id(pod)


def tenant_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("tenant") or "")


def is_server(pod: Any) -> bool:
    """Only VM pods are servers; container pods are invisible to the compute API."""
    return isinstance(pod, dict) and isinstance((pod.get("spec") or {}).get("virtualMachine"), dict)


def created_at(pod: Mapping[str, Any]) -> datetime | None:
    return parse_time((pod.get("metadata") or {}).get("creationTimestamp"))


def updated_at(pod: Mapping[str, Any]) -> datetime | None:
    """The latest thing that happened to the pod: creation, start, or a condition transition."""
    status = pod.get("status") or {}
    times = [created_at(pod), parse_time(status.get("startTime"))]
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict):
            times.append(parse_time(condition.get("lastTransitionTime")))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def server_metadata(pod: Mapping[str, Any]) -> dict[str, str]:
    raw = pod_annotations(pod).get(keys.METADATA)
    if not raw:
        return {}
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(k): str(v) for k, v in parsed.items()}


def default_hostname(name: str, sid: str) -> str:
    """Nova's hostname for a server it was given none for (compute/api.py ``_populate_instance_names``
    over utils.sanitize_hostname): the display name made a host name, else "Server-<id>"."""
    hostname = name.encode("latin-1", "ignore").decode("latin-1")[:63]
    hostname = re.sub(r"[ _\.]", "-", hostname)
    hostname = re.sub(r"[^\w.-]+", "", hostname)
    hostname = hostname.lower().strip(".-")
    return hostname or f"Server-{sid}"


def user_data(pod: Mapping[str, Any]) -> str | None:
    """The user data as the client gave it (base64 text): Arktos's ``userData`` is those bytes, which JSON
    carries base64-encoded once more (see ``create_request.build_pod``)."""
    raw = ((pod.get("spec") or {}).get("virtualMachine") or {}).get("userData")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return base64.b64decode(raw, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None


# ``server_state`` scans the rule table; its inputs are few distinct small frozen values.
cached_server_state = functools.lru_cache(maxsize=1024)(server_state)


def state_of(pod: Mapping[str, Any], pending_task: str | None = None) -> ServerState:
    return cached_server_state(pod_state(pod), pending_task)


def key_name(pod: Mapping[str, Any]) -> str | None:
    """The server's key pair name as Nova shows it."""
    found = pod_annotations(pod)
    if found.get(keys.KEY_NAME):
        return found[keys.KEY_NAME]
    if found.get(keys.CREATED_BY) == keys.CREATED_BY_GATEWAY:
        # NOTE: the gateway fills keyPairName with the deployment's default key when the client gave
        # none (Arktos requires one); Nova would show no key, so does the gateway.
        return None
    vm = (pod.get("spec") or {}).get("virtualMachine") or {}
    return vm.get("keyPairName") or None


def host_id(tenant: str, node: str) -> str:
    """Nova's hostId: an opaque per-project hash of the host, "" while unscheduled."""
    if not node:
        return ""
    return hashlib.sha224((tenant + node).encode()).hexdigest()


def mac_address(pod: Mapping[str, Any], ip: str) -> str:
    """A stable, locally administered MAC in OpenStack's fa:16:3e range (Arktos does not report one)."""
    seed = f"{tenant_of(pod)}/{server_id(pod)}/{ip}".encode()
    digest = hashlib.sha256(seed).digest()
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])


def pod_ips(pod: Mapping[str, Any]) -> list[str]:
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or [] if isinstance(p, dict) and p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    return [str(ip) for ip in ips]


def addresses(pod: Mapping[str, Any], extended: bool = True) -> dict[str, list[Json]]:
    """The pod's addresses on its network: its IPs, and the fixed IPs of its other NICs (``spec.nics``)."""
    ips = pod_ips(pod)
    if not ips:
        return {}
    ips += [ip for _, ip in nic_addresses(pod)[1:] if ip and ip not in ips]
    labels = (pod.get("metadata") or {}).get("labels") or {}
    network = str(labels.get(NETWORK_LABEL) or DEFAULT_NETWORK)
    entries: list[Json] = []
    for ip in ips:
        entry: Json = {"version": 6 if ":" in ip else 4, "addr": ip}
        if extended:
            entry["OS-EXT-IPS:type"] = "fixed"
            entry["OS-EXT-IPS-MAC:mac_addr"] = mac_address(pod, ip)
        entries.append(entry)
    return {network: entries}
