"""Closed-loop HTTP load: ``wrk`` when installed, else a Python (aiohttp) generator in its own process.

Both take a ``LoadSpec`` (method, URLs, headers, body) and return a ``LoadResult`` with the same fields, so
the rest of the bench does not care which one ran. ``wrk`` is driven through a generated Lua script: it sets
the method, headers and body, cycles through the paths (unique ids for DELETE) and prints its summary as one
JSON line from ``done()``.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

WRK_INSTALL_HINT = "apt-get install -y wrk  (Debian/Ubuntu; `brew install wrk` on macOS)"
_MARK = "BENCHJSON "


@dataclass(frozen=True, slots=True)
class LoadSpec:
    method: str
    # Absolute URLs on one origin; requests cycle through them in order.
    urls: tuple[str, ...]
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    # CA bundle for https URLs (the Python generator verifies; wrk does not check certificates).
    cafile: str | None = None


@dataclass(frozen=True, slots=True)
class LoadResult:
    tool: str
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    # Answers outside 2xx/3xx, plus socket errors and timeouts.
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float | int | str]:
        data: dict[str, float | int | str] = asdict(self)
        data["rps"] = round(self.rps, 1)
        return data


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _lua_string(data: bytes) -> str:
    """A Lua string literal holding ``data`` exactly (decimal escapes for anything not plain ASCII)."""
    out = []
    for b in data:
        ch = chr(b)
        out.append(ch if (ch.isalnum() or ch in " -_./:,{}[]=+@#") and b < 128 else f"\\{b:03d}")
    return '"' + "".join(out) + '"'


def wrk_script(spec: LoadSpec) -> str:
    paths = []
    for url in spec.urls:
        parts = urlsplit(url)
        paths.append(parts.path + ("?" + parts.query if parts.query else ""))
    lines = [f"wrk.method = {_lua_string(spec.method.encode())}"]
    for key, value in spec.headers.items():
        lines.append(f"wrk.headers[{_lua_string(key.encode())}] = {_lua_string(value.encode())}")
    if spec.body is not None:
        lines.append(f"wrk.body = {_lua_string(spec.body)}")
    if len(paths) == 1:
        lines.append(f"wrk.path = {_lua_string(paths[0].encode())}")
    else:
        # A request() function costs a Lua call per request; only used when paths differ.
        lines.append("local paths = {" + ",".join(_lua_string(p.encode()) for p in paths) + "}")
        lines.append("local n, i = #paths, 0")
        lines.append("request = function() i = i + 1; return wrk.format(nil, paths[(i - 1) % n + 1]) end")
    lines.append(
        "done = function(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        f'  io.write(string.format("{_MARK}{{\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d, '
        '\\"p99_us\\": %d, \\"errors\\": %d}\\n", summary.requests, summary.duration, '
        "latency:percentile(50), latency:percentile(99), "
        "e.connect + e.read + e.write + e.status + e.timeout))\n"
        "end"
    )
    return "\n".join(lines) + "\n"


def run_wrk(spec: LoadSpec, connections: int, seconds: float, timeout_s: float = 60.0) -> LoadResult:
    wrk = wrk_path()
    if wrk is None:
        raise RuntimeError(f"wrk is not installed: {WRK_INSTALL_HINT}")
    parts = urlsplit(spec.urls[0])
    origin = f"{parts.scheme}://{parts.netloc}/"
    # wrk takes whole seconds only.
    duration = max(1, math.ceil(seconds))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(wrk_script(spec))
        script = f.name
    try:
        # One wrk thread: it drives 16 connections easily and leaves the cores to the measured processes.
        out = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{duration}s",
                f"--timeout={int(timeout_s)}s",
                "-s",
                script,
                origin,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=duration + timeout_s + 30,
        ).stdout
    finally:
        Path(script).unlink(missing_ok=True)
    return _parse(out, "wrk", connections)


def _parse(out: str, tool: str, connections: int) -> LoadResult:
    for line in out.splitlines():
        if line.startswith(_MARK):
            data = json.loads(line[len(_MARK) :])
            return LoadResult(
                tool=tool,
                connections=connections,
                requests=int(data["requests"]),
                seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000.0,
                p99_ms=data["p99_us"] / 1000.0,
                errors=int(data["errors"]),
            )
    raise RuntimeError(f"{tool} printed no summary:\n{out}")


def run_python(spec: LoadSpec, connections: int, seconds: float, timeout_s: float = 60.0) -> LoadResult:
    """The aiohttp generator (bench.pyload) in a separate process, so it never shares a loop or a GIL with
    anything measured."""
    job = {
        "method": spec.method,
        "urls": list(spec.urls),
        "headers": spec.headers,
        "body": spec.body.decode("latin-1") if spec.body is not None else None,
        "cafile": spec.cafile,
        "connections": connections,
        "seconds": seconds,
        "timeout": timeout_s,
    }
    out = subprocess.run(
        [sys.executable, "-m", "bench.pyload"],
        input=json.dumps(job),
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + timeout_s + 30,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    return _parse(out, "python", connections)


def run(spec: LoadSpec, connections: int, seconds: float, tool: str = "auto") -> LoadResult:
    """``tool``: "wrk", "python" or "auto" (wrk when installed)."""
    if tool == "wrk" or (tool == "auto" and wrk_path() is not None):
        return run_wrk(spec, connections, seconds)
    return run_python(spec, connections, seconds)
