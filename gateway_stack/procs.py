"""Child processes in their own sessions, with their output in log files, that die with their parent."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from ssl import SSLContext


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` asking the kernel to SIGKILL the child when its parent dies, even by SIGKILL (a
    child in its own session is otherwise orphaned and keeps its ports). The kernel ties this to the
    parent *thread*: start children from a thread that lives as long as they should (the main thread)."""

    # Looked up before fork: the child of a threaded process must not load libraries.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class Child:
    """One child process: own session (signals from the terminal reach only the supervisor), output
    appended to ``log_path``, killed by the kernel if the process that started it dies."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_tail(self, max_bytes: int = 4000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-max_bytes:].decode("utf-8", "replace")

    def signal(self, sig: int) -> None:
        """Signal the child's whole process group (its session)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(10)
        # Leftovers in the group (e.g. a wrapper's child) go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)


class Interrupted(RuntimeError):
    """A wait given up because the supervisor was asked to stop."""


def wait_until(
    what: str,
    check: Callable[[], bool],
    child: Child | None,
    timeout: float,
    interval: float = 0.05,
    abort: Callable[[], bool] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if abort is not None and abort():
            raise Interrupted(f"stopped while waiting for {what}")
        if child is not None and not child.alive():
            raise RuntimeError(
                f"{child.name} exited ({child.returncode()}) before {what}; log {child.log_path}:\n"
                + child.log_tail()
            )
        with contextlib.suppress(Exception):
            if check():
                return
        if time.monotonic() > deadline:
            tail = child.log_tail() if child else ""
            raise TimeoutError(f"timed out waiting for {what}\n{tail}")
        time.sleep(interval)


def http_ok(url: str, context: SSLContext | None = None, timeout: float = 1.0) -> bool:
    with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
        return bool(200 <= resp.status < 300)


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with socket.create_connection((host, port), timeout=timeout):
        return True
