"""Server lock (extproc.compute.server_lock): the actions, the view fields, what a locked server refuses."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from extproc.compute import server_item, server_lock
from extproc.compute.server_view import ServerView
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from tests.unit.test_actions import (
    POD_PATH,
    SID,
    TOKEN,
    cache_with,
    ctx,
    error,
    handle,
    proven,
    running_pod,
    status_reply,
    stopped_pod,
    translated,
)

LOCKED_BY_PATH = "/metadata/annotations/openstack.arktos.io~1locked-by"
REASON_PATH = "/metadata/annotations/openstack.arktos.io~1locked-reason"
UNLOCKED_TEST = {"op": "test", "path": LOCKED_BY_PATH, "value": None}
# The instance action of request req-1 (the unit tests' request id), recorded in the same patch.
RECORD_PATH = "/metadata/annotations/instance-action.openstack.arktos.io~1req-1"


def with_uid(pod: dict[str, Any], locked: bool = False, reason: str | None = None) -> dict[str, Any]:
    pod["metadata"]["uid"] = "uid-1"
    annotations = pod["metadata"].setdefault("annotations", {})
    if locked:
        annotations["openstack.arktos.io/locked-by"] = "owner"
    if reason is not None:
        annotations["openstack.arktos.io/locked-reason"] = reason
    return pod


def patch_of(outcome: Reply | Forward, recorded: str | None = None) -> list[dict[str, Any]]:
    """The patch's operations; ``recorded``: the instance action its last operation must record (removed)."""
    assert isinstance(outcome, Forward)
    up = outcome.upstream
    assert (up.method, up.path, up.content_type) == ("PATCH", POD_PATH, "application/json-patch+json")
    assert up.body is not None
    ops: list[dict[str, Any]] = orjson.loads(up.body)
    if recorded is not None:
        record = ops.pop()
        assert (record["op"], record["path"]) == ("add", RECORD_PATH)
        assert orjson.loads(record["value"])["action"] == recorded
    return ops


def test_lock_is_one_patch_of_the_known_pod() -> None:
    outcome = handle(ctx(cache_with(with_uid(running_pod()))), {"lock": None})
    assert patch_of(outcome, "lock") == [
        {"op": "test", "path": "/metadata/uid", "value": "uid-1"},
        {"op": "add", "path": LOCKED_BY_PATH, "value": "owner"},
        {"op": "add", "path": REASON_PATH, "value": ""},
        {"op": "remove", "path": REASON_PATH},
    ]
    reply = translated(outcome, ArktosReply(200, {}, orjson.dumps(running_pod())))
    assert (reply.status, reply.body) == (202, b"")
    # The uid test failed: not the server the cache knew.
    assert error(translated(outcome, status_reply(422, "Invalid")))[0] == 404


def test_lock_of_a_locked_server_keeps_its_reason_and_unlock_removes_both() -> None:
    locked = with_uid(running_pod(), locked=True, reason="maintenance")
    again = patch_of(handle(ctx(cache_with(locked)), {"lock": {}}))
    assert again == [
        {"op": "test", "path": "/metadata/uid", "value": "uid-1"},
        {"op": "add", "path": LOCKED_BY_PATH, "value": "owner"},
    ]
    unlock = patch_of(handle(ctx(cache_with(locked)), {"unlock": None}), "unlock")
    assert unlock == [
        {"op": "test", "path": "/metadata/uid", "value": "uid-1"},
        {"op": "add", "path": LOCKED_BY_PATH, "value": ""},
        {"op": "remove", "path": LOCKED_BY_PATH},
        {"op": "add", "path": REASON_PATH, "value": ""},
        {"op": "remove", "path": REASON_PATH},
    ]


def test_without_a_cache_lock_goes_to_arktos_by_name() -> None:
    assert patch_of(handle(ctx(), {"lock": None}), "lock") == [
        {"op": "add", "path": LOCKED_BY_PATH, "value": "owner"},
        {"op": "add", "path": REASON_PATH, "value": ""},
        {"op": "remove", "path": REASON_PATH},
    ]
    missing = handle(ctx(), {"unlock": None})
    assert error(translated(missing, status_reply(404, "NotFound", SID))) == (
        404,
        f"Instance {SID} could not be found.",
    )


