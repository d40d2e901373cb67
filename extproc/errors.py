"""OpenStack error replies, and the table that turns an Arktos (Kubernetes) ``Status`` into one.

Each OpenStack service has its own error shape:
- Nova:     ``{"itemNotFound": {"code": 404, "message": "..."}}`` (fault name chosen by status code)
- Keystone: ``{"error": {"code": 401, "message": "...", "title": "Unauthorized"}}``
- Glance:   webob's JSON error ``{"code": "404 Not Found", "title": "Not Found", "message": "..."}``
- Neutron:  ``{"NeutronError": {"type": "NetworkNotFound", "message": "...", "detail": ""}}`` (``type`` names
  Neutron's exception; ``network_error_reply`` sets it, other errors get webob's ``HTTP...`` class name)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from http import HTTPStatus
from typing import Any

import orjson

from extproc.messages import ArktosReply, Reply

ERROR_CONTENT_TYPE = "application/json; charset=UTF-8"
UNAUTHORIZED_MESSAGE = "The request you have made requires authentication."


class Service(Enum):
    COMPUTE = "compute"
    IDENTITY = "identity"
    IMAGE = "image"
    NETWORK = "networking"


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


# The longest message a reply carries: every message repeats at most ECHO_LIMIT characters of each client
# value (``echo``); this bounds any message that forgot to, so a client can never make a reply echo its
# request back (a backstop, not the rule).
MESSAGE_LIMIT = 1024


# Neutron's exception type for an error it raises as a bare webob HTTP error (neutron/api/v2/base.py).
NEUTRON_ERROR_TYPES: Mapping[int, str] = {
    400: "HTTPBadRequest",
    401: "HTTPUnauthorized",
    403: "HTTPForbidden",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    409: "HTTPConflict",
    413: "HTTPRequestEntityTooLarge",
    415: "HTTPUnsupportedMediaType",
    503: "HTTPServiceUnavailable",
}


def error_body(service: Service, status: int, message: str, error_type: str | None = None) -> bytes:
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "..."
    body: dict[str, Any]
    if service is Service.NETWORK:
        kind = error_type or NEUTRON_ERROR_TYPES.get(status, "HTTPInternalServerError")
        body = {"NeutronError": {"type": kind, "message": message, "detail": ""}}
    elif service is Service.IDENTITY:
        body = {"error": {"code": status, "message": message, "title": _title(status)}}
    elif service is Service.IMAGE:
        body = {"code": f"{status} {_title(status)}", "title": _title(status), "message": message}
    else:
        body = {NOVA_FAULT_NAMES.get(status, "computeFault"): {"code": status, "message": message}}
    return orjson.dumps(body)


def error_reply(service: Service, status: int, message: str) -> Reply:
    headers = {"content-type": ERROR_CONTENT_TYPE}
    if service is Service.IDENTITY and status == 401:
        # Made absolute by ``as_keystone_401`` on the way out (the public URL is the app's to know).
        headers["www-authenticate"] = 'Keystone uri="/identity"'
    return Reply(status=status, body=error_body(service, status, message), headers=headers)


def network_error_reply(status: int, error_type: str, message: str) -> Reply:
    """Neutron's error naming its exception (``NetworkNotFound``, ``NetworkInUse``...)."""
    body = error_body(Service.NETWORK, status, message, error_type)
    return Reply(status=status, body=body, headers={"content-type": ERROR_CONTENT_TYPE})


def keystone_401(public_url: str, message: str = UNAUTHORIZED_MESSAGE) -> Reply:
    """keystonemiddleware's refusal (``AuthProtocol.process_request``), in front of every OpenStack service:
    Keystone's error body and, in ``WWW-Authenticate``, where to get a token."""
    body = {"error": {"code": 401, "title": "Unauthorized", "message": message}}
    headers = {
        "content-type": ERROR_CONTENT_TYPE,
        "www-authenticate": f'Keystone uri="{public_url}/identity"',
    }
    return Reply(status=401, body=orjson.dumps(body), headers=headers)


