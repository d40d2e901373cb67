"""Image writes (Glance create/patch/delete/import, Nova's DELETE /images): the translators on their own."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from extproc import app
from extproc.catalog import CatalogStore
from extproc.catalog_configmaps import image_entry
from extproc.catalog_entries import DELETED_SNAPSHOTS_KEY, Image
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.image import records, writes
from extproc.image.records import Change, Refusal
from extproc.messages import ArktosReply, ArktosRequest, ClientRequest, Forward, Reply
from extproc.tenant_proofs import TenantProofs

PUBLIC = "http://gw"
TOKEN = "tok"
TENANT = "demo"
CIRROS = "6db08272-a856-49da-8909-7c4c73ab0bac"
MINE = "11111111-1111-4111-8111-111111111111"
OPERATORS = "22222222-2222-4222-8222-222222222222"
SNAP = "33333333-3333-4333-8333-333333333333"
GLANCE_PATCH = "application/openstack-images-v2.1-json-patch"


def image(image_id: str = MINE, **fields: Any) -> Image:
    values: dict[str, Any] = {
        "name": "mine",
        "url": "http://h/mine.img",
        "owner": TENANT,
        "visibility": "shared",
    }
    values.update(fields)
    return Image(id=image_id, **values)


def catalog(*images: Image, version: str = "41", tenant: str = TENANT) -> CatalogStore:
    store = CatalogStore()
    store.set_configmap(tenant, "openstack-images", {i.id: image_entry(i) for i in images}, version)
    return store


def context(
    store: CatalogStore | None = None, tenant: str | None = None, proven: bool = True
) -> RequestContext:
    proofs = TenantProofs()
    if proven:
        proofs.record(TOKEN, f"/api/v1/tenants/{TENANT}/namespaces/default", 200)
    return RequestContext(
        GatewayConfig(public_url=PUBLIC), store or CatalogStore(), "req-1", tenant, None, proofs
    )


def request(
    method: str, path: str, body: Any = None, content_type: str = "application/json"
) -> ClientRequest:
    raw = orjson.dumps(body) if body is not None else b""
    headers = {"x-auth-token": TOKEN, "content-type": content_type}
    return ClientRequest(method=method, path=path, query={}, headers=headers, body=raw)


def configmap_reply(*images: Image, status: int = 200, version: str = "42") -> ArktosReply:
    doc = {
        "kind": "ConfigMap",
        "metadata": {"name": "openstack-images", "tenant": TENANT, "resourceVersion": version},
        "data": {i.id: image_entry(i) for i in images},
    }
    return ArktosReply(status, {}, orjson.dumps(doc))


def status_reply(code: int, reason: str = "") -> ArktosReply:
    return ArktosReply(code, {}, orjson.dumps({"kind": "Status", "code": code, "reason": reason}))


def forwarded(outcome: Reply | Forward) -> ArktosRequest:
    assert isinstance(outcome, Forward), outcome
    return outcome.upstream


def answer(outcome: Reply | Forward, reply: ArktosReply) -> Reply:
    assert isinstance(outcome, Forward), outcome
    result = outcome.translate(reply)
    assert isinstance(result, Reply)
    return result


def error(reply: Reply) -> tuple[int, str]:
    """(status, message) of a Glance error, or of a Nova fault (``{"<name>": {"code", "message"}}``)."""
    found = orjson.loads(reply.body)
    if "message" not in found:
        found = next(iter(found.values()))
    return reply.status, found["message"]


def patch_ops(upstream: ArktosRequest) -> list[dict[str, Any]]:
    assert upstream.method == "PATCH" and upstream.content_type == "application/json-patch+json"
    assert upstream.body is not None
    ops: list[dict[str, Any]] = orjson.loads(upstream.body)
    return ops


def written(upstream: ArktosRequest) -> dict[str, dict[str, Any]]:
    """The images data an Arktos write records, entries decoded."""
    ops = patch_ops(upstream)
    assert ops[1]["op"] == "add" and ops[1]["path"] == "/data"
    return {key: orjson.loads(value) for key, value in ops[1]["value"].items()}


# ---------------------------------------------------------------------------------------------------------
# DELETE


def test_delete_own_image_is_one_conditional_write_of_the_tenants_configmap() -> None:
    other = image(OPERATORS, owner=None, name="ops")
    ctx = context(catalog(image(), other))
    outcome = writes.delete_image(ctx, request("DELETE", f"/image/v2/images/{MINE}"), {"image_id": MINE})
    upstream = forwarded(outcome)
    assert upstream.path == "/api/v1/tenants/demo/namespaces/default/configmaps/openstack-images"
    assert patch_ops(upstream)[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "41"}
    assert set(written(upstream)) == {OPERATORS}
    assert answer(outcome, configmap_reply(other)).status == 204


@pytest.mark.parametrize(
    ("arktos", "status"),
    [(403, 404), (404, 404), (422, 409), (409, 409), (500, 500)],
)
def test_delete_write_refused_by_arktos(arktos: int, status: int) -> None:
    ctx = context(catalog(image()))
    outcome = writes.delete_image(ctx, request("DELETE", "/x"), {"image_id": MINE})
    assert answer(outcome, status_reply(arktos)).status == status


def test_delete_unknown_image_is_404_without_arktos() -> None:
    ctx = context(catalog(image()))
    reply = writes.delete_image(ctx, request("DELETE", "/x"), {"image_id": SNAP})
    assert isinstance(reply, Reply)
    assert error(reply) == (404, f"Failed to find image {SNAP} to delete")
    nova = writes.delete_image_nova(ctx, request("DELETE", "/x"), {"image_id": "not-a-uuid"})
    assert isinstance(nova, Reply) and error(nova) == (404, "Image not found.")


def test_delete_builtin_image_is_glances_403_for_admin_owned_images() -> None:
    # A tenant with no ConfigMap: its images are the defaults; Arktos is asked before the refusal.
    ctx = context()
    outcome = writes.delete_image(ctx, request("DELETE", "/x"), {"image_id": CIRROS})
    assert forwarded(outcome).method == "GET"
    reply = answer(outcome, status_reply(404))
    assert error(reply) == (403, "You are not authorized to complete delete_image action.")
    # No tenant known at all: the same public image for everyone.
    reply = writes.delete_image(context(proven=False), request("DELETE", "/x"), {"image_id": CIRROS})
    assert isinstance(reply, Reply) and reply.status == 403


def test_delete_refusals_are_said_only_after_arktos_lets_the_caller_read() -> None:
    protected = image(protected=True)
    ctx = context(catalog(protected, image(OPERATORS, owner=None)))
    outcome = writes.delete_image(ctx, request("DELETE", "/x"), {"image_id": MINE})
    upstream = forwarded(outcome)
    assert upstream.method == "GET" and upstream.path.endswith(
        "/tenants/demo/namespaces/default/configmaps/openstack-images"
    )
    assert error(answer(outcome, configmap_reply(protected))) == (
        403,
        f"Image {MINE} is protected and cannot be deleted.",
    )
    # Another tenant's ConfigMap (Arktos 403) looks like no image at all.
    assert answer(outcome, status_reply(403)).status == 404
    nova = writes.delete_image_nova(ctx, request("DELETE", "/x"), {"image_id": OPERATORS})
    assert error(answer(nova, configmap_reply(image(OPERATORS, owner=None)))) == (
        403,
        "You are not allowed to delete the image.",
    )


def test_delete_of_a_snapshot_in_flight_is_refused() -> None:
    url = "arktos-snapshot://demo/default/server-1/"
    snapshot = image(SNAP, status="queued", url=url, properties={"image_type": "snapshot"})
    ctx = context(catalog(snapshot))
    outcome = writes.delete_image(ctx, request("DELETE", "/x"), {"image_id": SNAP})
    assert answer(outcome, configmap_reply(snapshot)).status == 409


def test_delete_finds_the_tenant_from_the_catalog_when_the_token_proves_none() -> None:
    ctx = context(catalog(image()), proven=False)
    upstream = forwarded(writes.delete_image(ctx, request("DELETE", "/x"), {"image_id": MINE}))
    assert upstream.path == "/api/v1/tenants/demo/namespaces/default/configmaps/openstack-images"


def test_operator_keys_are_kept_and_an_entry_keyed_by_name_is_removed_by_its_key() -> None:
    store = CatalogStore()
    store.set_configmap(TENANT, "openstack-images", {"my-name": image_entry(image())}, "7")
    upstream = forwarded(writes.delete_image(context(store), request("DELETE", "/x"), {"image_id": MINE}))
    assert written(upstream) == {}


# ---------------------------------------------------------------------------------------------------------
# POST /v2/images


def test_create_registers_a_queued_image_in_glances_201_shape() -> None:
    ctx = context(catalog(image()))
    body = {
        "name": "web",
        "disk_format": "qcow2",
        "container_format": "bare",
        "os_distro": "cirros",
        "tags": ["a"],
    }
    outcome = writes.create_image(ctx, request("POST", "/image/v2/images", body), {})
    upstream = forwarded(outcome)
    data = written(upstream)
    new_id = next(k for k in data if k != MINE)
    entry = data[new_id]
    assert entry["status"] == "queued" and entry["owner"] == TENANT and entry["url"] == ""
    assert entry["properties"] == {"os_distro": "cirros"} and entry["tags"] == ["a"]
    recorded = Image(id=new_id, name="web", url="", status="queued", owner=TENANT, visibility="shared")
    reply = answer(outcome, configmap_reply(image(), recorded))
    shown = orjson.loads(reply.body)
    assert reply.status == 201
    assert reply.headers["location"] == f"{PUBLIC}/image/v2/images/{new_id}"
    assert shown["status"] == "queued" and shown["id"] == new_id and shown["self"] == f"/v2/images/{new_id}"


def test_create_without_a_configmap_creates_it_seeded_with_the_defaults() -> None:
    outcome = writes.create_image(context(), request("POST", "/image/v2/images", {"name": "w"}), {})
    upstream = forwarded(outcome)
    assert upstream.method == "POST" and upstream.path == "/api/v1/tenants/demo/namespaces/default/configmaps"
    assert upstream.body is not None
    doc = orjson.loads(upstream.body)
    assert doc["metadata"] == {"name": "openstack-images"}
    assert "cirros-0.5.2-x86_64-disk" in doc["data"] and len(doc["data"]) == 2
    assert answer(outcome, status_reply(409, "AlreadyExists")).status == 409


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "x", "status": "active"}, 403, "Attribute 'status' is read-only."),
        ({"name": "x", "self": "y"}, 403, "Attribute 'self' is read-only."),
        ({"name": "x", "deleted": "1"}, 403, "Attribute 'deleted' is reserved."),
        ({"name": "x", "os_glance_import_task": "1"}, 403, "Attribute 'os_glance_import_task' is reserved."),
        ({"name": "x", "arktos_snapshot_id": "s"}, 403, "Attribute 'arktos_snapshot_id' is reserved."),
        ({"name": "x", "owner": "alt"}, 403, "You are not permitted to create images owned by 'alt'"),
        ({"name": "x", "disk_format": "exe"}, 400, None),
        ({"name": "x", "k": 5}, 400, None),
        ({"name": "x", "k" * 256: "v"}, 400, "Custom property should not be greater than 255 characters."),
        (["not", "an", "object"], 400, None),
    ],
)
def test_create_refuses_as_glance(body: Any, status: int, message: str | None) -> None:
    reply = writes.create_image(context(), request("POST", "/image/v2/images", body), {})
    assert isinstance(reply, Reply)
    got = error(reply)
    assert got[0] == status, got
    if message is not None:
        assert got[1] == message


def test_create_with_an_existing_id_is_409_and_without_a_known_project_403() -> None:
    reply = writes.create_image(context(catalog(image())), request("POST", "/x", {"id": MINE}), {})
    assert isinstance(reply, Reply) and error(reply) == (409, f"Image with identifier {MINE} already exists!")
    reply = writes.create_image(context(proven=False), request("POST", "/x", {"name": "w"}), {})
    assert isinstance(reply, Reply) and reply.status == 403


# ---------------------------------------------------------------------------------------------------------
# PATCH


def test_patch_changes_name_tags_visibility_and_properties_in_one_write() -> None:
    mine = image(properties={"old": "1", "keep": "k"})
    ops = [
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "add", "path": "/tags", "value": ["t1", "t2"]},
        {"op": "replace", "path": "/visibility", "value": "private"},
        {"op": "add", "path": "/hw_rng_model", "value": "virtio"},
        {"op": "remove", "path": "/old"},
    ]
    req = request("PATCH", "/x", ops, GLANCE_PATCH)
    outcome = writes.update_image(context(catalog(mine)), req, {"image_id": MINE})
    entry = written(forwarded(outcome))[MINE]
    assert entry["name"] == "renamed" and entry["tags"] == ["t1", "t2"] and entry["visibility"] == "private"
    assert entry["properties"] == {"keep": "k", "hw_rng_model": "virtio"}
    recorded = Image(id=MINE, name="renamed", url="u")
    reply = answer(outcome, configmap_reply(recorded))
    assert reply.status == 200 and orjson.loads(reply.body)["name"] == "renamed"


def test_patch_media_type_and_read_only_attributes() -> None:
    ctx = context(catalog(image()))
    reply = writes.update_image(ctx, request("PATCH", "/x", [], "application/json"), {"image_id": MINE})
    assert isinstance(reply, Reply) and reply.status == 415
    assert "application/openstack-images-v2.1-json-patch" in reply.headers["accept-patch"]
    ops = [{"op": "replace", "path": "/status", "value": "active"}]
    reply = writes.update_image(ctx, request("PATCH", "/x", ops, GLANCE_PATCH), {"image_id": MINE})
    assert isinstance(reply, Reply) and error(reply) == (403, "Attribute 'status' is read-only.")


def test_patch_of_a_missing_property_or_of_someone_elses_image_is_refused_after_a_read() -> None:
    ctx = context(catalog(image(), image(OPERATORS, owner=None)))
    ops = [{"op": "replace", "path": "/nope", "value": "v"}]
    outcome = writes.update_image(ctx, request("PATCH", "/x", ops, GLANCE_PATCH), {"image_id": MINE})
    assert error(answer(outcome, configmap_reply(image()))) == (409, "Property nope does not exist.")
    ops = [{"op": "replace", "path": "/name", "value": "v"}]
    outcome = writes.update_image(ctx, request("PATCH", "/x", ops, GLANCE_PATCH), {"image_id": OPERATORS})
    reply = answer(outcome, configmap_reply(image(OPERATORS, owner=None)))
    assert error(reply) == (403, "You are not authorized to complete modify_image action.")


def test_parse_patch_draft_4_and_pointer_rules() -> None:
    draft4 = "application/openstack-images-v2.0-json-patch"
    assert records.parse_patch(draft4, [{"replace": "/name", "value": "n"}]) == [
        Change("replace", "name", "n")
    ]
    with pytest.raises(Refusal) as refused:
        records.parse_patch(GLANCE_PATCH, [{"op": "move", "path": "/name"}])
    assert refused.value.status == 400
    with pytest.raises(Refusal) as refused:
        records.parse_patch(GLANCE_PATCH, [{"op": "add", "path": "/a/b", "value": "x"}])
    assert refused.value.message == "Invalid JSON pointer for this resource: '/a/b'"
    with pytest.raises(Refusal) as refused:
        records.parse_patch(GLANCE_PATCH, [{"op": "add", "path": "/name"}])
    assert refused.value.message == 'Operation "add" requires a member named "value".'


def test_apply_changes_keeps_glances_rules() -> None:
    active = image()
    with pytest.raises(Refusal) as refused:
        records.apply_changes(active, [Change("replace", "disk_format", "raw")], "now")
    assert refused.value.status == 403
    with pytest.raises(Refusal) as refused:
        records.apply_changes(active, [Change("remove", "name")], "now")
    assert refused.value.message == "Property name may not be removed."
    changed = records.apply_changes(active, [Change("replace", "protected", True)], "2026-01-01T00:00:00Z")
    assert changed.protected and changed.updated_at == "2026-01-01T00:00:00Z"


# ---------------------------------------------------------------------------------------------------------
# Import (web-download), info, upload


def test_web_download_import_makes_the_image_active_with_its_uri() -> None:
    queued = image(status="queued", url="")
    body = {"method": {"name": "web-download", "uri": "https://example.org/os.qcow2"}}
    outcome = writes.import_image(context(catalog(queued)), request("POST", "/x", body), {"image_id": MINE})
    entry = written(forwarded(outcome))[MINE]
    assert entry["status"] == "active" and entry["url"] == "https://example.org/os.qcow2"
    assert answer(outcome, configmap_reply(queued)).status == 202


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"method": {"name": "glance-direct"}}, 400),
        ({"method": {"name": "web-download"}}, 400),
        ({"nothing": 1}, 400),
    ],
)
def test_import_requests_glance_refuses(body: Any, status: int) -> None:
    reply = writes.import_image(
        context(catalog(image(status="queued", url=""))), request("POST", "/x", body), {"image_id": MINE}
    )
    assert isinstance(reply, Reply) and reply.status == status


def test_import_of_an_active_image_or_a_filtered_uri_is_refused() -> None:
    body = {"method": {"name": "web-download", "uri": "https://example.org/os.qcow2"}}
    outcome = writes.import_image(context(catalog(image())), request("POST", "/x", body), {"image_id": MINE})
    assert error(answer(outcome, configmap_reply(image()))) == (
        409,
        "Image with status active cannot be target for import",
    )
    queued = image(status="queued", url="")
    with pytest.raises(Refusal) as refused:
        records.check_web_download(queued, "file:///etc/passwd")
    assert refused.value.message == "URI for web-download does not pass filtering: file:///etc/passwd"


def test_import_info_advertises_only_web_download_and_upload_is_glances_410() -> None:
    reply = writes.import_info(context(), request("GET", "/image/v2/info/import"), {})
    assert isinstance(reply, Reply)
    assert orjson.loads(reply.body)["import-methods"]["value"] == ["web-download"]
    reply = writes.upload_disabled(context(), request("PUT", "/x"), {"image_id": MINE})
    assert isinstance(reply, Reply) and reply.status == 410
    assert error(reply)[1].startswith("Error in store configuration. Adding images to store is disabled.")


# ---------------------------------------------------------------------------------------------------------
# The processor's copy of the ConfigMap


def test_catalog_keeps_the_newest_version_from_watch_or_own_writes() -> None:
    store = catalog(image(), version="50")
    store.set_configmap(TENANT, "openstack-images", {}, "49")  # a late watch event: older
    assert store.images_configmap(TENANT) is not None
    assert store.images_configmap(TENANT).resource_version == "50"  # type: ignore[union-attr]
    assert store.tenants_with_image(MINE) == [TENANT]
    app.note_configmap_write(store, configmap_reply(version="51"))
    assert store.images(TENANT) == [] and store.tenants_with_image(MINE) == []


def test_the_tenant_of_a_glance_write_is_the_proven_one_holding_the_image() -> None:
    store = catalog(image())
    store.set_configmap("alt", "openstack-images", {MINE: image_entry(image(owner="alt"))}, "3")
    tenant, found = writes.locate(context(store), TOKEN, MINE)
    assert tenant == TENANT and found is not None and found.owner == TENANT
    # Two tenants hold it and the token proves neither: no guess.
    assert writes.locate(context(store, proven=False), TOKEN, MINE) == (None, None)


def test_deleting_a_snapshot_remembers_its_id_so_it_is_never_recorded_again() -> None:
    snapshot = image(SNAP, url="arktos-snapshot://demo/default/server-1/arktos-snap-1")
    outcome = writes.delete_image(
        context(catalog(snapshot, image())), request("DELETE", "/x"), {"image_id": SNAP}
    )
    ops = patch_ops(forwarded(outcome))
    data = ops[1]["value"]
    assert SNAP not in data and MINE in data
    assert SNAP in orjson.loads(data[DELETED_SNAPSHOTS_KEY])
    # A registered image leaves no such trace.
    outcome = writes.delete_image(context(catalog(image())), request("DELETE", "/x"), {"image_id": MINE})
    assert DELETED_SNAPSHOTS_KEY not in patch_ops(forwarded(outcome))[1]["value"]
