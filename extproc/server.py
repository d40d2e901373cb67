"""The thin grpc.aio ``ExternalProcessor`` layer between Envoy and ``Gateway.handle``.

One gRPC stream = one HTTP request. The filter's default processing mode only sends the request headers;
per request this layer asks (``mode_override`` in its reply to the request headers, the only phase where
Envoy honours it for the request side) for exactly what it needs:

- a body for POST/PUT/PATCH requests that carry one (``request_body_mode: BUFFERED``);
- for a ``Forward``: the Arktos reply's headers (``SEND``) and whole body (``BUFFERED``).

Translated replies are delivered by mutating the held response (``:status``, headers, body and a matching
content-length in the response-body phase); see ``reply_mutation``. Anything else the processor answers
alone goes out as an ``ImmediateResponse``.

Per-stream state lives in a ``_Exchange`` created by the stream's coroutine; the only shared object is
the gateway.
"""

from __future__ import annotations

import inspect
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs

import grpc
import structlog
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from google.protobuf import duration_pb2

from extproc.action_pacing import WAITING_MESSAGE_TIMEOUT_SECONDS, ActionPacer, QueueFull
from extproc.config import GatewayConfig
from extproc.errors import Service, error_reply
from extproc.ext_proc_messages import (
    CONTINUE_AND_REPLACE,
    ENVOY_RETRY_HEADERS,
    MODE_BODY_AND_RESPONSE,
    MODE_RESPONSE,
    NAME_COLLISION_RETRY,
    header_value,
    headers_of,
    immediate,
    reply_mutation,
)
from extproc.headers import REQUEST_ID
from extproc.messages import ArktosReply, ClientRequest, DirectReader, Forward, Outcome, Reply
from extproc.reply_budget import ReplyBudget

# Set by envoy.yaml's local_reply_config on the local replies Envoy makes while a stream is being processed.
LOCAL_REPLY_MARKER = "x-openstack-gateway-local-reply"

log = structlog.get_logger("extproc")

# Largest gRPC message exchanged with Envoy: a whole buffered Arktos reply (see envoy/render.py).
DEFAULT_GRPC_MESSAGE_LIMIT = 2 * 64 * 1024 * 1024 + 1024 * 1024

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class GatewayLike(Protocol):
    def until_settled(self, request: ClientRequest) -> Awaitable[object] | None: ...

    def handle(self, request: ClientRequest, request_id: str) -> Outcome: ...


def service_of(path: str) -> Service:
    """The OpenStack service a public path belongs to (for error shapes)."""
    if path.startswith("/identity"):
        return Service.IDENTITY
    if path.startswith("/image"):
        return Service.IMAGE
    if path.startswith("/networking"):
        return Service.NETWORK
    return Service.COMPUTE


# NOTE for whoever edits this file (issue 5, batch create): ``Forward.translate`` may return an awaitable
# (a batch create's reply waits for the controller's first pod in the watch cache). ``_Exchange.translate``
# and the response phases then return awaitables too, and ``Process`` awaits them. Keep that when
# restructuring the response phases.
def _then(
    result: Reply | Awaitable[Reply], build: Callable[[Reply], pb.ProcessingResponse]
) -> pb.ProcessingResponse | Awaitable[pb.ProcessingResponse]:
    """``build(reply)`` now, or once an async translation (``Forward.translate``) has produced the reply."""
    if isinstance(result, Reply):
        return build(result)

    async def later() -> pb.ProcessingResponse:
        return build(await result)

    return later()


