"""extproc.routes: the route table, parameter validation, 404 and 405."""

from __future__ import annotations

import orjson
import pytest

from extproc import routes
from extproc.compute import (
    flavors,
    images,
    keypairs,
    quota_sets,
    server_create,
    server_item,
    server_list,
    usage,
    versions,
)
from extproc.errors import Service
from extproc.identity import handlers as identity
from extproc.image import handlers as glance
from extproc.messages import Reply
from extproc.routes import Match, resolve
from tests.hostile_ids import HOSTILE_IDS

SERVER = "bad005cf-17e1-48ad-b9f7-e9f9352beb13"


def matched(method: str, path: str) -> Match:
    result = resolve(method, path)
    assert isinstance(result, Match), (method, path, result)
    return result


def refused(method: str, path: str) -> Reply:
    result = resolve(method, path)
    assert isinstance(result, Reply), (method, path, result)
    return result


def fault(reply: Reply) -> tuple[str, dict[str, object]]:
    body = orjson.loads(reply.body)
    assert len(body) == 1
    name, value = next(iter(body.items()))
    return name, value


@pytest.mark.parametrize("project", [None, "demo"])
@pytest.mark.parametrize(
    ("method", "path", "handler", "params"),
    [
        ("GET", "/servers", server_list.list_servers, {}),
        ("POST", "/servers", server_create.create_server, {}),
        ("GET", "/servers/detail", server_list.list_servers_detail, {}),
        ("GET", f"/servers/{SERVER}", server_item.show_server, {"server_id": SERVER}),
        ("PUT", f"/servers/{SERVER}", server_item.update_server, {"server_id": SERVER}),
        ("DELETE", f"/servers/{SERVER}", server_item.delete_server, {"server_id": SERVER}),
        ("GET", "/flavors", flavors.list_flavors, {}),
        ("GET", "/flavors/detail", flavors.list_flavors_detail, {}),
        ("GET", "/flavors/m1.tiny", flavors.show_flavor, {"flavor_id": "m1.tiny"}),
        ("GET", "/flavors/1/os-extra_specs", flavors.show_extra_specs, {"flavor_id": "1"}),
        ("GET", "/images", images.list_images, {}),
        ("GET", "/images/detail", images.list_images_detail, {}),
        ("GET", "/images/abc", images.show_image, {"image_id": "abc"}),
        ("GET", "/limits", quota_sets.limits, {}),
        ("GET", "/os-quota-sets/demo", quota_sets.show_quota_set, {"tenant_id": "demo"}),
        ("PUT", "/os-quota-sets/demo", quota_sets.update_quota_set, {"tenant_id": "demo"}),
        ("GET", "/os-quota-sets/demo/detail", quota_sets.show_quota_detail, {"tenant_id": "demo"}),
        ("GET", "/os-quota-sets/demo/defaults", quota_sets.show_quota_defaults, {"tenant_id": "demo"}),
        ("GET", "/os-simple-tenant-usage", usage.list_usage, {}),
        ("GET", "/os-simple-tenant-usage/alt", usage.show_usage, {"tenant_id": "alt"}),
        ("GET", "/os-availability-zone", versions.availability_zones, {}),
        ("GET", "/os-keypairs", keypairs.list_keypairs, {}),
        ("POST", "/os-keypairs", keypairs.create_keypair, {}),
        ("GET", "/os-keypairs/my%20key", keypairs.show_keypair, {"keypair_name": "my key"}),
        ("DELETE", "/os-keypairs/k1", keypairs.delete_keypair, {"keypair_name": "k1"}),
        ("GET", "/os-floating-ip-pools", versions.floating_ip_pools, {}),
        ("GET", "", versions.version_show, {}),
        ("GET", "/", versions.version_show, {}),
    ],
)
def test_compute_routes_with_and_without_project(
    project: str | None, method: str, path: str, handler: object, params: dict[str, str]
) -> None:
    prefix = "/compute/v2.1" + (f"/{project}" if project else "")
    match = matched(method, prefix + path)
    assert match.route.handler is handler
    assert match.service is Service.COMPUTE
    assert match.tenant == project
    expected = dict(params, **({"project_id": project} if project else {}))
    assert dict(match.params) == expected


@pytest.mark.parametrize("path", ["/compute", "/compute/"])
def test_compute_version_index(path: str) -> None:
    assert matched("GET", path).route.handler is versions.versions_index


