"""``POST /servers``: validated (``create_request``), flavor and image resolved in the catalog, the quota
checked, then ``POST pods`` with a VM pod named by a new UUID (the server id). 201 becomes Nova's 202
(fixture 09). More than one server is one ReplicaSet (``batch_create``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from extproc import arktos_paths, snapshots
from extproc.annotations import FLAVORS_CONFIGMAP, IMAGES_CONFIGMAP
from extproc.arktos_first import refuse_after_arktos
from extproc.catalog_entries import Flavor, Image
from extproc.compute import (
    create_networking,
    idempotency,
    instance_actions,
    keypairs,
    quota,
    server_groups,
    tenant_quota,
)
from extproc.compute.batch_create import create_batch
from extproc.compute.create_request import (
    CreateRequest,
    PodInputs,
    build_pod,
    generate_reservation_id,
    parse_create,
)
from extproc.compute.image_meta import boot_properties
from extproc.compute.replies import arktos_error, request_json, view_for
from extproc.compute.server_flavor import flavor_snapshot
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, error_reply
from extproc.identity.handlers import token_tenant
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
from extproc.network import server_nics
from extproc.users import user_id_for_token


def create_server(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    body = request_json(req)
    if isinstance(body, Reply):
        return body
    create = parse_create(body, ctx.compute_version)
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
    # The caller's catalog, the one its flavor and image lists read: the URL's tenant, else (short path) the
    # tenant Arktos resolves the token's short paths to, when Arktos has told (issue 17 item 2).
    catalog_tenant = ctx.tenant or (ctx.proofs.own_tenant(token) if ctx.proofs is not None else None)
    chosen = _flavor_and_image(ctx, create, catalog_tenant)
    if catalog_tenant is None and _depends_on_tenant(ctx, create, chosen):
        return _learn_own_tenant(ctx, token)
    if isinstance(chosen, _CatalogRefusal):
        # Decided from the watch-fed catalog: told only once Arktos has let the caller into the tenant.
        probe = arktos_paths.configmap(ctx.tenant, ctx.config.namespace, chosen.configmap)
        return refuse_after_arktos(ctx, token, chosen.reply, catalog_tenant, probe)
    flavor, image = chosen
    # Only what exists everywhere is consulted here (the "default" group; there are no ports): nothing to
    # hide. The networks are the tenant's own: ``server_nics`` checks them (after Arktos admits the caller).
    unavailable = create_networking.refusal(create.networking, lambda network_id: True)
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
    nics = server_nics.plan(ctx, token, body["server"].get("networks"), create.max_count)
    if not isinstance(nics, server_nics.NicPlan):
        return nics
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
        nics=nics,
        flavor_snapshot=flavor_snapshot(flavor),
        image_properties=boot_properties(image.properties),
    )
    pod = build_pod(create, inputs)
    if group_id is not None and group_policy is not None:
        pod = server_groups.join_group(pod, group_id, group_policy)
    view = view_for(ctx)
    if count > 1:
        return create_batch(ctx, create, count, pod, inputs.reservation_id, view, retry)

    def translate(reply: ArktosReply) -> Reply:
        # A retry of a create that succeeded (its outcome was unknown to the client): answer as then.
        retried = retry is not None and idempotency.already_created(reply)
        if reply.status not in (200, 201, 202) and not retried:
            # Arktos's own quota refusal reads in Nova's words (``errors.quota_message``).
            return arktos_error(reply)
        headers = {"location": view.self_url(inputs.server_id)}
        if create.return_reservation_id:
            return json_reply(202, {"reservation_id": inputs.reservation_id}, headers)
        return json_reply(202, {"server": view.create(inputs.server_id)}, headers)

    upstream = ArktosRequest(
        method="POST",
        path=arktos_paths.pods(ctx.tenant, ctx.config.namespace),
        body=orjson.dumps(pod),
        content_type=JSON_CONTENT_TYPE,
    )
    return Forward(upstream, translate)


@dataclass(frozen=True, slots=True)
class _CatalogRefusal:
    """Why the catalog refuses a create, and which catalog ConfigMap said so."""

    reply: Reply
    configmap: str


def _flavor_and_image(
    ctx: RequestContext, create: CreateRequest, tenant: str | None
) -> tuple[Flavor, Image] | _CatalogRefusal:
    """The create's flavor and image in ``tenant``'s catalog (None: the built-in defaults), or Nova's 400
    (nova/compute/api.py)."""
    flavor = ctx.catalog.find_flavor(tenant, create.flavor_ref)
    if flavor is None:
        message = f"Flavor {create.flavor_ref} could not be found."
        return _CatalogRefusal(bad_request(Service.COMPUTE, message), FLAVORS_CONFIGMAP)
    image = ctx.catalog.find_image(tenant, create.image_ref)
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


UNKNOWN_OWN_TENANT = (
    "This request names no project, and the gateway did not yet know which project (Arktos tenant) this "
    "token belongs to, so it could not tell which flavors and images apply; Arktos has now told it: retry "
    "the request, or use the compute endpoint of the service catalog, which names the project."
)


def _outcome_key(chosen: tuple[Flavor, Image] | _CatalogRefusal) -> object:
    if isinstance(chosen, _CatalogRefusal):
        return (chosen.reply.status, chosen.reply.body, chosen.configmap)
    return chosen


def _depends_on_tenant(
    ctx: RequestContext, create: CreateRequest, with_defaults: tuple[Flavor, Image] | _CatalogRefusal
) -> bool:
    """Whether a short-path create whose caller's tenant is unknown would resolve differently in some
    tenant's own catalog than in the defaults (if not, the caller's tenant does not matter)."""
    expected = _outcome_key(with_defaults)
    return any(
        _outcome_key(_flavor_and_image(ctx, create, tenant)) != expected for tenant in ctx.catalog.tenants()
    )


def _learn_own_tenant(ctx: RequestContext, token: str | None) -> Forward:
    """Ask Arktos (with the caller's token) which tenant the token's short paths are, remember it, and tell
    the client to retry: a create is one Arktos call, and its pod must be built from the caller's catalog."""

    def translate(reply: ArktosReply) -> Reply:
        tenant = token_tenant(reply) if reply.status == 200 else None
        if tenant is None:
            return arktos_error(reply)
        if ctx.proofs is not None:
            ctx.proofs.learn_own_tenant(token, tenant)
        return error_reply(Service.COMPUTE, 409, UNKNOWN_OWN_TENANT)

    return Forward(ArktosRequest(method="GET", path=arktos_paths.namespace(ctx.config.namespace)), translate)


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
