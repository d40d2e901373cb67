"""Creates a client can retry safely: the handle is the ``X-OpenStack-Request-ID`` the client sent.

When a create's outcome is unknown (the processor died after Arktos executed it: the client got a 503 that
says so), a retry must not make a second server. Nova's clients can send a request id of their own
(``X-OpenStack-Request-ID: req-<uuid>``, keystoneauth's ``global_request_id``); Nova itself only logs it.
Here it names what the create makes, so Arktos itself detects the retry in the create's one write:

- the pod's name (the server id) is a UUID5 of (tenant, request id, the create's body), and a batch's
  ReplicaSet name (the reservation id) is derived the same way;
- a retry posts the same name, Arktos answers 409 ``AlreadyExists``, and the gateway answers the retry as
  the first attempt was answered (202 with that server, or that reservation id).

The body is part of the name because a request id may be propagated across several different calls (that
is what a *global* request id is for): another create with the same id is another server. Without a
well-formed request id every create is new, as in Nova. The pod also carries the request id as an
annotation, for people reading Arktos.
"""

from __future__ import annotations

import hashlib
import re
import string
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from extproc.errors import parse_status
from extproc.messages import ArktosReply

# oslo.middleware's format for a request id a client may send.
CLIENT_REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HEADER = "x-openstack-request-id"
# Fixed: the same (tenant, request id, body) must give the same names in every processor, every release.
NAMESPACE = uuid.UUID("6b1f9a52-6f55-4c1e-9a3e-0d5b6a1c2f70")
_RESERVATION_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True, slots=True)
class RetryHandle:
    request_id: str
    server_id: str
    reservation_id: str


def handle_for(tenant: str | None, headers: Any, body: Any) -> RetryHandle | None:
    """The names a create makes when the client gave a request id; None: generate fresh ones."""
    request_id = str(headers.get(HEADER, "")).strip().lower()
    if not CLIENT_REQUEST_ID.fullmatch(request_id):
        return None
    try:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    digest = hashlib.sha256(canonical).hexdigest()
    seed = f"{tenant or ''}\n{request_id}\n{digest}"
    server_id = str(uuid.uuid5(NAMESPACE, seed))
    number = int.from_bytes(hashlib.sha256(b"reservation\n" + seed.encode()).digest()[:8], "big")
    chars = []
    for _ in range(8):
        number, index = divmod(number, len(_RESERVATION_ALPHABET))
        chars.append(_RESERVATION_ALPHABET[index])
    return RetryHandle(request_id, server_id, "r-" + "".join(chars))


def already_created(reply: ArktosReply) -> bool:
    """Arktos refused the create because its name exists: an earlier attempt of this create made it."""
    if reply.status != 409:
        return False
    status = parse_status(reply.body)
    return status is not None and status.get("reason") == "AlreadyExists"