def test_lock_body_follows_the_microversion() -> None:
    # Up to 2.72 the lock's value is anything and a reason is ignored; 2.73 validates and keeps it.
    assert server_lock.parse({"lock": {"locked_reason": "r"}}, (2, 1)) == ("lock", None)
    assert server_lock.parse({"lock": {"locked_reason": "r"}}, (2, 73)) == ("lock", "r")
    assert server_lock.parse({"lock": None}, (2, 73)) == ("lock", None)
    problem = server_lock.parse({"lock": {"locked_reason": ""}}, (2, 73))
    assert isinstance(problem, str)
    assert problem.startswith("Invalid input for field/attribute locked_reason.")
    assert isinstance(server_lock.parse({"lock": {"other": 1}}, (2, 73)), str)
    assert server_lock.lock_patch("u", "r", already_locked=False)[-1] == {
        "op": "add",
        "path": REASON_PATH,
        "value": "r",
    }


def test_view_shows_locked_from_2_9_and_the_reason_from_2_73() -> None:
    pod = with_uid(running_pod(), locked=True, reason="maintenance")
    assert "locked" not in ServerView("http://gw", "demo").show(pod)
    at_29 = ServerView("http://gw", "demo", version=(2, 9)).show(pod)
    assert at_29["locked"] is True
    assert "locked_reason" not in at_29
    at_273 = ServerView("http://gw", "demo", version=(2, 73)).show(pod)
    assert (at_273["locked"], at_273["locked_reason"]) == (True, "maintenance")
    unlocked = ServerView("http://gw", "demo", version=(2, 73)).show(with_uid(running_pod()))
    assert (unlocked["locked"], unlocked["locked_reason"]) == (False, None)


@pytest.mark.parametrize(
    "body",
    [
        {"reboot": {"type": "SOFT"}},
        {"reboot": {"type": "HARD"}},
        {"os-stop": None},
        {"createImage": {"name": "snap"}},
        {"rebuild": {"imageRef": "6db08272-a856-49da-8909-7c4c73ab0bac"}},
    ],
)
def test_a_locked_server_refuses_actions_before_the_state_rules(body: Any) -> None:
    locked = with_uid(running_pod(), locked=True)
    reply = handle(ctx(cache_with(locked), proven()), body)
    assert isinstance(reply, Reply)
    assert error(reply) == (409, f"Instance {SID} is locked")


def test_start_of_a_locked_stopped_server_is_locked_not_a_state_conflict() -> None:
    reply = handle(ctx(cache_with(with_uid(stopped_pod(), locked=True)), proven()), {"os-start": None})
    assert isinstance(reply, Reply)
    assert error(reply) == (409, f"Instance {SID} is locked")


def test_an_unproven_caller_learns_of_the_lock_only_after_arktos_admits_it() -> None:
    locked = with_uid(running_pod(), locked=True)
    outcome = handle(ctx(cache_with(locked)), {"reboot": {"type": "SOFT"}})
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path) == ("GET", POD_PATH)
    assert error(translated(outcome, ArktosReply(200, {}, orjson.dumps(locked)))) == (
        409,
        f"Instance {SID} is locked",
    )
    assert error(translated(outcome, status_reply(403, "Forbidden")))[0] == 403


def test_a_lock_that_races_stop_is_refused_by_the_patch_test() -> None:
    pod = with_uid(running_pod())
    cache = cache_with(pod)
    outcome = handle(ctx(cache), {"os-stop": None})
    assert patch_of(outcome)[0] == UNLOCKED_TEST
    locked = with_uid(running_pod(), locked=True)
    locked["metadata"]["resourceVersion"] = "2"
    cache.apply_event("Pod", "MODIFIED", locked)
    assert error(translated(outcome, status_reply(422, "Invalid"))) == (409, f"Instance {SID} is locked")


def delete(context: Any) -> Reply | Forward:
    req = ClientRequest("DELETE", f"/compute/v2.1/demo/servers/{SID}", {}, {"x-auth-token": TOKEN})
    return server_item.delete_server(context, req, {"server_id": SID, "project_id": "demo"})


def test_delete_of_a_locked_server_is_409() -> None:
    locked = with_uid(running_pod(), locked=True)
    reply = delete(ctx(cache_with(locked), proven()))
    assert isinstance(reply, Reply)
    assert error(reply) == (409, f"Instance {SID} is locked")
    probed = delete(ctx(cache_with(locked)))
    assert isinstance(probed, Forward)
    assert probed.upstream.method == "GET"
    unlocked = delete(ctx(cache_with(with_uid(running_pod())), proven()))
    assert isinstance(unlocked, Forward)
    assert unlocked.upstream.method == "DELETE"
