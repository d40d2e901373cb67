"""Credentials on the mirror: which Arktos token a mirrored request carries, and none ever in a capture.

The primary's Keystone tokens mean nothing to Arktos. ``--shadow-tokens`` names, per project of the
primary (its id or its name), the Arktos token the shadow is called with. A mirrored request's project is
the one the primary's Keystone scoped its token to: learned from the primary's reply to the token request
(``X-Subject-Token`` + ``token.project``), remembered by the token's SHA-256 only (bounded). The mirrored
token request itself becomes a token-method request with the mapped Arktos token (the gateway's Keystone
then scopes it to that token's own tenant).

Pure, no I/O except ``load_shadow_tokens``.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REDACTED = "***"
DEFAULT_MAX_TOKENS = 10_000


class ShadowTokensError(ValueError):
    pass


def load_shadow_tokens(path: Path) -> dict[str, str]:
    """The ``--shadow-tokens`` YAML file: a mapping of project id or name -> Arktos token (strings)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ShadowTokensError(f"cannot read {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ShadowTokensError(f"{path}: expected a mapping of project id or name to Arktos token")
    tokens: dict[str, str] = {}
    for project, token in data.items():
        if not isinstance(token, str) or not token or isinstance(project, (dict, list)) or project is None:
            raise ShadowTokensError(f"{path}: project {project!r} needs a non-empty token string")
        tokens[str(project)] = token
    return tokens


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str

    def label(self) -> str:
        return self.name if self.name == self.id or not self.name else f"{self.name} ({self.id})"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class TokenProjects:
    """The primary's tokens (by digest) -> the project their reply scoped them to; the newest kept."""

    def __init__(self, max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        self._by_digest: OrderedDict[str, Project] = OrderedDict()
        self._max = max_tokens

    def learn(self, token: str, project: Project) -> None:
        key = _digest(token)
        self._by_digest[key] = project
        self._by_digest.move_to_end(key)
        while len(self._by_digest) > self._max:
            self._by_digest.popitem(last=False)

    def project_of(self, token: str) -> Project | None:
        return self._by_digest.get(_digest(token))

    def __len__(self) -> int:
        return len(self._by_digest)


def _dict(value: Any, key: str) -> dict[str, Any]:
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def token_reply_project(body: Any) -> Project | None:
    """``token.project`` of a Keystone v3 token reply (None for an unscoped token)."""
    project = _dict(_dict(body, "token"), "project")
    ident, name = project.get("id"), project.get("name")
    if not isinstance(ident, str) or not ident:
        return None
    return Project(ident, name if isinstance(name, str) else "")


def requested_project(body: Any) -> tuple[str | None, str | None]:
    """(id, name) of the project a Keystone v3 token request asks to be scoped to."""
    project = _dict(_dict(_dict(body, "auth"), "scope"), "project")
    ident, name = project.get("id"), project.get("name")
    return (ident if isinstance(ident, str) else None, name if isinstance(name, str) else None)


def shadow_token_for(tokens: Mapping[str, str], ident: str | None, name: str | None) -> str | None:
    """The mapped Arktos token of a project (its id first, then its name)."""
    for key in (ident, name):
        if key and key in tokens:
            return tokens[key]
    return None


def shadow_auth_body(arktos_token: str) -> dict[str, Any]:
    """The token request the shadow receives: the token method with the mapped Arktos token, no scope
    (the gateway scopes it to that token's tenant; the primary's project name may not be an Arktos tenant)."""
    return {"auth": {"identity": {"methods": ["token"], "token": {"id": arktos_token}}}}


def redact_body(body: Any) -> Any:
    """``body`` without the secrets a Keystone token request carries (passwords, token ids, secrets)."""
    identity = _dict(_dict(body, "auth"), "identity")
    if not identity:
        return body
    redacted = copy.deepcopy(body)
    identity = redacted["auth"]["identity"]
    for method in ("password", "application_credential", "totp"):
        section = identity.get(method)
        user = section.get("user") if isinstance(section, dict) else None
        for holder in (section, user):
            if isinstance(holder, dict):
                for secret in ("password", "secret", "passcode"):
                    if secret in holder:
                        holder[secret] = REDACTED
    token = identity.get("token")
    if isinstance(token, dict) and "id" in token:
        token["id"] = REDACTED
    return redacted