class _Exchange:
    """State of one HTTP request's stream."""

    __slots__ = (
        "arktos_method",
        "arktos_path",
        "awaited_busy",
        "budget",
        "config",
        "direct",
        "done",
        "extend_timeout",
        "forward",
        "gateway",
        "large_reply",
        "method",
        "pacer",
        "path",
        "pending",
        "reader",
        "request_id",
        "status",
        "upstream_headers",
        "upstream_status",
    )

    def __init__(
        self,
        gateway: GatewayLike,
        config: GatewayConfig,
        pacer: ActionPacer | None = None,
        reader: DirectReader | None = None,
        budget: ReplyBudget | None = None,
    ) -> None:
        self.gateway = gateway
        self.config = config
        self.pacer = pacer
        # Large final replies wait for it before their message is built (``extproc.reply_budget``).
        self.budget = budget
        # Such a reply and how to build its message, while ``LARGE_REPLY_PENDING`` stands for it.
        self.large_reply: tuple[Reply, Callable[[Reply], pb.ProcessingResponse]] | None = None
        # Sends ``Forward.direct`` reads to Arktos itself (None: they go through Envoy as any Forward).
        self.reader = reader
        # Set when the response being awaited waits for an Arktos write's turn (``extproc.action_pacing``):
        # Envoy is first told to wait longer than its message timeout.
        self.extend_timeout = False
        self.request_id = ""
        self.method = ""
        self.path = ""
        self.arktos_method: str | None = None
        self.arktos_path: str | None = None
        self.status: int | None = None
        self.upstream_status: int | None = None
        self.upstream_headers: dict[str, str] = {}
        self.forward: Forward | None = None
        # True when the processor read Arktos itself and answered at once (``Forward.direct``).
        self.direct = False
        # Processor work done inside an awaited response (a direct read's translation after Arktos
        # answered), which ``Process`` cannot time around the await; the waits themselves are not counted.
        self.awaited_busy = 0.0
        # The request, once its headers are known, while the body is being awaited.
        self.pending: tuple[str, Mapping[str, list[str]], dict[str, str]] | None = None
        # True once the stream needs no more messages (an ImmediateResponse or the final reply was sent).
        self.done = False

    # -- the phases ---------------------------------------------------------------------------------

    def on_message(
        self, msg: pb.ProcessingRequest
    ) -> pb.ProcessingResponse | Awaitable[pb.ProcessingResponse]:
        kind = msg.WhichOneof("request")
        if kind == "request_headers":
            return self.on_request_headers(msg.request_headers)
        if kind == "request_body":
            return self.on_request_body(msg.request_body)
        if kind == "response_headers":
            return self.on_response_headers(msg.response_headers)
        if kind == "response_body":
            return self.on_response_body(msg.response_body)
        if kind == "request_trailers":
            return pb.ProcessingResponse(request_trailers=pb.TrailersResponse())
        if kind == "response_trailers":
            return pb.ProcessingResponse(response_trailers=pb.TrailersResponse())
        raise ValueError(f"unexpected ext_proc message {kind!r}")

    def on_request_headers(
        self, msg: pb.HttpHeaders
    ) -> pb.ProcessingResponse | Awaitable[pb.ProcessingResponse]:
        self.request_id = "req-" + str(uuid.uuid4())
        pseudo, headers = headers_of(msg.headers)
        self.method = method = pseudo.get(":method", "GET")
        raw_path = pseudo.get(":path", "/")
        path, _, qs = raw_path.partition("?")
        self.path = path
        query = parse_qs(qs, keep_blank_values=True) if qs else {}
        has_body = not msg.end_of_stream
        if has_body and method in BODY_METHODS:
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > self.config.max_request_body_bytes:
                return self.reply(self.too_large())
            self.pending = (path, query, headers)
            return pb.ProcessingResponse(
                request_headers=pb.HeadersResponse(response=pb.CommonResponse()),
                mode_override=MODE_BODY_AND_RESPONSE,
            )
        request = ClientRequest(method=method, path=path, query=query, headers=headers)
        settling = self.gateway.until_settled(request)
        if settling is not None:
            return self.after(settling, lambda: self.decide(request, headers, has_body))
        return self.decide(request, headers, has_body)

    def decide(
        self, request: ClientRequest, headers: dict[str, str], has_body: bool
    ) -> pb.ProcessingResponse | Awaitable[pb.ProcessingResponse]:
        """The request-headers phase's answer to a request without a body to wait for."""
        outcome = self.gateway.handle(request, self.request_id)
        method = request.method
        if isinstance(outcome, Forward) and outcome.direct and self.reader is not None and method == "GET":
            token = outcome.upstream.bearer_token or request.auth_token
            if token:
                return self.read_directly(self.reader, outcome, token, headers, has_body)
        return self.on_headers_outcome(outcome, headers, has_body)

    async def read_directly(
        self, reader: DirectReader, forward: Forward, token: str, headers: dict[str, str], has_body: bool
    ) -> pb.ProcessingResponse:
        """``forward``'s GET sent by the processor with the client's token (``extproc.direct_reads``) and
        its reply translated, exactly as the same reply through Envoy would be, into an immediate response;
        when Arktos could not be read that way, ``forward`` goes through Envoy as any other."""
        self.arktos_method = forward.upstream.method
        self.arktos_path = forward.upstream.path
        reply = await reader.get(forward.upstream.path, token)
        if reply is None:
            response = self.on_headers_outcome(forward, headers, has_body)
            return await response if inspect.isawaitable(response) else response
        started = time.perf_counter()
        self.direct = True
        self.forward = forward
        self.upstream_status = reply.status
        self.upstream_headers = dict(reply.headers)
        result = forward.translate(reply)
        if inspect.isawaitable(result):
            # A translation that waits (the cache catching up with the probe's revision): its waiting
            # is not processor work.
            self.awaited_busy += time.perf_counter() - started
            result = await result
            started = time.perf_counter()
        response = self.reply(result)
        self.awaited_busy += time.perf_counter() - started
        return response

    def on_headers_outcome(
        self, outcome: Outcome, headers: dict[str, str], has_body: bool
    ) -> pb.ProcessingResponse | Awaitable[pb.ProcessingResponse]:
        if isinstance(outcome, Reply):
            return self.reply(outcome)
        common = self.forward_mutation(
            outcome, headers, replace_body=has_body or outcome.upstream.body is not None
        )
        return self.paced(
            outcome,
            pb.ProcessingResponse(
                request_headers=pb.HeadersResponse(response=common), mode_override=MODE_RESPONSE
            ),
        )

    def on_request_body(self, msg: pb.HttpBody) -> pb.ProcessingResponse | Awaitable[pb.ProcessingResponse]:
        if self.pending is None:
            raise RuntimeError("request body without pending request headers")
        path, query, headers = self.pending
        self.pending = None
        body = msg.body
        if len(body) > self.config.max_request_body_bytes:
            return self.reply(self.too_large())
        request = ClientRequest(method=self.method, path=path, query=query, headers=headers, body=body)
        settling = self.gateway.until_settled(request)
        if settling is not None:
            return self.after(settling, lambda: self.decide_with_body(request, headers))
        return self.decide_with_body(request, headers)

    def decide_with_body(
        self, request: ClientRequest, headers: dict[str, str]
    ) -> pb.ProcessingResponse | Awaitable[pb.ProcessingResponse]:
        """The request-body phase's answer."""
        outcome = self.gateway.handle(request, self.request_id)
        if isinstance(outcome, Reply):
            return self.reply(outcome)
        common = self.forward_mutation(outcome, headers, replace_body=True)
        # Headers are still held in the body phase; CONTINUE keeps the mutation applying to them.
        common.status = pb.CommonResponse.CONTINUE
        return self.paced(outcome, pb.ProcessingResponse(request_body=pb.BodyResponse(response=common)))

    async def after(
        self,
        settling: Awaitable[object],
        decide: Callable[[], pb.ProcessingResponse | Awaitable[pb.ProcessingResponse]],
    ) -> pb.ProcessingResponse:
        """``decide()`` once ``settling`` is done (``Gateway.until_settled``: a write waiting for the watch
        cache to show this processor's earlier writes). The wait is not processor work; the decision is."""
        await settling
        started = time.perf_counter()
        response = decide()
        self.awaited_busy += time.perf_counter() - started
        return await response if inspect.isawaitable(response) else response

    def paced(
        self, forward: Forward, response: pb.ProcessingResponse
    ) -> pb.ProcessingResponse | Awaitable[pb.ProcessingResponse]:
        """``response`` (the forwarding mutation) once ``forward``'s Arktos write may go: at once, after its
        turn in its scope's queue, or never when the queue is full (Nova's 409, as Arktos's collision)."""
        scope = forward.upstream.name_clock_scope
        if scope is None or self.pacer is None:
            return response
        pacer = self.pacer
        try:
            self.extend_timeout = pacer.must_wait(scope)
        except QueueFull:
            return _then(self.arktos_busy(forward), self.reply)

        async def after_turn() -> pb.ProcessingResponse:
            await pacer.turn(scope)
            return response

        return after_turn()

    def arktos_busy(self, forward: Forward) -> Reply | Awaitable[Reply]:
        """What the client gets when the write's queue is full: the translation of the 409 AlreadyExists
        Arktos would answer once Envoy's retries were exhausted (not sent: it would only take a turn)."""
        self.forward = forward
        self.upstream_status = 409
        self.upstream_headers = {"content-type": "application/json"}
        return self.translate(_NAME_TAKEN)

    def on_response_headers(
        self, msg: pb.HttpHeaders
    ) -> pb.ProcessingResponse | Awaitable[pb.ProcessingResponse]:
        pseudo, headers = headers_of(msg.headers)
        status = int(pseudo.get(":status", "0") or 0)
        self.upstream_status = status
        self.upstream_headers = headers
        if not msg.end_of_stream:
            # The body comes next (BUFFERED); the reply is built then.
            return pb.ProcessingResponse(response_headers=pb.HeadersResponse(response=pb.CommonResponse()))

        def build(reply: Reply) -> pb.ProcessingResponse:
            return pb.ProcessingResponse(
                response_headers=pb.HeadersResponse(response=reply_mutation(reply, headers, False))
            )

        return _then(self.translate(b""), lambda reply: self.final(reply, build))

    def on_response_body(self, msg: pb.HttpBody) -> pb.ProcessingResponse | Awaitable[pb.ProcessingResponse]:
        return _then(self.translate(msg.body), lambda reply: self.final(reply, self._body_reply))

    def _body_reply(self, reply: Reply) -> pb.ProcessingResponse:
        common = reply_mutation(reply, self.upstream_headers, True)
        return pb.ProcessingResponse(response_body=pb.BodyResponse(response=common))

    def final(self, reply: Reply, build: Callable[[Reply], pb.ProcessingResponse]) -> pb.ProcessingResponse:
        """``build(reply)``, the stream's last message; for a large reply, ``LARGE_REPLY_PENDING`` instead:
        ``Process`` builds it once the reply budget has room (``extproc.reply_budget``)."""
        if self.budget is not None and self.budget.counts(len(reply.body)):
            self.large_reply = (reply, build)
            return LARGE_REPLY_PENDING
        return build(reply)

    # -- helpers ------------------------------------------------------------------------------------

    def translate(self, body: bytes) -> Reply | Awaitable[Reply]:
        if self.forward is None or LOCAL_REPLY_MARKER in self.upstream_headers:
            return self._translated(self.envoy_local_reply(body))
        status = self.upstream_status or 0
        result = self.forward.translate(ArktosReply(status=status, headers=self.upstream_headers, body=body))
        if isinstance(result, Reply):
            return self._translated(result)
        return self._translated_later(result)

    def _translated(self, reply: Reply) -> Reply:
        self.status = reply.status
        self.done = True
        return reply

    async def _translated_later(self, pending: Awaitable[Reply]) -> Reply:
        return self._translated(await pending)

    def envoy_local_reply(self, body: bytes) -> Reply:
        """Envoy's own reply (Arktos timed out or unreachable, the request body never came...), already in
        OpenStack's shape by its local_reply_config: kept as is, minus the marker, plus the request id.
        It is not an Arktos reply, so it is never given to the Forward's translator."""
        content_type = self.upstream_headers.get("content-type", "application/json")
        return Reply(
            self.upstream_status or 500, body, {"content-type": content_type, REQUEST_ID: self.request_id}
        )

    def too_large(self) -> Reply:
        limit = self.config.max_request_body_bytes
        return error_reply(
            service_of(self.path), 413, f"Request is too large: the body exceeds {limit} bytes."
        )

    def reply(self, reply: Reply) -> pb.ProcessingResponse:
        self.status = reply.status
        self.done = True
        return self.final(reply, immediate)

    def forward_mutation(
        self, forward: Forward, client_headers: Mapping[str, str], replace_body: bool
    ) -> pb.CommonResponse:
        """The request mutation that turns the client's request into ``forward.upstream``.

        ``replace_body``: the reply must set the body (CONTINUE_AND_REPLACE in the headers phase, or a
        body mutation in the body phase) because the client sent one or the Arktos request has one.
        """
        self.forward = forward
        up = forward.upstream
        self.arktos_method = up.method
        self.arktos_path = up.path
        token = up.bearer_token or client_headers.get("x-auth-token")
        set_headers = [header_value(":method", up.method), header_value(":path", up.path)]
        remove: list[str] = []
        if token:
            set_headers.append(header_value("authorization", "Bearer " + token))
        else:
            remove.append("authorization")
        if "x-auth-token" in client_headers:
            remove.append("x-auth-token")
        # Envoy's retry headers are the processor's to set, never the client's.
        remove.extend(h for h in ENVOY_RETRY_HEADERS if h in client_headers)
        if up.retry_name_collision:
            set_headers.extend(header_value(k, v) for k, v in NAME_COLLISION_RETRY.items())
        status = pb.CommonResponse.CONTINUE
        body_mutation = None
        if not replace_body:
            if "content-type" in client_headers:
                remove.append("content-type")
        elif up.body is None:
            remove.extend(("content-type", "transfer-encoding"))
            set_headers.append(header_value("content-length", "0"))
            body_mutation = pb.BodyMutation(clear_body=True)
            status = CONTINUE_AND_REPLACE
        else:
            if up.content_type:
                set_headers.append(header_value("content-type", up.content_type))
            elif "content-type" in client_headers:
                remove.append("content-type")
            set_headers.append(header_value("content-length", str(len(up.body))))
            remove.append("transfer-encoding")
            body_mutation = pb.BodyMutation(body=up.body)
            status = CONTINUE_AND_REPLACE
        common = pb.CommonResponse(
            status=status,
            header_mutation=pb.HeaderMutation(set_headers=set_headers, remove_headers=remove),
            body_mutation=body_mutation,
        )
        return common

    def fault(self) -> pb.ProcessingResponse:
        return self.reply(
            error_reply(
                service_of(self.path),
                500,
                "Unexpected API Error. Please report this to the gateway operators with the "
                f"request id {self.request_id or 'unknown'}.",
            )
        )


