"""extproc.compute.keypairs and extproc.keypair_store: Nova keypairs as one ConfigMap each."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from extproc.arktos_http import ArktosConnection
from extproc.catalog import CatalogStore
from extproc.catalog_watch import CatalogWatch
from extproc.compute import keypairs
from extproc.compute.server_create import create_server
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.key_stock import KeyStock
from extproc.keypair_store import KeypairStore, configmap_name
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from extproc.tenant_proofs import TenantProofs
from extproc.users import user_id_for_token
from tests.unit.keypair_objects import keypair_configmap

TOKEN = "demo-token"
USER = user_id_for_token(TOKEN)
FLAVORS_PATH = "/api/v1/tenants/demo/namespaces/default/configmaps/openstack-flavors"
# Nova's 2.1 view keys (nova/api/openstack/compute/views/keypairs.py).
INDEX_KEYS = {"name", "public_key", "fingerprint"}
CREATE_KEYS = INDEX_KEYS | {"user_id"}
SHOW_KEYS = CREATE_KEYS | {"created_at", "deleted", "deleted_at", "id", "updated_at"}


def ssh_keygen(*args: str) -> str:
    return subprocess.run(["ssh-keygen", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Public keys made by ssh-keygen, with the MD5 fingerprint ssh-keygen prints for each."""
    found: dict[str, tuple[str, str]] = {}
    workdir = tmp_path_factory.mktemp("keys")
    for kind, extra in (("rsa", ["-b", "2048"]), ("ed25519", []), ("ecdsa", ["-b", "256"])):
        path = workdir / f"id_{kind}"
        ssh_keygen("-q", "-t", kind, *extra, "-N", "", "-C", f"me@{kind}", "-f", str(path))
        public = Path(f"{path}.pub").read_text().strip()
        # "2048 MD5:aa:bb:... me@rsa (RSA)"
        printed = ssh_keygen("-l", "-E", "md5", "-f", f"{path}.pub").split()[1]
        found[kind] = (public, printed.removeprefix("MD5:"))
    return found


def context(
    tenant: str | None = "demo", store: KeypairStore | None = None, proven: bool = True
) -> RequestContext:
    proofs = TenantProofs()
    if proven:
        proofs.record(TOKEN, FLAVORS_PATH, 200)
    return RequestContext(GatewayConfig(), CatalogStore(), "req-1", tenant, proofs=proofs, keypairs=store)


def request(method: str, body: Any = None, raw: bytes | None = None) -> ClientRequest:
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else b"")
    return ClientRequest(method, "/", {}, {"x-auth-token": TOKEN}, data)


def reply(status: int, body: Any) -> ArktosReply:
    return ArktosReply(status, {"content-type": "application/json"}, orjson.dumps(body))


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 300 else "Success",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code,
    }


def as_forward(outcome: Outcome) -> Forward:
    assert isinstance(outcome, Forward), outcome
    return outcome


def as_reply(outcome: Any) -> Reply:
    assert isinstance(outcome, Reply), outcome
    return outcome


def body_of(outcome: Any) -> tuple[int, Any]:
    answered = as_reply(outcome)
    return answered.status, orjson.loads(answered.body) if answered.body else None


# -- key material ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ed25519", "ecdsa"])
def test_fingerprint_is_what_ssh_keygen_prints(ssh_keys: dict[str, tuple[str, str]], kind: str) -> None:
    public, printed = ssh_keys[kind]
    assert keypairs.fingerprint(public) == printed


@pytest.mark.parametrize(
    "public",
    [
        "",
        "ssh-rsa",
        "ssh-rsa AAAA",
        "ssh-rsa !!!notbase64",
        "not a key at all",
        "ssh-ed25519 AAAAC3Nza\u00e9",
    ],
)
def test_fingerprint_refuses_what_is_no_ssh_public_key(public: str) -> None:
    assert keypairs.fingerprint(public) is None


