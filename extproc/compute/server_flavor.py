"""2.47's embedded flavor of a server: the catalog flavor as the instance kept it at boot, or what the pod
runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from extproc.compute.server_fields import Json


class FlavorLike(Protocol):
    """What 2.47's embedded flavor takes from a catalog flavor."""

    @property
    def name(self) -> str: ...
    @property
    def vcpus(self) -> int: ...
    @property
    def ram(self) -> int: ...
    @property
    def disk(self) -> int: ...
    @property
    def ephemeral(self) -> int: ...
    @property
    def swap(self) -> int: ...
    @property
    def extra_specs(self) -> Mapping[str, str]: ...


# (tenant, flavor id) -> the catalog's flavor, or None.
FlavorLookup = Callable[[str | None, str], FlavorLike | None]


def flavor_snapshot(flavor: FlavorLike) -> Json:
    """The flavor as Nova keeps it in the instance at boot and 2.47 shows it (``_get_flavor_dict``); the
    extra specs are shown since the default policy lets project members see them."""
    return {
        "vcpus": flavor.vcpus,
        "ram": flavor.ram,
        "disk": flavor.disk,
        "ephemeral": flavor.ephemeral,
        "swap": flavor.swap,
        "original_name": flavor.name,
        "extra_specs": dict(flavor.extra_specs),
    }


def _resource_quantity(value: object, unit: int) -> int:
    """A pod resource quantity ("2", "512Mi", "1Gi") in ``unit`` bytes (1 for counts), 0 if unreadable."""
    text = str(value or "")
    for suffix, factor in (("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40)):
        if text.endswith(suffix) and text[: -len(suffix)].isdigit():
            return int(text[: -len(suffix)]) * factor // unit
    return int(text) // unit if text.isdigit() else 0


def pod_flavor(pod: Mapping[str, Any], flavor_id: str) -> Json:
    """2.47's flavor of a VM pod without a snapshot, from what Arktos runs (its CPU and memory); the
    flavor's disks are not in the pod (Arktos VMs boot from the image's own disk)."""
    vm = (pod.get("spec") or {}).get("virtualMachine") or {}
    limits = (vm.get("resources") or {}).get("limits") or {}
    return {
        "vcpus": _resource_quantity(limits.get("cpu"), 1),
        "ram": _resource_quantity(limits.get("memory"), 1 << 20),
        "disk": 0,
        "ephemeral": 0,
        "swap": 0,
        "original_name": flavor_id,
        "extra_specs": {},
    }