class ExternalProcessor:
    """grpc.aio servicer: one ``Process`` stream per HTTP request.

    ``Process`` is registered request-streaming, response-unary (``create_server``), although the proto
    declares it bidirectional: the wire is the same HTTP/2 stream, but grpc.aio then sends the stream's
    final response together with the OK status in ONE batch. Envoy closes and resets the ext_proc stream
    as soon as it has the final response; a status sent in a batch of its own loses that race under load,
    the batch fails, and grpcio (up to at least 1.85.3, grpc/grpc#43360) never frees a failed batch's
    ``grpc_op`` array: the processor leaked ~100 bytes per request that lost it. The earlier responses
    are written one by one (serialized here: a response-unary context has no serializer).
    """

    def __init__(
        self,
        gateway: GatewayLike,
        config: GatewayConfig,
        reader: DirectReader | None = None,
        budget: ReplyBudget | None = None,
    ) -> None:
        self.gateway = gateway
        self.config = config
        self.pacer = ActionPacer()
        self.reader = reader
        self.budget = budget if budget is not None else ReplyBudget()

    async def Process(
        self, request_iterator: Any, context: grpc.aio.ServicerContext
    ) -> pb.ProcessingResponse:
        ex = _Exchange(self.gateway, self.config, self.pacer, self.reader, self.budget)
        busy = 0.0
        perf = time.perf_counter
        try:
            while True:
                msg = await context.read()
                if msg is grpc.aio.EOF:
                    # Envoy closed the stream first (its client went away): nobody reads this.
                    return _NO_RESPONSE
                t0 = perf()
                try:
                    response = ex.on_message(msg)
                    if inspect.isawaitable(response):
                        if ex.extend_timeout:
                            ex.extend_timeout = False
                            await context.write(_EXTEND_MESSAGE_TIMEOUT)
                        # NOTE (batch create, issue 5): an async translation waits for the watch; the
                        # waiting is not processor work, so it stays out of processor_ms.
                        busy += perf() - t0
                        response = await response
                        t0 = perf()
                    if response is LARGE_REPLY_PENDING:
                        # Waiting for the budget is not processor work; the build is counted inside.
                        busy += perf() - t0
                        response = await self._when_admitted(ex, context)
                        t0 = perf()
                except Exception as exc:
                    log.error(
                        "processor_error",
                        request_id=ex.request_id or None,
                        method=ex.method or None,
                        path=ex.path or None,
                        error=repr(exc),
                        traceback=traceback.format_exc(),
                    )
                    response = ex.fault()
                busy += perf() - t0
                if ex.done:
                    # Sent with the status in one batch (see the class docstring).
                    return response
                await context.write(response.SerializeToString())
        finally:
            if ex.request_id:
                log.info(
                    "request",
                    request_id=ex.request_id,
                    method=ex.method,
                    path=ex.path,
                    arktos_method=ex.arktos_method,
                    arktos_path=ex.arktos_path,
                    arktos_direct=ex.direct or None,
                    status=ex.status,
                    upstream_status=ex.upstream_status,
                    processor_ms=round((busy + ex.awaited_busy) * 1000.0, 3),
                )

    async def _when_admitted(self, ex: _Exchange, context: grpc.aio.ServicerContext) -> pb.ProcessingResponse:
        """The large reply ``ex`` holds, built once the budget has room for it; its bytes count until gRPC
        has finished the call (grpc.aio runs a call's done callbacks when its task ends, sent or not)."""
        assert ex.large_reply is not None
        reply, build = ex.large_reply
        ex.large_reply = None
        release = await self.budget.admit(len(reply.body))
        context.add_done_callback(lambda _context: release())
        started = time.perf_counter()
        response = build(reply)
        ex.awaited_busy += time.perf_counter() - started
        return response


