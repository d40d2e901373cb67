"""GET, PUT, DELETE /servers/{id} (extproc.compute.server_item): show, rename, access IPs and delete."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from extproc import annotations as keys
from extproc.compute import server_item
from extproc.messages import ArktosReply
from tests.unit.server_doubles import (
    PODS,
    arktos_reply,
    as_forward,
    as_reply,
    container_pod,
    create,
    ctx,
    fault,
    request,
    with_fields,
)

# ---------------------------------------------------------------------------------------------------------
# GET, PUT, DELETE /servers/{id}


def test_show_server() -> None:
    forward = as_forward(server_item.show_server(ctx(), request("GET"), {"server_id": "a2"}))
    assert (forward.upstream.method, forward.upstream.path) == (
        "GET",
        "/api/v1/tenants/demo/namespaces/default/pods/a2",
    )
    assert forward.upstream.body is None
    reply = forward.translate(ArktosReply(200, {}, orjson.dumps(PODS[1])))
    assert reply.status == 200
    server = orjson.loads(reply.body)["server"]
    assert (server["id"], server["name"], server["status"]) == ("a2", "web-2", "ACTIVE")


def test_show_of_a_container_pod_is_404() -> None:
    forward = as_forward(server_item.show_server(ctx(), request("GET"), {"server_id": "c1"}))
    reply = forward.translate(ArktosReply(200, {}, orjson.dumps(container_pod("c1"))))
    assert fault(reply) == (404, "itemNotFound", "Instance c1 could not be found.")


def test_show_missing_is_instance_not_found() -> None:
    forward = as_forward(server_item.show_server(ctx(), request("GET"), {"server_id": "nope"}))
    assert fault(forward.translate(arktos_reply("11-pod-get-missing.json"))) == (
        404,
        "itemNotFound",
        "Instance nope could not be found.",
    )
    assert fault(forward.translate(arktos_reply("16-pod-get-crosstenant.json")))[:2] == (403, "forbidden")


def test_delete_server() -> None:
    forward = as_forward(server_item.delete_server(ctx(None), request("DELETE"), {"server_id": "p1"}))
    assert (forward.upstream.method, forward.upstream.path) == (
        "DELETE",
        "/api/v1/namespaces/default/pods/p1",
    )
    reply = forward.translate(arktos_reply("31-pod-delete.json"))
    assert (reply.status, reply.body) == (204, b"")
    assert "content-type" not in reply.headers
    gone = forward.translate(arktos_reply("32-pod-get-after-delete.json"))
    assert fault(gone) == (404, "itemNotFound", "Instance p1 could not be found.")


def test_rename_is_a_merge_patch_of_the_display_name() -> None:
    body = {"server": {"name": "renamed"}}
    forward = as_forward(server_item.update_server(ctx(), request("PUT", body=body), {"server_id": "a2"}))
    up = forward.upstream
    assert (up.method, up.path, up.content_type) == (
        "PATCH",
        "/api/v1/tenants/demo/namespaces/default/pods/a2",
        "application/merge-patch+json",
    )
    assert up.body is not None
    assert orjson.loads(up.body) == {"metadata": {"annotations": {keys.DISPLAY_NAME: "renamed"}}}
    patched = copy.deepcopy(PODS[1])
    patched["metadata"]["annotations"][keys.DISPLAY_NAME] = "renamed"
    reply = forward.translate(ArktosReply(200, {}, orjson.dumps(patched)))
    assert reply.status == 200
    server = orjson.loads(reply.body)["server"]
    assert server["name"] == "renamed"
    assert "OS-EXT-STS:vm_state" not in server


def test_update_access_ips_and_empty_update() -> None:
    body = {"server": {"accessIPv4": "192.0.2.9", "accessIPv6": "2001:db8::9"}}
    forward = as_forward(server_item.update_server(ctx(), request("PUT", body=body), {"server_id": "a2"}))
    assert forward.upstream.body is not None
    assert orjson.loads(forward.upstream.body) == {
        "metadata": {"annotations": {keys.ACCESS_IPV4: "192.0.2.9", keys.ACCESS_IPV6: "2001:db8::9"}}
    }
    empty = as_forward(
        server_item.update_server(ctx(), request("PUT", body={"server": {}}), {"server_id": "a2"})
    )
    assert empty.upstream.body == b"{}"


def test_access_ips_are_stored_canonical() -> None:
    # Nova's IPV6AddressField coerces through netaddr: the address is stored and shown in canonical form.
    body = {"server": {"accessIPv6": "2001:DB8:0:0:0::0009", "accessIPv4": "192.0.2.9"}}
    forward = as_forward(server_item.update_server(ctx(), request("PUT", body=body), {"server_id": "a2"}))
    assert forward.upstream.body is not None
    annotations = orjson.loads(forward.upstream.body)["metadata"]["annotations"]
    assert annotations == {keys.ACCESS_IPV4: "192.0.2.9", keys.ACCESS_IPV6: "2001:db8::9"}
    created = as_forward(create(with_fields(accessIPv6="FD00:0:0:0:0:0:0:1")))
    assert created.upstream.body is not None
    assert orjson.loads(created.upstream.body)["metadata"]["annotations"][keys.ACCESS_IPV6] == "fd00::1"


@pytest.mark.parametrize(
    "body",
    [
        {"server": {"name": ""}},
        {"server": {"flavorRef": "1"}},
        {"name": "x"},
        {"server": {"accessIPv4": "x"}},
    ],
)
def test_invalid_updates_are_400(body: Any) -> None:
    reply = as_reply(server_item.update_server(ctx(), request("PUT", body=body), {"server_id": "a2"}))
    assert fault(reply)[:2] == (400, "badRequest")


def test_update_of_a_missing_server() -> None:
    forward = as_forward(
        server_item.update_server(ctx(), request("PUT", body={"server": {"name": "n"}}), {"server_id": "x"})
    )
    assert (
        fault(forward.translate(arktos_reply("11-pod-get-missing.json")))[2]
        == "Instance x could not be found."
    )
