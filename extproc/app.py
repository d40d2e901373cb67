"""``Gateway.handle``: the one entry point the gRPC layer calls for every client request.

It resolves the route (``extproc.routes``), negotiates the compute microversion, calls the handler with a
``RequestContext`` and decorates every reply it produces, including the ones ``Forward.translate`` produces
later (the translate callable is wrapped): ``x-openstack-request-id`` on all of them, and on compute replies
also ``x-compute-request-id`` and the microversion headers.

No exception may leave ``handle`` or a wrapped translate: a bug becomes a 500 in the service's error shape
(Nova's ``computeFault``), logged with its traceback, never a traceback on the wire.

A read the processor's caches can answer (``Forward.from_cache``: a server, the flavors, the images) is
answered from them at once, without Arktos, while Arktos's own decision to let this token make this very
read is fresh (``extproc.access_cache``: learned from the 2xx Arktos gave the same read, forwarded, or from a
SelfSubjectAccessReview, at most ``--auth-cache-ttl`` seconds ago).

Every Arktos reply also feeds two memories before it is translated: which tenants Arktos let the token
into (``TenantProofs``), and, for a 2xx pod write (create, patch, delete of ``.../pods[/<name>]``), the
version Arktos gave the pod (``ClusterView.note_written``), so that server lists answered from the watch
cache show the client's own writes (see ``extproc.compute.server_list._list``). A 2xx ConfigMap write's reply
goes into the ``CatalogStore`` (the next conditional image write is built on it).

Before ``handle``, the gRPC layer awaits ``until_settled``: a write of one server is built from the watch
cache (the uid precondition, the lock, the state rules, the metadata or tags a patch is computed from and
tests), so while the cache has not applied every pod write this processor relayed for the tenant, the
write waits for it (at most ``WRITE_CATCH_UP_SECONDS``; the watch normally delivers within milliseconds)
and is built then: a client's second write right after its first is decided on a cache that shows the
first (read-your-writes, as lists have it), not refused with a 409 "changed while this request was made"
because the watch was a moment late.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable

import orjson

from extproc import access_review, headers
from extproc.access_cache import SHORT_PATH, AccessDecisions, access_of
from extproc.batch_reconciler import ArktosRequester
from extproc.catalog import CatalogStore
from extproc.cluster_cache import ClusterView
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.errors import Service, as_keystone_401, error_reply, keystone_401
from extproc.key_stock import KeyStock
from extproc.keypair_store import KeypairStore
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply, ReplyTranslator
from extproc.network.store import NetworkStore
from extproc.routes import GENERIC_NOT_FOUND, Match, is_legacy_v2, resolve, service_of
from extproc.server_group_store import ServerGroupStore
from extproc.tenant_proofs import TenantProofs, tenant_of_path

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# How long a write of one server waits for the watch cache to show this processor's earlier pod writes of its
# tenant (``Gateway.until_settled``). Past it (a broken or very late watch) the write is built from the cache
# as it is: its preconditions make Arktos refuse a stale one (409 to the client), nothing is lost.
WRITE_CATCH_UP_SECONDS = 0.5
READ_METHODS = frozenset({"GET", "HEAD"})
# A pod collection or a pod (not a subresource such as ``/action``: that writes an Action, not the pod).
_POD_PATH = re.compile(r"^/api/v1/(?:tenants/([^/?]+)/)?namespaces/[^/?]+/pods(?:/[^/?]+)?(?:\?|$)")
# A ConfigMap collection or ConfigMap (the catalog's image writes, see extproc.image.records).
_CONFIGMAP_PATH = re.compile(r"^/api/v1/(?:tenants/[^/?]+/)?namespaces/[^/?]+/configmaps(?:/[^/?]+)?(?:\?|$)")


def note_configmap_write(catalog: CatalogStore, reply: ArktosReply) -> None:
    """Give the catalog the ConfigMap Arktos has just written (its reply carries it): the next write of
    this processor is then built on this version even if the watch has not delivered it yet."""
    try:
        body = orjson.loads(reply.body) if reply.body else None
    except orjson.JSONDecodeError:
        return
    if not isinstance(body, dict) or body.get("kind") != "ConfigMap":
        return
    meta = body.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    data = body.get("data") or {}
    # NOTE: objects of the system tenant may carry an empty tenant field (as the catalog watch reads them).
    name, tenant = meta.get("name"), meta.get("tenant") or "system"
    if isinstance(name, str) and isinstance(tenant, str) and isinstance(data, dict):
        version = str(meta.get("resourceVersion") or "")
        catalog.set_configmap(tenant, name, {str(k): str(v) for k, v in data.items()}, version)


def note_pod_write(cluster: ClusterView, path_tenant: str | None, reply: ArktosReply) -> None:
    """Tell the cache the version of a pod Arktos has just written (its reply carries the pod)."""
    try:
        body = orjson.loads(reply.body) if reply.body else None
    except orjson.JSONDecodeError:
        body = None
    meta = body.get("metadata") if isinstance(body, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    version = meta.get("resourceVersion")
    # NOTE: the short path's tenant is in the reply only; "system" is how the cache files a pod without one.
    tenant = str(meta.get("tenant") or path_tenant or "system")
    cluster.note_written(tenant, str(version) if version else None)


def answered_tenant(reply: ArktosReply) -> str | None:
    """The tenant of the object Arktos answered a short-path GET with (the caller's own tenant)."""
    try:
        body = orjson.loads(reply.body) if reply.body else None
    except orjson.JSONDecodeError:
        return None
    meta = body.get("metadata") if isinstance(body, dict) else None
    tenant = meta.get("tenant") if isinstance(meta, dict) else None
    return tenant if isinstance(tenant, str) and tenant else None


# The tenant segment of an all-tenants path: no review names it.
ALL_TENANTS_SEGMENT = "all"


# Nova's wsgi._SUPPORTED_CONTENT_TYPES; no type and text/plain count as none (webob Request.get_content_type).
NOVA_CONTENT_TYPES = frozenset({"application/json", "application/vnd.openstack.compute+json"})
NO_CONTENT_TYPES = frozenset({"", "text/plain"})


def content_type_refusal(service: Service, request: ClientRequest) -> Reply | None:
    """Nova's 415 ``Unsupported Content-Type`` for any compute request declaring another media type, and
    Keystone's 400 for a body that is not declared JSON; None when the request may go on."""
    declared = request.headers.get("content-type")
    if declared is None:
        return None
    media = declared.split(";", 1)[0].strip().lower()
    if service is Service.COMPUTE and media not in NOVA_CONTENT_TYPES | NO_CONTENT_TYPES:
        return error_reply(service, 415, "Unsupported Content-Type")
    if service is Service.IDENTITY and request.body and media not in ("", "application/json"):
        return error_reply(
            service,
            400,
            "Expecting to find application/json in Content-Type header. The server could not comply with "
            "the request since it is either malformed or otherwise incorrect. The client is assumed to be in "
            "error.",
        )
    return None


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
        keypairs: KeypairStore | None = None,
        key_stock: KeyStock | None = None,
        server_groups: ServerGroupStore | None = None,
        networks: NetworkStore | None = None,
        arktos: ArktosRequester | None = None,
        decisions: AccessDecisions | None = None,
    ) -> None:
        self.config = config
        self.catalog = catalog
        # The watch-fed cache of pods/Actions/ReplicaSets (None without a watch: nothing is decided from it).
        self.cluster = cluster
        self.proofs = proofs if proofs is not None else TenantProofs()
        # The keypairs' public keys (ConfigMap watch; None without a watch: server create asks Arktos).
        self.keypairs = keypairs
        # Keys for keypair generation, made off the event loop (None: generated in place).
        self.key_stock = key_stock
        # The server groups' policies (ConfigMap watch; None without a watch: server create asks Arktos).
        self.server_groups = server_groups
        # Every tenant's Networks by Neutron id (their watch; None without one: writes by id find nothing).
        self.networks = networks
        # The processor's own Arktos calls (server lists whose cache is behind Arktos read the list).
        self.arktos = arktos
        # Arktos's recent read decisions per token (ttl 0 unless given: every read reaches Arktos).
        self.decisions = decisions if decisions is not None else AccessDecisions(ttl=0)

    def until_settled(self, request: ClientRequest) -> Awaitable[object] | None:
        """What a compute write waits for before ``handle`` builds it: the watch cache applying this
        processor's earlier pod writes of the write's tenant (module docstring). None (build it now) for
        every read, and for a write whose cache is current: one comparison of two integers when no write of
        the processor is pending."""
        cluster = self.cluster
        if (
            cluster is None
            or request.method not in WRITE_METHODS
            or not cluster.awaits_watch(None)
            or not cluster.synced
            or service_of(request.path) is not Service.COMPUTE
        ):
            return None
        match = resolve(request.method, request.path)
        # Writes of one server (its pod is what they are built from); a create builds on no pod.
        if isinstance(match, Reply) or "server_id" not in match.params:
            return None
        tenant = match.tenant
        if not cluster.awaits_watch(tenant):
            return None

        def applied() -> bool | None:
            return None if cluster.awaits_watch(tenant) else True

        return cluster.wait_for(applied, WRITE_CATCH_UP_SECONDS)

    def handle(self, request: ClientRequest, request_id: str) -> Outcome:
        service = Service.COMPUTE
        # Negotiated once: the handler is refused or served at it, and the reply's version headers say it.
        negotiated = headers.negotiate_compute_version(request.headers)
        version = headers.MIN_COMPUTE_VERSION if isinstance(negotiated, headers.VersionError) else negotiated
        try:
            service = service_of(request.path)
            outcome = self._handle(service, request, request_id, negotiated)
            # Only a client's read: a write's own reads (refusals confirmed against Arktos) stay as they are.
            if (
                isinstance(outcome, Forward)
                and outcome.from_cache is not None
                and request.method in READ_METHODS
            ):
                outcome = self._read_from_cache(outcome, outcome.from_cache, request)
        except Exception:
            log.exception(
                "request failed in the processor",
                extra={"request_id": request_id, "method": request.method, "path": request.path},
            )
            failure = internal_error(service, request_id)
            return self._finish(
                service,
                failure,
                request_id,
                request.method,
                is_legacy_v2(request.path),
                version,
            )
        if isinstance(outcome, Forward):
            translate = self._remember_proof(outcome, request)
            wrapped = self._wrap(service, translate, request, request_id, version)
            return Forward(outcome.upstream, wrapped, direct=outcome.direct)
        return self._finish(service, outcome, request_id, request.method, is_legacy_v2(request.path), version)

    def _handle(
        self,
        service: Service,
        request: ClientRequest,
        request_id: str,
        negotiated: tuple[int, int] | headers.VersionError,
    ) -> Outcome:
        if len(request.body) > self.config.max_request_body_bytes:
            limit = self.config.max_request_body_bytes
            return error_reply(service, 413, f"Request is too large: the body exceeds {limit} bytes.")
        match = self._resolve(service, request)
        if isinstance(match, Reply):
            return match
        if not match.route.public and not (request.auth_token or "").strip():
            # keystonemiddleware refuses before the service runs: nothing goes to Arktos anonymously.
            return keystone_401(self.config.public_url)
        compute_version = headers.MIN_COMPUTE_VERSION
        # The legacy v2 API ignores microversion headers (Nova's LegacyV2CompatibleWrapper).
        if match.service is Service.COMPUTE and not is_legacy_v2(request.path):
            if isinstance(negotiated, headers.VersionError):
                return error_reply(service, negotiated.status, negotiated.message)
            compute_version = negotiated
            until = match.route.served_until
            if until is not None and compute_version > until:
                # Nova's VersionNotFoundForAPIMethod: a bare 404, "as if the method were not implemented".
                return error_reply(service, 404, GENERIC_NOT_FOUND)
        refused = content_type_refusal(match.service, request)
        if refused is not None:
            return refused
        ctx = RequestContext(
            self.config,
            self.catalog,
            request_id,
            match.tenant,
            self.cluster,
            self.proofs,
            self.keypairs,
            self.key_stock,
            self.server_groups,
            compute_version,
            self.networks,
            self.arktos,
        )
        outcome = match.route.handler(ctx, request, match.params)
        if not isinstance(outcome, (Reply, Forward)):
            raise TypeError(f"handler {match.route.handler!r} returned {type(outcome).__name__}")
        return outcome

    def _resolve(self, service: Service, request: ClientRequest) -> Match | Reply:
        """The route, with HEAD answered as each service does."""
        if request.method != "HEAD":
            return resolve(request.method, request.path)
        if service is Service.COMPUTE:
            # Nova's routes are per method (Routes' conditions): HEAD matches none, so Nova answers 404,
            # after keystonemiddleware has refused a request without a token on a protected path.
            as_get = resolve("GET", request.path)
            protected = not isinstance(as_get, Reply) and not as_get.route.public
            if protected and not (request.auth_token or "").strip():
                return keystone_401(self.config.public_url)
            return error_reply(service, 404, GENERIC_NOT_FOUND)
        match = resolve("HEAD", request.path)
        if isinstance(match, Reply) and match.status == 405 and service is Service.IDENTITY:
            # Keystone (Flask) answers HEAD on every GET resource as the GET, without the body.
            as_get = resolve("GET", request.path)
            if not isinstance(as_get, Reply):
                return as_get
        return match

    def _read_from_cache(
        self, outcome: Forward, from_cache: Callable[[str], Reply | None], request: ClientRequest
    ) -> Outcome:
        """The caches' reply to a read Arktos has just let this token make (module docstring); else, for
        a ``review`` read the caches can answer, the question put to Arktos as a SelfSubjectAccessReview
        (``extproc.access_review``); else the read as it is."""
        upstream = outcome.upstream
        token = upstream.bearer_token or request.auth_token
        decisions = self.decisions
        tenant = decisions.allowed_tenant(token, upstream.method, upstream.path)
        if tenant is not None:
            cached = from_cache(tenant)
            return outcome if cached is None else cached
        if not outcome.review or not decisions.enabled or not token:
            return outcome
        access = access_of(upstream.method, upstream.path)
        if access is None or access.tenant in (SHORT_PATH, ALL_TENANTS_SEGMENT):
            return outcome
        # Built now, sent only if Arktos allows the read.
        prepared = from_cache(access.tenant)
        if prepared is None:
            return outcome
        read_translate = outcome.translate
        reviewer = token

        def translate(reply: ArktosReply) -> Reply | Awaitable[Reply]:
            allowed = access_review.review_allowed(reply)
            if allowed is None:  # a bad token's 401...: the read's own answer to it
                return read_translate(reply)
            if not allowed:
                return read_translate(access_review.FORBIDDEN)
            decisions.record_access(reviewer, access, access.tenant)
            return prepared

        return Forward(access_review.review_request(access), translate)

    def _remember_proof(self, outcome: Forward, request: ClientRequest) -> ReplyTranslator:
        """Record in ``proofs`` every 2xx Arktos gives a token on a tenant path (see tenant_proofs), and in
        the cluster cache the version of every pod written (see the module docstring)."""
        upstream = outcome.upstream
        token = upstream.bearer_token or request.auth_token
        path = upstream.path
        translate = outcome.translate
        proofs = self.proofs
        cluster = self.cluster
        writes = cluster is not None and upstream.method in WRITE_METHODS
        pod_write = _POD_PATH.match(path) if writes else None
        catalog = self.catalog

        if upstream.method in WRITE_METHODS and _CONFIGMAP_PATH.match(path):

            def remembering_configmap(reply: ArktosReply) -> Reply | Awaitable[Reply]:
                proofs.record(token, path, reply.status)
                if 200 <= reply.status < 300:
                    note_configmap_write(catalog, reply)
                return translate(reply)

            return remembering_configmap

        decisions = self.decisions
        if upstream.method == "GET" and decisions.enabled:
            short_path = tenant_of_path(path) is None

            def remembering_read(reply: ArktosReply) -> Reply | Awaitable[Reply]:
                proofs.record(token, path, reply.status)
                if 200 <= reply.status < 300:
                    tenant = answered_tenant(reply) if short_path else None
                    decisions.record(token, "GET", path, reply.status, tenant)
                return translate(reply)

            return remembering_read

        if pod_write is None:

            def remembering(reply: ArktosReply) -> Reply | Awaitable[Reply]:
                proofs.record(token, path, reply.status)
                return translate(reply)

            return remembering

        path_tenant = pod_write.group(1)

        def remembering_write(reply: ArktosReply) -> Reply | Awaitable[Reply]:
            proofs.record(token, path, reply.status)
            if cluster is not None and 200 <= reply.status < 300:
                note_pod_write(cluster, path_tenant, reply)
            return translate(reply)

        return remembering_write

    def _wrap(
        self,
        service: Service,
        translate: ReplyTranslator,
        request: ClientRequest,
        request_id: str,
        version: tuple[int, int],
    ) -> ReplyTranslator:
        legacy_v2 = is_legacy_v2(request.path)

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
            return self._finish(service, result, request_id, request.method, legacy_v2, version)

        def translated(reply: ArktosReply) -> Reply | Awaitable[Reply]:
            try:
                result = translate(reply)
                if inspect.isawaitable(result):
                    return translated_later(reply, result)
                if not isinstance(result, Reply):
                    raise TypeError(f"translate returned {type(result).__name__}")
            except Exception:
                result = failed(reply)
            return self._finish(service, result, request_id, request.method, legacy_v2, version)

        return translated

    def _finish(
        self,
        service: Service,
        reply: Reply,
        request_id: str,
        method: str = "GET",
        legacy_v2: bool = False,
        version: tuple[int, int] = headers.MIN_COMPUTE_VERSION,
    ) -> Reply:
        reply = as_keystone_401(service, reply, self.config.public_url)
        return self._decorate(service, reply, request_id, method, legacy_v2, version)

    @staticmethod
    def _decorate(
        service: Service,
        reply: Reply,
        request_id: str,
        method: str = "GET",
        legacy_v2: bool = False,
        version: tuple[int, int] = headers.MIN_COMPUTE_VERSION,
    ) -> Reply:
        if service is Service.COMPUTE:
            # The microversion the reply was served at (Nova's headers name it, not the maximum).
            extra = headers.compute_headers(request_id, version, legacy_v2=legacy_v2)
        else:
            extra = headers.request_id_headers(request_id)
        # Header names are case-insensitive: drop a handler's own spelling of a header set here.
        names = set(extra)
        for key in [k for k in reply.headers if k.lower() in names]:
            del reply.headers[key]
        reply.headers.update(extra)
        if method == "HEAD":
            reply.body = b""  # a HEAD reply has the GET's status and headers, never a body
        return reply