def test_generated_key_is_novas_rsa_2048_and_ssh_keygen_reads_it(tmp_path: Path) -> None:
    private_pem, public = keypairs.generate_key_pair()
    assert private_pem.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert public.startswith("ssh-rsa AAAA") and public.endswith(" Generated-by-Nova")
    pem = tmp_path / "k1.pem"
    pem.write_text(private_pem)
    pem.chmod(0o600)
    derived = ssh_keygen("-y", "-f", str(pem)).split()
    assert derived[:2] == public.split()[:2]
    assert ssh_keygen("-l", "-f", str(pem)).split()[0] == "2048"
    assert keypairs.fingerprint(public) is not None


# -- create ------------------------------------------------------------------------------------------------


def test_import_posts_one_keypair_configmap(ssh_keys: dict[str, tuple[str, str]]) -> None:
    public, printed = ssh_keys["ed25519"]
    store = KeypairStore()
    forward = as_forward(
        keypairs.create_keypair(
            context(store=store), request("POST", {"keypair": {"name": "my key", "public_key": public}}), {}
        )
    )
    up = forward.upstream
    assert (up.method, up.path) == ("POST", "/api/v1/tenants/demo/namespaces/default/configmaps")
    sent = orjson.loads(up.body or b"")
    assert sent["metadata"] == {
        "name": configmap_name("my key"),
        "labels": {"openstack.arktos.io/keypair": "true"},
    }
    assert sent["data"] == {
        "name": "my key",
        "public_key": public,
        "fingerprint": printed,
        "user_id": USER,
        "type": "ssh",
    }
    stored = keypair_configmap("my key", public, printed, USER)
    code, shown = body_of(forward.translate(reply(201, stored)))
    # Nova 2.1 answers 200 (201 from 2.2), without private_key for an imported key.
    assert code == 200
    assert shown == {
        "keypair": {"name": "my key", "public_key": public, "fingerprint": printed, "user_id": USER}
    }
    # Read-your-writes: a server create right after finds the key without waiting for the watch.
    assert store.public_key("demo", "my key") == public


def test_generate_returns_the_private_key_once() -> None:
    forward = as_forward(keypairs.create_keypair(context(), request("POST", {"keypair": {"name": "k1"}}), {}))
    sent = orjson.loads(forward.upstream.body or b"")
    assert "private_key" not in sent["data"]
    assert sent["data"]["public_key"].endswith(" Generated-by-Nova")
    stored = keypair_configmap("k1", sent["data"]["public_key"], sent["data"]["fingerprint"], USER)
    code, shown = body_of(forward.translate(reply(201, stored)))
    assert code == 200
    assert set(shown["keypair"]) == CREATE_KEYS | {"private_key"}
    assert shown["keypair"]["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert shown["keypair"]["fingerprint"] == keypairs.fingerprint(sent["data"]["public_key"])


def test_duplicate_is_novas_409() -> None:
    forward = as_forward(keypairs.create_keypair(context(), request("POST", {"keypair": {"name": "k1"}}), {}))
    exists = status(409, "AlreadyExists", f'configmaps "{configmap_name("k1")}" already exists')
    assert body_of(forward.translate(reply(409, exists))) == (
        409,
        {"conflictingRequest": {"code": 409, "message": "Key pair 'k1' already exists."}},
    )


def test_refusals_of_arktos_pass_through() -> None:
    forward = as_forward(keypairs.create_keypair(context(), request("POST", {"keypair": {"name": "k1"}}), {}))
    code, body = body_of(forward.translate(reply(403, status(403, "Forbidden", "configmaps is forbidden"))))
    assert code == 403 and "forbidden" in body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"keypair": {"name": "k1", "public_key": "ssh-rsa AAAA"}}, keypairs.INVALID_KEYPAIR),
        (
            {"keypair": {"name": "a/b"}},
            "Invalid input for field/attribute name. Value: a/b. "
            "'a/b' does not match '^[_\\\\- a-zA-Z0-9]+$'",
        ),
        ({"keypair": {"name": ""}}, "Invalid input for field/attribute name. Value: . "),
        ({"keypair": {"name": "k" * 256}}, f"Invalid input for field/attribute name. Value: {'k' * 200}"),
        (
            {"keypair": {"name": " k1"}},
            "An invalid 'name' value was provided. The name must be: printable characters. "
            "Can not start or end with whitespace.",
        ),
        (
            {"keypair": {"name": "k1", "type": "ssh"}},
            "Invalid input for field/attribute keypair. Value: {'name': 'k1', 'type': 'ssh'}. "
            "Additional properties are not allowed ('type' was unexpected)",
        ),
        (
            {"keypair": {"public_key": "x"}},
            "Invalid input for field/attribute keypair. Value: {'public_key': 'x'}. 'name' is a required "
            "property",
        ),
        ({"keypairs": {"name": "k1"}}, "'keypair' is a required property"),
        (
            {"keypair": {"name": "k1", "public_key": 5}},
            "Invalid input for field/attribute public_key. Value: 5.",
        ),
    ],
)
def test_invalid_creates_are_novas_400_before_arktos(body: Any, message: str) -> None:
    code, fault = body_of(keypairs.create_keypair(context(), request("POST", body), {}))
    assert code == 400
    assert fault["badRequest"]["message"].startswith(message)


