"""What the server view takes from one version of a VM pod alone (``PodFacts``), read once per version.

Speed: a list renders up to 1,000 servers per request, mostly the same pods again and again. What a view
takes from a pod alone (times, hashes, addresses, metadata, the pod's state inputs: ``PodFacts``) is, for
lists, computed once per pod version: ``list_facts`` memoizes it by (uid, resourceVersion), which Arktos
changes with every write of the object, so one key never names two contents of a pod from Arktos (the
processor changes none, except the displayed name of batch members, which is not a fact). What depends on
the request (links with the URL's project, the catalog's image, an action in flight, the displayed name)
is assembled per request. Single-server views (``show``) and the state rules read a pod afresh
(``facts``): one pod, nothing to gain, and pods made by hand (tests) may reuse a uid and version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from extproc import annotations as keys
from extproc.compute.schemas import canonical_ip
from extproc.compute.server_fields import (
    AVAILABILITY_ZONE,
    Json,
    addresses,
    cached_server_state,
    created_at,
    host_id,
    key_name,
    nova_time,
    parse_time,
    pod_annotations,
    pod_ips,
    server_id,
    server_metadata,
    tenant_of,
    updated_at,
    usage_time,
)
from extproc.compute.server_status import PodState, ServerState, pod_state
from extproc.errors import names_kubernetes


def _json_annotation(found: Mapping[str, str], key: str) -> Any:
    """An annotation the gateway wrote as JSON, or None when absent or unreadable."""
    raw = found.get(key)
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _access_ip(recorded: object) -> str:
    """A recorded access address in canonical form (a pod annotated before the gateway stored it so, or by
    hand, shows as Nova would)."""
    return canonical_ip(recorded) if isinstance(recorded, str) else ""


def _first_ip(ips: list[str], version: int) -> str:
    return next((ip for ip in ips if (6 if ":" in ip else 4) == version), "")


def _fault_message(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    vm_status = status.get("virtualMachineStatus") or {}
    for candidate in (status.get("message"), status.get("reason"), vm_status.get("lastTerminationState")):
        if isinstance(candidate, str) and candidate:
            # A kubelet's reason (eviction, admission) names pods and namespaces: not for OpenStack clients.
            return "The virtual machine failed." if names_kubernetes(candidate) else candidate
    return "The virtual machine failed."


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What the views take from one version of a pod alone (see the module docstring). Read-only: the
    containers here are shared by every reply rendered from that pod version."""

    sid: str
    sid_quoted: str  # as links carry it
    tenant: str
    user_id: str
    metadata: Mapping[str, str]
    host_id: str
    created: datetime | None
    updated: datetime | None
    created_text: str
    updated_text: str
    ips: list[str]
    addresses: Mapping[str, list[Json]]
    access_ipv4: str
    access_ipv6: str
    pod_state: PodState
    fault_message: str
    availability_zone: str
    key_name: str | None
    launched_text: str | None  # startTime as OS-SRV-USG shows it, None if not started
    image_id: str | None  # the image-id annotation
    image_url: str | None  # the VM's image URL (catalog lookup when the annotation is missing)
    flavor_id: str | None
    # Later microversions' fields (annotations the gateway wrote; see ``extproc.annotations``).
    description: str | None
    tags: tuple[str, ...]
    hostname: str | None  # None: derived from the display name (a batch member's "name-<index>")
    pinned_az: str | None
    scheduler_hints: Mapping[str, Any]
    flavor_snapshot: Mapping[str, Any] | None
    image_properties: Mapping[str, str]
    server_group: str | None


# Facts by (uid, resourceVersion): a server list's page is 1,000 pods; the memo holds several pages.
FACTS_CAPACITY = 8192
_facts_memo: dict[tuple[str, str], PodFacts] = {}


