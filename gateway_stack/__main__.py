"""``python -m gateway_stack`` (what ``make run`` runs): simulator, processor and Envoy on loopback.

Environment (README "Environment variables" lists them all): GATEWAY_PORT (public port, default 8080),
GATEWAY_ADMIN_PORT (Envoy admin, default a free port),
GATEWAY_WORKDIR (default .run), ARKTOS_URL / ARKTOS_CA / ARKTOS_TOKEN (use that Arktos instead of the
simulator; ARKTOS_TOKEN is the processor's own read-only credential), SIM_VM_BOOT_SECONDS.
Stops everything on SIGINT/SIGTERM (exit 0) or when a child dies (exit 1).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from gateway_stack.stack import Stack


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gateway_stack", description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=os.environ.get("GATEWAY_WORKDIR", ".run"))
    ap.add_argument("--port", type=int, default=_int_env("GATEWAY_PORT", 8080), help="public port")
    # A free port unless set: a fixed default would clash with a second `make run` on the same machine.
    ap.add_argument("--admin-port", type=int, default=_int_env("GATEWAY_ADMIN_PORT", 0), help="0: a free one")
    ap.add_argument("--insecure-http", action="store_true", help="run the simulator over plain HTTP")
    ap.add_argument(
        "--vm-boot-seconds",
        type=float,
        default=float(os.environ["SIM_VM_BOOT_SECONDS"]) if os.environ.get("SIM_VM_BOOT_SECONDS") else None,
    )
    ap.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info"))
    args = ap.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    arktos_url = os.environ.get("ARKTOS_URL") or None
    stack = Stack(
        workdir=args.workdir,
        tls=not args.insecure_http,
        vm_boot_seconds=args.vm_boot_seconds,
        public_port=args.port,
        admin_port=args.admin_port or None,
        arktos_url=arktos_url,
        arktos_ca=os.environ.get("ARKTOS_CA") or None,
        arktos_token=os.environ.get("ARKTOS_TOKEN") or None,
        log_level=args.log_level,
    )
    try:
        stack.start()
    except Exception as exc:
        print(f"gateway_stack: failed to start: {exc}", file=sys.stderr)
        return 1
    print(stack.summary(), end="")
    print(f"export OS_CLIENT_CONFIG_FILE={stack.clouds_yaml} OS_CLOUD=arktos")
    print("openstack server create --image cirros-0.5.2-x86_64-disk --flavor m1.tiny --wait vm1")
    print("(Ctrl-C stops everything)", flush=True)
    code = 0
    try:
        while not stop.wait(0.5):
            dead = stack.dead_children()
            if dead:
                for child in dead:
                    print(
                        f"gateway_stack: {child.name} exited with {child.returncode()}; see {child.log_path}",
                        file=sys.stderr,
                    )
                code = 1
                break
    finally:
        stack.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
