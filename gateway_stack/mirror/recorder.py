"""The recorder: both sides of every mirrored exchange, paired by the front Envoy's ``x-request-id``.

- The primary side comes from the front Envoy's ext_proc observer (``observer.py``): written as soon as the
  primary's reply has ended.
- The shadow side: Envoy's ``request_mirror_policies`` send a copy of each request here (the relay, an HTTP
  endpoint that answers Envoy at once: the mirror is fire-and-forget). One worker sends the copies to the
  shadow gateway IN ARRIVAL ORDER, each with the Arktos token mapped from its project
  (``credentials.py``) and the primary's ids replaced by the shadow's (``idmap.IdMap``), writes the shadow's
  reply, then learns from the pair once the primary's side of the same request is in (a server create's
  two ids, the two catalogs by name); after a POST (creates, token requests) the next copy waits for that,
  so that it can name what the POST created.

Bounded: the copies wait in a queue of ``max_pending`` (a full one records the shadow side as not sent,
with a note), pending primary sides are kept for ``pair_timeout`` and at most ``max_pending``, the id map
and token table keep their newest entries, the capture files rotate (``capture.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from gateway_stack.mirror.capture import CaptureWriter
from gateway_stack.mirror.catalog_sync import CatalogSync, Reader, names_unmapped_catalog_ids
from gateway_stack.mirror.credentials import (
    TokenProjects,
    redact_body,
    requested_project,
    shadow_auth_body,
    shadow_token_for,
    token_reply_project,
)
from gateway_stack.mirror.exchange import ExchangeSide, HttpRequest, HttpResponse, body_from_bytes
from gateway_stack.mirror.idmap import IdMap, Kind
from gateway_stack.mirror.observer import REQUEST_ID_HEADER, ObservedExchange

TOKEN_HEADER = "x-auth-token"
# The recorder's own reads of the two catalogs say who they are (a primary's logs can tell them apart).
RECORDER_USER_AGENT = "openstack-gateway-mirror-recorder"
SUBJECT_TOKEN_HEADER = "x-subject-token"
AUTH_TOKENS_SUFFIX = "/v3/auth/tokens"
DEFAULT_MAX_PENDING = 1000
DEFAULT_PAIR_TIMEOUT = 60.0
DEFAULT_SHADOW_TIMEOUT = 60.0
# Not forwarded to the shadow: hop-by-hop, Envoy's own, and what aiohttp sets itself.
_NOT_FORWARDED = frozenset(
    {"host", "content-length", "connection", "transfer-encoding", "keep-alive", "te", "upgrade", TOKEN_HEADER}
)


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_token_request(method: str, path: str) -> bool:
    return method == "POST" and path.rstrip("/").endswith(AUTH_TOKENS_SUFFIX)


@dataclass(frozen=True, slots=True)
class MirroredRequest:
    """A copy of a client request as Envoy mirrored it (headers still hold the primary's token)."""

    request_id: str
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


def observed_to_side(observed: ObservedExchange) -> ExchangeSide:
    """The primary's side as the capture holds it (no credentials in headers or body)."""
    request = HttpRequest(
        method=observed.method,
        path=observed.path,
        query=observed.query,
        headers=observed.request_headers,
        body=redact_body(
            body_from_bytes(bytes(observed.request_body), observed.request_headers.get("content-type", ""))
        ),
    )
    response = None
    if observed.status is not None:
        response = HttpResponse(
            status=observed.status,
            headers=observed.response_headers,
            body=body_from_bytes(
                bytes(observed.response_body), observed.response_headers.get("content-type", "")
            ),
        )
    return ExchangeSide(
        observed.request_id, "primary", now_rfc3339(), request, response, tuple(observed.notes)
    )


class Recorder:
    """Pairs and records; owns the id map, the token table and the shadow worker (one event loop)."""

    def __init__(
        self,
        capture: CaptureWriter,
        shadow_url: str,
        shadow_tokens: Mapping[str, str],
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        pair_timeout: float = DEFAULT_PAIR_TIMEOUT,
        shadow_timeout: float = DEFAULT_SHADOW_TIMEOUT,
        shadow_ssl: Any = None,
        primary_url: str | None = None,
        primary_ssl: Any = None,
    ) -> None:
        self.capture = capture
        self.shadow_url = shadow_url.rstrip("/")
        self.shadow_tokens = dict(shadow_tokens)
        self.idmap = IdMap()
        self.token_projects = TokenProjects()
        self.pair_timeout = pair_timeout
        self.shadow_timeout = shadow_timeout
        self.shadow_ssl = shadow_ssl
        # None: the catalogs are learned only from the lists clients read (no reads of the recorder's own).
        self.primary_url = primary_url.rstrip("/") if primary_url else None
        self.primary_ssl = primary_ssl
        self.catalogs = CatalogSync()
        self.max_pending = max_pending
        self._queue: asyncio.Queue[MirroredRequest] = asyncio.Queue(max_pending)
        self._primaries: OrderedDict[str, asyncio.Future[ExchangeSide]] = OrderedDict()
        self._worker: asyncio.Task[None] | None = None
        self._learning: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.stats = {"primary": 0, "shadow": 0, "not_sent": 0}

    # -- primary side (the observer's callback) ------------------------------------------------------

    def _primary_future(self, request_id: str) -> asyncio.Future[ExchangeSide]:
        future = self._primaries.get(request_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._primaries[request_id] = future
            while len(self._primaries) > 2 * self.max_pending:
                _, old = self._primaries.popitem(last=False)
                old.cancel()
        return future

    def on_primary(self, observed: ObservedExchange) -> None:
        """The observer's sink: learn the token's project, write the primary's line, wake the pairing."""
        if not observed.request_id:
            return
        if is_token_request(observed.method, observed.path) and observed.status == 201:
            token = observed.response_headers.get(SUBJECT_TOKEN_HEADER, "")
            project = token_reply_project(
                body_from_bytes(
                    bytes(observed.response_body), observed.response_headers.get("content-type", "")
                )
            )
            if token and project is not None:
                self.token_projects.learn(token, project)
        side = observed_to_side(observed)
        self.capture.write(side.to_line())
        self.stats["primary"] += 1
        future = self._primary_future(observed.request_id)
        if not future.done():
            future.set_result(side)

    # -- shadow side --------------------------------------------------------------------------------

    def on_mirrored(self, copy: MirroredRequest) -> None:
        """The relay's handler: queue the copy; a full queue records it as not sent (never waits)."""
        try:
            self._queue.put_nowait(copy)
        except asyncio.QueueFull:
            self._record_not_sent(
                copy, f"not sent to the shadow: more than {self.max_pending} copies waiting"
            )

    def _copy_request(self, copy: MirroredRequest) -> HttpRequest:
        content_type = copy.headers.get("content-type", "")
        return HttpRequest(
            copy.method, copy.path, copy.query, copy.headers, body_from_bytes(copy.body, content_type)
        )

    def _record_not_sent(self, copy: MirroredRequest, note: str) -> None:
        request = self._copy_request(copy)
        request = replace(request, body=redact_body(request.body))
        self.capture.write(
            ExchangeSide(copy.request_id, "shadow", now_rfc3339(), request, None, (note,)).to_line()
        )
        self.stats["not_sent"] += 1
        self._forget_later(copy.request_id)

    def _forget_later(self, request_id: str) -> None:
        future = self._primaries.pop(request_id, None)
        if future is not None and not future.done():
            future.cancel()

    def _shadow_token(self, copy: MirroredRequest, request: HttpRequest) -> tuple[str | None, str | None]:
        """(Arktos token, None) for the copy, or (None, why not); (None, None): the copy carries none."""
        if is_token_request(copy.method, copy.path):
            ident, name = requested_project(request.body)
            token = shadow_token_for(self.shadow_tokens, ident, name)
            if token is None:
                return None, f"no shadow token mapping for project {name or ident or '(unscoped)'}"
            return token, None
        primary_token = copy.headers.get(TOKEN_HEADER, "")
        if not primary_token:
            return None, None
        project = self.token_projects.project_of(primary_token)
        if project is None:
            return None, "no shadow token mapping: the token was not issued through the front Envoy"
        token = shadow_token_for(self.shadow_tokens, project.id, project.name)
        if token is None:
            return None, f"no shadow token mapping for project {project.label()}"
        return token, None

    async def _send(self, request: HttpRequest, headers: dict[str, str], raw: bytes | None) -> HttpResponse:
        assert self._session is not None
        url = self.shadow_url + request.path + (f"?{request.query}" if request.query else "")
        async with self._session.request(
            request.method, url, headers=headers, data=raw, ssl=self.shadow_ssl, allow_redirects=False
        ) as reply:
            body = await reply.read()
            reply_headers = {k.lower(): v for k, v in reply.headers.items()}
            return HttpResponse(reply.status, reply_headers, body_from_bytes(body, reply.content_type or ""))

    def _reader(self, base_url: str, ssl: Any) -> Reader:
        async def read(path: str, query: str, token: str) -> tuple[int, Any]:
            assert self._session is not None
            async with self._session.get(
                f"{base_url}{path}?{query}",
                headers={TOKEN_HEADER: token, "user-agent": RECORDER_USER_AGENT},
                ssl=ssl,
                allow_redirects=False,
            ) as reply:
                return reply.status, body_from_bytes(await reply.read(), reply.content_type or "")

        return read

    async def _sync_catalogs(
        self, copy: MirroredRequest, token: str, unmapped: tuple[str, ...], notes: list[str]
    ) -> bool:
        """Read both catalogs when due for the copy's project (see ``catalog_sync``); True if read."""
        primary_token = copy.headers.get(TOKEN_HEADER, "")
        project = self.token_projects.project_of(primary_token) if primary_token else None
        if self.primary_url is None or project is None:
            return False
        if not self.catalogs.due(project.id, names_unmapped_catalog_ids(unmapped)):
            return False
        try:
            await self.catalogs.sync(
                project.id,
                self.idmap,
                (self._reader(self.primary_url, self.primary_ssl), primary_token),
                (self._reader(self.shadow_url, self.shadow_ssl), token),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            notes.append(f"the two catalogs could not be read: {type(exc).__name__}")
            return False
        return True

    async def _mirror_one(self, copy: MirroredRequest) -> None:
        request = self._copy_request(copy)
        token, problem = self._shadow_token(copy, request)
        if problem is not None:
            self._record_not_sent(copy, problem)
            return
        notes: list[str] = []
        shadow_request = request
        if is_token_request(copy.method, copy.path) and token is not None:
            shadow_request = replace(request, body=shadow_auth_body(token))
        else:
            rewritten = self.idmap.rewrite(request)
            if token is not None and await self._sync_catalogs(copy, token, rewritten.unmapped, notes):
                rewritten = self.idmap.rewrite(request)
            shadow_request = rewritten.request
            notes += rewritten.unmapped
        headers = {k: v for k, v in copy.headers.items() if k.lower() not in _NOT_FORWARDED}
        if token is not None and not is_token_request(copy.method, copy.path):
            headers[TOKEN_HEADER] = token
        raw: bytes | None = copy.body or None
        if shadow_request.body is not request.body and shadow_request.body is not None:
            raw = json.dumps(shadow_request.body).encode()
        response: HttpResponse | None
        try:
            response = await self._send(shadow_request, headers, raw)
        except (aiohttp.ClientError, TimeoutError) as exc:
            response = None
            notes.append(f"the shadow did not answer: {type(exc).__name__} {exc}".strip())
        recorded = replace(shadow_request, headers=headers, body=redact_body(shadow_request.body))
        self.capture.write(
            ExchangeSide(copy.request_id, "shadow", now_rfc3339(), recorded, response, tuple(notes)).to_line()
        )
        self.stats["shadow"] += 1
        learning = self._learn(copy.request_id, request, response)
        if request.method == "POST":
            # A create (or a token request) teaches ids the next copies may name: they wait for it.
            await learning
        else:
            # Anything else must not hold the other copies back while the primary is slow to answer.
            task = asyncio.create_task(learning)
            self._learning.add(task)
            task.add_done_callback(self._learning.discard)

    async def _learn(self, request_id: str, request: HttpRequest, shadow: HttpResponse | None) -> None:
        future = self._primary_future(request_id)
        try:
            primary = await asyncio.wait_for(asyncio.shield(future), self.pair_timeout)
        except TimeoutError:
            return
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the recorder stops
            return  # the pending primary side was evicted (bounded table)
        finally:
            self._primaries.pop(request_id, None)
        if primary.response is None or shadow is None:
            return
        self.idmap.learn(request, primary.response, shadow)
        if is_token_request(request.method, request.path):
            primary_project = token_reply_project(primary.response.body)
            shadow_project = token_reply_project(shadow.body)
            if primary_project is not None and shadow_project is not None:
                self.idmap.pair(Kind.PROJECT, primary_project.id, shadow_project.id)

    async def _run(self) -> None:
        while True:
            copy = await self._queue.get()
            try:
                await self._mirror_one(copy)
            except Exception as exc:  # one bad copy must not stop the recorder
                self._record_not_sent(copy, f"the recorder failed on this request: {exc!r}")

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.shadow_timeout)
        self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=True)
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for task in list(self._learning):
            task.cancel()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._session is not None:
            await self._session.close()


def relay_app(recorder: Recorder, max_body_bytes: int) -> web.Application:
    """The mirror cluster's endpoint: takes Envoy's copy, queues it, answers 202 at once."""

    async def mirrored(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        recorder.on_mirrored(
            MirroredRequest(
                request_id=headers.get(REQUEST_ID_HEADER, "") or f"unpaired-{time.monotonic_ns()}",
                method=request.method,
                path=request.rel_url.raw_path,
                query=request.rel_url.raw_query_string,
                headers=headers,
                body=body,
            )
        )
        return web.Response(status=202)

    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_route("*", "/{tail:.*}", mirrored)
    return app
