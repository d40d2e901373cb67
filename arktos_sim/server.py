"""The aiohttp layer: moves bytes between HTTP and ``Api``, streams watches, runs the background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import orjson
from aiohttp import web

from . import auth, persistence, status
from .api import Api, ApiRequest, ApiResponse, WatchResponse
from .audit import AuditLog
from .node_agent import NodeAgent
from .quota_controller import QuotaController
from .replicaset_controller import ReplicaSetController
from .store import Store
from .vmpod_controller import VmPodController

log = logging.getLogger("arktos_sim")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

JSON_HEADERS = {"Content-Type": "application/json"}
VERSION = {
    "major": "1",
    "minor": "15",
    "gitVersion": "v0.9.0-arktos-sim",
    "gitCommit": "arktos-sim",
    "gitTreeState": "clean",
    "buildDate": "2022-01-01T00:00:00Z",
    "goVersion": "go1.13.9",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class Simulator:
    """The whole simulator: store, API, node agent, ReplicaSet controller and optional persistence."""

    def __init__(
        self,
        tokens: auth.TokenFile,
        *,
        boot_seconds: float | None = 1.0,
        state_file: Path | None = None,
        bootstrap_tenants: Iterable[str] = (auth.SYSTEM_TENANT, "demo"),
        watch_history: int = 10_000,
        audit_log: Path | None = None,
        watch_delay: float = 0.0,
    ) -> None:
        self.audit = AuditLog(audit_log, tokens) if audit_log is not None else None
        self.store = Store(history=watch_history, watch_delay=watch_delay)
        self.api = Api(self.store, tokens)
        self.state_file = state_file
        if state_file is not None:
            data = persistence.load(state_file)
            if data is not None:
                self.store.restore(data)
        for tenant in dict.fromkeys([auth.SYSTEM_TENANT, *bootstrap_tenants]):
            self.api.ensure_tenant(tenant)
        self.agent = (
            NodeAgent(self.store, boot_seconds) if boot_seconds is not None and boot_seconds >= 0 else None
        )
        self.controller = ReplicaSetController(self.store, self.api)
        self.quotas = QuotaController(self.store)
        self.vmpods = VmPodController(self.store)
        self.persister = persistence.Persister(self.store, state_file) if state_file is not None else None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self.agent is not None:
            self.agent.resync()
            self._tasks.append(asyncio.create_task(self.agent.run(), name="node-agent"))
        self.controller.resync()
        self._tasks.append(asyncio.create_task(self.controller.run(), name="replicaset-controller"))
        self.quotas.resync()
        self._tasks.append(asyncio.create_task(self.quotas.run(), name="quota-controller"))
        self._tasks.append(asyncio.create_task(self.vmpods.run(), name="vmpod-controller"))
        if self.persister is not None:
            self.persister.save()

    async def stop(self) -> None:
        self.store.close_watchers()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.persister is not None:
            self.persister.save()
            self.persister.close()
        if self.audit is not None:
            self.audit.close()

    # ------------------------------------------------------------------ HTTP
    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=[self._audit])
        app.router.add_get("/healthz", _ok)
        app.router.add_get("/readyz", _ok)
        app.router.add_get("/livez", _ok)
        app.router.add_get("/version", _version)
        app.router.add_route("*", "/{tail:.*}", self.handle)

        async def on_startup(_: web.Application) -> None:
            await self.start()

        async def on_shutdown(_: web.Application) -> None:
            self.store.close_watchers()

        async def on_cleanup(_: web.Application) -> None:
            await self.stop()

        app.on_startup.append(on_startup)
        app.on_shutdown.append(on_shutdown)
        app.on_cleanup.append(on_cleanup)
        return app

    @web.middleware
    async def _audit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every request, whatever its path, is in the audit log before its reply is sent."""
        if self.audit is not None:
            self.audit.record(
                request.method,
                request.raw_path,
                request.headers.get("Authorization"),
                request.headers.get("User-Agent"),
            )
        return await handler(request)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read() if request.body_exists else b""
        req = ApiRequest(
            request.method,
            request.path,
            request.query,
            request.headers.get("Authorization"),
            request.headers.get("Content-Type", "application/json"),
            body,
        )
        try:
            result = self.api.handle(req)
        except Exception as exc:  # a bug in the simulator: answer like an API server would, and log it
            log.error("internal error on %s %s: %s", request.method, request.path, traceback.format_exc())
            err = status.internal_error(str(exc))
            return web.Response(status=500, body=orjson.dumps(err.body), headers=JSON_HEADERS)
        if isinstance(result, ApiResponse):
            return web.Response(status=result.status, body=result.body, headers=JSON_HEADERS)
        return await self._stream(request, result)

    async def _stream(self, request: web.Request, watch: WatchResponse) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers=JSON_HEADERS)
        resp.enable_chunked_encoding()
        queue = watch.watcher.queue
        deadline = time.monotonic() + watch.timeout
        try:
            await resp.prepare(request)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    line = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if line is None:
                    break
                chunks = [line]
                closing = False
                while not queue.empty():
                    more = queue.get_nowait()
                    if more is None:
                        closing = True
                        break
                    chunks.append(more)
                await resp.write(b"".join(chunks))
                if closing:
                    break
            with contextlib.suppress(ConnectionError):
                await resp.write_eof()
        except ConnectionError:
            pass
        finally:
            self.store.unwatch(watch.rt, watch.watcher)
        return resp


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _version(_: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(VERSION), headers=JSON_HEADERS)
