"""The route table: every path the gateway answers, one table per OpenStack service.

Routes are data (Starlette-style): ``Route(method, pattern, handler)``. Reading the tables below tells the
whole public surface; nothing registers itself by side effect. A pattern is matched segment by segment
against the raw, still percent-encoded path split on "/", so an encoded "/" (``%2F``) can never create a
segment, and a dot segment (``..``) is just a literal that matches no route.

Every ``{param}`` is validated by its rule in ``PARAMS`` before a handler sees it. A value that is not a
valid id gives the 404 the client would get for an unknown id (clients look things up by name first and
expect 404 before they list and match). Compute routes exist twice: ``/compute/v2.1/...`` and
``/compute/v2.1/{project_id}/...`` (project = Arktos tenant, ``ctx.tenant``), and twice more under Nova's
legacy ``/compute/v2`` (the same API without microversions).

Unknown paths are 404 and known paths with another method are 405, both answered here: an unknown route
is never forwarded to Arktos. A compute route Nova removed at a microversion (``served_until``: the proxy
APIs, gone from 2.36) is Nova's bare 404 at that version and later (``extproc.app``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from extproc import ids
from extproc.compute import (
    actions,
    flavor_manage,
    flavors,
    images,
    instance_actions,
    keypairs,
    quota_sets,
    server_create,
    server_groups,
    server_item,
    server_list,
    server_metadata,
    server_tags,
    usage,
    versions,
)
from extproc.compute import networks as compute_networks
from extproc.context import Handler
from extproc.errors import Service, echo, error_reply
from extproc.identity import directory as keystone_directory
from extproc.identity import handlers as identity
from extproc.image import handlers as glance
from extproc.image import writes as image_writes
from extproc.messages import Reply
from extproc.network import handlers as neutron

COMPUTE_PREFIX = "/compute/v2.1"
# Nova's legacy v2 endpoint, advertised by the version document (v2.0, SUPPORTED): the same API without
# microversions (Nova serves it with the v2.1 code behind LegacyV2CompatibleWrapper).
LEGACY_PREFIX = "/compute/v2"
PROJECT_SEGMENT = "{project_id}"


def is_legacy_v2(path: str) -> bool:
    """A request to the legacy v2 endpoint (its microversion headers are ignored, none are answered)."""
    return path == LEGACY_PREFIX or path.startswith(LEGACY_PREFIX + "/")


# NOTE: Nova only accepts hex project ids in URLs to keep "/v2.1/{project_id}" apart from "/v2.1/servers";
# Arktos tenants are DNS labels, so the names of Nova's top-level collections cannot be projects instead.
_NOVA_COLLECTIONS = frozenset({"servers", "flavors", "images", "limits", "extensions"})


def _can_be_project(raw: str) -> bool:
    return raw not in _NOVA_COLLECTIONS and not raw.startswith("os-")


GENERIC_NOT_FOUND = "The resource could not be found."
# Nova's APIs that proxied to Glance and nova-network (images, os-networks, os-tenant-networks,
# os-floating-ip-pools...) exist up to 2.35 (api_version_request.MAX_PROXY_API_SUPPORT_VERSION).
MAX_PROXY_API_VERSION = (2, 35)


@dataclass(frozen=True, slots=True)
class Param:
    """How one path parameter is checked: ``parse`` returns the value handed to handlers (None: invalid);
    ``claims`` False means the segment is not this parameter at all (try the next route)."""

    parse: Callable[[str], str | None]
    not_found: Callable[[Service, str], str]
    claims: Callable[[str], bool] = lambda raw: True


def _image_not_found(service: Service, raw: str) -> str:
    if service is Service.IMAGE:
        return f"No image found with ID {echo(raw)}"
    return f"Image {echo(raw)} could not be found."


def _network_not_found(service: Service, raw: str) -> str:
    if service is Service.COMPUTE:
        return compute_networks.NOT_FOUND
    return f"Network {echo(raw)} could not be found."


PARAMS: Mapping[str, Param] = {
    "project_id": Param(ids.project_id, lambda s, raw: GENERIC_NOT_FOUND, _can_be_project),
    "server_id": Param(ids.server_id, lambda s, raw: f"Instance {echo(raw)} could not be found."),
    "flavor_id": Param(ids.catalog_id, lambda s, raw: f"Flavor {echo(raw)} could not be found."),
    "image_id": Param(ids.catalog_id, _image_not_found),
    # Keypair names never reach Arktos as such (their ConfigMap is named by a hash, see keypair_store).
    # An instance action's request id: matched against the server's records, never part of an Arktos path.
    "request_id": Param(ids.catalog_id, lambda s, raw: f"Action {echo(raw)} not found"),
    "keypair_name": Param(ids.catalog_id, lambda s, raw: f"Keypair {raw} could not be found."),
    "server_group_id": Param(ids.server_group_id, lambda s, raw: server_groups.group_not_found(echo(raw))),
    # A project named in the path of a quota or usage request (Arktos tenant; "all" is never one).
    "tenant_id": Param(ids.project_id, lambda s, raw: f"Project {echo(raw)} could not be found."),
    # Keystone: a project is an Arktos tenant (a DNS label); other ids are Keystone's hex ids or names.
    "keystone_project_id": Param(ids.project_id, lambda s, raw: f"Could not find project: {echo(raw)}."),
    "keystone_id": Param(ids.catalog_id, lambda s, raw: GENERIC_NOT_FOUND),
    # Metadata keys never reach Arktos: they index the JSON object in the pod's metadata annotation.
    "metadata_key": Param(ids.catalog_id, lambda s, raw: server_metadata.ITEM_NOT_FOUND),
    # Extra spec keys never reach Arktos: they index the flavor's entry in the flavors ConfigMap.
    "spec_key": Param(ids.catalog_id, lambda s, raw: GENERIC_NOT_FOUND),
    # Server tags never reach Arktos either: they are items of the JSON list in the pod's tags annotation.
    "tag": Param(ids.catalog_id, lambda s, raw: GENERIC_NOT_FOUND),
    "network_id": Param(ids.neutron_id, _network_not_found),
    "subnet_id": Param(ids.neutron_id, lambda s, raw: f"Subnet {echo(raw)} could not be found."),
    "port_id": Param(ids.neutron_id, lambda s, raw: f"Port {echo(raw)} could not be found."),
    "security_group_id": Param(ids.neutron_id, lambda s, raw: f"Security group {echo(raw)} does not exist"),
    "rule_id": Param(ids.neutron_id, lambda s, raw: f"Security group rule {echo(raw)} does not exist"),
}


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    # Answered without a token (discovery documents, token issuance), as Nova/Glance/Keystone do; every
    # other route gets keystonemiddleware's 401 when the request has no X-Auth-Token.
    public: bool = False
    # The last compute microversion the route exists at (Nova's ``@wsgi.api_version("2.1", max)``); None: all.
    served_until: tuple[int, int] | None = None
    segments: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        segments = tuple(self.pattern.split("/"))
        for segment in segments:
            if segment.startswith("{") and segment[1:-1] not in PARAMS:
                raise ValueError(f"route {self.pattern}: no validation rule for {segment}")
        object.__setattr__(self, "segments", segments)


def v21(
    method: str, path: str, handler: Handler, served_until: tuple[int, int] | None = None
) -> tuple[Route, ...]:
    """A compute route under ``/compute/v2.1`` and ``/compute/v2.1/{project_id}``, and the same under the
    legacy ``/compute/v2`` (``/compute/v2/{project_id}``)."""
    return tuple(
        Route(method, f"{prefix}{project}{path}", handler, served_until=served_until)
        for prefix in (COMPUTE_PREFIX, LEGACY_PREFIX)
        for project in ("", f"/{PROJECT_SEGMENT}")
    )


# Order matters only where literals and parameters overlap: "/servers/detail" before "/servers/{server_id}".
COMPUTE_ROUTES: tuple[Route, ...] = (
    Route("GET", "/compute", versions.versions_index, public=True),
    Route("GET", "/compute/", versions.versions_index, public=True),
    # Nova's /v2.1 document needs no token; under a project it is behind keystonemiddleware.
    Route("GET", COMPUTE_PREFIX, versions.version_show, public=True),
    Route("GET", f"{COMPUTE_PREFIX}/{PROJECT_SEGMENT}", versions.version_show),
    Route("GET", f"{COMPUTE_PREFIX}/", versions.version_show, public=True),
    Route("GET", f"{COMPUTE_PREFIX}/{PROJECT_SEGMENT}/", versions.version_show),
    Route("GET", LEGACY_PREFIX, versions.legacy_version_show, public=True),
    Route("GET", f"{LEGACY_PREFIX}/", versions.legacy_version_show, public=True),
    Route("GET", f"{LEGACY_PREFIX}/{PROJECT_SEGMENT}", versions.legacy_version_show),
    Route("GET", f"{LEGACY_PREFIX}/{PROJECT_SEGMENT}/", versions.legacy_version_show),
    *v21("GET", "/servers", server_list.list_servers),
    *v21("POST", "/servers", server_create.create_server),
    *v21("GET", "/servers/detail", server_list.list_servers_detail),
    *v21("GET", "/servers/{server_id}", server_item.show_server),
    *v21("PUT", "/servers/{server_id}", server_item.update_server),
    *v21("DELETE", "/servers/{server_id}", server_item.delete_server),
    *v21("POST", "/servers/{server_id}/action", actions.server_action),
    *v21("GET", "/servers/{server_id}/os-instance-actions", instance_actions.list_instance_actions),
    *v21(
        "GET", "/servers/{server_id}/os-instance-actions/{request_id}", instance_actions.show_instance_action
    ),
    *v21("GET", "/servers/{server_id}/metadata", server_metadata.list_metadata),
    *v21("POST", "/servers/{server_id}/metadata", server_metadata.create_metadata),
    *v21("PUT", "/servers/{server_id}/metadata", server_metadata.replace_metadata),
    *v21("GET", "/servers/{server_id}/metadata/{metadata_key}", server_metadata.show_metadata_item),
    *v21("PUT", "/servers/{server_id}/metadata/{metadata_key}", server_metadata.update_metadata_item),
    *v21("DELETE", "/servers/{server_id}/metadata/{metadata_key}", server_metadata.delete_metadata_item),
    *v21("GET", "/servers/{server_id}/tags", server_tags.list_tags),
    *v21("PUT", "/servers/{server_id}/tags", server_tags.replace_tags),
    *v21("DELETE", "/servers/{server_id}/tags", server_tags.delete_tags),
    *v21("GET", "/servers/{server_id}/tags/{tag}", server_tags.check_tag),
    *v21("PUT", "/servers/{server_id}/tags/{tag}", server_tags.add_tag),
    *v21("DELETE", "/servers/{server_id}/tags/{tag}", server_tags.delete_tag),
    *v21("GET", "/flavors", flavors.list_flavors),
    *v21("GET", "/flavors/detail", flavors.list_flavors_detail),
    *v21("GET", "/flavors/{flavor_id}", flavors.show_flavor),
    *v21("GET", "/flavors/{flavor_id}/os-extra_specs", flavors.show_extra_specs),
    *v21("POST", "/flavors", flavor_manage.create_flavor),
    *v21("PUT", "/flavors/{flavor_id}", flavor_manage.update_flavor),
    *v21("DELETE", "/flavors/{flavor_id}", flavor_manage.delete_flavor),
    *v21("GET", "/flavors/{flavor_id}/os-flavor-access", flavor_manage.list_flavor_access),
    *v21("POST", "/flavors/{flavor_id}/action", flavor_manage.flavor_action),
    *v21("POST", "/flavors/{flavor_id}/os-extra_specs", flavor_manage.create_extra_specs),
    *v21("GET", "/flavors/{flavor_id}/os-extra_specs/{spec_key}", flavors.show_extra_spec),
    *v21("PUT", "/flavors/{flavor_id}/os-extra_specs/{spec_key}", flavor_manage.update_extra_spec),
    *v21("DELETE", "/flavors/{flavor_id}/os-extra_specs/{spec_key}", flavor_manage.delete_extra_spec),
    *v21("GET", "/images", images.list_images, MAX_PROXY_API_VERSION),
    *v21("GET", "/images/detail", images.list_images_detail, MAX_PROXY_API_VERSION),
    *v21("GET", "/images/{image_id}", images.show_image, MAX_PROXY_API_VERSION),
    *v21("DELETE", "/images/{image_id}", image_writes.delete_image_nova, MAX_PROXY_API_VERSION),
    *v21("GET", "/limits", quota_sets.limits),
    *v21("GET", "/os-quota-sets/{tenant_id}", quota_sets.show_quota_set),
    *v21("PUT", "/os-quota-sets/{tenant_id}", quota_sets.update_quota_set),
    *v21("GET", "/os-quota-sets/{tenant_id}/detail", quota_sets.show_quota_detail),
    *v21("GET", "/os-quota-sets/{tenant_id}/defaults", quota_sets.show_quota_defaults),
    *v21("GET", "/os-simple-tenant-usage", usage.list_usage),
    *v21("GET", "/os-simple-tenant-usage/{tenant_id}", usage.show_usage),
    *v21("GET", "/os-availability-zone", versions.availability_zones),
    *v21("GET", "/os-keypairs", keypairs.list_keypairs),
    *v21("POST", "/os-keypairs", keypairs.create_keypair),
    *v21("GET", "/os-keypairs/{keypair_name}", keypairs.show_keypair),
    *v21("DELETE", "/os-keypairs/{keypair_name}", keypairs.delete_keypair),
    *v21("GET", "/os-floating-ip-pools", versions.floating_ip_pools, MAX_PROXY_API_VERSION),
    *v21("GET", "/os-networks", compute_networks.list_networks, MAX_PROXY_API_VERSION),
    *v21("GET", "/os-networks/{network_id}", compute_networks.show_network, MAX_PROXY_API_VERSION),
    *v21("GET", "/os-tenant-networks", compute_networks.list_tenant_networks, MAX_PROXY_API_VERSION),
    *v21(
        "GET", "/os-tenant-networks/{network_id}", compute_networks.show_tenant_network, MAX_PROXY_API_VERSION
    ),
    *v21("GET", "/os-server-groups", server_groups.list_groups),
    *v21("POST", "/os-server-groups", server_groups.create_group),
    *v21("GET", "/os-server-groups/{server_group_id}", server_groups.show_group),
    *v21("DELETE", "/os-server-groups/{server_group_id}", server_groups.delete_group),
)

# Keystone collections whose writes would need a user store, with the parameter naming one member (the same
# as its GET route's, so that one path has one set of methods).
_KEYSTONE_WRITABLE = {
    "users": "keystone_id",
    "projects": "keystone_project_id",
    "domains": "keystone_id",
    "roles": "keystone_id",
    "services": "keystone_id",
    "endpoints": "keystone_id",
    "credentials": "keystone_id",
}

IDENTITY_ROUTES: tuple[Route, ...] = (
    Route("GET", "/identity", identity.versions, public=True),
    Route("GET", "/identity/", identity.versions, public=True),
    Route("GET", "/identity/v3", identity.v3_version, public=True),
    Route("GET", "/identity/v3/", identity.v3_version, public=True),
    Route("POST", "/identity/v3/auth/tokens", identity.issue_token, public=True),
    Route("GET", "/identity/v3/auth/tokens", identity.validate_token),
    Route("HEAD", "/identity/v3/auth/tokens", identity.validate_token),
    Route("DELETE", "/identity/v3/auth/tokens", identity.revoke_token),
    Route("GET", "/identity/v3/auth/projects", keystone_directory.auth_projects),
    Route("GET", "/identity/v3/auth/domains", keystone_directory.auth_domains),
    Route("GET", "/identity/v3/auth/catalog", keystone_directory.auth_catalog),
    Route("GET", "/identity/v3/projects", keystone_directory.list_projects),
    Route("GET", "/identity/v3/projects/{keystone_project_id}", keystone_directory.show_project),
    Route("GET", "/identity/v3/domains", keystone_directory.list_domains),
    Route("GET", "/identity/v3/domains/{keystone_id}", keystone_directory.show_domain),
    Route("GET", "/identity/v3/users/{keystone_id}", keystone_directory.show_user),
    Route("GET", "/identity/v3/users/{keystone_id}/projects", keystone_directory.list_user_projects),
    Route("GET", "/identity/v3/role_assignments", keystone_directory.list_role_assignments),
    Route("GET", "/identity/v3/services", keystone_directory.list_services),
    Route("GET", "/identity/v3/services/{keystone_id}", keystone_directory.show_service),
    Route("GET", "/identity/v3/endpoints", keystone_directory.list_endpoints),
    Route("GET", "/identity/v3/endpoints/{keystone_id}", keystone_directory.show_endpoint),
    # Identity writes need a user store; identities live in Arktos (``directory.IDENTITIES_IN_ARKTOS``).
    *(
        Route(method, f"/identity/v3/{collection}", keystone_directory.not_implemented)
        for collection in _KEYSTONE_WRITABLE
        for method in ("POST",)
    ),
    *(
        Route(method, f"/identity/v3/{collection}/{{{param}}}", keystone_directory.not_implemented)
        for collection, param in _KEYSTONE_WRITABLE.items()
        for method in ("PATCH", "DELETE")
    ),
)

IMAGE_ROUTES: tuple[Route, ...] = (
    Route("GET", "/image", glance.versions, public=True),
    Route("GET", "/image/", glance.versions, public=True),
    Route("GET", "/image/v2/images", glance.list_images),
    Route("POST", "/image/v2/images", image_writes.create_image),
    Route("GET", "/image/v2/images/{image_id}", glance.show_image),
    Route("PATCH", "/image/v2/images/{image_id}", image_writes.update_image),
    Route("DELETE", "/image/v2/images/{image_id}", image_writes.delete_image),
    Route("POST", "/image/v2/images/{image_id}/import", image_writes.import_image),
    Route("PUT", "/image/v2/images/{image_id}/file", image_writes.upload_disabled),
    Route("PUT", "/image/v2/images/{image_id}/stage", image_writes.upload_disabled),
    Route("GET", "/image/v2/info/import", image_writes.import_info),
    Route("GET", "/image/v2/schemas/image", glance.image_schema),
    Route("GET", "/image/v2/schemas/images", glance.images_schema),
)

NEUTRON_PREFIX = "/networking/v2.0"

NETWORK_ROUTES: tuple[Route, ...] = (
    Route("GET", "/networking", neutron.versions, public=True),
    Route("GET", "/networking/", neutron.versions, public=True),
    Route("GET", NEUTRON_PREFIX, neutron.resources),
    Route("GET", f"{NEUTRON_PREFIX}/", neutron.resources),
    Route("GET", f"{NEUTRON_PREFIX}/extensions", neutron.extensions),
    Route("GET", f"{NEUTRON_PREFIX}/networks", neutron.list_networks),
    Route("POST", f"{NEUTRON_PREFIX}/networks", neutron.create_network),
    Route("GET", f"{NEUTRON_PREFIX}/networks/{{network_id}}", neutron.show_network),
    Route("PUT", f"{NEUTRON_PREFIX}/networks/{{network_id}}", neutron.update_network),
    Route("DELETE", f"{NEUTRON_PREFIX}/networks/{{network_id}}", neutron.delete_network),
    Route("GET", f"{NEUTRON_PREFIX}/subnets", neutron.list_subnets),
    Route("POST", f"{NEUTRON_PREFIX}/subnets", neutron.subnets_read_only),
    Route("GET", f"{NEUTRON_PREFIX}/subnets/{{subnet_id}}", neutron.show_subnet),
    Route("PUT", f"{NEUTRON_PREFIX}/subnets/{{subnet_id}}", neutron.subnets_read_only),
    Route("DELETE", f"{NEUTRON_PREFIX}/subnets/{{subnet_id}}", neutron.subnets_read_only),
    Route("GET", f"{NEUTRON_PREFIX}/ports", neutron.list_ports),
    Route("POST", f"{NEUTRON_PREFIX}/ports", neutron.ports_read_only),
    Route("GET", f"{NEUTRON_PREFIX}/ports/{{port_id}}", neutron.show_port),
    Route("PUT", f"{NEUTRON_PREFIX}/ports/{{port_id}}", neutron.ports_read_only),
    Route("DELETE", f"{NEUTRON_PREFIX}/ports/{{port_id}}", neutron.ports_read_only),
    Route("GET", f"{NEUTRON_PREFIX}/security-groups", neutron.list_security_groups),
    Route("POST", f"{NEUTRON_PREFIX}/security-groups", neutron.security_groups_read_only),
    Route("GET", f"{NEUTRON_PREFIX}/security-groups/{{security_group_id}}", neutron.show_security_group),
    Route(
        "PUT", f"{NEUTRON_PREFIX}/security-groups/{{security_group_id}}", neutron.security_groups_read_only
    ),
    Route(
        "DELETE", f"{NEUTRON_PREFIX}/security-groups/{{security_group_id}}", neutron.security_groups_read_only
    ),
    Route("GET", f"{NEUTRON_PREFIX}/security-group-rules", neutron.list_security_group_rules),
    Route("POST", f"{NEUTRON_PREFIX}/security-group-rules", neutron.security_groups_read_only),
    Route("DELETE", f"{NEUTRON_PREFIX}/security-group-rules/{{rule_id}}", neutron.security_groups_read_only),
    Route("GET", f"{NEUTRON_PREFIX}/floatingips", neutron.list_floating_ips),
)

# The first path segment names the service (and the error shape).
TABLES: Mapping[str, tuple[Service, tuple[Route, ...]]] = {
    "compute": (Service.COMPUTE, COMPUTE_ROUTES),
    "identity": (Service.IDENTITY, IDENTITY_ROUTES),
    "image": (Service.IMAGE, IMAGE_ROUTES),
    "networking": (Service.NETWORK, NETWORK_ROUTES),
}


@dataclass(frozen=True, slots=True)
class _SameLength:
    """The routes of one table with one number of segments, in table order, indexed by segment: a path
    needs only try those whose every literal segment it has (a bit per route, table order kept)."""

    routes: tuple[Route, ...]
    # The positions where the routes differ (where they all have the same literal, ``_bind`` checks it).
    positions: tuple[int, ...]
    # Per position: literal segment -> the routes that have it there.
    literal: tuple[Mapping[str, int], ...]
    # Per position: the routes with a parameter there (any segment may bind, ``_bind`` decides).
    parameter: tuple[int, ...]

    @classmethod
    def of(cls, routes: tuple[Route, ...]) -> _SameLength:
        width = len(routes[0].segments)
        literal: list[dict[str, int]] = [{} for _ in range(width)]
        parameter = [0] * width
        for bit, route in enumerate(routes):
            for position, pattern in enumerate(route.segments):
                if pattern.startswith("{"):
                    parameter[position] |= 1 << bit
                else:
                    literal[position][pattern] = literal[position].get(pattern, 0) | 1 << bit
        positions = tuple(p for p in range(width) if parameter[p] or len(literal[p]) > 1)
        return cls(routes, positions, tuple(literal), tuple(parameter))

    def candidates(self, segments: list[str]) -> list[Route]:
        """The routes ``segments`` may bind, in table order (the others differ in a literal segment)."""
        mask = (1 << len(self.routes)) - 1
        for position in self.positions:
            mask &= self.literal[position].get(segments[position], 0) | self.parameter[position]
            if not mask:
                return []
        found: list[Route] = []
        while mask:
            lowest = mask & -mask
            found.append(self.routes[lowest.bit_length() - 1])
            mask ^= lowest
        return found


def _by_length(routes: tuple[Route, ...]) -> dict[int, _SameLength]:
    """Routes by number of segments, in table order: only those can bind a path (see ``_bind``). One route
    per pattern: the others of the same pattern bind the same paths (``resolve`` picks by method)."""
    found: dict[int, list[Route]] = {}
    patterns: set[str] = set()
    for route in routes:
        if route.pattern not in patterns:
            patterns.add(route.pattern)
            found.setdefault(len(route.segments), []).append(route)
    return {length: _SameLength.of(tuple(group)) for length, group in found.items()}


# Built once: resolving a request then tries only the routes of its length whose literal segments it has
# (one or two), not the whole table: a route late in the table (the flavors') took ~34 us of ``_bind``
# calls to reach by length alone, ~3 us this way.
_ROUTES_BY_LENGTH: Mapping[str, dict[int, _SameLength]] = {
    name: _by_length(routes) for name, (_, routes) in TABLES.items()
}
# Every route of a pattern (for 405's Allow), by pattern.
_SAME_PATH: Mapping[str, tuple[Route, ...]] = {
    route.pattern: tuple(r for r in routes if r.pattern == route.pattern)
    for _, routes in TABLES.values()
    for route in routes
}


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    service: Service
    # Validated parameters (flavor and image ids percent-decoded).
    params: Mapping[str, str]

    @property
    def tenant(self) -> str | None:
        return self.params.get("project_id")


def service_of(path: str) -> Service:
    """The service whose error shape a path gets; compute's for paths of no known service."""
    first = path.split("/", 2)[1] if path.startswith("/") and len(path) > 1 else ""
    known = TABLES.get(first)
    return known[0] if known else Service.COMPUTE


