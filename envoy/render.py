#!/usr/bin/env python3
"""Render envoy/envoy.yaml.tmpl into an Envoy configuration file.

Usage: ``python envoy/render.py --out .run/envoy.yaml --arktos-url https://127.0.0.1:6443 --arktos-ca ca.pem``

Also importable by path (this folder must not become a package: the ``envoy`` import name belongs to the
xds-protos stubs)::

    spec = importlib.util.spec_from_file_location("envoy_render", "envoy/render.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["envoy_render"] = module  # needed before exec_module (dataclasses)
    spec.loader.exec_module(module)

The template uses ``${name}`` placeholders and ``#% if NAME`` / ``#% endif`` line blocks; no other syntax.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

TEMPLATE_PATH = Path(__file__).resolve().with_name("envoy.yaml.tmpl")

DEFAULT_REQUEST_BUFFER_LIMIT = 1024 * 1024
DEFAULT_RESPONSE_BUFFER_LIMIT = 64 * 1024 * 1024
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

_IF = re.compile(r"^\s*#%\s*if\s+(\w+)\s*$")
_ENDIF = re.compile(r"^\s*#%\s*endif\s*$")


@dataclass(frozen=True, slots=True)
class EnvoyParams:
    """Everything the template needs. Addresses are loopback by default."""

    arktos_host: str = "127.0.0.1"
    arktos_port: int = 6443
    arktos_tls: bool = True
    # PEM bundle that signs Arktos's serving certificate (TLS only); None: the system bundle.
    arktos_ca: str | None = None
    # TLS server name sent to and checked against Arktos's certificate; None: arktos_host.
    arktos_sni: str | None = None
    listen_address: str = "127.0.0.1"
    listen_port: int = 8080
    admin_port: int = 9901
    # "host:port", "unix:/path" or "/path" (unix socket).
    processor: str = "127.0.0.1:50051"
    # More processors (replicas) in the same ext_proc cluster, each an address like ``processor``.
    extra_processors: tuple[str, ...] = ()
    message_timeout_seconds: float = 5.0
    max_message_timeout_seconds: float = 30.0
    # Arktos must answer within this (a paused Arktos gives the client a 504, not a minute of silence).
    upstream_timeout_seconds: float = 20.0
    # The whole client request (headers and body) must arrive within this, the headers within the second:
    # a body shorter than its Content-Length gets a 408 instead of waiting for Envoy's 5-minute idle timeout.
    request_timeout_seconds: float = 20.0
    request_headers_timeout_seconds: float = 10.0
    request_buffer_limit: int = DEFAULT_REQUEST_BUFFER_LIMIT
    response_buffer_limit: int = DEFAULT_RESPONSE_BUFFER_LIMIT
    # JSON access log of every request (what went upstream); None: no access log.
    access_log_path: str | None = None


def params_from_url(arktos_url: str, **kwargs: object) -> EnvoyParams:
    """EnvoyParams for an Arktos base URL such as ``https://10.0.0.5:6443``."""
    parts = urlsplit(arktos_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {arktos_url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    return EnvoyParams(arktos_host=parts.hostname, arktos_port=port, arktos_tls=tls, **kwargs)  # type: ignore[arg-type]


def grpc_message_limit(response_buffer_limit: int) -> int:
    """Largest gRPC message either side must accept: a whole buffered body plus headers, with slack."""
    return 2 * response_buffer_limit + 1024 * 1024


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}s"


def _yaml_str(value: str) -> str:
    # JSON strings are valid YAML scalars, and quoting keeps ':' and '#' safe.
    return json.dumps(value)


def parse_processor(address: str) -> tuple[str | None, str | None, int | None]:
    """(unix socket path, host, port) of a processor address; exactly one form is set."""
    if address.startswith("unix:"):
        path = address[len("unix:") :]
        # grpc accepts unix:///abs/path too.
        if path.startswith("//"):
            path = path[2:]
        return path, None, None
    if address.startswith("/"):
        return address, None, None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"processor address must be host:port or unix:/path, got {address!r}")
    return None, host.strip("[]"), int(port)


def _endpoint(address: str) -> str:
    """One lb_endpoint of the ext_proc cluster (YAML lines at the template's indentation)."""
    sock_path, host, port = parse_processor(address)
    where = (
        f"pipe: {{path: {_yaml_str(sock_path)}}}"
        if sock_path is not None
        else f"socket_address: {{address: {_yaml_str(host or '')}, port_value: {port}}}"
    )
    return f"        - endpoint:\n            address:\n              {where}"


