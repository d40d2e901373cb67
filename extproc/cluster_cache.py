"""What the processor's own watches know about the VM pods, Actions and ReplicaSets of every tenant.

INTERFACE STUB (agreed API; the implementation lands with the server-actions issue). A reflector
(``extproc.arktos_watch``) lists and watches, with the processor's own credential,
``/api/v1/tenants/all/pods``, ``/api/v1/tenants/all/actions`` and ``/apis/apps/v1/tenants/all/replicasets``
and feeds this cache on the asyncio loop. It is a cache, never the truth: everything in it can be rebuilt
by relisting, and translators use it only where the issue texts allow (state rules, in-flight task states,
the id of the first server of a batch). Arktos still authorizes and performs every client request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# (kind: "Pod" | "Action" | "ReplicaSet", event type: "ADDED" | "MODIFIED" | "DELETED", object)
Listener = Callable[[str, str, Mapping[str, Any]], None]


class ClusterView(Protocol):
    @property
    def synced(self) -> bool:
        """True once every watched resource has been listed at least once."""
        ...

    def pod(self, tenant: str, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def pods_with_label(
        self, tenant: str, namespace: str, key: str, value: str
    ) -> list[Mapping[str, Any]]: ...

    def pending_actions(self, tenant: str, namespace: str, pod_name: str) -> list[Mapping[str, Any]]:
        """Action objects for the pod that Arktos has not completed yet, oldest first."""
        ...

    def replicasets_with_label(self, key: str) -> list[Mapping[str, Any]]: ...

    def subscribe(self, listener: Listener) -> None:
        """Called on the asyncio loop after the cache applied each event (reconcilers react to them)."""
        ...

    async def wait_for(self, probe: Callable[[], T | None], timeout: float) -> T | None:
        """Re-run ``probe`` after every change until it returns a value or ``timeout`` seconds pass."""
        ...
