"""A recorded Nova session (HAR, or JSON Lines) replayed against the gateway, written as a capture.

For users who cannot mirror live traffic: each recorded request is sent to the gateway in the recorded
order, with the gateway's token instead of the recording's credentials and the primary's ids rewritten by
the same ``IdMap`` the live recorder uses (learning from each answered pair); the recorded reply is the
primary's side, the gateway's the shadow's. The capture it writes is read by the same report.

Where a recorded URL goes on the gateway: the session's own Keystone catalog (a token reply in it) says
which host and path is which service; otherwise DevStack's paths (``/compute``, ``/image``, ``/identity``)
and the services' default ports (8774 Nova, 9292 Glance, 5000 Keystone, 9696 Neutron) do.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from gateway_stack.mirror.exchange import (
    ExchangeSide,
    HttpRequest,
    HttpResponse,
    body_from_bytes,
    safe_headers,
)
from gateway_stack.mirror.idmap import IdMap, Kind, project_segment, with_project

# The gateway's path of each service (Keystone catalog types).
GATEWAY_PREFIX = {
    "compute": "/compute",
    "compute_legacy": "/compute",
    "image": "/image",
    "identity": "/identity",
    "network": "/networking",
}
DEFAULT_PORTS = {8774: "compute", 9292: "image", 5000: "identity", 35357: "identity", 9696: "network"}
# The recorded request headers worth sending again (never credentials, nor the client's request id: a
# replayed create with the same id would be answered with the first replay's server).
SENT_HEADERS = ("content-type", "accept", "openstack-api-version", "x-openstack-nova-api-version")
TOKEN_PATH = "/identity/v3/auth/tokens"
REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Recorded:
    url: str
    request: HttpRequest  # with the recorded path (not yet the gateway's)
    response: HttpResponse
    time: str


class SessionError(ValueError):
    """The file is not a HAR nor a JSON Lines session."""


# --- reading a session ---------------------------------------------------------------------------------


def _har_body(content: dict[str, Any] | None, mime: str) -> Any:
    if not content or content.get("text") in (None, ""):
        return None
    text = content["text"]
    raw = base64.b64decode(text) if content.get("encoding") == "base64" else str(text).encode()
    return body_from_bytes(raw, mime)


def _har_entries(data: dict[str, Any]) -> Iterator[Recorded]:
    for entry in data["log"]["entries"]:
        req, resp = entry["request"], entry["response"]
        headers = {h["name"]: h["value"] for h in req.get("headers", [])}
        post = req.get("postData") or {}
        body = _har_body(post, post.get("mimeType", "")) if post else None
        parts = urlsplit(req["url"])
        content = resp.get("content") or {}
        response = HttpResponse(
            int(resp["status"]),
            safe_headers({h["name"]: h["value"] for h in resp.get("headers", [])}),
            _har_body(content, content.get("mimeType", "")),
        )
        request = HttpRequest(
            req["method"].upper(), parts.path or "/", parts.query, safe_headers(headers), body
        )
        yield Recorded(req["url"], request, response, str(entry.get("startedDateTime", "")))


def _jsonl_entries(lines: Iterable[str]) -> Iterator[Recorded]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if data.get("side", "primary") != "primary":
                continue
            req = dict(data["request"])
            url = str(req.pop("url", "") or "")
            if url:
                parts = urlsplit(url)
                req.setdefault("path", parts.path or "/")
                req.setdefault("query", parts.query)
            request = HttpRequest.from_json(req)
            response = HttpResponse.from_json(data["response"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SessionError(f"line {number}: not a recorded exchange ({exc})") from exc
        yield Recorded(url or request.path, request, response, str(data.get("time", "")))


def load_session(path: Path) -> list[Recorded]:
    """A HAR file (``log.entries``) or JSON Lines, one exchange per line: ``{"request": {"method", "url" or
    "path"/"query", "headers", "body"}, "response": {"status", "headers", "body"}}`` (the capture format's
    primary side; shadow lines are skipped)."""
    text = path.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and "log" in whole:
        try:
            return list(_har_entries(whole))
        except (KeyError, TypeError, ValueError) as exc:
            raise SessionError(f"{path}: not a HAR file ({exc})") from exc
    return list(_jsonl_entries(text.splitlines()))


# --- where a recorded URL goes -------------------------------------------------------------------------


def _service_root(path: str) -> str:
    """The part of an endpoint's path before its version segment (``/compute/v2.1/x`` -> ``/compute``)."""
    kept: list[str] = []
    for segment in path.rstrip("/").split("/")[1:]:
        if segment[:1] == "v" and segment[1:2].isdigit():
            break
        kept.append(segment)
    return "/" + "/".join(kept) if kept else ""