_NO_RESPONSE = pb.ProcessingResponse()
# Stands for a large final reply until ``ExternalProcessor`` builds it (``_Exchange.final``); never sent.
LARGE_REPLY_PENDING = pb.ProcessingResponse()
# Sent before a response that waits for its turn (extproc.action_pacing): Envoy then waits that long for it.
_EXTEND_MESSAGE_TIMEOUT = pb.ProcessingResponse(
    override_message_timeout=duration_pb2.Duration(seconds=WAITING_MESSAGE_TIMEOUT_SECONDS)
).SerializeToString()
# Arktos's refusal of an Action whose name (its clock's second) is taken, as fixture 55 records it.
_NAME_TAKEN = (
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"an Action of this '
    b'operation is already being created in this namespace this second","reason":"AlreadyExists",'
    b'"details":{"kind":"pods"},"code":409}'
)
PROCESS_SERVICE = pb.DESCRIPTOR.services_by_name["ExternalProcessor"].full_name


def add_processor(server: grpc.aio.Server, processor: ExternalProcessor) -> None:
    """Registers ``processor.Process`` as ``/envoy.service.ext_proc.v3.ExternalProcessor/Process``,
    request-streaming and response-unary (why: ``ExternalProcessor``)."""
    handler = grpc.stream_unary_rpc_method_handler(
        processor.Process,
        request_deserializer=pb.ProcessingRequest.FromString,
        response_serializer=pb.ProcessingResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(PROCESS_SERVICE, {"Process": handler}),)
    )


def grpc_options(message_limit: int = DEFAULT_GRPC_MESSAGE_LIMIT) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", message_limit),
        ("grpc.max_send_message_length", message_limit),
        ("grpc.so_reuseport", 0),
    ]


def create_server(
    gateway: GatewayLike,
    config: GatewayConfig,
    listen: str,
    message_limit: int = DEFAULT_GRPC_MESSAGE_LIMIT,
    reader: DirectReader | None = None,
    budget: ReplyBudget | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server serving the processor on ``listen`` (``host:port`` or ``unix:/path``), not yet
    started; also the bound TCP port (0 for unix sockets). ``reader``: see ``_Exchange.read_directly``;
    ``budget``: the large replies' (``extproc.reply_budget``; a default one if None)."""
    server = grpc.aio.server(options=grpc_options(message_limit))
    add_processor(server, ExternalProcessor(gateway, config, reader, budget))
    port = server.add_insecure_port(listen)
    if not listen.startswith("unix:") and port == 0:
        raise OSError(f"cannot listen on {listen}")
    return server, port
