"""Identity and authorization, as the Arktos API server decides them.

Token file (``--token-auth-file`` format): ``token,user,uid,"group1,group2"[,,tenant]``; a missing tenant
column means tenant ``system``. Authorization model of the simulator (Arktos's RBAC after its bootstrap):

* system-tenant users in group ``system:masters`` may do anything, in any tenant, including ``tenants/all``
  and the cluster-scoped ``/api/v1/tenants``;
* every other authenticated user may do anything inside their own tenant and nothing elsewhere;
* requests without credentials run as ``system:anonymous`` and are denied (403); a wrong token is 401.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from . import status

SYSTEM_TENANT = "system"
ALL_TENANTS = "all"
MASTERS_GROUP = "system:masters"


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    tenant: str = SYSTEM_TENANT
    anonymous: bool = False

    @property
    def is_master(self) -> bool:
        return not self.anonymous and self.tenant == SYSTEM_TENANT and MASTERS_GROUP in self.groups


ANONYMOUS = User(name="system:anonymous", groups=("system:unauthenticated",), tenant="", anonymous=True)


@dataclass
class TokenFile:
    users: dict[str, User] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> TokenFile:
        users: dict[str, User] = {}
        for row in csv.reader(io.StringIO(text)):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 3:
                raise ValueError(f"token file line needs at least token,user,uid: {row!r}")
            token, name, uid = (c.strip() for c in row[:3])
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            tenant = row[5].strip() if len(row) > 5 and row[5].strip() else SYSTEM_TENANT
            users[token] = User(name=name, uid=uid, groups=groups, tenant=tenant.lower())
        return cls(users)

    @classmethod
    def load(cls, path: str | Path) -> TokenFile:
        return cls.parse(Path(path).read_text(encoding="utf-8"))

    def tenants(self) -> list[str]:
        return sorted({u.tenant for u in self.users.values()})

    def authenticate(self, authorization: str | None) -> User:
        """``Authorization`` header → user; no credentials → anonymous; a wrong token raises 401."""
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise status.unauthorized()
        user = self.users.get(token.strip())
        if user is None:
            raise status.unauthorized()
        return user


def effective_tenant(user: User, path_tenant: str | None) -> str:
    """The tenant a request addresses: the path's, or the caller's own for a short path."""
    if path_tenant is not None:
        return path_tenant
    return user.tenant or SYSTEM_TENANT


def allowed(user: User, tenant: str | None) -> bool:
    """May ``user`` act on ``tenant`` (``None``: cluster scope, ``"all"``: every tenant)?"""
    if user.anonymous:
        return False
    if user.is_master:
        return True
    if tenant is None or tenant == ALL_TENANTS:
        return False
    return tenant == user.tenant


def forbidden(
    user: User, verb: str, resource: str, group: str, name: str | None, namespace: str | None
) -> status.ApiError:
    # Arktos scopes a tenant user's cluster-level request to its tenant (recorded: fixtures 73-76).
    if namespace:
        where = f'in the namespace "{namespace}"'
    elif user.tenant and not user.is_master:
        where = f'in the tenant "{user.tenant}"'
    else:
        where = "at the cluster scope"
    text = f'User "{user.name}" cannot {verb} resource "{resource}" in API group "{group}" {where}'
    return status.forbidden(resource, group, name, text)
