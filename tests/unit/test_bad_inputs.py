"""The bad-input corpus (``tests/bad_inputs.py``) and a property-based fuzz of the request schemas, driven
through ``Gateway.handle`` (the pure entry point): no 5xx, always an OpenStack error body."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extproc import headers
from extproc.app import Gateway
from extproc.catalog import CatalogStore
from extproc.compute import schemas
from extproc.config import GatewayConfig
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from tests.bad_inputs import BAD_INPUTS, IMAGE_ID, SERVER_ID

GATEWAY = Gateway(GatewayConfig(), CatalogStore())
TOKEN = "demo-token"


def client_request(
    method: str, path: str, headers: dict[str, str], body: bytes, query: dict[str, list[str]] | None = None
) -> ClientRequest:
    lowered = {"x-auth-token": TOKEN, **{k.lower(): v for k, v in headers.items()}}
    return ClientRequest(method, path, query or {}, {k: v for k, v in lowered.items() if v}, body)


def error_of(reply: Reply) -> tuple[int, str]:
    """The status and message of an OpenStack error body (Nova, Keystone or Glance shape)."""
    body = orjson.loads(reply.body)
    assert isinstance(body, dict), body
    if "error" in body:  # Keystone
        fault = body["error"]
    elif "title" in body:  # Glance
        return int(str(body["code"]).split()[0]), str(body["message"])
    else:  # Nova: {"<faultName>": {"code", "message"}}
        ((_, fault),) = body.items()
    assert fault["code"] == reply.status, body
    return int(fault["code"]), str(fault["message"])


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [pytest.param(*entry[1:], id=entry[0]) for entry in BAD_INPUTS],
)
def test_bad_input_is_a_clear_openstack_error(
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        outcome = GATEWAY.handle(client_request(method, path, headers, body), "req-1")
    assert isinstance(outcome, Reply), "a bad input must not reach Arktos"
    code, message = error_of(outcome)
    assert code == status, message
    assert len(message) < 800, "a message echoes at most ~255 characters of the input"
    assert not caplog.records, "no traceback: a client's error is not the processor's"


# ---------------------------------------------------------------------------------------------------------
# Property-based fuzz: random JSON where the schemas expect objects, random values under known keys.

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
# Every key of the oldest and the newest microversion's schemas (the fuzz names no microversion: 2.1).
CREATE_KEYS = sorted(
    schemas.schema_keys(schemas.server_create_schema((2, 1)))
    | schemas.schema_keys(schemas.server_create_schema(headers.MAX_COMPUTE_VERSION))
)
UPDATE_KEYS = sorted(schemas.schema_keys(schemas.server_update_schema(headers.MAX_COMPUTE_VERSION)))
ACTIONS = ["reboot", "os-stop", "os-start", "createImage", "rebuild", "changePassword", "resize", "x"]


def keyed(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(names) | st.text(max_size=8), json_values, max_size=8)


def valid_create(extra: dict[str, Any]) -> dict[str, Any]:
    return {"server": {"name": "fuzz", "flavorRef": "1", "imageRef": IMAGE_ID, **extra}}


SERVERS = ("POST", "/compute/v2.1/demo/servers")
SERVER = ("PUT", f"/compute/v2.1/demo/servers/{SERVER_ID}")
bodies = st.one_of(
    st.tuples(st.just(SERVERS), keyed(CREATE_KEYS).map(lambda s: {"server": s})),
    st.tuples(st.just(SERVERS), keyed(CREATE_KEYS).map(valid_create)),
    st.tuples(st.just(("POST", "/compute/v2.1/servers")), json_values),
    st.tuples(st.just(SERVER), keyed(UPDATE_KEYS).map(lambda s: {"server": s})),
    st.tuples(st.just(("POST", f"/compute/v2.1/demo/servers/{SERVER_ID}/action")),
              st.dictionaries(st.sampled_from(ACTIONS), json_values, min_size=1, max_size=2)),
    st.tuples(st.just(("POST", "/identity/v3/auth/tokens")),
              json_values.map(lambda v: {"auth": {"identity": {"methods": ["password"], "password": v}}})),
)  # fmt: skip
microversions = st.none() | st.text(max_size=30) | st.from_regex(r"\A[0-9]{1,40}\.[0-9]{1,40}\Z")
QUERY_KEYS = [
    "name",
    "ip",
    "ip6",
    "status",
    "limit",
    "marker",
    "all_tenants",
    "changes-since",
    "image",
    "flavor",
]
queries = st.dictionaries(st.sampled_from(QUERY_KEYS), st.lists(st.text(max_size=30), min_size=1, max_size=2))

FORBIDDEN = ArktosReply(
    403, {}, orjson.dumps({"kind": "Status", "code": 403, "reason": "Forbidden", "message": "no"})
)
FUZZ = settings(
    max_examples=400, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip


async def _awaited(pending: Awaitable[Reply]) -> Reply:
    return await pending


def assert_no_server_error(outcome: Outcome) -> None:
    if isinstance(outcome, Forward):
        # Whatever Arktos answers, the translation stays an OpenStack reply (here: Arktos refuses).
        translated = outcome.translate(FORBIDDEN)
        if inspect.isawaitable(translated):
            translated = asyncio.run(_awaited(translated))
        assert isinstance(translated, Reply)
        outcome = translated
    assert outcome.status < 500, outcome.body
    if outcome.status >= 400:
        error_of(outcome)


@FUZZ
@given(target=bodies, version=microversions)
def test_fuzzed_bodies_never_give_a_server_error(
    target: tuple[tuple[str, str], Any], version: str | None
) -> None:
    (method, path), body = target
    headers = {"Content-Type": "application/json"}
    if version is not None:
        headers["OpenStack-API-Version"] = f"compute {version}"
    # The standard library encodes any integer, as a client may send one (orjson stops at 64 bits).
    encoded = json.dumps(body).encode()
    outcome = GATEWAY.handle(client_request(method, path, headers, encoded), "req-fuzz")
    assert_no_server_error(outcome)


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzzed_raw_bytes_never_give_a_server_error(raw: bytes) -> None:
    for method, path in (("POST", "/compute/v2.1/demo/servers"), ("POST", "/identity/v3/auth/tokens")):
        outcome = GATEWAY.handle(client_request(method, path, {"Content-Type": "application/json"}, raw), "r")
        assert_no_server_error(outcome)


@FUZZ
@given(query=queries, detail=st.booleans())
def test_fuzzed_list_queries_never_give_a_server_error(query: dict[str, list[str]], detail: bool) -> None:
    path = "/compute/v2.1/demo/servers" + ("/detail" if detail else "")
    outcome = GATEWAY.handle(client_request("GET", path, {}, b"", query), "req-fuzz")
    if isinstance(outcome, Forward):
        listed = ArktosReply(200, {}, orjson.dumps({"kind": "PodList", "items": []}))
        translated = outcome.translate(listed)
        assert isinstance(translated, Reply)
        outcome = translated
    assert_no_server_error(outcome)
