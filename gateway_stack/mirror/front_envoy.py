"""The front Envoy of mirror mode: the primary serves every client, a copy of each request goes to the shadow.

``front_config`` (pure) builds the Envoy configuration:
- ``/identity``, ``/compute``, ``/image``: routed to the primary unchanged (host header, path, body), and
  mirrored with ``request_mirror_policies`` to the recorder's relay (fire-and-forget: Envoy never waits for
  the copy); the ext_proc filter in ``observability_mode`` sends the exchange to the recorder without
  waiting either, and a recorder that is down is skipped (``failure_mode_allow``);
- anything else: to the primary, not mirrored nor recorded.
Envoy assigns ``x-request-id`` (a client's own is not trusted for pairing) and the mirror keeps it.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

MIRRORED_PREFIXES = ("/identity", "/compute", "/image")
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Bodies of a Nova/Glance exchange are streamed to the observer; a primary answers within this.
DEFAULT_PRIMARY_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Upstream:
    host: str
    port: int
    tls: bool


def parse_primary(url: str) -> Upstream:
    """The primary's base URL (``http(s)://host[:port]``; its services are under /identity, /compute...)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--primary must be an http(s) URL, got {url!r}")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(
            f"--primary is the base URL without a path (its /identity, /compute, /image): {url!r}"
        )
    tls = parts.scheme == "https"
    return Upstream(parts.hostname, parts.port or (443 if tls else 80), tls)


@dataclass(frozen=True, slots=True)
class FrontParams:
    primary: Upstream
    observer: tuple[str, int]
    relay: tuple[str, int]
    listen_port: int
    admin_port: int
    listen_address: str = "127.0.0.1"
    admin_address: str = "127.0.0.1"
    primary_ca: str | None = None
    primary_timeout_seconds: float = DEFAULT_PRIMARY_TIMEOUT_SECONDS
    access_log_path: str | None = None


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _cluster(name: str, host: str, port: int, *, http2: bool = False) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "connect_timeout": "2s",
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(host, port)}}]}],
        },
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return cluster


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _primary_cluster(p: FrontParams) -> dict[str, Any]:
    cluster = _cluster("primary", p.primary.host, p.primary.port)
    if p.primary.tls:
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": p.primary.host,
                "common_tls_context": {
                    "validation_context": {
                        "trusted_ca": {"filename": p.primary_ca or SYSTEM_CA_BUNDLE},
                        **(
                            {}
                            if _is_ip(p.primary.host)
                            else {
                                "match_typed_subject_alt_names": [
                                    {"san_type": "DNS", "matcher": {"exact": p.primary.host}}
                                ]
                            }
                        ),
                    }
                },
            },
        }
    return cluster


def _routes(p: FrontParams) -> list[dict[str, Any]]:
    timeout = f"{p.primary_timeout_seconds:.3f}s"
    mirrored = [
        {
            "match": {"path_separated_prefix": prefix},
            "route": {
                "cluster": "primary",
                "timeout": timeout,
                "request_mirror_policies": [
                    {"cluster": "mirror_relay", "runtime_fraction": {"default_value": {"numerator": 100}}}
                ],
            },
        }
        for prefix in MIRRORED_PREFIXES
    ]
    passthrough = {
        "match": {"prefix": "/"},
        "route": {"cluster": "primary", "timeout": timeout},
        "typed_per_filter_config": {
            "envoy.filters.http.ext_proc": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute",
                "disabled": True,
            }
        },
    }
    return [*mirrored, passthrough]


def _observer_filter() -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.ext_proc",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
            "grpc_service": {"envoy_grpc": {"cluster_name": "mirror_observer"}, "timeout": "5s"},
            # Envoy sends each phase and goes on at once: the primary never waits for the recorder.
            "observability_mode": True,
            # A recorder that is down (or slow to connect) is skipped, never a failed request.
            "failure_mode_allow": True,
            "processing_mode": {
                "request_header_mode": "SEND",
                "response_header_mode": "SEND",
                "request_body_mode": "STREAMED",
                "response_body_mode": "STREAMED",
                "request_trailer_mode": "SKIP",
                "response_trailer_mode": "SKIP",
            },
        },
    }


def front_config(p: FrontParams) -> dict[str, Any]:
    hcm: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
        ".HttpConnectionManager",
        "stat_prefix": "front",
        "generate_request_id": True,
        # The pairing key is Envoy's own: a client's x-request-id could collide with another request's.
        "preserve_external_request_id": False,
        "route_config": {
            "name": "front",
            "virtual_hosts": [{"name": "primary", "domains": ["*"], "routes": _routes(p)}],
        },
        "http_filters": [
            _observer_filter(),
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            },
        ],
    }
    if p.access_log_path:
        hcm["access_log"] = [
            {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                    "path": p.access_log_path,
                    "log_format": {
                        "json_format": {
                            "request_id": "%REQ(X-REQUEST-ID)%",
                            "method": "%REQ(:METHOD)%",
                            "path": "%REQ(:PATH)%",
                            "status": "%RESPONSE_CODE%",
                            "duration_ms": "%DURATION%",
                            "upstream_host": "%UPSTREAM_HOST%",
                        }
                    },
                },
            }
        ]
    return {
        "admin": {"address": _address(p.admin_address, p.admin_port)},
        "static_resources": {
            "listeners": [
                {
                    "name": "front",
                    "address": _address(p.listen_address, p.listen_port),
                    "filter_chains": [
                        {
                            "filters": [
                                {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                _primary_cluster(p),
                _cluster("mirror_relay", *p.relay),
                _cluster("mirror_observer", *p.observer, http2=True),
            ],
        },
    }


def render(p: FrontParams) -> str:
    return yaml.safe_dump(front_config(p), sort_keys=False)


# What k8s/mirror/front-envoy.yaml is rendered from (`make manifests` rewrites it; a test compares the file
# with it): the front Envoy in the mirror's pod, the recorder beside it on loopback, the primary named by
# K8S_PRIMARY (change it to your Nova's base URL and run `make manifests`).
K8S_PRIMARY = "https://nova.example"
K8S_OBSERVER = ("127.0.0.1", 50061)
K8S_RELAY = ("127.0.0.1", 50062)
K8S_LISTEN_PORT = 8090
K8S_ADMIN_PORT = 9902
HEADER = "# GENERATED by `python -m gateway_stack.mirror.front_envoy --k8s` (make manifests): do not edit.\n"


def k8s_params(primary: str = K8S_PRIMARY) -> FrontParams:
    return FrontParams(
        primary=parse_primary(primary),
        observer=K8S_OBSERVER,
        relay=K8S_RELAY,
        listen_address="0.0.0.0",
        listen_port=K8S_LISTEN_PORT,
        admin_port=K8S_ADMIN_PORT,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gateway_stack.mirror.front_envoy --k8s [--primary URL] [--out FILE]`` (make manifests)."""
    ap = argparse.ArgumentParser(prog="python -m gateway_stack.mirror.front_envoy", description=main.__doc__)
    ap.add_argument(
        "--k8s", action="store_true", required=True, help="the in-cluster config of k8s/overlays/mirror"
    )
    ap.add_argument("--primary", default=K8S_PRIMARY, help=f"the primary's base URL (default {K8S_PRIMARY})")
    ap.add_argument("--out", type=Path, help="write here instead of standard output")
    args = ap.parse_args(argv)
    text = HEADER + render(k8s_params(args.primary))
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
