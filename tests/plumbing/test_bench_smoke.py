"""``make bench`` cannot rot: its smoke run (``python -m bench --quick``) starts the real stack, drives every
scenario briefly and writes the table, JSON and PNG. Nothing here asserts on timings: performance is read
from ``make bench`` itself (bench/README.md)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bench import load
from gateway_stack.procs import free_port

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(180)


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


def test_quick_bench_runs_every_scenario_and_writes_outputs(tmp_path: Path) -> None:
    out, work = tmp_path / "results", tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--workdir", str(work)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "targets:" in proc.stdout
    (json_path,) = out.glob("bench-*.json")
    (png_path,) = out.glob("bench-*.png")
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(json_path.read_text())
    rows = data["rows"]
    # The smoke run measures the simulator only, even where a real Arktos sits beside the repository.
    assert data["settings"]["backends"] == ["sim"] and set(data["backends"]) == {"sim"}
    assert {r["backend"] for r in rows} == {"sim"}
    assert {c["backend"] for c in data["targets"]} == {"sim"}
    seen = {(r["target"], r["scenario"]) for r in rows}
    for expected in [
        ("arktos", "GET pod"),
        ("envoy", "GET pod"),
        ("gateway", "GET /servers/{id}"),
        ("gateway", "GET /servers/detail (20)"),
        ("gateway", "POST /servers"),
        ("gateway", "DELETE /servers/{id}"),
        ("gateway", "POST /servers/{id}/action reboot"),
        ("gateway", "GET /flavors/detail"),
        ("gateway", "POST /identity/v3/auth/tokens"),
        ("arktos", "GET pods (20)"),
        ("envoy", "GET pods (20)"),
    ]:
        assert expected in seen, sorted(seen)
    for row in rows:
        # Every scenario actually ran and answered as it should (reboots may conflict: see scenarios.py).
        assert row["requests"] > 0, row
        assert row["probe_status"] in (200, 201, 202, 204, 409), row
    show = next(r for r in rows if r["scenario"] == "GET /servers/{id}")
    assert show["errors"] == 0 and show["cpu_us_per_request"]["processor"] > 0
    assert show["vs_direct"]["rps_ratio"] > 0 and show["vs_envoy"]["rps_ratio"] > 0
    assert {c["target"] for c in data["targets"]}
    # The batch-create comparison ran: one request for N VMs against N single creates.
    batch = data["batch"]
    assert "error" not in batch, batch
    assert batch["n"] == 3 and batch["batch_reply_seconds"] > 0 and batch["singles_all_active_seconds"] > 0
    # The soak scenario ran and sampled the processor's RSS over time.
    soak = data["soak"]
    assert soak["requests"] > 0 and len(soak["samples"]) >= 2, soak
    assert all(s["rss_bytes"] > 0 for s in soak["samples"])
    # Every process the bench started is gone.
    assert _processes_mentioning(str(work)) == []


@pytest.fixture
def upstream() -> Iterator[str]:
    """A tiny HTTP server: /ok answers 200, /bad answers 500."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=200 if request.path == "/ok" else 500, body=b"x")

    loop = asyncio.new_event_loop()
    port = free_port()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_load_generators_report_requests_and_errors(upstream: str) -> None:
    """The fallback generator (used where wrk is missing) and, when installed, the wrk script count the
    same things."""
    spec = load.LoadSpec("POST", (f"{upstream}/ok", f"{upstream}/bad"), {"X-Test": "1"}, b'{"a": "\xc3\xa9"}')
    for tool in ["python"] + (["wrk"] if load.wrk_path() else []):
        result = load.run(spec, 2, 0.5, tool)
        assert result.tool == tool and result.requests > 0
        # Requests alternate between the two URLs: about half are errors.
        assert 0 < result.errors < result.requests, result
        assert result.p50_ms > 0 and result.p99_ms >= result.p50_ms
