"""``make bench`` with two backends (the simulator and a real Arktos): which backends a run measures, and
ratios, target checks and the table computed per backend, never across them."""

from __future__ import annotations

import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from bench import real_arktos, report


def _row(
    backend: str, target: str, scenario: str, key: str, c: int, rps: float, p50: float
) -> dict[str, Any]:
    return {
        "backend": backend,
        "target": target,
        "scenario": scenario,
        "key": key,
        "connections": c,
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p50 * 2,
        "errors": 0,
        "cpu_us_per_request": {
            "envoy": 0.0,
            "processor": 500.0 if target == "gateway" else 0.0,
            "arktos": 1.0,
        },
        "peak_rss_mb": {"processor": 100.0, "envoy": 10.0, "arktos": 50.0},
        "envoy_counters": {},
    }


def _rows() -> list[dict[str, Any]]:
    """One run with both backends: the simulator serves GET pod at 4,000 req/s, the real Arktos at 1,000."""
    rows = []
    for backend, direct in (("sim", 4000.0), ("arktos", 1000.0)):
        for c in (1, 16):
            rows.append(_row(backend, "arktos", "GET pod", "get", c, direct / (17 - c), 0.5))
            rows.append(_row(backend, "envoy", "GET pod", "get", c, direct / (17 - c) / 2, 1.0))
            rows.append(_row(backend, "gateway", "GET /servers/{id}", "get", c, 600.0 / (17 - c), 1.5))
            rows.append(_row(backend, "gateway", "GET /flavors/detail", "get", c, 1200.0 / (17 - c), 1.5))
            rows.append(_row(backend, "gateway", "GET /image/v2/images", "get", c, 800.0 / (17 - c), 1.5))
            rows.append(_row(backend, "arktos", "GET pods (100)", "list-100", c, 200.0, 5.0))
            rows.append(_row(backend, "gateway", "GET /servers/detail (100)", "list-100", c, 50.0, 9.0))
    return rows


def _gateway(rows: list[dict[str, Any]], backend: str, scenario: str, c: int) -> dict[str, Any]:
    return next(
        r
        for r in rows
        if r["backend"] == backend
        and r["scenario"] == scenario
        and r["connections"] == c
        and r["target"] == "gateway"
    )


def test_ratios_compare_rows_of_the_same_backend_only() -> None:
    rows = _rows()
    report.add_ratios(rows)
    # The same 600 req/s is 0.15x the simulator's direct GET pod and 0.6x the real Arktos's.
    assert _gateway(rows, "sim", "GET /servers/{id}", 16)["vs_direct"]["rps_ratio"] == 0.15
    assert _gateway(rows, "arktos", "GET /servers/{id}", 16)["vs_direct"]["rps_ratio"] == 0.6
    assert _gateway(rows, "arktos", "GET /servers/{id}", 16)["vs_envoy"]["rps_ratio"] == 1.2
    assert _gateway(rows, "arktos", "GET /servers/{id}", 1)["vs_direct"]["p50_added_ms"] == 1.0
    assert _gateway(rows, "arktos", "GET /servers/detail (100)", 1)["vs_direct"]["rps_ratio"] == 0.25


def test_a_backend_without_direct_rows_gets_no_ratio() -> None:
    rows = [r for r in _rows() if not (r["backend"] == "arktos" and r["target"] == "arktos")]
    report.add_ratios(rows)
    assert "vs_direct" not in _gateway(rows, "arktos", "GET /servers/{id}", 16)
    assert "vs_direct" in _gateway(rows, "sim", "GET /servers/{id}", 16)


def test_rows_without_a_backend_are_the_simulators() -> None:
    """JSON written before there were two backends has no "backend" key."""
    rows = [{k: v for k, v in r.items() if k != "backend"} for r in _rows() if r["backend"] == "sim"]
    report.add_ratios(rows)
    checks = report.check_targets(rows, 100)
    assert checks and {c["backend"] for c in checks} == {"sim"}


