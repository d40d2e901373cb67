"""Keypair ConfigMaps as Arktos returns them after the gateway's create (for the keypair tests)."""

from __future__ import annotations

import uuid
from typing import Any

from extproc import keypair_store


def keypair_configmap(
    name: str,
    public_key: str,
    fingerprint: str,
    user_id: str,
    tenant: str = "demo",
    uid: str | None = None,
    resource_version: str = "7",
) -> dict[str, Any]:
    """What the gateway POSTs for a keypair, with the metadata Arktos adds (fixture 24's shape)."""
    obj = keypair_store.keypair_configmap(name, public_key, fingerprint, user_id)
    obj["metadata"].update(
        namespace="default",
        tenant=tenant,
        uid=uid or str(uuid.uuid4()),
        resourceVersion=resource_version,
        creationTimestamp="2026-11-30T06:08:37Z",
        selfLink=f"/api/v1/tenants/{tenant}/namespaces/default/configmaps/{obj['metadata']['name']}",
        hashKey=1234,
    )
    return obj
