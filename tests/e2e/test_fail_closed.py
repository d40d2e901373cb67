"""With the processor gone, Envoy answers in OpenStack shape and forwards nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from gateway_stack import Stack
from tests.e2e.conftest import DEMO_TOKEN, StackFactory

pytestmark = pytest.mark.e2e


@pytest.fixture()
def own_stack(make_stack: StackFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A stack of its own: this test stops the processor, which would disturb the shared one.
    with make_stack(tmp_path_factory.mktemp("failclosed"), tls=False) as running:
        yield running


def test_processor_down_gives_503_and_nothing_reaches_arktos(own_stack: Stack) -> None:
    url = f"{own_stack.public_url}/compute/v2.1/demo/servers"
    headers = {"X-Auth-Token": DEMO_TOKEN}
    assert requests.get(url, headers=headers, timeout=10).status_code == 200

    own_stack.stop_processor()
    before = own_stack.arktos_requests()
    reply = requests.get(url, headers=headers, timeout=10)
    assert reply.status_code == 503
    assert reply.json()["serviceUnavailable"]["code"] == 503
    # A write refused here may still have reached Arktos (the processor died after forwarding it):
    # like Nova's 5xx, the message tells the client the outcome is unknown.
    body = {"server": {"name": "x", "imageRef": "cirros-0.5.2-x86_64-disk", "flavorRef": "1"}}
    write = requests.post(url, json=body, headers=headers, timeout=10)
    assert write.status_code == 503
    message = write.json()["serviceUnavailable"]["message"]
    assert "outcome is unknown" in message and "x-openstack-request-id" in message.lower()
    assert own_stack.arktos_requests()[len(before) :] == []

    own_stack.start_processor()
    assert requests.get(url, headers=headers, timeout=10).status_code == 200
