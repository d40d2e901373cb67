"""Parsing of Keystone v3 ``POST /auth/tokens`` bodies.

The gateway keeps no credentials: whatever secret the client sends (the ``password`` of the password method,
or the ``id`` of the token method) *is* the Arktos bearer token, and the issued Keystone token is that same
string. Only the structure is checked here; Arktos decides whether the token is any good.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from extproc import client_json
from extproc.ids import ALL_TENANTS_KEYWORD

SUPPORTED_METHODS = ("password", "token")
# The name shown for a user Keystone would know by name only: Arktos does not tell who a token belongs to.
ANONYMOUS_USER_NAME = "arktos-user"
# An Arktos tenant name is a DNS-1123 label.
TENANT_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# A bearer token goes into HTTP headers (Authorization, X-Subject-Token): visible ASCII only.
_TOKEN_RE = re.compile(r"^[\x21-\x7e]{1,8192}$")

_MALFORMED = (
    " The server could not comply with the request since it is either malformed or otherwise incorrect."
    " The client is assumed to be in error."
)


class AuthBadRequest(ValueError):
    """The body is not a well-formed Keystone auth request: 400."""


class AuthRefused(ValueError):
    """Well-formed, but this gateway cannot authenticate it (unsupported method or scope, bad name): 401."""


@dataclass(frozen=True, slots=True)
class AuthRequest:
    methods: tuple[str, ...]
    # The Arktos bearer token (and the Keystone token id the client will send back).
    token: str
    user_name: str
    # The requested project (an Arktos tenant); None: not named, use the token's own tenant.
    project: str | None
    # "scope": "unscoped": issue a token without project, roles or catalog.
    unscoped: bool = False


def _missing(attribute: str, target: str) -> AuthBadRequest:
    return AuthBadRequest(f"Expecting to find {attribute} in {target}.{_MALFORMED}")


def _object(parent: dict[str, Any], key: str, target: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise _missing(key, target)
    return value


def _credential(value: Any, attribute: str, target: str) -> str:
    if not isinstance(value, str):
        raise _missing(attribute, target)
    if not _TOKEN_RE.match(value):
        # An empty or unprintable secret cannot be an Arktos token.
        raise AuthRefused("The request you have made requires authentication.")
    return value


def _name_or_id(entity: dict[str, Any], target: str) -> tuple[str | None, str | None]:
    entity_id = entity.get("id")
    name = entity.get("name")
    if entity_id is None and name is None:
        raise _missing("id or name", target)
    for value in (entity_id, name):
        if value is not None and (not isinstance(value, str) or not value):
            raise AuthBadRequest(f"Invalid input for field '{target}': id and name must be strings.")
    domain = entity.get("domain")
    if domain is not None and (
        not isinstance(domain, dict)
        or not (isinstance(domain.get("id"), str) or isinstance(domain.get("name"), str))
    ):
        raise _missing("id or name", "domain")
    return entity_id, name


def _password(identity: dict[str, Any]) -> tuple[str, str]:
    password = _object(identity, "password", "identity")
    user = _object(password, "user", "password")
    _user_id, name = _name_or_id(user, "user")
    token = _credential(user.get("password"), "password", "user")
    # NOTE: a user named only by id shows as ANONYMOUS_USER_NAME: there is no user table to look it up in.
    return token, name or ANONYMOUS_USER_NAME


def _token(identity: dict[str, Any]) -> str:
    token = _object(identity, "token", "identity")
    return _credential(token.get("id"), "id", "token")


def _scope(auth: dict[str, Any]) -> tuple[str | None, bool]:
    scope = auth.get("scope")
    if scope is None:
        return None, False
    if scope == "unscoped":
        return None, True
    if not isinstance(scope, dict) or not scope:
        raise AuthBadRequest(f"Invalid input for field 'scope': {scope!r} is not valid.{_MALFORMED}")
    project = scope.get("project")
    if project is None:
        # domain, system and trust scopes have no Arktos counterpart.
        raise AuthRefused("Only project scope (an Arktos tenant) is supported by this gateway.")
    if not isinstance(project, dict):
        raise _missing("project", "scope")
    project_id, name = _name_or_id(project, "project")
    tenant = project_id or name or ""
    if not TENANT_RE.match(tenant) or tenant == ALL_TENANTS_KEYWORD:
        # Not an Arktos tenant name, so not a project anyone can be authorized for.
        raise AuthRefused("The request you have made requires authentication.")
    return tenant, False


def parse_auth_request(body: bytes) -> AuthRequest:
    """The auth request in ``body``; raises ``AuthBadRequest`` (400) or ``AuthRefused`` (401)."""
    try:
        document = client_json.loads(body)
    except orjson.JSONDecodeError:
        raise AuthBadRequest(f"Malformed JSON in request body.{_MALFORMED}") from None
    if not isinstance(document, dict):
        raise _missing("auth", "request body")
    auth = _object(document, "auth", "request body")
    identity = _object(auth, "identity", "auth")
    methods = identity.get("methods")
    if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
        raise _missing("methods", "identity")
    unsupported = [m for m in methods if m not in SUPPORTED_METHODS]
    if unsupported:
        raise AuthRefused(f"Attempted to authenticate with an unsupported method: {', '.join(unsupported)}.")
    credentials: list[str] = []
    user_name = ANONYMOUS_USER_NAME
    if "password" in methods:
        token, user_name = _password(identity)
        credentials.append(token)
    if "token" in methods:
        credentials.append(_token(identity))
    if len(set(credentials)) != 1:
        # NOTE: Keystone requires every method to identify the same user; two different secrets cannot.
        raise AuthRefused("The request you have made requires authentication.")
    project, unscoped = _scope(auth)
    return AuthRequest(
        methods=tuple(dict.fromkeys(methods)),
        token=credentials[0],
        user_name=user_name,
        project=project,
        unscoped=unscoped,
    )
