"""Real Envoy + real gRPC processor (with a fake gateway) + a fake Arktos upstream, all on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web

from extproc.config import GatewayConfig
from extproc.direct_reads import DirectReads
from extproc.messages import ClientRequest, Outcome
from extproc.reply_budget import ReplyBudget
from extproc.server import create_server

REPO = Path(__file__).resolve().parents[2]
ENVOY_BIN = REPO / ".venv" / "bin" / "envoy"
# The request body limit the plumbing tests run with.
MAX_BODY = 4096


def load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("envoy_render", REPO / "envoy" / "render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeGateway:
    """Routes by exact OpenStack path to a function; records what it was asked."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[ClientRequest], Outcome]] = {}
        self.requests: list[ClientRequest] = []

    def until_settled(self, request: ClientRequest) -> None:
        return None  # no watch cache: nothing to wait for

    def handle(self, request: ClientRequest, request_id: str) -> Outcome:
        self.requests.append(request)
        return self.routes[request.path](request)


@dataclass
class Seen:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeArktos:
    """Records every request; answers with ``reply`` (status, headers, body)."""

    seen: list[Seen] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    body: bytes = b'{"kind":"Pod"}'
    # When set, decides each answer (status, body) from the request instead of the fields above.
    respond: Callable[[Seen], tuple[int, bytes]] | None = None

    async def handler(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(
            request.method,
            request.path_qs,
            {k.lower(): v for k, v in request.headers.items()},
            await request.read(),
        )
        self.seen.append(seen)
        if self.respond is not None:
            status, body = self.respond(seen)
            return web.Response(status=status, headers=self.headers, body=body)
        return web.Response(status=self.status, headers=self.headers, body=self.body)


class Background:
    """An asyncio loop in a thread running the processor and the fake upstream."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Plumbing:
    """Envoy in front of the fake upstream, with the real processor serving a FakeGateway."""

    def __init__(self, workdir: Path, config: GatewayConfig | None = None, unix_socket: bool = False) -> None:
        self.workdir = workdir
        self.config = config or GatewayConfig()
        self.gateway = FakeGateway()
        self.arktos = FakeArktos()
        self.bg = Background()
        self.processor_port = free_port()
        # A short path: unix socket paths are limited to ~100 bytes.
        self.processor_address = (
            f"unix:/tmp/extproc-test-{os.getpid()}-{self.processor_port}.sock"
            if unix_socket
            else f"127.0.0.1:{self.processor_port}"
        )
        self.upstream_port = free_port()
        self.public_port = free_port()
        self.admin_port = free_port()
        self.envoy: subprocess.Popen[bytes] | None = None
        self._server: Any = None
        self._reader: Any = None
        # The processor's large-reply budget (extproc.reply_budget), for tests to read.
        self.budget = ReplyBudget()
        self._runner: web.AppRunner | None = None

    # -- processes ------------------------------------------------------------------------------

    def start(self) -> None:
        self.bg.run(self._start_upstream())
        self.start_processor()
        render = load_render()
        params = render.EnvoyParams(
            arktos_host="127.0.0.1",
            arktos_port=self.upstream_port,
            arktos_tls=False,
            listen_port=self.public_port,
            admin_port=self.admin_port,
            processor=self.processor_address,
            request_buffer_limit=self.config.max_request_body_bytes,
        )
        cfg = render.write(params, self.workdir / "envoy.yaml")
        self.envoy_log = open(self.workdir / "envoy.log", "wb")  # noqa: SIM115
        self.envoy = subprocess.Popen(
            [
                str(ENVOY_BIN),
                "-c",
                str(cfg),
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "warn",
            ],
            stdout=self.envoy_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.envoy.poll() is not None:
                raise RuntimeError("envoy exited: " + (self.workdir / "envoy.log").read_text())
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/ready", timeout=1) as r,
            ):
                if r.status == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("envoy not ready")

    async def _start_upstream(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.arktos.handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.upstream_port).start()

    def start_processor(self) -> None:
        async def start() -> Any:
            # Forward.direct reads go to the fake upstream as the processor's own GETs (extproc.direct_reads).
            self._reader = DirectReads(f"http://127.0.0.1:{self.upstream_port}")
            server, _ = create_server(
                self.gateway, self.config, self.processor_address, reader=self._reader, budget=self.budget
            )
            await server.start()
            return server

        self._server = self.bg.run(start())

    def stop_processor(self) -> None:
        if self._server is not None:
            self.bg.run(self._server.stop(0))
            self.bg.run(self._reader.close())
            self._server = None

    def stop_upstream(self) -> None:
        if self._runner is not None:
            self.bg.run(self._runner.cleanup())
            self._runner = None

    def close(self) -> None:
        if self.envoy is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.envoy.pid, signal.SIGTERM)
            try:
                self.envoy.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.envoy.pid, signal.SIGKILL)
                self.envoy.wait(5)
            self.envoy_log.close()
        self.stop_processor()
        if self.processor_address.startswith("unix:"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.processor_address[len("unix:") :])
        if self._runner is not None:
            self.bg.run(self._runner.cleanup())
        self.bg.close()

    # -- client ---------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.public_port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()


@contextlib.contextmanager
def plumbing(
    workdir: Path, config: GatewayConfig | None = None, unix_socket: bool = False
) -> Iterator[Plumbing]:
    p = Plumbing(workdir, config, unix_socket)
    try:
        p.start()
        yield p
    finally:
        p.close()
