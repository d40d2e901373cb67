"""Raw HTTP through Envoy at the microversions that change keypairs, limits, quota sets, server groups,
instance actions, simple tenant usage and the proxy APIs: each gate at the version below and at its version
(the unit tests check every field; these check that the negotiated version reaches the views end to end)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Api, wait_deleted

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.5.2-x86_64-disk"


def at(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {version}"}


def fault(reply: requests.Response) -> tuple[int, str]:
    ((_, body),) = reply.json().items()
    return reply.status_code, str(body["message"])


@pytest.fixture(scope="module")
def public_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("mv-keys") / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().strip()


def test_keypairs_type_status_paging_and_no_generation(demo_api: Api, public_key: str) -> None:
    old = demo_api.post(
        "/os-keypairs", json={"keypair": {"name": "mv-k1", "public_key": public_key}}, headers=at("2.1")
    )
    assert old.status_code == 200, old.text
    assert "type" not in old.json()["keypair"]
    new = demo_api.post(
        "/os-keypairs", json={"keypair": {"name": "mv-k2", "public_key": public_key}}, headers=at("2.2")
    )
    assert new.status_code == 201, new.text
    assert new.json()["keypair"]["type"] == "ssh"
    try:
        page = demo_api.get("/os-keypairs", params={"limit": "1"}, headers=at("2.35")).json()
        assert len(page["keypairs"]) == 1
        (link,) = page["keypairs_links"]
        assert link["rel"] == "next" and "marker=" in link["href"]
        whole = demo_api.get("/os-keypairs", params={"limit": "1"}, headers=at("2.34")).json()
        assert len(whole["keypairs"]) >= 2 and "keypairs_links" not in whole
        assert fault(demo_api.get("/os-keypairs", params={"bogus": "1"}, headers=at("2.75"))) == (
            400,
            "Additional properties are not allowed ('bogus' was unexpected)",
        )
        generated = demo_api.post("/os-keypairs", json={"keypair": {"name": "mv-k3"}}, headers=at("2.92"))
        assert generated.status_code == 400 and "'public_key' is a required property" in generated.text
    finally:
        assert demo_api.delete("/os-keypairs/mv-k1", headers=at("2.1")).status_code == 202
        gone = demo_api.delete("/os-keypairs/mv-k2", headers=at("2.2"))
        assert (gone.status_code, gone.content) == (204, b"")


def test_limits_and_quota_sets_lose_resources_at_236_239_257(demo_api: Api) -> None:
    absolute = {
        v: demo_api.get("/limits", headers=at(v)).json()["limits"]["absolute"]
        for v in ("2.35", "2.36", "2.39", "2.57")
    }
    assert {"maxTotalFloatingIps", "maxSecurityGroups", "maxImageMeta", "maxPersonality"} <= set(
        absolute["2.35"]
    )
    assert "maxTotalFloatingIps" not in absolute["2.36"] and "maxImageMeta" in absolute["2.36"]
    assert "maxImageMeta" not in absolute["2.39"] and "maxPersonality" in absolute["2.39"]
    assert "maxPersonality" not in absolute["2.57"] and "maxTotalCores" in absolute["2.57"]
    before = demo_api.get("/compute/v2.1/demo/os-quota-sets/demo", headers=at("2.56")).json()["quota_set"]
    after = demo_api.get("/compute/v2.1/demo/os-quota-sets/demo", headers=at("2.57")).json()["quota_set"]
    assert "injected_files" in before and "floating_ips" not in before
    assert "injected_files" not in after and "instances" in after


def test_server_group_policy_and_rules_from_264(demo_api: Api) -> None:
    body = {"server_group": {"name": "mv-g", "policy": "anti-affinity", "rules": {"max_server_per_host": 1}}}
    created = demo_api.post("/compute/v2.1/demo/os-server-groups", json=body, headers=at("2.64"))
    assert created.status_code == 200, created.text
    group = created.json()["server_group"]
    try:
        assert (group["policy"], group["rules"]) == ("anti-affinity", {"max_server_per_host": 1})
        shown = demo_api.get(f"/compute/v2.1/demo/os-server-groups/{group['id']}", headers=at("2.63")).json()
        assert (
            shown["server_group"]["policies"] == ["anti-affinity"] and "policy" not in shown["server_group"]
        )
        two = {
            "server_group": {"name": "mv-g2", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}
        }
        refused = demo_api.post("/compute/v2.1/demo/os-server-groups", json=two, headers=at("2.64"))
        assert refused.status_code == 409 and "max_server_per_host > 1" in refused.text
    finally:
        demo_api.delete(f"/compute/v2.1/demo/os-server-groups/{group['id']}")


@pytest.mark.parametrize(
    "path", ["/images", "/compute/v2.1/demo/os-floating-ip-pools", "/compute/v2.1/demo/os-networks"]
)
def test_proxy_apis_end_at_235(demo_api: Api, path: str) -> None:
    assert demo_api.get(path, headers=at("2.35")).status_code == 200
    assert fault(demo_api.get(path, headers=at("2.36"))) == (404, "The resource could not be found.")


@pytest.fixture(scope="module")
def server(demo_api: Api) -> Iterator[str]:
    images = demo_api.get("/image/v2/images", params={"name": IMAGE}).json()["images"]
    body = {"server": {"name": "mv-vm", "imageRef": images[0]["id"], "flavorRef": "1"}}
    created = demo_api.post("/servers", json=body)
    assert created.status_code == 202, created.text
    sid = str(created.json()["server"]["id"])
    yield sid
    demo_api.delete(f"/servers/{sid}")
    wait_deleted(demo_api, sid)


def test_instance_actions_paging_and_event_host_id(demo_api: Api, server: str) -> None:
    deadline = time.monotonic() + 60
    while demo_api.get(f"/servers/{server}").json()["server"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline, "the server never became ACTIVE"
        time.sleep(0.2)
    listed = demo_api.get(
        f"/servers/{server}/os-instance-actions", params={"limit": "1"}, headers=at("2.58")
    ).json()
    (create,) = listed["instanceActions"]
    assert create["action"] == "create" and create["updated_at"] == create["start_time"]
    assert listed["links"][0]["rel"] == "next"
    old = demo_api.get(
        f"/servers/{server}/os-instance-actions", params={"limit": "1"}, headers=at("2.57")
    ).json()
    assert "links" not in old and "updated_at" not in old["instanceActions"][0]
    path = f"/servers/{server}/os-instance-actions/{create['request_id']}"
    (event,) = demo_api.get(path, headers=at("2.62")).json()["instanceAction"]["events"]
    assert len(event["hostId"]) == 56 and "host" not in event
    (event,) = demo_api.get(path, headers=at("2.61")).json()["instanceAction"]["events"]
    assert "hostId" not in event


def test_usage_is_paged_from_240(demo_api: Api, server: str) -> None:
    path = "/compute/v2.1/demo/os-simple-tenant-usage/demo"
    params = {"start": "2020-01-01T00:00:00", "limit": "1"}
    paged = demo_api.get(path, params=params, headers=at("2.40")).json()
    assert len(paged["tenant_usage"]["server_usages"]) == 1
    assert paged["tenant_usage_links"][0]["rel"] == "next"
    assert "tenant_usage_links" not in demo_api.get(path, params=params, headers=at("2.39")).json()
