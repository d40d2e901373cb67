"""Nova keypairs (``/os-keypairs``) as one Arktos ConfigMap each.

Each request is ONE Arktos call with the client's token (see ``extproc.keypair_store`` for the ConfigMap):

- ``GET /os-keypairs``: list the tenant's ConfigMaps labelled ``openstack.arktos.io/keypair``; Nova's
  index shape ``{"keypairs": [{"keypair": {name, public_key, fingerprint}}]}``, ordered by name.
- ``GET /os-keypairs/{name}``: GET of its ConfigMap; Nova's show shape (``id``, ``user_id``,
  ``created_at``, ``deleted``...). 404 ``Keypair <name> not found for user <user id>``.
- ``POST /os-keypairs``: validated with Nova's schema of the served microversion (name of letters, digits,
  spaces, ``-``, ``_``, 1-255 characters, no other keys); ``public_key`` imports a key (400 ``Keypair data
  is invalid: failed to generate fingerprint`` when it is no SSH public key), without it a key is generated
  as Nova does (RSA 2048, the private key in PEM returned once in ``private_key``, never stored), taken from
  the processor's ``KeyStock`` (made in a worker process: generation must not stall the event loop; an empty
  stock is 503 with Retry-After). POST of the ConfigMap: Arktos's 409 AlreadyExists is Nova's 409
  ``Key pair '<name>' already exists.``
- ``DELETE /os-keypairs/{name}``: DELETE of its ConfigMap.

Microversions, gated beside each field as Nova's controller and view builder do:

- 2.2: ``type`` (``ssh`` or ``x509``) in the create body and in every view; create answers 201 (200
  before), delete 204 (202 before). An ``x509`` keypair imports a PEM certificate (fingerprint: SHA-1 of
  the certificate, Nova's ``generate_x509_fingerprint``); generating one (Nova makes a WinRM certificate)
  is a 400 saying why: the VMs Arktos runs take SSH keys only.
- 2.10: ``user_id`` in the create body and as a query parameter of list/show/delete. Keypairs here belong
  to the tenant, each labelled with its user: ``user_id`` lists (shows) only that user's keypairs. Naming
  another user than the caller's is Nova's administrator policy: allowed in the system tenant (whose path
  Arktos authorizes only for its administrators), otherwise Nova's 403. A delete does not read the keypair
  first, so its ``user_id`` is checked against that policy only.
- 2.35: ``limit`` and ``marker`` (a keypair name; unknown: 400), ``keypairs_links`` when the page is full.
- 2.75: unknown query parameters are a 400 (``extproc.compute.query_schema``).
- 2.92: no generation (``public_key`` required), names may also hold ``@`` and ``.``.

``fingerprint`` is Nova's: the MD5 of the key blob (the base64 field of the public key), as colon hex
(what ``ssh-keygen -l -E md5`` prints). Keys are parsed and generated with ``cryptography``.

Nova keeps keypairs per user; Arktos tells the gateway the tenant but not the user, so keypairs here are per
tenant (every user of the tenant sees them); ``user_id`` records who created one.

``server create --key-name`` takes the public key from the processor's watch-fed ``KeypairStore``:
``public_key_for_create``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from jsonschema import Draft4Validator

from extproc import arktos_paths, client_json
from extproc.annotations import KEYPAIR_LABEL
from extproc.compute import marker_paging, schemas
from extproc.compute.query_schema import PAGINATION, STRING, QuerySchema, multi
from extproc.compute.server_fields import parse_time, usage_time
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, error_reply, from_arktos, parse_status
from extproc.identity.views import SYSTEM_TENANT
from extproc.key_generation import generate_key_pair
from extproc.keypair_store import (
    KEYPAIR_TYPE,
    X509_TYPE,
    StoredKeypair,
    configmap_name,
    from_configmap,
    keypair_configmap,
)
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
from extproc.users import user_id_for_token

Json = dict[str, Any]
Version = tuple[int, int]

# -- microversions (nova/api/openstack/compute/keypairs.py, views/keypairs.py) ---------------------------

KEY_TYPE_FROM: Version = (2, 2)  # ``type``; 201 on create, 204 on delete
OTHER_USERS_FROM: Version = (2, 10)  # ``user_id`` in the create body and the query
PAGING_FROM: Version = (2, 35)  # ``limit``, ``marker``, ``keypairs_links``
NO_GENERATION_FROM: Version = (2, 92)  # ``public_key`` required; ``@`` and ``.`` in names

# -- schemas (nova/api/openstack/compute/schemas/keypairs.py) -------------------------------------------


def _keypair_name(pattern: str) -> Json:
    return {"allOf": [schemas.NAME, {"type": "string", "pattern": pattern, "minLength": 1, "maxLength": 255}]}


KEYPAIR_NAME = _keypair_name(r"^[_\- a-zA-Z0-9]+$")
KEYPAIR_NAME_V292 = _keypair_name(r"^[_\-\@\. a-zA-Z0-9]+$")
_KEY_TYPE: Json = {"type": "string", "enum": [KEYPAIR_TYPE, X509_TYPE]}


def _create_schema(name: Json, extra: Json, required: list[str]) -> Json:
    return {
        "type": "object",
        "properties": {
            "keypair": {
                "type": "object",
                "properties": {"name": name, "public_key": {"type": "string"}, **extra},
                "required": required,
                "additionalProperties": False,
            },
        },
        "required": ["keypair"],
        "additionalProperties": False,
    }


KEYPAIR_CREATE = _create_schema(KEYPAIR_NAME, {}, ["name"])
# Nova's create (2.1), create_v22, create_v210, create_v292, by the first version each applies to.
_CREATE_VALIDATORS: Mapping[Version, Draft4Validator] = {
    since: Draft4Validator(schema, format_checker=schemas.FORMATS)
    for since, schema in (
        ((2, 1), KEYPAIR_CREATE),
        (KEY_TYPE_FROM, _create_schema(KEYPAIR_NAME, {"type": _KEY_TYPE}, ["name"])),
        (OTHER_USERS_FROM, _create_schema(KEYPAIR_NAME, {"type": _KEY_TYPE, "user_id": STRING}, ["name"])),
        (
            NO_GENERATION_FROM,
            _create_schema(KEYPAIR_NAME_V292, {"type": _KEY_TYPE, "user_id": STRING}, ["name", "public_key"]),
        ),
    )
}

# Query parameters: none at 2.1 (others ignored); user_id from 2.10; paging from 2.35; strict from 2.75.
_INDEX_QUERIES: Mapping[Version, QuerySchema] = {
    (2, 1): QuerySchema({}),
    OTHER_USERS_FROM: QuerySchema({"user_id": multi(STRING)}),
    PAGING_FROM: QuerySchema({"user_id": multi(STRING), **PAGINATION}),
}
_ITEM_QUERIES: Mapping[Version, QuerySchema] = {
    (2, 1): QuerySchema({}),
    OTHER_USERS_FROM: QuerySchema({"user_id": multi(STRING)}),
}


def _by_version(table: Mapping[Version, Any], version: Version) -> Any:
    return table[max(since for since in table if since <= version)]


INVALID_KEYPAIR = "Keypair data is invalid: failed to generate fingerprint"
INVALID_X509 = (
    "Keypair data is invalid: failed to generate X509 fingerprint. Error message: no PEM certificate"
)
X509_GENERATION_UNSUPPORTED = (
    "Generating an x509 keypair is not supported: the VMs Arktos runs take SSH keys only; import a "
    "certificate with public_key instead."
)
INVALID_KEY_NAME = "Invalid key_name provided."


def validate_create(body: Any, version: Version = (2, 1)) -> str | None:
    """Nova's 400 message for an invalid create body at ``version``, None when it is valid."""
    return schemas.validate(_by_version(_CREATE_VALIDATORS, version), body)


