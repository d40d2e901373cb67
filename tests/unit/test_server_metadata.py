"""Server metadata translators (extproc.compute.server_metadata): Nova's shapes, checks and one JSON patch."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from extproc.cluster_cache import POD
from extproc.compute import server_metadata
from extproc.compute.server_fields import server_metadata as metadata_of
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from tests.unit.test_actions import (
    POD_PATH,
    SID,
    TOKEN,
    cache_with,
    ctx,
    error,
    proven,
    running_pod,
    status_reply,
    translated,
)

LOCKED_BY = "openstack.arktos.io/locked-by"
METADATA = "openstack.arktos.io/metadata"
METADATA_PATH = "/metadata/annotations/openstack.arktos.io~1metadata"
UNLOCKED_TEST = {"op": "test", "path": "/metadata/annotations/openstack.arktos.io~1locked-by", "value": None}


def pod_with(metadata: dict[str, str] | None = None, **annotations: str) -> dict[str, Any]:
    pod = running_pod()
    pod["metadata"]["uid"] = "uid-1"
    pod["metadata"]["annotations"] = {"openstack.arktos.io/display-name": "vm1", **annotations}
    if metadata is not None:
        pod["metadata"]["annotations"][METADATA] = orjson.dumps(metadata).decode()
    return pod


def request(method: str, body: Any = None, raw: bytes | None = None) -> ClientRequest:
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else b"")
    path = f"/compute/v2.1/demo/servers/{SID}/metadata"
    return ClientRequest(method, path, {}, {"x-auth-token": TOKEN}, data)


def params(key: str | None = None) -> dict[str, str]:
    found = {"server_id": SID, "project_id": "demo"}
    if key is not None:
        found["metadata_key"] = key
    return found


RECORD_PATH = "/metadata/annotations/instance-action.openstack.arktos.io~1req-1"


def patch_of(outcome: Outcome, recorded: str = "update_metadata") -> list[dict[str, Any]]:
    """The patch's operations but the last, which must record the instance action ``recorded``."""
    assert isinstance(outcome, Forward)
    up = outcome.upstream
    assert (up.method, up.path, up.content_type) == ("PATCH", POD_PATH, "application/json-patch+json")
    assert up.body is not None
    ops: list[dict[str, Any]] = orjson.loads(up.body)
    record = ops.pop()
    assert (record["op"], record["path"]) == ("add", RECORD_PATH)
    assert orjson.loads(record["value"])["action"] == recorded
    return ops


def pod_reply(pod: dict[str, Any]) -> ArktosReply:
    return ArktosReply(200, {"content-type": "application/json"}, orjson.dumps(pod))


# -- reads -------------------------------------------------------------------------------------------------


def test_index_and_show_read_the_pod() -> None:
    pod = pod_with({"a": "1", "b": "2"})
    outcome = server_metadata.list_metadata(ctx(), request("GET"), params())
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path) == ("GET", POD_PATH)
    reply = translated(outcome, pod_reply(pod))
    assert (reply.status, orjson.loads(reply.body)) == (200, {"metadata": {"a": "1", "b": "2"}})

    shown = translated(server_metadata.show_metadata_item(ctx(), request("GET"), params("b")), pod_reply(pod))
    assert (shown.status, orjson.loads(shown.body)) == (200, {"meta": {"b": "2"}})
    missing = translated(
        server_metadata.show_metadata_item(ctx(), request("GET"), params("c")), pod_reply(pod)
    )
    assert error(missing) == (404, "Metadata item was not found")


def test_reads_of_a_missing_server_are_novas_404() -> None:
    outcome = server_metadata.list_metadata(ctx(), request("GET"), params())
    reply = translated(outcome, status_reply(404, "NotFound", SID))
    assert error(reply) == (404, f"Instance {SID} could not be found.")


# -- validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"metadata": {"": "v"}}, "does not match any of the regexes"),
        # (the message is cut at 255 characters of what the client sent, before the regex is named)
        ({"metadata": {"k" * 256: "v"}}, "Invalid input for field/attribute metadata."),
        ({"metadata": {"k": "v" * 256}}, "is too long"),
        ({"metadata": {"k": 1}}, "is not of type 'string'"),
        ({"metadata": "x"}, "is not of type 'object'"),
        ({"meta": {"k": "v"}}, "'metadata' is a required property"),
    ],
)
def test_bad_bodies_are_novas_400_before_arktos(body: Any, fragment: str) -> None:
    for handler in (server_metadata.create_metadata, server_metadata.replace_metadata):
        reply = handler(ctx(cache_with(pod_with({}))), request("POST", body), params())
        assert isinstance(reply, Reply)
        status, message = error(reply)
        assert status == 400
        assert fragment in message


