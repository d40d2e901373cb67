"""Nova's server metadata (``/servers/{id}/metadata[/{key}]``) as the VM pod's metadata annotation.

| Nova                               | Arktos                                     | reply             |
|------------------------------------|--------------------------------------------|-------------------|
| ``GET .../metadata``               | ``GET pods/{id}``                          | 200 ``metadata``  |
| ``GET .../metadata/{key}``         | ``GET pods/{id}``                          | 200 ``meta``, 404 |
| ``POST .../metadata`` (merge)      | ``PATCH pods/{id}`` one JSON patch (below) | 200 ``metadata``  |
| ``PUT .../metadata`` (replace all) | same                                       | 200 ``metadata``  |
| ``PUT .../metadata/{key}``         | same                                       | 200 ``meta``      |
| ``DELETE .../metadata/{key}``      | same                                       | 204               |

The metadata is one JSON object in the annotation ``openstack.arktos.io/metadata`` (what ``server create``
and ``rebuild`` write), written as ``extproc.compute.pod_documents`` writes a pod's annotation document:
ONE JSON patch from the cached pod that tests its uid, that it is unlocked and that the annotation still
holds what the new value was computed from; a concurrent writer makes Arktos refuse (422) instead of losing
an update, and the client gets 409 and retries, as for the gateway's image writes (the processor's own
earlier writes are in the cache first: ``Gateway.until_settled``).

Nova's checks, in Nova's order: the body's schema (keys 1-255 characters of ``[a-zA-Z0-9-_:. ]``, values
at most 255), for ``PUT .../{key}`` the body and URL key matching (400 ``Request body and URI mismatch``), the
server's existence (404), a missing key on delete (404 ``Metadata item was not found``), the lock (409
``Instance <id> is locked``), the vm_state/task_state rule of ``update_instance_metadata`` (409), then the
metadata-items quota: Nova's default of 128 items per server (403 ``Maximum number of metadata items exceeds
128``: Nova's ``MetadataLimitExceeded``, which its ``_check_metadata_properties_quota`` raises for the
quota's ``OverQuota``). Refusals decided from the cache are told only once Arktos has let the caller into
the tenant (``arktos_first``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from extproc import annotations as keys
from extproc import client_json
from extproc.compute import instance_actions, pod_documents, schemas
from extproc.compute.server_fields import server_metadata
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, error_reply
from extproc.messages import (
    ClientRequest,
    Outcome,
    Reply,
    json_reply,
)

Json = dict[str, Any]

# Nova's default ``metadata_items`` quota (nova.conf [quota] metadata_items); Arktos has no such quota.
METADATA_ITEMS_QUOTA = 128
ITEM_NOT_FOUND = "Metadata item was not found"
URI_MISMATCH = "Request body and URI mismatch"
# nova/compute/api.py update_instance_metadata / delete_instance_metadata: @check_instance_state.
WRITABLE_VM_STATES = frozenset({"active", "paused", "suspended", "stopped"})

# -- schemas (nova/api/openstack/compute/schemas/server_metadata.py) ---------------------------------------

_METADATA_BODY: Json = {
    "type": "object",
    "properties": {"metadata": schemas.METADATA},
    "required": ["metadata"],
    "additionalProperties": False,
}
_META_BODY: Json = {
    "type": "object",
    "properties": {"meta": {**schemas.METADATA, "minProperties": 1, "maxProperties": 1}},
    "required": ["meta"],
    "additionalProperties": False,
}
_METADATA_VALIDATOR = schemas.Draft4Validator(_METADATA_BODY)
_META_VALIDATOR = schemas.Draft4Validator(_META_BODY)


# -- pure parts --------------------------------------------------------------------------------------------


def parse_body(body: bytes, item: bool) -> Mapping[str, str] | str:
    """The ``metadata`` (``item``: the ``meta``) object of a write's body, or Nova's 400 message."""
    if not body:
        return "The request body is missing."
    try:
        parsed = client_json.loads(body)
    except orjson.JSONDecodeError:
        return "Malformed request body"
    problem = schemas.validate(_META_VALIDATOR if item else _METADATA_VALIDATOR, parsed)
    if problem is not None:
        return problem
    return dict(parsed["meta" if item else "metadata"])


def over_quota(metadata: Mapping[str, str]) -> Reply | None:
    if len(metadata) > METADATA_ITEMS_QUOTA:
        return error_reply(
            Service.COMPUTE, 403, f"Maximum number of metadata items exceeds {METADATA_ITEMS_QUOTA}"
        )
    return None


METADATA = pod_documents.Document(
    key=keys.METADATA,
    read=server_metadata,
    encode=lambda metadata: orjson.dumps(dict(metadata)).decode(),
    noun="metadata",
)


# -- reads -------------------------------------------------------------------------------------------------


def list_metadata(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return pod_documents.read(
        ctx, params["server_id"], METADATA, lambda metadata: json_reply(200, {"metadata": metadata})
    )


def show_metadata_item(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    key = params["metadata_key"]

    def answer(metadata: dict[str, str]) -> Reply:
        if key not in metadata:
            return error_reply(Service.COMPUTE, 404, ITEM_NOT_FOUND)
        return json_reply(200, {"meta": {key: metadata[key]}})

    return pod_documents.read(ctx, params["server_id"], METADATA, answer)


# -- writes ------------------------------------------------------------------------------------------------

# The new metadata from the current one, or the refusal (a missing key on delete).
Change = Callable[[dict[str, str]], dict[str, str] | Reply]


def _write(
    ctx: RequestContext,
    req: ClientRequest,
    sid: str,
    change: Change,
    reply_body: Callable[[dict[str, str]], Json] | None,
    nova_name: str,
) -> Outcome:
    """One metadata write (``pod_documents.write``); ``reply_body`` None answers 204."""
    nova_action = (
        instance_actions.DELETE_METADATA
        if nova_name == "delete metadata"
        else instance_actions.UPDATE_METADATA
    )

    def answer(new: dict[str, str]) -> Reply:
        return json_reply(200, reply_body(new)) if reply_body is not None else Reply(status=204)

    how = pod_documents.Write(change, answer, nova_name, nova_action, over_quota)
    return pod_documents.write(ctx, req, sid, METADATA, how)


def create_metadata(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``POST``: merge the given items into the server's metadata."""
    given = parse_body(req.body, item=False)
    if isinstance(given, str):
        return bad_request(Service.COMPUTE, given)
    return _write(
        ctx,
        req,
        params["server_id"],
        lambda current: {**current, **given},
        lambda new: {"metadata": new},
        "update metadata",
    )


