"""Keystone v3 read APIs for token holders: projects, domains, the caller, the catalog, role assignments.

There is no identity store: projects are Arktos tenants, and Arktos decides with the caller's own token what
the caller may see, in ONE Arktos call per request:

- what concerns the caller only (``auth/projects``, ``auth/domains``, ``auth/catalog``, ``users/{self}``,
  ``role_assignments``, ``services``, ``endpoints``, ``domains/default``): the short-path namespace GET
  (``/api/v1/namespaces/<ns>``), whose ``metadata.tenant`` is the token's own tenant;
- the list of every project (``/v3/projects``) and the list of domains: ``GET /api/v1/tenants``, which Arktos
  allows to cluster administrators only. Anyone else gets Keystone's 403 for ``identity:list_projects``, as
  a project member gets it from Keystone under its default policy (``/v3/auth/projects`` lists one's own);
- one project (``/v3/projects/{id}``): ``GET /api/v1/tenants/{id}``; Arktos lets a tenant's users read their
  own tenant and an administrator read any. A refused read is Keystone's 403 whether or not the project
  exists (Keystone too cannot tell a non-admin caller), a missing one for an administrator is 404.

Writes (users, projects, domains, roles, services, endpoints, credentials) would need a user store: they
answer 501 with a message saying where identities live (``IDENTITIES_IN_ARKTOS``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import orjson

from extproc import arktos_paths
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.errors import Service, echo, error_reply, from_arktos
from extproc.identity import directory_views as dv
from extproc.messages import (
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
    json_reply,
)
from extproc.users import user_id_for_token

Json = dict[str, object]

UNAUTHORIZED = "The request you have made requires authentication."
IDENTITIES_IN_ARKTOS = (
    "The action you have requested has not been implemented: users, projects and roles live in Arktos "
    "(its tenants, token file or identity provider and RBAC); manage them there."
)


def forbidden(action: str) -> Reply:
    return error_reply(
        Service.IDENTITY, 403, f"You are not authorized to perform the requested action: identity:{action}."
    )


def _body(reply: ArktosReply) -> Mapping[str, object] | None:
    try:
        parsed = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _own_tenant(reply: ArktosReply) -> str | None:
    """The tenant of a short-path namespace GET reply (``metadata.tenant``; empty: the system tenant)."""
    body = _body(reply)
    meta = body.get("metadata") if body is not None else None
    if not isinstance(meta, dict):
        return None
    tenant = meta.get("tenant")
    return tenant if isinstance(tenant, str) and tenant else dv.views.SYSTEM_TENANT


def _refused(reply: ArktosReply, action: str) -> Reply:
    if reply.status == 401:
        return error_reply(Service.IDENTITY, 401, UNAUTHORIZED)
    if reply.status == 403:
        return forbidden(action)
    return from_arktos(Service.IDENTITY, reply)


def _for_caller(ctx: RequestContext, action: str, answer: Callable[[str], Reply]) -> Outcome:
    """``answer(tenant)`` once Arktos has told the caller's tenant (the short-path namespace GET)."""

    def translate(reply: ArktosReply) -> Reply:
        if reply.status != 200:
            return _refused(reply, action)
        tenant = _own_tenant(reply)
        if tenant is None:
            return from_arktos(Service.IDENTITY, reply)
        return answer(tenant)

    return Forward(ArktosRequest(method="GET", path=arktos_paths.namespace(ctx.config.namespace)), translate)


# ---------------------------------------------------------------------------------------------------------
# /v3/auth/*: what the token itself gives access to


