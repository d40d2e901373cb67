"""Nova servers (microversion 2.1) as Arktos VM pods: create, list, detail, show, update, delete.

Each handler checks the request, builds one Arktos call with ``extproc.arktos_paths`` and returns a
``Forward`` whose ``translate`` turns Arktos's reply into Nova's. Nothing here talks to the network, and
nothing decides who may do what: Arktos authorizes every call with the client's own token.

- ``POST /servers``: validated (``schemas``), flavor and image resolved in the catalog, then ``POST pods``
  with a VM pod named by a new UUID (the server id). 201 becomes Nova's 202 (fixture 09).
- ``GET /servers[/detail]``: Arktos authorizes the list (``GET pods`` of the tenant, short or all-tenants
  path, ``limit=1``) and the processor answers from its watch-fed cache, or, without a cache that shows
  the client's own writes, from Arktos's whole list; either way it keeps the VM pods, filters, sorts newest
  first and pages like Nova (limit, marker, ``servers_links``). See ``_list``.
- ``GET /servers/{id}``, ``PUT`` (rename: patch of the display-name annotation), ``DELETE``. With a cache
  that can decide, writes carry the cached VM pod's uid as a precondition (never a container pod of that
  name), and an id it does not know is a 404 without Arktos; see ``known_server``.
- Batch members Arktos refused to create show as ERROR servers ``<reservation>-failed-<i>`` (cache path of
  the lists, ``GET`` via the ReplicaSet, ``DELETE`` lowers its replicas); see ``extproc.compute.batch``.
"""

from __future__ import annotations

import base64
import re
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from extproc import annotations as keys
from extproc import arktos_paths, client_json, snapshots
from extproc.annotations import FLAVORS_CONFIGMAP, IMAGES_CONFIGMAP
from extproc.arktos_first import refuse_after_arktos
from extproc.catalog import Flavor, Image
from extproc.cluster_cache import ClusterView
from extproc.cluster_cache import tenant_of as cache_tenant
from extproc.compute import (
    batch,
    create_networking,
    idempotency,
    instance_actions,
    keypairs,
    quota,
    schemas,
    server_groups,
    server_lock,
    tenant_quota,
)
from extproc.compute.action_rules import task_lookup_for
from extproc.compute.flavors import nova_limit
from extproc.compute.server_view import (
    ServerView,
    created_at,
    display_name,
    is_server,
    list_facts,
    list_state,
    parse_time,
    server_id,
    tenant_of,
)
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, echo, error_reply, from_arktos
from extproc.ids import is_label_value, vm_name_from_display_name
from extproc.messages import (
    JSON_CONTENT_TYPE,
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
)
from extproc.query_regex import Pattern, Refused, compile_filter
from extproc.users import user_id_for_token

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
# CONF.api.max_limit: the default and the largest page.
MAX_LIMIT = 1000
ADMIN_PASS_LENGTH = 12
# nova.utils.generate_password's default symbols (no look-alikes such as 0/O, 1/l).
_PASSWORD_SYMBOLS = ("23456789", "ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz")
FALSE_STRINGS = frozenset({"0", "f", "false", "off", "n", "no"})

Json = dict[str, Any]


# ---------------------------------------------------------------------------------------------------------
# Small helpers


