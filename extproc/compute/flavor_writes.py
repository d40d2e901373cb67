"""Writes of the cluster-wide flavors: ONE conditional write of the system tenant's ``openstack-flavors``
ConfigMap with the caller's token, so that Arktos's RBAC decides who may manage flavors (in Nova, an
administrator: here, whoever may write ConfigMaps in the system tenant).

Every change (``POST``/``DELETE /flavors``, ``os-flavor-access``, ``os-extra_specs`` writes) is computed from
the processor's copy of the ConfigMap (its watch, and the replies to its own writes) and sent as a JSON patch
that tests the resourceVersion it was computed from; another writer in between makes Arktos refuse it and the
client gets Nova's 409 to retry. While the ConfigMap does not exist the built-in defaults are the cluster-wide
set: the first write creates it with them.

A refusal decided from that copy (a name taken, a flavor not found...) could tell a caller who may not manage
flavors which private flavors exist: it is given only after Arktos has accepted a write of the ConfigMap by
this token (an authorizing no-op JSON patch that tests the ConfigMap's name), as Nova checks its policy first.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from extproc import arktos_paths
from extproc.annotations import FLAVORS_CONFIGMAP
from extproc.catalog import SYSTEM_TENANT
from extproc.catalog_configmaps import configmap_data, flavor_entry, parse_flavors
from extproc.catalog_entries import DEFAULT_FLAVORS, Flavor
from extproc.context import RequestContext
from extproc.errors import Service, error_reply, from_arktos
from extproc.messages import (
    JSON_CONTENT_TYPE,
    JSON_PATCH_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    Forward,
    Outcome,
    Reply,
)

RETRY = "The flavors were changed by another request at the same time; retry the request."

# (the cluster-wide flavors as known) -> the flavors to record, or Nova's refusal.
Change = Callable[[list[Flavor]], list[Flavor] | Reply]


def policy_refusal(policy: str) -> Reply:
    """Nova's 403 for a caller its policy does not allow (here: one Arktos does not let write there)."""
    return error_reply(Service.COMPUTE, 403, f"Policy doesn't allow {policy} to be performed.")


def write_flavors(
    ctx: RequestContext, policy: str, change: Change, done: Callable[[list[Flavor]], Reply]
) -> Outcome:
    """Apply ``change`` to the cluster-wide flavors in one Arktos write; ``done`` answers from the flavors
    Arktos recorded. ``policy`` names Nova's policy rule in the 403 of a caller Arktos refuses."""
    current = ctx.catalog.cluster_flavors_configmap()
    changed = change(ctx.catalog.cluster_flavors())
    namespace = ctx.config.namespace
    path = arktos_paths.configmap(SYSTEM_TENANT, namespace, FLAVORS_CONFIGMAP)
    if isinstance(changed, Reply):
        if current is None:
            # Decided from the built-in defaults: the same public facts for everyone.
            return changed
        return _refuse_after_arktos(path, policy, changed)

    keys = dict(current.keys) if current is not None else {}
    data: dict[str, str] = {}
    for flavor in changed:
        # Operators key entries by name (so does the first write, for the defaults); the gateway keys the
        # flavors it creates by id (always a valid key: ids are checked on create).
        key = keys.get(flavor.id) or (flavor.name if flavor in DEFAULT_FLAVORS else flavor.id)
        while key in data:
            key = f"{key}_"
        data[key] = flavor_entry(flavor)
    if current is None:
        document = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": FLAVORS_CONFIGMAP},
            "data": data,
        }
        upstream = ArktosRequest(
            "POST",
            arktos_paths.configmaps(SYSTEM_TENANT, namespace),
            orjson.dumps(document),
            JSON_CONTENT_TYPE,
        )
    else:
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": current.resource_version},
            {"op": "add", "path": "/data", "value": data},
        ]
        upstream = ArktosRequest("PATCH", path, orjson.dumps(ops), JSON_PATCH_CONTENT_TYPE)

    def translate(reply: ArktosReply) -> Reply:
        if reply.status in (200, 201):
            recorded = configmap_data(reply)
            return done(parse_flavors(recorded) if recorded is not None else changed)
        if reply.status == 403:
            return policy_refusal(policy)
        if reply.status in (404, 409, 422):
            # Created, changed or deleted by someone else since the processor's copy: nothing was written.
            return error_reply(Service.COMPUTE, 409, RETRY)
        return from_arktos(Service.COMPUTE, reply)

    return Forward(upstream, translate)


def _refuse_after_arktos(path: str, policy: str, refusal: Reply) -> Forward:
    """``refusal`` once Arktos has let the caller write the ConfigMap (a no-op patch: it only tests the
    name), else Nova's 403; a ConfigMap gone meanwhile is a 409 to retry."""
    probe = [{"op": "test", "path": "/metadata/name", "value": FLAVORS_CONFIGMAP}]

    def translate(reply: ArktosReply) -> Reply:
        if 200 <= reply.status < 300:
            return refusal
        if reply.status == 403:
            return policy_refusal(policy)
        if reply.status in (404, 409, 422):
            return error_reply(Service.COMPUTE, 409, RETRY)
        return from_arktos(Service.COMPUTE, reply)

    return Forward(ArktosRequest("PATCH", path, orjson.dumps(probe), JSON_PATCH_CONTENT_TYPE), translate)