def test_item_put_needs_one_item_named_as_the_url() -> None:
    context = ctx(cache_with(pod_with({})), proven())
    mismatch = server_metadata.update_metadata_item(
        context, request("PUT", {"meta": {"b": "1"}}), params("a")
    )
    assert isinstance(mismatch, Reply)
    assert error(mismatch) == (400, "Request body and URI mismatch")
    two = server_metadata.update_metadata_item(
        context, request("PUT", {"meta": {"a": "1", "b": "2"}}), params("a")
    )
    assert isinstance(two, Reply)
    assert error(two)[0] == 400
    malformed = server_metadata.update_metadata_item(context, request("PUT", raw=b"{"), params("a"))
    assert isinstance(malformed, Reply)
    assert error(malformed) == (400, "Malformed request body")


# -- writes: one conditional patch -------------------------------------------------------------------------


def test_merge_is_one_patch_testing_uid_lock_and_the_value_it_read() -> None:
    pod = pod_with({"a": "1"})
    outcome = server_metadata.create_metadata(
        ctx(cache_with(pod)), request("POST", {"metadata": {"b": "2"}}), params()
    )
    assert patch_of(outcome) == [
        {"op": "test", "path": "/metadata/uid", "value": "uid-1"},
        UNLOCKED_TEST,
        {"op": "test", "path": METADATA_PATH, "value": '{"a":"1"}'},
        {"op": "add", "path": METADATA_PATH, "value": '{"a":"1","b":"2"}'},
    ]
    reply = translated(outcome, pod_reply(pod))
    assert (reply.status, orjson.loads(reply.body)) == (200, {"metadata": {"a": "1", "b": "2"}})


def test_replace_all_and_item_writes() -> None:
    pod = pod_with({"a": "1", "b": "2"})
    context = ctx(cache_with(pod))
    replaced = server_metadata.replace_metadata(context, request("PUT", {"metadata": {"c": "3"}}), params())
    assert patch_of(replaced)[-1] == {"op": "add", "path": METADATA_PATH, "value": '{"c":"3"}'}
    assert orjson.loads(translated(replaced, pod_reply(pod)).body) == {"metadata": {"c": "3"}}

    item = server_metadata.update_metadata_item(context, request("PUT", {"meta": {"a": "9"}}), params("a"))
    assert patch_of(item)[-1] == {"op": "add", "path": METADATA_PATH, "value": '{"a":"9","b":"2"}'}
    assert orjson.loads(translated(item, pod_reply(pod)).body) == {"meta": {"a": "9"}}

    deleted = server_metadata.delete_metadata_item(context, request("DELETE"), params("a"))
    assert patch_of(deleted, "delete_metadata")[-1] == {
        "op": "add",
        "path": METADATA_PATH,
        "value": '{"b":"2"}',
    }
    answered = translated(deleted, pod_reply(pod))
    assert (answered.status, answered.body) == (204, b"")


def test_a_pod_without_the_annotation_tests_it_as_null() -> None:
    pod = pod_with(None)
    outcome = server_metadata.create_metadata(
        ctx(cache_with(pod)), request("POST", {"metadata": {"a": "1"}}), params()
    )
    assert patch_of(outcome)[2:] == [
        {"op": "test", "path": METADATA_PATH, "value": None},
        {"op": "add", "path": METADATA_PATH, "value": '{"a":"1"}'},
    ]


def test_delete_of_a_missing_key_is_404_once_arktos_admits_the_caller() -> None:
    pod = pod_with({"a": "1"})
    at_once = server_metadata.delete_metadata_item(
        ctx(cache_with(pod), proven()), request("DELETE"), params("x")
    )
    assert isinstance(at_once, Reply)
    assert error(at_once) == (404, "Metadata item was not found")
    # Not proven: one GET with the caller's token first; Arktos's 403 wins.
    probed = server_metadata.delete_metadata_item(ctx(cache_with(pod)), request("DELETE"), params("x"))
    assert isinstance(probed, Forward)
    assert (probed.upstream.method, probed.upstream.path) == ("GET", POD_PATH)
    assert error(translated(probed, pod_reply(pod))) == (404, "Metadata item was not found")
    assert error(translated(probed, status_reply(403, "Forbidden")))[0] == 403


