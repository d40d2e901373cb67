"""The primary's side of each exchange, as the front Envoy's ext_proc filter reports it in observability mode.

The front Envoy sends every phase of a mirrored request and of the primary's reply (headers, streamed body
chunks, trailers) to this gRPC service WITHOUT waiting for an answer (``observability_mode``): the primary
path never waits for the recorder, and a recorder that is down is skipped (``failure_mode_allow``).
``ExchangeAssembler`` (pure) rebuilds one exchange from those messages; ``ObserverService`` runs one
assembler per ext_proc stream and hands the finished exchange to a callback.

Bodies are kept up to ``max_body_bytes`` per side (a longer one is recorded cut, with a note).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

REQUEST_ID_HEADER = "x-request-id"
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
PROCESS_SERVICE = pb.DESCRIPTOR.services_by_name["ExternalProcessor"].full_name
_EMPTY_RESPONSE = pb.ProcessingResponse()


@dataclass(slots=True)
class ObservedExchange:
    """One request through the front Envoy and the primary's reply (``status`` None: no reply seen).

    ``request_headers`` still hold the client's credentials (the recorder needs the token to find the
    project); they are removed when the exchange is written (``exchange.safe_headers``).
    """

    request_id: str = ""
    method: str = ""
    path: str = ""
    query: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: bytearray = field(default_factory=bytearray)
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytearray = field(default_factory=bytearray)
    notes: list[str] = field(default_factory=list)


def _header_map(header_map: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(pseudo-headers, other headers, lower-case names) of an Envoy HeaderMap; repeats joined by ', '."""
    pseudo: dict[str, str] = {}
    headers: dict[str, str] = {}
    for h in header_map.headers:
        key = h.key.lower()
        value = h.raw_value.decode("utf-8", "surrogateescape") if h.raw_value else h.value
        target = pseudo if key.startswith(":") else headers
        target[key] = f"{target[key]}, {value}" if key in target else value
    return pseudo, headers


class ExchangeAssembler:
    """Feeds on one ext_proc stream's messages; ``done`` once the primary's reply has ended."""

    def __init__(self, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.exchange = ObservedExchange()
        self.done = False
        self._max = max_body_bytes
        self._cut: set[str] = set()

    def _append(self, side: str, target: bytearray, chunk: bytes) -> None:
        room = self._max - len(target)
        if len(chunk) > room:
            if side not in self._cut:
                self._cut.add(side)
                self.exchange.notes.append(f"{side} body longer than {self._max} bytes: recorded cut")
            chunk = chunk[: max(room, 0)]
        target.extend(chunk)

    def on_message(self, msg: pb.ProcessingRequest) -> None:
        phase = msg.WhichOneof("request")
        ex = self.exchange
        if phase == "request_headers":
            pseudo, headers = _header_map(msg.request_headers.headers)
            ex.method = pseudo.get(":method", "")
            ex.path, _, ex.query = pseudo.get(":path", "").partition("?")
            ex.request_headers = headers
            ex.request_id = headers.get(REQUEST_ID_HEADER, "")
        elif phase == "request_body":
            self._append("request", ex.request_body, msg.request_body.body)
        elif phase == "response_headers":
            pseudo, headers = _header_map(msg.response_headers.headers)
            status = pseudo.get(":status", "")
            ex.status = int(status) if status.isdigit() else 0
            ex.response_headers = headers
            self.done = msg.response_headers.end_of_stream
        elif phase == "response_body":
            self._append("response", ex.response_body, msg.response_body.body)
            self.done = msg.response_body.end_of_stream
        elif phase == "response_trailers":
            self.done = True


ExchangeSink = Callable[[ObservedExchange], None]


class ObserverService:
    """The ext_proc ``Process`` stream of the front Envoy's observer filter.

    Registered client-streaming like the processor's (extproc.server): the one reply Envoy ignores leaves
    with the status in a single gRPC batch.
    """

    def __init__(self, sink: ExchangeSink, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.sink = sink
        self.max_body_bytes = max_body_bytes

    async def Process(
        self, request_iterator: Any, context: grpc.aio.ServicerContext
    ) -> pb.ProcessingResponse:
        assembler = ExchangeAssembler(self.max_body_bytes)
        delivered = False
        try:
            while True:
                msg = await context.read()
                if msg is grpc.aio.EOF:
                    break
                assembler.on_message(msg)
                if assembler.done and not delivered:
                    delivered = True
                    self.sink(assembler.exchange)
        finally:
            if not delivered and assembler.exchange.request_id:
                if assembler.exchange.status is None:
                    assembler.exchange.notes.append("the primary's reply was not seen (client gone or reset)")
                self.sink(assembler.exchange)
        return _EMPTY_RESPONSE

    def register(self, server: grpc.aio.Server) -> None:
        handler = grpc.stream_unary_rpc_method_handler(
            self.Process,
            request_deserializer=pb.ProcessingRequest.FromString,
            response_serializer=pb.ProcessingResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(PROCESS_SERVICE, {"Process": handler}),)
        )
