"""Asking Arktos "may this token read that?" with a ``SelfSubjectAccessReview`` made with the client's token.

Why: a forwarded read teaches the processor Arktos's decision only when Arktos answers it 2xx
(``extproc.access_cache``). A tenant with no ``openstack-flavors`` ConfigMap (the built-in flavors) answers
every flavors read 404, so no read ever proves anything and each would reach Arktos. For such reads, while
the catalog watch is synced, the read is instead sent to Arktos as the review of that very GET (tenant,
namespace, ``get``, ``configmaps``, the ConfigMap's name): Arktos answers 201 with ``status.allowed``
(fixtures 44-46). Allowed: the decision is remembered and the read answered from the catalog; refused: the
client gets the 403 Arktos gives that GET; any other answer (a bad token's 401) is translated as the read's.

Only requests whose URL names the tenant are reviewed: a review names its tenant, and the short path's
tenant is known to Arktos only.
"""

from __future__ import annotations

from typing import Any

import orjson

from extproc.access_cache import Access
from extproc.messages import JSON_CONTENT_TYPE, ArktosReply, ArktosRequest

PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

# Arktos's 403 for a read it does not allow (its message names no user: the gateway does not know it).
FORBIDDEN = ArktosReply(
    403,
    {"content-type": "application/json"},
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"forbidden",'
    b'"reason":"Forbidden","details":{},"code":403}',
)


def _attributes(access: Access) -> dict[str, str]:
    fields = {
        "tenant": access.tenant,
        "namespace": access.namespace,
        "verb": access.verb,
        "group": access.group,
        "resource": access.resource,
        "name": access.name,
    }
    return {k: v for k, v in fields.items() if v}


def review_request(access: Access) -> ArktosRequest:
    """The review of ``access`` (a tenant path's read), sent with the client's token."""
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": _attributes(access)},
    }
    return ArktosRequest("POST", PATH, orjson.dumps(body), JSON_CONTENT_TYPE)


def review_allowed(reply: ArktosReply) -> bool | None:
    """Arktos's answer to a review (it is about the review sent): None when the reply is no review's 201."""
    if reply.status != 201:
        return None
    try:
        answered: Any = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None
    decision = answered.get("status") if isinstance(answered, dict) else None
    if not isinstance(decision, dict) or not isinstance(decision.get("allowed"), bool):
        return None
    return bool(decision["allowed"])