def _values(p: EnvoyParams) -> tuple[dict[str, str], dict[str, bool]]:
    sni = p.arktos_sni or p.arktos_host
    default_port = 443 if p.arktos_tls else 80
    authority = p.arktos_host if p.arktos_port == default_port else f"{p.arktos_host}:{p.arktos_port}"
    if p.request_buffer_limit <= 0 or p.response_buffer_limit <= 0:
        raise ValueError("buffer limits must be positive")
    values = {
        "admin_port": str(p.admin_port),
        "listen_address": _yaml_str(p.listen_address),
        "listen_port": str(p.listen_port),
        "arktos_host": _yaml_str(p.arktos_host),
        "arktos_port": str(p.arktos_port),
        "arktos_authority": _yaml_str(authority),
        "arktos_sni": _yaml_str(sni),
        "arktos_san": _yaml_str(sni),
        "arktos_san_type": "IP_ADDRESS" if _is_ip(sni) else "DNS",
        "arktos_ca": _yaml_str(p.arktos_ca or SYSTEM_CA_BUNDLE),
        "processor_endpoints": "\n".join(_endpoint(a) for a in (p.processor, *p.extra_processors)),
        "message_timeout": _duration(p.message_timeout_seconds),
        "max_message_timeout": _duration(max(p.max_message_timeout_seconds, p.message_timeout_seconds)),
        "upstream_timeout": _duration(p.upstream_timeout_seconds),
        "upstream_timeout_whole": f"{p.upstream_timeout_seconds:g}",
        "request_timeout": _duration(p.request_timeout_seconds),
        "request_headers_timeout": _duration(
            min(p.request_headers_timeout_seconds, p.request_timeout_seconds)
        ),
        "request_buffer_limit": str(p.request_buffer_limit),
        "response_buffer_limit": str(p.response_buffer_limit),
        "grpc_message_limit": str(grpc_message_limit(p.response_buffer_limit)),
        "access_log_path": _yaml_str(p.access_log_path or ""),
    }
    conditions = {
        "processor_replicas": bool(p.extra_processors),
        "arktos_tls": p.arktos_tls,
        "access_log": bool(p.access_log_path),
    }
    return values, conditions


def _apply_conditions(text: str, conditions: Mapping[str, bool]) -> str:
    out: list[str] = []
    keep_stack: list[bool] = []
    for line in text.splitlines(keepends=True):
        m = _IF.match(line)
        if m:
            name = m.group(1)
            if name not in conditions:
                raise KeyError(f"unknown template condition {name!r}")
            keep_stack.append(conditions[name])
            continue
        if _ENDIF.match(line):
            if not keep_stack:
                raise ValueError("#% endif without #% if")
            keep_stack.pop()
            continue
        if all(keep_stack):
            out.append(line)
    if keep_stack:
        raise ValueError("unterminated #% if")
    return "".join(out)


def render(params: EnvoyParams, template_path: Path = TEMPLATE_PATH) -> str:
    """The Envoy configuration (YAML text) for ``params``."""
    values, conditions = _values(params)
    text = _apply_conditions(template_path.read_text(), conditions)
    return Template(text).substitute(values)


def render_passthrough(params: EnvoyParams, template_path: Path = TEMPLATE_PATH) -> str:
    """The gateway's configuration with the processor taken out: the same listener, buffer limits and
    Arktos cluster (TLS included), one route sending every request to Arktos unchanged.

    Only for the benchmark's "Envoy alone" baseline (``python -m bench``): it exposes Arktos paths, so it
    is never what ``make run`` serves. Derived from the rendered template rather than written separately
    so that the baseline cannot drift from the gateway's own Envoy settings.
    """
    import yaml  # only this benchmark helper needs it; the gateway's renderer stays stdlib-only

    config = yaml.safe_load(render(params, template_path))
    resources = config["static_resources"]
    hcm = resources["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["stat_prefix"] = "passthrough"
    for key in ("access_log", "local_reply_config"):
        hcm.pop(key, None)
    hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] != "envoy.filters.http.ext_proc"]
    vhost = hcm["route_config"]["virtual_hosts"][0]
    to_arktos = next(r for r in vhost["routes"] if "route" in r)
    vhost["routes"] = [{"match": {"prefix": "/"}, "route": to_arktos["route"]}]
    resources["clusters"] = [c for c in resources["clusters"] if c["name"] != "extproc"]
    return str(yaml.safe_dump(config, sort_keys=False))


