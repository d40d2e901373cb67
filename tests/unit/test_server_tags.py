"""Server tags (extproc.compute.server_tags, microversion 2.26): Nova's shapes, checks and one JSON patch."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from extproc.compute import server_tags
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from tests.unit.test_actions import POD_PATH, SID, TOKEN, cache_with, error, proven, running_pod, translated
from tests.unit.test_actions import ctx as actions_ctx

TAGS = "openstack.arktos.io/tags"
TAGS_PATH = "/metadata/annotations/openstack.arktos.io~1tags"


def ctx(*args: Any, version: tuple[int, int] = (2, 26)) -> RequestContext:
    return dataclasses.replace(actions_ctx(*args), compute_version=version)


def pod_with(tags: list[str] | None) -> dict[str, Any]:
    pod = running_pod()
    pod["metadata"]["uid"] = "uid-1"
    pod["metadata"]["annotations"] = {"openstack.arktos.io/display-name": "vm1"}
    if tags is not None:
        pod["metadata"]["annotations"][TAGS] = orjson.dumps(tags).decode()
    return pod


def request(method: str, body: Any = None, tag: str | None = None) -> ClientRequest:
    path = f"/compute/v2.1/demo/servers/{SID}/tags" + (f"/{tag}" if tag else "")
    data = orjson.dumps(body) if body is not None else b""
    return ClientRequest(method, path, {}, {"x-auth-token": TOKEN}, data)


def params(tag: str | None = None) -> dict[str, str]:
    return {"server_id": SID, "project_id": "demo", **({"tag": tag} if tag is not None else {})}


def patch_of(outcome: Outcome) -> list[dict[str, Any]]:
    assert isinstance(outcome, Forward), outcome
    up = outcome.upstream
    assert (up.method, up.path, up.content_type) == ("PATCH", POD_PATH, "application/json-patch+json")
    assert up.body is not None
    ops: list[dict[str, Any]] = orjson.loads(up.body)
    return ops


def pod_reply(pod: dict[str, Any]) -> ArktosReply:
    return ArktosReply(200, {"content-type": "application/json"}, orjson.dumps(pod))


@pytest.mark.parametrize(
    ("handler", "method", "tag"),
    [
        (server_tags.list_tags, "GET", None),
        (server_tags.replace_tags, "PUT", None),
        (server_tags.delete_tags, "DELETE", None),
        (server_tags.check_tag, "GET", "a"),
        (server_tags.add_tag, "PUT", "a"),
        (server_tags.delete_tag, "DELETE", "a"),
    ],
)
def test_no_tag_api_below_2_26(handler: Any, method: str, tag: str | None) -> None:
    pod = pod_with(["a"])
    below = handler(ctx(cache_with(pod), version=(2, 25)), request(method, {"tags": []}, tag), params(tag))
    assert isinstance(below, Reply)
    assert error(below) == (404, "The resource could not be found.")
    at = handler(ctx(cache_with(pod)), request(method, {"tags": []}, tag), params(tag))
    assert isinstance(at, Forward)


def test_reads() -> None:
    pod = pod_with(["a", "b"])
    listed = translated(server_tags.list_tags(ctx(), request("GET"), params()), pod_reply(pod))
    assert (listed.status, orjson.loads(listed.body)) == (200, {"tags": ["a", "b"]})
    has = translated(server_tags.check_tag(ctx(), request("GET", tag="a"), params("a")), pod_reply(pod))
    assert (has.status, has.body) == (204, b"")
    lacks = translated(server_tags.check_tag(ctx(), request("GET", tag="z"), params("z")), pod_reply(pod))
    assert error(lacks) == (404, f"Server {SID} has no tag 'z'")


def test_replace_all_is_one_tested_patch() -> None:
    pod = pod_with(["a"])
    outcome = server_tags.replace_tags(
        ctx(cache_with(pod)), request("PUT", {"tags": ["x", "y", "x"]}), params()
    )
    assert patch_of(outcome)[2:] == [
        {"op": "test", "path": TAGS_PATH, "value": '["a"]'},
        {"op": "add", "path": TAGS_PATH, "value": '["x","y"]'},
    ]
    reply = translated(outcome, pod_reply(pod))
    assert (reply.status, orjson.loads(reply.body)) == (200, {"tags": ["x", "y"]})


@pytest.mark.parametrize(
    "body", [{"tags": ["a/b"]}, {"tags": ["a,b"]}, {"tags": [""]}, {"tags": ["t"] * 51}, {"tag": []}, []]
)
def test_replace_all_schema(body: Any) -> None:
    reply = server_tags.replace_tags(ctx(cache_with(pod_with([]))), request("PUT", body), params())
    assert isinstance(reply, Reply) and reply.status == 400


def test_add_one() -> None:
    pod = pod_with(["a"])
    added = server_tags.add_tag(ctx(cache_with(pod)), request("PUT", tag="b"), params("b"))
    assert patch_of(added)[-1] == {"op": "add", "path": TAGS_PATH, "value": '["a","b"]'}
    reply = translated(added, pod_reply(pod))
    assert reply.status == 201
    assert reply.headers["location"] == f"http://gw.example:8080/compute/v2.1/demo/servers/{SID}/tags/b"
    # A tag the server has: 204 and no write (told once Arktos admits the caller).
    again = server_tags.add_tag(ctx(cache_with(pod), proven()), request("PUT", tag="a"), params("a"))
    assert isinstance(again, Reply) and again.status == 204


def test_add_one_refusals() -> None:
    bad = server_tags.add_tag(ctx(cache_with(pod_with([]))), request("PUT", tag="a,b"), params("a,b"))
    assert isinstance(bad, Reply) and bad.status == 400
    assert error(bad)[1].startswith("Tag 'a,b' is invalid. It must be a non empty string without characters")
    full = pod_with([f"t{i}" for i in range(50)])
    over = server_tags.add_tag(ctx(cache_with(full), proven()), request("PUT", tag="new"), params("new"))
    assert isinstance(over, Reply)
    assert error(over) == (400, "The number of tags exceeded the per-server limit 50")


def test_deletes() -> None:
    pod = pod_with(["a", "b"])
    one = server_tags.delete_tag(ctx(cache_with(pod)), request("DELETE", tag="a"), params("a"))
    assert patch_of(one)[-1] == {"op": "add", "path": TAGS_PATH, "value": '["b"]'}
    assert translated(one, pod_reply(pod)).status == 204
    every = server_tags.delete_tags(ctx(cache_with(pod)), request("DELETE"), params())
    assert patch_of(every)[-1] == {"op": "add", "path": TAGS_PATH, "value": "[]"}
    missing = server_tags.delete_tag(ctx(cache_with(pod), proven()), request("DELETE", tag="z"), params("z"))
    assert isinstance(missing, Reply)
    assert error(missing) == (404, f"Instance {SID} has no tag 'z'")


def test_state_rule_is_novas_409() -> None:
    pod = pod_with(["a"])
    pod["status"]["phase"] = "Pending"
    pod["status"].pop("virtualMachineStatus", None)
    refused = server_tags.delete_tags(ctx(cache_with(pod), proven()), request("DELETE"), params())
    assert isinstance(refused, Reply)
    status, message = error(refused)
    assert status == 409 and message.startswith(
        f"Cannot 'delete tags' instance {SID} while it is in vm_state"
    )
