"""Nova's flavor management for administrators: ``POST /flavors``, ``PUT /flavors/{id}`` (2.55, the
description), ``DELETE /flavors/{id}``, ``os-flavor-access`` (list, ``addTenantAccess``,
``removeTenantAccess``) and the ``os-extra_specs`` writes.

The flavors managed are the cluster-wide ones (the system tenant's ``openstack-flavors`` ConfigMap, see
``extproc.catalog``); every write is one conditional Arktos write with the caller's token
(``flavor_writes``), so Arktos's RBAC decides who may manage flavors. Bodies are validated with Nova's schemas
(``nova/api/openstack/compute/schemas/flavor_manage``, ``flavor_access``, ``flavors_extraspecs``) and
refused in Nova's words (``nova/exception.py``).

Not served: extra spec validation of 2.86 (Nova checks known namespaces; the gateway stores any key, as Nova
below 2.86). A tenant's own flavors (its own ConfigMap, operator-made) are not managed through the API.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from jsonschema import Draft4Validator

from extproc import arktos_paths, ids
from extproc.annotations import FLAVORS_CONFIGMAP
from extproc.catalog import SYSTEM_TENANT
from extproc.catalog_configmaps import flavors_from_reply
from extproc.catalog_entries import DEFAULT_FLAVORS, Flavor
from extproc.compute import schemas
from extproc.compute.flavor_writes import policy_refusal, write_flavors
from extproc.compute.flavors import flavor_not_found, flavor_show
from extproc.compute.replies import request_json, validated_json
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, echo, error_reply, from_arktos, not_found
from extproc.messages import ArktosReply, ArktosRequest, ClientRequest, Forward, Outcome, Reply, json_reply

MAX_INT = 0x7FFFFFFF
# Nova's flavor_param_positive / _non_negative (parameter_types.volume_size).
_POSITIVE: dict[str, Any] = {
    "type": ["integer", "string"],
    "pattern": "^[0-9]+$",
    "minimum": 1,
    "maximum": MAX_INT,
}
_NON_NEGATIVE: dict[str, Any] = {**_POSITIVE, "minimum": 0}

_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "flavor": {
            "type": "object",
            "properties": {
                "name": schemas.NAME,
                "id": {
                    "type": ["string", "number", "null"],
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": "^(?! )[a-zA-Z0-9. _-]+(?<! )$",
                },
                "ram": _POSITIVE,
                "vcpus": _POSITIVE,
                "disk": _NON_NEGATIVE,
                "OS-FLV-EXT-DATA:ephemeral": _NON_NEGATIVE,
                "swap": _NON_NEGATIVE,
                "rxtx_factor": {
                    "type": ["number", "string"],
                    "pattern": r"^[0-9]+(\.[0-9]+)?$",
                    "exclusiveMinimum": 0,
                    "maximum": 3.40282e38,
                },
                "os-flavor-access:is_public": schemas.BOOLEAN,
            },
            "required": ["name", "ram", "vcpus", "disk"],
            "additionalProperties": False,
        },
    },
    "required": ["flavor"],
    "additionalProperties": False,
}
# Nova's _flavor_description: a server description's printable characters (valid_description_regex), longer.
_DESCRIPTION: dict[str, Any] = {**schemas.DESCRIPTION, "maxLength": 65535}
_CREATE_V255 = copy.deepcopy(_CREATE)
_CREATE_V255["properties"]["flavor"]["properties"]["description"] = _DESCRIPTION
_CREATE_V2102 = copy.deepcopy(_CREATE_V255)
del _CREATE_V2102["properties"]["flavor"]["properties"]["rxtx_factor"]
# Draft 4 reads exclusiveMinimum as a boolean: Nova's schema is validated by a Draft 4 validator too, where
# this number is ignored; the positive check is Nova's own (flavors.create) and made below.
for _schema in (_CREATE, _CREATE_V255):
    _schema["properties"]["flavor"]["properties"]["rxtx_factor"].pop("exclusiveMinimum")
_VALIDATORS = {
    version: Draft4Validator(schema, format_checker=schemas.FORMATS)
    for version, schema in (((2, 1), _CREATE), ((2, 55), _CREATE_V255), ((2, 102), _CREATE_V2102))
}

# Nova's schemas.flavors.update: the description is the only field, so it is required.
_UPDATE = Draft4Validator(
    {
        "type": "object",
        "properties": {
            "flavor": {
                "type": "object",
                "properties": {"description": _DESCRIPTION},
                "required": ["description"],
                "additionalProperties": False,
            },
        },
        "required": ["flavor"],
        "additionalProperties": False,
    },
    format_checker=schemas.FORMATS,
)
UPDATE_FROM = (2, 55)
# Nova's answer to a method below its microversion (VersionNotFoundForAPIMethod): "as if not implemented".
GENERIC_NOT_FOUND = "The resource could not be found."

_TENANT_ACCESS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tenant": {"type": "string", "minLength": 1, "maxLength": 255},
    },
    "required": ["tenant"],
    "additionalProperties": False,
}
_ACCESS_ACTIONS = {
    name: Draft4Validator(
        {
            "type": "object",
            "properties": {name: _TENANT_ACCESS},
            "required": [name],
            "additionalProperties": False,
        }
    )
    for name in ("addTenantAccess", "removeTenantAccess")
}

# Nova's flavors_extraspecs schemas (parameter_types.metadata, numbers allowed as values).
_SPECS: dict[str, Any] = {
    "type": "object",
    "patternProperties": {
        "^[a-zA-Z0-9-_:. ]{1,255}$": {"type": ["string", "number"], "maxLength": 255},
    },
    "additionalProperties": False,
}
_SPECS_CREATE = Draft4Validator(
    {
        "type": "object",
        "properties": {"extra_specs": _SPECS},
        "required": ["extra_specs"],
        "additionalProperties": False,
    }
)
_SPECS_UPDATE = Draft4Validator({**_SPECS, "minProperties": 1, "maxProperties": 1})

# A flavor id must be one clean URL segment and a ConfigMap key (no spaces): Nova's pattern allows spaces.
_STORABLE_ID = re.compile(r"^[A-Za-z0-9._-]{1,253}$")

MANAGE = "os_compute_api:os-flavor-manage:{}"
ACCESS = "os_compute_api:os-flavor-access:{}"
SPECS = "os_compute_api:os-flavor-extra-specs:{}"


def _validator(version: tuple[int, int]) -> Draft4Validator:
    return _VALIDATORS[max(v for v in _VALIDATORS if v <= version)]


def _find(flavors: list[Flavor], flavor_id: str) -> Flavor | None:
    return next((f for f in flavors if f.id == flavor_id), None)


# ---------------------------------------------------------------------------------------------------------
# POST /flavors, DELETE /flavors/{id}


def create_flavor(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    body = validated_json(req, _validator(ctx.compute_version))
    if isinstance(body, Reply):
        return body
    spec = body["flavor"]
    raw_id = spec.get("id")
    flavor_id = str(uuid.uuid4()) if raw_id in (None, "") else str(raw_id)
    if not _STORABLE_ID.match(flavor_id):
        return bad_request(
            Service.COMPUTE,
            f"Flavor id {echo(flavor_id)} is not supported by this gateway: an id is stored as an Arktos "
            "ConfigMap key (letters, digits, '.', '_' and '-', at most 253 characters).",
        )
    rxtx = float(spec.get("rxtx_factor", 1.0))
    if rxtx <= 0:
        return bad_request(
            Service.COMPUTE, "'rxtx_factor' argument must be a float between 0 and 3.40282e+38"
        )
    flavor = Flavor(
        id=flavor_id,
        name=spec["name"].strip(),
        ram=int(spec["ram"]),
        vcpus=int(spec["vcpus"]),
        disk=int(spec["disk"]),
        ephemeral=int(spec.get("OS-FLV-EXT-DATA:ephemeral", 0)),
        swap=int(spec.get("swap", 0)),
        rxtx_factor=rxtx,
        is_public=schemas.is_true(spec.get("os-flavor-access:is_public", True)),
        description=spec.get("description") if ctx.compute_version >= (2, 55) else None,
    )

    def change(flavors: list[Flavor]) -> list[Flavor] | Reply:
        if any(f.name == flavor.name for f in flavors):
            return error_reply(Service.COMPUTE, 409, f"Flavor with name {flavor.name} already exists.")
        if _find(flavors, flavor.id) is not None:
            return error_reply(Service.COMPUTE, 409, f"Flavor with ID {flavor.id} already exists.")
        return [*flavors, flavor]

    def done(recorded: list[Flavor]) -> Reply:
        # NOTE: Nova answers 200 (not 201) with the flavor's show view.
        return json_reply(200, {"flavor": flavor_show(ctx, _find(recorded, flavor.id) or flavor)})

    return write_flavors(ctx, MANAGE.format("create"), change, done)


def update_flavor(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``PUT /flavors/{id}`` (2.55): a new description, nothing else (Nova's ``flavors.update``)."""
    if ctx.compute_version < UPDATE_FROM:
        # Nova checks the version before the body: below 2.55 the method does not exist.
        return error_reply(Service.COMPUTE, 404, GENERIC_NOT_FOUND)
    body = validated_json(req, _UPDATE)
    if isinstance(body, Reply):
        return body
    flavor_id, description = params["flavor_id"], body["flavor"]["description"]

    def change(flavors: list[Flavor]) -> list[Flavor] | Reply:
        found = _find(flavors, flavor_id)
        if found is None:
            return flavor_not_found(flavor_id)
        updated = replace(found, description=description)
        return [updated if f.id == flavor_id else f for f in flavors]

    def done(recorded: list[Flavor]) -> Reply:
        found = _find(recorded, flavor_id)
        if found is None:
            # An entry Arktos recorded that the processor cannot read back: no flavor by that id.
            return flavor_not_found(flavor_id)
        # Nova answers 200 with the show view (extra_specs from 2.61: its default policy lets readers see
        # them).
        return json_reply(200, {"flavor": flavor_show(ctx, found)})

    return write_flavors(ctx, MANAGE.format("update"), change, done)


