"""CatalogWatch against a fake Arktos (HTTPS with its own CA): list, watch, 410 relist, errors."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from typing import Any

import pytest
import trustme
from aiohttp import web

from extproc.catalog_watch import CatalogWatch, make_api_client
from tests.plumbing.harness import Background, free_port

pytestmark = pytest.mark.timeout(30)


def cm(tenant: str, name: str, rv: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "tenant": tenant, "resourceVersion": rv},
        "data": data,
    }


class FakeStore:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()

    def set_configmap(
        self, tenant: str, name: str, data: dict[str, str] | None, resource_version: str | None = None
    ) -> None:
        with self.lock:
            self.calls.append(("set", tenant, name, data, resource_version))

    def replace_all(self, items: Any) -> None:
        with self.lock:
            self.calls.append(("replace_all", sorted(items)))


class FakeArktos:
    def __init__(self) -> None:
        self.lists = 0
        self.watches: list[str | None] = []
        self.auth: list[str | None] = []
        self.fail_next_list = True
        self.closing = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.auth.append(request.headers.get("Authorization"))
        if request.query.get("watch") != "true":
            if self.fail_next_list:
                self.fail_next_list = False
                return web.json_response({"kind": "Status", "code": 500}, status=500)
            self.lists += 1
            items = [
                cm("demo", "openstack-flavors", "5", {"m1.tiny": "{}"}),
                cm("demo", "unrelated", "6", {}),
            ]
            if self.lists > 1:
                items.append(cm("alt", "openstack-images", "20", {"cirros": "{}"}))
            return web.json_response(
                {
                    "kind": "ConfigMapList",
                    "metadata": {"resourceVersion": str(10 * self.lists)},
                    "items": items,
                }
            )
        self.watches.append(request.query.get("resourceVersion"))
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        if len(self.watches) == 1:
            for event in [
                {"type": "ADDED", "object": cm("alt", "openstack-images", "11", {"cirros": "{}"})},
                {"type": "MODIFIED", "object": cm("demo", "openstack-flavors", "12", {"m1.small": "{}"})},
                {"type": "ADDED", "object": cm("demo", "something-else", "13", {})},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "14"}}},
                {"type": "DELETED", "object": cm("demo", "openstack-flavors", "15", {})},
                {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}},
            ]:
                await resp.write(json.dumps(event).encode() + b"\n")
        else:
            while not self.closing:
                await asyncio.sleep(0.05)
        return resp


def test_list_watch_relist() -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    fake = FakeArktos()
    bg = Background()
    port = free_port()

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/api/v1/tenants/all/configmaps", fake.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ctx).start()
        return runner

    runner = bg.run(start())
    store = FakeStore()
    with ca.cert_pem.tempfile() as ca_file:
        api = make_api_client(f"https://127.0.0.1:{port}", "tok", ca_file)
        watch = CatalogWatch(store, api, backoff_initial=0.05, backoff_max=0.1)
        watch.start()
        try:
            deadline = time.monotonic() + 10
            while fake.lists < 2 or len(fake.watches) < 2:
                assert time.monotonic() < deadline, (fake.lists, fake.watches, store.calls)
                time.sleep(0.02)
        finally:
            t0 = time.monotonic()
            watch.stop()
            assert time.monotonic() - t0 < 5
    fake.closing = True
    bg.run(runner.cleanup())
    bg.close()
    assert set(fake.auth) == {"Bearer tok"}
    # First list failed (500) -> retried with backoff.
    assert fake.watches == ["10", "20"]
    assert store.calls[:5] == [
        ("replace_all", [("demo", "openstack-flavors", {"m1.tiny": "{}"}, "5")]),
        ("set", "alt", "openstack-images", {"cirros": "{}"}, "11"),
        ("set", "demo", "openstack-flavors", {"m1.small": "{}"}, "12"),
        ("set", "demo", "openstack-flavors", None, "15"),
        (
            "replace_all",
            [
                ("alt", "openstack-images", {"cirros": "{}"}, "20"),
                ("demo", "openstack-flavors", {"m1.tiny": "{}"}, "5"),
            ],
        ),
    ]
