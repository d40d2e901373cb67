"""A tenant's compute quota as Nova counts it, from what Arktos holds: pure functions, no I/O.

Arktos enforces quotas with Kubernetes ``ResourceQuota`` objects in the servers' namespace (fixtures 38-43).
Nova's three counted resources map onto their ``spec.hard`` entries:

- ``instances`` = ``pods`` (or ``count/pods``): what quota admission refuses a pod create on (fixture 41);
- ``cores`` = ``requests.cpu``, ``cpu`` or ``limits.cpu`` (whole cores, rounded down);
- ``ram`` = ``requests.memory``, ``memory`` or ``limits.memory`` (MiB, rounded down).

Several quotas may limit one resource: the tightest one binds (as Kubernetes admission checks every quota),
and a resource no quota limits is unlimited (Nova's -1). Nova's other quota resources are no Arktos objects;
they show the values the gateway itself applies (``FIXED_LIMITS``) and cannot be changed.

What is in use is counted from the tenant's VM pods (``in_use``), not from ``status.used``: Arktos's quota
controller counts ``requests.cpu``/``memory`` of containers only, and a VM pod's resources are in
``spec.virtualMachine`` (fixture 39: a 1-CPU VM leaves ``requests.cpu`` used at 0). A pod counts while it
is not being deleted and not terminal, as quota admission counts pods.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from extproc.compute.server_fields import is_server
from extproc.quantity import parse_quantity

UNLIMITED = -1
MIB = 2**20
# The ResourceQuota the gateway creates when a tenant has none it can write (``PUT os-quota-sets``).
GATEWAY_QUOTA_NAME = "openstack-compute"

INSTANCES, CORES, RAM = "instances", "cores", "ram"
COUNTED = (INSTANCES, CORES, RAM)
# Nova resource -> the ``spec.hard`` keys that limit it, the first one being what the gateway writes.
HARD_KEYS: Mapping[str, tuple[str, ...]] = {
    INSTANCES: ("pods", "count/pods"),
    CORES: ("requests.cpu", "cpu", "limits.cpu"),
    RAM: ("requests.memory", "memory", "limits.memory"),
}
# Nova's other quota resources (microversion 2.1 shows them all) and the value the gateway applies: server
# metadata and personality limits are Nova's defaults, checked by the gateway; everything Arktos and the
# gateway do not limit (keypairs per tenant, server groups, the nova-network resources) is unlimited.
FIXED_LIMITS: Mapping[str, int] = {
    "fixed_ips": UNLIMITED,
    "floating_ips": UNLIMITED,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "injected_files": 5,
    "key_pairs": UNLIMITED,
    "metadata_items": 128,
    "security_group_rules": UNLIMITED,
    "security_groups": UNLIMITED,
    "server_group_members": UNLIMITED,
    "server_groups": UNLIMITED,
}
RESOURCES: tuple[str, ...] = tuple(sorted((*COUNTED, *FIXED_LIMITS)))
# Nova's largest quota value (its database's MAX_INT).
MAX_LIMIT = 0x7FFFFFFF
_LARGEST_QUANTITY = 2**63

Json = dict[str, Any]


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity (``4Gi``, ``500m``, ``1k``) as a number, None if it is none or negative."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return None
    text = str(value)
    if len(text) > 64:  # no quantity Arktos writes is this long; refuse rather than parse
        return None
    try:
        parsed = parse_quantity(text)
    except (ValueError, InvalidOperation):
        return None
    # Kubernetes holds quantities up to 2^63 - 1; anything else is no quantity Arktos stores (and rounding a
    # Decimal such as 1e999999 would take forever).
    return parsed if 0 <= parsed < _LARGEST_QUANTITY else None


def nova_amount(resource: str, quantity: Decimal) -> int:
    """A Kubernetes quantity in Nova's unit: whole instances and cores, ram in MiB (rounded down: a limit
    of 1.5 cores admits one 1-core server, not two)."""
    scaled = quantity / MIB if resource == RAM else quantity
    return min(MAX_LIMIT, math.floor(scaled))


def _hard(quota: Mapping[str, Any]) -> Mapping[str, Any]:
    hard = (quota.get("spec") or {}).get("hard")
    return hard if isinstance(hard, dict) else {}


def limits(quotas: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Nova's limit of every resource (``RESOURCES``), the tightest of ``quotas`` for the counted ones."""
    found: dict[str, int] = dict(FIXED_LIMITS)
    for resource in COUNTED:
        tightest = UNLIMITED
        for quota in quotas:
            for key in HARD_KEYS[resource]:
                amount = quantity(_hard(quota).get(key))
                if amount is None:
                    continue
                value = nova_amount(resource, amount)
                tightest = value if tightest == UNLIMITED else min(tightest, value)
        found[resource] = tightest
    return found


