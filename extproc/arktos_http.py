"""The processor's own HTTP connection to Arktos: base URL, the processor's bearer token, TLS (urllib3).

Used by the reflectors (``extproc.arktos_watch``) and by ``extproc.arktos_client``; never by client
requests (Envoy carries those with the client's token). urllib3 directly rather than the official
``kubernetes`` client the processor used for this before: the processor only ever calls paths it builds
itself (Arktos's tenant-aware paths, for which the generated client has no methods), so the client served as
configuration and a connection pool, and importing ``kubernetes.client`` (about 900 generated API and model
modules) held 48 MB of the processor's memory (bench/README.md lever (r5)).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

import urllib3

# Connections kept per host: the reflectors' watches, their relists and the processor's own calls (run in
# the default thread pool) at once; more are opened when needed and not kept.
POOL_MAXSIZE = 5 * (os.cpu_count() or 1)


class ArktosConnection:
    def __init__(
        self, url: str, token: str | None = None, ca_file: str | None = None, verify: bool = True
    ) -> None:
        self.base_url = url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        # ca_file None: the system's CAs.
        self.pool = urllib3.PoolManager(
            cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE,
            ca_certs=ca_file,
            maxsize=POOL_MAXSIZE,
        )

    def url(self, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
        """``path`` is absolute (and may carry an encoded query string of its own)."""
        return self.base_url + path + ("?" + urlencode(query) if query else "")

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | urllib3.Timeout = 30.0,
        preload_content: bool = True,
    ) -> urllib3.BaseHTTPResponse:
        """One request with the processor's credential; no retries (callers have their own policy).
        Raises urllib3's errors for connection failures and timeouts."""
        return self.pool.request(
            method.upper(),
            self.url(path, query),
            body=body,
            headers={**(headers or {}), **self._auth},
            timeout=timeout,
            preload_content=preload_content,
            retries=False,
        )

    def close(self) -> None:
        self.pool.clear()