def json_reply(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(
        status=status, body=orjson.dumps(body), headers={"content-type": JSON_CONTENT_TYPE, **(headers or {})}
    )


def view_for(ctx: RequestContext) -> ServerView:
    """The view builder for this request: links name the URL's project, images come from the catalog."""

    def image_lookup(tenant: str | None, url: str) -> str | None:
        image = ctx.catalog.image_by_url(tenant, url)
        return image.id if image is not None else None

    tasks = task_lookup_for(ctx.cluster, ctx.config.namespace)
    return ServerView(ctx.config.public_url, ctx.tenant, image_lookup, tasks, ctx.compute_version)


def instance_not_found(sid: str) -> str:
    return f"Instance {sid} could not be found."


def _arktos_error(reply: ArktosReply, sid: str | None = None) -> Reply:
    messages = {404: instance_not_found(sid)} if sid is not None else None
    return from_arktos(Service.COMPUTE, reply, messages)


def _load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _request_json(req: ClientRequest) -> Any | Reply:
    if not req.body:
        return bad_request(Service.COMPUTE, "The request body is missing.")
    try:
        return client_json.loads(req.body)
    except orjson.JSONDecodeError:
        return bad_request(Service.COMPUTE, "Malformed request body")


def generate_password(length: int = ADMIN_PASS_LENGTH) -> str:
    """Nova's generate_password: one symbol of each group, then random symbols, shuffled."""
    chars = [secrets.choice(group) for group in _PASSWORD_SYMBOLS]
    everything = "".join(_PASSWORD_SYMBOLS)
    chars += [secrets.choice(everything) for _ in range(length - len(chars))]
    order = sorted(range(length), key=lambda _: secrets.randbits(32))
    return "".join(chars[i] for i in order)


RESERVATION_ID_RE = re.compile(r"r-[a-z0-9]{8}")


def generate_reservation_id() -> str:
    """Nova's "r-xxxxxxxx" (also a valid label value)."""
    return "r-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def ref_id(ref: str) -> str:
    """An id from a flavorRef/imageRef that may be a link (``http://.../flavors/1``)."""
    if "/" not in ref:
        return ref
    path = urlsplit(ref).path if "://" in ref else ref
    return path.rstrip("/").rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------------------------
# POST /servers


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A validated create body, reduced to what the gateway uses."""

    name: str
    flavor_ref: str
    image_ref: str
    key_name: str | None
    user_data: str | None
    metadata: Mapping[str, str]
    min_count: int
    max_count: int
    return_reservation_id: bool
    admin_pass: str | None
    access_ipv4: str | None
    access_ipv6: str | None
    networking: create_networking.RequestedNetworking


def _is_image_local(bdm: Mapping[str, Any]) -> bool:
    boot_index = bdm.get("boot_index")
    return (
        bdm.get("source_type") == "image"
        and bdm.get("destination_type", "local") == "local"
        and boot_index is not None
        and str(boot_index) == "0"
        and bool(bdm.get("uuid"))
    )


BDM_UNSUPPORTED = (
    "Block device mapping is not supported by this cloud: the only accepted entry boots from an image onto "
    "local disk (source_type image, destination_type local, boot_index 0, uuid <image id>)."
)


def parse_create(body: Any) -> CreateRequest | str:
    """The create request, or Nova's 400 message."""
    problem = schemas.validate_create(body)
    if problem is not None:
        return problem
    server: Mapping[str, Any] = body["server"]

    image_ref = server.get("imageRef") or ""
    bdms = server.get("block_device_mapping_v2") or []
    for bdm in bdms:
        if not _is_image_local(bdm):
            return BDM_UNSUPPORTED
    if len(bdms) > 1:
        return BDM_UNSUPPORTED
    if not image_ref and bdms:
        image_ref = str(bdms[0]["uuid"])
    if not image_ref:
        return "Missing imageRef attribute"

    try:
        min_count = int(server.get("min_count", 1))
        max_count = int(server.get("max_count", min_count))
    except ValueError:
        return "min_count and max_count must be integers"
    if min_count < 1:
        return "Invalid input received: min_count must be >= 1"
    if max_count < 1:
        return "Invalid input received: max_count must be >= 1"
    if min_count > max_count:
        return "min_count must be <= max_count"

    zone = server.get("availability_zone")
    if zone not in (None, "", "nova"):
        return f"The requested availability zone is not available: {zone}"
    networking = create_networking.parse(server)
    if isinstance(networking, str):
        return networking

    return CreateRequest(
        name=server["name"],
        flavor_ref=ref_id(str(server["flavorRef"])),
        image_ref=ref_id(str(image_ref)),
        key_name=server.get("key_name") or None,
        user_data=server.get("user_data") or None,
        metadata=dict(server.get("metadata") or {}),
        min_count=min_count,
        max_count=max_count,
        return_reservation_id=schemas.is_true(server.get("return_reservation_id", False)),
        admin_pass=server.get("adminPass"),
        access_ipv4=schemas.canonical_ip(server["accessIPv4"]) if server.get("accessIPv4") else None,
        access_ipv6=schemas.canonical_ip(server["accessIPv6"]) if server.get("accessIPv6") else None,
        networking=networking,
    )


@dataclass(frozen=True, slots=True)
class PodInputs:
    """What ``build_pod`` needs besides the request: all resolved, all plain values."""

    server_id: str
    reservation_id: str
    image_id: str
    image_url: str
    flavor_id: str
    vcpus: int
    ram_mib: int
    user_id: str
    default_keypair: str
    # The client's X-OpenStack-Request-ID when it names the create (extproc.compute.idempotency).
    client_request_id: str | None = None
    # The public key of the create's key_name (see keypairs.public_key_for_create); None without key_name.
    public_key: str | None = None
    # The create's instance action record (``instance_actions.record_annotations``), kept on the pod.
    instance_action: Mapping[str, str] | None = None


def build_pod(create: CreateRequest, inputs: PodInputs) -> Json:
    """The VM pod for a create request (field names as Arktos accepts them, fixtures 03 and 08)."""
    pod_annotations = {
        keys.DISPLAY_NAME: create.name,
        keys.FLAVOR_ID: inputs.flavor_id,
        keys.IMAGE_ID: inputs.image_id,
        keys.USER_ID: inputs.user_id,
        keys.METADATA: orjson.dumps(dict(create.metadata)).decode(),
        keys.CREATED_BY: keys.CREATED_BY_GATEWAY,
    }
    if create.key_name:
        pod_annotations[keys.KEY_NAME] = create.key_name
    if inputs.client_request_id:
        pod_annotations[keys.CLIENT_REQUEST_ID] = inputs.client_request_id
    if create.access_ipv4:
        pod_annotations[keys.ACCESS_IPV4] = create.access_ipv4
    if create.access_ipv6:
        pod_annotations[keys.ACCESS_IPV6] = create.access_ipv6
    pod_annotations.update(inputs.instance_action or {})
    resources = {"cpu": str(inputs.vcpus), "memory": f"{inputs.ram_mib}Mi"}
    vm: Json = {
        "name": vm_name_from_display_name(create.name),
        "image": inputs.image_url,
        "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": dict(resources), "requests": dict(resources)},
        # NOTE: Arktos refuses a VM without keyPairName or publicKey (fixture 05); Nova needs no key.
        "keyPairName": create.key_name or inputs.default_keypair,
        "powerSpec": "Running",
    }
    if inputs.public_key is not None:
        vm["publicKey"] = inputs.public_key
    if create.user_data:
        # NOTE: Nova's user_data is base64 text; Arktos's userData is []byte, which JSON carries as base64,
        # so the client's text is encoded once more and the guest receives exactly what Nova's would.
        vm["userData"] = base64.b64encode(create.user_data.encode("ascii")).decode("ascii")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": inputs.server_id,
            "labels": {keys.RESERVATION_ID: inputs.reservation_id},
            "annotations": pod_annotations,
        },
        "spec": {"virtualMachine": vm},
    }


