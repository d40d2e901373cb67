"""The watch mirror: what the processor's own watches show of the VM pods, Actions, ReplicaSets and
ResourceQuotas of every tenant, indexed for the translators.

Reflectors (``extproc.arktos_watch``) list and watch, with the processor's own credential,
``/api/v1/tenants/all/pods``, ``/api/v1/tenants/all/actions``, ``/apis/apps/v1/tenants/all/replicasets`` and
``/api/v1/tenants/all/resourcequotas`` (the create's quota check, ``extproc.compute.quota``) and feed the
mirror on the asyncio loop (``apply_list`` / ``apply_event``). It is a cache, never the truth: everything in
it can be rebuilt by relisting. ``extproc.cluster_cache.ClusterCache`` is this mirror together with the
read-your-writes tracker (``extproc.read_your_writes``) and the journal of the processor's own intents
(``extproc.intent_journal``); the hooks below are where they meet.

VM pods are kept without the fields no reader uses (``UNREAD_POD_FIELDS``, ``kept_pod``): the mirror holds
every VM pod of every tenant, and a server shown from it is shown exactly as from Arktos's own reply.

Per (tenant or all tenants, namespace) the mirror also keeps values derived from its pods (``derived``: the
servers sorted in Nova's order), rebuilt only after a pod of that scope changed.

Health: ``synced`` is True only while every watched resource has been listed and its watch has not
failed since. A reflector whose watch breaks (connection error, 410 Gone, an ERROR event) reports it at
once (``note_watch_broken``): the resource counts as unsynced from that moment until its relist has been
applied, so translators that need a current cache (server lists, Nova's rules) go to Arktos meanwhile
rather than answer from what the broken watch last said. A watch that stalls without any error (a
partition the TCP connection does not notice) is only found out when its read times out.

Only the asyncio loop touches the mirror (the reflector threads hand their updates to it), so no lock.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import structlog

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
# Scopes (tenant or all tenants, namespace) whose derived values are kept.
DERIVED_CAPACITY = 256
# Tells mirrors apart in the stamps of ``WatchMirror.scope_stamp`` (their counters all start at 0).
_MIRROR_SERIALS = itertools.count(1)


def _count_change(counters: dict[tuple[str | None, str], int], key: Key) -> None:
    """One more change of an object of ``key``'s (tenant, namespace), counted there and in the namespace's
    all-tenants scope."""
    for scope in (key[:2], (None, key[1])):
        counters[scope] = counters.get(scope, 0) + 1


OPERATIONS: Mapping[str, tuple[str, str]] = {
    # operation -> (spec field, field of it that identifies the Action in Arktos's 201 reply)
    "reboot": ("rebootAction", ""),
    "snapshot": ("snapshotAction", "snapshotName"),
    "restore": ("restoreAction", "snapshotID"),
}


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


def object_key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    tenant = str(meta.get("tenant") or "system")
    return (tenant, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def tenant_of(obj: Mapping[str, Any]) -> str:
    """The tenant the cache files an object under (``system`` when Arktos names none)."""
    return object_key(obj)[0]


def _is_vm_pod(obj: Mapping[str, Any]) -> bool:
    return isinstance((obj.get("spec") or {}).get("virtualMachine"), dict)


# What the mirror does not keep of a VM pod (bench/README.md lever (r7)): fields Arktos fills in on every pod
# that no reader of the mirror reads. The readers: the server views (show, list, detail; ``extproc.compute``),
# what is written back from a cached pod (the uid precondition, JSON-patch ``test`` ops on annotations and on
# ``spec.virtualMachine``), the state rules of actions, locks, metadata and tags, instance actions, server
# groups, networks, quotas and the reconcilers (instance actions, snapshots, batches). No module of
# ``extproc`` names any of these fields, and none copies a cached pod or part of it back to Arktos or into a
# reply whole (``tests/unit/test_pod_slimming.py`` checks the names, and that servers render and writes are
# built byte for byte the same from a slimmed pod as from Arktos's own). Everything else is kept as sent.
UNREAD_POD_FIELDS: Mapping[str, frozenset[str]] = {
    # selfLink: the pod's own API path, a string unique to each pod; hashKey: Arktos's int64 hash of the uid
    # (its tenant partitioning), a large int per pod.
    "metadata": frozenset({"selfLink", "hashKey"}),
    "spec": frozenset(
        {
            # Kubernetes's two default NoExecute tolerations (a list, two dicts and two ints per pod): about
            # node eviction, which Nova has no view of.
            "tolerations",
            # Arktos's copy, made at creation, of the VM's name, image and resources: the views read
            # ``spec.virtualMachine``, which is what a rebuild or resize changes.
            "workloadInfo",
            # Pod defaults the API server sets on every pod and Nova has no field for.
            "securityContext",
            "dnsPolicy",
            "enableServiceLinks",
            "priority",
            "restartPolicy",
            "schedulerName",
            "serviceAccount",
            "serviceAccountName",
            "terminationGracePeriodSeconds",
        }
    ),
    # The QoS class Kubernetes derives from the resources; the views read the resources themselves.
    "status": frozenset({"qosClass"}),
}


def kept_pod(pod: Json) -> Json:
    """``pod`` as the mirror keeps it: without ``UNREAD_POD_FIELDS``. A new object whose slimmed parts are
    new, compact dicts (everything else is ``pod``'s own); ``pod`` itself is left as it is."""
    kept = dict(pod)
    for part, unread in UNREAD_POD_FIELDS.items():
        fields = pod.get(part)
        if isinstance(fields, dict) and not unread.isdisjoint(fields):
            kept[part] = {key: value for key, value in fields.items() if key not in unread}
    return kept


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


# ---------------------------------------------------------------------------------------------------------
# The mirror


class WatchMirror:
    def __init__(self) -> None:
        self._objects: dict[str, dict[Key, Json]] = {kind: {} for kind in WATCHED_PATHS}
        self._pods_by_ns: dict[tuple[str, str], dict[str, Json]] = {}
        self._quotas_by_ns: dict[tuple[str, str], dict[str, Json]] = {}
        self._actions_by_pod: dict[Key, dict[str, Json]] = {}
        self._snapshots: dict[str, Json] = {}
        self._listed: set[str] = set()
        self._listeners: list[Listener] = []
        self._pods_by_name: dict[tuple[str, str], set[str]] = {}
        self._changed: asyncio.Event | None = None
        # Change counters: per (tenant, namespace), and per namespace for all-tenants scopes.
        self._generation: dict[tuple[str | None, str], int] = {}
        # The same for ReplicaSets (``memoized`` values depend on both) and for Actions (the tasks in flight a
        # server shows, ``scope_stamp``).
        self._rs_generation: dict[tuple[str | None, str], int] = {}
        self._action_generation: dict[tuple[str | None, str], int] = {}
        self._serial = next(_MIRROR_SERIALS)
        self._memos: OrderedDict[tuple[str | None, str, str], tuple[tuple[int, int], Any]] = OrderedDict()
        self._derived: OrderedDict[tuple[str | None, str, Any], tuple[int, Any]] = OrderedDict()

    # -- hooks (``ClusterCache`` fills them in) -----------------------------------------------------

    def _pod_progress(self, resource_version: str) -> None:
        """The pod watch has got to ``resource_version``."""

    def _pod_as_kept(self, key: Key, obj: Json) -> Json:
        """The pod as the mirror keeps it (with the cache-only marks the journal adds)."""
        return obj

    def _action_shown(self, tenant: str, namespace: str, pod_name: str, action: Json) -> None:
        """The watch shows ``action`` of the pod."""

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

    def note_pod_progress(self, resource_version: str) -> None:
        """The pod watch is at ``resource_version``: a list's own, or a BOOKMARK's (no object changed)."""
        self._pod_progress(resource_version)
        self._notify()

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
                self._pod_progress(_rv(item))
        old = self._objects[kind]
        new_keys = {object_key(i) for i in wanted}
        for key, obj in list(old.items()):
            if key not in new_keys:
                self._apply(kind, "DELETED", obj)
        for obj in wanted:
            previous = old.get(object_key(obj))
            if previous is None:
                self._apply(kind, "ADDED", obj)
            elif _rv(previous) != _rv(obj):
                self._apply(kind, "MODIFIED", obj)
        self._listed.add(kind)
        self._notify()

    def apply_event(self, kind: str, event_type: str, obj: Json) -> None:
        if kind == POD:
            # Container pods are not kept, but their events are progress of the pod watch all the same.
            self._pod_progress(_rv(obj))
            if not _is_vm_pod(obj):
                self._notify()
                return
        self._apply(kind, event_type, obj)
        self._notify()

    def _apply(self, kind: str, event_type: str, obj: Json) -> None:
        key = object_key(obj)
        table = self._objects[kind]
        if kind == POD and event_type != "DELETED":
            obj = self._pod_as_kept(key, kept_pod(obj))
        if event_type == "DELETED":
            table.pop(key, None)
        else:
            table[key] = obj
        if kind == POD:
            _count_change(self._generation, key)
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
            _count_change(self._rs_generation, key)
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
        _count_change(self._action_generation, key)
        pod_name = str((obj.get("spec") or {}).get("podName") or "")
        by_pod = self._actions_by_pod.setdefault((key[0], key[1], pod_name), {})
        snapshot_name = action_ref(obj) if operation_of(obj) == "snapshot" else ""
        if event_type == "DELETED":
            by_pod.pop(key[2], None)
            current = self._snapshots.get(snapshot_name) if snapshot_name else None
            if current is not None and object_key(current) == key:
                del self._snapshots[snapshot_name]
            return
        by_pod[key[2]] = obj
        if snapshot_name:
            self._snapshots[snapshot_name] = obj
        self._action_shown(key[0], key[1], pod_name, obj)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

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

    def scope_stamp(self, tenant: str | None, namespace: str) -> tuple[int, ...]:
        """Where the mirror stands for the scope (tenant None: every tenant): equal stamps mean that no pod,
        ReplicaSet or Action of the scope has changed in between (``ClusterCache.scope_stamp`` adds its
        journal). Stamps of two mirrors never compare equal."""
        scope = (tenant, namespace)
        return (
            self._serial,
            self._generation.get(scope, 0),
            self._rs_generation.get(scope, 0),
            self._action_generation.get(scope, 0),
        )

    # -- reads --------------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._listed.issuperset(CORE_KINDS)

    def pod(self, tenant: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._objects[POD].get((tenant, namespace, name))

    def pods_with_label(self, tenant: str, namespace: str, key: str, value: str) -> list[Mapping[str, Any]]:
        pods = self._pods_by_ns.get((tenant, namespace), {}).values()
        return [p for p in pods if ((p.get("metadata") or {}).get("labels") or {}).get(key) == value]

    def locate_pod(self, namespace: str, name: str) -> str | None:
        tenants = self._pods_by_name.get((namespace, name)) or set()
        return next(iter(tenants)) if len(tenants) == 1 else None

    def actions_of_pod(self, tenant: str, namespace: str, pod_name: str) -> list[Mapping[str, Any]]:
        return list(self._actions_by_pod.get((tenant, namespace, pod_name), {}).values())

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
