"""Quotas, limits and usage through Envoy with the real openstack CLI and openstacksdk (issue 11 item 4).

A tenant of its own (``quotaset``), so its ResourceQuota limits no other test: the ResourceQuota is set on
Arktos by an administrator, as an operator would, and the OpenStack tools must then show it; the SDK's quota
update writes it back; ``usage show`` bills the tenant's server. Both backends (Arktos API calls only).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openstack
import pytest
import requests
import yaml
from kubernetes.utils.quantity import parse_quantity
from openstack.config import OpenStackConfig

from gateway_stack import Stack
from gateway_stack.clouds import clouds
from tests.e2e.conftest import ADMIN_TOKEN, BACKEND, DEMO_TOKEN, Api, OpenStackCLI
from tests.e2e.test_batch_create import Sim
from tests.polling import eventually

pytestmark = pytest.mark.e2e

TENANT = "quotaset"
IMAGE = "cirros-0.5.2-x86_64-disk"
QUOTAS = f"/api/v1/tenants/{TENANT}/namespaces/default/resourcequotas"


@pytest.fixture(scope="module")
def tenant(stack: Stack) -> Sim:
    """Tenant ``quotaset`` with the ResourceQuota ``compute`` (3 pods, 4 CPUs, 4 GiB) made on Arktos."""
    sim = Sim(stack)
    body = {"metadata": {"name": TENANT}, "spec": {"storageClusterId": "1"}}
    created = sim.session.post(f"{sim.url}/api/v1/tenants", json=body, timeout=10)
    assert created.status_code in (201, 409), created.text
    namespace = f"{sim.url}/api/v1/tenants/{TENANT}/namespaces/default"
    eventually("the tenant's namespace", lambda: True if sim.session.get(namespace, timeout=10).ok else None)
    quota = {
        "metadata": {"name": "compute"},
        "spec": {"hard": {"pods": "3", "requests.cpu": "4", "requests.memory": "4Gi"}},
    }
    sim.session.delete(f"{sim.url}{QUOTAS}/compute", timeout=10)
    sim.session.delete(f"{sim.url}{QUOTAS}/openstack-compute", timeout=10)
    resp = sim.session.post(f"{sim.url}{QUOTAS}", json=quota, timeout=10)
    assert resp.status_code == 201, resp.text
    return sim


@pytest.fixture(scope="module")
def tenant_cli(stack: Stack, tmp_path_factory: pytest.TempPathFactory, tenant: Sim) -> OpenStackCLI:
    """The openstack CLI as an administrator scoped to the tenant (its own clouds.yaml)."""
    config = clouds(stack.public_url, DEMO_TOKEN, ADMIN_TOKEN)["clouds"]["arktos-admin"]
    config["auth"]["project_name"] = TENANT
    path: Path = tmp_path_factory.mktemp("quotas") / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"quotaset": config}}))
    return OpenStackCLI(path, "quotaset")


@pytest.fixture(scope="module")
def tenant_conn(tenant_cli: OpenStackCLI) -> Iterator[openstack.connection.Connection]:
    region = OpenStackConfig(config_files=[tenant_cli.env["OS_CLIENT_CONFIG_FILE"]]).get_one(cloud="quotaset")
    connection = openstack.connection.Connection(config=region)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def server(stack: Stack, tenant: Sim) -> Iterator[str]:
    """One ACTIVE m1.tiny server (1 vCPU, 512 MiB) in the tenant."""
    admin = Api(stack.public_url, ADMIN_TOKEN, TENANT)
    body = {"server": {"name": "billed", "imageRef": IMAGE, "flavorRef": "1"}}

    def created() -> requests.Response | None:
        # NOTE: a real Arktos answers 500 to pod creates in a brand-new tenant until its controllers have
        # set the tenant up; nothing is created then.
        reply = admin.post("/servers", json=body)
        assert reply.status_code in (202, 500), reply.text
        return reply if reply.status_code == 202 else None

    if BACKEND.real:
        # A real Arktos sets a new tenant up asynchronously; a pod create before its default ServiceAccount
        # exists may fail with 500 after all (one test run found two servers where one was created).
        account = f"{tenant.url}/api/v1/tenants/{TENANT}/namespaces/default/serviceaccounts/default"
        eventually(
            "the tenant's service account",
            lambda: True if tenant.session.get(account, timeout=10).ok else None,
        )
    server_id = str(eventually("the tenant's server", created).json()["server"]["id"])
    eventually(
        "ACTIVE",
        lambda: True if admin.get(f"/servers/{server_id}").json()["server"]["status"] == "ACTIVE" else None,
    )
    yield server_id
    admin.delete(f"/servers/{server_id}")


def absolute_limits(cli: OpenStackCLI) -> dict[str, int]:
    # The CLI names them as openstacksdk's AbsoluteLimits does (instances_used for totalInstancesUsed...).
    return {row["Name"]: row["Value"] for row in cli.json("limits", "show", "--absolute")}


def test_quota_and_limits_show_the_tenants_resourcequota_and_usage(
    tenant_cli: OpenStackCLI, server: str
) -> None:
    shown = tenant_cli.json("quota", "show", "--compute")
    values = {row["Resource"]: row["Limit"] for row in shown} if isinstance(shown, list) else shown
    assert (values["instances"], values["cores"], values["ram"]) == (3, 4, 4096)

    def used() -> dict[str, int] | None:
        limits = absolute_limits(tenant_cli)
        return limits if limits["instances_used"] == 1 else None

    limits = eventually("the server counted", used)
    assert (limits["instances"], limits["total_cores"], limits["total_ram"]) == (3, 4, 4096)
    assert (limits["total_cores_used"], limits["total_ram_used"]) == (1, 512)
    assert limits["server_meta"] == 128


def test_quota_detail_and_defaults(stack: Stack, server: str) -> None:
    admin = Api(stack.public_url, ADMIN_TOKEN, TENANT)
    detail = admin.get(f"{admin.compute}/os-quota-sets/{TENANT}/detail")
    assert detail.status_code == 200, detail.text
    quota_set = detail.json()["quota_set"]
    assert quota_set["id"] == TENANT
    assert quota_set["instances"] == {"in_use": 1, "limit": 3, "reserved": 0}
    assert quota_set["cores"] == {"in_use": 1, "limit": 4, "reserved": 0}
    defaults = admin.get(f"{admin.compute}/os-quota-sets/{TENANT}/defaults").json()["quota_set"]
    assert (defaults["instances"], defaults["cores"], defaults["ram"]) == (-1, -1, -1)


def test_sdk_quota_update_writes_the_resourcequota(
    stack: Stack, tenant: Sim, tenant_conn: openstack.connection.Connection, server: str
) -> None:
    updated = tenant_conn.compute.update_quota_set(TENANT, instances=5, ram=8192)
    assert (updated.instances, updated.ram, updated.cores) == (5, 8192, 4)
    hard = tenant.get(f"{QUOTAS}/compute")["spec"]["hard"]
    # Arktos stores quantities in canonical form (8192Mi reads back as 8Gi).
    assert {key: parse_quantity(value) for key, value in hard.items()} == {
        "pods": 5,
        "requests.cpu": 4,
        "requests.memory": 8 * 2**30,
    }
    shown = tenant_conn.compute.get_quota_set(TENANT)
    assert (shown.instances, shown.ram) == (5, 8192)
    # Below what is in use: Nova's 400, nothing written.
    admin = Api(stack.public_url, ADMIN_TOKEN, TENANT)
    refused = admin.put(f"{admin.compute}/os-quota-sets/{TENANT}", json={"quota_set": {"instances": 0}})
    assert refused.status_code == 400, refused.text
    assert refused.json()["badRequest"]["message"] == (
        "Quota limit 0 for instances must be greater than or equal to already used and reserved 1."
    )
    assert tenant.get(f"{QUOTAS}/compute")["spec"]["hard"]["pods"] == "5"
    # A resource Arktos has no quota for: 400 saying so.
    refused = admin.put(f"{admin.compute}/os-quota-sets/{TENANT}", json={"quota_set": {"key_pairs": 5}})
    assert refused.status_code == 400
    assert "cannot be changed on Arktos" in refused.json()["badRequest"]["message"]


def test_cli_quota_set(tenant: Sim, tenant_cli: OpenStackCLI, server: str) -> None:
    """``openstack quota set`` (which finds the project through Keystone's API first) writes the quota."""
    tenant_cli.run("quota", "set", "--instances", "6", "--cores", "6", TENANT)
    shown = {row["Resource"]: row["Limit"] for row in tenant_cli.json("quota", "show", "--compute")}
    assert (shown["instances"], shown["cores"]) == (6, 6)
    hard = tenant.get(f"{QUOTAS}/compute")["spec"]["hard"]
    assert (hard["pods"], hard["requests.cpu"]) == ("6", "6")


def test_create_over_the_cores_quota_is_novas_403(stack: Stack, tenant: Sim, server: str) -> None:
    """Arktos does not count a VM pod's CPU and memory against ``requests.cpu``/``memory`` (fixture 39): the
    gateway refuses, in Nova's words, before anything reaches Arktos."""
    admin = Api(stack.public_url, ADMIN_TOKEN, TENANT)
    quota = {"spec": {"hard": {"pods": "5", "requests.cpu": "4", "requests.memory": "8Gi"}}}
    patched = tenant.session.patch(f"{tenant.url}{QUOTAS}/compute", json=quota, timeout=10,
                                   headers={"Content-Type": "application/merge-patch+json"})  # fmt: skip
    assert patched.status_code == 200, patched.text
    large = {"server": {"name": "too-big", "imageRef": IMAGE, "flavorRef": "4"}}  # m1.large: 4 vCPUs, 8 GiB
    words = "Quota exceeded for cores, ram: Requested 4, 8192, but already used 1, 512 of 4, 8192 cores, ram"

    def refused() -> bool | None:
        reply = admin.post("/servers", json=large)
        assert reply.status_code == 403, reply.text  # never created: the quota admits no m1.large
        return True if reply.json()["forbidden"]["message"] == words else None

    eventually("Nova's words once the watch shows the quota", refused)
    pods = tenant.get(f"/api/v1/tenants/{TENANT}/namespaces/default/pods")["items"]
    assert [p["metadata"]["name"] for p in pods] == [server]


def test_usage_show_bills_the_tenants_server(tenant_cli: OpenStackCLI, server: str) -> None:
    shown = tenant_cli.json("usage", "show")
    # -f json shows the servers' usages themselves (the table shows their count).
    assert len(shown["Servers"]) == 1, shown
    (billed,) = shown["Servers"]
    assert billed["instance_id"] == server and billed["flavor"] == "m1.tiny"
    assert (billed["vcpus"], billed["memory_mb"], billed["local_gb"], billed["state"]) == (
        1,
        512,
        1,
        "active",
    )
    assert billed["hours"] > 0
    assert float(shown["CPU Hours"]) == pytest.approx(billed["hours"], abs=0.01)
    assert float(shown["RAM MB-Hours"]) == pytest.approx(512 * billed["hours"], abs=0.01)


def test_another_tenants_user_learns_nothing(stack: Stack, alt_api: Api, tenant: Sim) -> None:
    forbidden = "Policy doesn't allow this operation to be performed."
    for path in (
        f"/os-quota-sets/{TENANT}",
        f"/os-quota-sets/{TENANT}/detail",
        f"/os-simple-tenant-usage/{TENANT}",
    ):
        reply = alt_api.get(f"{alt_api.compute}{path}", params={"start": "2026-01-01T00:00:00"})
        assert reply.status_code == 403, (path, reply.text)
        assert reply.json()["forbidden"]["message"] == forbidden
    reply = alt_api.put(f"{alt_api.compute}/os-quota-sets/{TENANT}", json={"quota_set": {"instances": 50}})
    assert reply.status_code == 403 and reply.json()["forbidden"]["message"] == forbidden
    # Every tenant's usage is an administrator's (Arktos lets only them list every tenant's pods).
    reply = alt_api.get(f"{alt_api.compute}/os-simple-tenant-usage", params={"start": "2026-01-01T00:00:00"})
    assert reply.status_code == 403


def test_admin_usage_list_has_every_tenant(stack: Stack, server: str) -> None:
    admin = Api(stack.public_url, ADMIN_TOKEN, "system")
    reply = admin.get(
        f"{admin.compute}/os-simple-tenant-usage", params={"start": "2020-01-01T00:00:00", "detailed": "1"}
    )
    assert reply.status_code == 200, reply.text
    usages = {u["tenant_id"]: u for u in reply.json()["tenant_usages"]}
    ids = [s["instance_id"] for s in usages[TENANT]["server_usages"]]
    assert server in ids