def write(
    params: EnvoyParams, out: Path, template_path: Path = TEMPLATE_PATH, passthrough: bool = False
) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    text = render_passthrough(params, template_path) if passthrough else render(params, template_path)
    tmp.write_text(text)
    tmp.replace(out)
    return out


# What k8s/base/envoy.yaml is rendered from (`make manifests`; a test compares the file with it): Envoy
# listens on all addresses of its pod, its admin on 127.0.0.1 only, the processor is the other container's
# socket in the shared emptyDir, Arktos is the address and CA of the Secret openstack-gateway-arktos.
K8S_PARAMS = params_from_url(
    "https://arktos-apiserver.kube-system.svc:6443",
    arktos_ca="/etc/arktos/ca.pem",
    listen_address="0.0.0.0",
    listen_port=8080,
    admin_port=9901,
    processor="unix:/var/run/extproc/extproc.sock",
)


def main(argv: Sequence[str] | None = None) -> int:
    d = EnvoyParams()
    ap = argparse.ArgumentParser(description="Render the gateway's Envoy configuration.")
    ap.add_argument("--out", required=True, help="file to write ('-' for stdout)")
    ap.add_argument("--arktos-url", default="https://127.0.0.1:6443", help="Arktos API base URL")
    ap.add_argument("--arktos-ca", default=None, help="CA bundle for Arktos's certificate (https only)")
    ap.add_argument("--arktos-sni", default=None, help="TLS server name (default: the URL's host)")
    ap.add_argument("--listen", default=f"{d.listen_address}:{d.listen_port}", help="public host:port")
    ap.add_argument("--admin-port", type=int, default=d.admin_port, help="admin port (on 127.0.0.1)")
    ap.add_argument("--processor", default=d.processor, help="processor host:port or unix:/path")
    ap.add_argument("--message-timeout", type=float, default=d.message_timeout_seconds, help="seconds")
    ap.add_argument("--max-message-timeout", type=float, default=d.max_message_timeout_seconds)
    ap.add_argument("--upstream-timeout", type=float, default=d.upstream_timeout_seconds, help="seconds")
    ap.add_argument("--request-timeout", type=float, default=d.request_timeout_seconds, help="seconds")
    ap.add_argument("--request-buffer-limit", type=int, default=d.request_buffer_limit, help="bytes")
    ap.add_argument("--response-buffer-limit", type=int, default=d.response_buffer_limit, help="bytes")
    ap.add_argument("--access-log", default=None, help="JSON access log file (default: none)")
    ap.add_argument(
        "--passthrough",
        action="store_true",
        help="benchmark baseline only: no processor, every path proxied to Arktos unchanged",
    )
    ap.add_argument(
        "--k8s",
        action="store_true",
        help="the in-cluster configuration of k8s/base (Envoy beside the processor's unix socket, Arktos as "
        "the Secret names it); other options are ignored",
    )
    args = ap.parse_args(argv)
    if args.k8s:
        if args.out == "-":
            sys.stdout.write(render(K8S_PARAMS))
        else:
            write(K8S_PARAMS, Path(args.out))
        return 0
    host, _, port = args.listen.rpartition(":")
    params = params_from_url(
        args.arktos_url,
        arktos_ca=args.arktos_ca,
        arktos_sni=args.arktos_sni,
        listen_address=host or d.listen_address,
        listen_port=int(port),
        admin_port=args.admin_port,
        processor=args.processor,
        message_timeout_seconds=args.message_timeout,
        max_message_timeout_seconds=args.max_message_timeout,
        upstream_timeout_seconds=args.upstream_timeout,
        request_timeout_seconds=args.request_timeout,
        request_buffer_limit=args.request_buffer_limit,
        response_buffer_limit=args.response_buffer_limit,
        access_log_path=args.access_log,
    )
    if args.out == "-":
        sys.stdout.write(render_passthrough(params) if args.passthrough else render(params))
    else:
        write(params, Path(args.out), passthrough=args.passthrough)
    return 0


if __name__ == "__main__":
    sys.exit(main())
