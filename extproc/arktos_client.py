"""The processor's own calls to Arktos (reconcilers, watches), with the processor's own credential.

Client requests never go through here: Envoy carries them with the client's token. This is for the few
calls the processor makes on its own behalf, e.g. recording a finished snapshot in a tenant's
``openstack-images`` ConfigMap, or the batch reconciler's calls.

It uses the same ``ArktosConnection`` (``extproc.arktos_http``: URL, TLS, the bearer token) as the
watches, so both share one notion of "how to reach Arktos"; the body is sent as the exact bytes serialized
here.

The connection is blocking (urllib3); ``request`` runs it in a worker thread so callers on the asyncio loop
never block. ``request`` never raises for an HTTP status: every answer, including 4xx/5xx, comes back as
``(status, parsed body)``. Connection errors and timeouts do raise (``ArktosUnavailable``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from extproc.arktos_http import ArktosConnection

JSON = "application/json"


class ArktosUnavailable(Exception):
    """Arktos could not be reached or did not answer in time."""


def make_api_client(
    url: str, token: str | None = None, ca_file: str | None = None, verify: bool = True
) -> ArktosConnection:
    """The connection to Arktos at ``url`` with a bearer token and an optional CA bundle."""
    return ArktosConnection(url, token, ca_file, verify)


def _parse(data: bytes) -> Any:
    """The JSON body, or the text when it is not JSON (Arktos answers some errors in plain text)."""
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


class ArktosClient:
    def __init__(self, api_client: ArktosConnection, timeout: float = 30.0) -> None:
        self.api = api_client
        self.timeout = timeout

    @classmethod
    def connect(
        cls, url: str, token: str | None = None, ca_file: str | None = None, verify: bool = True
    ) -> ArktosClient:
        return cls(make_api_client(url, token, ca_file, verify))

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str | None = None
    ) -> tuple[int, Any]:
        """One Arktos call: ``path`` is absolute and may carry an encoded query string.

        ``body`` is a JSON value (dict/list) serialized here, or ``bytes`` sent as they are;
        ``content_type`` defaults to ``application/json`` when there is a body. Returns the HTTP status and
        the parsed JSON body (None when empty, the text when not JSON).
        """
        return await asyncio.to_thread(self.request_blocking, method, path, body, content_type)

    def request_blocking(
        self, method: str, path: str, body: Any = None, content_type: str | None = None
    ) -> tuple[int, Any]:
        """``request`` for callers already off the loop (watch threads, scripts)."""
        headers = {"Accept": JSON}
        payload: bytes | None = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type or JSON
        try:
            resp = self.api.request(method, path, headers=headers, body=payload, timeout=self.timeout)
        except Exception as exc:
            raise ArktosUnavailable(f"{method} {path}: {exc!r}") from exc
        return resp.status, _parse(resp.data)

    def close(self) -> None:
        self.api.close()
