from __future__ import annotations

from collections.abc import Iterator

import pytest

from extproc.config import GatewayConfig
from tests.plumbing.harness import MAX_BODY, Plumbing, plumbing


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plumbing]:
    with plumbing(tmp_path_factory.mktemp("plumbing"), GatewayConfig(max_request_body_bytes=MAX_BODY)) as p:
        yield p


@pytest.fixture
def env(stack: Plumbing) -> Iterator[Plumbing]:
    """The module's stack, reset between tests."""
    stack.gateway.routes.clear()
    stack.gateway.requests.clear()
    stack.arktos.seen.clear()
    stack.arktos.status = 200
    stack.arktos.headers = {
        "content-type": "application/json",
        "audit-id": "a-1",
        "cache-control": "no-cache",
    }
    stack.arktos.body = b'{"kind":"Pod"}'
    stack.arktos.respond = None
    yield stack
