"""Arktos's own read decisions, remembered for a few seconds: what lets a read skip the Arktos round trip.

Why: a GET the processor's watch caches can answer (a server, the flavors and images) still
costs an Arktos exchange per request only so that Arktos authorizes it. As kube-apiserver's webhook
authorization cache and keystonemiddleware's token cache do, the processor remembers Arktos's yes for a short
time (``ttl``, ``--auth-cache-ttl``) and, while it is fresh, answers the very same read from its caches at the
request-headers phase (one gRPC message pair, no Arktos call).

What counts as Arktos's yes: a 2xx Arktos gave to a GET the processor forwarded with that token. The decision
is keyed exactly as Arktos authorized it: sha256 of the token (never the token), the tenant and namespace of
the path, the verb (``get`` of a named object, ``list`` of a collection), the API group and resource, and
the object's name (RBAC may grant single names, so a yes for one pod says nothing about another). A short
path (no tenant in it) is keyed as such, and the decision keeps the tenant Arktos resolved for the token (the
tenant of the object it answered with); a short-path list, whose reply names no tenant when it is empty, is
never remembered. Anything else (writes, watches, subresources, unparsed paths) is never a decision.

Deny on doubt: no decision, an expired one, another token, tenant, namespace, verb, resource or name: the
read is forwarded and Arktos decides, as with ``ttl`` 0 (nothing is recorded, every read reaches Arktos).
A decision is not refreshed by being used, only by Arktos's next 2xx: a revoked token or a removed role
binding is honoured at most ``ttl`` seconds late (README, security notes). At most ``capacity`` decisions
are kept (least recently recorded evicted first). Used only on the asyncio loop, so no lock.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_TTL_SECONDS = 5.0
DEFAULT_CAPACITY = 10_000
# The tenant of a decision on a short path, in the key (no Arktos tenant has an empty name).
SHORT_PATH = ""


@dataclass(frozen=True, slots=True)
class Access:
    """The attributes Arktos authorizes a read by (Kubernetes's ``ResourceAttributes`` plus the tenant)."""

    tenant: str  # SHORT_PATH for a short path; "all" for /tenants/all
    namespace: str  # "" for a resource outside namespaces, or every namespace
    verb: str  # "get" or "list"
    group: str
    resource: str
    name: str  # "" for a list


def access_of(method: str, path: str) -> Access | None:
    """The authorization attributes of an Arktos read, or None when it is no plain get/list (module doc)."""
    if method != "GET":
        return None
    path, _, query = path.partition("?")
    if "watch" in query:
        return None  # a watch is another verb
    parts = path.split("/")
    # "/api/v1/..." -> ["", "api", "v1", ...]; "/apis/<group>/<version>/..." -> ["", "apis", g, v, ...]
    if len(parts) < 4 or parts[0] != "":
        return None
    if parts[1] == "api" and parts[2] == "v1":
        group, rest = "", parts[3:]
    elif parts[1] == "apis" and len(parts) >= 5:
        group, rest = parts[2], parts[4:]
    else:
        return None
    if any(not part for part in rest):
        return None
    tenant = SHORT_PATH
    if len(rest) >= 3 and rest[0] == "tenants":
        tenant, rest = rest[1], rest[2:]
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if len(rest) == 1:
        return Access(tenant, namespace, "list", group, rest[0], "")
    if len(rest) == 2 and tenant != "all":
        return Access(tenant, namespace, "get", group, rest[0], rest[1])
    return None  # a subresource, a cluster object or something else: Arktos decides each time


def _token_key(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class AccessDecisions:
    def __init__(
        self,
        ttl: float = DEFAULT_TTL_SECONDS,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self.clock = clock
        # (token hash, Access) -> (expiry, the tenant Arktos answered in)
        self._decisions: OrderedDict[tuple[bytes, Access], tuple[float, str]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.capacity > 0

    def __len__(self) -> int:
        return len(self._decisions)

    def record(self, token: str | None, method: str, path: str, status: int, tenant: str | None) -> None:
        """Remember Arktos's 2xx to ``token`` for the read ``method path``; ``tenant`` is the tenant it
        answered in (the path's; for a short path the reply object's, None when the reply names none)."""
        if not self.enabled or not token or not 200 <= status < 300:
            return
        access = access_of(method, path)
        if access is None:
            return
        if access.tenant != SHORT_PATH:
            tenant = access.tenant
        elif not tenant or access.verb != "get":
            return
        self.record_access(token, access, tenant)

    def record_access(self, token: str, access: Access, tenant: str) -> None:
        """Remember that Arktos let ``token`` make the read ``access`` in ``tenant`` (a 2xx or a review)."""
        if not self.enabled or not token or not tenant:
            return
        key = (_token_key(token), access)
        decisions = self._decisions
        decisions.pop(key, None)
        decisions[key] = (self.clock() + self.ttl, tenant)
        while len(decisions) > self.capacity:
            decisions.popitem(last=False)

    def allowed_tenant(self, token: str | None, method: str, path: str) -> str | None:
        """The tenant Arktos let ``token`` read ``method path`` in within ``ttl`` seconds, else None."""
        if not self.enabled or not token:
            return None
        access = access_of(method, path)
        if access is None:
            return None
        key = (_token_key(token), access)
        found = self._decisions.get(key)
        if found is None:
            return None
        expiry, tenant = found
        if self.clock() >= expiry:
            del self._decisions[key]
            return None
        return tenant
