"""A create retried with the same ``X-OpenStack-Request-ID`` (e.g. after a 503 whose outcome is unknown)
returns the server the first attempt made instead of a second one."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e


def create_body(name: str, **extra: Any) -> dict[str, Any]:
    return {"server": {"name": name, "imageRef": "cirros-0.5.2-x86_64-disk", "flavorRef": "1", **extra}}


def create(api: Api, body: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    headers = {"X-OpenStack-Request-ID": request_id} if request_id else {}
    reply = api.post("/servers", json=body, headers=headers)
    assert reply.status_code == 202, reply.text
    doc: dict[str, Any] = reply.json()
    return doc


def named(api: Api, name: str) -> list[str]:
    reply = api.get("/servers", params={"name": f"^{name}$"})
    assert reply.status_code == 200, reply.text
    return sorted(s["id"] for s in reply.json()["servers"])


def test_retry_with_the_same_request_id_returns_the_same_server(demo_api: Api) -> None:
    name = f"idem-{uuid.uuid4().hex[:8]}"
    request_id = f"req-{uuid.uuid4()}"
    first = create(demo_api, create_body(name), request_id)["server"]
    again = create(demo_api, create_body(name), request_id)["server"]
    assert again["id"] == first["id"]
    assert again["links"] == first["links"]
    assert named(demo_api, name) == [first["id"]]


def test_same_request_id_with_another_body_is_another_server(demo_api: Api) -> None:
    """A request id shared by different creates (a propagated global request id) is not a retry."""
    name = f"idem-{uuid.uuid4().hex[:8]}"
    request_id = f"req-{uuid.uuid4()}"
    one = create(demo_api, create_body(name), request_id)["server"]["id"]
    other = create(demo_api, create_body(name, metadata={"k": "v"}), request_id)["server"]["id"]
    assert one != other
    assert named(demo_api, name) == sorted([one, other])


@pytest.mark.parametrize("request_id", [None, "not-a-request-id"])
def test_without_a_valid_request_id_every_create_is_new(demo_api: Api, request_id: str | None) -> None:
    name = f"idem-{uuid.uuid4().hex[:8]}"
    ids = {create(demo_api, create_body(name), request_id)["server"]["id"] for _ in range(2)}
    assert len(ids) == 2
    assert named(demo_api, name) == sorted(ids)


def test_same_tenant_other_tenant_same_request_id(demo_api: Api, alt_api: Api) -> None:
    """The handle is per tenant: another tenant's create with the same request id and body is its own."""
    name = f"idem-{uuid.uuid4().hex[:8]}"
    request_id = f"req-{uuid.uuid4()}"
    mine = create(demo_api, create_body(name), request_id)["server"]["id"]
    theirs = create(alt_api, create_body(name), request_id)["server"]["id"]
    assert mine != theirs
    assert named(demo_api, name) == [mine]
    assert named(alt_api, name) == [theirs]


def test_retried_batch_create_makes_one_batch(demo_api: Api) -> None:
    name = f"idem-{uuid.uuid4().hex[:8]}"
    request_id = f"req-{uuid.uuid4()}"
    body = create_body(name, min_count=2, max_count=2, return_reservation_id=True)
    first = create(demo_api, body, request_id)["reservation_id"]
    again = create(demo_api, body, request_id)["reservation_id"]
    assert again == first

    def members() -> list[str]:
        return named(demo_api, f"{name}-[0-9]+")

    deadline = time.monotonic() + 30
    while len(members()) < 2:
        assert time.monotonic() < deadline, members()
        time.sleep(0.2)
    time.sleep(1.0)  # a second ReplicaSet's pods would show by now
    assert len(members()) == 2
