"""Arktos `Status` replies become OpenStack errors in OpenStack's words, never Kubernetes' (issue 9, 5)."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from extproc.errors import Service, from_arktos
from extproc.messages import ArktosReply
from tests.shared_fixtures import ARKTOS_FIXTURES

# Words that name Kubernetes machinery: objects, API groups, users, namespaces.
KUBERNETES_WORDS = re.compile(
    r"system:|configmap|namespace|api group|replicaset|\.apps\b|\bpods?\b|\bpod \"|\bkind\b|apiversion"
    r"|customaction|\bstatus\b|is forbidden|openstack-flavors|openstack-images|resourcequota|\bspec\.",
    re.IGNORECASE,
)


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def recorded_statuses() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(ARKTOS_FIXTURES.glob("*.json")):
        recording = orjson.loads(path.read_bytes())
        body = recording.get("body")
        if isinstance(body, dict) and body.get("kind") == "Status" and int(body.get("code") or 0) >= 400:
            found.append((path.stem, body))
    return found


RECORDED = recorded_statuses()
# Shapes Arktos answers that the recordings do not hold (Kubernetes 1.15's wording).
SYNTHETIC = [
    (
        "configmap-anonymous",
        status(
            403,
            "Forbidden",
            'configmaps "openstack-flavors" is forbidden: User "system:anonymous" cannot get resource '
            '"configmaps" in API group "" in the namespace "default"',
            name="openstack-flavors",
            kind="configmaps",
        ),
    ),
    (
        "replicaset-cross-tenant",
        status(
            403,
            "Forbidden",
            'replicasets.apps is forbidden: User "demo" cannot create resource "replicasets" in API group '
            '"apps" in the namespace "default"',
            group="apps",
            kind="replicasets",
        ),
    ),
    (
        "stale-update",
        status(
            409,
            "Conflict",
            'Operation cannot be fulfilled on pods "x": the object has been modified; please apply your '
            "changes to the latest version and try again",
            name="x",
            kind="pods",
        ),
    ),
    (
        "namespace-terminating",
        status(
            403,
            "Forbidden",
            'pods "x" is forbidden: unable to create new content in namespace default because it is being '
            "terminated",
            name="x",
            kind="pods",
        ),
    ),
    (
        "invalid-with-causes",
        status(
            422,
            "Invalid",
            'Pod "x" is invalid: spec.virtualMachine.keyPairName: Required value',
            name="x",
            kind="Pod",
            causes=[{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.x"}],
        ),
    ),
    ("expired", status(410, "Expired", "too old resource version: 1 (2)")),
    ("too-many", status(429, "TooManyRequests", "too many requests")),
    ("timeout", status(504, "Timeout", 'Timeout: request did not complete within 1m0s for pods "x"')),
    ("internal", status(500, "InternalError", 'Internal error occurred: pods "x": etcd is down')),
]
CORPUS = RECORDED + SYNTHETIC


def test_the_corpus_holds_the_recorded_refusals() -> None:
    names = {name for name, _ in RECORDED}
    for wanted in ("14-pod-get-notoken", "16-pod-get-crosstenant", "41-pod-create-over-quota"):
        assert wanted in names
    assert len(RECORDED) >= 15


@pytest.mark.parametrize("service", list(Service))
@pytest.mark.parametrize(("name", "body"), CORPUS, ids=[name for name, _ in CORPUS])
def test_no_kubernetes_words_reach_openstack_clients(
    service: Service, name: str, body: dict[str, Any]
) -> None:
    reply = from_arktos(service, ArktosReply(status=int(body["code"]), headers={}, body=orjson.dumps(body)))
    text = reply.body.decode()
    assert not KUBERNETES_WORDS.search(text), (name, text)
    assert 400 <= reply.status < 600


@pytest.mark.parametrize(
    ("name", "body"), [(n, b) for n, b in CORPUS if b["code"] == 403 and "cannot" in b["message"]]
)
def test_every_authorization_refusal_reads_the_same(name: str, body: dict[str, Any]) -> None:
    """Which object or verb Arktos refused must not show: a refusal tells nothing about the tenant."""
    reply = from_arktos(Service.COMPUTE, ArktosReply(status=403, headers={}, body=orjson.dumps(body)))
    assert orjson.loads(reply.body) == {
        "forbidden": {"code": 403, "message": "Policy doesn't allow this operation to be performed."}
    }


def test_quota_refusal_is_novas_quota_message() -> None:
    body = dict(RECORDED)["41-pod-create-over-quota"]
    reply = from_arktos(Service.COMPUTE, ArktosReply(status=403, headers={}, body=orjson.dumps(body)))
    assert reply.status == 403
    assert orjson.loads(reply.body)["forbidden"]["message"] == (
        "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
    )


def test_validation_causes_keep_their_meaning_without_field_paths() -> None:
    body = dict(RECORDED)["05-pod-create-nokey"]
    reply = from_arktos(Service.COMPUTE, ArktosReply(status=422, headers={}, body=orjson.dumps(body)))
    assert reply.status == 400
    message = orjson.loads(reply.body)["badRequest"]["message"]
    assert "KeyPairName and PublicKey can't be both empty" in message
