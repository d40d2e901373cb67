"""The bench's outputs: ratios and target checks, a terminal table, JSON and a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.real_arktos import ARKTOS as REAL_ARKTOS
from bench.real_arktos import BACKENDS, SIM
from bench.scenarios import ARKTOS, ENVOY, GATEWAY

# Targets of issue 13 for a 2-core machine (bench/README.md explains them). Ratios are against the
# simulator's direct row doing the same Arktos work in the same run; the simulator is ~3.4x faster than a
# real Arktos, so 0.2x of its GET pod is ~0.5x a real Arktos's.
GET_SHARE_OF_DIRECT = 0.2
GET_ADDED_P50_MS = 2.0
GET_PROCESSOR_US = 600.0
# GET /servers/detail of 100 and 1,000 servers: requests/s against the direct pod list of that size.
LIST_SHARE_OF_DIRECT = 0.5
LIST_SHARE_SIZES = (100, 1000)
LIST_LATENCY_RATIO = 1.5
LIST_PROCESSOR_RSS_MB = 300.0
# Catalog reads (flavors, images) against the direct GET pod.
CATALOG_SHARE_OF_DIRECT = 0.3
CATALOG_SCENARIOS = ("GET /flavors/detail", "GET /image/v2/images")
# The same targets where the issue states them in a real Arktos's terms, checked on the rows of the real pass
# (backend "arktos") against that Arktos's own direct GET pod: GET /servers/{id} >= 0.5x, flavors and images
# >= 1x. The issue states the others (added p50, processor CPU, lists, RSS) for the simulator's run only.
REAL_GET_SHARE_OF_DIRECT = 0.5
REAL_CATALOG_SHARE_OF_DIRECT = 1.0
BACKEND_TITLES = {
    SIM: "backend sim: the Arktos simulator (arktos_sim)",
    REAL_ARKTOS: "backend arktos: a real Arktos control plane (kube-apiserver + etcd; 'arktos us' is both)",
}


def backend_of(row: dict[str, Any]) -> str:
    """The Arktos a row was measured against (rows of JSON files written before there were two: sim)."""
    backend: str = row.get("backend", SIM)
    return backend


def backends_in(rows: list[dict[str, Any]]) -> list[str]:
    """The backends of ``rows``, in BACKENDS order."""
    present = {backend_of(r) for r in rows}
    return [b for b in BACKENDS if b in present]


def target_share(row: dict[str, Any]) -> float | None:
    """The requests/s ratio (vs direct, same backend) a gateway row must reach, None for rows without one."""
    if row["target"] != GATEWAY:
        return None
    if backend_of(row) == REAL_ARKTOS:
        if row["scenario"] == "GET /servers/{id}":
            return REAL_GET_SHARE_OF_DIRECT
        if row["scenario"] in CATALOG_SCENARIOS:
            return REAL_CATALOG_SHARE_OF_DIRECT
        return None
    if row["scenario"] == "GET /servers/{id}":
        return GET_SHARE_OF_DIRECT
    if row["scenario"] in CATALOG_SCENARIOS:
        return CATALOG_SHARE_OF_DIRECT
    if row["key"] in {f"list-{n}" for n in LIST_SHARE_SIZES}:
        return LIST_SHARE_OF_DIRECT
    return None


def _find(
    rows: list[dict[str, Any]], target: str, key: str, connections: int, backend: str | None = None
) -> dict[str, Any] | None:
    """The row of ``target`` doing ``key``'s work at ``connections`` (of ``backend``, when given)."""
    return next(
        (
            r
            for r in rows
            if r["target"] == target
            and r["key"] == key
            and r["connections"] == connections
            and (backend is None or backend_of(r) == backend)
        ),
        None,
    )


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each row's requests/s and p50 against Arktos direct and Envoy passthrough doing the same work, on
    the same backend (a real Arktos's rows are never compared with the simulator's)."""
    for row in rows:
        for base, name in ((ARKTOS, "vs_direct"), (ENVOY, "vs_envoy")):
            other = _find(rows, base, row["key"], row["connections"], backend_of(row))
            if other is None or other is row or not other["rps"]:
                continue
            row[name] = {
                "rps_ratio": round(row["rps"] / other["rps"], 3),
                "p50_ratio": round(row["p50_ms"] / other["p50_ms"], 2) if other["p50_ms"] else None,
                "p50_added_ms": round(row["p50_ms"] - other["p50_ms"], 3),
            }


def check_targets(rows: list[dict[str, Any]], largest_list: int | None) -> list[dict[str, Any]]:
    """Issue 13's targets, for each backend in ``rows`` (each check names its backend)."""
    checks: list[dict[str, Any]] = []
    for backend in backends_in(rows):
        own = [r for r in rows if backend_of(r) == backend]
        found = _real_targets(own) if backend == REAL_ARKTOS else _sim_targets(own, largest_list)
        checks.extend({"backend": backend, **c} for c in found)
    return checks


