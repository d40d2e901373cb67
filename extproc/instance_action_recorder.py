"""Records on the VM pod the instance actions that start an Arktos Action (reboot, createImage, restore).

A CustomAction POST (``pods/{id}/action``) cannot carry an annotation, so when Arktos has accepted one the
processor adds the action's record (``extproc.compute.instance_actions``: request id, start time, user,
project, the Action's ref) to the pod itself, with its own credential: one merge patch of one annotation,
which needs no read and overwrites nothing else. The client's request has already been authorized by Arktos
(its 201); the record only says what happened. Until the record is written (moments later), readers use the
processor's note of the submission; if the processor dies in between, the Action still shows in the history
under ``req-<Action uid>``.

The records are bounded: Kubernetes refuses an object whose annotations pass 256 KiB, which would make
every later patch of the pod fail. When the watch shows a pod with more than ``MAX_RECORDS`` records, the
recorder removes the oldest ones in one JSON patch that first ``test``s each removed value (a pod changed
meanwhile fails the test, 422, and its next watch event tries again). An action whose record went shows from
its Arktos Action while Arktos keeps it (``req-<Action uid>``), else no longer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import orjson
import structlog

from extproc import annotations as keys
from extproc import arktos_paths
from extproc.arktos_client import ArktosClient, ArktosUnavailable
from extproc.cluster_cache import POD, tenant_of
from extproc.compute import instance_actions
from extproc.messages import JSON_PATCH_CONTENT_TYPE, MERGE_PATCH_CONTENT_TYPE

log = structlog.get_logger(__name__)

# (tenant, namespace, pod, the record to write; None: prune the pod's oldest records)
Work = tuple[str, str, str, instance_actions.ActionRecord | None]

# Attempts per record (a failing Arktos): the record is a convenience, the Action is the truth.
MAX_ATTEMPTS = 5
# Records kept per pod (about 200 bytes each: far below Kubernetes' 256 KiB of annotations, with room for
# Nova's 128 metadata items).
MAX_RECORDS = 100


class InstanceActionRecorder:
    def __init__(self, cluster: Any, client: ArktosClient, retry_delay: float = 1.0) -> None:
        self.cluster = cluster
        self.client = client
        self.retry_delay = retry_delay
        # (tenant, namespace, pod, record to write, or None: prune the pod's oldest records)
        self._queue: asyncio.Queue[Work] = asyncio.Queue()
        self._pruning: set[tuple[str, str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0
        self.prunes = 0

    def start(self) -> None:
        self.cluster.subscribe(self._on_change)
        self.cluster.on_submitted(self._on_submitted)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="instance-action-recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_submitted(
        self, tenant: str, namespace: str, pod: str, operation: str, ref: str, details: Mapping[str, Any]
    ) -> None:
        record = instance_actions.submitted_record(details)
        if record is not None:
            self._queue.put_nowait((tenant, namespace, pod, record))

    def _on_change(self, kind: str, change: str, obj: Mapping[str, Any]) -> None:
        if kind != POD or change == "DELETED":
            return
        meta = obj.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        count = sum(1 for key in annotations if str(key).startswith(keys.INSTANCE_ACTION_PREFIX))
        if count <= MAX_RECORDS:
            return
        where = (tenant_of(obj), str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if where not in self._pruning:
            self._pruning.add(where)
            self._queue.put_nowait((*where, None))

    async def _run(self) -> None:
        while True:
            tenant, namespace, pod, record = await self._queue.get()
            if record is None:
                self._pruning.discard((tenant, namespace, pod))
                try:
                    await self.prune(tenant, namespace, pod)
                except ArktosUnavailable as exc:
                    log.warning("instance_action_prune_failed", pod=pod, error=repr(exc))
                continue
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    if await self.record(tenant, namespace, pod, record):
                        break
                except ArktosUnavailable as exc:
                    log.warning(
                        "instance_action_record_failed", request_id=record.request_id, error=repr(exc)
                    )
                if attempt < MAX_ATTEMPTS:
                    await asyncio.sleep(self.retry_delay)

    async def record(
        self, tenant: str, namespace: str, pod: str, record: instance_actions.ActionRecord
    ) -> bool:
        """Write ``record`` on the pod; True when done (or pointless: the pod is gone)."""
        patch = orjson.dumps({"metadata": {"annotations": instance_actions.record_annotations(record)}})
        status, body = await self.client.request(
            "PATCH", arktos_paths.pod(tenant, namespace, pod), patch, MERGE_PATCH_CONTENT_TYPE
        )
        if status == 200:
            self.writes += 1
            return True
        if status == 404:
            return True  # deleted meanwhile: its history went with it
        log.warning(
            "instance_action_record_refused",
            request_id=record.request_id,
            status=status,
            body=str(body)[:200],
        )
        return False

    async def prune(self, tenant: str, namespace: str, pod: str) -> None:
        """Remove the pod's oldest records beyond ``MAX_RECORDS`` (as the cache shows them), conditionally."""
        cached = self.cluster.pod(tenant, namespace, pod)
        if cached is None:
            return
        ops = prune_patch(cached, MAX_RECORDS)
        if not ops:
            return
        status, _body = await self.client.request(
            "PATCH", arktos_paths.pod(tenant, namespace, pod), orjson.dumps(ops), JSON_PATCH_CONTENT_TYPE
        )
        if status == 200:
            self.prunes += 1
        elif status not in (404, 409, 422):
            log.warning("instance_action_prune_refused", pod=pod, status=status)


def prune_patch(pod: Mapping[str, Any], keep: int) -> list[dict[str, Any]]:
    """The JSON patch removing all but the newest ``keep`` records of ``pod``, each tested first."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    found: list[tuple[str, str, str]] = []
    for key, value in annotations.items():
        record = instance_actions.record_of(str(key), value)
        if record is not None:
            found.append((record.start_time, str(key), str(value)))
        elif str(key).startswith(keys.INSTANCE_ACTION_PREFIX):
            found.append(("", str(key), str(value)))  # unreadable: oldest of all
    found.sort()
    ops: list[dict[str, Any]] = []
    for _start, key, value in found[: max(len(found) - keep, 0)]:
        path = "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")
        ops.append({"op": "test", "path": path, "value": value})
        ops.append({"op": "remove", "path": path})
    return ops
