"""How the processor ends an ext_proc stream, against the real Envoy (issue 9 item 10: memory growth).

Envoy closes AND resets its ext_proc stream as soon as it has the final response. A final gRPC status sent
in a batch of its own then races that reset; whenever the reset wins, the batch fails, and grpc.aio (grpcio
up to at least 1.85.3, grpc/grpc#43360) never frees a failed batch's ``grpc_op`` array: ~100 bytes of
native heap per such request, the slow growth ``make bench``'s soak showed. The processor sends its final
response and the status in ONE batch (``extproc.server.ExternalProcessor``), so no batch of a stream that
ends normally can fail. The test counts failed batches directly: grpc.aio makes an ``ExecuteBatchError``
for each (and then silently ignores it when the peer has closed).
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from grpc._cython import cygrpc

from extproc.messages import ArktosRequest, ClientRequest, Forward, Reply
from tests.plumbing.harness import Plumbing

pytestmark = pytest.mark.timeout(120)

# A multiple of CONNECTIONS x 3 (each connection cycles through the three paths).
REQUESTS = 576
CONNECTIONS = 6
HEADERS = {"content-type": "application/json", "x-openstack-request-id": "req-x"}


@pytest.fixture
def failed_batches() -> Iterator[list[str]]:
    """Messages of the grpc.aio batches that failed while the test ran (in this process: the processor's)."""
    failures: list[str] = []
    error = cygrpc.ExecuteBatchError
    original = error.__init__

    def counting_init(self: BaseException, *args: object) -> None:
        failures.append(repr(args))
        original(self, *args)

    error.__init__ = counting_init  # type: ignore[method-assign]
    try:
        yield failures
    finally:
        error.__init__ = original  # type: ignore[method-assign]


def load(env: Plumbing, paths: list[str], requests: int) -> list[int]:
    """``requests`` GETs over ``CONNECTIONS`` keep-alive connections; the statuses."""

    def worker(n: int) -> list[int]:
        conn = http.client.HTTPConnection("127.0.0.1", env.public_port, timeout=10)
        statuses = []
        try:
            for i in range(n):
                conn.request("GET", paths[i % len(paths)], headers={"X-Auth-Token": "t"})
                resp = conn.getresponse()
                resp.read()
                statuses.append(resp.status)
        finally:
            conn.close()
        return statuses

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        parts = pool.map(worker, [requests // CONNECTIONS] * CONNECTIONS)
    return [s for part in parts for s in part]


def busy_reply(request: ClientRequest) -> Reply:
    # A request whose translation holds the processor's event loop for a moment (as rendering a long list
    # does): Envoy's resets of the other streams arrive meanwhile.
    time.sleep(0.003)
    return Reply(200, b"{}", HEADERS)


def test_no_grpc_batch_fails_when_envoy_resets_finished_streams(
    env: Plumbing, failed_batches: list[str]
) -> None:
    env.gateway.routes["/compute/v2.1/versions"] = lambda r: Reply(200, b"{}", HEADERS)
    env.gateway.routes["/compute/v2.1/busy"] = busy_reply
    env.gateway.routes["/compute/v2.1/demo/servers/x"] = lambda r: Forward(
        ArktosRequest("GET", "/api/v1/tenants/demo/namespaces/default/pods/x"),
        lambda reply: Reply(200, b'{"server": {}}', HEADERS),
    )
    # Streams ended by an ImmediateResponse (one message) and by a translated Arktos reply (three).
    paths = ["/compute/v2.1/versions", "/compute/v2.1/busy", "/compute/v2.1/demo/servers/x"]
    statuses = load(env, paths, REQUESTS)
    assert statuses == [200] * REQUESTS
    assert len(env.arktos.seen) == REQUESTS // len(paths)
    assert len(failed_batches) == 0, f"{len(failed_batches)} failed batches, e.g. {failed_batches[:2]}"
