"""The request audit log: one JSON line per request the simulator receives, written before it is answered.

Like kube-apiserver's ``--audit-log-path`` at stage ``RequestReceived`` (a subset of the ``audit.k8s.io/v1``
Event, plus the HTTP ``method``): whoever received a reply from the simulator can read the line of the request
that produced it, with no wait. Tests use it to prove what did (or did not) reach Arktos. The log is a file on
the simulator's host, so nothing in it is reachable through the gateway.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from . import status
from .auth import TokenFile


class AuditLog:
    """Appends one line per request to ``path`` with a single ``write(2)`` on an ``O_APPEND`` descriptor."""

    def __init__(self, path: Path, tokens: TokenFile) -> None:
        self.path = path
        self.tokens = tokens
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def username(self, authorization: str | None) -> str | None:
        """Who the request authenticates as (``None`` for a token Arktos would refuse with 401)."""
        try:
            return self.tokens.authenticate(authorization).name
        except status.ApiError:
            return None

    def record(
        self, method: str, request_uri: str, authorization: str | None, user_agent: str | None
    ) -> None:
        if self._fd is None:
            return
        event: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "stage": "RequestReceived",
            "auditID": str(uuid.uuid4()),
            "method": method,
            "requestURI": request_uri,
            "user": {"username": self.username(authorization)},
            "userAgent": user_agent or "",
            "requestReceivedTimestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
        }
        os.write(self._fd, orjson.dumps(event) + b"\n")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read(path: Path) -> list[dict[str, Any]]:
    """Every event in an audit log, oldest first (a missing file is an empty log)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return []
    events: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.strip():
            event = orjson.loads(line)
            if isinstance(event, dict):
                events.append(event)
    return events
