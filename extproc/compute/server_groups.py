"""Nova server groups (``/os-server-groups``) and the ``group`` scheduler hint of server create.

Each group is one ConfigMap of the tenant (``extproc.server_group_store``); each request is ONE Arktos call
with the client's token, so Arktos's authorization decides every read and write:

- ``GET /os-server-groups``: list the tenant's ConfigMaps labelled ``openstack.arktos.io/server-group``,
  oldest first, paged as Nova's ``common.limited`` (``offset``, ``limit``; 0 or none: the maximum, 1000).
  ``all_projects`` is ignored: the list is the URL tenant's (an all-tenants list is Arktos's
  ``tenants/all`` path, which the gateway does not build from client input).
- ``GET /os-server-groups/{id}``: GET of its ConfigMap; 404 ``Instance group <id> could not be found.``
- ``POST /os-server-groups``: Nova's create schema of the served microversion (2.1: ``policies``, one of
  ``affinity`` / ``anti-affinity``; from 2.15 also ``soft-affinity`` / ``soft-anti-affinity``; from 2.64 a
  single ``policy`` and optional ``rules``), a new UUID, POST of the ConfigMap; 200 with the group, as Nova.
  The one rule, ``max_server_per_host``, is for anti-affinity only (Nova's 400 otherwise); 1 is what pod
  anti-affinity does, more is the 409 Nova answers where it cannot apply such a rule (said why).

Views by microversion: ``project_id`` and ``user_id`` from 2.13; from 2.64 ``policy`` and ``rules`` replace
``policies`` and the always-empty ``metadata``. The list's query (``all_projects``, ``limit``, ``offset``)
refuses other parameters from 2.75, show's any from 2.102.
- ``DELETE /os-server-groups/{id}``: DELETE of its ConfigMap; 204. As in Nova, members keep running (and keep
  their pod affinity).

Members are the servers created with ``os:scheduler_hints: {"group": <id>}``: their pods carry the label
``openstack.arktos.io/server-group: <id>`` and the group's policy as a pod (anti-)affinity on the node
hostname (``kubernetes.io/hostname``), required for ``affinity`` / ``anti-affinity`` and preferred (weight
100) for the soft policies, so Arktos's scheduler places them as Nova's would. A view's ``members`` are the
pods with that label in the processor's watch cache, read only after Arktos has answered the group's own
GET or list with the client's token (so nothing is told about a tenant Arktos did not let the caller into).

A create with a group hint needs the group's policy in the pod, in the same single pod (or ReplicaSet) POST:
``policy_for_create`` takes it from the watch-fed ``ServerGroupStore`` for a token Arktos recently let into
the URL's tenant; otherwise one GET of the group's ConfigMap with the client's token answers first (404:
Nova's 400 ``Instance group <id> could not be found.``; found: noted, 409 to retry), as keypairs do.

Nova's server group quotas (``server_groups``, ``server_group_members``) are not enforced: Arktos has no such
quota to map them onto.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from jsonschema import Draft4Validator

from extproc import arktos_paths, client_json
from extproc.annotations import SERVER_GROUP_LABEL
from extproc.compute import schemas
from extproc.compute.query_schema import (
    ALL_QUERIES_STRICT_FROM,
    NON_NEGATIVE_INTEGER,
    STRING,
    QuerySchema,
    multi,
)
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, echo, error_reply, from_arktos, parse_status
from extproc.messages import (
    JSON_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
    json_reply,
)
from extproc.server_group_store import (
    AFFINITY,
    ANTI_AFFINITY,
    SOFT_AFFINITY,
    SOFT_ANTI_AFFINITY,
    StoredServerGroup,
    configmap_name,
    from_configmap,
    group_configmap,
)
from extproc.users import user_id_for_token

Json = dict[str, Any]
Version = tuple[int, int]

# Nova's list maximum (CONF.api.max_limit).
MAX_LIMIT = 1000
# The node label Arktos's scheduler spreads or packs the group's pods by: one node is one Nova host.
HOST_TOPOLOGY_KEY = "kubernetes.io/hostname"
SOFT_POLICY_WEIGHT = 100
# The microversions that change server groups (nova/api/openstack/compute/server_groups.py).
PROJECT_IN_VIEW_VERSION: Version = (2, 13)
SOFT_POLICIES_VERSION: Version = (2, 15)
POLICY_AND_RULES_VERSION: Version = (2, 64)

ONLY_ANTI_AFFINITY_RULES = "Only anti-affinity policy supports rules."
# Nova's 409 where a deployment cannot apply the rule, with the reason here.
MAX_SERVER_PER_HOST_UNSUPPORTED = (
    "Creating an anti-affinity group with rule max_server_per_host > 1 is not yet supported. (Arktos "
    "spreads a group's servers with pod anti-affinity: one per host.)"
)

_LIST_QUERY = QuerySchema(
    {
        "all_projects": multi(STRING),
        "limit": multi(NON_NEGATIVE_INTEGER),
        "offset": multi(NON_NEGATIVE_INTEGER),
    }
)
_SHOW_QUERY = QuerySchema({}, strict_from=ALL_QUERIES_STRICT_FROM)


def group_not_found(group_id: str) -> str:
    return f"Instance group {group_id} could not be found."


# -- schema (nova/api/openstack/compute/schemas/server_groups.py: create, create_v215) ------------------


def _create_schema(policies: list[str]) -> Json:
    return {
        "type": "object",
        "properties": {
            "server_group": {
                "type": "object",
                "properties": {
                    "name": schemas.NAME,
                    "policies": {
                        # One item, one of the policies: a single string from 2.64.
                        "type": "array",
                        "items": [{"type": "string", "enum": policies}],
                        "uniqueItems": True,
                        "minItems": 1,
                        "maxItems": 1,
                        "additionalItems": False,
                    },
                },
                "required": ["name", "policies"],
                "additionalProperties": False,
            }
        },
        "required": ["server_group"],
        "additionalProperties": False,
    }


_EVERY_POLICY = [ANTI_AFFINITY, AFFINITY, SOFT_ANTI_AFFINITY, SOFT_AFFINITY]
# create_v264: one ``policy`` string and optional ``rules``.
CREATE_V264: Json = {
    "type": "object",
    "properties": {
        "server_group": {
            "type": "object",
            "properties": {
                "name": schemas.NAME,
                "policy": {"type": "string", "enum": _EVERY_POLICY},
                "rules": {
                    "type": "object",
                    "properties": {
                        "max_server_per_host": {
                            "type": ["integer", "string"],
                            "pattern": "^[0-9]*$",
                            "minimum": 1,
                            "minLength": 1,
                        }
                    },
                    "additionalProperties": False,
                },
            },
            "required": ["name", "policy"],
            "additionalProperties": False,
        }
    },
    "required": ["server_group"],
    "additionalProperties": False,
}

_CREATE_V21 = Draft4Validator(_create_schema([ANTI_AFFINITY, AFFINITY]), format_checker=schemas.FORMATS)
_CREATE_V215 = Draft4Validator(_create_schema(_EVERY_POLICY), format_checker=schemas.FORMATS)
_CREATE_V264 = Draft4Validator(CREATE_V264, format_checker=schemas.FORMATS)


def validate_create(body: Any, version: Version) -> str | None:
    """Nova's 400 message for an invalid create body at ``version``, None when it is valid."""
    if version >= POLICY_AND_RULES_VERSION:
        validator = _CREATE_V264
    else:
        validator = _CREATE_V215 if version >= SOFT_POLICIES_VERSION else _CREATE_V21
    return schemas.validate(validator, body)


