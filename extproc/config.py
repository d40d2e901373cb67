"""Settings of one gateway deployment, shared by the translators and the gRPC layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    # The URL clients reach Envoy at, without a trailing slash (links, Location headers, the catalog).
    public_url: str = "http://127.0.0.1:8080"
    # The Arktos namespace (inside each tenant) that holds the VM pods and the catalog ConfigMaps.
    namespace: str = "default"
    # Arktos refuses a VM with neither keyPairName nor publicKey; Nova does not require a key.
    default_keypair: str = "default"
    # Request bodies above this many bytes get 413 overLimit before anything reaches Arktos.
    max_request_body_bytes: int = 1024 * 1024
    # The most servers one create may ask for (``max_count``): 400 above it, as a schema maximum would be.
    # The tenant's instance quota (its ResourceQuota's ``pods``) bounds a batch further (Nova's 403).
    max_servers_per_request: int = 1000
    # Region named in the service catalog.
    region: str = "RegionOne"
    # ``spec.type`` of the Arktos Network a Neutron ``network create`` makes.
    network_type: str = "flat"