@pytest.mark.parametrize(
    ("raw", "message"), [(b"", "The request body is missing."), (b"{", "Malformed request body")]
)
def test_unreadable_bodies(raw: bytes, message: str) -> None:
    assert body_of(keypairs.create_keypair(context(), request("POST", raw=raw), {})) == (
        400,
        {"badRequest": {"code": 400, "message": message}},
    )


# -- list, show, delete ------------------------------------------------------------------------------------


def test_list_is_one_labelled_list_ordered_by_name() -> None:
    forward = as_forward(keypairs.list_keypairs(context(tenant=None), request("GET"), {}))
    assert forward.upstream.path == (
        "/api/v1/namespaces/default/configmaps?labelSelector=openstack.arktos.io%2Fkeypair"
    )
    catalog = {"metadata": {"name": "openstack-flavors", "tenant": "demo"}, "data": {}}
    # A ConfigMap that carries the label but is not named after its keypair is not one the gateway wrote.
    forged = keypair_configmap("zz", "ssh-rsa X", "f", "u")
    forged["metadata"]["name"] = "other"
    items = [
        keypair_configmap("k2", "ssh-rsa B", "f2", "u"),
        catalog,
        forged,
        keypair_configmap("k 1", "ssh-rsa A", "f1", "u"),
    ]
    code, listed = body_of(forward.translate(reply(200, {"kind": "ConfigMapList", "items": items})))
    assert code == 200
    assert listed == {
        "keypairs": [
            {"keypair": {"name": "k 1", "public_key": "ssh-rsa A", "fingerprint": "f1"}},
            {"keypair": {"name": "k2", "public_key": "ssh-rsa B", "fingerprint": "f2"}},
        ]
    }


def test_show_has_novas_21_keys() -> None:
    forward = as_forward(keypairs.show_keypair(context(), request("GET"), {"keypair_name": "k1"}))
    assert (
        forward.upstream.path == f"/api/v1/tenants/demo/namespaces/default/configmaps/{configmap_name('k1')}"
    )
    stored = keypair_configmap("k1", "ssh-rsa A", "f1", "someone", uid="3f1c4c6e-0000-4000-8000-000000000001")
    code, shown = body_of(forward.translate(reply(200, stored)))
    assert code == 200
    keypair = shown["keypair"]
    assert set(keypair) == SHOW_KEYS
    assert keypair["created_at"] == "2026-11-30T06:08:37.000000"
    assert (keypair["deleted"], keypair["deleted_at"], keypair["updated_at"]) == (False, None, None)
    assert keypair["user_id"] == "someone"
    assert isinstance(keypair["id"], int) and 0 <= keypair["id"] < 2**31
    assert body_of(forward.translate(reply(200, stored)))[1]["keypair"]["id"] == keypair["id"]


def test_show_and_delete_of_a_missing_keypair_are_novas_404() -> None:
    missing = reply(404, status(404, "NotFound", 'configmaps "x" not found'))
    for handler in (keypairs.show_keypair, keypairs.delete_keypair):
        forward = as_forward(handler(context(), request("GET"), {"keypair_name": "nokey"}))
        assert body_of(forward.translate(missing)) == (
            404,
            {"itemNotFound": {"code": 404, "message": f"Keypair nokey not found for user {USER}"}},
        )


