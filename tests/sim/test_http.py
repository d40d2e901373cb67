"""The simulator over HTTP: watch streams, the CLI as a subprocess, the official kubernetes client."""

from __future__ import annotations

import asyncio
import signal
import ssl
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from aiohttp.test_utils import TestClient

from .conftest import SimProcess, bearer, start_sim_process


@pytest.mark.timeout(30)
async def test_http_watch_streams_events(client: TestClient[object, object]) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    resp = await client.get(path, headers=bearer("demo-token"))
    rv = (await resp.json())["metadata"]["resourceVersion"]
    watch = await client.get(
        path,
        params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "10"},
        headers=bearer("demo-token"),
    )
    assert watch.status == 200
    created = await client.post(
        path, data=orjson.dumps({"metadata": {"name": "w"}}), headers=bearer("demo-token")
    )
    assert created.status == 201
    line = await asyncio.wait_for(watch.content.readline(), 5)
    event = orjson.loads(line)
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "w"
    watch.close()


@pytest.mark.timeout(30)
async def test_http_watch_ends_at_timeout(client: TestClient[object, object]) -> None:
    watch = await client.get(
        "/api/v1/namespaces/default/pods",
        params={"watch": "1", "timeoutSeconds": "1"},
        headers=bearer("demo-token"),
    )
    assert await asyncio.wait_for(watch.read(), 10) == b""


@pytest.mark.timeout(30)
async def test_http_errors(client: TestClient[object, object]) -> None:
    resp = await client.get("/api/v1/namespaces/default/pods/p")
    assert resp.status == 403 and (await resp.json())["details"] == {"name": "p", "kind": "pods"}
    resp = await client.get("/api/v1/namespaces/default/pods/p", headers=bearer("wrong"))
    assert resp.status == 401
    resp = await client.get("/api/v1/whatever/x", headers=bearer("demo-token"))
    assert resp.status == 404
    resp = await client.get("/healthz")
    assert resp.status == 200 and await resp.text() == "ok"