def _read_facts(pod: Mapping[str, Any]) -> PodFacts:
    found = pod_annotations(pod)
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    tenant = tenant_of(pod)
    created = created_at(pod)
    updated = updated_at(pod) or created
    started = parse_time(status.get("startTime"))
    url = (spec.get("virtualMachine") or {}).get("image")
    sid = server_id(pod)
    ips = pod_ips(pod)
    return PodFacts(
        sid=sid,
        sid_quoted=quote(sid, safe=""),
        tenant=tenant,
        user_id=found.get(keys.USER_ID, ""),
        metadata=server_metadata(pod),
        host_id=host_id(tenant, str(spec.get("nodeName") or "")),
        created=created,
        updated=updated,
        created_text=nova_time(created) if created else "",
        updated_text=nova_time(updated) if updated else "",
        ips=ips,
        addresses=addresses(pod),
        # NOTE: Nova's accessIPv4/6 "may be automatically set by the provider": without one the user set,
        # the VM's own address is the one to reach it by (Arktos has no floating IPs). openstacksdk's
        # create_server(auto_ip=True) reads it as the public address and so asks for no floating IP.
        access_ipv4=_access_ip(found.get(keys.ACCESS_IPV4)) or _first_ip(ips, 4),
        access_ipv6=_access_ip(found.get(keys.ACCESS_IPV6)) or _first_ip(ips, 6),
        pod_state=pod_state(pod),
        fault_message=_fault_message(pod),
        # NOTE: Nova fills the zone in when the instance is scheduled (fixture 10: "" in BUILD).
        availability_zone=AVAILABILITY_ZONE if spec.get("nodeName") else "",
        key_name=key_name(pod),
        launched_text=usage_time(started) if started else None,
        image_id=found.get(keys.IMAGE_ID) or None,
        image_url=url if isinstance(url, str) and url else None,
        flavor_id=found.get(keys.FLAVOR_ID) or None,
        **_later_facts(pod, found),
    )


def _later_facts(pod: Mapping[str, Any], found: Mapping[str, str]) -> dict[str, Any]:
    description = _json_annotation(found, keys.DESCRIPTION)
    tags = _json_annotation(found, keys.TAGS)
    hints = _json_annotation(found, keys.SCHEDULER_HINTS)
    flavor = _json_annotation(found, keys.FLAVOR)
    properties = _json_annotation(found, keys.IMAGE_PROPERTIES)
    group = ((pod.get("metadata") or {}).get("labels") or {}).get(keys.SERVER_GROUP_LABEL)
    return {
        "description": description if isinstance(description, str) else None,
        "tags": tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        "hostname": found.get(keys.HOSTNAME) or None,
        "pinned_az": found.get(keys.PINNED_AZ) or None,
        "scheduler_hints": hints if isinstance(hints, dict) else {},
        "flavor_snapshot": flavor if isinstance(flavor, dict) else None,
        "image_properties": properties if isinstance(properties, dict) else {},
        "server_group": str(group) if group else None,
    }


def facts(pod: Mapping[str, Any]) -> PodFacts:
    """``PodFacts`` of ``pod``, read now."""
    return _read_facts(pod)


def list_facts(pod: Mapping[str, Any]) -> PodFacts:
    """``PodFacts`` of a pod Arktos listed, memoized by (uid, resourceVersion) when it has both."""
    meta = pod.get("metadata") or {}
    uid = meta.get("uid")
    rv = meta.get("resourceVersion")
    if not uid or not rv:
        return _read_facts(pod)
    key = (str(uid), str(rv))
    found = _facts_memo.get(key)
    if found is None:
        found = _read_facts(pod)
        if len(_facts_memo) >= FACTS_CAPACITY:
            # Oldest first (dicts keep insertion order): cheaper than an LRU's bookkeeping on every hit.
            del _facts_memo[next(iter(_facts_memo))]
        _facts_memo[key] = found
    return found


def list_state(f: PodFacts, pending_task: str | None = None) -> ServerState:
    return cached_server_state(f.pod_state, pending_task)
