"""Builders for every Arktos path the gateway may call.

Nothing else in the processor writes an Arktos path by hand: the segments given here have already
been validated (``extproc.ids``), and each builder quotes them again so a value can never add a segment.
"""

from __future__ import annotations

import functools
from urllib.parse import quote, urlencode


# Tenants, namespaces and server ids repeat from request to request; quoting is pure.
@functools.lru_cache(maxsize=4096)
def _seg(value: str) -> str:
    # safe="" so "/" and "?" are escaped even if a caller forgot to validate.
    return quote(value, safe="")


def _tenant(tenant: str) -> str:
    """A tenant segment. "all" is Arktos's all-tenants keyword, never a tenant: the route table refuses it
    as a project (``ids.is_project_id``), and a caller that still passes it is a bug, not an all-tenants
    request (that path has its own builders)."""
    if tenant == "all":
        raise ValueError("'all' is Arktos's all-tenants keyword, not a tenant")
    return _seg(tenant)


def _prefix(api: str, tenant: str | None, namespace: str) -> str:
    if tenant is None:
        # Arktos resolves the short path to the caller's tenant.
        return f"{api}/namespaces/{_seg(namespace)}"
    return f"{api}/tenants/{_tenant(tenant)}/namespaces/{_seg(namespace)}"


def with_query(path: str, params: dict[str, str] | None) -> str:
    if not params:
        return path
    return f"{path}?{urlencode(params)}"


def pods(tenant: str | None, namespace: str, query: dict[str, str] | None = None) -> str:
    return with_query(f"{_prefix('/api/v1', tenant, namespace)}/pods", query)


def all_tenants_pods(query: dict[str, str] | None = None) -> str:
    return with_query("/api/v1/tenants/all/pods", query)


def pod(tenant: str | None, namespace: str, name: str) -> str:
    return f"{_prefix('/api/v1', tenant, namespace)}/pods/{_seg(name)}"


def pod_action(tenant: str | None, namespace: str, name: str) -> str:
    return f"{pod(tenant, namespace, name)}/action"


def actions(tenant: str | None, namespace: str, query: dict[str, str] | None = None) -> str:
    return with_query(f"{_prefix('/api/v1', tenant, namespace)}/actions", query)


def configmap(tenant: str | None, namespace: str, name: str) -> str:
    return f"{_prefix('/api/v1', tenant, namespace)}/configmaps/{_seg(name)}"


def configmaps(tenant: str | None, namespace: str, query: dict[str, str] | None = None) -> str:
    return with_query(f"{_prefix('/api/v1', tenant, namespace)}/configmaps", query)


def replicasets(tenant: str | None, namespace: str, query: dict[str, str] | None = None) -> str:
    return with_query(f"{_prefix('/apis/apps/v1', tenant, namespace)}/replicasets", query)


def replicaset(tenant: str | None, namespace: str, name: str) -> str:
    return f"{_prefix('/apis/apps/v1', tenant, namespace)}/replicasets/{_seg(name)}"


def namespace(name: str) -> str:
    """Short-path namespace GET: proves a token and reveals its tenant in ``metadata.tenant``."""
    return f"/api/v1/namespaces/{_seg(name)}"


def tenant_namespace(tenant: str, name: str) -> str:
    """A tenant's namespace: a 200 proves a token may reach that tenant (Keystone project scoping)."""
    return f"/api/v1/tenants/{_tenant(tenant)}/namespaces/{_seg(name)}"


def resourcequotas(tenant: str | None, namespace: str) -> str:
    return f"{_prefix('/api/v1', tenant, namespace)}/resourcequotas"


def resourcequota(tenant: str | None, namespace: str, name: str) -> str:
    return f"{resourcequotas(tenant, namespace)}/{_seg(name)}"


def tenants(query: dict[str, str] | None = None) -> str:
    """Every tenant (cluster scope): Arktos lets cluster administrators list them."""
    return with_query("/api/v1/tenants", query)


def tenant(name: str) -> str:
    """One tenant: readable by its own users and by cluster administrators."""
    return f"/api/v1/tenants/{_tenant(name)}"


# Arktos's Network custom resource (tenant-scoped, no namespace; fixtures 47-49).
NETWORKS_API = "/apis/arktos.futurewei.com/v1"


def networks(tenant: str | None, query: dict[str, str] | None = None) -> str:
    """The Network collection of ``tenant`` (None: the caller's own, Arktos's short path)."""
    prefix = NETWORKS_API if tenant is None else f"{NETWORKS_API}/tenants/{_tenant(tenant)}"
    return with_query(f"{prefix}/networks", query)


def network(tenant: str | None, name: str) -> str:
    return f"{networks(tenant)}/{_seg(name)}"


def all_tenants_networks() -> str:
    return f"{NETWORKS_API}/tenants/all/networks"
