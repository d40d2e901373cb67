"""One side of a mirrored exchange, as the capture files hold it (ROSTER/README "Shared capture format").

A capture directory holds JSON Lines files (``*.jsonl``); each line is one side of one exchange::

    {"id": "<x-request-id of the front Envoy>", "side": "primary" | "shadow", "time": "<RFC3339>",
     "request": {"method", "path", "query", "headers", "body"},
     "response": {"status", "headers", "body"}, "notes": [...]}

A body is the parsed JSON, null for none, or ``{"$text": "..."}`` for a body that is not JSON. Header names
are lower case; credentials (``x-auth-token``, ``x-subject-token``, ``authorization``) are never written,
so a capture can be handed to whoever reads the report. The live recorder writes these lines and the replay
produces them; the report reads them, with no knowledge of which wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Side = Literal["primary", "shadow"]
SIDES: tuple[Side, Side] = ("primary", "shadow")

# Never written to a capture: whoever holds one could act as the user.
CREDENTIAL_HEADERS = frozenset({"x-auth-token", "x-subject-token", "authorization", "cookie", "set-cookie"})
TEXT_KEY = "$text"


def body_from_bytes(raw: bytes | None, content_type: str = "") -> Any:
    """A captured body: JSON when it parses as JSON, ``{"$text": ...}`` otherwise, None when empty."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type.lower() or content_type == "" or text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return {TEXT_KEY: text}


def is_json_body(body: Any) -> bool:
    """True for a parsed JSON body (not absent, not a ``$text`` wrapper)."""
    return body is not None and not (isinstance(body, dict) and set(body) == {TEXT_KEY})


def safe_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased headers without credentials (the last of repeated names wins)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return {name.lower(): value for name, value in pairs if name.lower() not in CREDENTIAL_HEADERS}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str  # raw path, no query
    query: str = ""  # raw query string, no "?"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": safe_headers(self.headers),
            "body": self.body,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HttpRequest:
        return cls(
            method=str(data.get("method", "GET")).upper(),
            path=str(data.get("path", "/")),
            query=str(data.get("query") or ""),
            headers=safe_headers({str(k): str(v) for k, v in (data.get("headers") or {}).items()}),
            body=data.get("body"),
        )


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "headers": safe_headers(self.headers), "body": self.body}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HttpResponse:
        return cls(
            status=int(data.get("status", 0)),
            headers=safe_headers({str(k): str(v) for k, v in (data.get("headers") or {}).items()}),
            body=data.get("body"),
        )


@dataclass(frozen=True, slots=True)
class ExchangeSide:
    """One side (primary or shadow) of one client request; ``response`` None: that side never answered."""

    id: str
    side: Side
    time: str
    request: HttpRequest
    response: HttpResponse | None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "side": self.side,
            "time": self.time,
            "request": self.request.to_json(),
            "response": None if self.response is None else self.response.to_json(),
            "notes": list(self.notes),
        }

    def to_line(self) -> str:
        """The capture line (no newline)."""
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExchangeSide:
        side = data.get("side")
        if side not in SIDES:
            raise ValueError(f"side must be primary or shadow, not {side!r}")
        response = data.get("response")
        return cls(
            id=str(data["id"]),
            side=side,
            time=str(data.get("time") or ""),
            request=HttpRequest.from_json(data.get("request") or {}),
            response=None if response is None else HttpResponse.from_json(response),
            notes=tuple(str(n) for n in data.get("notes") or ()),
        )
