"""Client flows no other e2e test covers, each with a real client: token validation and revocation
(python-keystoneclient), rename (`openstack server set --name`) and Nova's `/images` proxy (openstacksdk's
compute proxy and raw HTTP)."""

from __future__ import annotations

import openstack
import pytest
import requests
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client as keystone_client

from gateway_stack import Stack
from tests.e2e.conftest import DEMO_TOKEN, Api, OpenStackCLI

pytestmark = pytest.mark.e2e

IMAGE = "cirros-0.5.2-x86_64-disk"
IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"


def keystone(stack: Stack) -> keystone_client.Client:
    auth = v3.Password(
        auth_url=f"{stack.public_url}/identity/v3",
        username="demo",
        password=DEMO_TOKEN,
        project_name="demo",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    return keystone_client.Client(session=session.Session(auth=auth))


def test_keystoneclient_validates_a_token_and_is_told_it_cannot_revoke_it(stack: Stack) -> None:
    ks = keystone(stack)
    validated = ks.tokens.validate(DEMO_TOKEN)
    assert validated.project_id == "demo"
    assert validated.auth_token == DEMO_TOKEN

    # HEAD: the same check without a body.
    url = f"{stack.public_url}/identity/v3/auth/tokens"
    headers = {"X-Auth-Token": DEMO_TOKEN, "X-Subject-Token": DEMO_TOKEN}
    head = requests.head(url, headers=headers, timeout=30)
    assert (head.status_code, head.content, head.headers["X-Subject-Token"]) == (200, b"", DEMO_TOKEN)
    unknown = requests.head(url, headers={**headers, "X-Subject-Token": "no-such-token"}, timeout=30)
    assert unknown.status_code == 404
    with pytest.raises(ks_exceptions.NotFound):
        ks.tokens.validate("no-such-token")

    # Revocation is not possible here: Keystone's 501, and the token keeps working.
    with pytest.raises(ks_exceptions.HttpNotImplemented) as refused:
        ks.tokens.revoke_token(DEMO_TOKEN)
    assert "cannot revoke" in str(refused.value)
    assert ks.tokens.validate(DEMO_TOKEN).project_id == "demo"


def test_cli_renames_a_server(cli: OpenStackCLI, demo_api: Api) -> None:
    created = cli.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "rename-me")
    sid = created["id"]
    try:
        cli.run("server", "set", "--name", "renamed", sid)
        assert cli.json("server", "show", sid)["name"] == "renamed"
        listed = {s["ID"]: s["Name"] for s in cli.json("server", "list")}
        assert listed[sid] == "renamed"
        assert demo_api.get(f"/servers/{sid}").json()["server"]["name"] == "renamed"
    finally:
        cli.run("server", "delete", sid, check=False)


def test_nova_image_proxy(conn: openstack.connection.Connection, demo_api: Api) -> None:
    # openstacksdk's compute proxy reads Nova's /images (Nova's image view), not Glance.
    found = conn.compute.find_image(IMAGE, ignore_missing=False)  # by name: Nova's basic list view
    assert (found.id, found.name) == (IMAGE_ID, IMAGE)
    image = conn.compute.get_image(IMAGE_ID)
    assert (image.name, image.status, image.progress, image.min_disk) == (IMAGE, "ACTIVE", 100, 0)
    assert IMAGE_ID in {i.id for i in conn.compute.images()}

    shown = demo_api.get(f"/images/{IMAGE_ID}")
    assert shown.status_code == 200
    body = shown.json()["image"]
    assert (body["id"], body["name"], body["status"], body["progress"]) == (IMAGE_ID, IMAGE, "ACTIVE", 100)
    assert body["links"][0] == {"rel": "self", "href": f"{demo_api.compute}/images/{IMAGE_ID}"}
    detail = demo_api.get("/images/detail").json()["images"]
    assert body in detail
    missing = demo_api.get("/images/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["itemNotFound"]["message"] == "Image not found."
