"""Requests a client may send by mistake or on purpose that must get a clear OpenStack error, never a 5xx:
the unit tests send them to ``Gateway.handle``, the end-to-end tests through Envoy (nothing reaches Arktos).

Each entry: (what it is, method, path, headers, body, expected status).
"""

from __future__ import annotations

IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"
SERVER_ID = "9f5b6c8e-1d2a-4b3c-8d4e-5f6a7b8c9d0e"
JSON = {"Content-Type": "application/json"}
DEEP = b"[" * 1000 + b"]" * 1000  # parses (orjson allows 1024 levels), but no validator may recurse on it


def _server(extra: str) -> bytes:
    return (
        '{"server": {"name": "x", "flavorRef": "1", "imageRef": "' + IMAGE_ID + '", ' + extra + "}}"
    ).encode()


BadInput = tuple[str, str, str, dict[str, str], bytes, int]

BAD_INPUTS: list[BadInput] = [
    ("create nested 1000 deep", "POST", "/compute/v2.1/demo/servers", JSON,
     b'{"server": ' + DEEP + b"}", 400),
    ("metadata nested 1000 deep", "POST", "/compute/v2.1/demo/servers", JSON,
     _server('"metadata": ' + DEEP.decode()), 400),
    ("rename nested 1000 deep", "PUT", f"/compute/v2.1/demo/servers/{SERVER_ID}", JSON,
     b'{"server": ' + DEEP + b"}", 400),
    ("action nested 1000 deep", "POST", f"/compute/v2.1/demo/servers/{SERVER_ID}/action", JSON,
     b'{"reboot": ' + DEEP + b"}", 400),
    ("token request nested 1000 deep", "POST", "/identity/v3/auth/tokens", JSON,
     b'{"auth": ' + DEEP + b"}", 400),
    ("microversion of 5000 digits", "GET", "/compute/v2.1/demo/servers",
     {"OpenStack-API-Version": "compute 2." + "1" * 5000}, b"", 406),
    ("legacy microversion of 5000 digits, no token", "GET", "/compute",
     {"X-OpenStack-Nova-API-Version": "2." + "1" * 5000, "X-Auth-Token": ""}, b"", 406),
    ("max_count past 64 bits (number)", "POST", "/compute/v2.1/demo/servers", JSON,
     _server('"max_count": 36893488147419103232'), 400),
    ("max_count past 64 bits (string)", "POST", "/compute/v2.1/demo/servers", JSON,
     _server('"max_count": "36893488147419103232"'), 400),
    ("max_count of 2**63 (a 64-bit number)", "POST", "/compute/v2.1/demo/servers", JSON,
     _server('"max_count": 9223372036854775808'), 400),
    ("min_count of 5000 digits", "POST", "/compute/v2.1/demo/servers", JSON,
     _server('"min_count": "' + "9" * 5000 + '"'), 400),
    ("create declared as a form", "POST", "/compute/v2.1/demo/servers",
     {"Content-Type": "application/x-www-form-urlencoded"}, _server('"max_count": 1'), 415),
    ("rename declared as HTML", "PUT", f"/compute/v2.1/demo/servers/{SERVER_ID}",
     {"Content-Type": "text/html"}, b'{"server": {"name": "y"}}', 415),
    ("token request declared as a form", "POST", "/identity/v3/auth/tokens",
     {"Content-Type": "application/x-www-form-urlencoded"}, b'{"auth": {}}', 400),
    ("project 'all' (Arktos's all-tenants keyword)", "GET", "/compute/v2.1/all/servers", {}, b"", 404),
    ("project 'all', one server", "GET", f"/compute/v2.1/all/servers/{SERVER_ID}", {}, b"", 404),
    ("token scoped to project 'all'", "POST", "/identity/v3/auth/tokens", JSON,
     b'{"auth": {"identity": {"methods": ["token"], "token": {"id": "demo-token"}},'
     b' "scope": {"project": {"name": "all", "domain": {"name": "Default"}}}}}', 401),
    ("server id of 10,000 characters", "GET", "/compute/v2.1/demo/servers/" + "a" * 10_000, {}, b"", 404),
    ("server group create nested 1000 deep", "POST", "/compute/v2.1/demo/os-server-groups", JSON,
     b'{"server_group": ' + DEEP + b"}", 400),
    ("keypair create nested 1000 deep", "POST", "/compute/v2.1/demo/os-keypairs", JSON,
     b'{"keypair": ' + DEEP + b"}", 400),
    ("scheduler hints nested 1000 deep", "POST", "/compute/v2.1/demo/servers", JSON,
     b'{"server": {"name": "x", "flavorRef": "1", "imageRef": "' + IMAGE_ID.encode() + b'"}, '
     b'"os:scheduler_hints": {"group": ' + DEEP + b"}}", 400),
    ("server group hint that is no uuid", "POST", "/compute/v2.1/demo/servers", JSON,
     b'{"server": {"name": "x", "flavorRef": "1", "imageRef": "' + IMAGE_ID.encode() + b'"}, '
     b'"os:scheduler_hints": {"group": "../../configmaps/x"}}', 400),
    ("server group id that is no uuid", "GET", "/compute/v2.1/demo/os-server-groups/..%2Fpods", {}, b"", 404),
]  # fmt: skip
