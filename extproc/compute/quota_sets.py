"""Nova's quota sets (``/os-quota-sets/{project}``) and absolute limits (``/limits``).

Every answer that says something about a tenant comes after Arktos let the client's token read that tenant's
ResourceQuotas (one list with the client's token); the values are ``extproc.compute.tenant_quota``'s mapping:

- ``GET /os-quota-sets/{project}``: the limits (``quota_set`` with ``id``), from the listed quotas;
- ``GET /os-quota-sets/{project}/detail``: ``{"in_use", "limit", "reserved"}`` per resource, in use counted
  from the tenant's VM pods in the processor's watch cache (read only after Arktos answered the list);
- ``GET /os-quota-sets/{project}/defaults``: what a tenant without any ResourceQuota has (instances, cores,
  ram unlimited), answered without Arktos as Nova answers it from its configuration;
- ``PUT /os-quota-sets/{project}``: one write of a ResourceQuota with the client's token (Arktos decides
  who may: Nova's policy 403 otherwise): a merge patch of ``spec.hard`` of the quota ``write_target``
  chooses, or the creation of the gateway's own ``openstack-compute``. A limit below what is in use is
  Nova's 400 unless ``force`` (checked when the cache may tell: a token Arktos let into the tenant). Only
  instances, cores and ram are Arktos quotas; another resource set to another value than the gateway's is a
  400 saying so. ``?user_id=`` (Nova's per-user quotas) is a 400: Arktos has no per-user quotas;
- ``GET /limits`` (``?tenant_id=`` for another project): Nova's ``absolute`` limits and usage.

Microversions, as Nova's controllers gate them:
- 2.36: the nova-network resources (``fixed_ips``, ``floating_ips``, ``security_groups``,
  ``security_group_rules``) leave quota sets; ``maxTotalFloatingIps``, ``maxSecurityGroups``,
  ``maxSecurityGroupRules`` and their usage leave ``/limits``;
- 2.39: ``maxImageMeta`` goes (the image-metadata proxy is gone);
- 2.57: the personality resources (``injected_files``, ``injected_file_content_bytes``,
  ``injected_file_path_bytes``; ``maxPersonality``, ``maxPersonalitySize``) go;
- 2.75: an unknown query parameter is a 400 (``extproc.compute.query_schema``; 2.102 for ``defaults``).
An update naming a resource no longer shown is Nova's 400 (its schema no longer lists it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from jsonschema import Draft4Validator

from extproc import arktos_paths, client_json, ids
from extproc.compute import schemas, tenant_quota
from extproc.compute.query_schema import ALL_QUERIES_STRICT_FROM, STRING, QuerySchema, multi
from extproc.compute.quota import pod_quota
from extproc.compute.tenant_quota import COUNTED, FIXED_LIMITS, MAX_LIMIT, QuotaChange
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, echo, error_reply, from_arktos
from extproc.messages import (
    JSON_CONTENT_TYPE,
    MERGE_PATCH_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
    json_reply,
)

Json = dict[str, Any]
Version = tuple[int, int]

# -- microversions (nova/api/openstack/compute/quota_sets.py, limits.py) --------------------------------

NETWORK_QUOTAS_GONE_FROM: Version = (2, 36)
NETWORK_QUOTAS = frozenset({"fixed_ips", "floating_ips", "security_group_rules", "security_groups"})
IMAGE_META_LIMIT_GONE_FROM: Version = (2, 39)
PERSONALITY_QUOTAS_GONE_FROM: Version = (2, 57)
PERSONALITY_QUOTAS = frozenset({"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"})


def hidden_resources(version: Version) -> frozenset[str]:
    """The quota resources Nova no longer shows (nor accepts in an update) at ``version``."""
    hidden: frozenset[str] = frozenset()
    if version >= NETWORK_QUOTAS_GONE_FROM:
        hidden |= NETWORK_QUOTAS
    if version >= PERSONALITY_QUOTAS_GONE_FROM:
        hidden |= PERSONALITY_QUOTAS
    return hidden


def shown_resources(version: Version) -> tuple[str, ...]:
    hidden = hidden_resources(version)
    return tuple(name for name in tenant_quota.RESOURCES if name not in hidden)


# Query parameters (schemas/quota_sets.py, limits.py): user_id on a project's quota (Arktos has none per user:
# shown the same, refused on update), tenant_id on /limits; defaults takes none.
_PROJECT_QUERY = QuerySchema({"user_id": multi(STRING)})
_DEFAULTS_QUERY = QuerySchema({}, strict_from=ALL_QUERIES_STRICT_FROM)
_LIMITS_QUERY = QuerySchema({"tenant_id": multi(STRING)})

# -- schema (nova/api/openstack/compute/schemas/quota_sets.py ``update``, ``update_v236``, ``update_v257``) -

_QUOTA_VALUE: Json = {
    "type": ["integer", "string"],
    "pattern": "^-?[0-9]+$",
    "minimum": -1,
    "maximum": MAX_LIMIT,
}


def quota_update_schema(resources: tuple[str, ...]) -> Json:
    return {
        "type": "object",
        "properties": {
            "quota_set": {
                "type": "object",
                "properties": {**{name: _QUOTA_VALUE for name in resources}, "force": schemas.BOOLEAN},
                "additionalProperties": False,
            },
        },
        "required": ["quota_set"],
        "additionalProperties": False,
    }


QUOTA_UPDATE = quota_update_schema(tenant_quota.RESOURCES)
# One validator per schema Nova has: 2.1-2.35, 2.36-2.56, 2.57 on.
_UPDATE_VALIDATORS: Mapping[Version, Draft4Validator] = {
    since: Draft4Validator(quota_update_schema(shown_resources(since)), format_checker=schemas.FORMATS)
    for since in ((2, 1), NETWORK_QUOTAS_GONE_FROM, PERSONALITY_QUOTAS_GONE_FROM)
}


def _update_validator(version: Version) -> Draft4Validator:
    return _UPDATE_VALIDATORS[max(since for since in _UPDATE_VALIDATORS if since <= version)]


# A string value is digits (the schema's pattern); more than this many cannot be a valid limit.
_MAX_DIGITS = len(str(MAX_LIMIT))

PER_USER_UNSUPPORTED = (
    "Arktos has no per-user quotas: a project's quota is its ResourceQuota, shared by all its users; "
    "update the project's quota without user_id."
)


def _items(reply: ArktosReply) -> list[Mapping[str, Any]] | None:
    """The ResourceQuotas of a 200 list reply, None if the reply is not one."""
    if reply.status != 200:
        return None
    try:
        listed = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None
    items = listed.get("items") if isinstance(listed, dict) else None
    if not isinstance(items, list):
        return None
    return [item for item in items if isinstance(item, dict)]


def _list_quotas(ctx: RequestContext, tenant: str | None) -> ArktosRequest:
    return ArktosRequest("GET", arktos_paths.resourcequotas(tenant, ctx.config.namespace))


def _tenant_of(tenant: str | None, quotas: list[Mapping[str, Any]]) -> str | None:
    """The tenant a list was about: the URL's, else (Arktos's short path) the one its items name."""
    if tenant is not None:
        return tenant
    named = {str((q.get("metadata") or {}).get("tenant") or "") for q in quotas}
    return named.pop() if len(named) == 1 and "" not in named else None


def _in_use(ctx: RequestContext, tenant: str | None, quotas: list[Mapping[str, Any]]) -> dict[str, int]:
    """What the tenant uses. Called only once Arktos let the token into ``tenant``. From the watch cache's VM
    pods when it is current; otherwise instances as Arktos's quota controller counted them (cores and ram
    are then unknown: 0)."""
    cluster = ctx.cluster
    if cluster is not None and cluster.synced and tenant is not None:
        return dict(cluster.derived(tenant, ctx.config.namespace, tenant_quota.in_use))
    used = dict.fromkeys(tenant_quota.RESOURCES, 0)
    counted = pod_quota(quotas)
    if counted is not None:
        used[tenant_quota.INSTANCES] = counted.used
    return used


def _proven(ctx: RequestContext, req: ClientRequest, tenant: str) -> bool:
    return ctx.proofs is not None and ctx.proofs.proven(req.auth_token, tenant)


# -- GET --------------------------------------------------------------------------------------------------


def show_quota_set(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``GET /os-quota-sets/{project}`` (``?user_id=`` shows the same: there are no per-user quotas)."""
    project = params["tenant_id"]
    version = ctx.compute_version
    refused = _PROJECT_QUERY.refusal(req, version)
    if refused is not None:
        return refused

    def translate(reply: ArktosReply) -> Reply:
        quotas = _items(reply)
        if quotas is None:
            return from_arktos(Service.COMPUTE, reply)
        shown = shown_resources(version)
        return json_reply(200, tenant_quota.quota_set(tenant_quota.limits(quotas), project, shown))

    return Forward(_list_quotas(ctx, project), translate)


