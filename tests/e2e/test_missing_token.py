"""Without a token the gateway answers as keystonemiddleware does, and Arktos never sees the request;
refusals reach clients in OpenStack's words, never Kubernetes' (issue 9 item 5)."""

from __future__ import annotations

import re

import pytest
import requests

from gateway_stack import Stack
from tests.e2e.conftest import DEMO_TOKEN, Api

pytestmark = pytest.mark.e2e

KEYSTONE_401 = {
    "error": {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
}
KUBERNETES_WORDS = re.compile(
    r"system:|configmap|namespace|api group|replicaset|\.apps\b|\bpods?\b|is forbidden|openstack-flavors",
    re.IGNORECASE,
)
SERVER = "6f2b8c1e-0b7a-4c55-9d1e-2a9a8f3e4b10"
IMAGE = "11111111-2222-3333-4444-555555555555"

# Every kind of protected call: Nova (short and project paths), Glance, Keystone's token validation.
PROTECTED = [
    ("GET", "/compute/v2.1/servers"),
    ("GET", "/compute/v2.1/demo/servers/detail"),
    ("GET", f"/compute/v2.1/demo/servers/{SERVER}"),
    ("DELETE", f"/compute/v2.1/demo/servers/{SERVER}"),
    ("POST", "/compute/v2.1/demo/servers"),
    ("POST", f"/compute/v2.1/demo/servers/{SERVER}/action"),
    ("GET", "/compute/v2.1/flavors"),
    ("GET", "/compute/v2.1/demo/flavors/1"),
    ("GET", "/compute/v2.1/demo/images"),
    ("GET", "/compute/v2.1/demo"),
    ("GET", "/compute/v2.1/limits"),
    ("GET", "/image/v2/images"),
    ("GET", f"/image/v2/images/{IMAGE}"),
    ("GET", "/image/v2/schemas/image"),
    ("GET", "/identity/v3/auth/tokens"),
    ("DELETE", "/identity/v3/auth/tokens"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_missing_token_is_keystonemiddlewares_401_and_nothing_reaches_arktos(
    stack: Stack, method: str, path: str
) -> None:
    before = stack.arktos_requests()
    reply = requests.request(method, stack.public_url + path, json={}, timeout=10)
    assert reply.status_code == 401, reply.text
    assert reply.json() == KEYSTONE_401
    assert reply.headers["WWW-Authenticate"] == f'Keystone uri="{stack.public_url}/identity"'
    assert reply.headers["Content-Type"].startswith("application/json")
    assert stack.arktos_requests()[len(before) :] == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/compute", 200),
        ("/compute/", 200),
        ("/compute/v2.1", 200),
        ("/compute/v2.1/", 200),
        ("/identity", 300),
        ("/identity/v3", 200),
        ("/image", 300),
    ],
)
def test_discovery_documents_need_no_token(stack: Stack, path: str, status: int) -> None:
    assert requests.get(stack.public_url + path, timeout=10).status_code == status


def test_token_issuance_needs_no_token_and_a_wrong_password_is_keystones_401(stack: Stack) -> None:
    from tests.e2e.conftest import issue_token

    assert issue_token(stack.public_url, DEMO_TOKEN, "demo").status_code == 201
    refused = issue_token(stack.public_url, "not-a-token", "demo")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == 401
    assert refused.headers["WWW-Authenticate"] == f'Keystone uri="{stack.public_url}/identity"'


def test_wrong_token_is_keystonemiddlewares_401(stack: Stack) -> None:
    reply = requests.get(
        f"{stack.public_url}/compute/v2.1/demo/servers", headers={"X-Auth-Token": "wrong"}, timeout=10
    )
    assert reply.status_code == 401
    assert reply.json() == KEYSTONE_401
    assert reply.headers["WWW-Authenticate"] == f'Keystone uri="{stack.public_url}/identity"'


def test_refusals_speak_openstack_not_kubernetes(demo_api: Api) -> None:
    for path in [
        "/compute/v2.1/alt/servers",
        f"/compute/v2.1/alt/servers/{SERVER}",
        "/compute/v2.1/alt/flavors",
        "/compute/v2.1/alt/images",
        "/compute/v2.1/system/servers/detail",
    ]:
        reply = demo_api.get(path)
        assert reply.status_code == 403, (path, reply.text)
        assert reply.json() == {
            "forbidden": {"code": 403, "message": "Policy doesn't allow this operation to be performed."}
        }
        assert not KUBERNETES_WORDS.search(reply.text), (path, reply.text)
