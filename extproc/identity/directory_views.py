"""Keystone v3 read bodies for projects, domains, the caller, services, endpoints and role assignments.

Everything here is derived from what Arktos answered and from the gateway's configuration: a project is an
Arktos tenant (id = name = the tenant's name, as in the token body), there is one domain (``default``), the
user is the caller (its id derived from its token, ``extproc.users``), and services and endpoints are the
catalog the caller's token carries (``views.catalog``). Shapes follow Keystone's API reference samples
(``api-ref/source/v3/samples/admin``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from extproc.config import GatewayConfig
from extproc.identity import views
from extproc.identity.auth_request import ANONYMOUS_USER_NAME

Json = dict[str, Any]

DEFAULT_DOMAIN_ID = views.DEFAULT_DOMAIN["id"]
DEFAULT_DOMAIN_DESCRIPTION = "The domain of every Arktos tenant (Arktos has no domains)."


def _url(config: GatewayConfig, *parts: str) -> str:
    tail = "/".join(quote(p, safe="") for p in parts)
    return f"{config.public_url}/identity/v3/{tail}"


def collection_links(config: GatewayConfig, collection: str, query: Mapping[str, list[str]]) -> Json:
    """Keystone's ``links`` of an unpaged collection: ``self`` is the request (with its query)."""
    self_url = _url(config, *collection.split("/"))
    if query:
        self_url += "?" + urlencode([(k, v) for k, values in query.items() for v in values])
    return {"self": self_url, "previous": None, "next": None}


# ---------------------------------------------------------------------------------------------------------
# Projects (Arktos tenants) and the domain


def tenant_enabled(tenant: Mapping[str, Any]) -> bool:
    """A tenant being deleted (``status.phase`` Terminating) takes no new work: shown disabled."""
    status = tenant.get("status")
    phase = status.get("phase") if isinstance(status, dict) else None
    return phase in (None, "Active")


def project(config: GatewayConfig, name: str, enabled: bool = True) -> Json:
    return {
        "id": name,
        "name": name,
        "domain_id": DEFAULT_DOMAIN_ID,
        "description": "",
        "enabled": enabled,
        "parent_id": DEFAULT_DOMAIN_ID,
        "is_domain": False,
        "tags": [],
        "options": {},
        "links": {"self": _url(config, "projects", name)},
    }


def project_of_tenant(config: GatewayConfig, tenant: Mapping[str, Any]) -> Json | None:
    """The project of an Arktos Tenant object; None for an object without a name."""
    meta = tenant.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        return None
    return project(config, name, tenant_enabled(tenant))


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def filter_projects(projects: Iterable[Json], query: Mapping[str, list[str]]) -> list[Json]:
    """Keystone's list filters that apply here: ``name``, ``id``, ``domain_id``, ``enabled``,
    ``is_domain``, ``parent_id`` (exact match, the last value of each, as Keystone reads them)."""
    found = list(projects)
    for key in ("name", "id", "domain_id", "parent_id"):
        values = query.get(key)
        if values:
            found = [p for p in found if p[key] == values[-1]]
    for key in ("enabled", "is_domain"):
        values = query.get(key)
        if values:
            wanted = _BOOLEANS.get(values[-1].lower(), True)
            found = [p for p in found if p[key] is wanted]
    return found


def projects_body(
    config: GatewayConfig, projects: Sequence[Json], collection: str, query: Mapping[str, list[str]]
) -> Json:
    return {"projects": list(projects), "links": collection_links(config, collection, query)}


def domain(config: GatewayConfig) -> Json:
    return {
        "id": DEFAULT_DOMAIN_ID,
        "name": views.DEFAULT_DOMAIN["name"],
        "description": DEFAULT_DOMAIN_DESCRIPTION,
        "enabled": True,
        "tags": [],
        "options": {},
        "links": {"self": _url(config, "domains", DEFAULT_DOMAIN_ID)},
    }


def domains_body(config: GatewayConfig, collection: str, query: Mapping[str, list[str]]) -> Json:
    shown = [domain(config)]
    for key in ("name", "id"):
        values = query.get(key)
        if values:
            shown = [d for d in shown if d[key] == values[-1]]
    return {"domains": shown, "links": collection_links(config, collection, query)}