def show_quota_detail(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``GET /os-quota-sets/{project}/detail``."""
    project = params["tenant_id"]
    version = ctx.compute_version
    refused = _PROJECT_QUERY.refusal(req, version)
    if refused is not None:
        return refused

    def translate(reply: ArktosReply) -> Reply:
        quotas = _items(reply)
        if quotas is None:
            return from_arktos(Service.COMPUTE, reply)
        used = _in_use(ctx, project, quotas)
        shown = shown_resources(version)
        return json_reply(200, tenant_quota.detail_set(tenant_quota.limits(quotas), used, project, shown))

    return Forward(_list_quotas(ctx, project), translate)


def show_quota_defaults(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``GET /os-quota-sets/{project}/defaults``: the same for every project (Nova's configuration; here a
    tenant without ResourceQuotas), so nothing to ask Arktos and nothing told about the project."""
    version = ctx.compute_version
    refused = _DEFAULTS_QUERY.refusal(req, version)
    if refused is not None:
        return refused
    shown = shown_resources(version)
    return json_reply(200, tenant_quota.quota_set(tenant_quota.limits([]), params["tenant_id"], shown))


def limits(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``GET /limits``: Nova's absolute limits (``views/limits.py``) of the URL's project, or of
    ``?tenant_id=`` (Arktos decides whether the caller may read that tenant)."""
    version = ctx.compute_version
    refused = _LIMITS_QUERY.refusal(req, version)
    if refused is not None:
        return refused
    tenant = ctx.tenant
    asked = req.query_one("tenant_id")
    if asked is not None:
        tenant = ids.project_id(asked)
        if tenant is None:
            return error_reply(Service.COMPUTE, 404, f"Project {echo(asked)} could not be found.")

    def translate(reply: ArktosReply) -> Reply:
        quotas = _items(reply)
        if quotas is None:
            return from_arktos(Service.COMPUTE, reply)
        limit = tenant_quota.limits(quotas)
        used = _in_use(ctx, _tenant_of(tenant, quotas), quotas)
        return json_reply(200, absolute_limits(limit, used, version))

    return Forward(_list_quotas(ctx, tenant), translate)


# Nova's quota resource -> its names in ``absolute`` (maxImageMeta too at 2.1: removed at 2.39).
_LIMIT_NAMES: Mapping[str, tuple[str, ...]] = {
    "ram": ("maxTotalRAMSize",),
    "instances": ("maxTotalInstances",),
    "cores": ("maxTotalCores",),
    "key_pairs": ("maxTotalKeypairs",),
    "floating_ips": ("maxTotalFloatingIps",),
    "metadata_items": ("maxServerMeta", "maxImageMeta"),
    "injected_files": ("maxPersonality",),
    "injected_file_content_bytes": ("maxPersonalitySize",),
    "security_groups": ("maxSecurityGroups",),
    "security_group_rules": ("maxSecurityGroupRules",),
    "server_groups": ("maxServerGroups",),
    "server_group_members": ("maxServerGroupMembers",),
}
_USED_NAMES: Mapping[str, str] = {
    "totalRAMUsed": "ram",
    "totalCoresUsed": "cores",
    "totalInstancesUsed": "instances",
    "totalFloatingIpsUsed": "floating_ips",
    "totalSecurityGroupsUsed": "security_groups",
    "totalServerGroupsUsed": "server_groups",
}


# Nova's /limits hides fewer resources than its quota sets: fixed_ips and injected_file_path_bytes have no
# limit name anyway.
def absolute_limits(limit: Mapping[str, int], used: Mapping[str, int], version: Version = (2, 1)) -> Json:
    hidden = hidden_resources(version)
    absolute: Json = {}
    for resource, names in _LIMIT_NAMES.items():
        if resource in hidden:
            continue
        for name in names:
            if name == "maxImageMeta" and version >= IMAGE_META_LIMIT_GONE_FROM:
                continue
            absolute[name] = limit[resource]
    for name, resource in _USED_NAMES.items():
        if resource not in hidden:
            absolute[name] = used.get(resource, 0)
    return {"limits": {"rate": [], "absolute": dict(sorted(absolute.items()))}}


# -- PUT --------------------------------------------------------------------------------------------------


def parse_update(body: Any, version: Version = (2, 1)) -> tuple[QuotaChange, bool] | str:
    """The counted limits a validated ``quota_set`` changes and its ``force``, or Nova's 400 message."""
    problem = schemas.validate(_update_validator(version), body)
    if problem is not None:
        return problem
    requested: Mapping[str, Any] = body["quota_set"]
    force = schemas.is_true(requested.get("force", False))
    changed: dict[str, int] = {}
    for name, raw in requested.items():
        if name == "force":
            continue
        text = str(raw)
        if len(text.lstrip("-")) > _MAX_DIGITS or int(text) > MAX_LIMIT:
            return f"Quota limit {echo(text)} for {name} must be less than or equal to {MAX_LIMIT}."
        value = int(text)
        if name in COUNTED:
            changed[name] = value
        elif value != FIXED_LIMITS[name]:
            return (
                f"Quota {name} cannot be changed on Arktos: only instances, cores and ram are quotas there "
                f"(its ResourceQuota's pods, cpu and memory); {name} stays {FIXED_LIMITS[name]}."
            )
    return QuotaChange(changed), force


def update_quota_set(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``PUT /os-quota-sets/{project}``: one ResourceQuota write (see the module docstring); 200 with the
    project's limits after it, without ``id`` (Nova's update view)."""
    project = params["tenant_id"]
    version = ctx.compute_version
    refused = _PROJECT_QUERY.refusal(req, version)
    if refused is not None:
        return refused
    if req.query_one("user_id") is not None:
        return bad_request(Service.COMPUTE, PER_USER_UNSUPPORTED)
    if not req.body:
        return bad_request(Service.COMPUTE, "The request body is missing.")
    try:
        body = client_json.loads(req.body)
    except orjson.JSONDecodeError:
        return bad_request(Service.COMPUTE, "Malformed request body")
    parsed = parse_update(body, version)
    if isinstance(parsed, str):
        return bad_request(Service.COMPUTE, parsed)
    change, force = parsed
    namespace = ctx.config.namespace
    cluster = ctx.cluster
    known = cluster.resource_quotas(project, namespace) if cluster is not None else None
    if not change.limits:
        # Nothing Arktos holds changes (only force, or the gateway's fixed values): the current limits.
        def unchanged(reply: ArktosReply) -> Reply:
            quotas = _items(reply)
            if quotas is None:
                return from_arktos(Service.COMPUTE, reply)
            return json_reply(
                200, tenant_quota.quota_set(tenant_quota.limits(quotas), None, shown_resources(version))
            )

        return Forward(_list_quotas(ctx, project), unchanged)
    if (
        not force
        and known is not None
        and cluster is not None
        and cluster.synced
        and _proven(ctx, req, project)
    ):
        # NOTE: the usage is told only to a token Arktos already let into the project.
        problem = tenant_quota.below_usage(change, cluster.derived(project, namespace, tenant_quota.in_use))
        if problem is not None:
            return bad_request(Service.COMPUTE, problem)
    target = tenant_quota.write_target(known or [])
    others = [q for q in known or [] if q is not target]
    if target is None:
        hard = change.hard_patch(None)
        upstream = ArktosRequest(
            "POST",
            arktos_paths.resourcequotas(project, namespace),
            orjson.dumps(tenant_quota.quota_object(namespace, hard)),
            JSON_CONTENT_TYPE,
        )
    else:
        name = str((target.get("metadata") or {}).get("name") or "")
        patch = {"spec": {"hard": change.hard_patch(target)}}
        upstream = ArktosRequest(
            "PATCH",
            arktos_paths.resourcequota(project, namespace, name),
            orjson.dumps(patch),
            MERGE_PATCH_CONTENT_TYPE,
        )

    def translate(reply: ArktosReply) -> Reply:
        if reply.status in (404, 409):
            # The watch had not yet shown the quota's creation (409 AlreadyExists) or deletion (404).
            return error_reply(
                Service.COMPUTE, 409, "The project's quota was changed concurrently; retry the request."
            )
        if reply.status not in (200, 201):
            return from_arktos(Service.COMPUTE, reply)
        try:
            written = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            return from_arktos(Service.COMPUTE, reply)
        if not isinstance(written, dict):
            return from_arktos(Service.COMPUTE, reply)
        written_limits = tenant_quota.limits([*others, written])
        return json_reply(200, tenant_quota.quota_set(written_limits, None, shown_resources(version)))

    return Forward(upstream, translate)
