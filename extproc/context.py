"""What a translator knows about the request it is translating, besides the request itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from extproc.config import GatewayConfig
from extproc.messages import ClientRequest, Outcome

if TYPE_CHECKING:
    from extproc.batch_reconciler import ArktosRequester
    from extproc.catalog import CatalogStore
    from extproc.cluster_cache import ClusterView
    from extproc.key_stock import KeyStock
    from extproc.keypair_store import KeypairStore
    from extproc.network.store import NetworkStore
    from extproc.server_group_store import ServerGroupStore
    from extproc.tenant_proofs import TenantProofs


@dataclass(frozen=True, slots=True)
class RequestContext:
    config: GatewayConfig
    # Flavors and images per tenant, kept fresh by a watch; read-only for translators.
    catalog: CatalogStore
    # "req-<uuid>", sent back as x-openstack-request-id (and x-compute-request-id).
    request_id: str
    # The Arktos tenant named by the URL (/compute/v2.1/{project_id}/...); None means the caller's own
    # tenant, which only Arktos knows (short paths).
    tenant: str | None
    # What the processor's own watches know about pods and Actions (None: no watch, e.g. unit tests).
    # A cache, never the truth: translators use it only where an issue allows (see cluster_cache).
    cluster: ClusterView | None = None
    # Which tenants Arktos has recently answered 2xx for a given client token (None: nothing known).
    proofs: TenantProofs | None = None
    # The public keys of every tenant's keypairs, kept by the ConfigMap watch (None: no watch).
    keypairs: KeypairStore | None = None
    # RSA keys generated ahead of time in a worker process (None: generate in place, e.g. unit tests).
    key_stock: KeyStock | None = None
    # The policies of every tenant's server groups, kept by the ConfigMap watch (None: no watch).
    server_groups: ServerGroupStore | None = None
    # The compute microversion this request is served at (what the views show and the schemas accept).
    compute_version: tuple[int, int] = (2, 1)
    # Every tenant's Networks by Neutron id, kept by their watch (None: no watch, e.g. unit tests).
    networks: NetworkStore | None = None
    # The processor's own Arktos calls (None: none, e.g. unit tests): a server list whose cache is behind
    # the revision Arktos authorized it at reads the list itself (extproc.compute.server_list).
    arktos: ArktosRequester | None = None


# A route handler: (context, request, path parameters already validated) -> what to do.
Handler = Callable[[RequestContext, ClientRequest, Mapping[str, str]], Outcome]
