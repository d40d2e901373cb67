"""Nova server groups as Arktos ConfigMaps, and the processor's watch-fed memory of their policies.

One server group is one ConfigMap in the tenant's gateway namespace (the namespace of the VM pods):

- name ``openstack-server-group-<group id>`` (the id is a UUID the gateway makes up), so show and delete are
  ONE Arktos call each with the client's token (a GET, a DELETE), create one POST, list one list by the
  label ``openstack.arktos.io/server-group`` (whose value is the group id);
- ``data``: ``name``, ``policy`` (affinity, anti-affinity, soft-affinity, soft-anti-affinity), optionally
  ``max_server_per_host`` (Nova's 2.64 rule; only 1, which anti-affinity is), ``user_id``
  (who created it).

Members are not recorded in the ConfigMap: a server joins a group at create, when its pod gets the same label
(value: the group id) and the group's policy as its pod (anti-)affinity; Arktos's scheduler does the rest.
The group's members are the pods carrying that label (``extproc.compute.server_groups``).

``ServerGroupStore`` is what the ConfigMap watch (``extproc.catalog_watch``) knows: tenant -> group id ->
policy. Server create reads it (``server_groups.policy_for_create``) to give the pod its affinity without a
second Arktos call. It is a cache, never the truth, only asked about the tenant named in the request URL for a
token Arktos has recently let into that tenant. Replies to group writes relayed by this processor update it at
once (read-your-writes); deleted uids are remembered for a while so that a late watch event cannot bring a
deleted group back. Used only on the asyncio loop (watch events are applied there), so no lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from extproc.annotations import SERVER_GROUP_LABEL
from extproc.ids import is_server_group_id
from extproc.watched_index import Indexed, WatchedIndex

CONFIGMAP_PREFIX = "openstack-server-group-"
# Deleted uids remembered (a late ADDED/MODIFIED of a deleted group is ignored).

AFFINITY = "affinity"
ANTI_AFFINITY = "anti-affinity"
SOFT_AFFINITY = "soft-affinity"
SOFT_ANTI_AFFINITY = "soft-anti-affinity"
POLICIES = frozenset({AFFINITY, ANTI_AFFINITY, SOFT_AFFINITY, SOFT_ANTI_AFFINITY})

Json = dict[str, Any]


MAX_SERVER_PER_HOST = "max_server_per_host"


def configmap_name(group_id: str) -> str:
    return CONFIGMAP_PREFIX + group_id


@dataclass(frozen=True, slots=True)
class StoredServerGroup:
    """A server group as read back from its ConfigMap."""

    id: str
    name: str
    policy: str
    user_id: str
    created_at: str  # the ConfigMap's creationTimestamp (RFC 3339)
    uid: str
    tenant: str
    # Nova's rules (microversion 2.64): only ``max_server_per_host`` exists, and only 1 is what Arktos's pod
    # anti-affinity does; None when the group has no rule.
    max_server_per_host: int | None = None


def group_configmap(
    group_id: str, name: str, policy: str, user_id: str, max_server_per_host: int | None = None
) -> Json:
    """The ConfigMap a server group create POSTs."""
    data = {"name": name, "policy": policy, "user_id": user_id}
    if max_server_per_host is not None:
        data[MAX_SERVER_PER_HOST] = str(max_server_per_host)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": configmap_name(group_id), "labels": {SERVER_GROUP_LABEL: group_id}},
        "data": data,
    }


def from_configmap(obj: Any) -> StoredServerGroup | None:
    """The group a ConfigMap holds; None if it is not one the gateway wrote (label, name and data agree)."""
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata")
    data = obj.get("data")
    if not isinstance(meta, dict) or not isinstance(data, dict):
        return None
    labels = meta.get("labels")
    group_id = labels.get(SERVER_GROUP_LABEL) if isinstance(labels, dict) else None
    name, policy = data.get("name"), data.get("policy")
    if (
        not isinstance(group_id, str)
        or not is_server_group_id(group_id)
        or meta.get("name") != configmap_name(group_id)
        or not isinstance(name, str)
        or policy not in POLICIES
    ):
        return None
    return StoredServerGroup(
        id=group_id,
        name=name,
        policy=str(policy),
        user_id=str(data.get("user_id") or ""),
        created_at=str(meta.get("creationTimestamp") or ""),
        uid=str(meta.get("uid") or ""),
        tenant=str(meta.get("tenant") or "system"),
        max_server_per_host=_positive(data.get(MAX_SERVER_PER_HOST)),
    )


def _positive(value: Any) -> int | None:
    text = str(value) if isinstance(value, str) else ""
    return int(text) if text.isdigit() and 0 < len(text) <= 9 and int(text) > 0 else None


def _indexed(obj: Any) -> Indexed[str] | None:
    found = from_configmap(obj)
    if found is None:
        return None
    return Indexed(found.tenant, found.id, found.uid, found.policy)


class ServerGroupStore(WatchedIndex[str]):
    """tenant -> group id -> the group's policy (``WatchedIndex``), for server create."""

    def __init__(self) -> None:
        super().__init__(_indexed)

    def policy(self, tenant: str, group_id: str) -> str | None:
        return self.get(tenant, group_id)
