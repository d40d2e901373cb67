"""Keypairs at each microversion that changes them (nova/api/openstack/compute/keypairs.py and its view):
2.2 type and 201/204, 2.10 user_id, 2.35 paging, 2.75 strict query, 2.92 no generation. Each gate is tested at
the version below it and at its version."""

from __future__ import annotations

import datetime
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from extproc.catalog import CatalogStore
from extproc.compute import keypairs
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.keypair_store import configmap_name
from extproc.messages import ArktosReply, ClientRequest, Forward, Outcome, Reply
from extproc.users import user_id_for_token
from tests.unit.keypair_objects import keypair_configmap

TOKEN = "demo-token"
USER = user_id_for_token(TOKEN)
OTHER_USER = "0123456789abcdef0123456789abcdef"
Version = tuple[int, int]


def context(version: Version, tenant: str = "demo") -> RequestContext:
    return RequestContext(GatewayConfig(), CatalogStore(), "req-1", tenant, compute_version=version)


def request(method: str, body: Any = None, query: dict[str, list[str]] | None = None) -> ClientRequest:
    data = orjson.dumps(body) if body is not None else b""
    return ClientRequest(method, "/", query or {}, {"x-auth-token": TOKEN}, data)


def forwarded(outcome: Outcome) -> Forward:
    assert isinstance(outcome, Forward), outcome
    return outcome


def answered(outcome: Outcome, status: int, body: Any) -> tuple[int, Any]:
    result = forwarded(outcome).translate(ArktosReply(status, {}, orjson.dumps(body)))
    assert isinstance(result, Reply)
    return result.status, orjson.loads(result.body) if result.body else None


def refused(outcome: Outcome) -> tuple[int, str]:
    assert isinstance(outcome, Reply), outcome
    ((_, value),) = orjson.loads(outcome.body).items()
    return outcome.status, value["message"]