def _bind(route: Route, segments: list[str]) -> dict[str, str] | None:
    """The raw parameter values if ``segments`` has the route's shape, else None."""
    if len(segments) != len(route.segments):
        return None
    raw: dict[str, str] = {}
    for pattern, value in zip(route.segments, segments, strict=True):
        if pattern.startswith("{"):
            name = pattern[1:-1]
            if not value or not PARAMS[name].claims(value):
                return None
            raw[name] = value
        elif pattern != value:
            return None
    return raw


def resolve(method: str, path: str) -> Match | Reply:
    """The route for ``method`` and the raw ``path``, or the 404/405 error reply (in the service's shape)."""
    first = path.split("/", 2)[1] if path.startswith("/") and len(path) > 1 else ""
    table = TABLES.get(first)
    if table is None:
        return error_reply(Service.COMPUTE, 404, GENERIC_NOT_FOUND)
    service = table[0]
    segments = path.split("/")
    invalid: str | None = None
    same_length = _ROUTES_BY_LENGTH[first].get(len(segments))
    for route in same_length.candidates(segments) if same_length is not None else ():
        raw = _bind(route, segments)
        if raw is None:
            continue
        params: dict[str, str] = {}
        for name, value in raw.items():
            parsed = PARAMS[name].parse(value)
            if parsed is None:
                # A shape match with a bad id: remember the first such 404, but a later route whose
                # parameters are all valid still wins.
                invalid = invalid or PARAMS[name].not_found(service, value)
                break
            params[name] = parsed
        else:
            same_path = _SAME_PATH[route.pattern]
            for candidate in same_path:
                if candidate.method == method:
                    return Match(candidate, service, params)
            allowed = ", ".join(sorted({r.method for r in same_path}))
            reply = error_reply(service, 405, f"The method {method} is not allowed for this resource.")
            reply.headers["allow"] = allowed
            return reply
    return error_reply(service, 404, invalid or GENERIC_NOT_FOUND)
