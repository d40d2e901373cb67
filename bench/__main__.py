"""``python -m bench`` (``make bench``): the gateway measured against Arktos direct and Envoy alone.

Defaults give the full run (about 5-8 minutes on 2 cores, plus the real-Arktos pass when a control plane
sits beside the repository: ``bench/real_arktos.py``); ``--quick`` is the smoke run of ``make test``
(simulator only).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load, real_arktos, report
from bench import scenarios as sc
from bench.batch import run_batch_benchmark
from bench.failover import run_failover
from bench.harness import BenchStack
from bench.soak import run_soak

REPO = Path(__file__).resolve().parents[1]


# Scenario groups ``--only`` selects (to iterate on one lever; the README's tables come from full runs).
GROUPS = (
    "get",
    "flavors",
    "images",
    "token",
    "reboot",
    "create",
    "delete",
    "list",
    "batch",
    "soak",
    "failover",
)


# What the real-Arktos pass measures (``--only`` narrows it further): the reads and the server lists whose
# ratios the issue states against a real Arktos. Writes, soak, batch and failover stay on the simulator.
REAL_GROUPS = ("get", "flavors", "images", "list")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _words(text: str) -> set[str]:
    return {x.strip() for x in text.split(",") if x.strip()}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--seconds", type=float, default=4.0, help="measured run per scenario and connection count"
    )
    ap.add_argument("--warmup", type=float, default=1.0, help="unmeasured run before each (0: none)")
    ap.add_argument("--connections", type=_ints, default=[1, 16], help="comma-separated (default 1,16)")
    ap.add_argument("--sizes", type=_ints, default=[100, 1000, 10000], help="servers for the list scenarios")
    ap.add_argument(
        "--list-seconds", type=float, default=None, help="run length of list scenarios (default --seconds)"
    )
    ap.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto", help="load generator")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="where JSON and PNG go")
    ap.add_argument("--batch", type=int, default=1000, help="servers for the batch-create scenario (0: skip)")
    ap.add_argument(
        "--soak-seconds", type=float, default=90.0, help="mixed load sampling processor RSS (0: skip)"
    )
    ap.add_argument(
        "--failover-seconds",
        type=float,
        default=15.0,
        help="load on two processors while one is killed and restarted (0: skip)",
    )
    ap.add_argument(
        "--reboot-seconds",
        type=float,
        default=20.0,
        help="measured run of the reboot row: Arktos takes one reboot per project and second, so at 16 "
        "connections a request waits ~16 s for its turn; a shorter run cuts off the requests that would fail",
    )
    ap.add_argument(
        "--quick", action="store_true", help="smoke run: tiny sizes, 1 s runs, one connection count"
    )
    ap.add_argument(
        "--backend",
        type=_words,
        default=None,
        help="which Arktos to measure against (comma-separated: sim, arktos); default: both when a real "
        "Arktos control plane is beside the repository (--arktos-dist), sim only otherwise and for --quick",
    )
    ap.add_argument(
        "--arktos-dist",
        type=Path,
        default=None,
        help="the Arktos distribution folder (up.sh, down.sh) of the real pass (default: $ARKTOS_DIST or "
        "../shared/arktos); its ports: ARKTOS_PORT, ETCD_PORT, KCM_PORT when set, free ones otherwise",
    )
    ap.add_argument(
        "--arktos-sizes",
        type=_ints,
        default=[100, 1000],
        help="servers for the list scenarios of the real pass (default 100,1000); the real pass runs the "
        f"groups {', '.join(REAL_GROUPS)}",
    )
    ap.add_argument(
        "--only",
        type=_words,
        default=None,
        help=f"run only these scenario groups (comma-separated: {', '.join(GROUPS)}); default: all",
    )
    ap.add_argument(
        "--processors",
        type=int,
        default=1,
        help="processor processes behind the one Envoy (issue 13 lever 4; their CPU counts as the processor)",
    )
    ap.add_argument(
        "--workdir", type=Path, default=None, help="stack workdir (default: a temporary directory)"
    )
    ap.add_argument(
        "--auth-cache-ttl",
        type=float,
        default=None,
        help="the processor's --auth-cache-ttl (issue 13 lever 1; 0: every read reaches Arktos; default: "
        "the processor's default)",
    )
    args = ap.parse_args(argv)
    unknown = (args.only or set()) - set(GROUPS)
    if unknown:
        ap.error(f"--only: unknown group(s) {', '.join(sorted(unknown))}; known: {', '.join(GROUPS)}")
    unknown = (args.backend or set()) - set(real_arktos.BACKENDS)
    if unknown:
        ap.error(f"--backend: unknown {', '.join(sorted(unknown))}; known: {', '.join(real_arktos.BACKENDS)}")
    if args.quick:
        args.seconds, args.warmup, args.connections, args.sizes, args.batch = 1.0, 0.0, [2], [20], 3
        args.arktos_sizes = [20]
        args.soak_seconds = min(args.soak_seconds, 3.0)
        # The smoke run leaves it out unless asked for: tests/plumbing/test_processor_replicas.py runs it.
        args.failover_seconds = (
            min(args.failover_seconds, 5.0) if args.only and "failover" in args.only else 0.0
        )
        args.reboot_seconds = REBOOT_MIN_SECONDS
    return args


REBOOT_MIN_SECONDS = 5.0


def run(args: argparse.Namespace, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    list_seconds = args.list_seconds if args.list_seconds is not None else args.seconds
    started = datetime.now(UTC)
    batch: Any = None
    soak: Any = None
    failover: Any = None
    dist = args.arktos_dist or real_arktos.default_dist()
    backends, why = real_arktos.resolve_backends(sorted(args.backend or ()), args.quick, dist)
    say(why)
    passes: dict[str, dict[str, Any]] = {}

    def wanted(group: str) -> bool:
        return args.only is None or group in args.only

    load_at_start = os.getloadavg()
    processor_args = [] if args.auth_cache_ttl is None else ["--auth-cache-ttl", str(args.auth_cache_ttl)]
    if real_arktos.SIM in backends:
        pass_started = time.monotonic()
        with BenchStack(workdir, processors=args.processors, processor_args=processor_args) as bs:
            template = bs.create_template_server()
            small = min(args.sizes) if args.sizes else 20
            ids = bs.ensure_servers(small, keep={template})
            bs.settle()
            measured = Measured(bs, args, rows, say)

            say(f"single-server scenarios ({small} servers in tenant demo)")
            if wanted("get") or wanted("reboot") or wanted("create") or wanted("delete"):
                measured.single_server_baselines(template)
            measured.reads(template, wanted)
            if wanted("token"):
                measured.do(sc.gateway_token(bs))
            if wanted("reboot"):
                # NOTE: Arktos takes one reboot per namespace and second; a colliding one completes after
                # Envoy's retry past the next second, so the row needs runs of several seconds to count any
                # request.
                measured.do(
                    sc.gateway_reboot(bs, ids), max(args.seconds, args.reboot_seconds, REBOOT_MIN_SECONDS)
                )
            if wanted("create"):
                measured.do(sc.gateway_create(bs))
            # DELETE needs one existing server per request: a fresh pool per connection count, sized from
            # the GET rate just measured.
            delete_rows: list[dict[str, Any]] = []
            for c in args.connections if wanted("delete") else []:
                get_row = report._find(rows, sc.GATEWAY, "get", c, real_arktos.SIM)
                estimate = get_row["rps"] if get_row else 1000.0
                warm = bs.add_servers(sc.pool_size(estimate, args.warmup) if args.warmup > 0 else 0)
                pool = bs.add_servers(sc.pool_size(estimate, args.seconds))
                bs.settle()
                scenario = sc.gateway_delete(bs, pool[1:])
                status = sc.probe(bs, sc.gateway_delete(bs, pool[:1]))
                warm_spec = sc.gateway_delete(bs, warm).spec if warm else None
                row = sc.measure(bs, scenario, c, args.seconds, args.warmup, args.tool, warm_spec)
                row["probe_status"] = status
                delete_rows.append(row)
                rate = f"{row['rps']:>8.0f} req/s"
                say(f"  {scenario.name:<34} gateway  c={c:<3} {rate}  errors {row['errors']}")
            rows.extend(delete_rows)

            if wanted("list"):
                measured.lists(args.sizes, template, list_seconds)

            if args.soak_seconds and wanted("soak"):
                bs.settle()
                say(f"soak ({args.soak_seconds:.0f} s of mixed requests, processor RSS sampled)")
                soak = run_soak(bs, template, args.soak_seconds, say, args.tool)

            if args.batch and wanted("batch"):
                # Requests the last list run cut off may still be in the processor (see ``settle``).
                bs.settle()
                batch = run_batch(bs, args.batch, say)
        passes[real_arktos.SIM] = {"seconds": math.ceil(time.monotonic() - pass_started)}

    # After the main stack is gone: its own stack (two processors), not competing with it for the cores.
    if real_arktos.SIM in backends and args.failover_seconds and wanted("failover"):
        say(f"failover ({args.failover_seconds:.0f} s on two processors, one killed then restarted)")
        failover = run_failover(workdir / "failover", args.failover_seconds)
        say(
            f"  {failover['requests']} requests, {failover['fail_closed_503']} fail-closed 503, "
            f"{failover['other_errors']} other errors, recovered {failover['recovery_s']:.2f} s "
            f"after the kill, {failover['requests_to_restarted_processor']} requests to the restarted one"
        )

    if real_arktos.ARKTOS in backends and any(wanted(g) for g in REAL_GROUPS):
        real_started = time.monotonic()
        try:
            passes[real_arktos.ARKTOS] = run_real(
                args, workdir / "real", dist, processor_args, list_seconds, rows, say
            )
        except Exception as exc:  # a broken real pass must not cost the simulator's results (kept above)
            say(f"  real Arktos pass failed: {exc!r}")
            passes[real_arktos.ARKTOS] = {
                "error": repr(exc),
                "seconds": math.ceil(time.monotonic() - real_started),
            }

    report.add_ratios(rows)
    checks = report.check_targets(rows, max(args.sizes) if args.sizes else None)
    return {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            # Other work on the machine moves every row together: 1-, 5- and 15-minute load averages.
            "load_average_at_start": [round(x, 2) for x in load_at_start],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            # Cores this run may use (taskset/affinity), and processor processes behind Envoy.
            "cpus_allowed": len(os.sched_getaffinity(0)),
            "processors": args.processors,
        },
        "settings": {
            "seconds": args.seconds,
            "list_seconds": list_seconds,
            "warmup": args.warmup,
            "connections": args.connections,
            "sizes": args.sizes,
            "arktos_sizes": args.arktos_sizes,
            "backends": backends,
            "auth_cache_ttl": args.auth_cache_ttl,
            "tool": "wrk"
            if (args.tool == "auto" and load.wrk_path())
            else ("python" if args.tool == "auto" else args.tool),
        },
        # Per backend: how long its pass took (and for the real Arktos where it ran); every row and target
        # check names its backend too ("backend": "sim" or "arktos").
        "backends": passes,
        "rows": rows,
        "targets": checks,
        "batch": batch,
        "soak": soak,
        "failover": failover,
    }


class Measured:
    """Runs scenarios on one BenchStack, appending a row per connection count to ``rows``."""

    def __init__(
        self, bs: BenchStack, args: argparse.Namespace, rows: list[dict[str, Any]], say: Callable[[str], None]
    ) -> None:
        self.bs, self.args, self.rows, self.say = bs, args, rows, say

    def do(self, scenario: sc.Scenario, seconds: float | None = None) -> None:
        bs, args = self.bs, self.args
        status = sc.probe(bs, scenario)
        if status not in scenario.expect:
            self.say(
                f"  ! {scenario.name} via {scenario.target}: probe answered {status}, "
                f"expected {scenario.expect}"
            )
        for c in args.connections:
            row = sc.measure(bs, scenario, c, seconds or args.seconds, args.warmup, args.tool)
            row["probe_status"] = status
            self.rows.append(row)
            self.say(
                f"  {scenario.name:<34} {scenario.target:<8} c={c:<3} {row['rps']:>8.0f} req/s  "
                f"p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms  errors {row['errors']}"
            )

    def single_server_baselines(self, template: str) -> None:
        """GET pod directly and through Envoy alone: the baselines of every single-server row."""
        self.do(sc.arktos_get(self.bs, sc.ARKTOS, template))
        self.do(sc.arktos_get(self.bs, sc.ENVOY, template))

    def reads(self, template: str, wanted: Callable[[str], bool]) -> None:
        if wanted("get"):
            self.do(sc.gateway_show(self.bs, template))
        if wanted("flavors"):
            self.do(sc.gateway_flavors(self.bs))
        if wanted("images"):
            # Tenant demo with an image of its own: its images ConfigMap exists (its read proves a decision).
            self.bs.create_image()
            self.do(sc.gateway_images(self.bs))

    def lists(self, sizes: list[int], template: str, seconds: float) -> None:
        bs = self.bs
        for size in sizes:
            populated = time.monotonic()
            bs.ensure_servers(size, keep={template})
            settled = bs.settle()
            self.say(
                f"list scenarios ({size:,} servers; populated in {time.monotonic() - populated:.1f} s"
                + ("" if settled else ", still busy after the settle timeout")
                + ")"
            )
            self.do(sc.arktos_list(bs, sc.ARKTOS, size), seconds)
            self.do(sc.arktos_list(bs, sc.ENVOY, size), seconds)
            self.do(sc.gateway_detail(bs, size), seconds)


def run_real(
    args: argparse.Namespace,
    workdir: Path,
    dist: Path,
    processor_args: list[str],
    list_seconds: float,
    rows: list[dict[str, Any]],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """The second pass: the same reads and lists against a real Arktos started from ``dist``; the pass's
    facts (where, ports, how long each part took)."""

    def wanted(group: str) -> bool:
        return group in REAL_GROUPS and (args.only is None or group in args.only)

    started = time.monotonic()
    say(f"real Arktos: starting it from {dist}")
    with real_arktos.RealArktos(dist, workdir / "arktos-run") as real:
        say(
            f"real Arktos at {real.url} up with its node agent in {real.startup_seconds:.0f} s "
            f"({', '.join(f'{k}={v}' for k, v in real.ports.items())})"
        )
        with BenchStack(workdir, processors=args.processors, processor_args=processor_args, real=real) as bs:
            template = bs.create_template_server()
            small = min(args.arktos_sizes) if args.arktos_sizes else 20
            bs.ensure_servers(small, keep={template})
            bs.settle()
            measured = Measured(bs, args, rows, say)
            say(f"single-server scenarios on the real Arktos ({small} servers in tenant demo)")
            if wanted("get") or wanted("flavors") or wanted("images"):
                measured.single_server_baselines(template)
            measured.reads(template, wanted)
            if wanted("list"):
                measured.lists(args.arktos_sizes, template, list_seconds)
        info = {
            "dist": str(dist),
            "url": real.url,
            "ports": real.ports,
            "startup_seconds": real.startup_seconds,
            "sizes": args.arktos_sizes if wanted("list") else [],
            "groups": [g for g in REAL_GROUPS if wanted(g)],
        }
    info["seconds"] = math.ceil(time.monotonic() - started)
    say(f"real Arktos pass done in {info['seconds']} s (everything it started is stopped)")
    return info


def run_batch(bs: BenchStack, n: int, say: Callable[[str], None]) -> Any:
    """One request creating ``n`` VMs against ``n`` single creates, through the gateway (bench/batch.py)."""
    say(f"batch create ({n} servers)")
    try:
        result = run_batch_benchmark(bs.stack, n)
    except Exception as exc:  # a broken batch scenario must not cost the rest of the results
        say(f"  batch create failed: {exc!r}")
        return {"error": repr(exc)}
    say(f"  {result}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tool == "wrk" and load.wrk_path() is None:
        print(f"wrk is not installed: {load.WRK_INSTALL_HINT}", file=sys.stderr)
        return 2
    if args.tool == "auto" and load.wrk_path() is None:
        print(
            f"note: wrk not found ({load.WRK_INSTALL_HINT}); using the Python load generator", file=sys.stderr
        )

    def say(line: str) -> None:
        print(line, flush=True)

    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        data = run(args, workdir, say)
    data["elapsed_seconds"] = math.ceil(time.monotonic() - t0)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    json_path = args.out / f"bench-{stamp}.json"
    png_path = args.out / f"bench-{stamp}.png"
    report.write_json(data, json_path)
    # `--only batch` measures no request rates: there is nothing to chart then.
    if data["rows"]:
        report.chart(data["rows"], png_path)
    print()
    print(report.table(data["rows"]))
    print()
    print("targets:")
    print(report.targets_text(data["targets"]))
    written = f"{json_path} and {png_path}" if data["rows"] else str(json_path)
    print(f"\nwrote {written} ({data['elapsed_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
