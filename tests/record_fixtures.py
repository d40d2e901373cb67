"""Record Arktos exchanges the gateway relies on, from a running Arktos (real or simulated), as fixtures.

    python -m tests.record_fixtures --arktos-url URL [--ca CA] --token TENANT_TOKEN --tenant demo \\
        [--admin-token ADMIN_TOKEN] [--as-tenant tenant1] [--out tests/fixtures/arktos] [--first 45] \\
        [--only bound-pod-deletion,...]

Each scenario step sends one request and writes ``NN-<name>.json`` in the format of
``tests/fixtures/arktos``: ``{"request": {"method", "path"}, "status", "body"}`` with the body's
volatile fields (``uid``, ``resourceVersion``, timestamps, ``hashKey``, ``selfLink``, ``continue``, and what a
node agent makes up: IDs, IPs, heartbeat times) replaced by ``<fieldName>`` placeholders, keys sorted,
indent 1. The
tenant's name is written as ``--as-tenant`` so recordings from any tenant line up with the existing ones.
A new behaviour the gateway starts to use gets a scenario here, is recorded from the real server, and is
replayed against the simulator in ``make test`` (``tests/sim/test_fixtures_replay.py``).

Scenarios about scheduled pods bind the pod themselves (``pods/binding``, as a scheduler) to a node that no
agent serves, so that what a kubelet would do is recorded as the recorder's own requests. Record from a real
Arktos without a node agent running, or with one on another node name.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

Json = dict[str, Any]
IMAGE = "download.cirros-cloud.net/0.5.2/cirros-0.5.2-x86_64-disk.img"
DEFAULT_OUT = Path(__file__).resolve().parent / "fixtures" / "arktos"
# Fields whose values change from run to run: recorded as "<field>" (only the key is compared on replay).
VOLATILE = frozenset(
    {
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "hashKey",
        "selfLink",
        "continue",
        "lastTransitionTime",
        "lastHeartbeatTime",
        "lastProbeTime",
        "startTime",
        "virtualMachineId",
        "imageId",
        "portID",
        "podIP",
        "snapshotID",
        # Which storage cluster a tenant lives on is the deployment's choice (up.sh: "0", the simulator: "1").
        "storageClusterId",
    }
)


def normalize(value: Any, tenant: str, as_tenant: str) -> Any:
    if isinstance(value, dict):
        out: Json = {}
        for k, v in value.items():
            if k in VOLATILE and v is not None:
                out[k] = f"<{k}>"
            else:
                out[k] = normalize(v, tenant, as_tenant)
        return out
    if isinstance(value, list):
        return [normalize(v, tenant, as_tenant) for v in value]
    if isinstance(value, str) and tenant != as_tenant:
        return re.sub(rf"(?<![\w-]){re.escape(tenant)}(?![\w-])", as_tenant, value)
    return value


@dataclass
class Step:
    name: str
    method: str
    # Relative to /api/v1/tenants/{tenant}/namespaces/default unless absolute; {name} is the scenario's pod,
    # {tenant} the recording tenant.
    path: str
    # a JSON-patch body is a list of operations
    body: Json | list[Json] | Callable[[Recorder], Json] | None = None
    content_type: str = "application/json"
    admin: bool = False  # sent with --admin-token (a system-tenant administrator) instead of the user's
    delay: float = 0.0  # seconds to wait first (for what the control plane does after a reply)


@dataclass
class Scenario:
    name: str
    steps: list[Step] = field(default_factory=list)


def vm_pod(name: str) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "probe"}},
        "spec": {"virtualMachine": {"name": "vm", "image": IMAGE, "keyPairName": "k1"}},
    }


# The caller's Networks (Arktos's short path: the token's tenant).
NETWORKS = "/apis/arktos.futurewei.com/v1/networks"
OTHER_UID = "00000000-0000-0000-0000-000000000000"


def network(name: str, cidr: str) -> Json:
    return {
        "apiVersion": "arktos.futurewei.com/v1",
        "kind": "Network",
        "metadata": {"name": name},
        "spec": {"type": "flat", "service": {"ipam": "Kubernetes", "cidrs": [cidr]}},
    }


def pod_with_nics(pod: str) -> Json:
    """A VM pod on network ``<pod>-net`` with two NICs, the first with a fixed IP (as the gateway writes)."""
    made = vm_pod(f"{pod}-nics")
    made["metadata"]["labels"]["arktos.futurewei.com/network"] = f"{pod}-net"
    made["spec"]["nics"] = [{"name": "eth0", "ipAddress": "10.20.0.5"}, {"name": "eth1"}]
    return made


class Recorder:
    def __init__(
        self,
        url: str,
        ca: str | None,
        token: str,
        tenant: str,
        as_tenant: str,
        admin_token: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.verify: str | bool = ca or True
        self.session = requests.Session()
        self.token = token
        self.admin_token = admin_token
        self.tenant = tenant
        self.as_tenant = as_tenant
        self.pod = ""
        self.node = "recorder-node-0"

    def base(self) -> str:
        return f"/api/v1/tenants/{self.tenant}/namespaces/default"

    def send(
        self, method: str, path: str, body: Json | list[Json] | None, content_type: str, admin: bool = False
    ) -> requests.Response:
        data = json.dumps(body).encode() if body is not None else None
        token = self.admin_token if admin else self.token
        if token is None:
            raise SystemExit("record_fixtures: this scenario needs --admin-token")
        headers = {"Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = content_type
        return self.session.request(
            method,
            self.url + path,
            data=data,
            headers=headers,
            verify=self.verify,  # explicit: REQUESTS_CA_BUNDLE would win over a session's verify
            timeout=30,
        )

    def record(self, step: Step) -> Json:
        if step.delay:
            time.sleep(step.delay)
        relative = step.path.format(name=self.pod, tenant=self.tenant)
        path = relative if relative.startswith(("/api/", "/apis/")) else self.base() + relative
        body = step.body(self) if callable(step.body) else step.body
        reply = self.send(step.method, path, body, step.content_type, step.admin)
        try:
            answer: Any = reply.json()
        except ValueError:
            answer = reply.text
        return {
            "request": {"method": step.method, "path": normalize(path, self.tenant, self.as_tenant)},
            "status": reply.status_code,
            "body": normalize(answer, self.tenant, self.as_tenant),
        }


def binding(recorder: Recorder) -> Json:
    """Bind as a scheduler does, to a node that no agent serves: nothing confirms the pod's deletion."""
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": recorder.pod},
        "target": {"apiVersion": "v1", "kind": "Node", "name": recorder.node},
    }


