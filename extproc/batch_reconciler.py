"""Finishes every batch create: names the members ``name-<i>``, then detaches them from their ReplicaSet.

On Arktos a pod owned by a ReplicaSet is replaced when deleted, so the servers of a batch are not
independent until the ReplicaSet is gone. Once the controller has created every member, this reconciler
(the processor's own credential, ``extproc.arktos_client``):

1. writes each member's index and Nova name (``extproc.compute.batch.name_patch``; indices from
   ``assign_indices``, the same function the views use before the write, so names never change);
2. deletes the ReplicaSet with ``propagationPolicy: Orphan``: Arktos keeps the pods and removes their
   ownerReferences (fixtures 29, 30). From then on each server is an ordinary VM pod.

Restart-safe because it keeps no state of its own: the work left is read from the watch cache (a
ReplicaSet labelled with a reservation id still exists ⇒ its batch is not finished), and both steps are
idempotent (an index already written is kept, a ReplicaSet already gone is a 404). A processor killed between
the two steps finds the ReplicaSet again when its cache lists at start and finishes the job. The names are
written before the ReplicaSet goes so that no member is ever left independent without its name.

A batch the controller cannot complete (``ReplicaFailure``: quota, admission) is left to the controller,
which keeps retrying as Kubernetes's does, and its missing members show as ERROR servers with the
failure as their fault (``batch.failed_members``) until either the controller creates them or the user
deletes them (``DELETE`` of such a server lowers the ReplicaSet's replicas by one): only then is the set
complete and the batch detached. If the quota never frees, that is where it stays, as in Nova: the ERROR
server remains until the user deletes it. If not one member exists (the cache shows none and the
ReplicaSet's status counts none: the two come on separate watches), the create reply has already told the
client the error, and the empty ReplicaSet is deleted so nothing half-created remains. Members whose VM
fails show as ERROR servers with a fault like any other server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from extproc import annotations as keys
from extproc import arktos_paths
from extproc.cluster_cache import ClusterView
from extproc.compute import batch
from extproc.messages import MERGE_PATCH_CONTENT_TYPE

log = structlog.get_logger("extproc.batch_reconciler")

BACKGROUND_DELETE_OPTIONS: dict[str, Any] = {
    "kind": "DeleteOptions",
    "apiVersion": "v1",
    "propagationPolicy": "Background",
}
# How many member names are written at once (each is one PATCH).
NAMING_CONCURRENCY = 32
# Pause after a failed round before retrying (Arktos unreachable, 5xx...).
RETRY_SECONDS = 1.0


class ArktosRequester(Protocol):
    async def request(
        self, method: str, path: str, body: Any = None, content_type: str | None = None
    ) -> tuple[int, Any]: ...


class ReconcileError(Exception):
    """Arktos refused a step; the batch is retried later."""


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    found = obj.get("metadata")
    return found if isinstance(found, dict) else {}


def _owned(pod: Mapping[str, Any]) -> bool:
    return bool(_meta(pod).get("ownerReferences"))


class BatchReconciler:
    def __init__(self, cluster: ClusterView, arktos: ArktosRequester) -> None:
        self.cluster = cluster
        self.arktos = arktos
        self._dirty: set[batch.BatchKey] = set()
        self._wake = asyncio.Event()
        cluster.subscribe(self._on_change)

    # -- what needs work ------------------------------------------------------------------------------

    def _mark(self, key: batch.BatchKey) -> None:
        if key[2]:
            self._dirty.add(key)
            self._wake.set()

    def _on_change(self, kind: str, change: str, obj: Mapping[str, Any]) -> None:
        if change == "DELETED":
            return
        unfinished_batch = kind == "ReplicaSet" and batch.reservation_of(obj) is not None
        unnamed_member = kind == "Pod" and batch.is_member(obj) and batch.index_of(obj) is None
        if unfinished_batch or unnamed_member:
            self._mark(batch.batch_key(obj))

    def mark_all(self) -> None:
        """Every batch whose ReplicaSet still exists (at start: work a previous processor left)."""
        for rs in self.cluster.replicasets_with_label(keys.RESERVATION_ID):
            self._mark(batch.batch_key(rs))

    # -- the loop -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Reconcile dirty batches until cancelled."""
        while not self.cluster.synced:
            await self.cluster.wait_for(lambda: True if self.cluster.synced else None, 60.0)
        self.mark_all()
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._dirty = self._dirty, set()
            failed = False
            for key in sorted(pending):
                try:
                    await self.reconcile(key)
                except Exception as exc:
                    failed = True
                    self._mark(key)
                    log.warning("batch_reconcile_failed", batch=key, error=repr(exc))
            if failed:
                await asyncio.sleep(RETRY_SECONDS)

    # -- one batch ------------------------------------------------------------------------------------

    def _replicaset(self, key: batch.BatchKey) -> Mapping[str, Any] | None:
        for rs in self.cluster.replicasets_with_label(keys.RESERVATION_ID):
            if batch.batch_key(rs) == key and _meta(rs).get("name") == key[2]:
                return rs
        return None

    def _members(self, key: batch.BatchKey) -> list[Mapping[str, Any]]:
        tenant, namespace, reservation = key
        return [
            p
            for p in self.cluster.pods_with_label(tenant, namespace, keys.RESERVATION_ID, reservation)
            if batch.is_member(p) and batch.is_live(p)
        ]

    async def reconcile(self, key: batch.BatchKey) -> None:
        rs = self._replicaset(key)
        members = self._members(key)
        if rs is None:
            # Detached already; only a member orphaned without its name (a replacement the controller made
            # while the ReplicaSet was being deleted) is left to name.
            if any(batch.index_of(p) is None and not _owned(p) for p in members):
                await self._name(members)
            return
        if _meta(rs).get("deletionTimestamp"):
            return
        wanted = batch.replicas_wanted(rs)
        if len(members) < wanted:
            failure = batch.creation_failure(rs)
            if failure is not None and not members and batch.made_nothing(rs):
                log.info("batch_failed_empty", batch=key, reason=failure)
                await self._delete_replicaset(key, BACKGROUND_DELETE_OPTIONS)
            return
        named = await self._name(members)
        # A member the controller added after the snapshot (a replacement) must be named before the
        # ReplicaSet goes; come back for it. (The cache may not show the names just written yet.)
        if any(batch.index_of(p) is None and _meta(p).get("name") not in named for p in self._members(key)):
            self._mark(key)
            return
        await self._delete_replicaset(key, batch.ORPHAN_DELETE_OPTIONS)
        log.info("batch_detached", batch=key, servers=len(members))

    async def _name(self, members: list[Mapping[str, Any]]) -> set[str]:
        """Write the index of every member that has none; the names of the pods written."""
        indices = batch.assign_indices(members)
        todo = [p for p in members if batch.index_of(p) is None]
        if not todo:
            return set()
        limit = asyncio.Semaphore(NAMING_CONCURRENCY)

        async def write(pod: Mapping[str, Any]) -> None:
            meta = _meta(pod)
            name = str(meta.get("name"))
            path = arktos_paths.pod(str(meta.get("tenant")), str(meta.get("namespace")), name)
            patch = batch.name_patch(batch.base_name(pod), indices[name])
            async with limit:
                status, body = await self.arktos.request("PATCH", path, patch, MERGE_PATCH_CONTENT_TYPE)
            if status not in (200, 404):  # 404: deleted meanwhile, nothing to name
                raise ReconcileError(f"PATCH {path}: {status} {body!r}")

        await asyncio.gather(*(write(p) for p in todo))
        return {str(_meta(p).get("name")) for p in todo}

    async def _delete_replicaset(self, key: batch.BatchKey, options: Mapping[str, Any]) -> None:
        tenant, namespace, reservation = key
        path = arktos_paths.replicaset(tenant, namespace, reservation)
        status, body = await self.arktos.request("DELETE", path, dict(options))
        if status not in (200, 202, 404):  # 404: already gone (a previous run)
            raise ReconcileError(f"DELETE {path}: {status} {body!r}")
