"""Reads the processor sends to Arktos itself, with the CLIENT's token, so that a request the caches can
answer once Arktos has authorized it is answered in one ext_proc exchange (issue 13).

A server list needs Arktos's own answer to the very list (its ``limit=1`` probe: Arktos decides whether the
token may list there, and the probe's collection resourceVersion says how fresh the cache must be, see
``extproc.compute.server_list``). Sent through Envoy that probe costs two more ext_proc message pairs (the
response headers and body) and Envoy's upstream request; sent from here, the list is answered at the
request-headers phase with an immediate response. Arktos still sees every list, with the client's token
(its audit log names the client, not the processor), and its reply is translated by the same translator.

Only the ``Authorization`` header goes with it (no other client header: nothing the client sends can
reach Arktos this way). ``get`` never raises: a transport failure or a slow answer (``TIMEOUT_SECONDS``,
well inside Envoy's 5 s ext_proc message timeout, ``envoy/render.py``) is None, and the caller then
forwards the request through Envoy as before, so the client gets exactly the error Envoy's route gives
(Arktos unreachable 503, route timeout 504).
"""

from __future__ import annotations

import ssl

import aiohttp
import structlog
from yarl import URL

from extproc.messages import ArktosReply

log = structlog.get_logger("extproc.direct_reads")

# A direct read slower than this is given up and the request forwarded through Envoy (route timeout 20 s).
TIMEOUT_SECONDS = 2.0
# Kept-alive connections to Arktos (a list's probe is one request; more in flight wait for a connection).
CONNECTIONS = 32


def ssl_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    """TLS to Arktos as the processor's other Arktos calls make it (``extproc.arktos_client``)."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class DirectReads:
    """GETs to Arktos with a client's bearer token, on one kept-alive connection pool."""

    def __init__(self, base_url: str, ca_file: str | None = None, verify: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self._ssl = ssl_context(ca_file, verify) if self.base_url.startswith("https:") else None
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, on the running loop (aiohttp binds a session to it).
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=CONNECTIONS, ssl=self._ssl if self._ssl else False)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
                # No cookie jar, no proxy from the environment: only this request goes to Arktos.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        return self._session

    async def get(self, path: str, token: str) -> ArktosReply | None:
        """Arktos's reply to ``GET path`` (absolute, query already encoded) with ``token``; None when it
        could not be had (the caller forwards the request through Envoy instead)."""
        url = URL(self.base_url + path, encoded=True)
        headers = {"Authorization": "Bearer " + token, "Accept": "application/json"}
        try:
            async with self._client().get(url, headers=headers, allow_redirects=False) as resp:
                body = await resp.read()
                return ArktosReply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            log.warning("direct_read_failed", path=path, error=repr(exc))
            return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
