"""extproc.compute.idempotency and the create translator's handling of a retried create."""

from __future__ import annotations

from typing import Any

import orjson

from extproc import annotations as keys
from extproc.compute import create_request, idempotency, server_create
from extproc.messages import ClientRequest, Forward
from tests.unit.server_doubles import arktos_reply, ctx, fixture_09_request

REQUEST_ID = "req-0b5c1e6a-3f1d-4c1e-9a3e-0d5b6a1c2f70"


def handle(tenant: str = "demo", request_id: str = REQUEST_ID, body: Any = None) -> Any:
    return idempotency.handle_for(tenant, {"x-openstack-request-id": request_id}, body or {"server": {}})


def test_the_handle_is_a_function_of_tenant_request_id_and_body() -> None:
    one = handle()
    assert one is not None and one == handle()
    assert one.request_id == REQUEST_ID
    assert create_request.RESERVATION_ID_RE.fullmatch(one.reservation_id)
    assert handle(request_id=REQUEST_ID.upper()) == one  # header values are compared case-insensitively
    # Key order in the client's JSON does not matter; any other difference does.
    assert handle(body={"a": 1, "b": 2}) == handle(body={"b": 2, "a": 1})
    others = [
        handle(tenant="alt"),
        handle(request_id=REQUEST_ID[:-1] + "1"),
        handle(body={"server": {"x": 1}}),
    ]
    assert len({h.server_id for h in [one, *others]}) == 4
    assert len({h.reservation_id for h in [one, *others]}) == 4


def test_no_handle_without_a_well_formed_request_id() -> None:
    for value in ("", "abc", "req-123", REQUEST_ID + "0", "req-" + "g" * 8 + REQUEST_ID[12:]):
        assert idempotency.handle_for("demo", {"x-openstack-request-id": value}, {}) is None
    assert idempotency.handle_for("demo", {}, {}) is None


def create_with_request_id(request_id: str | None) -> Forward:
    body = fixture_09_request()
    headers = {"x-auth-token": "t"} | ({"x-openstack-request-id": request_id} if request_id else {})
    req = ClientRequest("POST", "/", {}, headers, orjson.dumps(body))
    outcome = server_create.create_server(ctx(), req, {})
    assert isinstance(outcome, Forward), outcome
    return outcome


def test_a_retried_create_answers_with_the_server_arktos_already_has() -> None:
    first = create_with_request_id(REQUEST_ID)
    pod = orjson.loads(first.upstream.body or b"")
    expected = handle(body=fixture_09_request())
    assert pod["metadata"]["name"] == expected.server_id
    assert pod["metadata"]["annotations"][keys.CLIENT_REQUEST_ID] == REQUEST_ID
    # The retry sends the same pod; Arktos's 409 AlreadyExists (recorded) is the first attempt's server.
    retry = create_with_request_id(REQUEST_ID)
    again = orjson.loads(retry.upstream.body or b"")
    # (but for the instance action record, which has the retry's own start time)
    for sent in (pod, again):
        sent["metadata"]["annotations"] = {
            k: v
            for k, v in sent["metadata"]["annotations"].items()
            if not k.startswith(keys.INSTANCE_ACTION_PREFIX)
        }
    assert again == pod
    reply = retry.translate(arktos_reply("04-pod-create-dup.json"))
    assert reply.status == 202
    assert orjson.loads(reply.body)["server"]["id"] == expected.server_id
    # Without a request id the same 409 stays Nova's conflict (the name was not ours to reuse).
    plain = create_with_request_id(None)
    assert plain.translate(arktos_reply("04-pod-create-dup.json")).status == 409