def test_real_arktos_targets_are_the_issues_real_arktos_terms() -> None:
    rows = _rows()
    report.add_ratios(rows)
    checks = report.check_targets(rows, 100)
    real = {c["target"]: c for c in checks if c["backend"] == "arktos"}
    assert real == {
        "GET /servers/{id} req/s vs real Arktos direct GET pod (c=16)": {
            "backend": "arktos",
            "target": "GET /servers/{id} req/s vs real Arktos direct GET pod (c=16)",
            "value": 0.6,
            "limit": ">= 0.5 x",
            "met": True,
        },
        "GET /flavors/detail req/s vs real Arktos direct GET pod (c=16)": {
            "backend": "arktos",
            "target": "GET /flavors/detail req/s vs real Arktos direct GET pod (c=16)",
            "value": 1.2,
            "limit": ">= 1 x",
            "met": True,
        },
        "GET /image/v2/images req/s vs real Arktos direct GET pod (c=16)": {
            "backend": "arktos",
            "target": "GET /image/v2/images req/s vs real Arktos direct GET pod (c=16)",
            "value": 0.8,
            "limit": ">= 1 x",
            "met": False,
        },
    }
    sim = {c["target"]: c for c in checks if c["backend"] == "sim"}
    # The simulator's targets are unchanged: 0.2x for GET, 0.3x for catalog reads, lists, p50, CPU, RSS.
    assert sim["GET /servers/{id} req/s vs Arktos direct (c=16)"]["value"] == 0.15
    assert sim["GET /servers/{id} req/s vs Arktos direct (c=16)"]["met"] is False
    assert sim["GET /flavors/detail req/s vs Arktos direct GET pod (c=16)"]["value"] == 0.3
    assert sim["GET /flavors/detail req/s vs Arktos direct GET pod (c=16)"]["met"] is True
    assert "GET /servers/detail (100) req/s vs direct list (c=1)" in sim
    assert "processor CPU per GET /servers/{id} (c=16)" in sim


def test_target_share_per_backend() -> None:
    rows = _rows()
    share = {(r["backend"], r["scenario"]): report.target_share(r) for r in rows if r["connections"] == 16}
    assert share[("sim", "GET /servers/{id}")] == 0.2
    assert share[("arktos", "GET /servers/{id}")] == 0.5
    assert share[("sim", "GET /image/v2/images")] == 0.3
    assert share[("arktos", "GET /image/v2/images")] == 1.0
    assert share[("sim", "GET /servers/detail (100)")] == 0.5
    # The issue states no list target against a real Arktos.
    assert share[("arktos", "GET /servers/detail (100)")] is None
    assert share[("arktos", "GET pod")] is None


def test_table_and_target_lines_name_the_backend() -> None:
    rows = _rows()
    report.add_ratios(rows)
    text = report.table(rows)
    sim_at, real_at = text.index("backend sim:"), text.index("backend arktos:")
    assert sim_at < real_at
    real_section = text[real_at:]
    assert real_section.count("GET /servers/{id}") == 2 and "0.60" in real_section
    # One backend alone: the table as it always was, without a title.
    alone = report.table([r for r in rows if r["backend"] == "sim"])
    assert alone.startswith("scenario") and "backend" not in alone
    lines = report.targets_text(report.check_targets(rows, 100)).splitlines()
    assert any(line.split()[1] == "[arktos]" for line in lines)
    assert any(line.split()[1] == "[sim]" for line in lines)