def _check(
    checks: list[dict[str, Any]],
    name: str,
    value: float | None,
    limit: float,
    higher_is_better: bool,
    unit: str,
) -> None:
    ok = None if value is None else (value >= limit if higher_is_better else value <= limit)
    sign = ">=" if higher_is_better else "<="
    checks.append({"target": name, "value": value, "limit": f"{sign} {limit:g} {unit}".strip(), "met": ok})


def _real_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets the issue states against a real Arktos, on the rows of one real pass."""
    checks: list[dict[str, Any]] = []
    conns = sorted({r["connections"] for r in rows})
    top = conns[-1] if conns else 0
    for name, share in (
        ("GET /servers/{id}", REAL_GET_SHARE_OF_DIRECT),
        *((catalog, REAL_CATALOG_SHARE_OF_DIRECT) for catalog in CATALOG_SCENARIOS),
    ):
        row = _gateway_row(rows, name, top)
        if row is not None and "vs_direct" in row:
            _check(
                checks,
                f"{name} req/s vs real Arktos direct GET pod (c={top})",
                row["vs_direct"]["rps_ratio"],
                share,
                True,
                "x",
            )
    return checks


def _sim_targets(rows: list[dict[str, Any]], largest_list: int | None) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def check(name: str, value: float | None, limit: float, higher_is_better: bool, unit: str) -> None:
        _check(checks, name, value, limit, higher_is_better, unit)

    conns = sorted({r["connections"] for r in rows})
    top = conns[-1] if conns else 0
    get_top = _find(rows, GATEWAY, "get", top)
    get_one = _find(rows, GATEWAY, "get", 1)
    if get_top is not None and "vs_direct" in get_top:
        check(
            f"GET /servers/{{id}} req/s vs Arktos direct (c={top})",
            get_top["vs_direct"]["rps_ratio"],
            GET_SHARE_OF_DIRECT,
            True,
            "x",
        )
    for name in CATALOG_SCENARIOS:
        row = _gateway_row(rows, name, top)
        if row is not None and "vs_direct" in row:
            check(
                f"{name} req/s vs Arktos direct GET pod (c={top})",
                row["vs_direct"]["rps_ratio"],
                CATALOG_SHARE_OF_DIRECT,
                True,
                "x",
            )
    for size in LIST_SHARE_SIZES:
        for c in conns:
            row = _find(rows, GATEWAY, f"list-{size}", c)
            if row is not None and "vs_direct" in row:
                check(
                    f"GET /servers/detail ({size:,}) req/s vs direct list (c={c})",
                    row["vs_direct"]["rps_ratio"],
                    LIST_SHARE_OF_DIRECT,
                    True,
                    "x",
                )
    if get_one is not None and "vs_direct" in get_one:
        check(
            "GET /servers/{id} added p50 (c=1)",
            get_one["vs_direct"]["p50_added_ms"],
            GET_ADDED_P50_MS,
            False,
            "ms",
        )
    if get_top is not None:
        check(
            f"processor CPU per GET /servers/{{id}} (c={top})",
            get_top["cpu_us_per_request"]["processor"],
            GET_PROCESSOR_US,
            False,
            "us",
        )
    if largest_list is not None:
        key = f"list-{largest_list}"
        one = _find(rows, GATEWAY, key, 1)
        if one is not None and "vs_direct" in one:
            check(
                f"GET /servers/detail ({largest_list:,}) p50 vs direct list (c=1)",
                one["vs_direct"]["p50_ratio"],
                LIST_LATENCY_RATIO,
                False,
                "x",
            )
        lists = [r for r in rows if r["target"] == GATEWAY and r["key"] == key]
        if lists:
            check(
                f"processor peak RSS, detail ({largest_list:,})",
                max(r["peak_rss_mb"]["processor"] for r in lists),
                LIST_PROCESSOR_RSS_MB,
                False,
                "MB",
            )
            overflow = sum(r["envoy_counters"].get("rs_too_large", 0) for r in lists)
            check(f"Envoy buffer overflows, detail ({largest_list:,})", overflow, 0, False, "")
    return checks


def _ratio(row: dict[str, Any], name: str) -> str:
    value = row.get(name, {}).get("rps_ratio")
    return f"{value:.2f}" if value is not None else "-"


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a terminal table, one section per backend (with a title line when there are two)."""
    backends = backends_in(rows)
    if len(backends) <= 1:
        return _table(rows)
    sections = []
    for backend in backends:
        own = [r for r in rows if backend_of(r) == backend]
        sections.append(f"{BACKEND_TITLES.get(backend, backend)}\n{_table(own)}")
    return "\n\n".join(sections)


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<34} {'via':<8} {'c':>3} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'err':>5} "
        f"{'envoy us':>8} {'proc us':>8} {'arktos us':>9} {'proc MB':>7} {'msgs':>4} "
        f"{'/direct':>7} {'/envoy':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        cpu = r["cpu_us_per_request"]
        msgs = r.get("grpc_messages_per_request")
        lines.append(
            f"{r['scenario']:<34} {r['target']:<8} {r['connections']:>3} {r['rps']:>8.0f} "
            f"{r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {r['errors']:>5} {cpu['envoy']:>8.0f} {cpu['processor']:>8.0f} "
            f"{cpu['arktos']:>9.0f} {r['peak_rss_mb']['processor'] if r['target'] == GATEWAY else 0:>7.0f} "
            f"{msgs if msgs is not None else '-':>4} {_ratio(r, 'vs_direct'):>7} {_ratio(r, 'vs_envoy'):>6}"
        )
    return "\n".join(lines)


