"""Arktos speaks first: a refusal decided from the processor's own knowledge (the watch-fed catalog or
cluster cache) reaches a client only after Arktos has let the client's token into the tenant it is about.

Why: the catalog and the cache hold every tenant's flavors, images, snapshots and pods (the processor
watches them with its own credential). A create that answered "Flavor x could not be found." at once for a
flavor that exists nowhere, but was forwarded (and refused 403 by Arktos) for another tenant's flavor,
told anyone which flavors, images and snapshots another tenant has. So a refusal built from that
knowledge is given:

- at once when the facts consulted are nobody's in particular (the built-in defaults of a short path), or
  when Arktos has recently answered this very token 2xx in the tenant they belong to (``tenant_proofs``,
  as the cached lists and Nova's state rules do);
- otherwise after one authorizing GET with the client's token (the probe): on a 2xx the refusal, on
  anything else Arktos's answer in OpenStack's words. For a caller Arktos does not admit, the answer is
  then Arktos's 403 whatever the object: the same as when the request itself is forwarded.

The probe reads what the refusal is about (the tenant's catalog ConfigMap, the server), so a 404 either
means "nothing there" (a ConfigMap's absence: the built-in defaults apply, the refusal stands) or is the
refusal that comes first in Nova (an instance that does not exist).
"""

from __future__ import annotations

from extproc.context import RequestContext
from extproc.errors import Service, from_arktos
from extproc.messages import ArktosReply, ArktosRequest, Forward, Outcome, Reply


def refuse_after_arktos(
    ctx: RequestContext,
    token: str | None,
    refusal: Reply,
    consulted_tenant: str | None,
    probe_path: str,
    *,
    missing: Reply | None = None,
    service: Service = Service.COMPUTE,
) -> Outcome:
    """``refusal``, once Arktos has let ``token`` into the tenant whose data decided it (module docstring).

    ``consulted_tenant`` is the tenant whose catalog or cache entries were read (None: only the built-in
    defaults); ``probe_path`` an Arktos GET in the URL's tenant (or the short path) of what the refusal is
    about; ``missing`` the answer to the probe's 404 (None: the refusal stands).
    """
    if consulted_tenant is None and ctx.tenant is None:
        return refusal
    proofs = ctx.proofs
    if (
        consulted_tenant is not None
        and consulted_tenant == ctx.tenant
        and proofs is not None
        and proofs.proven(token, consulted_tenant)
    ):
        return refusal

    def translate(reply: ArktosReply) -> Reply:
        if 200 <= reply.status < 300:
            return refusal
        if reply.status == 404:
            return missing if missing is not None else refusal
        return from_arktos(service, reply)

    return Forward(ArktosRequest(method="GET", path=probe_path), translate)
