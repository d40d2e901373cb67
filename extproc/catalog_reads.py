"""Client reads of a tenant's flavors and images: one GET of its catalog ConfigMap, with the client's token.

Nova's ``/flavors`` and ``/images`` and Glance's ``/v2/images`` all answer from the same ConfigMaps
(``openstack-flavors``, ``openstack-images``), fetched through Arktos so that Arktos authorizes every read.
A missing ConfigMap (404) means the built-in defaults; any other failure becomes the service's error.
Images are overlaid with the snapshots still in flight (``snapshots.with_live_state``), so Nova's proxy and
Glance show the same images in the same states.
"""

from __future__ import annotations

from collections.abc import Callable

from extproc import arktos_paths, snapshots
from extproc.annotations import FLAVORS_CONFIGMAP, IMAGES_CONFIGMAP
from extproc.catalog_configmaps import configmap_tenant, flavors_from_reply, images_from_reply
from extproc.catalog_entries import Flavor, Image
from extproc.context import RequestContext
from extproc.errors import Service, from_arktos
from extproc.messages import ArktosReply, ArktosRequest, Forward, Reply


def read_flavors(ctx: RequestContext, answer: Callable[[list[Flavor]], Reply]) -> Forward:
    """GET the flavors ConfigMap of the URL's tenant (else the caller's own) and ``answer`` from it."""
    upstream = ArktosRequest(
        method="GET", path=arktos_paths.configmap(ctx.tenant, ctx.config.namespace, FLAVORS_CONFIGMAP)
    )

    def translate(reply: ArktosReply) -> Reply:
        flavors = flavors_from_reply(reply)
        if flavors is None:
            return from_arktos(Service.COMPUTE, reply)
        return answer(flavors)

    return Forward(upstream, translate)


def read_images(
    ctx: RequestContext,
    service: Service,
    answer: Callable[[list[Image]], Reply],
    tenant: str | None = None,
    refused: Reply | None = None,
) -> Forward:
    """GET the images ConfigMap of ``tenant`` (default: the URL's, else the caller's own) and ``answer``.

    Snapshots in flight are overlaid from the cluster cache for the tenant Arktos has just let the caller
    read. ``refused`` replaces a 403 (an image of another tenant must look like no image at all).
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
        readable = configmap_tenant(reply) or path_tenant
        return answer(snapshots.with_live_state(images, readable, ctx.cluster))

    return Forward(upstream, translate)
