"""gateway_stack.Stack with the real simulator (HTTPS), the real `python -m extproc` (serving a fake
gateway) and Envoy."""

from __future__ import annotations

import time

import orjson
import pytest
import requests
import yaml

from gateway_stack import Stack

pytestmark = pytest.mark.timeout(90)

FAKE = ["--gateway-factory", "tests.plumbing.fake_app:FakeGateway"]


def test_stack_https_sim_processor_envoy(tmp_path) -> None:
    with Stack(workdir=tmp_path, vm_boot_seconds=0.2, processor_args=FAKE) as stack:
        assert stack.ca_path is not None and stack.ca_path.exists()
        assert stack.arktos_url.startswith("https://127.0.0.1:")
        r = requests.get(
            f"{stack.public_url}/compute/v2.1/pods", headers={"X-Auth-Token": "demo-token"}, timeout=10
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"arktos_status": 200, "kind": "PodList"}
        # No token: Arktos sees system:anonymous and refuses.
        r = requests.get(f"{stack.public_url}/compute/v2.1/pods", timeout=10)
        assert r.json()["arktos_status"] == 403
        r = requests.get(f"{stack.public_url}/identity/v3", timeout=10)
        assert r.json() == {"public_url": stack.public_url}
        assert ("GET", "/api/v1/namespaces/default/pods") in stack.arktos_requests()
        # Read from the simulator's audit log: clients' calls only (the processor's own watches are not).
        assert {e["user"] for e in stack.arktos_request_log()} == {"demo", "system:anonymous"}

        # The processor's catalog watch reached the simulator with its own credential and the sim CA.
        deadline = time.monotonic() + 10
        while b"catalog_synced" not in stack.processor_log.read_bytes():
            assert time.monotonic() < deadline, stack.processor_log.read_text()
            time.sleep(0.05)

        clouds = yaml.safe_load(stack.clouds_yaml.read_text())["clouds"]
        assert clouds["arktos"]["auth"] == {
            "auth_url": f"{stack.public_url}/identity/v3",
            "username": "demo",
            "password": "demo-token",
            "project_name": "demo",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }
        assert clouds["arktos"]["region_name"] == "RegionOne"
        assert clouds["arktos-admin"]["auth"]["project_name"] == "system"
        assert clouds["arktos-admin"]["auth"]["password"] == "admin-token"

        # Fail closed while the processor is down, and recover after a restart.
        before = stack.arktos_requests()
        stack.kill_processor()
        r = requests.get(
            f"{stack.public_url}/compute/v2.1/pods", headers={"X-Auth-Token": "demo-token"}, timeout=10
        )
        assert r.status_code == 503
        assert orjson.loads(r.content)["serviceUnavailable"]["code"] == 503
        assert stack.arktos_requests() == before
        stack.start_processor()
        r = requests.get(
            f"{stack.public_url}/compute/v2.1/pods", headers={"X-Auth-Token": "demo-token"}, timeout=10
        )
        assert r.status_code == 200
        children = list(stack.children)
    assert children and all(not c.alive() for c in children)
