"""A real Arktos control plane for ``make bench``'s second pass (backend ``arktos``).

When an Arktos distribution folder sits beside the repository (``ARKTOS_DIST``, default
``../shared/arktos``: ``up.sh``/``down.sh``, the same one ``make test-arktos`` uses), the bench measures the
gateway against it too: ``up.sh`` starts etcd, Arktos's kube-apiserver and kube-controller-manager in a fresh
run folder on loopback ports (``ARKTOS_PORT``, ``ETCD_PORT`` (and +1), ``KCM_PORT`` when set, free ones
otherwise, so a bench never collides with someone's ``make test-arktos``), the processor and the node agent
get least-privilege credentials (``gateway_stack.arktos_accounts``), and the project's node agent plays the
kubelet (binds the VM pods and reports them running), as in ``tests/e2e/conftest.py``. ``stop()`` stops the
node agent and everything ``up.sh`` started.

Which backends a run measures is ``resolve_backends``: the smoke run (``--quick``, what ``make test``
executes) is simulator-only unless asked otherwise and never looks beside the repository.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType

from gateway_stack.arktos_accounts import GATEWAY_RULES, NODE_AGENT_RULES, provision
from gateway_stack.procs import Child, free_port, wait_until

REPO = Path(__file__).resolve().parents[1]
SIM, ARKTOS = "sim", "arktos"
BACKENDS = (SIM, ARKTOS)
# The tenant users up.sh creates (token "<tenant>-admin-token", every verb on its own tenant only).
DEMO_TOKEN = "demo-admin-token"
ADMIN_TOKEN = "admin-token"
# Arktos's processes whose CPU and memory count as "arktos" in the rows: the API server and its store (the
# simulator is both in one process). The controller manager and the node agent are not on a read's path.
SERVING = ("kube-apiserver", "etcd")


def default_dist() -> Path:
    return Path(os.environ.get("ARKTOS_DIST") or REPO.parent / "shared" / "arktos")


def missing(dist: Path) -> str | None:
    """Why a real Arktos cannot be started from ``dist`` (None: it can)."""
    if not os.access(dist / "up.sh", os.X_OK):
        return f"no Arktos control plane at {dist} (set ARKTOS_DIST to its folder)"
    if shutil.which("etcd") is None:
        return "etcd not found (apt-get install etcd-server)"
    return None


def resolve_backends(requested: Sequence[str] | None, quick: bool, dist: Path) -> tuple[list[str], str]:
    """The backends to measure, in order, and a line saying why.

    ``requested`` (``--backend``) wins. Otherwise: the simulator alone for the smoke run (``--quick``; it
    does not look at ``dist``: ``make test`` never reads beside the repository), and the simulator plus the
    real Arktos when ``dist`` can start one.
    """
    if requested:
        chosen = [b for b in BACKENDS if b in requested]
        return chosen, f"backends {', '.join(chosen)} (--backend)"
    if quick:
        return [SIM], "backend sim only (--quick)"
    reason = missing(dist)
    if reason is None:
        return [SIM, ARKTOS], f"backends sim and arktos (a real Arktos control plane at {dist})"
    return [SIM], f"backend sim only: {reason}"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _etcd_port() -> int:
    """A free port whose successor is free too (etcd's peer port)."""
    for _ in range(50):
        port = free_port()
        if port < 65535 and _port_free(port + 1):
            return port
    raise RuntimeError("no two consecutive free ports for etcd")


def ports(env: Mapping[str, str]) -> dict[str, int]:
    """ARKTOS_PORT, ETCD_PORT, KCM_PORT: from ``env`` when set, free loopback ports otherwise."""
    chosen = {
        "ARKTOS_PORT": int(env["ARKTOS_PORT"]) if env.get("ARKTOS_PORT") else free_port(),
        "ETCD_PORT": int(env["ETCD_PORT"]) if env.get("ETCD_PORT") else _etcd_port(),
        "KCM_PORT": int(env["KCM_PORT"]) if env.get("KCM_PORT") else free_port(),
    }
    return chosen


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of up.sh's ``arktos.env`` (lines ``export A=x B='y z'``)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line)
        if not words or words[0] != "export":
            continue
        for word in words[1:]:
            name, _, value = word.partition("=")
            values[name] = value
    return values


class RealArktos:
    """A running real Arktos with the node agent; a context manager that stops all of it."""

    def __init__(self, dist: Path, run_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.dist = dist.resolve()
        self.run_dir = run_dir
        self.ports = ports(os.environ if env is None else env)
        self.url = ""
        self.ca: str | None = None
        self.gateway_token = ""
        self.agent: Child | None = None
        self.startup_seconds = 0.0
        self._started = False
        self._previous_sigterm: object = None

    def __enter__(self) -> RealArktos:
        # up.sh's processes run in sessions of their own and outlive this one: make a SIGTERM of the bench
        # unwind through stop() instead of leaving them behind (only the main thread may set handlers).
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_exit)
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _script_env(self) -> dict[str, str]:
        return dict(os.environ, **{name: str(port) for name, port in self.ports.items()})

    def start(self) -> None:
        started = time.monotonic()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._started = True
        with open(self.run_dir / "up.log", "ab") as log:
            status = subprocess.run(
                [str(self.dist / "up.sh"), str(self.run_dir)],
                env=self._script_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
                timeout=300,
            ).returncode
        if status != 0:
            raise RuntimeError(f"{self.dist / 'up.sh'} failed ({status}): see {self.run_dir / 'up.log'}")
        values = read_env_file(self.run_dir / "arktos.env")
        self.url = values["ARKTOS_URL"]
        self.ca = values.get("ARKTOS_CA") or None
        admin = values.get("ARKTOS_ADMIN_TOKEN", ADMIN_TOKEN)
        self.gateway_token = provision(self.url, self.ca, admin, "openstack-gateway", GATEWAY_RULES)
        token_file = self.run_dir / "node-agent.token"
        token_file.write_text(provision(self.url, self.ca, admin, "arktos-node-agent", NODE_AGENT_RULES))
        token_file.chmod(0o600)
        # The bench's VMs boot as the simulator's do in the sim pass (BenchStack's vm_boot_seconds).
        argv = [sys.executable, "-m", "arktos_sim.node_agent", "--arktos-url", self.url]
        argv += ["--token-file", str(token_file), "--vm-boot-seconds", "0.1"]
        argv += ["--ca", self.ca] if self.ca else []
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        self.agent = Child("node_agent", argv, self.run_dir / "node_agent.log", env=env, cwd=REPO)
        self.agent.start()
        agent = self.agent
        wait_until("the node agent", lambda: b"node agent ready" in agent.log_path.read_bytes(), agent, 120)
        self.startup_seconds = round(time.monotonic() - started, 1)

    def serving_pids(self) -> list[int]:
        """The API server's and etcd's process ids (read from up.sh's pid files)."""
        pids = []
        for name in SERVING:
            try:
                pids.append(int((self.run_dir / "pids" / f"{name}.pid").read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                continue
        return pids

    def stop(self) -> None:
        if self.agent is not None:
            self.agent.stop()
            self.agent = None
        if self._started:
            self._started = False
            with open(self.run_dir / "up.log", "ab") as log:
                subprocess.run(
                    [str(self.dist / "down.sh"), str(self.run_dir)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    check=False,
                    timeout=60,
                )
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)  # type: ignore[arg-type]
            self._previous_sigterm = None


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