def requested_policy(body: Mapping[str, Any], version: Version) -> tuple[str, int | None] | Reply:
    """The policy and ``max_server_per_host`` of a valid create body, or Nova's refusal of its rules."""
    group: Mapping[str, Any] = body["server_group"]
    if version < POLICY_AND_RULES_VERSION:
        return str(group["policies"][0]), None
    policy = str(group["policy"])
    rules: Mapping[str, Any] = group.get("rules") or {}
    if rules and policy != ANTI_AFFINITY:
        return bad_request(Service.COMPUTE, ONLY_ANTI_AFFINITY_RULES)
    raw = rules.get("max_server_per_host")
    if raw is None:
        return policy, None
    digits = str(raw).lstrip("0")
    if digits != "1":
        return error_reply(Service.COMPUTE, 409, MAX_SERVER_PER_HOST_UNSUPPORTED)
    return policy, 1


# -- views (nova/api/openstack/compute/server_groups.py _format_server_group) ---------------------------


def group_view(group: StoredServerGroup, members: list[str], version: Version, project_id: str) -> Json:
    view: Json = {"id": group.id, "name": group.name}
    if version >= POLICY_AND_RULES_VERSION:
        view["policy"] = group.policy
        rules = {"max_server_per_host": group.max_server_per_host} if group.max_server_per_host else {}
        view["rules"] = rules
    else:
        view["policies"] = [group.policy]
        # Nova: "exposed to the user, but never used"; always empty, and gone from 2.64.
        view["metadata"] = {}
    view["members"] = members
    if version >= PROJECT_IN_VIEW_VERSION:
        view["project_id"] = project_id
        view["user_id"] = group.user_id
    return view