def delete_flavor(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    flavor_id = params["flavor_id"]

    def change(flavors: list[Flavor]) -> list[Flavor] | Reply:
        if _find(flavors, flavor_id) is None:
            return flavor_not_found(flavor_id)
        return [f for f in flavors if f.id != flavor_id]

    return write_flavors(ctx, MANAGE.format("delete"), change, lambda recorded: Reply(202))


# ---------------------------------------------------------------------------------------------------------
# os-flavor-access


def _access_list(flavor: Flavor) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": flavor.id, "tenant_id": p} for p in flavor.projects]}


def list_flavor_access(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """Read with the caller's token from the system tenant's ConfigMap: Arktos lets administrators only."""
    flavor_id = params["flavor_id"]
    path = arktos_paths.configmap(SYSTEM_TENANT, ctx.config.namespace, FLAVORS_CONFIGMAP)

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 403:
            return policy_refusal(ACCESS.format("").rstrip(":"))
        flavors = flavors_from_reply(reply)
        if flavors is None:
            return from_arktos(Service.COMPUTE, reply)
        found = _find(flavors if reply.status == 200 else list(DEFAULT_FLAVORS), flavor_id)
        if found is None:
            return flavor_not_found(flavor_id)
        if found.is_public:
            return not_found(Service.COMPUTE, "Access list not available for public flavors.")
        return json_reply(200, _access_list(found))

    return Forward(ArktosRequest("GET", path), translate)


def flavor_action(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``POST /flavors/{id}/action``: ``addTenantAccess`` or ``removeTenantAccess``."""
    body = request_json(req)
    if isinstance(body, Reply):
        return body
    name = next(iter(body), None) if isinstance(body, dict) and len(body) == 1 else None
    validator = _ACCESS_ACTIONS.get(name) if isinstance(name, str) else None
    if validator is None:
        return bad_request(
            Service.COMPUTE, "Invalid request body: one of addTenantAccess or removeTenantAccess."
        )
    invalid = schemas.validate(validator, body)
    if invalid is not None:
        return bad_request(Service.COMPUTE, invalid)
    flavor_id, tenant = params["flavor_id"], body[name]["tenant"]
    adding = name == "addTenantAccess"
    if adding and ids.project_id(tenant) is None:
        # Nova asks Keystone (identity.verify_project_id); an Arktos tenant name is a DNS label.
        return bad_request(Service.COMPUTE, f"Project ID {echo(tenant)} is not a valid project.")

    def change(flavors: list[Flavor]) -> list[Flavor] | Reply:
        found = _find(flavors, flavor_id)
        if found is None:
            return flavor_not_found(flavor_id)
        if adding:
            if found.is_public and ctx.compute_version >= (2, 7):
                return error_reply(Service.COMPUTE, 409, "Can not add access to a public flavor.")
            if tenant in found.projects:
                message = (
                    f"Flavor access already exists for flavor {flavor_id} and project {tenant} combination."
                )
                return error_reply(Service.COMPUTE, 409, message)
            updated = replace(found, projects=(*found.projects, tenant))
        else:
            if tenant not in found.projects:
                message = f"Flavor access not found for {flavor_id} / {tenant} combination."
                return not_found(Service.COMPUTE, message)
            updated = replace(found, projects=tuple(p for p in found.projects if p != tenant))
        return [updated if f.id == flavor_id else f for f in flavors]

    def done(recorded: list[Flavor]) -> Reply:
        found = _find(recorded, flavor_id)
        return json_reply(200, _access_list(found) if found is not None else {"flavor_access": []})

    policy = ACCESS.format("add_tenant_access" if adding else "remove_tenant_access")
    return write_flavors(ctx, policy, change, done)


# ---------------------------------------------------------------------------------------------------------
# os-extra_specs writes (and the one-key read)


def _with_specs(flavor_id: str, specs: Mapping[str, Any]) -> Any:
    def change(flavors: list[Flavor]) -> list[Flavor] | Reply:
        found = _find(flavors, flavor_id)
        if found is None:
            return flavor_not_found(flavor_id)
        merged = {**found.extra_specs, **{k: str(v) for k, v in specs.items()}}
        updated = replace(found, extra_specs=MappingProxyType(merged))
        return [updated if f.id == flavor_id else f for f in flavors]

    return change


def create_extra_specs(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    body = validated_json(req, _SPECS_CREATE)
    if isinstance(body, Reply):
        return body
    change = _with_specs(params["flavor_id"], body["extra_specs"])
    # NOTE: Nova answers with the request body as it came (numbers stay numbers).
    return write_flavors(ctx, SPECS.format("create"), change, lambda recorded: json_reply(200, body))


def update_extra_spec(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    body = validated_json(req, _SPECS_UPDATE)
    if isinstance(body, Reply):
        return body
    if params["spec_key"] not in body:
        return bad_request(Service.COMPUTE, "Request body and URI mismatch")
    change = _with_specs(params["flavor_id"], body)
    return write_flavors(ctx, SPECS.format("update"), change, lambda recorded: json_reply(200, body))


def _no_such_key(flavor_id: str, key: str) -> Reply:
    return not_found(Service.COMPUTE, f"Flavor {flavor_id} has no extra specs with key {key}.")


def delete_extra_spec(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    flavor_id, key = params["flavor_id"], params["spec_key"]

    def change(flavors: list[Flavor]) -> list[Flavor] | Reply:
        found = _find(flavors, flavor_id)
        if found is None:
            return flavor_not_found(flavor_id)
        if key not in found.extra_specs:
            return _no_such_key(flavor_id, key)
        kept = MappingProxyType({k: v for k, v in found.extra_specs.items() if k != key})
        return [replace(found, extra_specs=kept) if f.id == flavor_id else f for f in flavors]

    return write_flavors(ctx, SPECS.format("delete"), change, lambda recorded: Reply(200))