def test_delete_is_one_delete_and_202() -> None:
    store = KeypairStore()
    stored = keypair_configmap("k1", "ssh-rsa A", "f1", USER, uid="uid-1")
    store.replace_all([stored])
    forward = as_forward(
        keypairs.delete_keypair(context(store=store), request("DELETE"), {"keypair_name": "k1"})
    )
    assert (forward.upstream.method, forward.upstream.path) == (
        "DELETE",
        f"/api/v1/tenants/demo/namespaces/default/configmaps/{configmap_name('k1')}",
    )
    deleted = status(200, "", "", name=configmap_name("k1"), kind="configmaps", uid="uid-1")
    answered = as_reply(forward.translate(reply(200, deleted)))
    assert (answered.status, answered.body) == (202, b"")
    assert store.public_key("demo", "k1") is None
    # The watch's late ADDED of the deleted keypair does not bring it back.
    store.apply_event("ADDED", stored)
    assert store.public_key("demo", "k1") is None


# -- the store ---------------------------------------------------------------------------------------------


def test_store_keeps_the_newest_version_per_tenant() -> None:
    store = KeypairStore()
    assert not store.synced
    store.replace_all([keypair_configmap("k1", "ssh-rsa NEW", "f", "u", uid="a", resource_version="9")])
    assert store.synced
    store.apply_event(
        "MODIFIED", keypair_configmap("k1", "ssh-rsa OLD", "f", "u", uid="a", resource_version="3")
    )
    assert store.public_key("demo", "k1") == "ssh-rsa NEW"
    assert store.public_key("alt", "k1") is None
    store.apply_event("ADDED", keypair_configmap("k1", "ssh-rsa ALT", "f", "u", tenant="alt", uid="b"))
    assert store.public_key("alt", "k1") == "ssh-rsa ALT"
    store.apply_event(
        "DELETED", keypair_configmap("k1", "ssh-rsa NEW", "f", "u", uid="a", resource_version="10")
    )
    assert store.public_key("demo", "k1") is None
    assert store.public_key("alt", "k1") == "ssh-rsa ALT"


# -- server create --key-name ------------------------------------------------------------------------------

SERVER = {"server": {"name": "vm1", "imageRef": "cirros-0.5.2-x86_64-disk", "flavorRef": "1"}}


def server_create(ctx: RequestContext, key_name: str, **extra: Any) -> Outcome:
    body = {"server": {**SERVER["server"], "key_name": key_name, **extra}}
    return create_server(ctx, request("POST", body), {})


def known_keys() -> KeypairStore:
    store = KeypairStore()
    store.replace_all(
        [
            keypair_configmap("k1", "ssh-ed25519 AAAAk1", "f", "u"),
            keypair_configmap("theirs", "ssh-ed25519 AAAAalt", "f", "u", tenant="alt"),
        ]
    )
    return store


@pytest.mark.parametrize("count", [1, 3])
def test_server_create_puts_the_public_key_in_the_vm(count: int) -> None:
    forward = as_forward(server_create(context(store=known_keys()), "k1", min_count=count, max_count=count))
    sent = orjson.loads(forward.upstream.body or b"")
    pod = sent if count == 1 else sent["spec"]["template"]
    vm = pod["spec"]["virtualMachine"]
    assert (vm["keyPairName"], vm["publicKey"]) == ("k1", "ssh-ed25519 AAAAk1")
    assert pod["metadata"]["annotations"]["openstack.arktos.io/key-name"] == "k1"


def test_server_create_without_key_name_keeps_the_default_keypair() -> None:
    forward = as_forward(create_server(context(store=known_keys()), request("POST", SERVER), {}))
    vm = orjson.loads(forward.upstream.body or b"")["spec"]["virtualMachine"]
    assert vm["keyPairName"] == "default"
    assert "publicKey" not in vm


@pytest.mark.parametrize("key_name", ["nokey", "theirs"])
def test_unknown_key_name_is_400_before_anything_is_created(key_name: str) -> None:
    # Another tenant's keypair of that name is no keypair of this tenant.
    assert body_of(server_create(context(store=known_keys()), key_name)) == (
        400,
        {"badRequest": {"code": 400, "message": "Invalid key_name provided."}},
    )