# -- key material (nova/crypto.py) ------------------------------------------------------------------------


def fingerprint(public_key: str) -> str | None:
    """Nova's ``generate_fingerprint``: MD5 of the key blob as colon hex; None if it is no SSH public key."""
    try:
        serialization.load_ssh_public_key(public_key.encode("utf-8"))
        blob = base64.b64decode(public_key.split(" ")[1])
    except (ValueError, IndexError, UnicodeError, UnsupportedAlgorithm, binascii.Error):
        return None
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def x509_fingerprint(certificate: str) -> str | None:
    """Nova's ``generate_x509_fingerprint``: a PEM certificate's SHA-1 as colon hex; None if it is none."""
    try:
        cert = x509.load_pem_x509_certificate(certificate.encode("utf-8"))
    except (ValueError, TypeError, UnicodeError):
        return None
    digest = cert.fingerprint(hashes.SHA1()).hex()  # Nova's fingerprint, not a signature
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


# -- views (nova/api/openstack/compute/views/keypairs.py) -----------------------------------------------


def keypair_id(keypair: StoredKeypair) -> int:
    """Nova's integer id (a database row id there): a stable 31-bit number derived from the ConfigMap uid."""
    return int(hashlib.sha256(keypair.uid.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def index_entry(keypair: StoredKeypair, version: Version = (2, 1)) -> Json:
    entry: Json = {"name": keypair.name, "public_key": keypair.public_key, "fingerprint": keypair.fingerprint}
    if version >= KEY_TYPE_FROM:
        entry["type"] = keypair.key_type
    return {"keypair": entry}


def show_body(keypair: StoredKeypair, version: Version = (2, 1)) -> Json:
    created = parse_time(keypair.created_at)
    shown: Json = {
        "name": keypair.name,
        "public_key": keypair.public_key,
        "fingerprint": keypair.fingerprint,
        "user_id": keypair.user_id,
        "created_at": usage_time(created) if created else None,
        "deleted": False,
        "deleted_at": None,
        "id": keypair_id(keypair),
        "updated_at": None,
    }
    if version >= KEY_TYPE_FROM:
        shown["type"] = keypair.key_type
    return {"keypair": shown}


def create_body(keypair: StoredKeypair, private_key: str | None, version: Version = (2, 1)) -> Json:
    body: Json = {
        "name": keypair.name,
        "public_key": keypair.public_key,
        "fingerprint": keypair.fingerprint,
        "user_id": keypair.user_id,
    }
    if private_key is not None:
        body["private_key"] = private_key
    if version >= KEY_TYPE_FROM:
        body["type"] = keypair.key_type
    return {"keypair": body}


# -- handlers ----------------------------------------------------------------------------------------------


def _user_id(req: ClientRequest) -> str:
    token = req.auth_token
    return user_id_for_token(token) if token else ""


def _not_found(name: str, user_id: str) -> Reply:
    return error_reply(Service.COMPUTE, 404, f"Keypair {name} not found for user {user_id}")


def _loaded(reply: ArktosReply) -> Any:
    try:
        return orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None


def _owner(ctx: RequestContext, req: ClientRequest, policy: str, asked: str | None) -> str | Reply:
    """The user whose keypairs a request is about: the caller's, or ``asked`` (from 2.10). Another user than
    the caller is Nova's administrator policy: the system tenant's path, which Arktos authorizes."""
    caller = _user_id(req)
    if asked is None or ctx.compute_version < OTHER_USERS_FROM or asked == caller:
        return caller
    if ctx.tenant != SYSTEM_TENANT:
        return error_reply(
            Service.COMPUTE, 403, f"Policy doesn't allow os_compute_api:os-keypairs:{policy} to be performed."
        )
    return asked


def list_keypairs(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    version = ctx.compute_version
    refused = _by_version(_INDEX_QUERIES, version).refusal(req, version)
    if refused is not None:
        return refused
    asked = req.query_one("user_id") if version >= OTHER_USERS_FROM else None
    owner = _owner(ctx, req, "index", asked)
    if isinstance(owner, Reply):
        return owner
    paged = version >= PAGING_FROM
    page = marker_paging.page_request(req)
    path = arktos_paths.configmaps(ctx.tenant, ctx.config.namespace, {"labelSelector": KEYPAIR_LABEL})

    def translate(reply: ArktosReply) -> Reply:
        listed = _loaded(reply) if reply.status == 200 else None
        items = listed.get("items") if isinstance(listed, dict) else None
        if not isinstance(items, list):
            return from_arktos(Service.COMPUTE, reply)
        found = [k for k in map(from_configmap, items) if k is not None]
        if asked is not None:
            found = [k for k in found if k.user_id == owner]
        found.sort(key=lambda k: k.name)
        if not paged:
            return json_reply(200, {"keypairs": [index_entry(k, version) for k in found]})
        shown = marker_paging.page_of(found, lambda k: k.name, page)
        if isinstance(shown, Reply):
            return shown
        body: Json = {"keypairs": [index_entry(k, version) for k in shown]}
        links = marker_paging.next_links(
            ctx, req, "os-keypairs", len(shown), shown[-1].name if shown else None
        )
        if links:
            body["keypairs_links"] = links
        return json_reply(200, body)

    return Forward(ArktosRequest(method="GET", path=path), translate)


def show_keypair(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    name = params["keypair_name"]
    version = ctx.compute_version
    refused = _by_version(_ITEM_QUERIES, version).refusal(req, version)
    if refused is not None:
        return refused
    asked = req.query_one("user_id") if version >= OTHER_USERS_FROM else None
    owner = _owner(ctx, req, "show", asked)
    if isinstance(owner, Reply):
        return owner
    path = arktos_paths.configmap(ctx.tenant, ctx.config.namespace, configmap_name(name))

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 404:
            return _not_found(name, owner)
        if reply.status != 200:
            return from_arktos(Service.COMPUTE, reply)
        found = from_configmap(_loaded(reply))
        if found is None or found.name != name or (asked is not None and found.user_id != owner):
            return _not_found(name, owner)
        return json_reply(200, show_body(found, version))

    return Forward(ArktosRequest(method="GET", path=path), translate)


def create_keypair(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
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
    requested: Mapping[str, Any] = body["keypair"]
    name: str = requested["name"]
    key_type: str = requested.get("type", KEYPAIR_TYPE)
    owner = _owner(ctx, req, "create", requested.get("user_id"))
    if isinstance(owner, Reply):
        return owner
    private_key: str | None = None
    if "public_key" in requested:
        public_key: str = requested["public_key"]
        if key_type == X509_TYPE:
            found_fingerprint = x509_fingerprint(public_key)
            if found_fingerprint is None:
                return bad_request(Service.COMPUTE, INVALID_X509)
        else:
            found_fingerprint = fingerprint(public_key)
            if found_fingerprint is None:
                return bad_request(Service.COMPUTE, INVALID_KEYPAIR)
    elif key_type == X509_TYPE:
        return bad_request(Service.COMPUTE, X509_GENERATION_UNSUPPORTED)
    else:
        generated = ctx.key_stock.take() if ctx.key_stock is not None else generate_key_pair()
        if generated is None:
            # NOTE: keys are made in a worker process (extproc.key_stock), never on the event loop.
            reply = error_reply(Service.COMPUTE, 503, "Keypair generation is busy; retry the request.")
            reply.headers["retry-after"] = "1"
            return reply
        private_key, public_key = generated
        found_fingerprint = fingerprint(public_key)
        assert found_fingerprint is not None
    configmap = keypair_configmap(name, public_key, found_fingerprint, owner, key_type)
    store = ctx.keypairs

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 409:
            return error_reply(Service.COMPUTE, 409, f"Key pair '{name}' already exists.")
        if reply.status not in (200, 201):
            return from_arktos(Service.COMPUTE, reply)
        created = _loaded(reply)
        stored = from_configmap(created)
        if stored is None:
            return from_arktos(Service.COMPUTE, reply)
        if store is not None:
            store.note_written(created)
        return json_reply(201 if version >= KEY_TYPE_FROM else 200, create_body(stored, private_key, version))

    upstream = ArktosRequest(
        method="POST",
        path=arktos_paths.configmaps(ctx.tenant, ctx.config.namespace),
        body=orjson.dumps(configmap),
        content_type=JSON_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


def delete_keypair(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    name = params["keypair_name"]
    version = ctx.compute_version
    refused = _by_version(_ITEM_QUERIES, version).refusal(req, version)
    if refused is not None:
        return refused
    owner = _owner(ctx, req, "delete", req.query_one("user_id"))
    if isinstance(owner, Reply):
        return owner
    path = arktos_paths.configmap(ctx.tenant, ctx.config.namespace, configmap_name(name))
    store = ctx.keypairs
    tenant = ctx.tenant

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 404:
            return _not_found(name, owner)
        if reply.status not in (200, 202):
            return from_arktos(Service.COMPUTE, reply)
        if store is not None and tenant is not None:
            status = parse_status(reply.body) or {}
            details = status.get("details")
            uid = details.get("uid") if isinstance(details, dict) else None
            store.note_deleted(tenant, name, str(uid) if uid else None)
        # Nova answers a keypair delete with 202 at 2.1, 204 from 2.2; no body either way.
        return Reply(status=204 if version >= KEY_TYPE_FROM else 202)

    return Forward(ArktosRequest(method="DELETE", path=path), translate)


# -- server create --key-name ------------------------------------------------------------------------------


def public_key_for_create(ctx: RequestContext, token: str | None, key_name: str) -> str | Outcome:
    """The public key of keypair ``key_name`` for a server create, or what to answer instead.

    The key comes from the watch-fed ``KeypairStore`` of the tenant named in the URL, so the create stays
    ONE Arktos write (which Arktos authorizes). The store is asked only for a token Arktos has recently let
    into that tenant (``tenant_proofs``; clients look the flavor up in the tenant first): then a known key
    goes into the pod, and an unknown one, once the watch has listed every keypair, is 400 ``Invalid
    key_name provided.`` before anything is created. Any other request becomes a GET of the keypair's
    ConfigMap with the client's token, the same call whatever the cache holds, so nothing is learnt about
    another tenant's keys: 404 is the 400 above; Arktos's refusal is passed on; an existing keypair is
    noted in the store and answered 409 (retry: the token is proven by then, and the create goes ahead).
    Without a project in the URL the tenant is known to Arktos only: the same GET, and an existing keypair
    is answered 400 (the compute URL of the service catalog names the project).
    """
    store = ctx.keypairs
    tenant = ctx.tenant
    proven = tenant is not None and ctx.proofs is not None and ctx.proofs.proven(token, tenant)
    if store is not None and tenant is not None and proven:
        found = store.public_key(tenant, key_name)
        if found is not None:
            return found
        if store.synced:
            return bad_request(Service.COMPUTE, INVALID_KEY_NAME)

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 404:
            return bad_request(Service.COMPUTE, INVALID_KEY_NAME)
        if reply.status != 200:
            return from_arktos(Service.COMPUTE, reply)
        obj = _loaded(reply)
        stored = from_configmap(obj)
        if stored is None or stored.name != key_name:
            return bad_request(Service.COMPUTE, INVALID_KEY_NAME)
        if tenant is None:
            return bad_request(
                Service.COMPUTE,
                "key_name needs the project in the compute URL (/compute/v2.1/<project>/servers), as the "
                "service catalog gives it.",
            )
        if store is not None:
            store.note_written(obj)
        return error_reply(
            Service.COMPUTE,
            409,
            f"Key pair '{key_name}' could not be checked before this create; retry the request.",
        )

    path = arktos_paths.configmap(tenant, ctx.config.namespace, configmap_name(key_name))
    return Forward(ArktosRequest(method="GET", path=path), translate)
