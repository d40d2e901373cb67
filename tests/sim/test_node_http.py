"""The standalone node agent's HTTP transport (``arktos_sim.node_http``), against the simulator over HTTPS.

What the agent writes must never undo another writer's change: the gateway names batch members and records
locks and metadata in pod annotations while the agent reports the VM's status.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from arktos_sim.node_http import ArktosHttpIO

from .conftest import SimProcess

PODS = "/api/v1/tenants/demo/namespaces/default/pods"


def _session(sim: SimProcess) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sim.ca)
    session.headers["Authorization"] = "Bearer admin-token"
    return session


@pytest.mark.timeout(60)
def test_status_report_keeps_annotations_written_since_the_agent_read_the_pod(
    sim_without_node_agent: SimProcess,
) -> None:
    sim = sim_without_node_agent
    session = _session(sim)
    pod = {
        "metadata": {"name": "p", "annotations": {"note": "before"}},
        "spec": {"virtualMachine": {"name": "vm", "image": "cirros.img", "keyPairName": "k"}},
    }
    created = session.post(sim.url + PODS, json=pod, timeout=10)
    assert created.status_code == 201, created.text
    io = ArktosHttpIO(sim.url, "admin-token", str(sim.ca))
    stale: dict[str, Any] | None = io.get_pod(("demo", "default", "p"))
    assert stale is not None
    # Another writer (the gateway's batch reconciler) changes the annotations after the agent's read.
    patched = session.patch(
        f"{sim.url}{PODS}/p",
        json={"metadata": {"annotations": {"note": "after"}}},
        headers={"Content-Type": "application/merge-patch+json"},
        timeout=10,
    )
    assert patched.status_code == 200, patched.text
    stale["status"] = {**(stale.get("status") or {}), "phase": "Running"}
    io.put_pod_status(stale)
    now = session.get(f"{sim.url}{PODS}/p", timeout=10).json()
    assert now["status"]["phase"] == "Running"
    assert now["metadata"]["annotations"]["note"] == "after"


@pytest.mark.timeout(60)
def test_status_report_for_a_pod_replaced_under_the_same_name_is_dropped(
    sim_without_node_agent: SimProcess,
) -> None:
    sim = sim_without_node_agent
    session = _session(sim)
    pod = {
        "metadata": {"name": "p"},
        "spec": {"virtualMachine": {"name": "vm", "image": "cirros.img", "keyPairName": "k"}},
    }
    assert session.post(sim.url + PODS, json=pod, timeout=10).status_code == 201
    io = ArktosHttpIO(sim.url, "admin-token", str(sim.ca))
    old = io.get_pod(("demo", "default", "p"))
    assert old is not None
    assert session.delete(f"{sim.url}{PODS}/p", timeout=10).status_code == 200
    assert session.post(sim.url + PODS, json=pod, timeout=10).status_code == 201
    old["status"] = {**(old.get("status") or {}), "phase": "Running"}
    io.put_pod_status(old)  # the old pod's report must not land on its successor
    now = session.get(f"{sim.url}{PODS}/p", timeout=10).json()
    assert now["metadata"]["uid"] != old["metadata"]["uid"]
    assert now["status"].get("phase") != "Running"
