"""``python -m gateway_stack mirror``: a front Envoy before the user's Nova, mirroring to the gateway.

    python -m gateway_stack mirror --primary https://nova.example --shadow-tokens tokens.yaml \\
        --capture capture/ [--port 8090]

Starts the shadow (the gateway stack: the simulator unless ARKTOS_URL names an Arktos, the processor, the
gateway's Envoy; or ``--shadow URL``, a gateway already running), the recorder
(``python -m gateway_stack.mirror.serve``) and the front Envoy on ``--port``. Clients are pointed at the
front: they get the primary's replies, unchanged. ``python -m gateway_stack report <capture>`` compares.
``--print-envoy-config`` prints the front Envoy's configuration (for a deployment) and exits.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway_stack.mirror import front_envoy
from gateway_stack.mirror.credentials import ShadowTokensError, load_shadow_tokens
from gateway_stack.mirror.serve import READY_LINE
from gateway_stack.procs import Child, Interrupted, free_port, http_ok, tcp_open, wait_until
from gateway_stack.stack import REPO_ROOT, Stack, envoy_argv
from gateway_stack.supervisor import StopSignals, Supervisor

DEFAULT_FRONT_PORT = 8090


class MirrorStack:
    """The shadow gateway (optional), the recorder and the front Envoy; supervised like ``Stack``."""

    def __init__(
        self,
        *,
        workdir: Path,
        primary: str,
        shadow_tokens: Path,
        capture: Path,
        port: int,
        primary_ca: str | None = None,
        shadow_url: str | None = None,
        gateway: Stack | None = None,
        admin_port: int | None = None,
        startup_timeout: float = 60.0,
        recorder_args: Sequence[str] = (),
    ) -> None:
        if (shadow_url is None) == (gateway is None):
            raise ValueError("the shadow is either a URL or a gateway stack to start")
        self.workdir = workdir.resolve()
        self.primary_url = primary.rstrip("/")
        self.primary = front_envoy.parse_primary(primary)
        self.primary_ca = primary_ca
        self.shadow_tokens = shadow_tokens.resolve()
        self.capture = capture.resolve()
        self.port = port
        self.admin_port = admin_port or free_port()
        self.observer_port = free_port()
        self.relay_port = free_port()
        self.gateway = gateway
        self.shadow_url = shadow_url or (gateway.public_url if gateway is not None else "")
        self.startup_timeout = startup_timeout
        self.recorder_args = list(recorder_args)
        self.logs_dir = self.workdir / "logs"
        self.envoy_config = self.workdir / "front-envoy.yaml"
        self.front_url = f"http://127.0.0.1:{self.port}"
        self.recorder: Child | None = None
        self.front: Child | None = None
        self._recorder_offset = 0
        self.abort: Callable[[], bool] | None = None

    @property
    def children(self) -> list[Child]:
        own = [c for c in (self.recorder, self.front) if c is not None]
        return (self.gateway.children if self.gateway is not None else []) + own

    def front_params(self) -> front_envoy.FrontParams:
        return front_envoy.FrontParams(
            primary=self.primary,
            primary_ca=self.primary_ca,
            observer=("127.0.0.1", self.observer_port),
            relay=("127.0.0.1", self.relay_port),
            listen_port=self.port,
            admin_port=self.admin_port,
            access_log_path=str(self.logs_dir / "front-access.log"),
        )

    def start(self) -> None:
        load_shadow_tokens(self.shadow_tokens)  # a bad file stops the start here, not in a child's log
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.gateway is not None:
                self.gateway.abort = self.abort
                self.gateway.start()
            self.start_recorder()
            self.start_front()
        except BaseException:
            self.stop()
            raise

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start_recorder(self) -> None:
        log = self.logs_dir / "mirror-recorder.log"
        self._recorder_offset = log.stat().st_size if log.exists() else 0
        argv = [
            sys.executable,
            "-m",
            "gateway_stack.mirror.serve",
            "--observer-listen",
            f"127.0.0.1:{self.observer_port}",
            "--relay-listen",
            f"127.0.0.1:{self.relay_port}",
            "--shadow",
            self.shadow_url,
            "--shadow-tokens",
            str(self.shadow_tokens),
            "--capture",
            str(self.capture),
            "--primary",
            self.primary_url,
            *(["--primary-ca", self.primary_ca] if self.primary_ca else []),
            *self.recorder_args,
        ]
        self.recorder = Child("mirror-recorder", argv, log, env=self._env(), cwd=REPO_ROOT)
        self.recorder.start()

        def ready() -> bool:
            try:
                fresh = log.read_bytes()[self._recorder_offset :]
            except OSError:
                return False
            return READY_LINE.encode() in fresh

        wait_until("the mirror recorder", ready, self.recorder, self.startup_timeout, abort=self.abort)

    def start_front(self) -> None:
        self.envoy_config.write_text(front_envoy.render(self.front_params()))
        argv = envoy_argv(self.envoy_config)
        self.front = Child(
            "front-envoy", argv, self.logs_dir / "front-envoy.log", env=self._env(), cwd=self.workdir
        )
        self.front.start()
        wait_until(
            "the front Envoy's /ready",
            lambda: http_ok(f"http://127.0.0.1:{self.admin_port}/ready") and tcp_open("127.0.0.1", self.port),
            self.front,
            self.startup_timeout,
            abort=self.abort,
        )

    def stop_recorder(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()

    def restart(self, child: Child) -> None:
        if child is self.recorder:
            self.start_recorder()
        elif child is self.front:
            self.start_front()
        elif self.gateway is not None:
            self.gateway.restart(child)

    def stop(self, timeout: float = 10.0) -> None:
        for child in (self.front, self.recorder):
            if child is not None:
                child.stop(timeout)
        if self.gateway is not None:
            self.gateway.stop(timeout)

    def summary(self) -> str:
        return (
            f"front (clients):   {self.front_url}\n"
            f"primary:           {'https' if self.primary.tls else 'http'}://{self.primary.host}:{self.primary.port}\n"
            f"shadow (gateway):  {self.shadow_url}\n"
            f"capture:           {self.capture}\n"
            f"logs:              {self.logs_dir}\n"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m gateway_stack mirror", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--primary", required=True, help="base URL of the primary (its /identity, /compute, /image)"
    )
    ap.add_argument(
        "--primary-ca", help="CA bundle of the primary's certificate (https; default: the system's)"
    )
    ap.add_argument(
        "--shadow-tokens", type=Path, required=True, help="YAML: primary project id or name -> Arktos token"
    )
    ap.add_argument("--capture", type=Path, required=True, help="directory of the capture files")
    ap.add_argument("--port", type=int, default=DEFAULT_FRONT_PORT, help="port of the front Envoy (clients)")
    ap.add_argument("--shadow", help="URL of a gateway already running (default: start one)")
    ap.add_argument(
        "--workdir", type=Path, default=Path(os.environ.get("GATEWAY_WORKDIR", ".run")) / "mirror"
    )
    ap.add_argument(
        "--print-envoy-config", action="store_true", help="print the front Envoy's config and exit"
    )
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        load_shadow_tokens(args.shadow_tokens)
    except ShadowTokensError as exc:
        print(f"gateway_stack mirror: {exc}", file=sys.stderr)
        return 2
    gateway = None
    if args.shadow is None:
        gateway = Stack(
            workdir=args.workdir / "shadow",
            arktos_url=os.environ.get("ARKTOS_URL") or None,
            arktos_ca=os.environ.get("ARKTOS_CA") or None,
            arktos_token=os.environ.get("ARKTOS_TOKEN") or None,
            sim_state=args.workdir / "shadow" / "arktos-state.json",
        )
    try:
        mirror = MirrorStack(
            workdir=args.workdir,
            primary=args.primary,
            primary_ca=args.primary_ca,
            shadow_tokens=args.shadow_tokens,
            capture=args.capture,
            port=args.port,
            shadow_url=args.shadow,
            gateway=gateway,
        )
    except ValueError as exc:
        print(f"gateway_stack mirror: {exc}", file=sys.stderr)
        return 2
    if args.print_envoy_config:
        print(front_envoy.render(mirror.front_params()), end="")
        return 0
    signals = StopSignals()
    signals.install()
    supervisor = Supervisor(mirror, signals, sys.stderr)
    try:
        try:
            mirror.start()
        except Interrupted:
            return 0
        except Exception as exc:
            print(f"gateway_stack mirror: failed to start: {exc}", file=sys.stderr)
            return 1
        print(mirror.summary(), end="")
        print(
            f"(compare: python -m gateway_stack report {args.capture} --out report/; Ctrl-C stops)",
            flush=True,
        )
        return supervisor.run()
    finally:
        mirror.stop()
        signals.uninstall()
