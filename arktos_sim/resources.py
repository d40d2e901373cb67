"""The resource types the simulator serves: kinds, API versions, scopes and selfLinks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .paths import ResourcePath


class Scope(Enum):
    CLUSTER = "cluster"
    TENANT = "tenant"
    NAMESPACE = "namespace"


@dataclass(frozen=True)
class ResourceType:
    group: str
    resource: str
    kind: str
    scope: Scope

    @property
    def api_version(self) -> str:
        return f"{self.group}/v1" if self.group else "v1"

    @property
    def custom(self) -> bool:
        """A custom resource (served by the apiextensions server: list items keep apiVersion and kind,
        list metadata always has ``continue``; fixture 48)."""
        return self.group not in ("", "apps")

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def table(self) -> str:
        return f"{self.group}/{self.resource}"

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/v1" if self.group else "/api/v1"

    def self_link(self, tenant: str, namespace: str, name: str) -> str:
        if self.scope is Scope.CLUSTER:
            return f"{self.prefix}/{self.resource}/{name}"
        if self.scope is Scope.TENANT:
            return f"{self.prefix}/tenants/{tenant}/{self.resource}/{name}"
        return f"{self.prefix}/tenants/{tenant}/namespaces/{namespace}/{self.resource}/{name}"


TENANTS = ResourceType("", "tenants", "Tenant", Scope.CLUSTER)
NAMESPACES = ResourceType("", "namespaces", "Namespace", Scope.TENANT)
PODS = ResourceType("", "pods", "Pod", Scope.NAMESPACE)
CONFIGMAPS = ResourceType("", "configmaps", "ConfigMap", Scope.NAMESPACE)
SECRETS = ResourceType("", "secrets", "Secret", Scope.NAMESPACE)
ACTIONS = ResourceType("", "actions", "Action", Scope.NAMESPACE)
REPLICASETS = ResourceType("apps", "replicasets", "ReplicaSet", Scope.NAMESPACE)
RESOURCEQUOTAS = ResourceType("", "resourcequotas", "ResourceQuota", Scope.NAMESPACE)
# NOTE: Arktos records no Event for a VM pod's steps (fixture 57: a VM pod's event list is empty), and the
# simulator emulates no container kubelet or scheduler that would: its event lists are empty, as there.
EVENTS = ResourceType("", "events", "Event", Scope.NAMESPACE)
NETWORKS = ResourceType("arktos.futurewei.com", "networks", "Network", Scope.TENANT)

ALL = (TENANTS, NAMESPACES, PODS, CONFIGMAPS, SECRETS, ACTIONS, REPLICASETS, RESOURCEQUOTAS, EVENTS, NETWORKS)
BY_PATH = {(rt.group, rt.resource): rt for rt in ALL}


def of(path: ResourcePath) -> ResourceType:
    return BY_PATH[(path.group, path.resource)]