@pytest.mark.parametrize(
    ("method", "path", "handler"),
    [
        ("GET", "/identity", identity.versions),
        ("GET", "/identity/", identity.versions),
        ("GET", "/identity/v3", identity.v3_version),
        ("GET", "/identity/v3/", identity.v3_version),
        ("POST", "/identity/v3/auth/tokens", identity.issue_token),
        ("GET", "/identity/v3/auth/tokens", identity.validate_token),
        ("HEAD", "/identity/v3/auth/tokens", identity.validate_token),
        ("DELETE", "/identity/v3/auth/tokens", identity.revoke_token),
        ("GET", "/image", glance.versions),
        ("GET", "/image/", glance.versions),
        ("GET", "/image/v2/images", glance.list_images),
        ("GET", "/image/v2/images/6db08272-a856-49da-8909-7c4c73ab0bac", glance.show_image),
        ("GET", "/image/v2/schemas/image", glance.image_schema),
        ("GET", "/image/v2/schemas/images", glance.images_schema),
    ],
)
def test_identity_and_image_routes(method: str, path: str, handler: object) -> None:
    match = matched(method, path)
    assert match.route.handler is handler
    assert match.tenant is None


def test_literal_segments_win_over_parameters() -> None:
    # "detail" is a valid pod name, but /servers/detail is the detailed list.
    assert matched("GET", "/compute/v2.1/servers/detail").route.handler is server_list.list_servers_detail
    # A collection name is never taken for a project.
    assert matched("GET", "/compute/v2.1/flavors/servers").route.handler is flavors.show_flavor
    assert matched("GET", "/compute/v2.1/images/detail").route.handler is images.list_images_detail


def test_flavor_and_image_ids_are_decoded_for_handlers() -> None:
    assert matched("GET", "/compute/v2.1/flavors/m1%2Etiny").params["flavor_id"] == "m1.tiny"
    assert matched("GET", "/image/v2/images/my%20image").params["image_id"] == "my image"


@pytest.mark.parametrize(
    "hostile",
    HOSTILE_IDS,
)
def test_hostile_server_ids_are_404_instance_not_found(hostile: str) -> None:
    # Messages repeat at most 255 characters of what the client sent.
    shown = hostile if len(hostile) <= 255 else hostile[:255] + "..."
    for prefix in ("/compute/v2.1", "/compute/v2.1/demo"):
        for method in ("GET", "PUT", "DELETE"):
            reply = refused(method, f"{prefix}/servers/{hostile}")
            assert reply.status == 404
            assert fault(reply) == (
                "itemNotFound",
                {"code": 404, "message": f"Instance {shown} could not be found."},
            )


def test_find_by_name_gives_instance_not_found() -> None:
    reply = refused("GET", "/compute/v2.1/servers/my%20vm")
    assert fault(reply) == ("itemNotFound", {"code": 404, "message": "Instance my%20vm could not be found."})


@pytest.mark.parametrize("project", ["ABC", "a" * 64, "de%2Fmo", "..", "de.mo"])
def test_invalid_project_segment_is_404(project: str) -> None:
    reply = refused("GET", f"/compute/v2.1/{project}/servers")
    assert reply.status == 404
    assert fault(reply)[0] == "itemNotFound"


def test_invalid_flavor_and_image_ids_are_404_in_the_service_shape() -> None:
    flavor = refused("GET", "/compute/v2.1/flavors/abc%00")
    assert fault(flavor) == ("itemNotFound", {"code": 404, "message": "Flavor abc%00 could not be found."})
    nova_image = refused("GET", "/compute/v2.1/images/abc%00")
    assert fault(nova_image) == ("itemNotFound", {"code": 404, "message": "Image abc%00 could not be found."})
    glance_image = refused("GET", "/image/v2/images/abc%00")
    assert glance_image.status == 404
    assert orjson.loads(glance_image.body) == {
        "code": "404 Not Found",
        "title": "Not Found",
        "message": "No image found with ID abc%00",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "",
        "/healthz",
        "/api/v1/namespaces/default/pods",
        "/apis/apps/v1/replicasets",
        "/compute/v2.1/os-no-such-thing",
        "/compute/v2.1/demo/os-no-such-thing",
        "/compute/v2.1/servers/",
        "/compute/v2.1//servers",
        "/compute/v2.1/servers/../../../api/v1/tenants/all/pods",
        "/compute/../api/v1/tenants/all/pods",
        f"/compute/v2.1/servers/{SERVER}/os-interface",
        "/compute/v3",
        "/compute/v2/os-no-such-thing",
        "/computer/v2.1/servers",
    ],
)
def test_unknown_compute_paths_are_nova_404(path: str) -> None:
    reply = refused("GET", path)
    assert reply.status == 404
    assert fault(reply) == ("itemNotFound", {"code": 404, "message": "The resource could not be found."})
    assert reply.headers["content-type"] == "application/json; charset=UTF-8"