def test_quota_of_128_items_is_novas_403() -> None:
    pod = pod_with({f"k{i}": "v" for i in range(128)})
    context = ctx(cache_with(pod), proven())
    over = server_metadata.create_metadata(
        context, request("POST", {"metadata": {"one-more": "v"}}), params()
    )
    assert isinstance(over, Reply)
    assert error(over) == (403, "Maximum number of metadata items exceeds 128")
    # Replacing with 128 items (or changing one of them) is within the quota.
    same_count = server_metadata.create_metadata(
        context, request("POST", {"metadata": {"k0": "new"}}), params()
    )
    assert isinstance(same_count, Forward)


def test_a_locked_server_refuses_metadata_writes() -> None:
    pod = pod_with({"a": "1"}, **{LOCKED_BY: "owner"})
    context = ctx(cache_with(pod), proven())
    for outcome in (
        server_metadata.create_metadata(context, request("POST", {"metadata": {"b": "2"}}), params()),
        server_metadata.replace_metadata(context, request("PUT", {"metadata": {}}), params()),
        server_metadata.update_metadata_item(context, request("PUT", {"meta": {"a": "2"}}), params("a")),
        server_metadata.delete_metadata_item(context, request("DELETE"), params("a")),
    ):
        assert isinstance(outcome, Reply)
        assert error(outcome) == (409, f"Instance {SID} is locked")


def test_a_lock_that_races_the_write_is_refused_by_arktos_and_told_as_locked() -> None:
    pod = pod_with({"a": "1"})
    cache = cache_with(pod)
    outcome = server_metadata.create_metadata(ctx(cache), request("POST", {"metadata": {"b": "2"}}), params())
    assert isinstance(outcome, Forward)
    locked = pod_with({"a": "1"}, **{LOCKED_BY: "owner"})
    locked["metadata"]["resourceVersion"] = "2"
    cache.apply_event(POD, "MODIFIED", locked)
    assert error(translated(outcome, status_reply(422, "Invalid"))) == (409, f"Instance {SID} is locked")


def test_a_concurrent_change_is_409_retry_and_a_replaced_pod_404() -> None:
    pod = pod_with({"a": "1"})
    cache = cache_with(pod)
    outcome = server_metadata.create_metadata(ctx(cache), request("POST", {"metadata": {"b": "2"}}), params())
    status, message = error(translated(outcome, status_reply(422, "Invalid")))
    assert status == 409
    assert "retry" in message
    other = pod_with({"a": "1"})
    other["metadata"].update(uid="uid-2", resourceVersion="3")
    cache.apply_event(POD, "MODIFIED", other)
    assert error(translated(outcome, status_reply(422, "Invalid")))[0] == 404


def test_a_server_in_a_task_is_novas_409() -> None:
    pod = pod_with({})
    pod["spec"]["virtualMachine"]["powerSpec"] = "Shutdown"  # powering off
    outcome = server_metadata.create_metadata(
        ctx(cache_with(pod), proven()), request("POST", {"metadata": {"b": "2"}}), params()
    )
    assert isinstance(outcome, Reply)
    assert error(outcome) == (
        409,
        f"Cannot 'update metadata' instance {SID} while it is in task_state powering-off",
    )


def test_a_server_the_cache_has_not_seen_is_asked_to_arktos() -> None:
    outcome = server_metadata.create_metadata(
        ctx(cache_with()), request("POST", {"metadata": {"b": "2"}}), params()
    )
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path) == ("GET", POD_PATH)
    assert error(translated(outcome, status_reply(404, "NotFound", SID))) == (
        404,
        f"Instance {SID} could not be found.",
    )
    assert error(translated(outcome, pod_reply(pod_with({}))))[0] == 409
    # A proven caller and a cache that has caught up: 404 at once.
    missing = server_metadata.create_metadata(
        ctx(cache_with(), proven()), request("POST", {"metadata": {"b": "2"}}), params()
    )
    assert isinstance(missing, Reply)
    assert error(missing)[0] == 404


def test_view_reads_what_the_patch_writes() -> None:
    pod = pod_with({"a": "1"})
    ops = patch_of(
        server_metadata.create_metadata(
            ctx(cache_with(pod)), request("POST", {"metadata": {"b": "2"}}), params()
        )
    )
    pod["metadata"]["annotations"][METADATA] = ops[-1]["value"]
    assert metadata_of(pod) == {"a": "1", "b": "2"}
