"""``SelfSubjectAccessReview``: "may I?" asked of Arktos with one's own token, as recorded (fixtures 44-46).

``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` with ``spec.resourceAttributes`` (Arktos's
carry a ``tenant`` beside namespace, verb, group, resource and name). The answer is 201 with the spec as sent
and ``status``: ``allowed: true`` with RBAC's reason (44), or ``allowed: false, denied: true`` (45); a bad
token is 401 before anything (46). The decision is the simulator's authorization model (``auth.allowed``), the
same that decides every other request; a review without a tenant is about the caller's own tenant.
Anonymous callers may not ask (Kubernetes grants reviews to ``system:authenticated`` only).
"""

from __future__ import annotations

from typing import Any

import orjson

from . import auth, status

GROUP = "authorization.k8s.io"
RESOURCE = "selfsubjectaccessreviews"
PATH = f"/apis/{GROUP}/v1/{RESOURCE}"
KIND = "SelfSubjectAccessReview"
# The fields of Arktos's ResourceAttributes (Kubernetes's plus tenant), echoed when set (omitempty).
RESOURCE_FIELDS = ("namespace", "verb", "group", "version", "resource", "subresource", "name", "tenant")

Json = dict[str, Any]


def check_caller(user: auth.User) -> None:
    """Anonymous callers may not ask (403), as RBAC grants reviews to ``system:authenticated`` only."""
    if user.anonymous:
        raise auth.forbidden(user, "create", RESOURCE, GROUP, None, None)


def review(user: auth.User, obj: Json) -> bytes:
    """The 201 body answering ``user``'s review ``obj`` (decoded; a bad token never gets here)."""
    spec = obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    attributes = spec.get("resourceAttributes")
    if not isinstance(attributes, dict) or "nonResourceAttributes" in spec:
        cause = {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes '
            "must be specified",
            "field": "spec.resourceAttributes",
        }
        raise status.invalid(KIND, GROUP, "", [cause])
    echoed = {
        k: attributes[k] for k in RESOURCE_FIELDS if isinstance(attributes.get(k), str) and attributes[k]
    }
    tenant = auth.effective_tenant(user, echoed.get("tenant"))
    if auth.allowed(user, tenant):
        decision: Json = {"allowed": True}
        if not user.is_master:  # system:masters is allowed before RBAC, with no reason
            decision["reason"] = (
                'RBAC: allowed by ClusterRoleBinding "tenant-admin-binding" of ClusterRole "tenant-admin" '
                f'to User "{user.name}"'
            )
    else:
        decision = {"allowed": False, "denied": True}
    reply = {
        "kind": KIND,
        "apiVersion": f"{GROUP}/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"resourceAttributes": echoed},
        "status": decision,
    }
    return orjson.dumps(reply)