def _https_get(sim: SimProcess, path: str, token: str | None = None) -> tuple[int, bytes]:
    assert sim.ca is not None
    ctx = ssl.create_default_context(cafile=str(sim.ca))
    req = urllib.request.Request(
        sim.url + path, headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.timeout(60)
def test_cli_https_health_and_sigterm(tmp_path: Path) -> None:
    sim = start_sim_process(tmp_path)
    try:
        assert sim.url.startswith("https://") and sim.ca is not None and sim.ca.exists()
        assert str(sim.ca) in sim.line
        assert (tmp_path / "tls" / "server.pem").exists() and (tmp_path / "tls" / "server-key.pem").exists()
        assert _https_get(sim, "/healthz") == (200, b"ok")
        assert _https_get(sim, "/readyz") == (200, b"ok")
        code, body = _https_get(sim, "/api/v1/tenants", "admin-token")
        names = {t["metadata"]["name"] for t in orjson.loads(body)["items"]}
        assert code == 200 and {"system", "demo", "alt"} <= names
        sim.proc.send_signal(signal.SIGTERM)
        assert sim.proc.wait(10) == 0
    finally:
        if sim.proc.poll() is None:
            sim.proc.kill()
            sim.proc.wait()


@pytest.mark.timeout(60)
def test_cli_state_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    sim = start_sim_process(tmp_path, "--insecure-http", "--state", str(state))
    try:
        body = orjson.dumps({"metadata": {"name": "keep"}, "data": {"a": "b"}})
        req = urllib.request.Request(
            sim.url + "/api/v1/namespaces/default/configmaps",
            data=body,
            method="POST",
            headers={"Authorization": "Bearer demo-token"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 201
        assert sim.stop() == 0
    finally:
        if sim.proc.poll() is None:
            sim.proc.kill()
    sim = start_sim_process(tmp_path, "--insecure-http", "--state", str(state))
    try:
        req = urllib.request.Request(
            sim.url + "/api/v1/namespaces/default/configmaps/keep",
            headers={"Authorization": "Bearer demo-token"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert orjson.loads(resp.read())["data"] == {"a": "b"}
    finally:
        sim.stop()


@pytest.mark.timeout(60)
def test_cli_state_survives_kill_9(tmp_path: Path) -> None:
    """Every acknowledged write is on disk before the reply (as etcd's are): SIGKILL loses nothing."""
    state = tmp_path / "state.json"
    sim = start_sim_process(tmp_path, "--insecure-http", "--state", str(state))
    names = [f"cm-{i}" for i in range(30)]
    try:
        for name in names:
            body = orjson.dumps({"metadata": {"name": name}, "data": {"name": name}})
            req = urllib.request.Request(
                sim.url + "/api/v1/namespaces/default/configmaps",
                data=body,
                method="POST",
                headers={"Authorization": "Bearer demo-token"},
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 201
        delete = urllib.request.Request(
            sim.url + "/api/v1/namespaces/default/configmaps/cm-0",
            method="DELETE",
            headers={"Authorization": "Bearer demo-token"},
        )
        with urllib.request.urlopen(delete, timeout=10) as resp:
            assert resp.status == 200
    finally:
        sim.proc.kill()
        sim.proc.wait()
    sim = start_sim_process(tmp_path, "--insecure-http", "--state", str(state))
    try:
        req = urllib.request.Request(
            sim.url + "/api/v1/namespaces/default/configmaps",
            headers={"Authorization": "Bearer demo-token"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            listed = {item["metadata"]["name"] for item in orjson.loads(resp.read())["items"]}
        assert {n for n in listed if n.startswith("cm-")} == set(names[1:])
    finally:
        sim.stop()


@pytest.mark.timeout(60)
def test_kubernetes_client_lists_and_watches_configmaps(sim_process: SimProcess) -> None:
    from kubernetes import client, watch

    config = client.Configuration()
    config.host = sim_process.url
    config.ssl_ca_cert = str(sim_process.ca)
    config.api_key = {"authorization": "Bearer demo-token"}
    api = client.CoreV1Api(client.ApiClient(config))
    api.create_namespaced_config_map("default", {"metadata": {"name": "flavors"}, "data": {"m1.tiny": "{}"}})
    listed = api.list_namespaced_config_map("default")
    assert [cm.metadata.name for cm in listed.items] == ["flavors"]
    rv = listed.metadata.resource_version

    def later() -> None:
        time.sleep(0.3)
        api.patch_namespaced_config_map("flavors", "default", {"data": {"m1.small": "{}"}})

    import threading

    threading.Thread(target=later, daemon=True).start()
    w = watch.Watch()
    seen = []
    for event in w.stream(
        api.list_namespaced_config_map, namespace="default", resource_version=rv, timeout_seconds=10
    ):
        seen.append((event["type"], event["object"].metadata.name, dict(event["object"].data)))
        w.stop()
    assert seen == [("MODIFIED", "flavors", {"m1.tiny": "{}", "m1.small": "{}"})]
    # the admin (system:masters) sees it across tenants
    code, body = _https_get(sim_process, "/api/v1/tenants/all/configmaps", "admin-token")
    assert code == 200 and any(i["metadata"]["tenant"] == "demo" for i in orjson.loads(body)["items"])
    assert _https_get(sim_process, "/api/v1/tenants/all/configmaps", "demo-token")[0] == 403


@pytest.mark.timeout(30)
async def test_audit_log_holds_each_request_before_its_reply(tmp_path: Path) -> None:
    from arktos_sim import audit

    from .conftest import make_client

    log_path = tmp_path / "audit" / "arktos-audit.log"
    client, _ = await make_client(audit_log=log_path)
    try:
        created = await client.post(
            "/api/v1/namespaces/default/configmaps?fieldManager=x",
            data=orjson.dumps({"metadata": {"name": "a"}}),
            headers={**bearer("demo-token"), "User-Agent": "probe"},
        )
        assert created.status == 201
        # Read right after the reply, no wait: the line was written before the reply was sent.
        events = audit.read(log_path)
        assert [(e["method"], e["requestURI"], e["user"]["username"]) for e in events] == [
            ("POST", "/api/v1/namespaces/default/configmaps?fieldManager=x", "demo")
        ]
        assert events[0]["stage"] == "RequestReceived" and events[0]["userAgent"] == "probe"
        # Every path is recorded, refused ones and the simulator's own endpoints too.
        assert (await client.get("/api/v1/pods")).status == 403
        assert (await client.get("/readyz", headers=bearer("wrong"))).status == 200
        assert [(e["requestURI"], e["user"]["username"]) for e in audit.read(log_path)[1:]] == [
            ("/api/v1/pods", "system:anonymous"),
            ("/readyz", None),
        ]
    finally:
        await client.close()


async def test_secrets_store_string_data_as_base64(client: TestClient[object, object]) -> None:
    path = "/api/v1/namespaces/default/secrets"
    secret = {
        "metadata": {"name": "s1"},
        "data": {"a": "YWFh", "b": "Yg=="},
        "stringData": {"b": "from stringData", "c": "ccc"},
    }
    created = await client.post(path, data=orjson.dumps(secret), headers=bearer("demo-token"))
    assert created.status == 201
    stored = await created.json()
    # stringData wins over data of the same key, and is not kept.
    assert stored["data"] == {"a": "YWFh", "b": "ZnJvbSBzdHJpbmdEYXRh", "c": "Y2Nj"}
    assert "stringData" not in stored
    assert (stored["type"], stored["kind"], stored["metadata"]["tenant"]) == ("Opaque", "Secret", "demo")
    bad = await client.post(
        path,
        data=orjson.dumps({"metadata": {"name": "s2"}, "data": {"a": "!!"}}),
        headers=bearer("demo-token"),
    )
    assert bad.status == 400
    other = await client.get(
        "/api/v1/tenants/demo/namespaces/default/secrets/s1", headers=bearer("alt-token")
    )
    assert other.status == 403
