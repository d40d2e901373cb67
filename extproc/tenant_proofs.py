"""Which tenants Arktos has recently let a client token into: a bounded, expiring memory of 2xx answers.

Why: some answers can be given from the watch-fed cache (``extproc.cluster_cache``) without asking Arktos,
e.g. Nova's 409 "Cannot 'reboot' instance <id> while it is in vm_state stopped". Answering from the cache
before Arktos authorized the caller would tell anyone who knows a server's UUID the state of another
tenant's server. So the cache may decide only for a token that Arktos has recently answered with a 2xx on
a path of that very tenant (clients always GET a server, or at least issue a token, before acting on it).
Any other request is forwarded and Arktos decides, as for everything else.

What is remembered: sha256(token) -> {tenant: when Arktos last said 2xx}, never the token itself; at most
``capacity`` tokens (least recently proven evicted first), each proof valid for ``ttl`` seconds so a revoked
token stops counting soon. ``ALL_TENANTS`` records a 2xx on ``/tenants/all/...`` (a system administrator).
Used only on the asyncio loop (the app records after each translated reply), so no lock.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable

ALL_TENANTS = "*"
DEFAULT_CAPACITY = 10_000
DEFAULT_TTL_SECONDS = 600.0

# The tenant segment of an Arktos tenant path: /api/v1/tenants/<t>/..., /apis/<group>/<v>/tenants/<t>/...
_TENANT_PATH = re.compile(r"^/(?:api/v1|apis/[^/]+/[^/]+)/tenants/([^/?]+)(?:[/?]|$)")


def tenant_of_path(path: str) -> str | None:
    """The tenant an Arktos path names (``ALL_TENANTS`` for ``tenants/all``), None for short paths."""
    found = _TENANT_PATH.match(path)
    if found is None:
        return None
    tenant = found.group(1)
    return ALL_TENANTS if tenant == "all" else tenant


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class TenantProofs:
    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        ttl: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.ttl = ttl
        self.clock = clock
        self._proofs: OrderedDict[str, dict[str, float]] = OrderedDict()
        # sha256(token) -> the tenant Arktos resolves the token's short paths to (see ``own_tenant``).
        self._own: OrderedDict[str, str] = OrderedDict()

    def record(self, token: str | None, arktos_path: str, status: int) -> None:
        """Remember a 2xx answer from Arktos to ``token`` on ``arktos_path`` (anything else is ignored)."""
        if not token or not 200 <= status < 300:
            return
        tenant = tenant_of_path(arktos_path)
        if tenant is None:
            return
        key = _key(token)
        tenants = self._proofs.pop(key, None) or {}
        tenants[tenant] = self.clock()
        self._proofs[key] = tenants
        while len(self._proofs) > self.capacity:
            self._proofs.popitem(last=False)

    def proven(self, token: str | None, tenant: str | None) -> bool:
        """True if Arktos answered ``token`` 2xx on ``tenant`` (or on all tenants) within ``ttl`` seconds."""
        if not token or not tenant:
            return False
        tenants = self._proofs.get(_key(token))
        if not tenants:
            return False
        oldest = self.clock() - self.ttl
        return any(tenants.get(t, -1e18) >= oldest for t in (tenant, ALL_TENANTS))

    def tenants(self, token: str | None) -> list[str]:
        """The tenants (not "all tenants") Arktos answered ``token`` 2xx in within ``ttl``, newest first.

        For requests whose URL names no tenant (Glance's): which tenant's catalog a write is about.
        """
        tenants = self._proofs.get(_key(token)) if token else None
        if not tenants:
            return []
        oldest = self.clock() - self.ttl
        fresh = [
            (when, tenant) for tenant, when in tenants.items() if when >= oldest and tenant != ALL_TENANTS
        ]
        return [tenant for _, tenant in sorted(fresh, reverse=True)]

    def learn_own_tenant(self, token: str | None, tenant: str | None) -> None:
        """Remember that Arktos resolved ``token``'s short path to ``tenant`` (a 2xx reply naming it)."""
        if not token or not tenant:
            return
        key = _key(token)
        self._own.pop(key, None)
        self._own[key] = tenant
        while len(self._own) > self.capacity:
            self._own.popitem(last=False)

    def own_tenant(self, token: str | None) -> str | None:
        """The tenant of ``token``'s short paths, if Arktos has told (None: only Arktos knows).

        Not a proof of access (it never expires: a token's tenant does not change): it only says which
        tenant's catalog a short-path request is about. Arktos still authorizes every write on the short path.
        """
        return self._own.get(_key(token)) if token else None
