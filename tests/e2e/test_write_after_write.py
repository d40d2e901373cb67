"""A client's second write right after its first is decided on what the first wrote (read-your-writes for
writes): server metadata and tags are patched from the watch cache with the annotation as read as a
precondition, so a cache one watch event behind the processor's own write made Arktos refuse the patch and
the client got a 409 "changed while this request was made" it had done nothing to cause (it showed as a
flaky `test_metadata_api_shapes_and_errors`, ~1 run in 10). The processor now waits, briefly, for its watch
to show its own earlier writes of the tenant before it builds a compute write (``Gateway.until_settled``).

On the simulator every watch event is delayed 0.15 s (``--watch-delay-seconds``), so each write below comes
while the watch still lags the previous one: without the wait the first back-to-back pair fails. A real
Arktos's watches lag as they do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway_stack import Stack
from tests.e2e.conftest import DEMO_TOKEN, Api, StackFactory
from tests.polling import eventually

pytestmark = pytest.mark.e2e

# Shorter than a write waits for its watch (extproc.app.WRITE_CATCH_UP_SECONDS).
SLOW_WATCH_SECONDS = 0.15
ROUNDS = 5


@pytest.fixture(scope="module")
def lagging(make_stack: StackFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("lagging")
    with make_stack(workdir, sim_watch_delay_seconds=SLOW_WATCH_SECONDS) as running:
        yield running


@pytest.fixture(scope="module")
def api(lagging: Stack) -> Api:
    return Api(lagging.public_url, DEMO_TOKEN, "demo")


@pytest.fixture(scope="module")
def server(api: Api) -> Iterator[dict[str, Any]]:
    body = {"server": {"name": "waw", "imageRef": "cirros-0.5.2-x86_64-disk", "flavorRef": "1"}}
    created = api.post("/servers", json=body)
    assert created.status_code == 202, created.text
    sid = created.json()["server"]["id"]

    def active() -> dict[str, Any] | None:
        shown = api.get(f"/servers/{sid}").json()["server"]
        return shown if shown["status"] == "ACTIVE" and shown["OS-EXT-STS:task_state"] is None else None

    yield eventually("the server to be ACTIVE", active)
    api.delete(f"/servers/{sid}")


def test_metadata_writes_back_to_back_each_see_the_one_before(api: Api, server: dict[str, Any]) -> None:
    sid = server["id"]
    for round_ in range(ROUNDS):
        replaced = api.put(f"/servers/{sid}/metadata", json={"metadata": {"a": str(round_), "b": "2"}})
        assert replaced.status_code == 200, f"round {round_}: {replaced.text}"
        merged = api.post(f"/servers/{sid}/metadata", json={"metadata": {"c": "3"}})
        assert (merged.status_code, merged.json()) == (
            200,
            {"metadata": {"a": str(round_), "b": "2", "c": "3"}},
        ), f"round {round_}"
        gone = api.delete(f"/servers/{sid}/metadata/a")
        assert gone.status_code == 204, f"round {round_}: {gone.text}"
        item = api.put(f"/servers/{sid}/metadata/d", json={"meta": {"d": "4"}})
        assert item.status_code == 200, f"round {round_}: {item.text}"
    assert api.get(f"/servers/{sid}/metadata").json() == {"metadata": {"b": "2", "c": "3", "d": "4"}}


def test_tag_writes_back_to_back_each_see_the_one_before(api: Api, server: dict[str, Any]) -> None:
    sid = server["id"]
    headers = {"OpenStack-API-Version": "compute 2.26"}
    for round_ in range(ROUNDS):
        added = api.put(f"/servers/{sid}/tags/t{round_}", headers=headers)
        assert added.status_code in (201, 204), f"round {round_}: {added.text}"
        removed = api.delete(f"/servers/{sid}/tags/t{round_}", headers=headers)
        assert removed.status_code == 204, f"round {round_}: {removed.text}"
    assert api.get(f"/servers/{sid}/tags", headers=headers).json() == {"tags": []}


def test_lock_then_metadata_write_is_refused_as_locked_then_unlock_lets_it_through(
    api: Api, server: dict[str, Any]
) -> None:
    sid = server["id"]
    assert api.post(f"/servers/{sid}/action", json={"lock": None}).status_code == 202
    refused = api.post(f"/servers/{sid}/metadata", json={"metadata": {"x": "1"}})
    assert (refused.status_code, refused.json()["conflictingRequest"]["message"]) == (
        409,
        f"Instance {sid} is locked",
    )
    assert api.post(f"/servers/{sid}/action", json={"unlock": None}).status_code == 202
    allowed = api.post(f"/servers/{sid}/metadata", json={"metadata": {"x": "1"}})
    assert allowed.status_code == 200, allowed.text
