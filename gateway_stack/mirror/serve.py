"""``python -m gateway_stack.mirror.serve``: the recorder process the mirror launcher starts.

One event loop serves the front Envoy's ext_proc observer (gRPC, the primary's side) and the mirror
cluster's relay (HTTP, the copies for the shadow); lines go to the capture directory. Prints
``mirror recorder ready`` once both listen. Stops on SIGTERM/SIGINT, writing what is queued.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from aiohttp import web

from gateway_stack.mirror.capture import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILES, CaptureWriter
from gateway_stack.mirror.credentials import ShadowTokensError, load_shadow_tokens
from gateway_stack.mirror.observer import DEFAULT_MAX_BODY_BYTES, ObserverService
from gateway_stack.mirror.recorder import DEFAULT_MAX_PENDING, Recorder, relay_app

READY_LINE = "mirror recorder ready"


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected host:port, got {value!r}")
    return host, int(port)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m gateway_stack.mirror.serve", description=__doc__.splitlines()[0]
    )
    ap.add_argument(
        "--observer-listen", type=_host_port, required=True, help="host:port of the gRPC observer"
    )
    ap.add_argument("--relay-listen", type=_host_port, required=True, help="host:port of the mirror relay")
    ap.add_argument("--shadow", required=True, help="base URL of the gateway (the shadow)")
    ap.add_argument("--shadow-ca", help="CA bundle of the shadow's certificate (https)")
    ap.add_argument("--shadow-tokens", type=Path, required=True)
    ap.add_argument(
        "--primary", help="base URL of the primary: its flavors and images are read to map ids by name"
    )
    ap.add_argument("--primary-ca", help="CA bundle of the primary's certificate (https)")
    ap.add_argument("--capture", type=Path, required=True)
    ap.add_argument("--capture-file-bytes", type=int, default=DEFAULT_MAX_FILE_BYTES)
    ap.add_argument("--capture-files", type=int, default=DEFAULT_MAX_FILES)
    ap.add_argument("--max-pending", type=int, default=DEFAULT_MAX_PENDING)
    ap.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    return ap.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    tokens = load_shadow_tokens(args.shadow_tokens)
    capture = CaptureWriter(
        args.capture, max_file_bytes=args.capture_file_bytes, max_files=args.capture_files
    )
    shadow_ssl = ssl.create_default_context(cafile=args.shadow_ca) if args.shadow_ca else None
    primary_ssl = ssl.create_default_context(cafile=args.primary_ca) if args.primary_ca else None
    recorder = Recorder(
        capture,
        args.shadow,
        tokens,
        max_pending=args.max_pending,
        shadow_ssl=shadow_ssl,
        primary_url=args.primary,
        primary_ssl=primary_ssl,
    )
    await recorder.start()

    limit = 2 * args.max_body_bytes + 1024 * 1024
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit), ("grpc.so_reuseport", 0)])
    ObserverService(recorder.on_primary, args.max_body_bytes).register(server)
    host, port = args.observer_listen
    server.add_insecure_port(f"{host}:{port}")
    await server.start()

    runner = web.AppRunner(relay_app(recorder, args.max_body_bytes), access_log=None)
    await runner.setup()
    relay_host, relay_port = args.relay_listen
    await web.TCPSite(runner, relay_host, relay_port).start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"{READY_LINE}: observer {host}:{port}, relay {relay_host}:{relay_port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop(1.0)
        await runner.cleanup()
        await recorder.stop()
        capture.close()
        print(f"mirror recorder stopped: {recorder.stats}, dropped lines {capture.dropped}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except ShadowTokensError as exc:
        print(f"mirror recorder: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
