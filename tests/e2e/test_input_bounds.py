"""Client input that must stay bounded: patterns, batch sizes, odd bodies and headers (issue 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_stack import Stack
from tests.bad_inputs import BAD_INPUTS
from tests.e2e.conftest import DEMO_TOKEN, Api

pytestmark = pytest.mark.e2e

IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"


def create(api: Api, name: str, **extra: object) -> str:
    created = api.post(
        "/servers", json={"server": {"name": name, "imageRef": IMAGE_ID, "flavorRef": "1", **extra}}
    )
    assert created.status_code == 202, created.text
    server_id: str = created.json()["server"]["id"]
    return server_id


@pytest.fixture
def backtracking_bait(demo_api: Api) -> Iterator[str]:
    server_id = create(demo_api, "a" * 26 + "!")
    yield server_id
    assert demo_api.delete(f"/servers/{server_id}").status_code == 204


def test_catastrophic_name_filter_answers_correctly(demo_api: Api, backtracking_bait: str) -> None:
    # "(a+)+$" against 26 "a"s and a "!" takes a backtracking engine 2**26 steps (seconds of a stalled loop).
    none = demo_api.get("/servers", params={"name": "(a+)+$"})
    assert none.status_code == 200, none.text
    assert backtracking_bait not in {s["id"] for s in none.json()["servers"]}
    found = demo_api.get("/servers", params={"name": "^a+!$"})
    assert found.status_code == 200, found.text
    assert [s["id"] for s in found.json()["servers"]] == [backtracking_bait]


def test_invalid_name_filter_is_novas_400(demo_api: Api) -> None:
    reply = demo_api.get("/servers/detail", params={"name": "vm(1"})
    assert reply.status_code == 400
    assert reply.json() == {
        "badRequest": {
            "code": 400,
            "message": "Invalid input for query parameters name. Value: vm(1. 'vm(1' is not a 'regex'",
        }
    }


# ---------------------------------------------------------------------------------------------------------
# The bad-input corpus and a short fuzz through the real stack (Envoy, gRPC, processor)


def raw(stack: Stack, method: str, path: str, headers: dict[str, str], body: bytes) -> requests.Response:
    sent = {"X-Auth-Token": DEMO_TOKEN, **headers}
    return requests.request(
        method, stack.public_url + path, headers={k: v for k, v in sent.items() if v}, data=body, timeout=30
    )


def openstack_error(reply: requests.Response) -> tuple[int, str]:
    body = reply.json()
    if "error" in body:
        return int(body["error"]["code"]), str(body["error"]["message"])
    ((_, fault),) = body.items()
    return int(fault["code"]), str(fault["message"])


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [pytest.param(*entry[1:], id=entry[0]) for entry in BAD_INPUTS],
)
def test_bad_input_through_the_stack(
    stack: Stack, method: str, path: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    before = len(stack.arktos_requests())
    reply = raw(stack, method, path, headers, body)
    assert reply.status_code == status, reply.text[:300]
    assert openstack_error(reply)[0] == status
    assert stack.arktos_requests()[before:] == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
# No "flavorRef" among the keys: no fuzzed create can succeed, so the fuzz leaves no server behind.


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(
    server=st.dictionaries(st.sampled_from(["name", "imageRef", "min_count", "max_count", "metadata",
                                            "networks", "user_data", "adminPass"]), json_values),
    version=st.none() | st.text(alphabet="0123456789.", max_size=12),
)  # fmt: skip
def test_fuzzed_creates_through_the_stack(
    stack: Stack, server: dict[str, object], version: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if version is not None:
        headers["OpenStack-API-Version"] = f"compute {version}"
    body = json.dumps({"server": server}).encode()
    reply = raw(stack, "POST", "/compute/v2.1/demo/servers", headers, body)
    assert reply.status_code < 500, reply.text[:300]
    assert openstack_error(reply)[0] == reply.status_code


@pytest.mark.parametrize(
    ("path", "status"),
    [("/compute/v2.1/demo/servers", 404), ("/compute/v2.1/demo/flavors/1", 404), ("/identity/v3", 200),
     ("/image/v2/images", 405)],
)  # fmt: skip
def test_head_through_the_stack(stack: Stack, path: str, status: int) -> None:
    before = len(stack.arktos_requests())
    reply = requests.head(stack.public_url + path, headers={"X-Auth-Token": DEMO_TOKEN}, timeout=30)
    assert reply.status_code == status
    assert reply.content == b""
    assert stack.arktos_requests()[before:] == []


def test_long_marker_is_echoed_short(demo_api: Api) -> None:
    reply = demo_api.get("/servers", params={"marker": "m" * 3000})
    assert reply.status_code == 400
    assert len(reply.json()["badRequest"]["message"]) < 300
