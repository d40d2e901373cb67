"""Records on the VM pod the instance actions that start an Arktos Action (reboot, createImage, restore).

A CustomAction POST (``pods/{id}/action``) cannot carry an annotation, so when Arktos has accepted one the
processor adds the action's record (``extproc.compute.instance_actions``: request id, start time, user,
project, the Action's ref) to the pod itself, with its own credential: one merge patch of one annotation,
which needs no read and overwrites nothing else. The client's request has already been authorized by Arktos
(its 201); the record only says what happened. Until the record is written (moments later), readers use the
processor's note of the submission; if the processor dies in between, the Action still shows in the history
under ``req-<Action uid>``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import orjson
import structlog

from extproc import arktos_paths
from extproc.arktos_client import MERGE_PATCH, ArktosClient, ArktosUnavailable
from extproc.compute import instance_actions

log = structlog.get_logger(__name__)

# Attempts per record (a failing Arktos): the record is a convenience, the Action is the truth.
MAX_ATTEMPTS = 5


class InstanceActionRecorder:
    def __init__(self, cluster: Any, client: ArktosClient, retry_delay: float = 1.0) -> None:
        self.cluster = cluster
        self.client = client
        self.retry_delay = retry_delay
        self._queue: asyncio.Queue[tuple[str, str, str, instance_actions.ActionRecord]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0

    def start(self) -> None:
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

    async def _run(self) -> None:
        while True:
            tenant, namespace, pod, record = await self._queue.get()
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
            "PATCH", arktos_paths.pod(tenant, namespace, pod), patch, MERGE_PATCH
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
