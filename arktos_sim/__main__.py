"""``python -m arktos_sim``: run the simulator until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from . import auth, tls
from .server import Simulator

DEFAULT_TOKENS = Path(__file__).with_name("tokens.csv")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m arktos_sim", description="Arktos-compatible API server simulator"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6443)
    p.add_argument("--tokens", type=Path, default=DEFAULT_TOKENS, help="token file in Arktos format")
    p.add_argument("--tls-cert", type=Path, help="serving certificate (PEM, with chain)")
    p.add_argument("--tls-key", type=Path, help="private key of --tls-cert")
    p.add_argument("--insecure-http", action="store_true", help="serve plain HTTP")
    p.add_argument(
        "--cert-dir",
        type=Path,
        default=Path(".run/sim-tls"),
        help="where a generated certificate goes (ca.pem, server.pem, server-key.pem)",
    )
    p.add_argument(
        "--vm-boot-seconds",
        type=float,
        default=1.0,
        help="time the node agent takes to boot/stop a VM and complete an action; negative disables it",
    )
    p.add_argument("--no-node-agent", action="store_true", help="no kubelet: pods stay Pending (as recorded)")
    p.add_argument("--state", type=Path, help="persist objects in this JSON file across restarts")
    p.add_argument(
        "--audit-log",
        type=Path,
        help="append one JSON line per request received, written before the request is answered",
    )
    p.add_argument(
        "--watch-delay-seconds",
        type=float,
        default=0.0,
        help="test control: send each watch event this much later (watches lagging behind writes)",
    )
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        p.error("--tls-cert and --tls-key go together")
    if args.insecure_http and args.tls_cert is not None:
        p.error("--insecure-http excludes --tls-cert/--tls-key")
    return args


async def serve(args: argparse.Namespace) -> None:
    tokens = auth.TokenFile.load(args.tokens)
    boot = None if args.no_node_agent or args.vm_boot_seconds < 0 else args.vm_boot_seconds
    sim = Simulator(
        tokens,
        boot_seconds=boot,
        state_file=args.state,
        bootstrap_tenants=[auth.SYSTEM_TENANT, "demo", *tokens.tenants()],
        audit_log=args.audit_log,
        watch_delay=max(0.0, args.watch_delay_seconds),
    )
    ssl_context = None
    ca_note = ""
    if not args.insecure_http:
        if args.tls_cert is not None:
            files = tls.CertFiles(None, args.tls_cert, args.tls_key)
        else:
            files = tls.ensure_cert(args.cert_dir, args.host)
            ca_note = f" (ca: {files.ca})"
        ssl_context = tls.server_context(files)
    runner = web.AppRunner(sim.app(), access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(
        runner, args.host, args.port, ssl_context=ssl_context, backlog=1024, reuse_address=True
    )
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def reload_tokens() -> None:
        # A simulator-only control (kube-apiserver reads --token-auth-file once): tests revoke a token by
        # rewriting the file and sending SIGHUP. Every user of ``tokens`` sees the new rows at once.
        try:
            tokens.users = auth.TokenFile.load(args.tokens).users
        except (OSError, ValueError) as exc:
            print(f"arktos_sim: token file not reloaded: {exc}", file=sys.stderr, flush=True)

    loop.add_signal_handler(signal.SIGHUP, reload_tokens)
    if sim.agent is not None:
        # Simulator-only controls for tests: hold the node agent's work (SIGUSR1) and let it go on (SIGUSR2).
        loop.add_signal_handler(signal.SIGUSR1, sim.agent.hold)
        loop.add_signal_handler(signal.SIGUSR2, sim.agent.release)
    scheme = "http" if ssl_context is None else "https"
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"arktos_sim listening on {scheme}://{host}:{args.port}{ca_note}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        asyncio.run(serve(args))
    except OSError as exc:
        print(f"arktos_sim: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
