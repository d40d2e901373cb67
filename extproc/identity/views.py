"""Keystone v3 bodies: the version documents and the token (``keystone-token-response-body.json``)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from extproc.config import GatewayConfig
from extproc.users import user_id_for_token

# Keystone's current v3 minor version and its release date (fixture 00).
VERSION_ID = "v3.14"
VERSION_UPDATED = "2020-04-07T00:00:00Z"
# Arktos tokens do not expire by themselves; clients still want an expiry to plan re-authentication.
TOKEN_LIFETIME = timedelta(hours=12)
DEFAULT_DOMAIN = {"id": "default", "name": "Default"}
MEMBER_ROLES = ("member", "reader")
# The Arktos tenant whose users are the cluster's administrators.
SYSTEM_TENANT = "system"

# Deterministic ids (32 hex digits, like Keystone's) so they never change between tokens or restarts.
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/CentaurusInfra/arktos/openstack-gateway")


def stable_id(*parts: str) -> str:
    return uuid.uuid5(_ID_NAMESPACE, "\x1f".join(parts)).hex


def version_entry(config: GatewayConfig) -> dict[str, Any]:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": VERSION_UPDATED,
        "links": [{"rel": "self", "href": v3_url(config)}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }


def v3_url(config: GatewayConfig) -> str:
    return f"{config.public_url}/identity/v3/"


def versions(config: GatewayConfig) -> dict[str, Any]:
    return {"versions": {"values": [version_entry(config)]}}


def version(config: GatewayConfig) -> dict[str, Any]:
    return {"version": version_entry(config)}


def roles(tenant: str) -> list[dict[str, str]]:
    names: Sequence[str] = MEMBER_ROLES + (("admin",) if tenant == SYSTEM_TENANT else ())
    return [{"id": stable_id("role", name), "name": name} for name in names]


def _service(config: GatewayConfig, service_type: str, name: str, url: str) -> dict[str, Any]:
    return {
        "endpoints": [
            {
                "id": stable_id("endpoint", service_type, url),
                "interface": "public",
                "region_id": config.region,
                "url": url,
                "region": config.region,
            }
        ],
        "id": stable_id("service", service_type),
        "type": service_type,
        "name": name,
    }


def catalog(config: GatewayConfig, tenant: str) -> list[dict[str, Any]]:
    """identity, compute, image and network (Neutron at ``/networking``, DevStack's layout)."""
    public = config.public_url
    return [
        _service(config, "identity", "keystone", f"{public}/identity"),
        # NOTE: the project in the compute URL is how every compute request names its Arktos tenant.
        _service(config, "compute", "nova", f"{public}/compute/v2.1/{quote(tenant, safe='')}"),
        _service(config, "image", "glance", f"{public}/image"),
        # NOTE: Neutron's URLs name no project (as Glance's): Arktos's short paths take the caller's tenant.
        _service(config, "network", "neutron", f"{public}/networking"),
    ]


def keystone_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def now() -> datetime:
    # Whole seconds, as Keystone's tokens show them (".000000Z").
    return datetime.now(UTC).replace(microsecond=0)


def audit_id() -> str:
    return secrets.token_urlsafe(16)


def token_body(
    config: GatewayConfig,
    *,
    token: str,
    methods: Sequence[str],
    user_name: str,
    tenant: str | None,
    issued_at: datetime,
    audit: str,
    with_catalog: bool = True,
) -> dict[str, Any]:
    """A Keystone token for ``token``; ``tenant`` None gives an unscoped token (no project/roles/catalog)."""
    body: dict[str, Any] = {
        "methods": list(methods),
        "user": {
            "domain": dict(DEFAULT_DOMAIN),
            "id": user_id_for_token(token),
            "name": user_name,
            "password_expires_at": None,
        },
        "audit_ids": [audit],
        "expires_at": keystone_time(issued_at + TOKEN_LIFETIME),
        "issued_at": keystone_time(issued_at),
    }
    if tenant is not None:
        body["project"] = {"domain": dict(DEFAULT_DOMAIN), "id": tenant, "name": tenant}
        body["is_domain"] = False
        body["roles"] = roles(tenant)
        if with_catalog:
            body["catalog"] = catalog(config, tenant)
    return {"token": body}
