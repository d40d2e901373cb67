"""A serving certificate for the simulator, signed by a CA generated with trustme (written next to it)."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509


@dataclass(frozen=True)
class CertFiles:
    ca: Path | None
    cert: Path
    key: Path


def _covers(cert_path: Path, host: str) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound, OSError):
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host in san.get_values_for_type(x509.DNSName)
    return ip in san.get_values_for_type(x509.IPAddress)


def ensure_cert(cert_dir: Path, host: str) -> CertFiles:
    """Reuse the ``ca.pem``, ``server.pem``, ``server-key.pem`` of ``cert_dir`` if they cover ``host``."""
    ca_path, cert_path, key_path = cert_dir / "ca.pem", cert_dir / "server.pem", cert_dir / "server-key.pem"
    if ca_path.exists() and key_path.exists() and cert_path.exists() and _covers(cert_path, host):
        return CertFiles(ca_path.resolve(), cert_path.resolve(), key_path.resolve())
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="arktos-sim")
    names = ["127.0.0.1", "localhost", "::1"]
    if host not in names and host not in ("0.0.0.0", "::"):
        names.append(host)
    server = ca.issue_cert(*names)
    ca.cert_pem.write_to_path(str(ca_path))
    server.private_key_pem.write_to_path(str(key_path))
    cert_path.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    key_path.chmod(0o600)
    return CertFiles(ca_path.resolve(), cert_path.resolve(), key_path.resolve())


def server_context(files: CertFiles) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(files.cert), str(files.key))
    return ctx