def auth_projects(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    config = ctx.config
    return _for_caller(
        ctx,
        "list_user_projects",
        lambda tenant: json_reply(
            200, dv.projects_body(config, [dv.project(config, tenant)], "auth/projects", {})
        ),
    )


def auth_domains(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    config = ctx.config
    return _for_caller(
        ctx, "list_user_domains", lambda _: json_reply(200, dv.domains_body(config, "auth/domains", {}))
    )


def auth_catalog(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    config = ctx.config
    return _for_caller(
        ctx, "get_auth_catalog", lambda tenant: json_reply(200, dv.catalog_body(config, tenant))
    )


# ---------------------------------------------------------------------------------------------------------
# Projects and domains


def list_projects(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    config = ctx.config

    def translate(reply: ArktosReply) -> Reply:
        if reply.status != 200:
            return _refused(reply, "list_projects")
        body = _body(reply) or {}
        items = body.get("items")
        projects = [
            p
            for p in (dv.project_of_tenant(config, t) for t in (items if isinstance(items, list) else []))
            if p is not None
        ]
        shown = dv.filter_projects(sorted(projects, key=lambda p: str(p["name"])), req.query)
        return json_reply(200, dv.projects_body(config, shown, "projects", req.query))

    return Forward(ArktosRequest(method="GET", path=arktos_paths.tenants()), translate)


def show_project(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    config = ctx.config
    project_id = params["keystone_project_id"]

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 404:
            return error_reply(Service.IDENTITY, 404, f"Could not find project: {echo(project_id)}.")
        if reply.status != 200:
            return _refused(reply, "get_project")
        shown = dv.project_of_tenant(config, _body(reply) or {})
        if shown is None:
            return from_arktos(Service.IDENTITY, reply)
        return json_reply(200, {"project": shown})

    return Forward(ArktosRequest(method="GET", path=arktos_paths.tenant(project_id)), translate)


def list_domains(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    config = ctx.config

    def translate(reply: ArktosReply) -> Reply:
        if reply.status != 200:
            return _refused(reply, "list_domains")
        return json_reply(200, dv.domains_body(config, "domains", req.query))

    # Keystone lists domains to system readers only: Arktos's equivalent is who may list tenants.
    return Forward(ArktosRequest(method="GET", path=arktos_paths.tenants({"limit": "1"})), translate)


def show_domain(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    config = ctx.config
    domain_id = params["keystone_id"]
    if domain_id == dv.DEFAULT_DOMAIN_ID:
        return _for_caller(ctx, "get_domain", lambda _: json_reply(200, {"domain": dv.domain(config)}))

    def translate(reply: ArktosReply) -> Reply:
        # Only an administrator learns that a domain does not exist (as in Keystone).
        if reply.status != 200:
            return _refused(reply, "get_domain")
        return error_reply(Service.IDENTITY, 404, f"Could not find domain: {echo(domain_id)}.")

    return Forward(ArktosRequest(method="GET", path=arktos_paths.tenants({"limit": "1"})), translate)


# ---------------------------------------------------------------------------------------------------------
# The caller, its role assignments, the catalog as services and endpoints


def _for_self(
    ctx: RequestContext,
    req: ClientRequest,
    params: Mapping[str, str],
    action: str,
    answer: Callable[[str, str], Reply],
) -> Outcome:
    """``answer(user_id, tenant)`` when the user in the path is the caller; Keystone's 403 for another user
    (there is no user store to look anyone else up in: what Keystone answers a non-admin)."""
    user_id = params["keystone_id"]
    token = req.auth_token or ""

    def mine(tenant: str) -> Reply:
        if user_id != user_id_for_token(token):
            return forbidden(action)
        return answer(user_id, tenant)

    return _for_caller(ctx, action, mine)


def show_user(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    config = ctx.config
    return _for_self(
        ctx,
        req,
        params,
        "get_user",
        lambda me, tenant: json_reply(200, {"user": dv.user(config, me, tenant)}),
    )


def list_user_projects(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``/v3/users/{self}/projects`` (``openstack project list --my-projects``): ``auth/projects``."""
    config = ctx.config

    def answer(me: str, tenant: str) -> Reply:
        body = dv.projects_body(config, [dv.project(config, tenant)], f"users/{me}/projects", req.query)
        return json_reply(200, body)

    return _for_self(ctx, req, params, "list_user_projects", answer)


def list_role_assignments(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    config = ctx.config
    user_id = user_id_for_token(req.auth_token or "")
    return _for_caller(
        ctx,
        "list_role_assignments",
        lambda tenant: json_reply(200, dv.role_assignments_body(config, user_id, tenant, req.query)),
    )


def list_services(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    config = ctx.config

    def answer(tenant: str) -> Reply:
        shown = dv.filter_by(dv.services(config, tenant), req.query, ("type", "name"))
        return json_reply(
            200, {"services": shown, "links": dv.collection_links(config, "services", req.query)}
        )

    return _for_caller(ctx, "list_services", answer)


def _show_from_catalog(
    ctx: RequestContext,
    params: Mapping[str, str],
    kind: str,
    items: Callable[[GatewayConfig, str], list[Json]],
) -> Outcome:
    """One ``kind`` (service, endpoint) of the caller's catalog by id, Keystone's 404 for any other id."""
    config = ctx.config
    wanted = params["keystone_id"]

    def answer(tenant: str) -> Reply:
        for found in items(config, tenant):
            if found["id"] == wanted:
                return json_reply(200, {kind: found})
        return error_reply(Service.IDENTITY, 404, f"Could not find {kind}: {echo(wanted)}.")

    return _for_caller(ctx, f"get_{kind}", answer)


def show_service(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _show_from_catalog(ctx, params, "service", dv.services)


def list_endpoints(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    config = ctx.config

    def answer(tenant: str) -> Reply:
        shown = dv.filter_by(
            dv.endpoints(config, tenant), req.query, ("service_id", "interface", "region_id")
        )
        return json_reply(
            200, {"endpoints": shown, "links": dv.collection_links(config, "endpoints", req.query)}
        )

    return _for_caller(ctx, "list_endpoints", answer)


def show_endpoint(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _show_from_catalog(ctx, params, "endpoint", dv.endpoints)


def not_implemented(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """Writes that would need a user store (module docstring)."""
    return error_reply(Service.IDENTITY, 501, IDENTITIES_IN_ARKTOS)
