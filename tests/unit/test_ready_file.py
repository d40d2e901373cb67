"""The processor's readiness file follows its watches (``--ready-file``, the Kubernetes readiness probe)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, cast

from extproc import __main__ as processor


class Watches:
    synced = False


async def test_the_file_exists_only_while_the_watches_are_synced(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(processor, "READY_CHECK_SECONDS", 0.01)
    ready = tmp_path / "ready"
    watches = Watches()
    task = asyncio.create_task(processor._keep_ready_file(ready, cast(Any, watches)))
    try:
        await asyncio.sleep(0.05)
        assert not ready.exists()
        watches.synced = True
        await asyncio.sleep(0.05)
        assert ready.exists()
        watches.synced = False  # a watch broke: out of the Service until it has relisted
        await asyncio.sleep(0.05)
        assert not ready.exists()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_without_arktos_the_processor_is_ready_at_once(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(processor, "READY_CHECK_SECONDS", 0.01)
    ready = tmp_path / "ready"
    task = asyncio.create_task(processor._keep_ready_file(ready, None))
    try:
        await asyncio.sleep(0.05)
        assert ready.exists()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
