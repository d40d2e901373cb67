"""A Nova-like primary for the mirror e2e test: answers from the real DevStack exchanges of
``tests/fixtures/devstack`` (Keystone token, Glance image lookups, flavors, the server create and show),
with the few replies DevStack did not record (list, reboot, delete, the compute version document) built in
Nova's shapes from those. Links and the catalog point at ``public_url`` (the front Envoy) instead of the
DevStack host. ``inject`` names a key added to every server show: the difference the report must flag.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gateway_stack.mirror.recorder import RECORDER_USER_AGENT
from tests.shared_fixtures import DEVSTACK_FIXTURES

DEVSTACK_HOST = "http://172.31.10.216"
DEVSTACK_NEUTRON = "http://172.31.10.216:9696"
DEVSTACK_SERVER = "bad005cf-17e1-48ad-b9f7-e9f9352beb13"
INJECTED_KEY = "OS-EXT-MIRROR:injected"
PRIMARY_TOKEN_PREFIX = "primary-token-"


def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEVSTACK_FIXTURES / name).read_text())
    return loaded


@dataclass
class NovaDouble:
    public_url: str = ""
    inject: bool = True
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (method, path) of every client request; the recorder's own catalog reads apart.
    requests: list[tuple[str, str]] = field(default_factory=list)
    recorder_reads: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def localize(self, body: Any) -> Any:
        text = (
            json.dumps(body)
            .replace(DEVSTACK_NEUTRON, self.public_url)
            .replace(DEVSTACK_HOST, self.public_url)
        )
        return json.loads(text)

    def fixture_reply(self, name: str) -> tuple[int, Any, dict[str, str]]:
        recorded = _fixture(name)
        return recorded["status"], self.localize(recorded.get("response_body")), {}

    def server_body(self, server_id: str) -> dict[str, Any]:
        recorded = _fixture(f"10-get-compute-v2-1-servers-{DEVSTACK_SERVER}.json")["response_body"]["server"]
        body = self.localize(json.loads(json.dumps(recorded).replace(DEVSTACK_SERVER, server_id)))
        body.update(self.servers[server_id])
        return body

    def answer(
        self, method: str, path: str, query: str, body: Any, user_agent: str = ""
    ) -> tuple[int, Any, dict[str, str]]:
        params = parse_qs(query)
        with self.lock:
            (self.recorder_reads if user_agent == RECORDER_USER_AGENT else self.requests).append(
                (method, path)
            )
            return self._answer(method, path.rstrip("/"), params, body)

    def _answer(
        self, method: str, path: str, params: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "POST" and path == "/identity/v3/auth/tokens":
            token = self.localize(_fixture("keystone-token-response-body.json"))
            # The recorded token expired in 2021: a client would authenticate again before every request.
            now = datetime.now(UTC)
            token["token"]["issued_at"] = now.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
            token["token"]["expires_at"] = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
            return 201, token, {"X-Subject-Token": PRIMARY_TOKEN_PREFIX + uuid.uuid4().hex}
        if path == "/identity":
            return self.fixture_reply("00-get-identity.json")
        if path == "/identity/v3":
            # Keystone's version document is the discovery document's one entry.
            _, versions, _ = self.fixture_reply("00-get-identity.json")
            return 200, {"version": versions["versions"]["values"][0]}, {}
        if path == "/image":
            return self.fixture_reply("01-get-image.json")
        if path.startswith("/image/v2/images"):
            return self._image(path, params)
        if path == "/compute/v2.1":
            return 200, self._compute_version(), {}
        if path.startswith("/compute/v2.1/flavors"):
            return self._flavor(path)
        if path.startswith("/compute/v2.1/servers"):
            return self._server(method, path, body)
        return 404, {"itemNotFound": {"code": 404, "message": "The resource could not be found."}}, {}

    def _compute_version(self) -> dict[str, Any]:
        return {
            "version": {
                "id": "v2.1",
                "status": "CURRENT",
                "version": "2.1",
                "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": f"{self.public_url}/compute/v2.1/"}],
                "media-types": [
                    {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}
                ],
            }
        }

    def _image(self, path: str, params: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        image_id = "6db08272-a856-49da-8909-7c4c73ab0bac"
        if path == "/image/v2/images":
            return self.fixture_reply("03-get-image-v2-images-name-cirros-0-5-2-x86-64-disk.json")
        if path == f"/image/v2/images/{image_id}":
            return self.fixture_reply(f"11-get-image-v2-images-{image_id}.json")
        return 404, {"$text": "404 Not Found"}, {}

    def _flavor(self, path: str) -> tuple[int, Any, dict[str, str]]:
        if path == "/compute/v2.1/flavors":
            return self.fixture_reply("05-get-compute-v2-1-flavors.json")
        if path == "/compute/v2.1/flavors/1":
            return self.fixture_reply("06-get-compute-v2-1-flavors-1.json")
        if path == "/compute/v2.1/flavors/detail":
            _, flavor, _ = self.fixture_reply("06-get-compute-v2-1-flavors-1.json")
            return 200, {"flavors": [flavor["flavor"]]}, {}
        return self.fixture_reply("04-get-compute-v2-1-flavors-m1-tiny.json")

    def _not_found(self, server_id: str) -> tuple[int, Any, dict[str, str]]:
        return (
            404,
            {"itemNotFound": {"code": 404, "message": f"Instance {server_id} could not be found."}},
            {},
        )

    def _server(self, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        parts = path.split("/")[3:]  # ["servers", id?, "action"?]
        if parts == ["servers"] and method == "POST":
            server_id = str(uuid.uuid4())
            self.servers[server_id] = {"name": body["server"]["name"], "status": "ACTIVE"}
            recorded = _fixture("09-post-compute-v2-1-servers.json")
            reply = self.localize(
                json.loads(json.dumps(recorded["response_body"]).replace(DEVSTACK_SERVER, server_id))
            )
            return 202, reply, {"Location": f"{self.public_url}/compute/v2.1/servers/{server_id}"}
        if parts == ["servers", "detail"]:
            return 200, {"servers": [self.server_body(s) for s in self.servers]}, {}
        if parts == ["servers"]:
            listed = [
                {"id": s, "name": v["name"], "links": self.server_body(s)["links"]}
                for s, v in self.servers.items()
            ]
            return 200, {"servers": listed}, {}
        server_id = parts[1]
        if server_id not in self.servers:
            return self._not_found(server_id)
        if len(parts) == 3 and parts[2] == "action" and method == "POST":
            return 202, None, {}
        if method == "DELETE":
            del self.servers[server_id]
            return 204, None, {}
        shown = self.server_body(server_id)
        if self.inject:
            shown[INJECTED_KEY] = "only the primary has this"
        return 200, {"server": shown}, {}


def _handler(double: NovaDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, reply, headers = double.answer(
                self.command, split.path, split.query, body, self.headers.get("User-Agent", "")
            )
            if isinstance(reply, dict) and set(reply) == {"$text"}:
                data, content_type = reply["$text"].encode(), "text/html; charset=UTF-8"
            else:
                data = b"" if reply is None else json.dumps(reply).encode()
                content_type = "application/json"
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if path_is_compute(split.path):
                self.send_header("OpenStack-API-Version", "compute 2.1")
                self.send_header("X-OpenStack-Nova-API-Version", "2.1")
            self.send_header("x-openstack-request-id", f"req-{uuid.uuid4()}")
            if data:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    return Handler


def path_is_compute(path: str) -> bool:
    return path.startswith("/compute")


class NovaDoubleServer:
    """The double on a loopback port, in a thread."""

    def __init__(self, double: NovaDouble) -> None:
        self.double = double
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(double))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> NovaDoubleServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
