"""OpenStack error replies, and the table that turns an Arktos (Kubernetes) ``Status`` into one.

Each OpenStack service has its own error shape:
- Nova:     ``{"itemNotFound": {"code": 404, "message": "..."}}`` (fault name chosen by status code)
- Keystone: ``{"error": {"code": 401, "message": "...", "title": "Unauthorized"}}``
- Glance:   webob's JSON error ``{"code": "404 Not Found", "title": "Not Found", "message": "..."}``
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from http import HTTPStatus
from typing import Any

import orjson

from extproc.messages import ArktosReply, Reply

ERROR_CONTENT_TYPE = "application/json; charset=UTF-8"


class Service(Enum):
    COMPUTE = "compute"
    IDENTITY = "identity"
    IMAGE = "image"


# Nova's fault names by HTTP status (nova/api/openstack/wsgi.py Fault._fault_names).
# NOTE: 406 is not in Nova's table, so an unsupported microversion is a "computeFault" there too.
NOVA_FAULT_NAMES: Mapping[int, str] = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


# How much of a client's value an error message repeats: Nova's names and metadata values are at most 255
# characters, so a longer value is no name anyone wants to read back (and an echo must not amplify a body).
ECHO_LIMIT = 255


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """``value`` as an error message may repeat it: at most ``limit`` characters, then an ellipsis."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_body(service: Service, status: int, message: str) -> bytes:
    body: dict[str, Any]
    if service is Service.IDENTITY:
        body = {"error": {"code": status, "message": message, "title": _title(status)}}
    elif service is Service.IMAGE:
        body = {"code": f"{status} {_title(status)}", "title": _title(status), "message": message}
    else:
        body = {NOVA_FAULT_NAMES.get(status, "computeFault"): {"code": status, "message": message}}
    return orjson.dumps(body)


def error_reply(service: Service, status: int, message: str) -> Reply:
    headers = {"content-type": ERROR_CONTENT_TYPE}
    if service is Service.IDENTITY and status == 401:
        headers["www-authenticate"] = 'Keystone uri="/identity"'
    return Reply(status=status, body=error_body(service, status, message), headers=headers)


def bad_request(service: Service, message: str) -> Reply:
    return error_reply(service, 400, message)


def not_found(service: Service, message: str) -> Reply:
    return error_reply(service, 404, message)


# Arktos Status code -> (OpenStack status, default message). A message given by the caller for a code
# (e.g. "Instance <id> could not be found." for 404) replaces the default.
_STATUS_TABLE: Mapping[int, tuple[int, str | None]] = {
    400: (400, None),  # Arktos's message says what was wrong
    401: (401, "The request you have made requires authentication."),
    403: (403, None),
    404: (404, "The resource could not be found."),
    405: (405, None),
    409: (409, None),
    410: (409, None),  # Gone: expired list continuation, stale watch
    413: (413, "Request is too large."),
    415: (415, None),
    422: (400, None),  # Invalid: Nova reports validation failures as 400
    429: (429, "Too many requests; retry later."),
    500: (500, "Unexpected API Error. Arktos reported an internal error."),
    503: (503, "Arktos is unavailable; retry later."),
    504: (503, "Arktos did not answer in time; retry later."),
}


def _status_message(body: Mapping[str, Any]) -> str:
    message = str(body.get("message") or body.get("reason") or "")
    details = body.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    if body.get("reason") == "Invalid" and causes:
        parts = [f"{c.get('field', '')}: {c.get('message', '')}".strip(": ") for c in causes]
        message = "Invalid request: " + "; ".join(parts)
    return message


def parse_status(body: bytes) -> dict[str, Any] | None:
    """The Kubernetes ``Status`` in an Arktos reply body, or None if the body is something else."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(parsed, dict) and parsed.get("kind") == "Status":
        return parsed
    return None


def from_arktos(
    service: Service,
    reply: ArktosReply,
    messages: Mapping[int, str] | None = None,
) -> Reply:
    """Translate a failed Arktos reply into the OpenStack error of ``service``.

    ``messages`` gives OpenStack-like wording per Arktos status code, e.g. ``{404: "Instance x could not be
    found."}``; otherwise the table's default, otherwise Arktos's own message.
    """
    status = parse_status(reply.body)
    if status is None:
        # Not an Arktos answer at all (Envoy's "upstream connect error", a proxy page): Arktos is unreachable.
        code = 503 if reply.status in (502, 503, 504) or reply.status < 400 else reply.status
        os_status, default = _STATUS_TABLE.get(code, (500, None))
        return error_reply(service, os_status, default or "Arktos answered with an unexpected reply.")
    code = int(status.get("code") or reply.status)
    os_status, default = _STATUS_TABLE.get(code, (500 if code >= 500 else 400, None))
    message = (messages or {}).get(code) or default or _status_message(status) or _title(os_status)
    return error_reply(service, os_status, message)
