"""A stand-in for extproc.app.Gateway used by `python -m extproc --gateway-factory` in plumbing tests."""

from __future__ import annotations

from typing import Any

import orjson

from extproc.config import GatewayConfig
from extproc.messages import ArktosReply, ArktosRequest, ClientRequest, Forward, Outcome, Reply


class FakeGateway:
    def __init__(self, config: GatewayConfig, catalog: Any) -> None:
        self.config = config
        self.catalog = catalog

    def until_settled(self, request: ClientRequest) -> None:
        return None  # no watch cache: nothing to wait for

    def handle(self, request: ClientRequest, request_id: str) -> Outcome:
        if request.path == "/compute/v2.1/pods":

            def translate(reply: ArktosReply) -> Reply:
                body = orjson.loads(reply.body) if reply.body else {}
                return Reply(
                    200,
                    orjson.dumps({"arktos_status": reply.status, "kind": body.get("kind")}),
                    {"content-type": "application/json", "x-openstack-request-id": request_id},
                )

            return Forward(
                ArktosRequest("GET", f"/api/v1/namespaces/{self.config.namespace}/pods"), translate
            )
        return Reply(
            200, orjson.dumps({"public_url": self.config.public_url}), {"content-type": "application/json"}
        )