class UrlMap:
    """The recorded cloud's service endpoints -> the gateway's paths."""

    def __init__(self) -> None:
        self.roots: dict[tuple[str, str], str] = {}  # (host:port, root) -> gateway prefix

    def learn_catalog(self, host_url: str, token_body: Any) -> None:
        catalog = token_body.get("token", {}).get("catalog") if isinstance(token_body, dict) else None
        for service in catalog or ():
            prefix = GATEWAY_PREFIX.get(str(service.get("type")))
            for endpoint in service.get("endpoints") or ():
                parts = urlsplit(str(endpoint.get("url", "")))
                if prefix and parts.netloc:
                    self.roots[(parts.netloc, _service_root(parts.path))] = prefix

    def gateway_path(self, url: str, path: str) -> str | None:
        """The gateway's path for a recorded request, None for a service the gateway does not serve."""
        parts = urlsplit(url)
        best: tuple[int, str, str] | None = None
        for (netloc, root), prefix in self.roots.items():
            under = path == root or path.startswith(root + "/") or not root
            if netloc == parts.netloc and under and (best is None or len(root) > best[0]):
                best = (len(root), root, prefix)
        if best is not None:
            return best[2] + path[len(best[1]) :]
        for prefix in GATEWAY_PREFIX.values():
            if path == prefix or path.startswith(prefix + "/"):
                return path
        service = DEFAULT_PORTS.get(parts.port or 0)
        return GATEWAY_PREFIX[service] + path if service else None


# --- replaying -----------------------------------------------------------------------------------------


def _with_credentials(body: Any, token: str, project: str | None) -> Any:
    """A recorded token request with the gateway's credentials: the password (or token) is the Arktos
    token, the project scope the Arktos tenant."""
    if not isinstance(body, dict) or not isinstance(body.get("auth"), dict):
        return body
    body = copy.deepcopy(body)
    auth = body["auth"]
    identity = auth.get("identity") if isinstance(auth.get("identity"), dict) else {}
    user = identity.get("password", {}).get("user") if isinstance(identity.get("password"), dict) else None
    if isinstance(user, dict):
        user["password"] = token
    if isinstance(identity.get("token"), dict):
        identity["token"]["id"] = token
    scope = auth.get("scope")
    if project and isinstance(scope, dict) and isinstance(scope.get("project"), dict):
        domain = scope["project"].get("domain")
        scope["project"] = {"name": project, **({"domain": domain} if domain else {})}
    return body


@dataclass
class Replay:
    gateway_url: str
    token: str
    project: str | None = None
    verify: bool | str = True

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.idmap = IdMap()
        self.urls = UrlMap()

    def _send(self, request: HttpRequest) -> HttpResponse:
        headers = {k: v for k, v in request.headers.items() if k in SENT_HEADERS}
        headers["x-auth-token"] = self.token
        if request.path == TOKEN_PATH and request.method in ("GET", "HEAD"):
            headers["x-subject-token"] = self.token
        body = request.body
        data: bytes | None = None
        if body is not None:
            data = (
                body["$text"] if isinstance(body, dict) and set(body) == {"$text"} else json.dumps(body)
            ).encode()
            headers.setdefault("content-type", "application/json")
        url = self.gateway_url.rstrip("/") + request.path + (f"?{request.query}" if request.query else "")
        reply = self.session.request(
            request.method,
            url,
            headers=headers,
            data=data,
            timeout=REQUEST_TIMEOUT,
            allow_redirects=False,
            verify=self.verify,
        )
        return HttpResponse(
            reply.status_code,
            safe_headers(reply.headers),
            body_from_bytes(reply.content, reply.headers.get("content-type", "")),
        )

    def run(self, session: list[Recorded]) -> Iterator[ExchangeSide]:
        """Both sides of every recorded exchange, in order (the shadow's None when it could not be sent)."""
        for recorded in session:
            if recorded.request.path.endswith("/auth/tokens") and recorded.request.method == "POST":
                self.urls.learn_catalog(recorded.url, recorded.response.body)
        for number, recorded in enumerate(session, 1):
            yield from self._one(f"replay-{number:04d}", recorded)

    def _one(self, rid: str, recorded: Recorded) -> Iterator[ExchangeSide]:
        path = self.urls.gateway_path(recorded.url, recorded.request.path)
        primary_request = recorded.request if path is None else replace(recorded.request, path=path)
        if path is None:
            note = f"not replayed: {recorded.url} is no service the gateway serves"
            yield ExchangeSide(rid, "primary", recorded.time, primary_request, recorded.response, (note,))
            return
        yield ExchangeSide(rid, "primary", recorded.time, primary_request, recorded.response)
        self._pair_project(primary_request.path)
        rewritten = self.idmap.rewrite(primary_request)
        request = rewritten.request
        if self.project:
            request = replace(request, path=with_project(request.path, self.project))
        if request.path == TOKEN_PATH and request.method == "POST":
            request = replace(request, body=_with_credentials(request.body, self.token, self.project))
        notes = list(rewritten.unmapped)
        try:
            response: HttpResponse | None = self._send(request)
        except requests.RequestException as exc:
            response = None
            notes.append(f"the gateway did not answer: {type(exc).__name__}")
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        yield ExchangeSide(rid, "shadow", now, request, response, tuple(notes))
        self.idmap.learn(primary_request, recorded.response, response)

    def _pair_project(self, path: str) -> None:
        """A project named in a recorded compute path is the gateway's project (``--project``)."""
        recorded = project_segment(path)
        if self.project and recorded and recorded != self.project:
            self.idmap.pair(Kind.PROJECT, recorded, self.project)


def replay_to_capture(replay: Replay, session: list[Recorded], capture_dir: Path) -> Path:
    """Replays ``session`` and writes both sides as a capture (``capture_dir/replay.jsonl``)."""
    capture_dir.mkdir(parents=True, exist_ok=True)
    out = capture_dir / "replay.jsonl"
    with out.open("w", encoding="utf-8") as sink:
        for side in replay.run(session):
            sink.write(side.to_line() + "\n")
    return out
