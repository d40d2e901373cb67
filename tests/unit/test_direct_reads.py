"""A ``Forward.direct`` read (a server list's authorizing probe) sent by the processor itself with the
client's token and answered in the request-headers phase; anything else, or a read that could not be made,
goes through Envoy exactly as before (``extproc.server._Exchange.read_directly``)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from extproc.config import GatewayConfig
from extproc.direct_reads import DirectReads
from extproc.messages import ArktosReply, ArktosRequest, ClientRequest, Forward, Outcome, Reply
from extproc.server import _Exchange

PROBE = "/api/v1/tenants/demo/namespaces/default/pods?limit=1"


class FakeReader:
    def __init__(self, reply: ArktosReply | None) -> None:
        self.reply = reply
        self.calls: list[tuple[str, str]] = []

    async def get(self, path: str, token: str) -> ArktosReply | None:
        self.calls.append((path, token))
        return self.reply


class ListGateway:
    """Answers every request with a Forward of the probe whose translation echoes Arktos's status."""

    def __init__(self, direct: bool = True) -> None:
        self.direct = direct
        self.translated: list[ArktosReply] = []

    def until_settled(self, request: ClientRequest) -> None:
        return None

    def handle(self, request: ClientRequest, request_id: str) -> Outcome:
        def translate(reply: ArktosReply) -> Reply:
            self.translated.append(reply)
            return Reply(reply.status, b'{"servers":[]}' if reply.status == 200 else reply.body)

        return Forward(ArktosRequest("GET", PROBE), translate, direct=self.direct)


def headers_message(method: str = "GET", token: str | None = "tok-1") -> pb.HttpHeaders:
    pairs: Mapping[str, str] = {":method": method, ":path": "/compute/v2.1/demo/servers/detail"}
    if token:
        pairs = {**pairs, "x-auth-token": token}
    return pb.HttpHeaders(
        headers=base_pb2.HeaderMap(
            headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in pairs.items()]
        ),
        end_of_stream=True,
    )


async def run(ex: _Exchange, msg: pb.HttpHeaders) -> pb.ProcessingResponse:
    response = ex.on_request_headers(msg)
    return await response if inspect.isawaitable(response) else response


async def test_a_direct_read_is_sent_with_the_clients_token_and_answered_at_once() -> None:
    reader = FakeReader(ArktosReply(200, {"content-type": "application/json"}, b'{"items":[]}'))
    gateway = ListGateway()
    ex = _Exchange(gateway, GatewayConfig(), reader=reader)
    response = await run(ex, headers_message())
    assert reader.calls == [(PROBE, "tok-1")]
    assert response.WhichOneof("response") == "immediate_response"
    assert response.immediate_response.status.code == 200
    assert response.immediate_response.body == b'{"servers":[]}'
    assert gateway.translated[0].body == b'{"items":[]}'
    assert ex.done and ex.direct and ex.arktos_path == PROBE and ex.upstream_status == 200


async def test_arktos_refusals_are_translated_as_through_envoy() -> None:
    refusal = b'{"kind":"Status","code":403,"reason":"Forbidden"}'
    reader = FakeReader(ArktosReply(403, {"content-type": "application/json"}, refusal))
    ex = _Exchange(ListGateway(), GatewayConfig(), reader=reader)
    response = await run(ex, headers_message())
    assert response.immediate_response.status.code == 403
    assert response.immediate_response.body == refusal


async def test_a_read_that_could_not_be_made_goes_through_envoy() -> None:
    reader = FakeReader(None)
    ex = _Exchange(ListGateway(), GatewayConfig(), reader=reader)
    response = await run(ex, headers_message())
    assert reader.calls == [(PROBE, "tok-1")]
    assert response.WhichOneof("response") == "request_headers"
    mutation = response.request_headers.response.header_mutation
    assert {h.header.key: h.header.raw_value for h in mutation.set_headers}[":path"] == PROBE.encode()
    assert response.mode_override.response_body_mode == response.mode_override.BUFFERED
    assert not ex.done and not ex.direct


@pytest.mark.parametrize(
    ("direct", "with_reader", "token"), [(False, True, "tok-1"), (True, False, "tok-1"), (True, True, None)]
)
async def test_other_forwards_never_read_directly(direct: bool, with_reader: bool, token: str | None) -> None:
    reader = FakeReader(ArktosReply(200, {}, b"{}"))
    ex = _Exchange(ListGateway(direct), GatewayConfig(), reader=reader if with_reader else None)
    response = await run(ex, headers_message(token=token))
    assert reader.calls == []
    assert response.WhichOneof("response") == "request_headers"


async def test_an_unreachable_arktos_is_none_never_an_exception() -> None:
    # A closed port on loopback: connection refused at once.
    reads = DirectReads("http://127.0.0.1:9")
    try:
        assert await reads.get(PROBE, "tok-1") is None
    finally:
        await reads.close()