def member_ids(ctx: RequestContext, group: StoredServerGroup) -> list[str]:
    """The servers of ``group``: the pods labelled with its id that the watch cache holds, by name."""
    cluster = ctx.cluster
    if cluster is None:
        return []
    pods = cluster.pods_with_label(group.tenant, ctx.config.namespace, SERVER_GROUP_LABEL, group.id)
    names = {str((pod.get("metadata") or {}).get("name") or "") for pod in pods}
    return sorted(name for name in names if name)


# -- the group hint on a VM pod -------------------------------------------------------------------------


def pod_affinity(group_id: str, policy: str) -> Json:
    """The pod ``spec.affinity`` that makes Arktos's scheduler apply ``policy`` among the group's pods."""
    term: Json = {
        "labelSelector": {"matchLabels": {SERVER_GROUP_LABEL: group_id}},
        "topologyKey": HOST_TOPOLOGY_KEY,
    }
    kind = "podAffinity" if policy in (AFFINITY, SOFT_AFFINITY) else "podAntiAffinity"
    if policy in (AFFINITY, ANTI_AFFINITY):
        return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    preferred = {"weight": SOFT_POLICY_WEIGHT, "podAffinityTerm": term}
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [preferred]}}


def join_group(pod: Json, group_id: str, policy: str) -> Json:
    """``pod`` (as ``servers.build_pod`` makes it) as a member of the group: its label and affinity."""
    metadata = dict(pod["metadata"])
    metadata["labels"] = {**metadata.get("labels", {}), SERVER_GROUP_LABEL: group_id}
    spec = {**pod["spec"], "affinity": pod_affinity(group_id, policy)}
    return {**pod, "metadata": metadata, "spec": spec}


def requested_group(body: Mapping[str, Any]) -> str | None:
    """The ``group`` scheduler hint of a create body validated by ``schemas.validate_create``."""
    for key in ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"):
        hints = body.get(key)
        if isinstance(hints, dict) and isinstance(hints.get("group"), str):
            # Canonical form: the id names the group's ConfigMap and is a label value on the pod.
            return str(uuid.UUID(hints["group"]))
    return None


def policy_for_create(ctx: RequestContext, token: str | None, group_id: str) -> str | Outcome:
    """The policy of group ``group_id`` for a server create, or what to answer instead.

    The policy comes from the watch-fed ``ServerGroupStore`` of the URL's tenant, for a token Arktos has
    recently let into that tenant (clients look the flavor up there first), so the create stays ONE Arktos
    write; an unknown group, once the watch has listed every group, is Nova's 400 before anything is created.
    Any other request becomes a GET of the group's ConfigMap with the client's token (the same call whatever
    the cache holds, so nothing is learnt about another tenant): 404 is that 400, Arktos's refusal is passed
    on, an existing group is noted and answered 409 (retry: the token is proven by then).
    """
    store = ctx.server_groups
    tenant = ctx.tenant
    proven = tenant is not None and ctx.proofs is not None and ctx.proofs.proven(token, tenant)
    if store is not None and tenant is not None and proven:
        found = store.policy(tenant, group_id)
        if found is not None:
            return found
        if store.synced:
            return bad_request(Service.COMPUTE, group_not_found(group_id))

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 404:
            return bad_request(Service.COMPUTE, group_not_found(group_id))
        if reply.status != 200:
            return from_arktos(Service.COMPUTE, reply)
        obj = _loaded(reply)
        stored = from_configmap(obj)
        if stored is None or stored.id != group_id:
            return bad_request(Service.COMPUTE, group_not_found(group_id))
        if tenant is None:
            return bad_request(
                Service.COMPUTE,
                "The group scheduler hint needs the project in the compute URL "
                "(/compute/v2.1/<project>/servers), as the service catalog gives it.",
            )
        if store is not None:
            store.note_written(obj)
        return error_reply(
            Service.COMPUTE,
            409,
            f"Server group {group_id} could not be checked before this create; retry the request.",
        )

    path = arktos_paths.configmap(tenant, ctx.config.namespace, configmap_name(group_id))
    return Forward(ArktosRequest(method="GET", path=path), translate)


# -- handlers ----------------------------------------------------------------------------------------------


def _loaded(reply: ArktosReply) -> Any:
    try:
        return orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None


