"""The values that cross the boundary between the gRPC layer and the pure translators.

The gRPC layer (``extproc.server``) builds a ``ClientRequest`` from what Envoy sends, asks the
application (``extproc.app``) for an ``Outcome`` and carries it out:

- ``Reply``: answer the client directly (Envoy ImmediateResponse); Arktos is never called.
- ``Forward``: rewrite the request into ``ArktosRequest``, let Envoy send it to Arktos, then hand the
  ``ArktosReply`` to ``Forward.translate`` and send the client the ``Reply`` it returns.

Everything here is plain data so the translators stay ``dict in -> dict out`` and testable without Envoy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

JSON_CONTENT_TYPE = "application/json"
# The two patch media types the gateway sends Arktos (RFC 6902 JSON patch, RFC 7386 merge patch).
JSON_PATCH_CONTENT_TYPE = "application/json-patch+json"
MERGE_PATCH_CONTENT_TYPE = "application/merge-patch+json"


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """An OpenStack request as the client sent it."""

    method: str
    # The path exactly as received (still percent-encoded), without the query string.
    path: str
    # Parsed query string: every value of every key, in order.
    query: Mapping[str, list[str]]
    # Header names lower-cased; pseudo-headers (":path", ...) are not included.
    headers: Mapping[str, str]
    body: bytes = b""

    def query_one(self, name: str) -> str | None:
        """The last value of a query parameter, as Nova's ``req.GET.get`` reads it."""
        values = self.query.get(name)
        return values[-1] if values else None

    @property
    def auth_token(self) -> str | None:
        return self.headers.get("x-auth-token") or None


@dataclass(frozen=True, slots=True)
class ArktosRequest:
    """The Arktos REST call a client request becomes."""

    method: str
    # Absolute path including an already-encoded query string, e.g. "/api/v1/namespaces/default/pods?limit=5".
    path: str
    # None leaves the request without a body (the client's body, if any, is dropped).
    body: bytes | None = None
    content_type: str | None = None
    # Bearer token to send; None means "the client's X-Auth-Token". Identity requests carry the
    # credential in the body, so they name it here.
    bearer_token: str | None = None
    # Arktos names the object this creates from its clock (an Action is "<operation>-<unix seconds>" per
    # namespace): Envoy retries Arktos's 409 AlreadyExists past the next second (see envoy.yaml.tmpl).
    retry_name_collision: bool = False
    # For such a write: what Arktos names it within (tenant, namespace and operation). The processor lets
    # one write of a scope go per second, first come first served (extproc.action_pacing).
    name_clock_scope: str | None = None


@dataclass(frozen=True, slots=True)
class ArktosReply:
    """What Arktos answered."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(slots=True)
class Reply:
    """What the client receives. ``headers`` holds every header except content-length."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


# A translator may return an awaitable when the reply depends on something still to come (the first server
# of a batch create waits for the watch to see the controller's first pod); the gRPC layer awaits it.
ReplyTranslator = Callable[[ArktosReply], Reply | Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Forward:
    """Send ``upstream`` to Arktos, then translate its reply with ``translate``."""

    upstream: ArktosRequest
    translate: ReplyTranslator
    # For a read the processor's caches can answer: the reply built from them, given the tenant Arktos
    # recently let this token make this very read in (``extproc.access_cache``); None when the caches
    # cannot answer right now (the read then goes to Arktos). Called only by ``Gateway.handle``.
    from_cache: Callable[[str], Reply | None] | None = None
    # With ``from_cache``: when no decision is known, Arktos may be asked with a SelfSubjectAccessReview
    # of ``upstream`` instead (``extproc.access_review``), for reads whose reply rarely proves anything.
    review: bool = False
    # A GET the processor may send to Arktos itself with the client's token and answer at once with the
    # translation of Arktos's reply (one ext_proc exchange; ``extproc.direct_reads``). Only reads whose
    # reply the translator turns into the client's: Arktos decides exactly as if Envoy had sent it.
    direct: bool = False


Outcome = Reply | Forward


class DirectReader(Protocol):
    """Sends a ``Forward.direct`` GET to Arktos with the client's token (``extproc.direct_reads``)."""

    async def get(self, path: str, token: str) -> ArktosReply | None: ...


def json_reply(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Reply:
    """A JSON reply to the client, for every service (errors have their own: ``extproc.errors``)."""
    return Reply(status, orjson.dumps(body), {"content-type": JSON_CONTENT_TYPE, **(headers or {})})
