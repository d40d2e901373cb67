"""URL path → what it addresses (group, tenant, namespace, resource, name, subresource).

Paths are taken apart by segments; no regular expressions on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

# (group, resource) pairs the simulator serves, with whether the resource lives in a namespace.
NAMESPACED = {
    ("", "pods"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "actions"),
    ("apps", "replicasets"),
    ("", "resourcequotas"),
    ("", "events"),
}
# Custom resources scoped by tenant, with no namespace (Arktos's Network, fixtures 47-49).
NETWORKS_GROUP = "arktos.futurewei.com"
TENANT_SCOPED = {(NETWORKS_GROUP, "networks")}
SUBRESOURCES = {
    ("", "pods"): {"status", "action", "binding"},
    ("", "actions"): {"status"},
    ("apps", "replicasets"): {"status"},
}


@dataclass(frozen=True, slots=True)
class ResourcePath:
    group: str
    resource: str
    tenant: str | None  # None: short path (the caller's tenant); "all": every tenant
    namespace: str | None  # None: every namespace (lists) or not namespaced
    name: str | None
    subresource: str | None = None

    @property
    def key_scope(self) -> str:
        return f"{self.group}/{self.resource}"


def parse(path: str) -> ResourcePath | None:
    """Returns None when the path names nothing the simulator serves."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 3:
        return None
    if parts[0] == "api" and parts[1] == "v1":
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4 and parts[1] == "apps" and parts[2] == "v1":
        group, rest = "apps", parts[3:]
    elif parts[0] == "apis" and len(parts) >= 4 and parts[1] == NETWORKS_GROUP and parts[2] == "v1":
        return _tenant_scoped(NETWORKS_GROUP, parts[3:])
    else:
        return None
    tenant: str | None = None
    if rest[0] == "tenants":
        if len(rest) == 1:
            return ResourcePath(group, "tenants", None, None, None) if group == "" else None
        if len(rest) == 2:
            return ResourcePath(group, "tenants", None, None, rest[1]) if group == "" else None
        tenant, rest = rest[1], rest[2:]
    namespace: str | None = None
    if rest[0] == "namespaces":
        if len(rest) <= 2:
            if group != "":
                return None
            return ResourcePath("", "namespaces", tenant, None, rest[1] if len(rest) == 2 else None)
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    resource = rest[0]
    if (group, resource) not in NAMESPACED:
        return None
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else None
    if sub is not None and sub not in SUBRESOURCES.get((group, resource), set()):
        return None
    return ResourcePath(group, resource, tenant, namespace, name, sub)


def _tenant_scoped(group: str, rest: list[str]) -> ResourcePath | None:
    """``[tenants/<t>/]<resource>[/<name>[/status]]`` of a tenant-scoped custom resource."""
    tenant: str | None = None
    if rest[0] == "tenants":
        if len(rest) < 3:
            return None
        tenant, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3 or (group, rest[0]) not in TENANT_SCOPED:
        return None
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else None
    if sub is not None and sub != "status":
        return None
    return ResourcePath(group, rest[0], tenant, None, name, sub)
