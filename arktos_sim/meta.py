"""Object metadata the server fills in: uid, hashKey, timestamps, selfLink, tenant and namespace."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from .resources import ResourceType, Scope

Json = dict[str, Any]


def timestamp(now: float | None = None) -> str:
    """RFC 3339 with second precision, as Kubernetes serializes ``metav1.Time``."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> float:
    """The inverse of ``timestamp``."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def hash_key(uid: str) -> int:
    """A non-negative int64 derived from the uid (Arktos hashes the uid as well)."""
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


def stamp_new(rt: ResourceType, obj: Json, tenant: str, namespace: str, now: float | None = None) -> Json:
    """Fill the server-owned metadata of an object being created (in place) and return it."""
    meta = obj.setdefault("metadata", {})
    for owned in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "selfLink", "hashKey"):
        meta.pop(owned, None)
    uid = str(uuid.uuid4())
    meta["uid"] = uid
    meta["hashKey"] = hash_key(uid)
    meta["creationTimestamp"] = timestamp(now)
    if rt.scope is not Scope.CLUSTER:
        meta["tenant"] = tenant
    else:
        meta.pop("tenant", None)
    if rt.scope is Scope.NAMESPACE:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    meta["selfLink"] = rt.self_link(tenant, namespace, meta["name"])
    return obj


def carry_over(old: Json, new: Json) -> None:
    """Keep the server-owned metadata of ``old`` on an updated object ``new`` (in place)."""
    old_meta, new_meta = old["metadata"], new.setdefault("metadata", {})
    for owned in (
        "uid",
        "hashKey",
        "creationTimestamp",
        "selfLink",
        "tenant",
        "namespace",
        "name",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ):
        if owned in old_meta:
            new_meta[owned] = old_meta[owned]
        else:
            new_meta.pop(owned, None)
