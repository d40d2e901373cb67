"""Nova keypairs as Arktos ConfigMaps, and the processor's watch-fed memory of their public keys.

One keypair is one ConfigMap in the tenant's gateway namespace (the namespace of the VM pods):

- name ``openstack-keypair-<sha256 of the keypair name, hex>``: Nova's names (letters, digits, spaces, "-",
  "_", up to 255) are no Arktos names, and a name derived from the keypair name makes every keypair
  operation ONE Arktos call with the client's token: create is a POST (Arktos's own 409 AlreadyExists is
  Nova's 409), show a GET, delete a DELETE, list one list by the label ``openstack.arktos.io/keypair``;
- ``data``: ``name``, ``public_key``, ``fingerprint``, ``user_id`` (who created it, or whom an
  administrator created it for), ``type`` (``ssh``, or ``x509`` for an imported certificate).

Why a ConfigMap and not a Secret: the ConfigMap holds only public data (the private key of a generated
keypair is returned once and never stored), Arktos's RBAC protects it per tenant like the catalog
ConfigMaps, and the processor already watches ConfigMaps of every tenant; watching Secrets would give the
processor's own credential every Secret of every tenant (service-account tokens included).

``KeypairStore`` is what that watch (``extproc.catalog_watch``) knows: tenant -> keypair name -> public
key. Server create reads it (``extproc.compute.keypairs.public_key_for_create``) to put the key in the VM
pod. It is a cache, never the truth, and is only ever asked about the tenant named in the request URL.
Replies to keypair writes relayed by this processor update it at once (read-your-writes), and a deleted
keypair's uid is remembered for a while, so a late watch event cannot bring it back.
Used only on the asyncio loop (watch events are applied there), so no lock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from extproc.annotations import KEYPAIR_LABEL
from extproc.watched_index import Indexed, WatchedIndex

CONFIGMAP_PREFIX = "openstack-keypair-"
KEYPAIR_TYPE = "ssh"
X509_TYPE = "x509"
# Deleted uids remembered (a late ADDED/MODIFIED of a deleted keypair is ignored).

Json = dict[str, Any]


def configmap_name(keypair_name: str) -> str:
    """The ConfigMap of keypair ``keypair_name`` (any string: the hash makes it a valid Arktos name)."""
    return CONFIGMAP_PREFIX + hashlib.sha256(keypair_name.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredKeypair:
    """A keypair as read back from its ConfigMap."""

    name: str
    public_key: str
    fingerprint: str
    user_id: str
    created_at: str  # the ConfigMap's creationTimestamp (RFC 3339)
    uid: str
    tenant: str
    # Nova's keypair type (microversion 2.2): "ssh" or "x509".
    key_type: str = KEYPAIR_TYPE


def keypair_configmap(
    name: str, public_key: str, fingerprint: str, user_id: str, key_type: str = KEYPAIR_TYPE
) -> Json:
    """The ConfigMap a keypair create POSTs."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": configmap_name(name), "labels": {KEYPAIR_LABEL: "true"}},
        "data": {
            "name": name,
            "public_key": public_key,
            "fingerprint": fingerprint,
            "user_id": user_id,
            "type": key_type,
        },
    }


def from_configmap(obj: Any) -> StoredKeypair | None:
    """The keypair a ConfigMap holds; None if it is not one the gateway wrote (label, name and data agree)."""
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata")
    data = obj.get("data")
    if not isinstance(meta, dict) or not isinstance(data, dict):
        return None
    labels = meta.get("labels")
    if not isinstance(labels, dict) or KEYPAIR_LABEL not in labels:
        return None
    name, public_key = data.get("name"), data.get("public_key")
    if (
        not isinstance(name, str)
        or not isinstance(public_key, str)
        or meta.get("name") != configmap_name(name)
    ):
        return None
    return StoredKeypair(
        name=name,
        public_key=public_key,
        fingerprint=str(data.get("fingerprint") or ""),
        user_id=str(data.get("user_id") or ""),
        created_at=str(meta.get("creationTimestamp") or ""),
        uid=str(meta.get("uid") or ""),
        tenant=str(meta.get("tenant") or "system"),
        key_type=X509_TYPE if data.get("type") == X509_TYPE else KEYPAIR_TYPE,
    )


def _indexed(obj: Any) -> Indexed[str] | None:
    found = from_configmap(obj)
    if found is None:
        return None
    return Indexed(found.tenant, found.name, found.uid, found.public_key)


class KeypairStore(WatchedIndex[str]):
    """tenant -> keypair name -> public key (``WatchedIndex``), for server create."""

    def __init__(self) -> None:
        super().__init__(_indexed)

    def public_key(self, tenant: str, name: str) -> str | None:
        return self.get(tenant, name)
