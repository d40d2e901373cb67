"""Keystone v3 facade handlers: version discovery and ``/v3/auth/tokens``.

There is no credential store. A client "logs in" with its Arktos bearer token as the password (or as the
token of the token method); the gateway proves it with ONE Arktos call made with that token, and the Keystone
token it issues is the very same string, so every later request's ``X-Auth-Token`` is what Arktos checks:

- project named in the scope: ``GET /api/v1/tenants/<project>/namespaces/<ns>``; 200 proves both the token
  and its access to that tenant;
- no project: the short path ``GET /api/v1/namespaces/<ns>``, whose ``metadata.tenant`` is the token's own
  tenant; the token is scoped to it (as Keystone scopes to a user's default project).

Limits, by design:
- ``DELETE /v3/auth/tokens`` cannot revoke: Arktos tokens live in Arktos's token file or identity provider,
  which the gateway cannot change. It answers as Keystone answers an operation it does not implement (501
  ``NotImplemented``, saying why) rather than a 204 that would claim a revocation. Remove the token there.
- ``GET``/``HEAD /v3/auth/tokens`` validate the subject token against Arktos; the caller's own
  ``X-Auth-Token`` must be present but is not checked again (one Arktos call per request).
- ``expires_at`` is a promise made by the gateway (12 hours), not by Arktos.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from extproc import arktos_paths
from extproc.context import RequestContext
from extproc.errors import Service, error_reply, from_arktos
from extproc.identity import views
from extproc.identity.auth_request import (
    ANONYMOUS_USER_NAME,
    AuthBadRequest,
    AuthRefused,
    parse_auth_request,
)
from extproc.messages import (
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
    json_reply,
)

UNAUTHORIZED = "The request you have made requires authentication."
TOKEN_NOT_FOUND = "Could not find token."
SUBJECT_TOKEN_HEADER = "x-subject-token"


def _unauthorized(message: str = UNAUTHORIZED) -> Reply:
    return error_reply(Service.IDENTITY, 401, message)


def token_tenant(reply: ArktosReply) -> str | None:
    """The tenant of a short-path namespace GET reply (``metadata.tenant``), None if the body is not one."""
    try:
        body = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None
    metadata = body.get("metadata") if isinstance(body, dict) else None
    if not isinstance(metadata, dict):
        return None
    tenant = metadata.get("tenant")
    # NOTE: objects of the system tenant may carry an empty tenant field; their users' tenant is "system".
    return tenant if isinstance(tenant, str) and tenant else views.SYSTEM_TENANT


def _with_catalog(req: ClientRequest) -> bool:
    return "nocatalog" not in req.query


# ---------------------------------------------------------------------------------------------------------
# Versions


def versions(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return json_reply(300, views.versions(ctx.config), {"location": views.v3_url(ctx.config)})


def v3_version(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return json_reply(200, views.version(ctx.config))


# ---------------------------------------------------------------------------------------------------------
# Tokens


def issue_token(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    try:
        auth = parse_auth_request(req.body)
    except AuthBadRequest as exc:
        return error_reply(Service.IDENTITY, 400, str(exc))
    except AuthRefused as exc:
        return _unauthorized(str(exc))

    namespace = ctx.config.namespace
    path = (
        arktos_paths.tenant_namespace(auth.project, namespace)
        if auth.project is not None
        else arktos_paths.namespace(namespace)
    )
    with_catalog = _with_catalog(req)

    def translate(reply: ArktosReply) -> Reply:
        if reply.status in (401, 403, 404):
            # Wrong token, no access to the tenant, or no such tenant: all the same to a Keystone client.
            return _unauthorized()
        if reply.status != 200:
            return from_arktos(Service.IDENTITY, reply)
        tenant = auth.project
        if tenant is None:
            tenant = token_tenant(reply)
            if tenant is None:
                return from_arktos(Service.IDENTITY, reply)
            if ctx.proofs is not None:
                # The short path's tenant: which catalog the token's short-path creates resolve in.
                ctx.proofs.learn_own_tenant(auth.token, tenant)
        body = views.token_body(
            ctx.config,
            token=auth.token,
            methods=auth.methods,
            user_name=auth.user_name,
            tenant=None if auth.unscoped else tenant,
            issued_at=views.now(),
            audit=views.audit_id(),
            with_catalog=with_catalog,
        )
        return json_reply(201, body, {SUBJECT_TOKEN_HEADER: auth.token})

    return Forward(ArktosRequest(method="GET", path=path, bearer_token=auth.token), translate)


def validate_token(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """GET (token body) and HEAD (no body) ``/v3/auth/tokens`` for the token in ``X-Subject-Token``."""
    if not req.auth_token:
        return _unauthorized()
    subject = req.headers.get("x-subject-token", "")
    if not subject:
        return error_reply(Service.IDENTITY, 400, "Expecting to find X-Subject-Token in request headers.")
    head = req.method == "HEAD"
    with_catalog = _with_catalog(req)

    def translate(reply: ArktosReply) -> Reply:
        if reply.status in (401, 403):
            return error_reply(Service.IDENTITY, 404, TOKEN_NOT_FOUND)
        if reply.status != 200:
            return from_arktos(Service.IDENTITY, reply)
        tenant = token_tenant(reply)
        if tenant is None:
            return from_arktos(Service.IDENTITY, reply)
        if head:
            return Reply(status=200, headers={SUBJECT_TOKEN_HEADER: subject})
        body = views.token_body(
            ctx.config,
            token=subject,
            # NOTE: how the token was first obtained is not recorded anywhere; "token" is always true.
            methods=("token",),
            user_name=ANONYMOUS_USER_NAME,
            tenant=tenant,
            issued_at=views.now(),
            audit=views.audit_id(),
            with_catalog=with_catalog,
        )
        return json_reply(200, body, {SUBJECT_TOKEN_HEADER: subject})

    upstream = ArktosRequest(
        method="GET", path=arktos_paths.namespace(ctx.config.namespace), bearer_token=subject
    )
    return Forward(upstream, translate)


# keystone.exception.NotImplemented's message, followed by why.
REVOKE_NOT_IMPLEMENTED = (
    "The action you have requested has not been implemented. This gateway cannot revoke a token: it is an "
    "Arktos token, valid until it is removed from Arktos's token file or identity provider."
)


def revoke_token(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """Keystone's 501 NotImplemented: the gateway cannot invalidate an Arktos token (see module doc)."""
    if not req.auth_token:
        return _unauthorized()
    if not req.headers.get("x-subject-token"):
        return error_reply(Service.IDENTITY, 400, "Expecting to find X-Subject-Token in request headers.")
    return error_reply(Service.IDENTITY, 501, REVOKE_NOT_IMPLEMENTED)