def ed25519_public() -> str:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def certificate() -> tuple[str, str]:
    """A self-signed PEM certificate and the SHA-1 fingerprint ``openssl x509 -fingerprint`` prints."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "winrm")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    digest = cert.fingerprint(hashes.SHA1()).hex()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), ":".join(
        digest[i : i + 2] for i in range(0, len(digest), 2)
    )


def listed(*names: str, user: str = USER) -> dict[str, Any]:
    public = ed25519_public()
    return {"items": [keypair_configmap(n, public, "aa:bb", user) for n in names]}


# -- 2.2: type, 201 and 204 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "typed", "created", "deleted"), [((2, 1), False, 200, 202), ((2, 2), True, 201, 204)]
)
def test_type_and_statuses_from_22(version: Version, typed: bool, created: int, deleted: int) -> None:
    public = ed25519_public()
    outcome = keypairs.create_keypair(
        context(version), request("POST", {"keypair": {"name": "k", "public_key": public}}), {}
    )
    stored = keypair_configmap("k", public, "aa:bb", USER)
    status, body = answered(outcome, 201, stored)
    assert status == created
    assert ("type" in body["keypair"]) is typed
    status, shown = answered(
        keypairs.show_keypair(context(version), request("GET"), {"keypair_name": "k"}), 200, stored
    )
    assert ("type" in shown["keypair"]) is typed
    _, index = answered(
        keypairs.list_keypairs(context(version), request("GET"), {}), 200, {"items": [stored]}
    )
    assert ("type" in index["keypairs"][0]["keypair"]) is typed
    gone = forwarded(keypairs.delete_keypair(context(version), request("DELETE"), {"keypair_name": "k"}))
    result = gone.translate(ArktosReply(200, {}, b'{"kind":"Status","status":"Success"}'))
    assert isinstance(result, Reply) and (result.status, result.body) == (deleted, b"")


def test_type_is_refused_in_a_21_body_and_accepted_from_22() -> None:
    body = {"keypair": {"name": "k", "type": "ssh", "public_key": ed25519_public()}}
    status, message = refused(keypairs.create_keypair(context((2, 1)), request("POST", body), {}))
    assert status == 400
    assert message.startswith("Invalid input for field/attribute keypair. Value: {")
    assert message.endswith("Additional properties are not allowed ('type' was unexpected)")
    assert isinstance(keypairs.create_keypair(context((2, 2)), request("POST", body), {}), Forward)


def test_an_x509_keypair_imports_a_certificate_with_novas_fingerprint() -> None:
    pem, sha1 = certificate()
    outcome = keypairs.create_keypair(
        context((2, 2)), request("POST", {"keypair": {"name": "w", "type": "x509", "public_key": pem}}), {}
    )
    sent = orjson.loads(forwarded(outcome).upstream.body or b"")
    assert (sent["data"]["type"], sent["data"]["fingerprint"]) == ("x509", sha1)
    stored = keypair_configmap("w", pem, sha1, USER)
    stored["data"]["type"] = "x509"
    _, body = answered(outcome, 201, stored)
    assert body["keypair"]["type"] == "x509"


def test_an_x509_keypair_that_is_no_certificate_or_is_to_be_generated_is_400() -> None:
    bad = {"keypair": {"name": "w", "type": "x509", "public_key": ed25519_public()}}
    assert refused(keypairs.create_keypair(context((2, 2)), request("POST", bad), {})) == (
        400,
        keypairs.INVALID_X509,
    )
    generate = {"keypair": {"name": "w", "type": "x509"}}
    assert refused(keypairs.create_keypair(context((2, 2)), request("POST", generate), {})) == (
        400,
        keypairs.X509_GENERATION_UNSUPPORTED,
    )


# -- 2.10: user_id ----------------------------------------------------------------------------------------


def test_user_id_in_the_body_is_refused_below_210() -> None:
    body = {"keypair": {"name": "k", "user_id": USER, "public_key": ed25519_public()}}
    assert refused(keypairs.create_keypair(context((2, 9)), request("POST", body), {}))[0] == 400
    sent = orjson.loads(
        forwarded(keypairs.create_keypair(context((2, 10)), request("POST", body), {})).upstream.body or b""
    )
    assert sent["data"]["user_id"] == USER


def test_another_users_keypair_is_the_administrators_from_210() -> None:
    body = {"keypair": {"name": "k", "user_id": OTHER_USER, "public_key": ed25519_public()}}
    assert refused(keypairs.create_keypair(context((2, 10)), request("POST", body), {})) == (
        403,
        "Policy doesn't allow os_compute_api:os-keypairs:create to be performed.",
    )
    sent = orjson.loads(
        forwarded(
            keypairs.create_keypair(context((2, 10), "system"), request("POST", body), {})
        ).upstream.body
        or b""
    )
    assert sent["data"]["user_id"] == OTHER_USER
    query = {"user_id": [OTHER_USER]}
    for handler, params in ((keypairs.list_keypairs, {}), (keypairs.show_keypair, {"keypair_name": "k"})):
        # Ignored below 2.10 (Nova's index_query_v20 strips it): the caller's own keypairs.
        assert isinstance(handler(context((2, 9)), request("GET", query=query), params), Forward)
        assert refused(handler(context((2, 10)), request("GET", query=query), params))[0] == 403


def test_user_id_lists_and_shows_only_that_users_keypairs_from_210() -> None:
    mine = listed("a", "b")
    theirs = listed("c", user=OTHER_USER)
    both = {"items": mine["items"] + theirs["items"]}
    query = {"user_id": [OTHER_USER]}
    _, body = answered(
        keypairs.list_keypairs(context((2, 10), "system"), request("GET", query=query), {}), 200, both
    )
    assert [k["keypair"]["name"] for k in body["keypairs"]] == ["c"]
    _, unfiltered = answered(
        keypairs.list_keypairs(context((2, 9), "system"), request("GET", query=query), {}), 200, both
    )
    assert [k["keypair"]["name"] for k in unfiltered["keypairs"]] == ["a", "b", "c"]
    shown = keypairs.show_keypair(
        context((2, 10), "system"), request("GET", query=query), {"keypair_name": "a"}
    )
    assert answered(shown, 200, mine["items"][0]) == (
        404,
        {"itemNotFound": {"code": 404, "message": f"Keypair a not found for user {OTHER_USER}"}},
    )


# -- 2.35: paging ------------------------------------------------------------------------------------------


def test_limit_and_marker_page_by_name_from_235() -> None:
    names = listed("a", "b", "c", "d")
    query = {"limit": ["2"], "marker": ["a"]}
    _, whole = answered(keypairs.list_keypairs(context((2, 34)), request("GET", query=query), {}), 200, names)
    assert [k["keypair"]["name"] for k in whole["keypairs"]] == ["a", "b", "c", "d"]
    assert "keypairs_links" not in whole
    _, page = answered(keypairs.list_keypairs(context((2, 35)), request("GET", query=query), {}), 200, names)
    assert [k["keypair"]["name"] for k in page["keypairs"]] == ["b", "c"]
    assert page["keypairs_links"] == [
        {"rel": "next", "href": "http://127.0.0.1:8080/compute/v2.1/demo/os-keypairs?limit=2&marker=c"}
    ]
    last = {"limit": ["2"], "marker": ["c"]}
    _, tail = answered(keypairs.list_keypairs(context((2, 35)), request("GET", query=last), {}), 200, names)
    assert [k["keypair"]["name"] for k in tail["keypairs"]] == ["d"]
    assert "keypairs_links" not in tail


def test_paging_errors_are_novas_400() -> None:
    names = listed("a")
    unknown = keypairs.list_keypairs(context((2, 35)), request("GET", query={"marker": ["zz"]}), {})
    assert answered(unknown, 200, names) == (
        400,
        {"badRequest": {"code": 400, "message": "Marker zz could not be found."}},
    )
    negative = keypairs.list_keypairs(context((2, 35)), request("GET", query={"limit": ["-1"]}), {})
    assert refused(negative) == (
        400,
        "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'",
    )


# -- 2.75: unknown query parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "method", "params"),
    [
        (keypairs.list_keypairs, "GET", {}),
        (keypairs.show_keypair, "GET", {"keypair_name": "k"}),
        (keypairs.delete_keypair, "DELETE", {"keypair_name": "k"}),
    ],
)
def test_unknown_query_parameters_are_400_from_275(handler: Any, method: str, params: dict[str, str]) -> None:
    query = {"sort": ["name"]}
    assert isinstance(handler(context((2, 74)), request(method, query=query), params), Forward)
    assert refused(handler(context((2, 75)), request(method, query=query), params)) == (
        400,
        "Additional properties are not allowed ('sort' was unexpected)",
    )


# -- 2.92: no generation, @ and . in names -----------------------------------------------------------------


def test_generation_is_gone_from_292() -> None:
    generate = {"keypair": {"name": "k"}}
    assert isinstance(keypairs.create_keypair(context((2, 91)), request("POST", generate), {}), Forward)
    assert refused(keypairs.create_keypair(context((2, 92)), request("POST", generate), {})) == (
        400,
        "Invalid input for field/attribute keypair. Value: {'name': 'k'}. "
        "'public_key' is a required property",
    )


def test_at_and_dot_are_name_characters_from_292() -> None:
    body = {"keypair": {"name": "me@host.example", "public_key": ed25519_public()}}
    assert refused(keypairs.create_keypair(context((2, 91)), request("POST", body), {}))[0] == 400
    sent = orjson.loads(
        forwarded(keypairs.create_keypair(context((2, 92)), request("POST", body), {})).upstream.body or b""
    )
    assert sent["metadata"]["name"] == configmap_name("me@host.example")