def replace_metadata(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``PUT``: the given items become the server's metadata."""
    given = parse_body(req.body, item=False)
    if isinstance(given, str):
        return bad_request(Service.COMPUTE, given)
    sid = params["server_id"]
    return _write(ctx, req, sid, lambda _: dict(given), lambda new: {"metadata": new}, "update metadata")


def update_metadata_item(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``PUT .../{key}``: set one item (the body's one key must be the URL's)."""
    key = params["metadata_key"]
    given = parse_body(req.body, item=True)
    if isinstance(given, str):
        return bad_request(Service.COMPUTE, given)
    if key not in given:
        return bad_request(Service.COMPUTE, URI_MISMATCH)
    return _write(
        ctx,
        req,
        params["server_id"],
        lambda current: {**current, **given},
        lambda new: {"meta": dict(given)},
        "update metadata",
    )


def delete_metadata_item(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    """``DELETE .../{key}``: 404 for a key the server does not have."""
    key = params["metadata_key"]

    def without(current: dict[str, str]) -> dict[str, str] | Reply:
        if key not in current:
            return error_reply(Service.COMPUTE, 404, ITEM_NOT_FOUND)
        return {k: v for k, v in current.items() if k != key}

    return _write(ctx, req, params["server_id"], without, None, "delete metadata")
