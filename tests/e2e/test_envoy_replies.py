"""Envoy's own replies (HTTP errors it answers before the processor or Arktos) in OpenStack shapes, through
the real Envoy, and bounded waits: a body shorter than its Content-Length, Arktos paused."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from gateway_stack import Stack
from tests.e2e.conftest import DEMO_TOKEN, StackFactory

pytestmark = pytest.mark.timeout(120)

# Short so the test is quick; the defaults are checked in tests/plumbing/test_plumbing.py.
REQUEST_TIMEOUT = 3.0
UPSTREAM_TIMEOUT = 3.0
# Nova's fault names (nova.api.openstack.wsgi.Fault._fault_names); any other code is "computeFault".
NOVA_FAULT_NAMES = {400: "badRequest", 413: "overLimit", 501: "notImplemented", 503: "serviceUnavailable"}


@pytest.fixture(scope="module")
def stack(make_stack: StackFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack(
        tmp_path_factory.mktemp("envoy-replies"),
        tls=False,
        vm_boot_seconds=0.2,
        request_timeout_seconds=REQUEST_TIMEOUT,
        upstream_timeout_seconds=UPSTREAM_TIMEOUT,
    ) as running:
        yield running


def exchange(stack: Stack, raw: bytes, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes, float]:
    """Send raw bytes, read one HTTP/1.1 reply: (status, headers, body, seconds until the reply)."""
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", stack.public_port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without a reply: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, headers, body, time.monotonic() - began


def assert_openstack_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> str:
    assert status == expected, body
    assert headers["content-type"].startswith("application/json"), headers
    assert "x-openstack-gateway-local-reply" not in headers  # the processor's marker stays inside
    doc = json.loads(body)
    ((name, fault),) = doc.items()
    assert name == NOVA_FAULT_NAMES.get(expected, "computeFault"), doc
    assert fault["code"] == expected and fault["message"], doc
    return str(fault["message"])


GET = b"GET /compute/v2.1/ HTTP/1.1\r\nHost: gw\r\n"

ENVOY_REJECTS = {
    "bad header name": (GET + b"Bad Header: y\r\n\r\n", 400),
    "unknown method": (b"BREW /compute/v2.1/ HTTP/1.1\r\nHost: gw\r\n\r\n", 400),
    "HTTP/1.0": (b"GET /compute/v2.1/ HTTP/1.0\r\n\r\n", 426),
    "headers too large": (GET + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    "unsupported transfer coding": (
        b"POST /compute/v2.1/ HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    ),
    "body over the limit": (
        b"POST /compute/v2.1/demo/servers HTTP/1.1\r\nHost: gw\r\nX-Auth-Token: "
        + DEMO_TOKEN.encode()
        + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 3000000\r\n\r\n" + b"a" * 3_000_000,
        413,
    ),
}


@pytest.mark.parametrize("case", sorted(ENVOY_REJECTS))
def test_envoy_rejections_are_openstack_errors(stack: Stack, case: str) -> None:
    raw, expected = ENVOY_REJECTS[case]
    status, headers, body, _ = exchange(stack, raw)
    message = assert_openstack_error(status, headers, body, expected)
    # Envoy's own wording stays out of the message (no "upstream", no response code details).
    assert not re.search(r"envoy|upstream|codec|_", message, re.I), message


def test_body_shorter_than_its_content_length_times_out(stack: Stack) -> None:
    raw = (
        b"POST /compute/v2.1/demo/servers HTTP/1.1\r\nHost: gw\r\nX-Auth-Token: "
        + DEMO_TOKEN.encode()
        + b"\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"server": '
    )
    status, headers, body, took = exchange(stack, raw)
    assert_openstack_error(status, headers, body, 408)
    assert took < REQUEST_TIMEOUT + 10  # bounded by the request timeout, not Envoy's 5-minute idle timeout


@pytest.mark.sim_only("freezes the simulator's process (SIGSTOP) so that Arktos stops answering")
def test_arktos_paused_gives_a_gateway_timeout(stack: Stack) -> None:
    assert stack.sim is not None and stack.sim.pid is not None
    get = (
        GET.replace(b"/compute/v2.1/", b"/compute/v2.1/demo/servers")
        + b"X-Auth-Token: "
        + DEMO_TOKEN.encode()
        + b"\r\n\r\n"
    )
    assert exchange(stack, get)[0] == 200
    os.kill(stack.sim.pid, signal.SIGSTOP)
    try:
        status, headers, body, took = exchange(stack, get)
    finally:
        os.kill(stack.sim.pid, signal.SIGCONT)
    message = assert_openstack_error(status, headers, body, 504)
    assert "Arktos" in message
    assert took < UPSTREAM_TIMEOUT + 10
    assert exchange(stack, get)[0] == 200
