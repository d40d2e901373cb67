"""Arktos replies to a catalog ConfigMap GET, and small helpers, shared by the Nova image and Glance tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from extproc.messages import ArktosReply, Forward, Reply

NOT_FOUND = ArktosReply(404, {}, orjson.dumps({"kind": "Status", "code": 404, "reason": "NotFound"}))


def q(**params: str) -> dict[str, list[str]]:
    return {k: [v] for k, v in params.items()}


def configmap(data: Mapping[str, Any]) -> ArktosReply:
    encoded = {name: orjson.dumps(spec).decode() for name, spec in data.items()}
    return ArktosReply(200, {}, orjson.dumps({"kind": "ConfigMap", "data": encoded}))


def run(outcome: Reply | Forward, reply: ArktosReply = NOT_FOUND) -> Reply:
    """The client's reply when Arktos answers ``outcome``'s call with ``reply``."""
    assert isinstance(outcome, Forward), outcome
    return outcome.translate(reply)


def body(reply: Reply) -> Any:
    return orjson.loads(reply.body)


def uuid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"
