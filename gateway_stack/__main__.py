"""``python -m gateway_stack`` (what ``make run`` runs): simulator, processor and Envoy on loopback.

``python -m gateway_stack report CAPTURE --out DIR``: the compatibility report of a mirror capture or a
replayed Nova session (``gateway_stack/report``).

Environment (README "Environment variables" lists them all): GATEWAY_PORT (public port, default 8080),
GATEWAY_ADMIN_PORT (Envoy admin, default a free port), GATEWAY_WORKDIR (default .run), GATEWAY_EPHEMERAL
(1: the simulator keeps nothing), ARKTOS_URL / ARKTOS_CA / ARKTOS_TOKEN (use that Arktos instead of the
simulator; ARKTOS_TOKEN is the processor's own read-only credential), SIM_VM_BOOT_SECONDS.

A child that exits is restarted (backoff 0.5 s doubling to 30 s, logged); the simulator keeps its objects in
``<workdir>/arktos-state.json`` (+ ``.journal``) so a restart, of it or of ``make run``, loses nothing
(``--ephemeral``: a throw-away stack). Stops everything on SIGINT/SIGTERM (exit 0); the children die with
the launcher even when it is SIGKILLed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway_stack.procs import Interrupted
from gateway_stack.stack import Stack
from gateway_stack.supervisor import StopSignals, Supervisor

# A real VM takes seconds to boot or reboot: long enough that a client polling every 2 s sees BUILD,
# REBOOT and HARD_REBOOT (tests shorten it).
DEFAULT_VM_BOOT_SECONDS = 4.0
SIM_STATE_FILE = "arktos-state.json"


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _flag_env(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["mirror"]:
        # Mirror mode (issue 14): a front Envoy before the user's Nova, a copy of each request to the gateway.
        from gateway_stack.mirror import launcher

        return launcher.main(args_list[1:])
    if args_list[:1] == ["report"]:
        # The compatibility report of a capture, or of a recorded Nova session replayed (issue 14).
        from gateway_stack.report.cli import main as report_main

        return report_main(args_list[1:])
    ap = argparse.ArgumentParser(prog="python -m gateway_stack", description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=os.environ.get("GATEWAY_WORKDIR", ".run"))
    ap.add_argument("--port", type=int, default=_int_env("GATEWAY_PORT", 8080), help="public port")
    # A free port unless set: a fixed default would clash with a second `make run` on the same machine.
    ap.add_argument("--admin-port", type=int, default=_int_env("GATEWAY_ADMIN_PORT", 0), help="0: a free one")
    ap.add_argument("--insecure-http", action="store_true", help="run the simulator over plain HTTP")
    ap.add_argument(
        "--ephemeral",
        action="store_true",
        default=_flag_env("GATEWAY_EPHEMERAL"),
        help="the simulator keeps its objects in memory only (lost when it or make run restarts)",
    )
    ap.add_argument(
        "--vm-boot-seconds",
        type=float,
        default=float(os.environ.get("SIM_VM_BOOT_SECONDS") or DEFAULT_VM_BOOT_SECONDS),
        help=f"seconds the simulator's VMs take to boot, stop and reboot (default {DEFAULT_VM_BOOT_SECONDS})",
    )
    ap.add_argument(
        "--processors",
        type=int,
        default=_int_env("GATEWAY_PROCESSORS", 1),
        help="processor replicas behind Envoy (each with its own watches; a dead one is ejected, restarted, "
        "and rejoins)",
    )
    ap.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info"))
    args = ap.parse_args(args_list)

    # Installed first: a signal during the (slow) start must stop it, not kill the launcher mid-way.
    signals = StopSignals()
    signals.install()
    arktos_url = os.environ.get("ARKTOS_URL") or None
    workdir = Path(args.workdir)
    stack = Stack(
        workdir=workdir,
        tls=not args.insecure_http,
        vm_boot_seconds=args.vm_boot_seconds,
        public_port=args.port,
        admin_port=args.admin_port or None,
        arktos_url=arktos_url,
        arktos_ca=os.environ.get("ARKTOS_CA") or None,
        arktos_token=os.environ.get("ARKTOS_TOKEN") or None,
        sim_state=None if args.ephemeral else workdir / SIM_STATE_FILE,
        log_level=args.log_level,
        processors=max(1, args.processors),
    )
    supervisor = Supervisor(stack, signals, sys.stderr)
    try:
        try:
            stack.start()
        except Interrupted:
            return 0
        except Exception as exc:
            print(f"gateway_stack: failed to start: {exc}", file=sys.stderr)
            return 1
        print(stack.summary(), end="")
        if stack.sim_state is not None:
            print(f"Arktos state:      {stack.sim_state.resolve()} (GATEWAY_EPHEMERAL=1: none)")
        print(f"export OS_CLIENT_CONFIG_FILE={stack.clouds_yaml} OS_CLOUD=arktos")
        print("openstack server create --image cirros-0.5.2-x86_64-disk --flavor m1.tiny --wait vm1")
        print("(Ctrl-C stops everything)", flush=True)
        return supervisor.run()
    finally:
        stack.stop()
        signals.uninstall()


if __name__ == "__main__":
    sys.exit(main())
