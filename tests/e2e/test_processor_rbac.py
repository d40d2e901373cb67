"""The RBAC the manifests give the processor's own credential covers every call the processor really makes.

Derived from the processor, not from a hand-kept list: the simulator's audit log records each request with
its user, the test drives every background writer (batch naming and detaching, snapshot recording,
instance-action recording) and checks each call of the processor's user against the ClusterRole rendered
from k8s/ (``kubectl kustomize``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from arktos_sim import audit, paths
from arktos_sim.auth import TokenFile
from gateway_stack import Stack
from gateway_stack.stack import SIM_GATEWAY_TOKEN
from tests.e2e.conftest import Api, wait_deleted
from tests.plumbing.test_manifests import rendered
from tests.polling import eventually

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.sim_only("reads the simulator's audit log (a real Arktos's is not readable)"),
]

IMAGE = "cirros-0.5.2-x86_64-disk"
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def call_of(event: dict[str, Any]) -> tuple[str, str, str]:
    """(API group, resource[/subresource], verb) of an audited request, as Kubernetes's RBAC sees it."""
    uri = urlsplit(event["requestURI"])
    parsed = paths.parse(uri.path)
    assert parsed is not None, event["requestURI"]
    resource = parsed.resource + (f"/{parsed.subresource}" if parsed.subresource else "")
    method = event["method"]
    if method == "GET":
        watching = parse_qs(uri.query).get("watch", ["false"])[-1] in ("true", "1")
        verb = "watch" if watching else ("get" if parsed.name else "list")
    else:
        verb = VERBS[method]
    return parsed.group, resource, verb


def allowed(rules: list[dict[str, Any]], call: tuple[str, str, str]) -> bool:
    group, resource, verb = call
    return any(
        group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
        for rule in rules
    )


def test_the_processor_needs_nothing_beyond_its_cluster_role(stack: Stack, demo_api: Api) -> None:
    role = next(d for d in rendered() if d["kind"] == "ClusterRole")
    own_user = TokenFile.load(stack.tokens_file).users[SIM_GATEWAY_TOKEN].name
    binding = next(d for d in rendered() if d["kind"] == "ClusterRoleBinding")
    assert {"kind": "User", "name": own_user} in [
        {"kind": s["kind"], "name": s["name"]} for s in binding["subjects"]
    ]

    # A batch: the reconciler names the members (PATCH pods) and detaches them (DELETE the ReplicaSet).
    batch = {"name": "rbacb", "imageRef": IMAGE, "flavorRef": "1", "min_count": 2, "max_count": 2}
    created = demo_api.post("/servers", json={"server": {**batch, "return_reservation_id": True}})
    assert created.status_code == 202, created.text
    reservation = created.json()["reservation_id"]

    def named() -> list[dict[str, Any]] | None:
        listed = demo_api.get("/servers/detail", params={"reservation_id": reservation}).json()["servers"]
        ok = len(listed) == 2 and all(s["status"] == "ACTIVE" for s in listed)
        return listed if ok else None

    servers = eventually("the batch ACTIVE", named)
    # A snapshot (recorded in the tenant's images ConfigMap) and a reboot (recorded as an instance action).
    sid = servers[0]["id"]
    assert demo_api.post(f"/servers/{sid}/action", json={"reboot": {"type": "SOFT"}}).status_code == 202
    eventually("ACTIVE after the reboot", lambda: named())
    snapshot = demo_api.post(f"/servers/{sid}/action", json={"createImage": {"name": "rbac-snap"}})
    assert snapshot.status_code == 202, snapshot.text
    image_id = snapshot.headers["location"].rsplit("/", 1)[-1]

    def image_active() -> bool | None:
        shown = demo_api.get(f"/image/v2/images/{image_id}")
        return True if shown.status_code == 200 and shown.json()["status"] == "active" else None

    eventually("the snapshot active", image_active)
    for server in servers:
        demo_api.delete(f"/servers/{server['id']}")
    for server in servers:
        wait_deleted(demo_api, server["id"])

    calls = {call_of(e) for e in audit.read(stack.sim_audit_log) if e["user"]["username"] == own_user}
    # Not vacuous: the watches and every background writer were seen.
    assert {("", "pods", "watch"), ("", "pods", "patch"), ("apps", "replicasets", "delete")} <= calls
    assert any(
        resource == "configmaps" and verb in ("create", "update", "patch") for _, resource, verb in calls
    )
    assert sorted(c for c in calls if not allowed(role["rules"], c)) == []
