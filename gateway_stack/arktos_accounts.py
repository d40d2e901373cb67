"""Least-privilege credentials on a real Arktos for the processor and the node agent.

Each is a ServiceAccount of the system tenant (``kube-system``) bound by a ClusterRoleBinding to a ClusterRole
that grants exactly what it uses, in every tenant (Arktos applies the system tenant's cluster roles across
tenants). Its token is the one Arktos's token controller writes into the account's Secret. Creating them
needs a system administrator's token once; everything is idempotent.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson
import requests

Json = dict[str, Any]
NAMESPACE_PATH = "/api/v1/tenants/system/namespaces/kube-system"
RBAC = "/apis/rbac.authorization.k8s.io/v1"

# What the processor does with its own credential (README, "Pointing it at a real Arktos").
GATEWAY_RULES: list[Json] = [
    {
        "apiGroups": [""],
        "resources": ["pods", "actions", "resourcequotas"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "update"]},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch", "delete"]},
    # The Network index (extproc.network.store): Neutron ids -> Arktos names.
    {"apiGroups": ["arktos.futurewei.com"], "resources": ["networks"], "verbs": ["get", "list", "watch"]},
]
# A scheduler's and a kubelet's share of the API (arktos_sim/node_http.py).
NODE_AGENT_RULES: list[Json] = [
    {"apiGroups": [""], "resources": ["pods", "actions"], "verbs": ["get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/binding"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["pods/status", "actions/status"], "verbs": ["update", "patch"]},
    {
        "apiGroups": [""],
        "resources": ["nodes", "nodes/status"],
        "verbs": ["create", "get", "update", "patch"],
    },
]


class AccountError(RuntimeError):
    pass


def _call(
    session: requests.Session, url: str, ca: str | None, method: str, path: str, body: Json | None = None
) -> tuple[int, Json]:
    reply = session.request(
        method,
        url + path,
        data=orjson.dumps(body) if body is not None else None,
        headers={"Content-Type": "application/json"},
        verify=ca if ca else True,  # explicit: REQUESTS_CA_BUNDLE would win over a session's verify
        timeout=30,
    )
    parsed: Json = orjson.loads(reply.content) if reply.content else {}
    return reply.status_code, parsed


def _create(session: requests.Session, url: str, ca: str | None, path: str, obj: Json) -> None:
    code, body = _call(session, url, ca, "POST", path, obj)
    if code not in (201, 409):
        raise AccountError(f"POST {path}: {code} {body.get('message', body)}")


def provision(
    url: str, ca: str | None, admin_token: str, name: str, rules: list[Json], timeout: float = 60
) -> str:
    """Create (or reuse) ServiceAccount ``name`` with ``rules`` in every tenant; returns its bearer token."""
    url = url.rstrip("/")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {admin_token}"
    _create(
        session,
        url,
        ca,
        f"{NAMESPACE_PATH}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
    )
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }
    _create(session, url, ca, f"{RBAC}/clusterroles", role)
    _call(session, url, ca, "PUT", f"{RBAC}/clusterroles/{name}", role)  # rules as of this version
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "kube-system"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
    }
    _create(session, url, ca, f"{RBAC}/clusterrolebindings", binding)
    deadline = time.monotonic() + timeout
    while True:
        code, account = _call(session, url, ca, "GET", f"{NAMESPACE_PATH}/serviceaccounts/{name}")
        for ref in account.get("secrets") or [] if code == 200 else []:
            code, secret = _call(session, url, ca, "GET", f"{NAMESPACE_PATH}/secrets/{ref['name']}")
            token = (secret.get("data") or {}).get("token") if code == 200 else None
            if token:
                return base64.b64decode(token).decode()
        if time.monotonic() > deadline:
            raise AccountError(f"no token for service account {name} (is kube-controller-manager running?)")
        time.sleep(0.5)
