"""What the processor knows about the VM pods, Actions and ReplicaSets of every tenant: ``ClusterCache``.

It is three things, each in its own module:

- the watch mirror (``extproc.watch_mirror``): what the processor's own watches show, indexed; a cache, never
  the truth (everything in it can be rebuilt by relisting); translators use it only where the issue texts
  allow (state rules, in-flight task states, the id of the first server of a batch, a tenant's quota for a
  token Arktos let into it). Arktos still authorizes and performs every client request;
- the read-your-writes tracker (``extproc.read_your_writes``): whether the mirror already shows the pod
  writes that went through this processor;
- the journal of the processor's own intents (``extproc.intent_journal``): CustomActions it has just
  submitted and the watch does not show yet, HARD reboots (until their instance-action record on the pod,
  which keeps the type in Arktos, is written), the member each batch create reply answered with.

Server lists (``GET /servers[/detail]``) are answered from the mirror's pods once Arktos has authorized the
list (see ``extproc.compute.server_list``).

Translators see it through ``ClusterView``. Only the asyncio loop touches the cache (the reflector threads
hand their updates to it), so no lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from extproc.intent_journal import (
    FIRST_MEMBER_CAPACITY,
    REBOOT_TYPE,
    REBOOT_TYPE_TTL,
    RECORD_REBOOT_TYPE,
    SUBMITTED,
    SUBMITTED_TTL,
    IntentJournal,
    SubmissionListener,
    hard_reboots_recorded,
    with_marks,
)
from extproc.read_your_writes import WRITTEN_CAPACITY, WriteTracker
from extproc.watch_mirror import (
    ACTION,
    CORE_KINDS,
    DERIVED_CAPACITY,
    OPERATIONS,
    POD,
    REPLICASET,
    RESOURCEQUOTA,
    WATCHED_PATHS,
    Json,
    Key,
    Listener,
    WatchMirror,
    action_ref,
    is_complete,
    operation_of,
    tenant_of,
)

__all__ = [
    "ACTION",
    "CORE_KINDS",
    "DERIVED_CAPACITY",
    "FIRST_MEMBER_CAPACITY",
    "OPERATIONS",
    "POD",
    "REBOOT_TYPE",
    "REBOOT_TYPE_TTL",
    "RECORD_REBOOT_TYPE",
    "REPLICASET",
    "RESOURCEQUOTA",
    "SUBMITTED",
    "SUBMITTED_TTL",
    "WATCHED_PATHS",
    "WRITTEN_CAPACITY",
    "ClusterCache",
    "ClusterView",
    "Listener",
    "action_ref",
    "is_complete",
    "operation_of",
    "tenant_of",
]

T = TypeVar("T")


class ClusterView(Protocol):
    @property
    def synced(self) -> bool:
        """True while every watched resource has been listed and its watch has not failed since."""
        ...

    def note_first_member(self, tenant: str, namespace: str, reservation: str, pod_name: str) -> None:
        """The create reply of batch ``reservation`` answered with member ``pod_name`` (index 1)."""
        ...

    def first_member_hint(self, key: tuple[str, str, str]) -> str | None:
        """The member a create reply answered with for batch (tenant, namespace, reservation), if known."""
        ...

    def pod(self, tenant: str, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def pods_with_label(
        self, tenant: str, namespace: str, key: str, value: str
    ) -> list[Mapping[str, Any]]: ...

    def pending_actions(
        self, tenant: str, namespace: str, pod_name: str, pod: Mapping[str, Any] | None = None
    ) -> list[Mapping[str, Any]]:
        """Action objects for the pod that Arktos has not completed yet, oldest first. ``pod`` is the pod as
        the caller has it (default: the watch's), whose instance-action records say which reboots are HARD."""
        ...

    def actions_of_pod(self, tenant: str, namespace: str, pod_name: str) -> list[Mapping[str, Any]]:
        """Every Action object of the pod the watch shows, complete or not (instance actions)."""
        ...

    def replicasets_with_label(self, key: str) -> list[Mapping[str, Any]]: ...

    def resource_quotas(self, tenant: str, namespace: str) -> list[Mapping[str, Any]] | None:
        """The ResourceQuotas of (tenant, namespace); None while the quota watch is not synced."""
        ...

    def subscribe(self, listener: Listener) -> None:
        """Called on the asyncio loop after the cache applied each event (reconcilers react to them)."""
        ...

    async def wait_for(self, probe: Callable[[], T | None], timeout: float) -> T | None:
        """Re-run ``probe`` after every change until it returns a value or ``timeout`` seconds pass."""
        ...

    def snapshot_action(self, snapshot_name: str) -> Mapping[str, Any] | None:
        """The newest snapshot Action whose ``snapshotName`` is this (the gateway uses image ids)."""
        ...

    def note_submitted(
        self,
        tenant: str,
        namespace: str,
        pod_name: str,
        operation: str,
        ref: str,
        hard: bool = False,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Arktos accepted a CustomAction (201; ``ref`` is the reply's ``details.name``); ``details`` is
        what the gateway knows of it that Arktos does not keep (a snapshot's image name...)."""
        ...

    def snapshot_actions(self, tenant: str) -> list[Mapping[str, Any]]:
        """Snapshot Actions of ``tenant``, with stand-ins for submissions the watch has not shown yet."""
        ...

    def submitted_details(self, ref: str) -> Mapping[str, Any] | None:
        """The ``details`` of a recent ``note_submitted`` with this ``ref`` (None if none or forgotten)."""
        ...

    def locate_pod(self, namespace: str, name: str) -> str | None:
        """The tenant of the only VM pod called ``name`` in ``namespace`` (pod names are UUIDs)."""
        ...

    def note_written(self, tenant: str, resource_version: str | None) -> None:
        """A pod write of ``tenant`` went through the processor and Arktos answered it 2xx with an object
        at ``resource_version`` (None: the reply showed none)."""
        ...

    def caught_up(self, tenant: str | None) -> bool:
        """True if the pod watch has applied every pod write of ``tenant`` (None: of every tenant) that
        went through the processor, so the cache shows them."""
        ...

    def awaits_watch(self, tenant: str | None) -> bool:
        """True while a pod write of ``tenant`` (None: of any tenant) that went through the processor is
        not applied yet, and the pod watch can still show it (its versions compare)."""
        ...

    def revision(self, resource_version: str | None) -> int | None:
        """A resourceVersion as the integer revision it is on Arktos (None: none, or not an integer)."""
        ...

    def shows_revision(self, tenant: str | None, namespace: str, revision: int) -> bool:
        """True if the pods of (tenant, namespace) (tenant None: every tenant) include every write Arktos
        had made at ``revision`` (a list's collection resourceVersion)."""
        ...

    def note_scope_current(self, tenant: str, namespace: str, revision: int) -> None:
        """Arktos listed the pods of (tenant, namespace) at ``revision`` and they were the cache's."""
        ...

    def derived(self, tenant: str | None, namespace: str, build: Callable[[list[Mapping[str, Any]]], T]) -> T:
        """``build(VM pods of tenant in namespace)`` (tenant None: of every tenant), memoized until a pod of
        that scope changes. ``build`` must not change the pods (they are the cache's own objects)."""
        ...

    def memoized(self, tenant: str | None, namespace: str, name: str, compute: Callable[[], T]) -> T:
        """``compute()`` (reading this cache's pods and ReplicaSets of the scope), memoized under ``name``
        until a pod or a ReplicaSet of that scope changes."""
        ...

    def scope_stamp(self, tenant: str | None, namespace: str) -> tuple[int, ...]:
        """Where the cache stands, now, for everything a server of (tenant, namespace) (tenant None: every
        tenant) is shown from: its pods, ReplicaSets and Actions, and the processor's intents (submissions
        the watch does not show yet, HARD reboots; they change with time too). Equal stamps: nothing of it
        changed in between; a memo of what was rendered from it stays right (a server list's page)."""
        ...


class ClusterCache(WatchMirror):
    """The watch mirror, its read-your-writes tracker and its intent journal (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time):
        super().__init__()
        self.clock = clock
        self.wall = wall
        self.writes = WriteTracker()
        self.journal = IntentJournal(clock, wall)

    # -- where the three meet (``WatchMirror``'s hooks) ---------------------------------------------

    def _pod_progress(self, resource_version: str) -> None:
        self.writes.advance(resource_version)

    def _pod_as_kept(self, key: Key, obj: Json) -> Json:
        if not self.journal.first_members:
            return obj
        return self.journal.with_first_mark(key, obj)

    def _action_shown(self, tenant: str, namespace: str, pod_name: str, action: Json) -> None:
        self.journal.observe_action(tenant, namespace, pod_name, action)

    # -- read-your-writes ---------------------------------------------------------------------------

    @property
    def pod_version(self) -> int:
        return self.writes.pod_version

    def note_written(self, tenant: str, resource_version: str | None) -> None:
        self.writes.note_written(tenant, resource_version)

    def written_version(self, tenant: str | None) -> int:
        """The highest pod write through the processor for ``tenant`` (None: any tenant); -1 if none."""
        return self.writes.written_version(tenant)

    def caught_up(self, tenant: str | None) -> bool:
        return self.writes.caught_up(tenant)

    def awaits_watch(self, tenant: str | None) -> bool:
        return self.writes.awaits_watch(tenant)

    def revision(self, resource_version: str | None) -> int | None:
        return self.writes.version(resource_version)

    def shows_revision(self, tenant: str | None, namespace: str, revision: int) -> bool:
        return self.writes.shows_revision(tenant, namespace, revision)

    def note_scope_current(self, tenant: str, namespace: str, revision: int) -> None:
        self.writes.note_scope_current(tenant, namespace, revision)

    def scope_stamp(self, tenant: str | None, namespace: str) -> tuple[int, ...]:
        # The journal's counter is global: its notes are few and short-lived, a finer one is not worth it.
        return (*super().scope_stamp(tenant, namespace), self.journal.generation_at(self.clock()))

    # -- batch create replies -------------------------------------------------------------------------

    def note_first_member(self, tenant: str, namespace: str, reservation: str, pod_name: str) -> None:
        self.journal.note_first_member(tenant, namespace, reservation, pod_name)
        pod = self._objects[POD].get((tenant, namespace, pod_name))
        if pod is not None:
            # Stored again, marked: the scope's derived values (sorted servers, names) are rebuilt.
            self._apply(POD, "MODIFIED", pod)
            self._notify()

    def first_member_hint(self, key: tuple[str, str, str]) -> str | None:
        return self.journal.first_member_hint(key)

    # -- the processor's own submissions ------------------------------------------------------------

    def note_submitted(
        self,
        tenant: str,
        namespace: str,
        pod_name: str,
        operation: str,
        ref: str,
        hard: bool = False,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        known = self._actions_by_pod.get((tenant, namespace, pod_name), {}).values()
        if self.journal.note_submitted(tenant, namespace, pod_name, operation, ref, hard, details, known):
            self._notify()

    def on_submitted(self, listener: SubmissionListener) -> None:
        """Called with (tenant, namespace, pod, operation, ref, details) after each ``note_submitted``."""
        self.journal.on_submitted(listener)

    def submitted_details(self, ref: str) -> Mapping[str, Any] | None:
        return self.journal.submitted_details(ref)

    def pending_actions(
        self, tenant: str, namespace: str, pod_name: str, pod: Mapping[str, Any] | None = None
    ) -> list[Mapping[str, Any]]:
        known = self._actions_by_pod.get((tenant, namespace, pod_name))
        if not known and not self.journal.submitted:
            # The common case, asked for every server of a list: nothing in flight anywhere for it.
            return []
        self.journal.prune(self.clock())
        found: list[Mapping[str, Any]] = []
        recorded: frozenset[str] | None = None  # read from the pod at the first reboot only
        for action in (known or {}).values():
            if is_complete(action):
                continue
            if operation_of(action) == "reboot":
                if recorded is None:
                    # The caller's pod when it has one: read from Arktos, it can be newer than the watch's,
                    # which a restarted processor may not have listed yet while its Action watch has.
                    recorded = hard_reboots_recorded(
                        pod if pod is not None else self.pod(tenant, namespace, pod_name)
                    )
                if _name(action) in recorded or self.journal.hard_reboot(tenant, namespace, action):
                    action = with_marks(action, {REBOOT_TYPE: "HARD"})
            found.append(action)
        found.extend(self.journal.unseen_stand_ins(tenant, namespace, pod_name))
        found.sort(key=lambda a: (str((a.get("metadata") or {}).get("creationTimestamp") or ""), _name(a)))
        return found

    def snapshot_action(self, snapshot_name: str) -> Mapping[str, Any] | None:
        found = self._snapshots.get(snapshot_name)
        if found is not None:
            return found
        return self.journal.snapshot_stand_in(snapshot_name)

    def snapshot_actions(self, tenant: str) -> list[Mapping[str, Any]]:
        """Snapshot Actions of ``tenant`` (with stand-ins for submissions not seen yet)."""
        found: dict[str, Mapping[str, Any]] = {
            name: action for name, action in self._snapshots.items() if tenant_of(action) == tenant
        }
        for ref, stand_in in self.journal.snapshot_stand_ins(tenant).items():
            found.setdefault(ref, stand_in)
        return list(found.values())


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")