def as_keystone_401(service: Service, reply: Reply, public_url: str) -> Reply:
    """Any 401 as a client behind keystonemiddleware gets it: Nova and Glance never answer 401 themselves
    (the middleware does, in Keystone's shape); Keystone keeps its own message."""
    if reply.status != 401:
        return reply
    if service is not Service.IDENTITY:
        return keystone_401(public_url)
    try:
        message = str(orjson.loads(reply.body)["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = UNAUTHORIZED_MESSAGE
    return keystone_401(public_url, message)


def bad_request(service: Service, message: str) -> Reply:
    return error_reply(service, 400, message)


def not_found(service: Service, message: str) -> Reply:
    return error_reply(service, 404, message)


# What OpenStack says where Arktos refuses to authorize (RBAC, admission): one sentence per service,
# whatever the object or verb, so a refusal tells nothing about another tenant (Nova's policy failure,
# Glance's and Keystone's 403).
FORBIDDEN_MESSAGES: Mapping[Service, str] = {
    Service.COMPUTE: "Policy doesn't allow this operation to be performed.",
    Service.IMAGE: "You are not authorized to complete this action.",
    Service.IDENTITY: "You are not authorized to perform the requested action.",
    Service.NETWORK: "The request you have made requires authorization.",
}

# Arktos Status code -> (OpenStack status, OpenStack's words). Arktos's own message never reaches a client
# as it is: it names Kubernetes objects, users and namespaces. Only two kinds of refusal keep their meaning,
# rephrased: quota (``quota_message``) and validation causes (``_invalid_message``). A message given by the
# caller for a code (e.g. "Instance <id> could not be found." for 404) replaces the table's.
_STATUS_TABLE: Mapping[int, tuple[int, str]] = {
    400: (400, "Invalid input for the request: Arktos could not process it."),
    401: (401, UNAUTHORIZED_MESSAGE),
    403: (403, ""),  # FORBIDDEN_MESSAGES, or the quota that was exceeded
    404: (404, "The resource could not be found."),
    405: (405, "The method is not allowed for this resource."),
    409: (409, "There was a conflict when trying to complete your request."),
    410: (409, "There was a conflict when trying to complete your request."),  # expired continuation
    413: (413, "Request is too large."),
    415: (415, "The request's content type is not supported."),
    422: (400, "Invalid input for the request."),  # Nova reports validation failures as 400
    429: (429, "Too many requests; retry later."),
    500: (500, "Unexpected API Error. Arktos reported an internal error."),
    503: (503, "Arktos is unavailable; retry later."),
    504: (503, "Arktos did not answer in time; retry later."),
}

# Words that name Kubernetes machinery. Text taken from Arktos (validation causes) is dropped if it has any.
_KUBERNETES_WORDS = re.compile(
    r"system:|configmap|namespace|api group|replicaset|\.apps\b|\bpods?\b|\bkind\b|apiversion"
    r"|customaction|is forbidden|openstack-flavors|openstack-images|resourcequota|\bspec\.",
    re.IGNORECASE,
)
# Kubernetes' quota admission: "exceeded quota: <name>, requested: <r=q,...>, used: <...>, limited: <...>"
_QUOTA = re.compile(
    r"exceeded quota: [^,]*, requested: (?P<requested>.*), used: (?P<used>.*), limited: (?P<limited>.*)$"
)
# Nova's quota resource for an Arktos one, and how an amount is counted there.
_NOVA_QUOTA_NAMES: Mapping[str, str] = {
    "pods": "instances",
    "count/pods": "instances",
    "cpu": "cores",
    "requests.cpu": "cores",
    "limits.cpu": "cores",
    "memory": "ram",
    "requests.memory": "ram",
    "limits.memory": "ram",
}
_MEMORY_UNITS: Mapping[str, int] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
}


def _amounts(text: str) -> dict[str, str]:
    pairs = (item.partition("=") for item in text.split(","))
    return {name.strip(): value.strip() for name, _, value in pairs if name.strip()}


def _nova_amount(nova_name: str, quantity: str) -> str | None:
    """A Kubernetes quantity as Nova counts it: cores (rounded up), ram in MiB, instances."""
    found = re.fullmatch(r"(\d+)(m|Ki|Mi|Gi|Ti|k|M|G)?", quantity)
    if found is None:
        return None
    number, unit = int(found.group(1)), found.group(2) or ""
    if nova_name == "cores":
        return str(-(-number // 1000) if unit == "m" else number)
    if nova_name == "ram":
        if unit == "m":
            return None
        return str(-(-number * _MEMORY_UNITS.get(unit, 1) // 2**20))
    return str(number) if not unit else None


def quota_message(arktos_message: str) -> str | None:
    """Nova's ``TooManyInstances`` words for Kubernetes' quota refusal, None if it is not one.

    "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances" (the first exceeded
    resource Nova knows; "instances" when none is one Nova knows).
    """
    if "exceeded quota" not in arktos_message:
        return None
    found = _QUOTA.search(arktos_message)
    if found is not None:
        requested, used, limited = (_amounts(found.group(g)) for g in ("requested", "used", "limited"))
        for name, asked in requested.items():
            nova_name = _NOVA_QUOTA_NAMES.get(name)
            if nova_name is None:
                continue
            amounts = [_nova_amount(nova_name, q) for q in (asked, used.get(name, ""), limited.get(name, ""))]
            if all(a is not None for a in amounts):
                req, already, allowed = amounts
                return (
                    f"Quota exceeded for {nova_name}: Requested {req}, but already used {already} of "
                    f"{allowed} {nova_name}"
                )
    return "Quota exceeded for instances."


def names_kubernetes(text: str) -> bool:
    """Whether ``text`` (said by Arktos) names Kubernetes machinery: objects, users, namespaces, groups."""
    return _KUBERNETES_WORDS.search(text) is not None


def refusal_words(arktos_message: str) -> tuple[int, str]:
    """Nova's status and words for a refusal Arktos gives as bare text (a ReplicaSet's ``ReplicaFailure``):
    quota → 403 with Nova's quota message; anything else → 400, its text only if it names no Kubernetes
    machinery."""
    quota = quota_message(arktos_message)
    if quota is not None:
        return 403, quota
    if arktos_message and not _KUBERNETES_WORDS.search(arktos_message):
        return 400, arktos_message
    return 400, "Arktos refused to create the instance."


def _invalid_message(body: Mapping[str, Any]) -> str | None:
    """Nova's 400 for a Kubernetes ``Invalid``: what each cause says, without field paths or names."""
    details = body.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    if not isinstance(causes, list):
        return None
    said = [str(c.get("message") or "") for c in causes if isinstance(c, dict)]
    said = [m for m in said if m and not _KUBERNETES_WORDS.search(m)]
    return f"Invalid input for the request: {'; '.join(said)}" if said else None


def arktos_words(service: Service, code: int, body: Mapping[str, Any]) -> tuple[int, str]:
    """The OpenStack status and message for an Arktos ``Status`` of ``code`` (never Arktos's own text)."""
    os_status, message = _STATUS_TABLE.get(code, (500 if code >= 500 else 400, ""))
    arktos_message = str(body.get("message") or "")
    if code == 403:
        return 403, quota_message(arktos_message) or FORBIDDEN_MESSAGES[service]
    if code == 422:
        return os_status, _invalid_message(body) or message
    if not message:
        message = (
            "Unexpected API Error. Arktos reported an error."
            if os_status >= 500
            else "Arktos refused the request."
        )
    return os_status, message


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
        os_status, default = _STATUS_TABLE.get(code, (500, ""))
        return error_reply(service, os_status, default or "Arktos answered with an unexpected reply.")
    code = int(status.get("code") or reply.status)
    os_status, words = arktos_words(service, code, status)
    message = (messages or {}).get(code) or words
    return error_reply(service, os_status, message)
