"""Client input that must stay bounded: patterns, batch sizes, odd bodies and headers (issue 9)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Api

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
