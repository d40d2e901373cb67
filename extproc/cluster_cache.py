"""What the processor's own watches know about the VM pods, Actions and ReplicaSets of every tenant.

Reflectors (``extproc.arktos_watch``) list and watch, with the processor's own credential,
``/api/v1/tenants/all/pods``, ``/api/v1/tenants/all/actions``, ``/apis/apps/v1/tenants/all/replicasets`` and
``/api/v1/tenants/all/resourcequotas`` (the create's quota check, ``extproc.compute.quota``) and feed
``ClusterCache`` on the asyncio loop (``apply_list`` / ``apply_event``). It is a cache, never the truth:
everything in it can be rebuilt by relisting, and translators use it only where the issue texts allow
(state rules, in-flight task states, the id of the first server of a batch, a tenant's quota for a token
Arktos let into it). Arktos still authorizes and performs every client request.

Besides what Arktos says, the cache remembers the actions the processor itself has just submitted
(``note_submitted``, called when Arktos answered a CustomAction with 201): the watch shows the Action a few
milliseconds later, and a client that asks in between (``openstack server image create`` GETs the image at
once) must already see it. Such an entry shows as a pending Action marked ``SUBMITTED`` until the real one
arrives, and disappears after ``SUBMITTED_TTL`` if it never does. The same note keeps what Arktos cannot
store: that a reboot was HARD (Arktos has one kind of reboot), marked ``REBOOT_TYPE`` on the Action.

Server lists (``GET /servers[/detail]``) are answered from the cache's pods once Arktos has authorized the
list (see ``extproc.compute.server_list``). For that the cache also keeps:

- how far its pod watch has got (``pod_version``: the highest pod resourceVersion applied, from events, lists
  and bookmarks) and, per tenant, the highest resourceVersion of a pod write that passed through this
  processor (``note_written``), so a list can tell whether the cache already shows the client's own writes
  (``caught_up``). ResourceVersions are compared as integers: Kubernetes calls them opaque, but Arktos's
  are etcd revisions (one counter for every object, increasing with every write), as are the simulator's.
  A resourceVersion that is not an integer turns the comparison off (``caught_up`` is then always False and
  lists read Arktos's full list, as without a cache);
- per (tenant or all tenants, namespace), values derived from its pods (``derived``: the servers sorted in
  Nova's order), rebuilt only after a pod of that scope changed.

Health: ``synced`` is True only while every watched resource has been listed and its watch has not
failed since. A reflector whose watch breaks (connection error, 410 Gone, an ERROR event) reports it at
once (``note_watch_broken``): the resource counts as unsynced from that moment until its relist has been
applied, so translators that need a current cache (server lists, Nova's rules) go to Arktos meanwhile
rather than answer from what the broken watch last said. A watch that stalls without any error (a
partition the TCP connection does not notice) is only found out when its read times out.

Batch creates: the cache remembers which member each create reply answered with (``note_first_member``)
and marks that pod with ``batch.FIRST_MEMBER`` in what it holds (a cache-only annotation, kept across
events and relists, never written to Arktos), so every view and the reconciler index it 1. The memory is
bounded (``FIRST_MEMBER_CAPACITY`` batches, oldest forgotten first): a mark only matters until the
reconciler has written the batch's indices, moments after the create.

Only the asyncio loop touches the cache (the reflector threads hand their updates to it), so no lock.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import structlog

from extproc import annotations as keys
from extproc.arktos_watch import Reflector

log = structlog.get_logger("extproc.cluster_cache")

T = TypeVar("T")
Json = dict[str, Any]
Key = tuple[str, str, str]  # tenant, namespace, name

# (kind: "Pod" | "Action" | "ReplicaSet", event type: "ADDED" | "MODIFIED" | "DELETED", object)
Listener = Callable[[str, str, Mapping[str, Any]], None]

POD, ACTION, REPLICASET, RESOURCEQUOTA = "Pod", "Action", "ReplicaSet", "ResourceQuota"
WATCHED_PATHS: Mapping[str, str] = {
    POD: "/api/v1/tenants/all/pods",
    ACTION: "/api/v1/tenants/all/actions",
    REPLICASET: "/apis/apps/v1/tenants/all/replicasets",
    RESOURCEQUOTA: "/api/v1/tenants/all/resourcequotas",
}
# What ``synced`` needs (lists, Nova's rules). ResourceQuotas only feed the batch quota check, which asks
# ``resource_quotas`` and does without them while their watch is not synced.
CORE_KINDS = (POD, ACTION, REPLICASET)

# Marks on Action objects the cache returns (never written to Arktos).
SUBMITTED = "openstack.arktos.io/submitted"
REBOOT_TYPE = "openstack.arktos.io/reboot-type"
# How long a submitted action waits for the watch to show it before the cache forgets it.
SUBMITTED_TTL = 60.0
# How long the cache remembers that a reboot was HARD (longer than any reboot takes).
REBOOT_TYPE_TTL = 3600.0
# Tenants whose latest write through the processor is remembered one by one; older ones share one bound.
WRITTEN_CAPACITY = 10_000
# Scopes (tenant or all tenants, namespace) whose derived values are kept.
DERIVED_CAPACITY = 256
# Batches whose create reply's member is remembered (see the module docstring).
FIRST_MEMBER_CAPACITY = 10_000

OPERATIONS: Mapping[str, tuple[str, str]] = {
    # operation -> (spec field, field of it that identifies the Action in Arktos's 201 reply)
    "reboot": ("rebootAction", ""),
    "snapshot": ("snapshotAction", "snapshotName"),
    "restore": ("restoreAction", "snapshotID"),
}


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

    def pending_actions(self, tenant: str, namespace: str, pod_name: str) -> list[Mapping[str, Any]]:
        """Action objects for the pod that Arktos has not completed yet, oldest first."""
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

    def derived(self, tenant: str | None, namespace: str, build: Callable[[list[Mapping[str, Any]]], T]) -> T:
        """``build(VM pods of tenant in namespace)`` (tenant None: of every tenant), memoized until a pod of
        that scope changes. ``build`` must not change the pods (they are the cache's own objects)."""
        ...

    def memoized(self, tenant: str | None, namespace: str, name: str, compute: Callable[[], T]) -> T:
        """``compute()`` (reading this cache's pods and ReplicaSets of the scope), memoized under ``name``
        until a pod or a ReplicaSet of that scope changes."""
        ...


# ---------------------------------------------------------------------------------------------------------
# Reading Action objects


def operation_of(action: Mapping[str, Any]) -> str | None:
    spec = action.get("spec") or {}
    for operation, (field, _) in OPERATIONS.items():
        if isinstance(spec.get(field), dict):
            return operation
    return None


def action_ref(action: Mapping[str, Any]) -> str:
    """What Arktos's 201 reply names the Action by: its name (reboot), the snapshot name or snapshot id."""
    operation = operation_of(action)
    if operation is None:
        return ""
    field, inner = OPERATIONS[operation]
    if not inner:
        return str((action.get("metadata") or {}).get("name") or "")
    return str(((action.get("spec") or {}).get(field) or {}).get(inner) or "")


def is_complete(action: Mapping[str, Any]) -> bool:
    return bool((action.get("status") or {}).get("complete"))


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    tenant = str(meta.get("tenant") or "system")
    return (tenant, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def tenant_of(obj: Mapping[str, Any]) -> str:
    """The tenant the cache files an object under (``system`` when Arktos names none)."""
    return _key(obj)[0]


def _is_vm_pod(obj: Mapping[str, Any]) -> bool:
    return isinstance((obj.get("spec") or {}).get("virtualMachine"), dict)


def _with_marks(action: Mapping[str, Any], marks: Mapping[str, str]) -> Json:
    meta = dict(action.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), **marks}
    return {**action, "metadata": meta}


@dataclass(slots=True)
class _Submitted:
    tenant: str
    namespace: str
    pod: str
    operation: str
    ref: str
    hard: bool
    at: float  # monotonic
    wall: float  # unix seconds, compared with the real Action's creationTimestamp
    details: Mapping[str, Any]
    seen: bool = False


# ---------------------------------------------------------------------------------------------------------
# The cache


class ClusterCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time):
        self.clock = clock
        self.wall = wall
        self._objects: dict[str, dict[Key, Json]] = {kind: {} for kind in WATCHED_PATHS}
        self._pods_by_ns: dict[tuple[str, str], dict[str, Json]] = {}
        self._quotas_by_ns: dict[tuple[str, str], dict[str, Json]] = {}
        self._actions_by_pod: dict[Key, dict[str, Json]] = {}
        self._snapshots: dict[str, Json] = {}
        self._submitted: list[_Submitted] = []
        self._listed: set[str] = set()
        self._listeners: list[Listener] = []
        self._submission_listeners: list[Callable[[str, str, str, str, str, Mapping[str, Any]], None]] = []
        self._pods_by_name: dict[tuple[str, str], set[str]] = {}
        self._changed: asyncio.Event | None = None
        # Read-your-writes bookkeeping (see the module docstring). -1: nothing applied yet.
        self.pod_version = -1
        self._written: OrderedDict[str, int] = OrderedDict()
        # Bound for tenants evicted from ``_written`` (and for writes of unknown version): never lowered.
        self._written_floor = -1
        self._written_max = -1
        # False once a resourceVersion was not an integer: integer comparison is then meaningless.
        self._versions_comparable = True
        # Change counters: per (tenant, namespace), and per namespace for all-tenants scopes.
        self._generation: dict[tuple[str | None, str], int] = {}
        # The same for ReplicaSets (``memoized`` values depend on both).
        self._rs_generation: dict[tuple[str | None, str], int] = {}
        self._memos: OrderedDict[tuple[str | None, str, str], tuple[tuple[int, int], Any]] = OrderedDict()
        self._derived: OrderedDict[tuple[str | None, str, Any], tuple[int, Any]] = OrderedDict()
        # (tenant, namespace, reservation id) -> the member the create reply answered with.
        self._first_members: OrderedDict[Key, str] = OrderedDict()

    # -- feeding ------------------------------------------------------------------------------------

    def reflectors(
        self, api_client: Any, apply: Callable[[Callable[[], None]], None] | None = None
    ) -> list[Reflector]:
        """One reflector per watched resource, feeding this cache (start them; stop them at shutdown)."""
        return [
            Reflector(
                api_client,
                path,
                *self._feeders(kind),
                name=kind.lower(),
                apply=apply,
                on_progress=self.note_pod_progress if kind == POD else None,
                on_broken=functools.partial(self.note_watch_broken, kind),
            )
            for kind, path in WATCHED_PATHS.items()
        ]

    def note_watch_broken(self, kind: str) -> None:
        """The watch of ``kind`` failed: unsynced until its relist is applied (``apply_list``)."""
        if kind in self._listed:
            log.warning("cache_unsynced", kind=kind, detail="watch failed; relisting")
        self._listed.discard(kind)
        self._notify()

    def resource_synced(self, kind: str) -> bool:
        return kind in self._listed

    def _feeders(self, kind: str) -> tuple[Callable[[list[Json]], None], Callable[[str, Json], None]]:
        def listed(items: list[Json]) -> None:
            self.apply_list(kind, items)

        def changed(event_type: str, obj: Json) -> None:
            self.apply_event(kind, event_type, obj)

        return listed, changed

    def apply_list(self, kind: str, items: list[Json]) -> None:
        """Replace everything known of ``kind``; listeners see the differences as events."""
        wanted = [i for i in items if kind != POD or _is_vm_pod(i)]
        if kind == POD:
            for item in items:
                self._advance(_rv(item))
        old = self._objects[kind]
        new_keys = {_key(i) for i in wanted}
        for key, obj in list(old.items()):
            if key not in new_keys:
                self._apply(kind, "DELETED", obj)
        for obj in wanted:
            previous = old.get(_key(obj))
            if previous is None:
                self._apply(kind, "ADDED", obj)
            elif _rv(previous) != _rv(obj):
                self._apply(kind, "MODIFIED", obj)
        self._listed.add(kind)
        self._notify()

    def apply_event(self, kind: str, event_type: str, obj: Json) -> None:
        if kind == POD:
            # Container pods are not kept, but their events are progress of the pod watch all the same.
            self._advance(_rv(obj))
            if not _is_vm_pod(obj):
                self._notify()
                return
        self._apply(kind, event_type, obj)
        self._notify()

    def _apply(self, kind: str, event_type: str, obj: Json) -> None:
        key = _key(obj)
        table = self._objects[kind]
        if kind == POD and event_type != "DELETED" and self._first_members:
            obj = self._with_first_mark(key, obj)
        if event_type == "DELETED":
            table.pop(key, None)
        else:
            table[key] = obj
        if kind == POD:
            for scope in (key[:2], (None, key[1])):
                self._generation[scope] = self._generation.get(scope, 0) + 1
            pods = self._pods_by_ns.setdefault(key[:2], {})
            tenants = self._pods_by_name.setdefault((key[1], key[2]), set())
            if event_type == "DELETED":
                pods.pop(key[2], None)
                tenants.discard(key[0])
            else:
                pods[key[2]] = obj
                tenants.add(key[0])
        elif kind == ACTION:
            self._index_action(event_type, key, obj)
        elif kind == REPLICASET:
            for scope in (key[:2], (None, key[1])):
                self._rs_generation[scope] = self._rs_generation.get(scope, 0) + 1
        elif kind == RESOURCEQUOTA:
            quotas = self._quotas_by_ns.setdefault(key[:2], {})
            if event_type == "DELETED":
                quotas.pop(key[2], None)
            else:
                quotas[key[2]] = obj
        for listener in list(self._listeners):
            try:
                listener(kind, event_type, obj)
            except Exception:
                log.exception("cluster_listener_failed", kind=kind, change=event_type)

    def _index_action(self, event_type: str, key: Key, obj: Json) -> None:
        pod_name = str((obj.get("spec") or {}).get("podName") or "")
        by_pod = self._actions_by_pod.setdefault((key[0], key[1], pod_name), {})
        snapshot_name = action_ref(obj) if operation_of(obj) == "snapshot" else ""
        if event_type == "DELETED":
            by_pod.pop(key[2], None)
            current = self._snapshots.get(snapshot_name) if snapshot_name else None
            if current is not None and _key(current) == key:
                del self._snapshots[snapshot_name]
            return
        by_pod[key[2]] = obj
        if snapshot_name:
            self._snapshots[snapshot_name] = obj
        for note in self._submitted:
            if (note.tenant, note.namespace, note.pod) == (key[0], key[1], pod_name) and self._matches(
                note, obj
            ):
                note.seen = True

    def _matches(self, note: _Submitted, action: Mapping[str, Any]) -> bool:
        if operation_of(action) != note.operation or action_ref(action) != note.ref:
            return False
        # A restore of the same snapshot id, or a snapshot name, could be reused; only an Action created
        # around or after the submission is this one (timestamps have one-second resolution).
        created = _unix((action.get("metadata") or {}).get("creationTimestamp"))
        return created is None or created >= int(note.wall) - 1

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # -- batch create replies -------------------------------------------------------------------------

    def _with_first_mark(self, key: Key, obj: Json) -> Json:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        reservation = labels.get(keys.RESERVATION_ID)
        if not reservation or self._first_members.get((key[0], key[1], str(reservation))) != key[2]:
            return obj
        return _with_marks(obj, {keys.FIRST_MEMBER: "true"})

    def note_first_member(self, tenant: str, namespace: str, reservation: str, pod_name: str) -> None:
        self._first_members[(tenant, namespace, reservation)] = pod_name
        while len(self._first_members) > FIRST_MEMBER_CAPACITY:
            self._first_members.popitem(last=False)
        pod = self._objects[POD].get((tenant, namespace, pod_name))
        if pod is not None:
            # Stored again, marked: the scope's derived values (sorted servers, names) are rebuilt.
            self._apply(POD, "MODIFIED", pod)
            self._notify()

    def first_member_hint(self, key: tuple[str, str, str]) -> str | None:
        return self._first_members.get(key)

    # -- read-your-writes ---------------------------------------------------------------------------

    def _version(self, resource_version: str | None) -> int | None:
        if not resource_version:
            return None
        try:
            return int(resource_version)
        except ValueError:
            if self._versions_comparable:
                log.warning("resource_version_not_an_integer", resource_version=resource_version)
            self._versions_comparable = False
            return None

    def _advance(self, resource_version: str) -> None:
        version = self._version(resource_version)
        if version is not None and version > self.pod_version:
            self.pod_version = version

    def note_pod_progress(self, resource_version: str) -> None:
        """The pod watch is at ``resource_version``: a list's own, or a BOOKMARK's (no object changed)."""
        self._advance(resource_version)
        self._notify()

    def note_written(self, tenant: str, resource_version: str | None) -> None:
        version = self._version(resource_version)
        if version is None:
            # NOTE: a 2xx write whose reply shows no version: the write is at most as new as what Arktos
            # has done so far, which is more than the cache has seen; one more pod event than now is the
            # best bound known (lists of that tenant read Arktos until then).
            version = self.pod_version + 1
        known = self._written.pop(tenant, -1)
        self._written[tenant] = max(known, version)
        self._written_max = max(self._written_max, version)
        while len(self._written) > WRITTEN_CAPACITY:
            _, evicted = self._written.popitem(last=False)
            self._written_floor = max(self._written_floor, evicted)

    def written_version(self, tenant: str | None) -> int:
        """The highest pod write through the processor for ``tenant`` (None: any tenant); -1 if none."""
        if tenant is None:
            return self._written_max
        return self._written.get(tenant, self._written_floor)

    def caught_up(self, tenant: str | None) -> bool:
        return self._versions_comparable and self.pod_version >= self.written_version(tenant)

    # -- derived values -----------------------------------------------------------------------------

    def derived(self, tenant: str | None, namespace: str, build: Callable[[list[Mapping[str, Any]]], T]) -> T:
        scope = (tenant, namespace)
        generation = self._generation.get(scope, 0)
        key = (tenant, namespace, build)
        found = self._derived.get(key)
        if found is not None and found[0] == generation:
            self._derived.move_to_end(key)
            value: T = found[1]
            return value
        if tenant is None:
            pods: list[Mapping[str, Any]] = [
                p for (_, ns), named in self._pods_by_ns.items() if ns == namespace for p in named.values()
            ]
        else:
            pods = list(self._pods_by_ns.get((tenant, namespace), {}).values())
        value = build(pods)
        self._derived[key] = (generation, value)
        self._derived.move_to_end(key)
        while len(self._derived) > DERIVED_CAPACITY:
            self._derived.popitem(last=False)
        return value

    def memoized(self, tenant: str | None, namespace: str, name: str, compute: Callable[[], T]) -> T:
        scope = (tenant, namespace)
        version = (self._generation.get(scope, 0), self._rs_generation.get(scope, 0))
        key = (tenant, namespace, name)
        found = self._memos.get(key)
        if found is not None and found[0] == version:
            self._memos.move_to_end(key)
            value: T = found[1]
            return value
        value = compute()
        self._memos[key] = (version, value)
        self._memos.move_to_end(key)
        while len(self._memos) > DERIVED_CAPACITY:
            self._memos.popitem(last=False)
        return value

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
        if operation not in OPERATIONS:
            return
        now = self.clock()
        self._prune(now)
        note = _Submitted(
            tenant, namespace, pod_name, operation, ref, hard, now, self.wall(), dict(details or {})
        )
        for action in self._actions_by_pod.get((tenant, namespace, pod_name), {}).values():
            if self._matches(note, action):
                note.seen = True
        self._submitted.append(note)
        for listener in list(self._submission_listeners):
            try:
                listener(tenant, namespace, pod_name, operation, ref, note.details)
            except Exception:
                log.exception("cluster_submission_listener_failed", operation=operation)
        self._notify()

    def on_submitted(self, listener: Callable[[str, str, str, str, str, Mapping[str, Any]], None]) -> None:
        """Called with (tenant, namespace, pod, operation, ref, details) after each ``note_submitted``."""
        self._submission_listeners.append(listener)

    def submitted_details(self, ref: str) -> Mapping[str, Any] | None:
        now = self.clock()
        for note in reversed(self._submitted):
            if note.ref == ref and now - note.at < REBOOT_TYPE_TTL:
                return note.details
        return None

    def locate_pod(self, namespace: str, name: str) -> str | None:
        tenants = self._pods_by_name.get((namespace, name)) or set()
        return next(iter(tenants)) if len(tenants) == 1 else None

    def _prune(self, now: float) -> None:
        # A HARD reboot's note outlives the reboot (it is the only record of its type); others only wait
        # for the watch.
        self._submitted = [
            n for n in self._submitted if now - n.at < (REBOOT_TYPE_TTL if n.hard else SUBMITTED_TTL)
        ]

    def _hard_reboot(self, tenant: str, namespace: str, action: Mapping[str, Any]) -> bool:
        name = str((action.get("metadata") or {}).get("name") or "")
        return any(
            n.hard
            and n.operation == "reboot"
            and n.ref == name
            and n.tenant == tenant
            and n.namespace == namespace
            for n in self._submitted
        )

    # -- ClusterView --------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._listed.issuperset(CORE_KINDS)

    def pod(self, tenant: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._objects[POD].get((tenant, namespace, name))

    def pods_with_label(self, tenant: str, namespace: str, key: str, value: str) -> list[Mapping[str, Any]]:
        pods = self._pods_by_ns.get((tenant, namespace), {}).values()
        return [p for p in pods if ((p.get("metadata") or {}).get("labels") or {}).get(key) == value]

    def pending_actions(self, tenant: str, namespace: str, pod_name: str) -> list[Mapping[str, Any]]:
        known = self._actions_by_pod.get((tenant, namespace, pod_name))
        if not known and not self._submitted:
            # The common case, asked for every server of a list: nothing in flight anywhere for it.
            return []
        self._prune(self.clock())
        found: list[Mapping[str, Any]] = []
        for action in (known or {}).values():
            if is_complete(action):
                continue
            if operation_of(action) == "reboot" and self._hard_reboot(tenant, namespace, action):
                action = _with_marks(action, {REBOOT_TYPE: "HARD"})
            found.append(action)
        for note in self._submitted:
            if note.seen or (note.tenant, note.namespace, note.pod) != (tenant, namespace, pod_name):
                continue
            if self.clock() - note.at >= SUBMITTED_TTL:
                continue
            found.append(_submitted_action(note))
        found.sort(key=lambda a: (str((a.get("metadata") or {}).get("creationTimestamp") or ""), _name(a)))
        return found

    def actions_of_pod(self, tenant: str, namespace: str, pod_name: str) -> list[Mapping[str, Any]]:
        return list(self._actions_by_pod.get((tenant, namespace, pod_name), {}).values())

    def snapshot_action(self, snapshot_name: str) -> Mapping[str, Any] | None:
        found = self._snapshots.get(snapshot_name)
        if found is not None:
            return found
        now = self.clock()
        for note in self._submitted:
            if note.operation == "snapshot" and note.ref == snapshot_name and now - note.at < SUBMITTED_TTL:
                return _submitted_action(note)
        return None

    def snapshot_actions(self, tenant: str) -> list[Mapping[str, Any]]:
        """Snapshot Actions of ``tenant`` (with stand-ins for submissions not seen yet)."""
        found: dict[str, Mapping[str, Any]] = {
            name: action for name, action in self._snapshots.items() if _key(action)[0] == tenant
        }
        now = self.clock()
        for note in self._submitted:
            fresh = now - note.at < SUBMITTED_TTL
            if fresh and note.operation == "snapshot" and note.tenant == tenant and note.ref not in found:
                found[note.ref] = _submitted_action(note)
        return list(found.values())

    def actions(self) -> list[Mapping[str, Any]]:
        """Every Action known (reconcilers scan them after a relist)."""
        return list(self._objects[ACTION].values())

    def replicasets_with_label(self, key: str) -> list[Mapping[str, Any]]:
        return [
            rs
            for rs in self._objects[REPLICASET].values()
            if key in ((rs.get("metadata") or {}).get("labels") or {})
        ]

    def resource_quotas(self, tenant: str, namespace: str) -> list[Mapping[str, Any]] | None:
        if RESOURCEQUOTA not in self._listed:
            return None
        return list(self._quotas_by_ns.get((tenant, namespace), {}).values())

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def wait_for(self, probe: Callable[[], T | None], timeout: float) -> T | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = probe()
            if value is not None:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return probe()


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _unix(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def _submitted_action(note: _Submitted) -> Json:
    """A stand-in Action for a submission the watch has not shown yet."""
    field, inner = OPERATIONS[note.operation]
    marks = {SUBMITTED: "true"}
    if note.hard:
        marks[REBOOT_TYPE] = "HARD"
    created = datetime.fromtimestamp(int(note.wall), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = note.ref if not inner else f"{note.operation}-{int(note.wall)}"
    return {
        "metadata": {
            "name": name,
            "tenant": note.tenant,
            "namespace": note.namespace,
            "creationTimestamp": created,
            "annotations": marks,
        },
        "spec": {"podName": note.pod, field: {inner: note.ref} if inner else {}},
        "status": {},
    }