def targets_text(checks: list[dict[str, Any]]) -> str:
    out = []
    for c in checks:
        verdict = {True: "met", False: "NOT MET", None: "n/a"}[c["met"]]
        backend = c.get("backend", SIM)
        out.append(f"  {verdict:<8} [{backend}] {c['target']}: {c['value']} (target {c['limit']})")
    return "\n".join(out)


def write_json(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Per backend: requests/s of each gateway scenario as a ratio of the same Arktos work done directly on
    that backend, at 1 and at the highest connection count, with the target ratio marked; and CPU per request
    by process."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write a file
    import matplotlib.pyplot as plt

    backends = backends_in(rows)
    fig, axes = plt.subplots(2 * len(backends), 1, figsize=(12, 10 * len(backends)), squeeze=False)
    for n, backend in enumerate(backends):
        own = [r for r in rows if backend_of(r) == backend]
        title = BACKEND_TITLES.get(backend, backend)
        _chart_backend(own, title, axes[2 * n][0], axes[2 * n + 1][0])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _chart_backend(rows: list[dict[str, Any]], title: str, ax_ratio: Any, ax_cpu: Any) -> None:
    conns = sorted({r["connections"] for r in rows})
    top = conns[-1]
    gateway = [r for r in rows if r["target"] == GATEWAY and r["connections"] == top]
    labels = [r["scenario"] for r in gateway]
    x = list(range(len(labels)))
    width = 0.8 / max(1, len(conns))
    colors = ("#8172b2", "#c44e52", "#dd8452", "#55a868")
    for n, c in enumerate(conns):
        values = []
        for r in gateway:
            same = _gateway_row(rows, r["scenario"], c)
            values.append((same or {}).get("vs_direct", {}).get("rps_ratio") or float("nan"))
        offset = (n - (len(conns) - 1) / 2) * width
        bars = ax_ratio.bar([i + offset for i in x], values, width, label=f"c={c}", color=colors[n % 4])
        ax_ratio.bar_label(bars, labels=[f"{v:.2f}" if v == v else "-" for v in values], fontsize=7)
    for i, r in enumerate(gateway):
        share = target_share(r)
        if share is not None:
            ax_ratio.hlines(share, i - 0.45, i + 0.45, colors="black", linestyles="dashed")
    ax_ratio.axhline(1.0, color="grey", linewidth=0.5)
    # Log scale: a cached 10,000-server list is many times the direct one, the targets are 0.2-1x.
    ax_ratio.set_yscale("log")
    ax_ratio.set_ylabel("gateway req/s / Arktos direct req/s (log)")
    ax_ratio.set_title(
        f"{title}\ngateway throughput as a ratio of the same Arktos work done directly (same run); "
        "dashed: the target",
        fontsize=10,
    )
    ax_ratio.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax_ratio.legend()

    bottom = [0.0] * len(gateway)
    for role, color in (("envoy", "#55a868"), ("processor", "#c44e52"), ("arktos", "#4c72b0")):
        values = [r["cpu_us_per_request"][role] for r in gateway]
        ax_cpu.bar(x, values, 0.6, bottom=bottom, label=role, color=color)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax_cpu.set_yscale("log")
    ax_cpu.set_ylabel("CPU microseconds per request (log, stacked)")
    ax_cpu.set_title(f"{title}\nwhere the CPU goes, per gateway request (c={top})", fontsize=10)
    ax_cpu.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax_cpu.legend()


def _gateway_row(rows: list[dict[str, Any]], scenario: str, connections: int) -> dict[str, Any] | None:
    """The gateway row of ``scenario`` at ``connections`` (several gateway scenarios share a key)."""
    return next(
        (
            r
            for r in rows
            if r["target"] == GATEWAY and r["scenario"] == scenario and r["connections"] == connections
        ),
        None,
    )