def stopped_status(recorder: Recorder) -> Json:
    """What a kubelet reports for a stopped VM (the pod as it is, with that status)."""
    reply = recorder.send("GET", f"{recorder.base()}/pods/{recorder.pod}-off", None, "")
    pod: Json = reply.json()
    pod["status"]["phase"] = "NoSchedule"
    pod["status"]["virtualMachineStatus"] = {"name": "vm", "image": IMAGE, "state": "stopped",
                                             "powerState": "shutdown"}  # fmt: skip
    return pod


JSON_PATCH = "application/json-patch+json"
_LOCKED_BY = "/metadata/annotations/openstack.arktos.io~1locked-by"
_LOCK_PATCH: list[Json] = [
    {"op": "test", "path": _LOCKED_BY, "value": None},
    {"op": "add", "path": _LOCKED_BY, "value": "owner"},
]


def _annotated(pod: Json) -> Json:
    pod["metadata"]["annotations"] = {"openstack.arktos.io/created-by": "openstack-gateway"}
    return pod


def scenarios(pod: str) -> list[Scenario]:
    """The exchanges recorded so far with this tool (each scenario uses its own fresh pod)."""
    grace0 = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}
    return [
        Scenario(
            "bound-pod-deletion",
            [
                Step("pod-create-for-node", "POST", "/pods", vm_pod(pod)),
                Step("pod-bind", "POST", "/pods/{name}/binding", binding),
                # Arktos accepts a second binding of a bound pod (Kubernetes would say 409).
                Step("pod-bind-again", "POST", "/pods/{name}/binding", binding),
                Step("pod-get-bound", "GET", "/pods/{name}"),
                # A pod a node runs is only marked: deletionTimestamp = now + grace (30 s by default)...
                Step("pod-delete-bound", "DELETE", "/pods/{name}"),
                # ... a repeated DELETE changes nothing ...
                Step("pod-delete-bound-again", "DELETE", "/pods/{name}"),
                # ... until the kubelet (the node agent) confirms with grace period 0: then it is gone.
                Step("pod-delete-grace0", "DELETE", "/pods/{name}", grace0),
                Step("pod-get-after-grace0", "GET", "/pods/{name}"),
            ],
        ),
        Scenario(
            "power-on-from-stopped",
            [
                Step(
                    "pod-create-stopped",
                    "POST",
                    "/pods",
                    {
                        **vm_pod(f"{pod}-off"),
                        "spec": {
                            "virtualMachine": {
                                "name": "vm",
                                "image": IMAGE,
                                "keyPairName": "k1",
                                "powerSpec": "Shutdown",
                            }
                        },
                    },
                ),
                Step(
                    "pod-bind-stopped",
                    "POST",
                    "/pods/{name}-off/binding",
                    lambda r: {**binding(r), "metadata": {"name": f"{r.pod}-off"}},
                ),
                Step("pod-status-stopped", "PUT", "/pods/{name}-off/status", stopped_status),
                # The PATCH reply still says NoSchedule; Arktos's vmpod controller then sets Pending.
                Step(
                    "pod-patch-power-on",
                    "PATCH",
                    "/pods/{name}-off",
                    {"spec": {"virtualMachine": {"powerSpec": "Running"}}},
                    "application/merge-patch+json",
                ),
                Step("pod-get-powered-on", "GET", "/pods/{name}-off", delay=2.0),
                Step("pod-delete-stopped", "DELETE", "/pods/{name}-off", {"gracePeriodSeconds": 0}),
            ],
        ),
        Scenario(
            # What the Keystone facade's project reads rely on (extproc/identity/directory.py).
            "tenant-reads",
            [
                Step("tenant-get-own", "GET", "/api/v1/tenants/{tenant}"),
                Step("tenant-get-other", "GET", "/api/v1/tenants/system"),
                Step("tenant-list-as-tenant-user", "GET", "/api/v1/tenants"),
                Step("tenant-get-missing-as-admin", "GET", "/api/v1/tenants/no-such-tenant", admin=True),
            ],
        ),
        Scenario(
            # The gateway's "server not locked" test (extproc.compute.server_lock): a JSON-patch test for
            # null passes on an absent annotation and fails once it is there.
            "json-patch-test-null",
            [
                Step("pod-create-for-lock", "POST", "/pods", _annotated(vm_pod(f"{pod}-lock"))),
                Step("pod-patch-test-null-absent", "PATCH", "/pods/{name}-lock", _LOCK_PATCH, JSON_PATCH),
                Step("pod-patch-test-null-present", "PATCH", "/pods/{name}-lock", _LOCK_PATCH, JSON_PATCH),
                Step("pod-delete-lock", "DELETE", "/pods/{name}-lock", {"gracePeriodSeconds": 0}),
            ],
        ),
        Scenario(
            "network-writes",
            [
                # The Network custom resource's schema refuses a malformed CIDR (with the value shown as "").
                Step("network-create-bad-cidr", "POST", NETWORKS, network(f"{pod}-bad", "10.20.0.0/33")),
                Step("network-create-for-writes", "POST", NETWORKS, network(f"{pod}-net", "10.20.0.0/24")),
                Step("network-create-taken", "POST", NETWORKS, network(f"{pod}-net", "10.20.0.0/24")),
                # A write naming another uid (the gateway's rename of a network since recreated) is refused.
                Step(
                    "network-patch-other-uid",
                    "PATCH",
                    NETWORKS + "/{name}-net",
                    {
                        "metadata": {
                            "uid": OTHER_UID,
                            "annotations": {"openstack.arktos.io/display-name": "x"},
                        }
                    },
                    "application/merge-patch+json",
                ),
                # Arktos accepts several NICs, one with a fixed IP; it deletes a network pods still name (the
                # gateway refuses: NetworkInUse); a custom resource's delete is a Status.
                Step("pod-create-with-nics", "POST", "/pods", pod_with_nics(pod)),
                Step("network-delete", "DELETE", NETWORKS + "/{name}-net"),
                Step("network-get-after-delete", "GET", NETWORKS + "/{name}-net"),
            ],
        ),
        Scenario(
            "tenant-validation",
            [
                Step(
                    "tenant-create-no-storage-cluster",
                    "POST",
                    "/api/v1/tenants",
                    {"apiVersion": "v1", "kind": "Tenant", "metadata": {"name": "rec-tenant"}},
                    admin=True,
                ),
            ],
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.record_fixtures", description=__doc__.splitlines()[0])
    ap.add_argument("--arktos-url", required=True)
    ap.add_argument("--ca")
    ap.add_argument("--token", required=True, help="a user of --tenant (not an administrator)")
    ap.add_argument("--admin-token", help="a system-tenant administrator (scenarios about tenants)")
    ap.add_argument("--tenant", default="demo")
    ap.add_argument("--as-tenant", default="tenant1", help="the tenant name written in the fixtures")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument(
        "--first", type=int, help="number of the first file (default: after the last one in --out)"
    )
    ap.add_argument("--only", help="comma-separated scenario names")
    ap.add_argument("--pod", default="p-node", help="name of the pod the scenarios create")
    args = ap.parse_args(argv)

    recorder = Recorder(args.arktos_url, args.ca, args.token, args.tenant, args.as_tenant, args.admin_token)
    recorder.pod = args.pod
    if args.admin_token:
        # A Node object for the recorder's bindings: Arktos's pod garbage collector deletes pods bound to a
        # node that does not exist. (Not recorded; a simulator has no Node objects and answers 404.)
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": recorder.node}}
        recorder.send("POST", "/api/v1/nodes", node, "application/json", admin=True)
    chosen = set(args.only.split(",")) if args.only else None
    numbers = [int(p.name[:2]) for p in args.out.glob("[0-9][0-9]-*.json")]
    number = args.first if args.first is not None else max(numbers, default=0) + 1
    args.out.mkdir(parents=True, exist_ok=True)
    for scenario in scenarios(args.pod):
        if chosen is not None and scenario.name not in chosen:
            continue
        for step in scenario.steps:
            exchange = recorder.record(step)
            target = args.out / f"{number:02d}-{step.name}.json"
            target.write_text(json.dumps(exchange, indent=1, sort_keys=True, ensure_ascii=False))
            request = exchange["request"]
            print(f"{target}: {request['method']} {request['path']} -> {exchange['status']}")
            number += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