def create_server(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    body = _request_json(req)
    if isinstance(body, Reply):
        return body
    create = parse_create(body)
    if isinstance(create, str):
        return bad_request(Service.COMPUTE, create)
    limit = ctx.config.max_servers_per_request
    if create.max_count > limit:
        return bad_request(
            Service.COMPUTE,
            f"Invalid input for field/attribute max_count. Value: {create.max_count}. "
            f"{create.max_count} is greater than the maximum of {limit}",
        )

    token = req.auth_token
    chosen = _flavor_and_image(ctx, create)
    if isinstance(chosen, _CatalogRefusal):
        # Decided from the watch-fed catalog: told only once Arktos has let the caller into the tenant.
        probe = arktos_paths.configmap(ctx.tenant, ctx.config.namespace, chosen.configmap)
        return refuse_after_arktos(ctx, token, chosen.reply, ctx.tenant, probe)
    flavor, image = chosen
    # Only what exists everywhere is consulted (the "default" group, no network yet): nothing to hide.
    unavailable = create_networking.refusal(create.networking, _tenant_has_network)
    if unavailable is not None:
        return bad_request(Service.COMPUTE, unavailable)

    # NOTE: Nova looks the keypair up before it counts the quota (_validate_and_build_base_options).
    public_key: str | None = None
    if create.key_name:
        found = keypairs.public_key_for_create(ctx, token, create.key_name)
        if not isinstance(found, str):
            return found
        public_key = found
    # NOTE: Nova finds the hinted server group before it counts the quota (_get_requested_instance_group).
    group_id = server_groups.requested_group(body)
    group_policy: str | None = None
    if group_id is not None:
        policy = server_groups.policy_for_create(ctx, token, group_id)
        if not isinstance(policy, str):
            return policy
        group_policy = policy
    count = _servers_that_fit(ctx, token, create, flavor)
    if isinstance(count, quota.OverQuota):
        return error_reply(Service.COMPUTE, 403, count.message)
    retry = idempotency.handle_for(ctx.tenant, req.headers, body)
    inputs = PodInputs(
        server_id=retry.server_id if retry else str(uuid.uuid4()),
        reservation_id=retry.reservation_id if retry else generate_reservation_id(),
        image_id=image.id,
        image_url=image.url,
        flavor_id=flavor.id,
        vcpus=flavor.vcpus,
        ram_mib=flavor.ram,
        user_id=user_id_for_token(token) if token else "",
        default_keypair=ctx.config.default_keypair,
        client_request_id=retry.request_id if retry else None,
        public_key=public_key,
        instance_action=instance_actions.record_annotations(
            instance_actions.new_record(ctx, token, instance_actions.CREATE)
        ),
    )
    pod = build_pod(create, inputs)
    if group_id is not None and group_policy is not None:
        pod = server_groups.join_group(pod, group_id, group_policy)
    view = view_for(ctx)
    admin_pass = create.admin_pass or generate_password()
    if count > 1:
        return _create_batch(ctx, create, count, pod, inputs.reservation_id, view, admin_pass, retry)

    def translate(reply: ArktosReply) -> Reply:
        # A retry of a create that succeeded (its outcome was unknown to the client): answer as then.
        retried = retry is not None and idempotency.already_created(reply)
        if reply.status not in (200, 201, 202) and not retried:
            # Arktos's own quota refusal reads in Nova's words (``errors.quota_message``).
            return _arktos_error(reply)
        headers = {"location": view.self_url(inputs.server_id)}
        if create.return_reservation_id:
            return json_reply(202, {"reservation_id": inputs.reservation_id}, headers)
        return json_reply(202, {"server": view.create(inputs.server_id, admin_pass)}, headers)

    upstream = ArktosRequest(
        method="POST",
        path=arktos_paths.pods(ctx.tenant, ctx.config.namespace),
        body=orjson.dumps(pod),
        content_type=JSON_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


def _tenant_has_network(network_id: str) -> bool:
    """Whether the URL's tenant has the network a create names. NOTE: the gateway shows no network ids yet
    (the Neutron facade of issue 15 will), so no id names a network a client could have learnt; the VM
    pod joins its tenant's default Arktos network ("auto")."""
    return False


@dataclass(frozen=True, slots=True)
class _CatalogRefusal:
    """Why the catalog refuses a create, and which catalog ConfigMap said so."""

    reply: Reply
    configmap: str


def _flavor_and_image(ctx: RequestContext, create: CreateRequest) -> tuple[Flavor, Image] | _CatalogRefusal:
    """The create's flavor and image in the URL tenant's catalog, or Nova's 400 (nova/compute/api.py)."""
    flavor = ctx.catalog.find_flavor(ctx.tenant, create.flavor_ref)
    if flavor is None:
        message = f"Flavor {create.flavor_ref} could not be found."
        return _CatalogRefusal(bad_request(Service.COMPUTE, message), FLAVORS_CONFIGMAP)
    image = ctx.catalog.find_image(ctx.tenant, create.image_ref)
    if image is None:
        message = f"Image {create.image_ref} could not be found."
        return _CatalogRefusal(bad_request(Service.COMPUTE, message), IMAGES_CONFIGMAP)
    if snapshots.is_snapshot(image):
        # NOTE: an Arktos snapshot lives with its VM and is not a disk image a new VM can boot from.
        message = (
            f"Image {create.image_ref} is a snapshot of another server; Arktos can only restore it into that "
            "server (rebuild), not boot a new server from it."
        )
        return _CatalogRefusal(bad_request(Service.COMPUTE, message), IMAGES_CONFIGMAP)
    if image.min_ram and flavor.ram < image.min_ram:
        message = "Flavor's memory is too small for requested image."
        return _CatalogRefusal(bad_request(Service.COMPUTE, message), IMAGES_CONFIGMAP)
    if image.min_disk and flavor.disk and flavor.disk < image.min_disk:
        message = "Flavor's disk is too small for requested image."
        return _CatalogRefusal(bad_request(Service.COMPUTE, message), IMAGES_CONFIGMAP)
    return flavor, image


def _servers_that_fit(
    ctx: RequestContext, token: str | None, create: CreateRequest, flavor: Flavor
) -> int | quota.OverQuota:
    """Nova's quota check of a create (``extproc.compute.quota``), made only when the watch knows the quota
    and Arktos has recently let this token into the URL's tenant; else every server asked for is tried."""
    cluster, proofs, tenant = ctx.cluster, ctx.proofs, ctx.tenant
    if cluster is None or proofs is None or tenant is None or not proofs.proven(token, tenant):
        return create.max_count
    quotas = cluster.resource_quotas(tenant, ctx.config.namespace)
    if quotas is None:
        return create.max_count
    # Cores and ram: counted from the cache's VM pods, only while the cache is current.
    used = cluster.derived(tenant, ctx.config.namespace, tenant_quota.in_use) if cluster.synced else None
    others = quota.vm_resource_rooms(quotas, used, flavor.vcpus, flavor.ram) if used is not None else []
    return quota.servers_to_create(create.min_count, create.max_count, quota.pod_quota(quotas), others)


def _create_batch(
    ctx: RequestContext,
    create: CreateRequest,
    count: int,
    pod: Json,
    reservation_id: str,
    view: ServerView,
    admin_pass: str,
    retry: idempotency.RetryHandle | None = None,
) -> Outcome:
    """More than one server (``count``: ``max_count``, or fewer when the quota says so): one
    ``POST replicasets`` (see ``extproc.compute.batch``).

    The reply needs the first server's id, which does not exist when Arktos answers the ReplicaSet POST:
    the controller names its pods ``<rs>-<5 random chars>`` afterwards. So the reply waits (asynchronously,
    at most ``FIRST_SERVER_WAIT_SECONDS``) on the processor's watch cache until the first member appears,
    and answers with it; the wait ends with the controller's first pod, so it does not grow with the batch.
    ``return_reservation_id`` needs no member and answers at once.

    If no member appears in time (or the processor has no watch), the reply's server id is the reservation
    id: ``GET /servers/<reservation id>`` shows the batch's first server as soon as it exists (see
    ``show_server``), so a client polling it (``openstack server create --wait``) gets there too.
    If the controller reports that it cannot create any pod (``ReplicaFailure``: quota, admission) before a
    member exists, the reply is that error; the reconciler deletes the empty ReplicaSet.
    """
    replicaset = batch.build_replicaset(pod, reservation_id, count)
    namespace = ctx.config.namespace
    cluster = ctx.cluster

    def created(sid: str) -> Reply:
        return json_reply(202, {"server": view.create(sid, admin_pass)}, {"location": view.self_url(sid)})

    async def translate(reply: ArktosReply) -> Reply:
        # A retried batch finds its ReplicaSet (named by the retry handle) and answers as the first did.
        retried = retry is not None and idempotency.already_created(reply)
        if reply.status not in (200, 201, 202) and not retried:
            return _arktos_error(reply)
        if create.return_reservation_id:
            return json_reply(202, {"reservation_id": reservation_id})
        body = _load_json(reply.body)
        tenant = str(((body or {}).get("metadata") or {}).get("tenant") or ctx.tenant or "")
        if cluster is None or not tenant:
            return created(reservation_id)

        def probe() -> str | batch.CreationFailure | None:
            assert cluster is not None
            return _first_member_or_failure(cluster, tenant, namespace, reservation_id)

        outcome = await cluster.wait_for(probe, batch.FIRST_SERVER_WAIT_SECONDS)
        if isinstance(outcome, batch.CreationFailure):
            return error_reply(Service.COMPUTE, outcome.status, outcome.message)
        if isinstance(outcome, str):
            # The reply's server is the batch's first: every view and the reconciler index it 1.
            cluster.note_first_member(tenant, namespace, reservation_id, outcome)
            return created(outcome)
        return created(reservation_id)

    upstream = ArktosRequest(
        method="POST",
        path=arktos_paths.replicasets(ctx.tenant, namespace),
        body=orjson.dumps(replicaset),
        content_type=JSON_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


def _batch_members(cluster: ClusterView, tenant: str, namespace: str, reservation_id: str) -> list[Json]:
    return [
        dict(p)
        for p in cluster.pods_with_label(tenant, namespace, keys.RESERVATION_ID, reservation_id)
        if batch.is_member(p) and batch.is_live(p)
    ]


def _first_member_or_failure(
    cluster: ClusterView, tenant: str, namespace: str, reservation_id: str
) -> str | batch.CreationFailure | None:
    first = batch.first_member(_batch_members(cluster, tenant, namespace, reservation_id))
    if first is not None:
        return first
    for rs in cluster.replicasets_with_label(keys.RESERVATION_ID):
        meta = rs.get("metadata") or {}
        where = (meta.get("tenant"), meta.get("namespace"), meta.get("name"))
        if where == (tenant, namespace, reservation_id):
            message = batch.creation_failure(rs)
            if message is None or not batch.made_nothing(rs):
                # Still creating, or the controller made pods the pod watch has not shown yet.
                return None
            return batch.failure_reply(message)
    return None


# ---------------------------------------------------------------------------------------------------------
# GET /servers and /servers/detail


def _bool_param(name: str, value: str) -> bool | str:
    """oslo's strict bool_from_string; the error message when ``value`` is neither."""
    lowered = value.strip().lower()
    if lowered in schemas.TRUE_STRINGS:
        return True
    if lowered in FALSE_STRINGS:
        return False
    accepted = ", ".join(f"'{v}'" for v in sorted(schemas.TRUE_STRINGS | FALSE_STRINGS))
    shown = echo(value)
    return (
        f"Invalid input received: Unrecognized value '{shown}' for {name}, acceptable values are: {accepted}"
    )


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The parsed query of a server list: Nova's filters and paging."""

    limit: int = MAX_LIMIT
    marker: str | None = None
    all_tenants: bool = False
    name: Pattern | None = None
    statuses: frozenset[str] = frozenset()
    image: str | None = None
    flavor: str | None = None
    changes_since: datetime | None = None
    reservation_id: str | None = None
    tenant_id: str | None = None
    ip: Pattern | None = None
    ip6: Pattern | None = None
    # All-tenants lists span every namespace; servers live in the gateway's namespace only.
    namespace: str | None = None

    def wants(self, pod: Mapping[str, Any]) -> bool:
        metadata = pod.get("metadata") or {}
        annotations_ = metadata.get("annotations") or {}
        if self.namespace is not None and metadata.get("namespace", self.namespace) != self.namespace:
            return False
        if self.name is not None and not self.name.search(display_name(pod)):
            return False
        if self.statuses and list_state(list_facts(pod)).status not in self.statuses:
            return False
        if self.image is not None and annotations_.get(keys.IMAGE_ID) != self.image:
            return False
        if self.flavor is not None and annotations_.get(keys.FLAVOR_ID) != self.flavor:
            return False
        if self.changes_since is not None:
            updated = list_facts(pod).updated
            if updated is None or updated < self.changes_since:
                return False
        if self.reservation_id is not None:
            labels = (pod.get("metadata") or {}).get("labels") or {}
            if labels.get(keys.RESERVATION_ID) != self.reservation_id:
                return False
        if self.tenant_id is not None and tenant_of(pod) != self.tenant_id:
            return False
        if self.ip is None and self.ip6 is None:
            return True
        ips = list_facts(pod).ips
        if self.ip is not None and not any(self.ip.search(a) for a in ips if ":" not in a):
            return False
        return self.ip6 is None or any(self.ip6.search(a) for a in ips if ":" in a)


def parse_list_query(req: ClientRequest, namespace: str | None = None) -> ListQuery | Reply:
    """Nova's list parameters; unknown ones (osc's ``deleted=False``...) are ignored, as Nova does."""
    one = req.query_one

    # NOTE: limit=0 is an empty page without a next link, as Nova's get_limit_and_marker gives.
    limit = nova_limit(one("limit"))
    if isinstance(limit, Reply):
        return limit

    all_tenants = False
    raw_all = one("all_tenants")
    if raw_all is not None:
        parsed = _bool_param("all_tenants", raw_all)
        if isinstance(parsed, str):
            return bad_request(Service.COMPUTE, parsed)
        all_tenants = parsed

    changes_since = None
    raw_since = one("changes-since")
    if raw_since is not None:
        changes_since = parse_time(raw_since)
        if changes_since is None:
            return bad_request(
                Service.COMPUTE,
                f"Invalid input for query parameters changes-since. Value: {echo(raw_since)}. "
                f"'{echo(raw_since)}' is not a 'date-time'",
            )

    # Nova's regex filters, run by a linear-time engine (client patterns never backtrack on the loop).
    patterns: dict[str, Pattern | None] = {}
    for parameter in ("name", "ip", "ip6"):
        raw = one(parameter)
        compiled = compile_filter(parameter, raw) if raw else None
        if isinstance(compiled, Refused):
            return bad_request(Service.COMPUTE, compiled.message)
        patterns[parameter] = compiled
    image = one("image")
    tenant_id = one("tenant_id") or one("project_id")
    return ListQuery(
        limit=limit,
        marker=one("marker") or None,
        all_tenants=all_tenants,
        name=patterns["name"],
        statuses=frozenset(s.upper() for s in req.query.get("status", []) if s),
        image=ref_id(image) if image else None,
        flavor=one("flavor") or None,
        changes_since=changes_since,
        reservation_id=one("reservation_id") or None,
        # NOTE: Nova only honours a project filter together with all_tenants; else it is the caller's own.
        tenant_id=tenant_id if all_tenants and tenant_id else None,
        ip=patterns["ip"],
        ip6=patterns["ip6"],
        namespace=namespace if all_tenants else None,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sort_key(pod: Mapping[str, Any]) -> tuple[datetime, str]:
    """Nova's default order is created_at desc, id desc; callers sort with reverse=True."""
    return (created_at(pod) or _EPOCH, server_id(pod))


@dataclass(frozen=True, slots=True)
class Page:
    pods: list[Mapping[str, Any]]
    # The id of the last item when the page is full (Nova then offers a "next" link).
    next_marker: str | None


def select_page(items: list[Any], query: ListQuery) -> Page | Reply:
    """Servers among ``items`` (pods of an Arktos list) that the query wants, newest first, one page."""
    servers = [p for p in items if is_server(p)]
    ordered = sorted((p for p in servers if query.wants(p)), key=sort_key, reverse=True)
    if query.marker is not None:
        marker_pod = next((p for p in servers if server_id(p) == query.marker), None)
        if marker_pod is None:
            return bad_request(Service.COMPUTE, f"marker [{echo(query.marker)}] not found")
        marker_key = sort_key(marker_pod)
        ordered = [p for p in ordered if sort_key(p) < marker_key]
    page = ordered[: query.limit]
    full = bool(page) and len(page) == query.limit
    return Page(page, server_id(page[-1]) if full else None)


@dataclass(frozen=True, slots=True)
class Ordered:
    """The servers of one list scope, as ``select_page`` sees them, sorted once (newest first)."""

    pods: list[Mapping[str, Any]]
    keys: list[tuple[datetime, str]]
    # server id -> index of its first occurrence (the marker ``select_page`` finds)
    position: dict[str, int]


def _ordered(keyed: list[tuple[tuple[datetime, str], Mapping[str, Any]]]) -> Ordered:
    """Servers sorted newest first by their keys, with each id's position for markers."""
    keyed.sort(key=lambda kp: kp[0], reverse=True)
    servers = [p for _, p in keyed]
    position: dict[str, int] = {}
    for index, pod in enumerate(servers):
        position.setdefault(server_id(pod), index)
    return Ordered(servers, [k for k, _ in keyed], position)


def order_servers(items: list[Any]) -> Ordered:
    """``items`` (pods of one scope) as ``select_page`` orders them: the servers, batch members showing
    their provisional names, newest first. A module-level function so the cache can memoize it
    (``ClusterView.derived`` keys on it)."""
    keyed: list[tuple[tuple[datetime, str], Mapping[str, Any]]] = []
    for pod in batch.with_provisional_names(items):
        if is_server(pod):
            # ``sort_key`` inlined: this runs for every pod of the scope after each change in it.
            meta = pod.get("metadata") or {}
            created = parse_time(meta.get("creationTimestamp")) or _EPOCH
            keyed.append(((created, str(meta.get("name") or "")), pod))
    return _ordered(keyed)


def with_servers(ordered: Ordered, extra: list[Json]) -> Ordered:
    """``ordered`` with the servers ``extra`` added in their place (a new value: ``ordered`` is memoized)."""
    keyed = list(zip(ordered.keys, ordered.pods, strict=True))
    keyed.extend((sort_key(p), p) for p in extra)
    return _ordered(keyed)


def _failed_servers(cluster: ClusterView, tenant: str | None, namespace: str) -> list[Json]:
    """The batch members Arktos refused to create, in a list's scope (tenant None: every tenant), as ERROR
    servers (``batch.failed_members``). ReplicaSets exist only while a batch is being created, so this scans
    a handful of objects."""
    found: list[Json] = []
    for rs in cluster.replicasets_with_label(keys.RESERVATION_ID):
        if batch.creation_failure(rs) is None:
            continue
        rs_tenant, rs_namespace, reservation = batch.batch_key(rs)
        if rs_namespace != namespace or (tenant is not None and rs_tenant != tenant):
            continue
        members = _batch_members(cluster, rs_tenant, namespace, reservation)
        found.extend(batch.failed_members(rs, members))
    return found


def select_ordered(ordered: Ordered, query: ListQuery) -> Page | Reply:
    """``select_page`` over servers sorted already: the same page, without sorting or filtering more than
    the page needs (filters run only until the page is full)."""
    start = 0
    if query.marker is not None:
        index = ordered.position.get(query.marker)
        if index is None:
            return bad_request(Service.COMPUTE, f"marker [{echo(query.marker)}] not found")
        # Strictly older than the marker: everything before it sorts >= it; skip it and its equals.
        keys_ = ordered.keys
        marker_key = keys_[index]
        start = index
        while start < len(keys_) and keys_[start] >= marker_key:
            start += 1
    page: list[Mapping[str, Any]] = []
    wants = query.wants
    pods = ordered.pods
    for i in range(start, len(pods)):
        if len(page) >= query.limit:
            break
        if wants(pods[i]):
            page.append(pods[i])
    full = bool(page) and len(page) == query.limit
    return Page(page, server_id(page[-1]) if full else None)


def next_link(view: ServerView, req: ClientRequest, detail: bool, marker: str) -> str:
    """Nova's _get_next_link: the request's parameters, sorted, with the marker replaced."""
    params = [(k, v) for k in sorted(req.query) if k != "marker" for v in req.query[k]]
    params.append(("marker", marker))
    params.sort(key=lambda kv: kv[0])
    return f"{view.collection_url(detail)}?{urlencode(params)}"


def _list_reply(view: ServerView, req: ClientRequest, detail: bool, page: Page | Reply) -> Reply:
    if isinstance(page, Reply):
        return page
    body: Json = {"servers": view.detail(page.pods) if detail else view.index(page.pods)}
    if page.next_marker is not None:
        body["servers_links"] = [{"rel": "next", "href": next_link(view, req, detail, page.next_marker)}]
    return json_reply(200, body)


def _list_items(reply: ArktosReply) -> list[Any] | Reply:
    """The items of an Arktos pod list, or the reply the client gets instead."""
    if reply.status != 200:
        return _arktos_error(reply)
    listed = _load_json(reply.body)
    items = listed.get("items") if isinstance(listed, dict) else None
    if not isinstance(items, list):
        return error_reply(Service.COMPUTE, 500, "Arktos answered the pod list with an unexpected body.")
    return items


def _list(ctx: RequestContext, req: ClientRequest, detail: bool) -> Outcome:
    """A server list: answered from the watch-fed cache when it can be, else from Arktos's whole list.

    Arktos authorizes every list either way. With a cache that is synced and already shows every pod write
    that went through this processor for the tenant (``ClusterView.caught_up``: read-your-writes), the
    request goes to Arktos as the very same list (path, verb, selector) with ``limit=1``: Arktos checks
    that the caller may list pods there (tenant, short or all-tenants path) exactly as for the full list,
    and its reply is one pod instead of all of them (28 MB for 10,000 servers, parsed per request). The
    servers then come from the cache: that tenant's pods (all tenants' for ``all_tenants``; for the short
    path, the tenant Arktos resolved, read from the probe's pod; a probe without any pod means the caller
    has no pod in the namespace at all, so the list is empty). A non-2xx probe is translated as the list's
    error would be.

    Why decide before forwarding rather than wait in the translation: a Forward is one Arktos call, so once
    the probe has gone out, a cache that cannot catch up leaves nothing correct to answer with. Checked
    here, the fallback is the real full list. A write's reply passes through this processor (and is noted
    in the cache, see ``extproc.app``) before the client can send its next request, so a client's own
    writes are always known when its list arrives; the watch has usually applied them by then (it was
    sent when Arktos committed the write, before Arktos replied).

    Writes made outside the gateway (kubectl, controllers, the node agent's status updates) show up as
    soon as the watch delivers them: a list may be that much (milliseconds, more if the watch is down
    and reconnecting) behind Arktos for them, as a Nova list is behind its compute nodes.
    """
    query = parse_list_query(req, ctx.config.namespace)
    if isinstance(query, Reply):
        return query
    view = view_for(ctx)
    # A reservation filter is also a label selector: Arktos sends only that batch (the filter in
    # ``ListQuery.wants`` still applies; a value that is no label value matches nothing there).
    selector: dict[str, str] = {}
    if query.reservation_id is not None and is_label_value(query.reservation_id):
        selector["labelSelector"] = f"{keys.RESERVATION_ID}={query.reservation_id}"

    def path(params: dict[str, str]) -> str:
        if query.all_tenants:
            return arktos_paths.all_tenants_pods(params)
        return arktos_paths.pods(ctx.tenant, ctx.config.namespace, params)

    cluster = ctx.cluster
    scope = None if query.all_tenants else ctx.tenant
    if cluster is not None and cluster.synced and cluster.caught_up(scope):
        return _list_from_cache(ctx, req, detail, query, view, cluster, path({**selector, "limit": "1"}))

    def translate(reply: ArktosReply) -> Reply:
        items = _list_items(reply)
        if isinstance(items, Reply):
            return items
        if cluster is not None:
            # The member a create reply answered with is index 1 here too (the cache remembers it).
            items = batch.mark_first_members(items, cluster.first_member_hint)
        # Batch members not named yet show the name the reconciler will give them (name filters see it).
        # NOTE: members Arktos refused to create (``batch.failed_members``) are not shown on this path: they
        # come from the ReplicaSet, which this one pod list does not include; the cache path shows them.
        return _list_reply(view, req, detail, select_page(batch.with_provisional_names(items), query))

    return Forward(ArktosRequest(method="GET", path=path(selector)), translate)


def _list_from_cache(
    ctx: RequestContext,
    req: ClientRequest,
    detail: bool,
    query: ListQuery,
    view: ServerView,
    cluster: ClusterView,
    probe_path: str,
) -> Forward:
    namespace = ctx.config.namespace

    def translate(reply: ArktosReply) -> Reply:
        items = _list_items(reply)
        if isinstance(items, Reply):
            return items
        if query.all_tenants:
            tenant = None
        elif ctx.tenant is not None:
            tenant = ctx.tenant
        elif items and isinstance(items[0], dict):
            tenant = cache_tenant(items[0])
        else:
            # The short path's tenant is the caller's, which only Arktos knows; it listed no pod at all.
            return _list_reply(view, req, detail, select_page([], query))

        def with_refused_members() -> Ordered:
            # Built once per change of the scope's pods or ReplicaSets, not per list: a batch with many
            # refused members costs its first list, never every later one.
            ordered = cluster.derived(tenant, namespace, order_servers)
            failed = _failed_servers(cluster, tenant, namespace)
            return with_servers(ordered, failed) if failed else ordered

        ordered = cluster.memoized(tenant, namespace, "servers-with-refused-members", with_refused_members)
        return _list_reply(view, req, detail, select_ordered(ordered, query))

    return Forward(ArktosRequest(method="GET", path=probe_path), translate)


def list_servers(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _list(ctx, req, detail=False)


def list_servers_detail(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    return _list(ctx, req, detail=True)


# ---------------------------------------------------------------------------------------------------------
# GET, PUT, DELETE /servers/{server_id}


def _server_reply(sid: str, render: Callable[[Mapping[str, Any]], Json]) -> Callable[[ArktosReply], Reply]:
    """A translate for a reply carrying one pod: 200 with ``{"server": render(pod)}``, 404 unless a VM."""

    def translate(reply: ArktosReply) -> Reply:
        if reply.status != 200:
            return _arktos_error(reply, sid)
        pod = _load_json(reply.body)
        if not is_server(pod):
            return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
        return json_reply(200, {"server": render(pod)})

    return translate


def _batch_named(ctx: RequestContext, pod: Mapping[str, Any]) -> Mapping[str, Any]:
    """``pod`` with the name the batch reconciler will write, if it is a member not named yet.

    A single pod does not tell its index: the other members come from the watch cache (without one, the
    member shows the name the client asked for until the reconciler names it, within moments).
    """
    cluster = ctx.cluster
    if cluster is None or not batch.is_member(pod) or batch.index_of(pod) is not None:
        return pod
    tenant, namespace, reservation = batch.batch_key(pod)
    siblings = cluster.pods_with_label(tenant, namespace, keys.RESERVATION_ID, reservation)
    return batch.name_for(pod, siblings)


def _first_of_batch(ctx: RequestContext, reservation_id: str) -> Mapping[str, Any] | None:
    """The first server of a batch, for a client that got the reservation id as the server id (the create
    reply could not wait for the first member, see ``_create_batch``)."""
    cluster = ctx.cluster
    if cluster is None or ctx.tenant is None or not RESERVATION_ID_RE.fullmatch(reservation_id):
        return None
    members = _batch_members(cluster, ctx.tenant, ctx.config.namespace, reservation_id)
    first = batch.first_member(members)
    return next((p for p in members if server_id(p) == first), None)


def _cached_replicaset(ctx: RequestContext, reservation: str) -> Mapping[str, Any] | None:
    """The batch's ReplicaSet in the cache: in the URL's tenant, or (short path) the only one of that name."""
    cluster = ctx.cluster
    if cluster is None:
        return None
    found = [
        rs
        for rs in cluster.replicasets_with_label(keys.RESERVATION_ID)
        if batch.batch_key(rs)[1:] == (ctx.config.namespace, reservation)
        and (rs.get("metadata") or {}).get("name") == reservation
        and (ctx.tenant is None or batch.batch_key(rs)[0] == ctx.tenant)
    ]
    return found[0] if len(found) == 1 else None


def _failed_indices(ctx: RequestContext, rs: Mapping[str, Any]) -> list[int]:
    """The missing members of ``rs``: indices of the existing ones from the cache, else (no cache) taken to
    be the first ``status.replicas`` (what ``assign_indices`` gives a batch nobody deleted from)."""
    tenant, namespace, reservation = batch.batch_key(rs)
    if ctx.cluster is not None:
        return batch.failed_indices_of(rs, _batch_members(ctx.cluster, tenant, namespace, reservation))
    made = (rs.get("status") or {}).get("replicas", 0)
    made = made if isinstance(made, int) else 0
    return batch.failed_indices(rs, range(1, made + 1), made)


def _show_failed_member(ctx: RequestContext, sid: str, reservation: str, index: int) -> Forward:
    """``GET /servers/<reservation>-failed-<i>``: one GET of the ReplicaSet (Arktos authorizes it), shown as
    that missing member while the controller still reports it missing; 404 once the ReplicaSet is gone or
    the member exists."""
    view = view_for(ctx)

    def translate(reply: ArktosReply) -> Reply:
        if reply.status != 200:
            return _arktos_error(reply, sid)
        rs = _load_json(reply.body)
        if not isinstance(rs, dict) or index not in _failed_indices(ctx, rs):
            return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
        return json_reply(200, {"server": view.show(batch.failed_member(rs, index))})

    upstream = ArktosRequest(
        method="GET", path=arktos_paths.replicaset(ctx.tenant, ctx.config.namespace, reservation)
    )
    return Forward(upstream, translate)


def _delete_failed_member(ctx: RequestContext, sid: str, reservation: str, index: int) -> Forward:
    """``DELETE /servers/<reservation>-failed-<i>``: give that missing member up for good.

    One JSON patch of the ReplicaSet lowering ``spec.replicas`` by one, conditional on the ReplicaSet being
    as the cache shows it (``batch.remove_failed_patch``): if the controller has created the member
    meanwhile, Arktos refuses (a failed test: 422, answered 409) instead of scaling a live server away.
    Once replicas equals the pods that exist, the reconciler names and detaches the batch as usual.
    When the cache knows no such missing member, the patch is one Arktos always refuses after authorizing
    the caller, so Arktos (not the cache) answers: 403, 404, or (refused test) Nova's 404.
    """
    rs = _cached_replicaset(ctx, reservation)
    possible = rs is not None and index in _failed_indices(ctx, rs)
    patch = batch.remove_failed_patch(rs) if rs is not None and possible else batch.IMPOSSIBLE_REPLICAS_PATCH

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 200:
            return Reply(status=204)
        if reply.status in (409, 422):
            if not possible:
                return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
            return error_reply(
                Service.COMPUTE,
                409,
                f"Cannot 'delete' instance {sid} while its batch is changing (Arktos may have created it "
                "meanwhile); list the servers again.",
            )
        return _arktos_error(reply, sid)

    upstream = ArktosRequest(
        method="PATCH",
        path=arktos_paths.replicaset(ctx.tenant, ctx.config.namespace, reservation),
        body=orjson.dumps(patch),
        content_type=JSON_PATCH,
    )
    return Forward(upstream, translate)


def show_server(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    sid = params["server_id"]
    failed = batch.parse_failed_member_id(sid)
    if failed is not None:
        return _show_failed_member(ctx, sid, *failed)
    view = view_for(ctx)
    upstream = ArktosRequest(method="GET", path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid))
    found = _server_reply(sid, lambda pod: view.show(_batch_named(ctx, pod)))

    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 404:
            first = _first_of_batch(ctx, sid)
            if first is not None:
                return json_reply(200, {"server": view.show(_batch_named(ctx, first))})
        return found(reply)

    return Forward(upstream, translate)


class Unknown:
    """The cache cannot tell whether a server id names a VM pod (see ``known_server``)."""


UNKNOWN = Unknown()
# A uid no object has: a precondition Arktos checks after authorizing the caller, and always refuses.
NO_OBJECT_UID = "00000000-0000-0000-0000-000000000000"


def known_server(ctx: RequestContext, token: str | None, sid: str) -> Mapping[str, Any] | Reply | Unknown:
    """What the watch cache knows of server ``sid`` before a write (DELETE, PUT) reaches Arktos.

    Only VM pods are servers, but Arktos deletes or patches any pod of that name. So when the cache is
    synced and has applied every pod write of the tenant that went through this processor (``caught_up``,
    as for lists), the write goes to Arktos with the cached pod's uid as a precondition: Arktos then acts
    on exactly that VM pod, never on a container pod (or a newer pod) of the same name. Answers:

    - the cached VM pod: the precondition's uid comes from it;
    - a 404 ``Reply``: the cache knows no VM pod of that name in the URL's tenant and Arktos has recently
      let this token into that tenant (``tenant_proofs``: a 404 from the cache tells nothing the caller
      could not ask Arktos);
    - ``{}`` (no pod): the cache knows none but may not say so (no proof, or the short path, whose tenant
      only Arktos knows): the write carries ``NO_OBJECT_UID``, so Arktos authorizes and refuses
      (404, or 409 for a pod that is no server: answered 404);
    - ``UNKNOWN``: no synced cache, or it has not caught up with the tenant's writes: the write is
      forwarded as it is (Arktos alone decides, as before the cache existed).
    """
    cluster = ctx.cluster
    if cluster is None or not cluster.synced:
        return UNKNOWN
    namespace = ctx.config.namespace
    tenant = ctx.tenant if ctx.tenant is not None else cluster.locate_pod(namespace, sid)
    if not cluster.caught_up(tenant):
        return UNKNOWN
    pod = cluster.pod(tenant, namespace, sid) if tenant is not None else None
    if pod is not None and (pod.get("metadata") or {}).get("uid"):
        return pod
    if (
        pod is None
        and ctx.tenant is not None
        and ctx.proofs is not None
        and ctx.proofs.proven(token, ctx.tenant)
    ):
        return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
    return {} if pod is None else UNKNOWN


def _precondition_failed(reply: ArktosReply, guarded: bool) -> bool:
    """Arktos refused the uid precondition: not the server the gateway knows (it went, or is no VM)."""
    return guarded and reply.status in (409, 422)


def _uid_of(known: Mapping[str, Any]) -> str:
    return str((known.get("metadata") or {}).get("uid") or "") or NO_OBJECT_UID


def _annotation_path(key: str) -> str:
    # JSON pointer escaping (RFC 6901): "~" then "/".
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


def rename_patch(known: Mapping[str, Any], changes: Mapping[str, str]) -> list[Json]:
    """The PUT's annotation changes as a JSON patch that applies only to the pod with the known uid."""
    ops: list[Json] = [{"op": "test", "path": "/metadata/uid", "value": _uid_of(known)}]
    if not changes:
        return ops
    if isinstance((known.get("metadata") or {}).get("annotations"), dict):
        ops.extend({"op": "add", "path": _annotation_path(k), "value": v} for k, v in changes.items())
    else:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": dict(changes)})
    return ops


def update_server(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    sid = params["server_id"]
    body = _request_json(req)
    if isinstance(body, Reply):
        return body
    problem = schemas.validate_update(body)
    if problem is not None:
        return bad_request(Service.COMPUTE, problem)
    if batch.parse_failed_member_id(sid) is not None:
        # A member Arktos never created has nothing to rename (Nova cannot rename a server it lost either).
        return error_reply(
            Service.COMPUTE, 409, f"Cannot 'update' instance {sid} while it is in vm_state error"
        )
    server: Mapping[str, Any] = body["server"]
    changes: dict[str, str] = {}
    for field, key in (
        ("name", keys.DISPLAY_NAME),
        ("accessIPv4", keys.ACCESS_IPV4),
        ("accessIPv6", keys.ACCESS_IPV6),
    ):
        if field in server:
            changes[key] = server[field] if field == "name" else schemas.canonical_ip(server[field])
    known = known_server(ctx, req.auth_token, sid)
    if isinstance(known, Reply):
        return known
    view = view_for(ctx)
    path = arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)
    found = _server_reply(sid, view.update)
    if isinstance(known, Unknown):
        patch: Json = {"metadata": {"annotations": changes}} if changes else {}
        return Forward(ArktosRequest("PATCH", path, orjson.dumps(patch), MERGE_PATCH), found)

    def translate(reply: ArktosReply) -> Reply:
        if _precondition_failed(reply, True):
            return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
        return found(reply)

    body_ = orjson.dumps(rename_patch(known, changes))
    return Forward(ArktosRequest("PATCH", path, body_, JSON_PATCH), translate)


def delete_server(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    sid = params["server_id"]
    failed = batch.parse_failed_member_id(sid)
    if failed is not None:
        return _delete_failed_member(ctx, sid, *failed)
    known = known_server(ctx, req.auth_token, sid)
    if isinstance(known, Reply):
        return known
    guarded = not isinstance(known, Unknown)
    if not isinstance(known, Unknown):
        # Nova's @check_instance_lock: a DELETE has no precondition on annotations, so the cache decides.
        locked = server_lock.guard(ctx, req.auth_token, sid, known or None)
        if locked is not None:
            return locked

    def translate(reply: ArktosReply) -> Reply:
        # Arktos answers a pod DELETE with 200 and the pod (deletionTimestamp set), or 202.
        if reply.status in (200, 202):
            return Reply(status=204)
        if _precondition_failed(reply, guarded):
            return error_reply(Service.COMPUTE, 404, instance_not_found(sid))
        return _arktos_error(reply, sid)

    path = arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)
    if isinstance(known, Unknown):
        return Forward(ArktosRequest(method="DELETE", path=path), translate)
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": _uid_of(known)}}
    return Forward(ArktosRequest("DELETE", path, orjson.dumps(options), JSON_CONTENT_TYPE), translate)
