"""Client reads of a tenant's flavors and images: one GET of its catalog ConfigMap, with the client's token.

Flavors: the tenant's own ConfigMap (read through Arktos, which so admits the caller into the tenant) joined
with the cluster-wide flavors the tenant may see (public ones and private ones it was given access to, from
the processor's watch of the system tenant's ConfigMap: ``catalog.visible_flavors``).

Nova's ``/flavors`` and ``/images`` and Glance's ``/v2/images`` all answer from the same ConfigMaps
(``openstack-flavors``, ``openstack-images``), fetched through Arktos so that Arktos authorizes every read.
A missing ConfigMap (404) means the built-in defaults; any other failure becomes the service's error.
While Arktos's decision to let the token make that very GET is fresh (``extproc.access_cache``), the read is
answered from the watch-fed ``CatalogStore`` instead (same ConfigMap data, parsed the same way), if the
catalog watch is synced; without a decision, a tenant path's read asks Arktos with a SelfSubjectAccessReview
of the same GET (``extproc.access_review``: a tenant without the ConfigMap answers every GET 404, which
proves nothing).
Images are overlaid with the snapshots still in flight (``snapshots.with_live_state``), so Nova's proxy and
Glance show the same images in the same states.

A reply answered from the store is rendered once per catalog generation (``extproc.catalog_rendered``) when
the handler gives a ``render_key`` naming everything else its ``answer`` reads; images only while no
snapshot in flight changes what the tenant's ConfigMap says (the overlay is not part of the generation).
"""

from __future__ import annotations

from collections.abc import Callable

from extproc import arktos_paths, snapshots
from extproc.annotations import FLAVORS_CONFIGMAP, IMAGES_CONFIGMAP
from extproc.catalog import SYSTEM_TENANT, visible_flavors
from extproc.catalog_configmaps import configmap_tenant, flavors_from_reply, images_from_reply
from extproc.catalog_entries import DEFAULT_FLAVORS, Flavor, Image
from extproc.catalog_rendered import RenderKey
from extproc.context import RequestContext
from extproc.errors import Service, from_arktos
from extproc.messages import ArktosReply, ArktosRequest, Forward, Reply


def read_flavors(
    ctx: RequestContext,
    token: str | None,
    answer: Callable[[list[Flavor]], Reply],
    render_key: RenderKey | None = None,
) -> Forward:
    """GET the flavors ConfigMap of the URL's tenant (else the caller's own) with the caller's ``token`` and
    ``answer`` from it; ``render_key``: see the module docstring (None: rendered each time)."""
    upstream = ArktosRequest(
        method="GET", path=arktos_paths.configmap(ctx.tenant, ctx.config.namespace, FLAVORS_CONFIGMAP)
    )

    def translate(reply: ArktosReply) -> Reply:
        own = flavors_from_reply(reply)
        if own is None:
            return from_arktos(Service.COMPUTE, reply)
        _learn_short_path_tenant(ctx, token, reply)
        tenant = ctx.tenant or configmap_tenant(reply)
        if tenant is None and ctx.proofs is not None:
            tenant = ctx.proofs.own_tenant(token)
        if tenant == SYSTEM_TENANT:
            # The system tenant's ConfigMap is the cluster-wide set itself, just read with the caller's token.
            cluster = own if reply.status == 200 else list(DEFAULT_FLAVORS)
            return answer(visible_flavors(cluster, tenant, ()))
        return answer(visible_flavors(ctx.catalog.cluster_flavors(), tenant, own))

    def from_cache(tenant: str) -> Reply | None:
        catalog = ctx.catalog
        if not catalog.synced:
            return None
        if render_key is None:
            return answer(catalog.flavors(tenant))
        # The generation before the flavors (RenderedReplies.reply).
        generation = catalog.generation
        return catalog.rendered.reply(
            generation, ("flavors", tenant, *render_key), lambda: answer(catalog.flavors(tenant))
        )

    return Forward(upstream, translate, from_cache, review=True)


def read_images(
    ctx: RequestContext,
    service: Service,
    answer: Callable[[list[Image]], Reply],
    tenant: str | None = None,
    refused: Reply | None = None,
    token: str | None = None,
    render_key: RenderKey | None = None,
) -> Forward:
    """GET the images ConfigMap of ``tenant`` (default: the URL's, else the caller's own) and ``answer``.

    Snapshots in flight are overlaid from the cluster cache for the tenant Arktos has just let the caller
    read. ``refused`` replaces a 403 (an image of another tenant must look like no image at all). ``token``
    (the caller's) lets a short-path read teach which tenant the token's short paths resolve to.
    ``render_key``: see the module docstring (None: rendered each time).
    """
    path_tenant = tenant or ctx.tenant
    upstream = ArktosRequest(
        method="GET", path=arktos_paths.configmap(path_tenant, ctx.config.namespace, IMAGES_CONFIGMAP)
    )

    def translate(reply: ArktosReply) -> Reply:
        images = images_from_reply(reply)
        if images is None:
            if reply.status == 403 and refused is not None:
                return refused
            return from_arktos(service, reply)
        if tenant is None:
            _learn_short_path_tenant(ctx, token, reply)
        readable = configmap_tenant(reply) or path_tenant
        return answer(snapshots.with_live_state(images, readable, ctx.cluster))

    def from_cache(tenant: str) -> Reply | None:
        catalog = ctx.catalog
        if not catalog.synced:
            return None
        # The generation before the images (RenderedReplies.reply).
        generation = catalog.generation
        recorded = catalog.images(tenant)
        shown = snapshots.with_live_state(recorded, tenant, ctx.cluster)
        if render_key is None or not _same_items(shown, recorded):
            # A snapshot in flight changes what is shown without a new generation: rendered afresh.
            return answer(shown)
        return catalog.rendered.reply(generation, ("images", tenant, *render_key), lambda: answer(shown))

    return Forward(upstream, translate, from_cache, review=True)


def _learn_short_path_tenant(ctx: RequestContext, token: str | None, reply: ArktosReply) -> None:
    """On a short path, the ConfigMap's tenant is the caller's own: remember it so that the caller's
    short-path creates resolve flavors and images in the very catalog its lists show (``server_create``)."""
    if ctx.tenant is None and ctx.proofs is not None:
        ctx.proofs.learn_own_tenant(token, configmap_tenant(reply))


def _same_items(shown: list[Image], recorded: list[Image]) -> bool:
    """Whether the overlay left the recorded images as they were: the very same objects (put in Glance's
    order, which depends on them alone), none replaced by its live state, none added."""
    if shown is recorded:
        return True
    if len(shown) != len(recorded):
        return False
    kept = {id(image) for image in recorded}
    return all(id(image) in kept for image in shown)