# ---------------------------------------------------------------------------------------------------------
# The caller


def user(config: GatewayConfig, user_id: str, tenant: str) -> Json:
    return {
        "id": user_id,
        # NOTE: Arktos does not tell who holds a token; the name is the one the token body shows.
        "name": ANONYMOUS_USER_NAME,
        "domain_id": DEFAULT_DOMAIN_ID,
        "default_project_id": tenant,
        "enabled": True,
        "federated": [],
        "password_expires_at": None,
        "options": {},
        "links": {"self": _url(config, "users", user_id)},
    }


def role_assignments_body(
    config: GatewayConfig,
    user_id: str,
    tenant: str,
    query: Mapping[str, list[str]],
) -> Json:
    """The caller's roles on its tenant (the roles of its token), filtered as Keystone filters
    ``/v3/role_assignments``: ``user.id``, ``scope.project.id``, ``role.id``, ``scope.domain.id`` (which
    no assignment here has), ``group.id`` (none either); ``include_names`` adds the names."""

    def last(key: str) -> str | None:
        values = query.get(key)
        return values[-1] if values else None

    # Keystone's ``query_filter_is_true``: present and not "0"/"false".
    include_names = "include_names" in query and (last("include_names") or "").lower() not in ("0", "false")
    assignments: list[Json] = []
    excluded = (
        (last("user.id") not in (None, user_id))
        or (last("scope.project.id") not in (None, tenant))
        or last("scope.domain.id") is not None
        or last("group.id") is not None
    )
    if not excluded:
        for role in views.roles(tenant):
            if last("role.id") not in (None, role["id"]):
                continue
            entry: Json = {
                "role": {"id": role["id"]},
                "scope": {"project": {"id": tenant}},
                "user": {"id": user_id},
                "links": {
                    "assignment": _url(config, "projects", tenant, "users", user_id, "roles", role["id"])
                },
            }
            if include_names:
                entry["role"]["name"] = role["name"]
                entry["scope"]["project"].update({"name": tenant, "domain": dict(views.DEFAULT_DOMAIN)})
                entry["user"].update({"name": ANONYMOUS_USER_NAME, "domain": dict(views.DEFAULT_DOMAIN)})
            assignments.append(entry)
    return {"role_assignments": assignments, "links": collection_links(config, "role_assignments", query)}


# ---------------------------------------------------------------------------------------------------------
# Services and endpoints: the token's catalog


def _services(config: GatewayConfig, tenant: str) -> list[Json]:
    return views.catalog(config, tenant)


def service(config: GatewayConfig, entry: Mapping[str, Any]) -> Json:
    return {
        "id": entry["id"],
        "type": entry["type"],
        "name": entry["name"],
        "description": f"{entry['name']} ({entry['type']}) served by the Arktos gateway",
        "enabled": True,
        "links": {"self": _url(config, "services", entry["id"])},
    }


def services(config: GatewayConfig, tenant: str) -> list[Json]:
    return [service(config, entry) for entry in _services(config, tenant)]


def endpoints(config: GatewayConfig, tenant: str) -> list[Json]:
    found: list[Json] = []
    for entry in _services(config, tenant):
        for endpoint in entry["endpoints"]:
            found.append(
                {
                    "id": endpoint["id"],
                    "interface": endpoint["interface"],
                    "region": endpoint["region"],
                    "region_id": endpoint["region_id"],
                    "service_id": entry["id"],
                    "url": endpoint["url"],
                    "enabled": True,
                    "links": {"self": _url(config, "endpoints", endpoint["id"])},
                }
            )
    return found


def filter_by(items: Iterable[Json], query: Mapping[str, list[str]], keys: Sequence[str]) -> list[Json]:
    found = list(items)
    for key in keys:
        values = query.get(key)
        if values:
            found = [item for item in found if item.get(key) == values[-1]]
    return found


def catalog_body(config: GatewayConfig, tenant: str) -> Json:
    """``GET /v3/auth/catalog``: the token's catalog."""
    return {"catalog": views.catalog(config, tenant), "links": collection_links(config, "auth/catalog", {})}