def _vm_resources(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    resources = ((pod.get("spec") or {}).get("virtualMachine") or {}).get("resources") or {}
    if not isinstance(resources, dict):
        return {}
    requests = resources.get("requests")
    if isinstance(requests, dict) and requests:
        return requests
    limits_ = resources.get("limits")
    return limits_ if isinstance(limits_, dict) else {}


def counts_against_quota(pod: Mapping[str, Any]) -> bool:
    """A VM pod Arktos counts: not being deleted, not terminal (quota admission's rule)."""
    if not is_server(pod):
        return False
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded")


def vm_cores(pod: Mapping[str, Any]) -> int:
    amount = quantity(_vm_resources(pod).get("cpu"))
    return math.ceil(amount) if amount is not None else 0


def vm_ram_mb(pod: Mapping[str, Any]) -> int:
    amount = quantity(_vm_resources(pod).get("memory"))
    return math.ceil(amount / MIB) if amount is not None else 0


def in_use(pods: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """What the tenant's VM pods use of the counted resources (every other resource: 0)."""
    used = dict.fromkeys(RESOURCES, 0)
    for pod in pods:
        if counts_against_quota(pod):
            used[INSTANCES] += 1
            used[CORES] += vm_cores(pod)
            used[RAM] += vm_ram_mb(pod)
    return used


def quota_set(values: Mapping[str, int], project_id: str | None, shown: Iterable[str] = RESOURCES) -> Json:
    """``{"quota_set": {...}}`` of the ``shown`` resources (every one at 2.1; fewer from 2.36, see
    ``quota_sets.shown_resources``); ``id`` only when a project is given (not on update)."""
    body: Json = {"id": project_id} if project_id is not None else {}
    body.update({name: values[name] for name in shown})
    return {"quota_set": body}


def detail_set(
    limit: Mapping[str, int], used: Mapping[str, int], project_id: str, shown: Iterable[str] = RESOURCES
) -> Json:
    """``GET .../detail``: each ``shown`` resource as ``{"in_use", "limit", "reserved"}`` (Nova has no
    reservations any more and shows 0)."""
    body: Json = {"id": project_id}
    for name in shown:
        body[name] = {"in_use": used.get(name, 0), "limit": limit[name], "reserved": 0}
    return {"quota_set": body}


# -- PUT os-quota-sets/{project} ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuotaChange:
    """What a quota update asks of the ResourceQuota: Nova resource -> new limit (-1: unlimited)."""

    limits: Mapping[str, int]

    def hard_patch(self, target: Mapping[str, Any] | None) -> dict[str, str | None]:
        """The ``spec.hard`` entries to merge into ``target`` (None: a new quota). Every key of ``target``
        that limits a changed resource is set, so the change binds whatever keys the operator chose; an
        unlimited resource removes them (null in a merge patch)."""
        patch: dict[str, str | None] = {}
        existing = _hard(target) if target is not None else {}
        for resource, limit in self.limits.items():
            keys = [k for k in HARD_KEYS[resource] if k in existing] or [HARD_KEYS[resource][0]]
            for key in keys:
                if limit == UNLIMITED:
                    if key in existing:
                        patch[key] = None
                else:
                    patch[key] = f"{limit}Mi" if resource == RAM else str(limit)
        return patch


def write_target(quotas: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The ResourceQuota a quota update writes: the gateway's own if the tenant has it, else the tenant's only
    one, else None (the gateway creates its own: with several quotas and none of its own, it cannot tell
    which one the operator meant)."""
    for quota in quotas:
        if (quota.get("metadata") or {}).get("name") == GATEWAY_QUOTA_NAME:
            return quota
    return quotas[0] if len(quotas) == 1 else None


def below_usage(change: QuotaChange, used: Mapping[str, int]) -> str | None:
    """Nova's 400 when a new limit is below what is in use (unless ``force``), else None."""
    for resource in COUNTED:
        limit = change.limits.get(resource)
        if limit is None or limit == UNLIMITED:
            continue
        if limit < used.get(resource, 0):
            return (
                f"Quota limit {limit} for {resource} must be greater than or equal to already used and "
                f"reserved {used[resource]}."
            )
    return None


def quota_object(namespace: str, hard: Mapping[str, str | None]) -> Json:
    """The gateway's own ResourceQuota (``POST``), limiting only what was set."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": GATEWAY_QUOTA_NAME, "namespace": namespace},
        "spec": {"hard": {k: v for k, v in hard.items() if v is not None}},
    }
