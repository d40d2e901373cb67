"""``python -m extproc``: the Envoy external processor of the OpenStack gateway.

Flags fall back to environment variables (ARKTOS_URL, ARKTOS_CA, ARKTOS_TOKEN, ARKTOS_TOKEN_FILE,
GATEWAY_PUBLIC_URL, EXTPROC_LISTEN, ...). Prints one line ``extproc ready on <address>`` to stdout once
it serves; stops gracefully on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from extproc import logs
from extproc.access_cache import DEFAULT_CAPACITY, DEFAULT_TTL_SECONDS
from extproc.config import GatewayConfig

if TYPE_CHECKING:
    from extproc.arktos_watch import Reflector
    from extproc.cluster_cache import ClusterCache

log = structlog.get_logger("extproc")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    d = GatewayConfig()
    ap = argparse.ArgumentParser(prog="python -m extproc", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--listen",
        default=_env("EXTPROC_LISTEN", "127.0.0.1:50051"),
        help="host:port or unix:/path (env EXTPROC_LISTEN; default 127.0.0.1:50051)",
    )
    ap.add_argument(
        "--ready-file",
        default=_env("EXTPROC_READY_FILE"),
        help="file present while the processor serves with its watches synced (readiness probes; env "
        "EXTPROC_READY_FILE)",
    )
    ap.add_argument("--arktos-url", default=_env("ARKTOS_URL"), help="Arktos API URL (env ARKTOS_URL)")
    ap.add_argument("--arktos-ca", default=_env("ARKTOS_CA"), help="CA bundle for Arktos (env ARKTOS_CA)")
    ap.add_argument(
        "--arktos-token",
        default=_env("ARKTOS_TOKEN"),
        help="the processor's own bearer token for its watches and reconcilers (env ARKTOS_TOKEN)",
    )
    ap.add_argument(
        "--arktos-token-file",
        default=_env("ARKTOS_TOKEN_FILE"),
        help="file holding that token (env ARKTOS_TOKEN_FILE); wins over --arktos-token",
    )
    ap.add_argument("--arktos-insecure", action="store_true", help="do not verify Arktos's TLS certificate")
    ap.add_argument("--namespace", default=_env("GATEWAY_NAMESPACE", d.namespace))
    ap.add_argument(
        "--public-url",
        default=_env("GATEWAY_PUBLIC_URL", d.public_url),
        help="URL clients reach Envoy at (env GATEWAY_PUBLIC_URL)",
    )
    ap.add_argument("--default-keypair", default=_env("GATEWAY_DEFAULT_KEYPAIR", d.default_keypair))
    ap.add_argument(
        "--network-type",
        default=_env("GATEWAY_NETWORK_TYPE", d.network_type),
        help="spec.type of the Arktos Network a Neutron network create makes (env GATEWAY_NETWORK_TYPE)",
    )
    ap.add_argument(
        "--max-body-bytes",
        type=int,
        default=int(_env("GATEWAY_MAX_BODY_BYTES", str(d.max_request_body_bytes)) or 0),
        help="largest accepted request body (413 above)",
    )
    ap.add_argument(
        "--max-servers-per-request",
        type=int,
        default=int(_env("GATEWAY_MAX_SERVERS_PER_REQUEST", str(d.max_servers_per_request)) or 0),
        help="largest max_count of one server create (400 above)",
    )
    ap.add_argument("--region", default=_env("GATEWAY_REGION", d.region))
    ap.add_argument(
        "--auth-cache-ttl",
        type=float,
        default=float(_env("GATEWAY_AUTH_CACHE_TTL", str(DEFAULT_TTL_SECONDS)) or 0),
        help="seconds a read Arktos allowed a token may be answered again from the watch caches without "
        "asking Arktos; also the longest a revoked token or removed role still reads (0: every read reaches "
        f"Arktos; env GATEWAY_AUTH_CACHE_TTL; default {DEFAULT_TTL_SECONDS:g})",
    )
    ap.add_argument(
        "--auth-cache-size",
        type=int,
        default=int(_env("GATEWAY_AUTH_CACHE_SIZE", str(DEFAULT_CAPACITY)) or 0),
        help=f"most read decisions remembered (env GATEWAY_AUTH_CACHE_SIZE; default {DEFAULT_CAPACITY})",
    )
    ap.add_argument("--log-level", default=_env("LOG_LEVEL", "info"), help="debug, info, warning, error")
    # For plumbing tests: a stand-in for extproc.app.Gateway, called with (config, store).
    ap.add_argument("--gateway-factory", default="extproc.app:Gateway", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not math.isfinite(args.auth_cache_ttl) or args.auth_cache_ttl < 0 or args.auth_cache_size < 0:
        ap.error("--auth-cache-ttl and --auth-cache-size take finite numbers >= 0")
    return args


def _token(args: argparse.Namespace) -> str | None:
    if args.arktos_token_file:
        return Path(args.arktos_token_file).read_text().strip() or None
    return args.arktos_token or None


def gateway_config(args: argparse.Namespace) -> GatewayConfig:
    return GatewayConfig(
        public_url=args.public_url.rstrip("/"),
        namespace=args.namespace,
        network_type=args.network_type,
        default_keypair=args.default_keypair,
        max_request_body_bytes=args.max_body_bytes,
        max_servers_per_request=args.max_servers_per_request,
        region=args.region,
    )


READY_CHECK_SECONDS = 1.0


async def _keep_ready_file(path: Path, cluster: ClusterCache | None) -> None:
    """``path`` exists while the processor can answer from fresh watches (``ClusterCache.synced``; always
    without Arktos): a Kubernetes readiness probe (``test -f``) then keeps a replica whose watches broke
    out of its Service until they have relisted, instead of letting it forward everything to Arktos."""
    while True:
        ready = cluster is None or cluster.synced
        if ready and not path.exists():
            path.write_text("ready\n")
        elif not ready:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        await asyncio.sleep(READY_CHECK_SECONDS)


async def serve(args: argparse.Namespace) -> int:
    # Imported here so `--help` works even when the translators are broken.
    from extproc.access_cache import AccessDecisions
    from extproc.app import Gateway
    from extproc.arktos_client import ArktosClient
    from extproc.batch_reconciler import BatchReconciler
    from extproc.catalog import CatalogStore
    from extproc.catalog_watch import CatalogWatch, make_api_client
    from extproc.cluster_cache import ClusterCache
    from extproc.direct_reads import DirectReads
    from extproc.instance_action_recorder import InstanceActionRecorder
    from extproc.key_stock import KeyStock
    from extproc.keypair_store import KeypairStore
    from extproc.network.store import NetworkStore, NetworkWatch
    from extproc.server import create_server
    from extproc.server_group_store import ServerGroupStore
    from extproc.snapshots import SnapshotRecorder

    config = gateway_config(args)
    store = CatalogStore()
    # What the processor's own watches know of pods, Actions and ReplicaSets (None without Arktos).
    cluster = ClusterCache() if args.arktos_url else None
    # The public keys of the keypairs of every tenant, fed by the same ConfigMap watch as the catalog.
    keypairs = KeypairStore() if args.arktos_url else None
    # The server groups' policies of every tenant, from the same watch.
    server_groups = ServerGroupStore() if args.arktos_url else None
    # Every tenant's Networks by Neutron id (their own watch).
    networks = NetworkStore() if args.arktos_url else None
    module_name, _, attr = args.gateway_factory.partition(":")
    factory = getattr(importlib.import_module(module_name), attr or "Gateway")
    # Stand-ins (plumbing tests) take (config, store) only.
    # Keypair generation happens in a worker process, ahead of the requests (see extproc.key_stock).
    key_stock = KeyStock()
    # The processor's own Arktos calls: reconcilers, recorders, server lists whose cache is behind Arktos.
    arktos = (
        ArktosClient.connect(args.arktos_url, _token(args), args.arktos_ca, verify=not args.arktos_insecure)
        if args.arktos_url
        else None
    )
    gateway = (
        factory(
            config,
            store,
            cluster,
            keypairs=keypairs,
            key_stock=key_stock,
            server_groups=server_groups,
            networks=networks,
            arktos=arktos,
            decisions=AccessDecisions(args.auth_cache_ttl, args.auth_cache_size),
        )
        if factory is Gateway
        else factory(config, store)
    )

    listen = args.listen
    if listen.startswith("unix:"):
        sock = Path(listen[len("unix:") :].removeprefix("//"))
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
    # Server lists' authorizing probes, sent by the processor with the client's token (one exchange).
    direct_reads = (
        DirectReads(args.arktos_url, args.arktos_ca, verify=not args.arktos_insecure)
        if args.arktos_url
        else None
    )
    server, _port = create_server(gateway, config, listen, reader=direct_reads)
    await server.start()

    loop = asyncio.get_running_loop()
    watch = None
    reflectors: list[Reflector] = []
    recorder: SnapshotRecorder | None = None
    action_recorder: InstanceActionRecorder | None = None
    background: list[asyncio.Task[None]] = []
    if factory is Gateway:
        background.append(asyncio.create_task(key_stock.run(), name="key stock"))
    if args.arktos_url:

        def on_loop(fn: Callable[[], None]) -> None:
            loop.call_soon_threadsafe(fn)

        api = make_api_client(args.arktos_url, _token(args), args.arktos_ca, verify=not args.arktos_insecure)
        watch = CatalogWatch(store, api, apply=on_loop, keypairs=keypairs, server_groups=server_groups)
        watch.start()
        assert cluster is not None
        reflectors = cluster.reflectors(api, apply=on_loop)
        assert networks is not None
        reflectors.append(NetworkWatch(networks, api, apply=on_loop))
        for reflector in reflectors:
            reflector.start()
        # Batch create (issue 5): names the servers of a batch and detaches them from their ReplicaSet.
        assert arktos is not None
        background.append(
            asyncio.create_task(BatchReconciler(cluster, arktos).run(), name="batch reconciler")
        )
        # Server snapshots (createImage) recorded as images in each tenant's ConfigMap, durably.
        recorder = SnapshotRecorder(cluster, arktos, store, config.namespace)
        recorder.start()
        # The instance actions that start an Arktos Action, recorded on their pod (instance_actions).
        action_recorder = InstanceActionRecorder(cluster, arktos)
        action_recorder.start()
    else:
        log.warning("catalog_watch_disabled", reason="no --arktos-url; built-in flavors and images only")

    if args.ready_file:
        background.append(
            asyncio.create_task(_keep_ready_file(Path(args.ready_file), cluster), name="ready file")
        )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("processor_ready", listen=listen, public_url=config.public_url, arktos_url=args.arktos_url)
    print(f"extproc ready on {listen}", flush=True)
    await stop.wait()
    log.info("processor_stopping")
    await server.stop(grace=5)
    if direct_reads is not None:
        await direct_reads.close()
    for task in background:
        task.cancel()
    if args.ready_file:
        with contextlib.suppress(FileNotFoundError):
            Path(args.ready_file).unlink()
    if recorder is not None:
        await recorder.stop()
    if action_recorder is not None:
        await action_recorder.stop()
    if watch is not None:
        await asyncio.to_thread(watch.stop)
    for reflector in reflectors:
        await asyncio.to_thread(reflector.stop)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logs.configure(args.log_level)
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