_MAX_DIGITS = 9
# Nova's index_query: limit and offset are non_negative_integer (nova/api/validation/parameter_types.py).
_NON_NEGATIVE_INTEGER = Draft4Validator(
    {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minLength": 1}
)


def _page_param(req: ClientRequest, name: str) -> int | Reply:
    raw = req.query_one(name)
    if raw is None:
        return 0
    for error in _NON_NEGATIVE_INTEGER.iter_errors(raw):
        return bad_request(
            Service.COMPUTE, f"Invalid input for query parameters {name}. Value: {echo(raw)}. {error.message}"
        )
    # NOTE: more digits than any list has items is past its end (Python refuses int() of 4,300+ digits).
    digits = raw.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def list_groups(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    version = ctx.compute_version
    refused = _LIST_QUERY.refusal(req, version)
    if refused is not None:
        return refused
    offset = _page_param(req, "offset")
    if isinstance(offset, Reply):
        return offset
    limit = _page_param(req, "limit")
    if isinstance(limit, Reply):
        return limit
    # Nova's common.limited: limit 0 (or none) means the maximum.
    limit = min(MAX_LIMIT, limit or MAX_LIMIT)
    path = arktos_paths.configmaps(ctx.tenant, ctx.config.namespace, {"labelSelector": SERVER_GROUP_LABEL})

    def translate(reply: ArktosReply) -> Reply:
        listed = _loaded(reply) if reply.status == 200 else None
        items = listed.get("items") if isinstance(listed, dict) else None
        if not isinstance(items, list):
            return from_arktos(Service.COMPUTE, reply)
        found = [g for g in map(from_configmap, items) if g is not None]
        found.sort(key=lambda g: (g.created_at, g.id))
        page = found[offset : offset + limit]
        return json_reply(
            200,
            {"server_groups": [group_view(g, member_ids(ctx, g), version, g.tenant) for g in page]},
        )

    return Forward(ArktosRequest(method="GET", path=path), translate)


def show_group(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    group_id = params["server_group_id"]
    version = ctx.compute_version
    refused = _SHOW_QUERY.refusal(req, version)
    if refused is not None:
        return refused
    path = arktos_paths.configmap(ctx.tenant, ctx.config.namespace, configmap_name(group_id))

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 404:
            return error_reply(Service.COMPUTE, 404, group_not_found(group_id))
        if reply.status != 200:
            return from_arktos(Service.COMPUTE, reply)
        found = from_configmap(_loaded(reply))
        if found is None or found.id != group_id:
            return error_reply(Service.COMPUTE, 404, group_not_found(group_id))
        return json_reply(
            200, {"server_group": group_view(found, member_ids(ctx, found), version, found.tenant)}
        )

    return Forward(ArktosRequest(method="GET", path=path), translate)


def create_group(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    if not req.body:
        return bad_request(Service.COMPUTE, "The request body is missing.")
    try:
        # Bounded nesting: jsonschema's messages repr the value, recursing once per level.
        body = client_json.loads(req.body)
    except orjson.JSONDecodeError:
        return bad_request(Service.COMPUTE, "Malformed request body")
    version = ctx.compute_version
    problem = validate_create(body, version)
    if problem is not None:
        return bad_request(Service.COMPUTE, problem)
    policy = requested_policy(body, version)
    if isinstance(policy, Reply):
        return policy
    token = req.auth_token
    group_id = str(uuid.uuid4())
    user_id = user_id_for_token(token) if token else ""
    configmap = group_configmap(group_id, body["server_group"]["name"], policy[0], user_id, policy[1])
    store = ctx.server_groups

    def translate(reply: ArktosReply) -> Reply:
        if reply.status not in (200, 201):
            return from_arktos(Service.COMPUTE, reply)
        created = _loaded(reply)
        stored = from_configmap(created)
        if stored is None:
            return from_arktos(Service.COMPUTE, reply)
        if store is not None:
            store.note_written(created)
        return json_reply(200, {"server_group": group_view(stored, [], version, stored.tenant)})

    upstream = ArktosRequest(
        method="POST",
        path=arktos_paths.configmaps(ctx.tenant, ctx.config.namespace),
        body=orjson.dumps(configmap),
        content_type=JSON_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


def delete_group(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    group_id = params["server_group_id"]
    path = arktos_paths.configmap(ctx.tenant, ctx.config.namespace, configmap_name(group_id))
    store = ctx.server_groups

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 404:
            return error_reply(Service.COMPUTE, 404, group_not_found(group_id))
        if reply.status not in (200, 202):
            return from_arktos(Service.COMPUTE, reply)
        deleted = _loaded(reply)
        found = from_configmap(deleted)
        if store is not None and found is not None:
            store.note_deleted(found.tenant, group_id, found.uid)
        elif store is not None and ctx.tenant is not None:
            status = parse_status(reply.body) or {}
            details = status.get("details")
            uid = details.get("uid") if isinstance(details, dict) else None
            store.note_deleted(ctx.tenant, group_id, str(uid) if uid else None)
        return Reply(status=204)

    return Forward(ArktosRequest(method="DELETE", path=path), translate)
