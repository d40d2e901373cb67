"""``python -m gateway_stack`` (what ``make run`` runs) as a subprocess, for the launcher's tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from gateway_stack.procs import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Ctrl-C stops everything"


def descendants(pid: int) -> set[int]:
    """Every live (non-zombie) process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
        fields = stat.rpartition(")")[2].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class Supervisor:
    """One ``python -m gateway_stack`` with its own work directory and public port."""

    def __init__(self, workdir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.public_url = f"http://127.0.0.1:{self.port}"
        self.output_path = workdir / f"supervisor-{time.monotonic_ns()}.out"
        workdir.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ, GATEWAY_PORT=str(self.port), GATEWAY_WORKDIR=str(workdir))
        for name in ("GATEWAY_ADMIN_PORT", "ARKTOS_URL", "ARKTOS_CA", "ARKTOS_TOKEN"):
            full_env.pop(name, None)
        full_env.update(env or {})
        self._out: IO[bytes] = open(self.output_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway_stack", *args],
            cwd=REPO_ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while READY_LINE not in self.output():
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway_stack exited {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway_stack not ready after {timeout} s:\n{self.output()}")
            time.sleep(0.1)

    def children(self) -> set[int]:
        return descendants(self.proc.pid)

    def child_pid(self, module: str) -> int:
        """The pid of the child running ``python -m <module>`` (or the Envoy binary for "envoy")."""
        for pid in self.children():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if module == "envoy" and argv[0].endswith(b"envoy"):
                return pid
            if b"-m" in argv and argv[argv.index(b"-m") + 1] == module.encode():
                return pid
        raise AssertionError(f"no {module} child of {self.proc.pid}:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            self._out.close()
        return code
