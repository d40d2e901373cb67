"""Replays the requests recorded from a real Arktos server against the simulator.

The recordings are ``tests/fixtures/arktos`` (copied from the project's shared ``fixtures/arktos``).

The node agent is off, as no kubelet ran during the recording. Request bodies are reconstructed from the
recorded responses. Comparison: same status; same keys recursively (lists element by element); equal values
where the fixture has one (``<placeholder>`` values only need the key). Action names (``<op>-<unix seconds>``)
and ReplicaSet pod names (``<rs>-<5 random chars>``) are volatile too and are normalized on both sides.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests import record_fixtures
from tests.shared_fixtures import ARKTOS_FIXTURES

from .conftest import bearer, make_client, start_sim_process

FIXTURES = ARKTOS_FIXTURES
# Each recording session ran against a fresh tenant1, so each is replayed on a fresh simulator, in order.
SESSIONS: dict[str, frozenset[int]] = {
    "first set": frozenset(range(1, 33)),
    # A pod quota: created with an empty status, counted by the controller, enforced on the third pod.
    "quota": frozenset({33, 38, 39, 40, 41, 42, 43}),
    # A Secret written with stringData and read back as base64 data.
    "secrets": frozenset({51, 52}),
    # The VM spec after creation: image and key patched in place; a failed JSON-patch test is 422.
    "vm patch": frozenset({33, 34, 35, 36}),
    # Two reboots of two pods in one namespace within one second: Arktos names an Action
    # "<operation>-<unix seconds>", so the second is 409 AlreadyExists (the gateway retries it, see
    # tests/e2e/test_action_collisions.py).
    "action names": frozenset({33, 40, 54, 55}),
    # A pod with a required pod anti-affinity (a Nova server group's policy) and a network label: both
    # accepted and stored as sent.
    "affinity": frozenset({50}),
    # A completed reboot Action read back (the instance actions rely on its fields), and a VM pod's events:
    # none (Arktos records no Event for a VM pod's steps).
    "action and events": frozenset({33, 56, 57}),
    # Arktos's Network custom resource (tenant-scoped: created, listed, read).
    "networks": frozenset({47, 48, 49}),
    # SelfSubjectAccessReview with tenant1's administrator's token: its own tenant allowed (with RBAC's
    # reason naming the user), another tenant denied, a bad token 401.
    "access reviews": frozenset({44, 45, 46}),
}
# Sessions replayed with the simulator's clock stopped (in the recording, within one second).
STOPPED_CLOCK: dict[str, float] = {"action names": 1796014912.25, "action and events": 1796012755.5}
# What a session needs that its recordings do not show: (token, method, path, body, content type), sent first.
# Fixture 56 reads the Action of a reboot of pod 359ef41a-... that the node agent completed.
RECORDED_POD = "359ef41a-9c40-4e6f-9b83-6ae194e2b051"
_TENANT1 = "/api/v1/tenants/tenant1/namespaces/default"
SETUP: dict[str, list[tuple[str, str, str, Any, str]]] = {
    "action and events": [
        ("t1-token", "POST", f"{_TENANT1}/pods", None, "application/json"),
        ("t1-token", "POST", f"{_TENANT1}/pods/{RECORDED_POD}/action", None, "application/json"),
        (
            "admin-token",
            "PATCH",
            f"{_TENANT1}/actions/reboot-1796012755/status",
            {"status": {"complete": True, "podName": RECORDED_POD}},
            "application/merge-patch+json",
        ),
    ],
}
REPLAYED = frozenset().union(*SESSIONS.values())
TOKENS = """admin-token,admin,admin-uid,"system:masters"
t1-token,admin,t1-uid,,,tenant1
t1-recorder-token,demo-admin,t1-rec-uid,,,tenant1
t1-admin-token,tenant1-admin,t1-admin-uid,,,tenant1
"""
IMAGE = "download.cirros-cloud.net/0.5.2/cirros-0.5.2-x86_64-disk.img"
VOLATILE = [
    (re.compile(r"^(reboot|snapshot|restore)-\d+$"), r"\1-<unix>"),
    (re.compile(r"^r-probe-[a-z0-9]{5}$"), "r-probe-<suffix>"),
]
PLACEHOLDER = re.compile(r"^<[A-Za-z]+>$")


def vm_pod(name: str, vm: dict[str, Any], app: str = "probe") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"virtualMachine": {"name": "vm", "image": IMAGE, **vm}},
    }


def quota_probe_pod(name: str) -> dict[str, Any]:
    resources = {"cpu": "1", "memory": "512Mi"}
    vm = {
        "keyPairName": "k1",
        "publicKey": "ssh-rsa AAAA",
        "resources": {"limits": resources, "requests": resources},
    }
    return vm_pod(name, vm, app="probe2")


def affinity_probe_pod(name: str) -> dict[str, Any]:
    """Fixture 50's request: a server group member's label and anti-affinity, and a network label."""
    pod = quota_probe_pod(name)
    pod["metadata"]["labels"].update({"arktos.futurewei.com/network": "net1", "group": "g1"})
    term = {"labelSelector": {"matchLabels": {"group": "g1"}}, "topologyKey": "kubernetes.io/hostname"}
    pod["spec"]["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return pod


def replicaset(name: str, pull_policy: bool) -> dict[str, Any]:
    vm: dict[str, Any] = {"name": "vm", "image": IMAGE, "keyPairName": "k1"}
    if pull_policy:
        vm["imagePullPolicy"] = "IfNotPresent"
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"reservation": "r-probe"}},
            "template": {"metadata": {"labels": {"reservation": "r-probe"}}, "spec": {"virtualMachine": vm}},
        },
    }


def access_review(tenant: str) -> dict[str, Any]:
    """Fixtures 44-46's request: may I get pods in ``tenant``'s namespace default?"""
    attributes = {"namespace": "default", "resource": "pods", "tenant": tenant, "verb": "get"}
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }


REBOOT = {
    "apiVersion": "v1",
    "kind": "CustomAction",
    "operation": "reboot",
    "rebootParams": {"delayInSeconds": 0},
}

# fixture number -> (token or None, body (dict, raw bytes or None), content type)
REQUESTS: dict[str, tuple[str | None, Any, str]] = {
    "01": (
        "admin-token",
        {
            "apiVersion": "v1",
            "kind": "Tenant",
            "metadata": {"name": "tenant1"},
            "spec": {"storageClusterId": "1"},
        },
        "application/json",
    ),
    "03": ("t1-token", vm_pod("p1", {"keyPairName": "k1"}), "application/json"),
    "04": ("t1-token", vm_pod("p1", {"keyPairName": "k1"}), "application/json"),
    "05": ("t1-token", vm_pod("p2", {}), "application/json"),
    "06": (
        "t1-token",
        {
            **vm_pod("p3", {"keyPairName": "k1"}),
            "spec": {"virtualMachine": {"name": "My VM", "image": IMAGE, "keyPairName": "k1"}},
        },
        "application/json",
    ),
    "07": ("t1-token", b"{not json", "application/json"),
    "08": (
        "t1-token",
        vm_pod(
            "f5dc173b-6804-445a-a6d8-c705dad5b5eb",
            {"keyPairName": "k1", "publicKey": "ssh-rsa AAAA", "userData": "aGVsbG8="},
        ),
        "application/json",
    ),
    "14": (None, None, ""),
    "15": ("wrong-token", None, ""),
    "17": ("admin-token", None, ""),
    "18": (
        "t1-token",
        {"spec": {"virtualMachine": {"powerSpec": "Shutdown"}}},
        "application/merge-patch+json",
    ),
    "19": (
        "t1-token",
        {
            "apiVersion": "v1",
            "kind": "CustomAction",
            "operation": "reboot",
            "rebootParams": {"delayInSeconds": 1},
        },
        "application/json",
    ),
    "20": (
        "t1-token",
        {
            "apiVersion": "v1",
            "kind": "CustomAction",
            "operation": "snapshot",
            "snapshotParams": {"snapshotName": "snap1"},
        },
        "application/json",
    ),
    "21": (
        "t1-token",
        {"apiVersion": "v1", "kind": "CustomAction", "operation": "explode"},
        "application/json",
    ),
    "22": (
        "t1-token",
        {
            "apiVersion": "v1",
            "kind": "CustomAction",
            "operation": "reboot",
            "rebootParams": {"delayInSeconds": 1},
        },
        "application/json",
    ),
    "24": (
        "t1-token",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "flavors"},
            "data": {"m1.tiny": '{"id":"1","ram":512,"vcpus":1,"disk":1}'},
        },
        "application/json",
    ),
    "26": ("t1-token", replicaset("r-probe", True), "application/json"),
    "27": ("t1-token", replicaset("r-probe2", False), "application/json"),
    "29": (
        "t1-token",
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"},
        "application/json",
    ),
    "33": ("t1-token", quota_probe_pod("q1"), "application/json"),
    "38": (
        "t1-token",
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "compute"},
            "spec": {"hard": {"pods": "2", "requests.cpu": "4", "requests.memory": "4Gi"}},
        },
        "application/json",
    ),
    "34": (
        "t1-token",
        [{"op": "replace", "path": "/spec/virtualMachine/image", "value": "example.org/images/other.img"}],
        "application/json-patch+json",
    ),
    "35": (
        "t1-token",
        [
            {"op": "test", "path": "/metadata/uid", "value": "00000000-0000-0000-0000-000000000000"},
            {"op": "replace", "path": "/spec/virtualMachine/image", "value": "example.org/images/third.img"},
        ],
        "application/json-patch+json",
    ),
    "36": (
        "t1-token",
        [
            {"op": "replace", "path": "/spec/virtualMachine/publicKey", "value": "ssh-ed25519 BBBB"},
            {"op": "replace", "path": "/spec/virtualMachine/keyPairName", "value": "k2"},
        ],
        "application/json-patch+json",
    ),
    "40": ("t1-token", quota_probe_pod("q2"), "application/json"),
    "51": (
        "t1-token",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "openstack-keypairs"},
            "stringData": {"k1": '{"public_key":"ssh-rsa AAAA"}'},
        },
        "application/json",
    ),
    "41": ("t1-token", quota_probe_pod("q3"), "application/json"),
    "47": (
        "t1-token",
        {
            "apiVersion": "arktos.futurewei.com/v1",
            "kind": "Network",
            "metadata": {"name": "net1"},
            "spec": {"type": "flat", "service": {"ipam": "Kubernetes", "cidrs": ["10.10.0.0/24"]}},
        },
        "application/json",
    ),
    "50": ("t1-token", affinity_probe_pod("q4"), "application/json"),
    "44": ("t1-admin-token", access_review("tenant1"), "application/json"),
    "45": ("t1-admin-token", access_review("tenant2"), "application/json"),
    "46": ("wrong-token", access_review("tenant1"), "application/json"),
    "54": ("t1-token", REBOOT, "application/json"),
    "55": ("t1-token", REBOOT, "application/json"),
}


def normalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str):
        for pattern, repl in VOLATILE:
            value = pattern.sub(repl, value)
    return value


def compare(expected: Any, actual: Any, where: str = "body") -> list[str]:
    if isinstance(expected, str) and PLACEHOLDER.match(expected):
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems = []
        if set(expected) != set(actual):
            problems.append(
                f"{where}: keys differ: missing {sorted(set(expected) - set(actual))}, "
                f"extra {sorted(set(actual) - set(expected))}"
            )
        for k in set(expected) & set(actual):
            problems += compare(expected[k], actual[k], f"{where}.{k}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return [f"{where}: expected a list of {len(expected)}, got {actual!r}"]
        problems = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problems += compare(e, a, f"{where}[{i}]")
        return problems
    if expected != actual:
        return [f"{where}: expected {expected!r}, got {actual!r}"]
    return []


def test_compare_is_strict() -> None:
    assert compare({"a": "<uid>", "b": [1]}, {"a": "x", "b": [1]}) == []
    assert compare({"a": 1}, {"a": 1, "b": 2})
    assert compare({"a": [1, 2]}, {"a": [1]})
    assert compare({"a": "x"}, {"a": "y"})


@pytest.mark.timeout(60)
@pytest.mark.parametrize("session", SESSIONS)
async def test_replay_recorded_fixtures(session: str) -> None:
    # NOTE: later recordings are replayed by the tests of the features that rely on them (each extends
    # ``SESSIONS`` as the simulator learns the behaviour).
    numbers = SESSIONS[session]
    files = [path for path in sorted(FIXTURES.glob("*.json")) if int(path.name[:2]) in numbers]
    assert len(files) == len(numbers), f"fixtures not found under {FIXTURES}"
    # The first set creates tenant1 itself (fixture 01); later sessions start with it.
    tenants = ["system"] if 1 in numbers else ["system", "tenant1"]
    client, sim = await make_client(TOKENS, boot_seconds=None, bootstrap_tenants=tenants)
    if session in STOPPED_CLOCK:
        stopped = STOPPED_CLOCK[session]
        sim.api.clock = lambda: stopped
    failures: list[str] = []
    try:
        for token, method, url, body, content_type in SETUP.get(session, []):
            if body is None:
                body = quota_probe_pod(RECORDED_POD) if url.endswith("/pods") else REBOOT
            resp = await client.request(
                method,
                url,
                data=json.dumps(body).encode(),
                headers={**bearer(token), "Content-Type": content_type},
            )
            assert resp.status in (200, 201), f"setup {method} {url}: {resp.status} {await resp.text()}"
        for path in files:
            fixture = json.loads(path.read_text())
            number = path.name[:2]
            token, body, content_type = REQUESTS.get(number, ("t1-token", None, ""))
            headers = bearer(token) if token else {}
            data: bytes | None = None
            if body is not None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                headers["Content-Type"] = content_type
            method, url = fixture["request"]["method"], fixture["request"]["path"]
            for _ in range(50):  # controllers (ReplicaSet, quota) work asynchronously, like Arktos's
                resp = await client.request(method, url, data=data, headers=headers)
                actual = await resp.json(content_type=None)
                problems = compare(normalize(fixture["body"]), normalize(actual))
                if method != "GET" or not problems:
                    break
                await asyncio.sleep(0.05)
            if resp.status != fixture["status"]:
                failures.append(f"{path.name}: status {resp.status} != {fixture['status']}: {actual}")
                continue
            failures += [f"{path.name}: {p}" for p in problems]
    finally:
        await client.close()
    assert not failures, "\n".join(failures)


def test_recorder_scenarios_replay_on_the_simulator(tmp_path: Path) -> None:
    """The scenarios of ``tests/record_fixtures.py`` (recorded from a real Arktos as fixtures 58-87), run
    again by the same recorder against the simulator: every exchange must match its recording."""
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(TOKENS)
    sim = start_sim_process(tmp_path, "--no-node-agent", "--insecure-http", "--tokens", str(tokens))
    try:
        # The recorder ran as tenant demo's administrator ``demo-admin`` (Arktos's 403s name the user).
        recorder = record_fixtures.Recorder(
            sim.url, None, "t1-recorder-token", "tenant1", "tenant1", "admin-token"
        )
        recorder.pod = "p-node"
        failures: list[str] = []
        steps = [step for scenario in record_fixtures.scenarios(recorder.pod) for step in scenario.steps]
        for step in steps:
            matches = sorted(FIXTURES.glob(f"[0-9][0-9]-{step.name}.json"))
            assert len(matches) == 1, f"no recording named {step.name} in {FIXTURES}"
            recorded = json.loads(matches[0].read_text())
            replayed = recorder.record(step)
            if replayed["request"] != recorded["request"] or replayed["status"] != recorded["status"]:
                failures.append(f"{matches[0].name}: {replayed['status']} {replayed['request']} != recorded")
                continue
            failures += [f"{matches[0].name}: {p}" for p in compare(recorded["body"], replayed["body"])]
    finally:
        sim.stop()
    assert not failures, "\n".join(failures)