@pytest.mark.parametrize("key_name", ["k1", "nokey"])
def test_unproven_token_gets_the_same_arktos_check_whatever_the_cache_holds(key_name: str) -> None:
    forward = as_forward(server_create(context(store=known_keys(), proven=False), key_name))
    up = forward.upstream
    assert (up.method, up.path, up.body) == (
        "GET",
        f"/api/v1/tenants/demo/namespaces/default/configmaps/{configmap_name(key_name)}",
        None,
    )
    forbidden = reply(403, status(403, "Forbidden", "configmaps is forbidden"))
    assert body_of(forward.translate(forbidden))[0] == 403
    missing = reply(404, status(404, "NotFound", "not found"))
    assert body_of(forward.translate(missing)) == (
        400,
        {"badRequest": {"code": 400, "message": "Invalid key_name provided."}},
    )


def test_keypair_the_cache_had_not_seen_is_409_then_known() -> None:
    store = KeypairStore()
    store.replace_all([])
    forward = as_forward(server_create(context(store=store, proven=False), "fresh"))
    found = keypair_configmap("fresh", "ssh-ed25519 AAAAfresh", "f", "u")
    code, fault = body_of(forward.translate(reply(200, found)))
    assert code == 409 and "retry" in fault["conflictingRequest"]["message"]
    retried = as_forward(server_create(context(store=store), "fresh"))
    assert (
        orjson.loads(retried.upstream.body or b"")["spec"]["virtualMachine"]["publicKey"]
        == "ssh-ed25519 AAAAfresh"
    )


def test_short_path_asks_arktos() -> None:
    forward = as_forward(server_create(context(tenant=None, store=known_keys()), "k1"))
    assert forward.upstream.path == f"/api/v1/namespaces/default/configmaps/{configmap_name('k1')}"
    code, fault = body_of(forward.translate(reply(200, keypair_configmap("k1", "ssh-rsa A", "f", "u"))))
    assert code == 400 and "project" in fault["badRequest"]["message"]


def test_unsynced_store_asks_arktos() -> None:
    forward = as_forward(server_create(context(store=KeypairStore()), "nokey"))
    assert forward.upstream.method == "GET"


def test_generation_takes_a_key_from_the_stock_and_an_empty_stock_is_503() -> None:
    pair = keypairs.generate_key_pair()
    stock = KeyStock()
    stock.offer(pair)
    ctx = RequestContext(GatewayConfig(), CatalogStore(), "req-1", "demo", key_stock=stock)
    forward = as_forward(keypairs.create_keypair(ctx, request("POST", {"keypair": {"name": "k1"}}), {}))
    assert orjson.loads(forward.upstream.body or b"")["data"]["public_key"] == pair[1]
    busy = as_reply(keypairs.create_keypair(ctx, request("POST", {"keypair": {"name": "k2"}}), {}))
    assert (busy.status, busy.headers["retry-after"]) == (503, "1")
    assert (
        orjson.loads(busy.body)["serviceUnavailable"]["message"]
        == "Keypair generation is busy; retry the request."
    )


def test_the_configmap_watch_feeds_the_keypair_store() -> None:
    store = KeypairStore()
    catalog = CatalogStore()
    watch = CatalogWatch(catalog, ArktosConnection("https://arktos.invalid"), keypairs=store)
    flavors = {
        "metadata": {"name": "openstack-flavors", "tenant": "demo", "resourceVersion": "1"},
        "data": {},
    }
    watch.on_list([flavors, keypair_configmap("k1", "ssh-rsa A", "f", "u", uid="a")])
    assert store.synced and store.public_key("demo", "k1") == "ssh-rsa A"
    watch.on_event("ADDED", keypair_configmap("k2", "ssh-rsa B", "f", "u", tenant="alt", uid="b"))
    assert store.public_key("alt", "k2") == "ssh-rsa B"
    watch.on_event("DELETED", keypair_configmap("k1", "ssh-rsa A", "f", "u", uid="a"))
    assert store.public_key("demo", "k1") is None
