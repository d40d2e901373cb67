"""``Gateway.handle``: the one entry point the gRPC layer calls for every client request.

It resolves the route (``extproc.routes``), negotiates the compute microversion, calls the handler with a
``RequestContext`` and decorates every reply it produces, including the ones ``Forward.translate`` produces
later (the translate callable is wrapped): ``x-openstack-request-id`` on all of them, and on compute replies
also ``x-compute-request-id`` and the microversion headers.

No exception may leave ``handle`` or a wrapped translate: a bug becomes a 500 in the service's error shape
(Nova's ``computeFault``), logged with its traceback, never a traceback on the wire.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable

from extproc import headers
from extproc.catalog import CatalogStore
from extproc.cluster_cache import ClusterView
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.errors import Service, error_reply
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply, ReplyTranslator
from extproc.routes import resolve, service_of
from extproc.tenant_proofs import TenantProofs

log = logging.getLogger(__name__)


def internal_error(service: Service, request_id: str) -> Reply:
    return error_reply(
        service,
        500,
        "Unexpected API Error. Please report this to the cloud's operators and attach the request id "
        f"{request_id}.",
    )


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        catalog: CatalogStore,
        cluster: ClusterView | None = None,
        proofs: TenantProofs | None = None,
    ) -> None:
        self.config = config
        self.catalog = catalog
        # The watch-fed cache of pods/Actions/ReplicaSets (None without a watch: nothing is decided from it).
        self.cluster = cluster
        self.proofs = proofs if proofs is not None else TenantProofs()

    def handle(self, request: ClientRequest, request_id: str) -> Outcome:
        service = Service.COMPUTE
        try:
            service = service_of(request.path)
            outcome = self._handle(service, request, request_id)
        except Exception:
            log.exception(
                "request failed in the processor",
                extra={"request_id": request_id, "method": request.method, "path": request.path},
            )
            return self._decorate(service, internal_error(service, request_id), request_id)
        if isinstance(outcome, Forward):
            translate = self._remember_proof(outcome, request)
            return Forward(outcome.upstream, self._wrap(service, translate, request, request_id))
        return self._decorate(service, outcome, request_id)

    def _handle(self, service: Service, request: ClientRequest, request_id: str) -> Outcome:
        if len(request.body) > self.config.max_request_body_bytes:
            limit = self.config.max_request_body_bytes
            return error_reply(service, 413, f"Request is too large: the body exceeds {limit} bytes.")
        match = resolve(request.method, request.path)
        if isinstance(match, Reply):
            return match
        if match.service is Service.COMPUTE:
            version = headers.negotiate_compute_version(request.headers)
            if isinstance(version, headers.VersionError):
                return error_reply(service, version.status, version.message)
        ctx = RequestContext(self.config, self.catalog, request_id, match.tenant, self.cluster, self.proofs)
        outcome = match.route.handler(ctx, request, match.params)
        if not isinstance(outcome, (Reply, Forward)):
            raise TypeError(f"handler {match.route.handler!r} returned {type(outcome).__name__}")
        return outcome

    def _remember_proof(self, outcome: Forward, request: ClientRequest) -> ReplyTranslator:
        """Record in ``proofs`` every 2xx Arktos gives a token on a tenant path (see tenant_proofs)."""
        token = outcome.upstream.bearer_token or request.auth_token
        path = outcome.upstream.path
        translate = outcome.translate
        proofs = self.proofs

        def remembering(reply: ArktosReply) -> Reply | Awaitable[Reply]:
            proofs.record(token, path, reply.status)
            return translate(reply)

        return remembering

    def _wrap(
        self, service: Service, translate: ReplyTranslator, request: ClientRequest, request_id: str
    ) -> ReplyTranslator:
        def failed(reply: ArktosReply) -> Reply:
            log.exception(
                "reply translation failed in the processor",
                extra={
                    "request_id": request_id,
                    "method": request.method,
                    "path": request.path,
                    "arktos_status": reply.status,
                },
            )
            return internal_error(service, request_id)

        async def translated_later(reply: ArktosReply, pending: Awaitable[Reply]) -> Reply:
            # An async translator (batch create waiting for its first server): same guarantees, awaited.
            try:
                result = await pending
                if not isinstance(result, Reply):
                    raise TypeError(f"translate returned {type(result).__name__}")
            except Exception:
                result = failed(reply)
            return self._decorate(service, result, request_id)

        def translated(reply: ArktosReply) -> Reply | Awaitable[Reply]:
            try:
                result = translate(reply)
                if inspect.isawaitable(result):
                    return translated_later(reply, result)
                if not isinstance(result, Reply):
                    raise TypeError(f"translate returned {type(result).__name__}")
            except Exception:
                result = failed(reply)
            return self._decorate(service, result, request_id)

        return translated

    @staticmethod
    def _decorate(service: Service, reply: Reply, request_id: str) -> Reply:
        if service is Service.COMPUTE:
            extra = headers.compute_headers(request_id)
        else:
            extra = headers.request_id_headers(request_id)
        # Header names are case-insensitive: drop a handler's own spelling of a header set here.
        names = set(extra)
        for key in [k for k in reply.headers if k.lower() in names]:
            del reply.headers[key]
        reply.headers.update(extra)
        return reply
