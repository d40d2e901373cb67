"""Nova's server tags (``/servers/{id}/tags[/{tag}]``, microversion 2.26) as the VM pod's tags annotation.

| Nova                           | Arktos                                        | reply               |
|--------------------------------|-----------------------------------------------|---------------------|
| ``GET .../tags``               | ``GET pods/{id}``                             | 200 ``tags``        |
| ``GET .../tags/{tag}``         | ``GET pods/{id}``                             | 204, 404            |
| ``PUT .../tags`` (replace all) | ``PATCH pods/{id}`` (``pod_documents``)       | 200 ``tags``        |
| ``PUT .../tags/{tag}``         | same (none when the server has the tag)       | 201 + Location, 204 |
| ``DELETE .../tags``            | same                                          | 204                 |
| ``DELETE .../tags/{tag}``      | same                                          | 204, 404            |

The tags are one JSON list in the annotation ``openstack.arktos.io/tags`` (which a create at 2.52 writes and
the server view shows from 2.26). Below 2.26 the routes do not exist (Nova's 404). Nova's checks and words
(nova/api/openstack/compute/server_tags.py): the body's schema, the server (404), the vm_state (409,
``_check_instance_in_valid_state``: active, paused, suspended or stopped), the tag (400), the 50 tags limit
(400), a missing tag (404). Nova records no instance action for tags, nor does the gateway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from extproc import annotations as keys
from extproc import client_json
from extproc.compute import pod_documents, schemas
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, error_reply
from extproc.messages import ClientRequest, Outcome, Reply, json_reply

Json = dict[str, Any]
TAGS_FROM = (2, 26)
GENERIC_NOT_FOUND = "The resource could not be found."
OVER_LIMIT = f"The number of tags exceeded the per-server limit {schemas.MAX_TAG_COUNT}"

# nova/api/openstack/compute/schemas/server_tags.py update_all
_UPDATE_ALL: Json = {
    "type": "object",
    "properties": {"tags": {"type": "array", "items": schemas.TAG, "maxItems": schemas.MAX_TAG_COUNT}},
    "required": ["tags"],
    "additionalProperties": False,
}
_UPDATE_ALL_VALIDATOR = schemas.Draft4Validator(_UPDATE_ALL)
_TAG_VALIDATOR = schemas.Draft4Validator(schemas.TAG)


def _read_tags(pod: Mapping[str, Any]) -> list[str]:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(keys.TAGS)
    try:
        tags = orjson.loads(raw) if raw else []
    except orjson.JSONDecodeError:
        return []
    return [str(t) for t in tags] if isinstance(tags, list) else []


TAGS = pod_documents.Document(
    key=keys.TAGS, read=_read_tags, encode=lambda tags: orjson.dumps(list(tags)).decode(), noun="tags"
)


def tag_problem(tag: str) -> str | None:
    """Nova's 400 for a tag in a URL that is no tag (server_tags.py ``update``)."""
    for error in _TAG_VALIDATOR.iter_errors(tag):
        return (
            f"Tag '{tag}' is invalid. It must be a non empty string without characters '/' and ','. "
            f"Validation error message: {error.message}"
        )
    return None


def _served(ctx: RequestContext) -> Reply | None:
    """Nova's answer below 2.26: the routes do not exist."""
    if ctx.compute_version < TAGS_FROM:
        return error_reply(Service.COMPUTE, 404, GENERIC_NOT_FOUND)
    return None


def list_tags(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _served(ctx) or pod_documents.read(
        ctx, params["server_id"], TAGS, lambda tags: json_reply(200, {"tags": tags})
    )


def check_tag(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    sid, tag = params["server_id"], params["tag"]

    def answer(tags: list[str]) -> Reply:
        if tag in tags:
            return Reply(status=204)
        return error_reply(Service.COMPUTE, 404, f"Server {sid} has no tag '{tag}'")

    return _served(ctx) or pod_documents.read(ctx, sid, TAGS, answer)


def replace_tags(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    refused = _served(ctx)
    if refused is not None:
        return refused
    if not req.body:
        return bad_request(Service.COMPUTE, "The request body is missing.")
    try:
        body = client_json.loads(req.body)
    except orjson.JSONDecodeError:
        return bad_request(Service.COMPUTE, "Malformed request body")
    problem = schemas.validate(_UPDATE_ALL_VALIDATOR, body)
    if problem is not None:
        return bad_request(Service.COMPUTE, problem)
    # A server's tags are a set (Nova's TagList.create keeps each once), in the order given.
    given = list(dict.fromkeys(str(t) for t in body["tags"]))
    how = pod_documents.Write[list[str]](
        change=lambda current: given,
        answer=lambda new: json_reply(200, {"tags": new}),
        nova_name="update tags",
    )
    return pod_documents.write(ctx, req, params["server_id"], TAGS, how)


def add_tag(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    refused = _served(ctx)
    if refused is not None:
        return refused
    sid, tag = params["server_id"], params["tag"]
    problem = tag_problem(tag)
    if problem is not None:
        return bad_request(Service.COMPUTE, problem)
    location = f"{ctx.config.public_url}{req.path}"

    def change(current: list[str]) -> list[str] | Reply:
        if len(current) >= schemas.MAX_TAG_COUNT:
            return bad_request(Service.COMPUTE, OVER_LIMIT)
        if tag in current:
            # The server has the tag already: Nova answers 204 and writes nothing.
            return Reply(status=204)
        return [*current, tag]

    how = pod_documents.Write[list[str]](
        change=change,
        answer=lambda new: Reply(status=201, headers={"location": location}),
        nova_name="update tag",
    )
    return pod_documents.write(ctx, req, sid, TAGS, how)


def delete_tags(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    refused = _served(ctx)
    if refused is not None:
        return refused
    how = pod_documents.Write[list[str]](
        change=lambda current: [], answer=lambda new: Reply(status=204), nova_name="delete tags"
    )
    return pod_documents.write(ctx, req, params["server_id"], TAGS, how)


def delete_tag(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    refused = _served(ctx)
    if refused is not None:
        return refused
    sid, tag = params["server_id"], params["tag"]

    def change(current: list[str]) -> list[str] | Reply:
        if tag not in current:
            # nova.exception.InstanceTagNotFound
            return error_reply(Service.COMPUTE, 404, f"Instance {sid} has no tag '{tag}'")
        return [t for t in current if t != tag]

    how = pod_documents.Write[list[str]](
        change=change, answer=lambda new: Reply(status=204), nova_name="delete tag"
    )
    return pod_documents.write(ctx, req, sid, TAGS, how)
