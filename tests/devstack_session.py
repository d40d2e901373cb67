"""The recorded DevStack exchanges (``tests/fixtures/devstack``) as one Nova session: HAR or JSON Lines.

This is what a user of ``python -m gateway_stack report <session>`` brings: the exchanges of an
``openstack server create`` against DevStack in the recorded order (discovery, image and flavor look-ups
by name, the network look-up on Neutron's own port, the create, the server and its image shown). The
Keystone token exchange comes first: its reply body is the recorded one
(``keystone-token-response-body.json``, whose catalog tells where each service lives); its request line
and body are the password request any client sends, made up here since the recording kept only the reply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.shared_fixtures import DEVSTACK_FIXTURES

DEVSTACK_URL = "http://172.31.10.216"
TOKEN_REQUEST = {
    "auth": {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "secret"}},
        },
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
    }
}


def devstack_exchanges() -> list[dict[str, Any]]:
    """The exchanges in recorded order: ``{method, url, request_body?, status, response_headers, ...}``."""
    token_body = json.loads((DEVSTACK_FIXTURES / "keystone-token-response-body.json").read_text())
    exchanges: list[dict[str, Any]] = [
        {
            "method": "POST",
            "url": f"{DEVSTACK_URL}/identity/v3/auth/tokens",
            "request_body": TOKEN_REQUEST,
            "status": 201,
            "response_headers": {"Content-Type": "application/json"},
            "response_body": token_body,
        }
    ]
    for path in sorted(DEVSTACK_FIXTURES.glob("[0-9][0-9]-*.json")):
        exchanges.append(json.loads(path.read_text()))
    return exchanges


def _response_text(exchange: dict[str, Any]) -> str | None:
    if "response_body" in exchange:
        return json.dumps(exchange["response_body"])
    text = exchange.get("response_body_text")
    return None if text is None else str(text)


def write_har(path: Path, exchanges: list[dict[str, Any]] | None = None) -> Path:
    """The session as a HAR 1.2 file (what a browser, mitmproxy or Charles exports)."""
    entries = []
    for exchange in exchanges or devstack_exchanges():
        headers = [{"name": k, "value": v} for k, v in exchange.get("response_headers", {}).items()]
        content_type = exchange.get("response_headers", {}).get("Content-Type", "application/json")
        request: dict[str, Any] = {
            "method": exchange["method"],
            "url": exchange["url"],
            "httpVersion": "HTTP/1.1",
            "headers": [
                {"name": "Accept", "value": "application/json"},
                {"name": "X-Auth-Token", "value": "gAAAA"},
            ],
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": -1,
        }
        if "request_body" in exchange:
            request["postData"] = {
                "mimeType": "application/json",
                "text": json.dumps(exchange["request_body"]),
            }
            request["headers"].append({"name": "Content-Type", "value": "application/json"})
        text = _response_text(exchange)
        entries.append(
            {
                "startedDateTime": "2021-11-16T22:51:55.000Z",
                "time": 0,
                "request": request,
                "response": {
                    "status": exchange["status"],
                    "statusText": "",
                    "httpVersion": "HTTP/1.1",
                    "headers": headers,
                    "cookies": [],
                    "content": {
                        "size": len(text or ""),
                        "mimeType": content_type,
                        **({"text": text} if text else {}),
                    },
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": -1,
                },
                "cache": {},
                "timings": {"send": 0, "wait": 0, "receive": 0},
            }
        )
    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "tests/devstack_session.py", "version": "1"},
            "entries": entries,
        }
    }
    path.write_text(json.dumps(har, indent=1))
    return path


def write_jsonl(path: Path, exchanges: list[dict[str, Any]] | None = None) -> Path:
    """The session as JSON Lines: one ``{"request", "response"}`` per exchange (a capture's primary side)."""
    lines = []
    for exchange in exchanges or devstack_exchanges():
        text = _response_text(exchange)
        body: Any = exchange.get("response_body")
        if body is None and text is not None:
            body = {"$text": text}
        lines.append(
            json.dumps(
                {
                    "request": {
                        "method": exchange["method"],
                        "url": exchange["url"],
                        "headers": {"accept": "application/json"},
                        "body": exchange.get("request_body"),
                    },
                    "response": {
                        "status": exchange["status"],
                        "headers": exchange.get("response_headers", {}),
                        "body": body,
                    },
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path
