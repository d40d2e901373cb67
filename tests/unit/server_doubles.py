"""Doubles shared by the servers' translation tests (and others): contexts, requests, fixtures, VM pods."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from extproc import annotations as keys
from extproc.catalog import CatalogStore
from extproc.compute import server_create, server_list
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from tests.shared_fixtures import SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES
PUBLIC = "http://gw.example:8080"
IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"
IMAGE_URL = "download.cirros-cloud.net/0.5.2/cirros-0.5.2-x86_64-disk.img"
TOKEN = "demo-token"


def devstack(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "devstack" / name).read_text())
    return loaded


def arktos(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "arktos" / name).read_text())
    return loaded


def arktos_reply(name: str) -> ArktosReply:
    recorded = arktos(name)
    return ArktosReply(
        recorded["status"], {"content-type": "application/json"}, orjson.dumps(recorded["body"])
    )


def ctx(tenant: str | None = "demo", version: tuple[int, int] = (2, 1)) -> RequestContext:
    return RequestContext(
        GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", tenant, compute_version=version
    )


def request(
    method: str, path: str = "/", body: Any = None, raw: bytes | None = None, **query: Any
) -> ClientRequest:
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else b"")
    multi = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    return ClientRequest(method, path, multi, {"x-auth-token": TOKEN}, data)


def as_forward(outcome: Outcome) -> Forward:
    assert isinstance(outcome, Forward), outcome
    return outcome


def as_reply(outcome: Outcome) -> Reply:
    assert isinstance(outcome, Reply), outcome
    return outcome


def fault(reply: Reply) -> tuple[int, str, str]:
    body = orjson.loads(reply.body)
    ((name, value),) = body.items()
    assert value["code"] == reply.status
    return reply.status, name, value["message"]


def create(body: Any, tenant: str | None = "demo", version: tuple[int, int] = (2, 1)) -> Outcome:
    return server_create.create_server(ctx(tenant, version), request("POST", body=body), {})


DEVSTACK_NETWORK = "2608d099-c5cb-45c9-a85e-c7daba9f95bf"


def fixture_09_request() -> dict[str, Any]:
    """DevStack's create without its ``networks``: that Neutron network exists only in that DevStack."""
    body: dict[str, Any] = devstack("09-post-compute-v2-1-servers.json")["request_body"]
    assert body["server"].pop("networks") == [{"uuid": DEVSTACK_NETWORK}]
    return body


def with_fields(**fields: Any) -> dict[str, Any]:
    return {"server": {"name": "x", "imageRef": IMAGE_ID, "flavorRef": "1", **fields}}


def vm_pod(
    name: str,
    created: str,
    display: str | None = None,
    tenant: str = "demo",
    flavor: str = "1",
    image: str = IMAGE_ID,
    phase: str = "Running",
    reservation: str = "r-00000000",
    ip: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if phase == "Running":
        status["virtualMachineStatus"] = {"state": "active", "powerState": "running"}
    if ip:
        status["podIP"] = ip
    return {
        "metadata": {
            "name": name,
            "tenant": tenant,
            "creationTimestamp": created,
            "labels": {keys.RESERVATION_ID: reservation},
            "annotations": {
                keys.DISPLAY_NAME: display or name,
                keys.FLAVOR_ID: flavor,
                keys.IMAGE_ID: image,
                keys.CREATED_BY: keys.CREATED_BY_GATEWAY,
            },
        },
        "spec": {
            "nodeName": "n1",
            "virtualMachine": {"name": "vm", "image": IMAGE_URL, "powerSpec": "Running"},
        },
        "status": status,
    }


def container_pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "tenant": "demo", "creationTimestamp": "2030-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        "status": {"phase": "Running"},
    }


PODS = [
    vm_pod("a1", "2024-01-01T00:00:01Z", "web-1", ip="10.0.0.1"),
    vm_pod("a2", "2024-01-01T00:00:02Z", "web-2", flavor="2", ip="10.0.0.2"),
    vm_pod("a3", "2024-01-01T00:00:03Z", "db-1", phase="Pending", reservation="r-11111111"),
    vm_pod("a4", "2024-01-01T00:00:03Z", "db-2", image="other-image", ip="10.1.0.4"),
    container_pod("c1"),
]


def pod_list(pods: list[dict[str, Any]]) -> ArktosReply:
    body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods}
    return ArktosReply(200, {}, orjson.dumps(body))


def listing(
    detail: bool = False, tenant: str | None = "demo", pods: list[dict[str, Any]] | None = None, **query: Any
) -> dict[str, Any]:
    handler = server_list.list_servers_detail if detail else server_list.list_servers
    path = "/compute/v2.1/demo/servers" + ("/detail" if detail else "")
    forward = as_forward(handler(ctx(tenant), request("GET", path, **query), {}))
    reply = forward.translate(pod_list(PODS if pods is None else pods))
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    loaded: dict[str, Any] = orjson.loads(reply.body)
    return loaded


def ids(body: Mapping[str, Any]) -> list[str]:
    return [s["id"] for s in body["servers"]]