def test_chart_draws_both_backends(tmp_path: Path) -> None:
    rows = _rows()
    report.add_ratios(rows)
    png = tmp_path / "bench.png"
    report.chart(rows, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _dist(tmp_path: Path) -> Path:
    dist = tmp_path / "arktos"
    dist.mkdir()
    up = dist / "up.sh"
    up.write_text("#!/bin/sh\n")
    up.chmod(up.stat().st_mode | stat.S_IXUSR)
    return dist


def _failing_dist(tmp_path: Path, up_script: str) -> Path:
    """A control plane whose up.sh is ``up_script`` and whose down.sh leaves ``stopped`` in the run folder."""
    dist = _dist(tmp_path)
    (dist / "up.sh").write_text(up_script)
    down = dist / "down.sh"
    down.write_text('#!/bin/sh\necho stopped > "$1/stopped"\n')
    down.chmod(down.stat().st_mode | stat.S_IXUSR)
    return dist


def test_backends_default_to_both_when_a_control_plane_is_beside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(real_arktos.shutil, "which", lambda name: f"/usr/bin/{name}")
    chosen, why = real_arktos.resolve_backends(None, False, _dist(tmp_path))
    assert chosen == ["sim", "arktos"] and "real Arktos" in why
    # Nothing beside the repository: the simulator alone, saying why.
    chosen, why = real_arktos.resolve_backends(None, False, tmp_path / "nowhere")
    assert chosen == ["sim"] and "no Arktos control plane" in why


def test_backends_need_etcd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(real_arktos.shutil, "which", lambda name: None)
    chosen, why = real_arktos.resolve_backends(None, False, _dist(tmp_path))
    assert chosen == ["sim"] and "etcd" in why


def test_the_smoke_run_is_simulator_only_and_never_looks_beside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def looked(dist: Path) -> str | None:
        raise AssertionError(f"--quick looked at {dist}")

    monkeypatch.setattr(real_arktos, "missing", looked)
    assert real_arktos.resolve_backends(None, True, _dist(tmp_path))[0] == ["sim"]


def test_an_explicit_backend_wins(tmp_path: Path) -> None:
    assert real_arktos.resolve_backends(["arktos"], True, tmp_path)[0] == ["arktos"]
    assert real_arktos.resolve_backends(["arktos", "sim"], False, tmp_path)[0] == ["sim", "arktos"]


def test_ports_come_from_the_environment_or_are_free() -> None:
    given = real_arktos.ports({"ARKTOS_PORT": "20443", "ETCD_PORT": "20379", "KCM_PORT": "20257"})
    assert given == {"ARKTOS_PORT": 20443, "ETCD_PORT": 20379, "KCM_PORT": 20257}
    free = real_arktos.ports({})
    assert set(free) == {"ARKTOS_PORT", "ETCD_PORT", "KCM_PORT"}
    assert all(1024 < p < 65535 for p in free.values()) and len(set(free.values())) == 3


def test_env_file_of_up_sh(tmp_path: Path) -> None:
    env = tmp_path / "arktos.env"
    env.write_text(
        "export ARKTOS_URL=https://127.0.0.1:20443 ARKTOS_CA=/r/certs/ca.crt ARKTOS_ADMIN_TOKEN=admin-token\n"
        "export ARKTOS_KUBECONFIG=/r/admin.kubeconfig ARKTOS_TENANTS='demo alt'\n"
    )
    assert real_arktos.read_env_file(env) == {
        "ARKTOS_URL": "https://127.0.0.1:20443",
        "ARKTOS_CA": "/r/certs/ca.crt",
        "ARKTOS_ADMIN_TOKEN": "admin-token",
        "ARKTOS_KUBECONFIG": "/r/admin.kubeconfig",
        "ARKTOS_TENANTS": "demo alt",
    }


def test_a_failed_start_says_where_to_look_and_stops_what_it_started(tmp_path: Path) -> None:
    dist = _failing_dist(tmp_path, '#!/bin/sh\necho half started > "$1/half"\nexit 3\n')
    run = tmp_path / "run"
    ports = {"ARKTOS_PORT": "20443", "ETCD_PORT": "20379", "KCM_PORT": "20257"}
    arktos = real_arktos.RealArktos(dist, run, ports)
    with pytest.raises(RuntimeError, match=r"up\.sh failed \(3\): see .*up\.log"), arktos:
        raise AssertionError("started")
    assert (run / "half").exists() and (run / "stopped").exists()


def test_a_real_arktos_can_be_driven_from_another_thread(tmp_path: Path) -> None:
    """Only the main thread may install the SIGTERM handler; elsewhere the start and stop still work."""
    dist = _failing_dist(tmp_path, "#!/bin/sh\nexit 3\n")
    run = tmp_path / "run"
    raised: list[BaseException] = []

    def drive() -> None:
        try:
            with real_arktos.RealArktos(dist, run, {"ARKTOS_PORT": "1", "ETCD_PORT": "2", "KCM_PORT": "3"}):
                pass
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=drive)
    worker.start()
    worker.join(30)
    assert [type(e) for e in raised] == [RuntimeError] and (run / "stopped").exists()
