"""How many servers of a create fit the tenant's instance quota: Nova's ``min_count``/``max_count`` rule.

Nova (``nova.compute.utils.check_num_instances_quota``) checks the quota before creating anything: with
room for ``allowed`` more instances it creates ``max_count`` if they fit, else ``allowed`` if that is at
least ``min_count``, else nothing, answering 403 ``Quota exceeded for instances: Requested <min[-max]>, but
already used <used> of <limit> instances``.

On Arktos the instance quota is what Arktos enforces on pod creates: the ``pods`` entry of the
ResourceQuotas in the servers' namespace (``spec.hard.pods``, and ``status.used.pods`` that quota admission
and the quota controller keep; fixtures 38-43). The processor's watch brings them (``ClusterView.
resource_quotas``). Who may learn a tenant's quota: only a token Arktos has recently let into that tenant
(``extproc.tenant_proofs``), exactly as the tenant's users may read their ResourceQuota; for any other
request (no proof yet, the short path whose tenant only Arktos knows, no synced quota watch, a quota whose
usage the controller has not counted yet) there is nothing to foresee and the create goes to Arktos as
asked, whose own refusals then show as before (ERROR members of a batch, see ``extproc.compute.batch``).

Cores and ram (``requests.cpu``/``memory`` of the quotas, ``extproc.compute.tenant_quota``) are checked the
same way, each server taking its flavor's vCPUs and memory, but by the gateway alone: Arktos's quota
controller does not count a VM pod's resources (fixture 39), so Arktos would admit the pod. What the tenant
uses of them is counted from the VM pods in the processor's cache, only while it is current; concurrent
creates through several processors may therefore both pass (Nova's own counting has the same race without
its recheck).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from extproc.compute import tenant_quota


@dataclass(frozen=True, slots=True)
class PodQuota:
    """The binding ``pods`` limit of a namespace: the quota with the least room."""

    limit: int
    used: int

    @property
    def room(self) -> int:
        return max(0, self.limit - self.used)


def _whole(value: Any) -> int | None:
    """A count as Arktos writes it (a quantity: ``1000`` reads back ``1k``), None if it is not one."""
    amount = tenant_quota.quantity(value)
    return int(amount) if amount is not None and amount == amount.to_integral_value() else None


def pod_quota(quotas: Iterable[Mapping[str, Any]]) -> PodQuota | None:
    """The tightest ``pods`` quota among ``quotas``; None when none limits pods or one has not been counted
    yet (no ``status.used.pods``: nothing to foresee, Arktos decides)."""
    tightest: PodQuota | None = None
    for quota in quotas:
        limit = _whole(((quota.get("spec") or {}).get("hard") or {}).get("pods"))
        if limit is None:
            continue
        used = _whole(((quota.get("status") or {}).get("used") or {}).get("pods"))
        if used is None:
            return None
        found = PodQuota(limit, used)
        if tightest is None or found.room < tightest.room:
            tightest = found
    return tightest


@dataclass(frozen=True, slots=True)
class OverQuota:
    """Fewer than ``min_count`` fit: Nova's 403 message."""

    message: str


@dataclass(frozen=True, slots=True)
class ResourceRoom:
    """A counted resource besides instances (cores, ram) for a create: its limit, what the tenant uses, and
    what one server of the flavor takes."""

    name: str
    limit: int
    used: int
    per_server: int


def vm_resource_rooms(
    quotas: Iterable[Mapping[str, Any]], used: Mapping[str, int], vcpus: int, ram_mb: int
) -> list[ResourceRoom]:
    """Cores and ram of the tenant's ResourceQuotas (``tenant_quota.limits``) for a server of ``vcpus`` and
    ``ram_mb``. Arktos's quota controller does not count a VM pod's resources (fixture 39), so these are
    checked by the gateway alone, against the VM pods in the processor's cache (``used``)."""
    limits = tenant_quota.limits(list(quotas))
    return [
        ResourceRoom(name, limits[name], used.get(name, 0), per_server)
        for name, per_server in ((tenant_quota.CORES, vcpus), (tenant_quota.RAM, ram_mb))
        if limits[name] != tenant_quota.UNLIMITED and per_server > 0
    ]


def servers_to_create(
    min_count: int, max_count: int, quota: PodQuota | None, others: Iterable[ResourceRoom] = ()
) -> int | OverQuota:
    """How many servers the create makes (``max_count`` when they fit), or Nova's refusal naming every
    resource ``max_count`` servers would exceed (``nova.compute.utils.check_num_instances_quota``)."""
    rooms = [ResourceRoom(tenant_quota.INSTANCES, quota.limit, quota.used, 1)] if quota is not None else []
    rooms.extend(others)
    if not rooms:
        return max_count
    allowed = min(max(0, room.limit - room.used) // room.per_server for room in rooms)
    if allowed >= max_count:
        return max_count
    if allowed >= min_count:
        return allowed
    instances = str(min_count) if min_count == max_count else f"{min_count}-{max_count}"
    overs = sorted(
        (room for room in rooms if room.used + max_count * room.per_server > room.limit), key=lambda r: r.name
    )
    names = ", ".join(room.name for room in overs)
    requested = ", ".join(
        instances if room.name == tenant_quota.INSTANCES else str(max_count * room.per_server)
        for room in overs
    )
    used = ", ".join(str(room.used) for room in overs)
    limits = ", ".join(str(room.limit) for room in overs)
    return OverQuota(
        f"Quota exceeded for {names}: Requested {requested}, but already used {used} of {limits} {names}"
    )