def test_unknown_identity_and_image_paths_use_their_shapes() -> None:
    identity_reply = refused("GET", "/identity/../api/v1/tenants")
    assert orjson.loads(identity_reply.body) == {
        "error": {"code": 404, "message": "The resource could not be found.", "title": "Not Found"}
    }
    image_reply = refused("GET", "/image/v2/../../api/v1/namespaces/default/pods")
    assert orjson.loads(image_reply.body)["code"] == "404 Not Found"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/compute/v2.1/servers", "GET, POST"),
        ("DELETE", "/compute/v2.1/demo/servers", "GET, POST"),
        ("POST", f"/compute/v2.1/servers/{SERVER}", "DELETE, GET, PUT"),
        ("POST", "/compute/v2.1/servers/detail", "GET"),
        ("PUT", "/compute/v2.1/flavors", "GET, POST"),
        ("PUT", "/identity/v3/auth/tokens", "DELETE, GET, HEAD, POST"),
        ("PUT", "/image/v2/images/abc", "DELETE, GET, PATCH"),
        ("GET", "/image/v2/images/abc/file", "PUT"),
    ],
)
def test_known_path_with_wrong_method_is_405(method: str, path: str, allow: str) -> None:
    reply = refused(method, path)
    assert reply.status == 405
    assert reply.headers["allow"] == allow
    if path.startswith("/compute"):
        assert fault(reply) == (
            "badMethod",
            {"code": 405, "message": f"The method {method} is not allowed for this resource."},
        )


def test_wrong_method_on_an_invalid_id_is_still_404() -> None:
    # The id is checked first: a bad id names nothing, whatever the method.
    assert refused("POST", "/compute/v2.1/servers/ABC").status == 404


def test_every_route_parameter_has_a_rule() -> None:
    with pytest.raises(ValueError, match="no validation rule"):
        routes.Route("GET", "/compute/v2.1/things/{thing_id}", versions.availability_zones)


def test_service_of() -> None:
    assert routes.service_of("/identity/v3") is Service.IDENTITY
    assert routes.service_of("/image/v2/images") is Service.IMAGE
    assert routes.service_of("/compute/v2.1") is Service.COMPUTE
    assert routes.service_of("/identityx") is Service.COMPUTE
    assert routes.service_of("/") is Service.COMPUTE


# ---------------------------------------------------------------------------------------------------------
# The segment index (``_SameLength``) resolves exactly as trying every route of the table in order


def _resolve_by_scanning(method: str, path: str) -> Match | Reply:
    """``resolve`` as it was before the index: every route of the path's table, in table order."""
    first = path.split("/", 2)[1] if path.startswith("/") and len(path) > 1 else ""
    table = routes.TABLES.get(first)
    if table is None:
        return routes.error_reply(Service.COMPUTE, 404, routes.GENERIC_NOT_FOUND)
    service, table_routes = table
    segments = path.split("/")
    invalid: str | None = None
    for route in table_routes:
        raw = routes._bind(route, segments)
        if raw is None:
            continue
        params: dict[str, str] = {}
        for name, value in raw.items():
            parsed = routes.PARAMS[name].parse(value)
            if parsed is None:
                invalid = invalid or routes.PARAMS[name].not_found(service, value)
                break
            params[name] = parsed
        else:
            same_path = [r for r in table_routes if r.pattern == route.pattern]
            for candidate in same_path:
                if candidate.method == method:
                    return Match(candidate, service, params)
            allowed = ", ".join(sorted({r.method for r in same_path}))
            reply = routes.error_reply(service, 405, f"The method {method} is not allowed for this resource.")
            reply.headers["allow"] = allowed
            return reply
    return routes.error_reply(service, 404, invalid or routes.GENERIC_NOT_FOUND)


# Values every parameter is tried with: valid ids of each kind, the literal segments that compete with
# parameters (detail, action...), empty and hostile ones.
_VALUES = (
    "demo",
    SERVER,
    "1",
    "m1.tiny",
    "detail",
    "action",
    "os-extra_specs",
    "all",
    "",
    "a b",
    "%2F",
    "..",
)


def _paths() -> set[str]:
    found: set[str] = set()
    for _, table_routes in routes.TABLES.values():
        for route in table_routes:
            options: list[list[str]] = [[]]
            for pattern in route.segments:
                values = _VALUES if pattern.startswith("{") else (pattern, "detail")
                options = [[*o, v] for o in options for v in values][:120]
            found.update("/".join(o) for o in options)
    return found


def test_the_segment_index_resolves_as_the_table_in_order() -> None:
    paths = _paths()
    assert len(paths) > 2000
    for path in sorted(paths):
        for method in ("GET", "POST", "DELETE"):
            indexed, scanned = resolve(method, path), _resolve_by_scanning(method, path)
            if isinstance(scanned, Match):
                assert isinstance(indexed, Match) and indexed == scanned, (method, path)
            else:
                assert isinstance(indexed, Reply), (method, path)
                assert (indexed.status, indexed.body, indexed.headers) == (
                    scanned.status,
                    scanned.body,
                    scanned.headers,
                ), (method, path)
