"""Envoy (real binary) + extproc.server (real gRPC) with a fake gateway and a fake Arktos upstream."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from extproc.messages import ArktosReply, ArktosRequest, ClientRequest, Forward, Reply
from tests.plumbing.harness import ENVOY_BIN, MAX_BODY, Plumbing, load_render, plumbing

pytestmark = pytest.mark.timeout(60)


def _forward(
    up: ArktosRequest, status: int = 202, body: bytes = b'{"translated": true}', seen: list | None = None
) -> Forward:
    def translate(reply: ArktosReply) -> Reply:
        if seen is not None:
            seen.append(reply)
        return Reply(status, body, {"content-type": "application/json", "x-openstack-request-id": "req-x"})

    return Forward(up, translate)


def test_rendered_config_validates(tmp_path) -> None:
    render = load_render()
    (tmp_path / "ca.pem").write_text(
        # Any PEM certificate: validation only reads it.
        __import__("trustme").CA().cert_pem.bytes().decode()
    )
    variants = [
        render.EnvoyParams(arktos_ca=str(tmp_path / "ca.pem")),
        render.EnvoyParams(arktos_tls=False, processor="unix:/tmp/extproc.sock"),
        render.params_from_url("https://arktos.example.com", arktos_ca=str(tmp_path / "ca.pem")),
    ]
    for i, params in enumerate(variants):
        out = render.write(params, tmp_path / f"envoy{i}.yaml")
        proc = subprocess.run(
            [str(ENVOY_BIN), "--mode", "validate", "-c", str(out)], capture_output=True, text=True, timeout=30
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # The script's CLI renders the same thing.
    out = tmp_path / "cli.yaml"
    subprocess.run(
        [
            __import__("sys").executable,
            str(render.TEMPLATE_PATH.with_name("render.py")),
            "--out",
            str(out),
            "--arktos-url",
            "http://127.0.0.1:8081",
            "--processor",
            "127.0.0.1:50051",
        ],
        check=True,
        timeout=30,
    )
    text = out.read_text()
    assert "failure_mode_allow: false" in text and "allow_mode_override: true" in text
    assert "clear_route_cache" not in text


def test_default_timeouts_are_bounded() -> None:
    """A paused Arktos or a client that never finishes its body is answered well under a minute."""
    import yaml

    config = yaml.safe_load(load_render().render(load_render().EnvoyParams()))
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    seconds = lambda d: float(d.rstrip("s"))  # noqa: E731
    assert seconds(hcm["request_headers_timeout"]) <= seconds(hcm["request_timeout"]) <= 30
    routes = [r["route"] for r in hcm["route_config"]["virtual_hosts"][0]["routes"] if "route" in r]
    assert routes and all(seconds(r["timeout"]) <= 30 for r in routes)


def test_immediate_reply_reaches_client(env: Plumbing) -> None:
    env.gateway.routes["/compute/v2.1/versions"] = lambda r: Reply(
        203, b'{"hello": "world"}', {"content-type": "application/json", "x-openstack-request-id": "req-1"}
    )
    status, headers, body = env.request("GET", "/compute/v2.1/versions?a=1&a=2&b=", headers={"X-Foo": "Bar"})
    assert status == 203
    assert body == b'{"hello": "world"}'
    assert headers["content-type"] == "application/json"
    assert headers["x-openstack-request-id"] == "req-1"
    assert headers["content-length"] == str(len(body))
    assert env.arktos.seen == []
    (req,) = env.gateway.requests
    assert req.method == "GET"
    assert req.path == "/compute/v2.1/versions"
    assert req.query == {"a": ["1", "2"], "b": [""]}
    assert req.headers["x-foo"] == "Bar"
    assert not any(k.startswith(":") for k in req.headers)


def test_forward_post_rewrites_request_and_translates_reply(env: Plumbing) -> None:
    seen: list[ArktosReply] = []
    env.arktos.status = 201
    env.gateway.routes["/compute/v2.1/demo/servers"] = lambda r: _forward(
        ArktosRequest(
            "PUT",
            "/api/v1/tenants/demo/namespaces/default/pods/x?dryRun=All",
            body=b'{"kind":"Pod","spec":{}}',
            content_type="application/merge-patch+json",
        ),
        status=202,
        seen=seen,
    )
    status, headers, body = env.request(
        "POST",
        "/compute/v2.1/demo/servers",
        b'{"server": {"name": "vm1"}}',
        {"X-Auth-Token": "t", "Content-Type": "application/json"},
    )
    assert (status, body) == (202, b'{"translated": true}')
    assert headers["content-length"] == str(len(body))
    assert headers["x-openstack-request-id"] == "req-x"
    assert "audit-id" not in headers and "cache-control" not in headers
    (up,) = env.arktos.seen
    assert up.method == "PUT"
    assert up.path_qs == "/api/v1/tenants/demo/namespaces/default/pods/x?dryRun=All"
    assert up.body == b'{"kind":"Pod","spec":{}}'
    assert up.headers["authorization"] == "Bearer t"
    assert "x-auth-token" not in up.headers
    assert up.headers["content-type"] == "application/merge-patch+json"
    assert up.headers.get("content-length") == str(len(up.body))
    # The translator got Arktos's reply.
    (reply,) = seen
    assert reply.status == 201 and reply.body == b'{"kind":"Pod"}'
    assert reply.headers["audit-id"] == "a-1"
    # The client's body reached the gateway.
    assert env.gateway.requests[0].body == b'{"server": {"name": "vm1"}}'


def test_forward_get_with_post_body(env: Plumbing) -> None:
    env.gateway.routes["/compute/v2.1/servers/abc/action"] = lambda r: _forward(
        ArktosRequest(
            "POST",
            "/api/v1/namespaces/default/pods/abc/action",
            body=b'{"operation":"reboot"}',
            content_type="application/json",
            bearer_token="svc",
        ),
        status=204,
        body=b"",
    )
    status, _, body = env.request("GET", "/compute/v2.1/servers/abc/action", headers={"X-Auth-Token": "t"})
    assert (status, body) == (204, b"")
    (up,) = env.arktos.seen
    assert (up.method, up.path_qs, up.body) == (
        "POST",
        "/api/v1/namespaces/default/pods/abc/action",
        b'{"operation":"reboot"}',
    )
    assert up.headers["authorization"] == "Bearer svc"
    assert up.headers["content-type"] == "application/json"
    assert "x-auth-token" not in up.headers


def test_forward_drops_client_body(env: Plumbing) -> None:
    env.gateway.routes["/compute/v2.1/servers/abc/action"] = lambda r: _forward(
        ArktosRequest("DELETE", "/api/v1/namespaces/default/pods/abc"), status=202, body=b""
    )
    status, _, body = env.request(
        "POST",
        "/compute/v2.1/servers/abc/action",
        b'{"forceDelete": null}',
        {"X-Auth-Token": "t", "Content-Type": "application/json"},
    )
    assert (status, body) == (202, b"")
    (up,) = env.arktos.seen
    assert (up.method, up.body) == ("DELETE", b"")
    assert "content-type" not in up.headers


def test_forward_without_token_sends_no_authorization(env: Plumbing) -> None:
    env.gateway.routes["/compute/v2.1/flavors"] = lambda r: _forward(
        ArktosRequest("GET", "/api/v1/pods"), 200
    )
    status, _, _ = env.request("GET", "/compute/v2.1/flavors", headers={"Authorization": "Basic eDp5"})
    assert status == 200
    (up,) = env.arktos.seen
    assert "authorization" not in up.headers


def test_upstream_reply_without_body(env: Plumbing) -> None:
    env.arktos.status = 204
    env.arktos.body = b""
    env.gateway.routes["/image/v2/images/x"] = lambda r: _forward(ArktosRequest("GET", "/api/v1/pods"), 200)
    status, headers, body = env.request("GET", "/image/v2/images/x", headers={"X-Auth-Token": "t"})
    assert (status, body) == (200, b'{"translated": true}')
    assert headers["content-type"] == "application/json"
    env.gateway.routes["/image/v2/images/x"] = lambda r: _forward(
        ArktosRequest("GET", "/api/v1/pods"), 204, b""
    )
    status, headers, body = env.request("GET", "/image/v2/images/x", headers={"X-Auth-Token": "t"})
    assert (status, body) == (204, b"")


def test_arktos_error_translated_not_rewritten_by_envoy(env: Plumbing) -> None:
    """A 503 the translator produces from an Arktos reply is the client's reply, not Envoy's mapper's."""
    env.arktos.status = 503
    env.gateway.routes["/compute/v2.1/servers"] = lambda r: Forward(
        ArktosRequest("GET", "/api/v1/pods"),
        lambda a: Reply(
            503,
            b'{"serviceUnavailable": {"code": 503, "message": "from translator"}}',
            {"content-type": "application/json"},
        ),
    )
    status, _, body = env.request("GET", "/compute/v2.1/servers", headers={"X-Auth-Token": "t"})
    assert status == 503
    assert orjson.loads(body)["serviceUnavailable"]["message"] == "from translator"


def test_large_upstream_reply(env: Plumbing) -> None:
    env.arktos.body = orjson.dumps({"items": ["x" * 100] * 100_000})  # ~10 MB
    env.gateway.routes["/compute/v2.1/servers/detail"] = lambda r: Forward(
        ArktosRequest("GET", "/api/v1/pods"),
        lambda a: Reply(
            200,
            orjson.dumps({"count": len(orjson.loads(a.body)["items"])}),
            {"content-type": "application/json"},
        ),
    )
    status, _, body = env.request("GET", "/compute/v2.1/servers/detail", headers={"X-Auth-Token": "t"})
    assert (status, orjson.loads(body)) == (200, {"count": 100_000})


def test_large_replies_go_out_within_the_reply_budget(env: Plumbing) -> None:
    """Eight clients at once each get their own 3 MB reply, byte for byte, while the processor never holds
    more than its budget of large replies in flight (extproc.reply_budget), and gives every byte back once
    gRPC has sent them. The translated reply of a Forward counts as an immediate one does."""
    size = 3 * 1024 * 1024
    for n in range(8):
        body = orjson.dumps({"n": n, "pad": str(n) * size})
        env.gateway.routes[f"/compute/v2.1/big/{n}"] = lambda r, body=body: Reply(
            200, body, {"content-type": "application/json"}
        )
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda n: env.request("GET", f"/compute/v2.1/big/{n}"), range(8)))
    for n, (status, headers, body) in enumerate(replies):
        assert status == 200
        assert headers["content-length"] == str(len(body))
        assert orjson.loads(body)["n"] == n and len(body) > size
    assert size < env.budget.peak <= env.budget.limit_bytes

    env.arktos.body = b'{"kind":"PodList","items":[]}'
    large = orjson.dumps({"servers": ["x" * 1000] * 5000})
    env.gateway.routes["/compute/v2.1/servers/detail"] = lambda r: Forward(
        ArktosRequest("GET", "/api/v1/pods"),
        lambda a: Reply(200, large, {"content-type": "application/json"}),
    )
    env.budget.peak = 0
    status, _, body = env.request("GET", "/compute/v2.1/servers/detail", headers={"X-Auth-Token": "t"})
    assert (status, body) == (200, large)
    assert env.budget.peak == len(large)

    def all_given_back() -> bool:
        return env.budget.in_flight == 0

    deadline = time.monotonic() + 5
    while not all_given_back() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert env.budget.in_flight == 0


def test_unknown_prefix_gets_nova_404_from_envoy(env: Plumbing) -> None:
    for path in ("/api/v1/pods", "/", "/computex"):
        status, headers, body = env.request("GET", path, headers={"X-Auth-Token": "t"})
        assert status == 404, path
        assert headers["content-type"].startswith("application/json")
        assert json.loads(body)["itemNotFound"]["code"] == 404
    assert env.arktos.seen == []
    assert env.gateway.requests == []


def test_body_over_limit_is_413(env: Plumbing) -> None:
    env.gateway.routes["/compute/v2.1/servers"] = lambda r: Reply(200)
    big = b"x" * (MAX_BODY + 1)
    status, headers, body = env.request(
        "POST", "/compute/v2.1/servers", big, {"Content-Type": "application/json"}
    )
    assert status == 413
    assert headers["content-type"].startswith("application/json")
    assert orjson.loads(body)["overLimit"]["code"] == 413
    # Chunked (no content-length): Envoy's buffer limit or the processor's check answers.
    conn = __import__("http.client").client.HTTPConnection("127.0.0.1", env.public_port, timeout=10)
    try:
        conn.putrequest("POST", "/compute/v2.1/servers")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big))
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    assert resp.status == 413
    assert orjson.loads(data)["overLimit"]["code"] == 413
    assert env.arktos.seen == []
    assert env.gateway.requests == []
    # Exactly at the limit is fine.
    status, _, _ = env.request(
        "POST", "/compute/v2.1/servers", big[:MAX_BODY], {"Content-Type": "application/json"}
    )
    assert status == 200


def test_processor_exception_is_500_compute_fault(env: Plumbing) -> None:
    def boom(request: ClientRequest) -> Reply:
        raise RuntimeError("translator bug")

    env.gateway.routes["/compute/v2.1/servers"] = boom
    with capture_logs() as logs:
        status, headers, body = env.request("GET", "/compute/v2.1/servers", headers={"X-Auth-Token": "t"})
        deadline = time.monotonic() + 5
        while not any(e["event"] == "request" for e in logs) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert status == 500
    assert headers["content-type"].startswith("application/json")
    fault = orjson.loads(body)["computeFault"]
    assert fault["code"] == 500
    assert env.arktos.seen == []
    errors = [e for e in logs if e["event"] == "processor_error"]
    assert errors and "RuntimeError: translator bug" in errors[0]["traceback"]


def test_a_large_reply_that_cannot_be_built_is_500_compute_fault(env: Plumbing) -> None:
    """A large reply's message is built after the reply budget admits it: a failure there is the same
    OpenStack fault as anywhere else in the exchange, and its bytes go back to the budget."""
    big = b"x" * (env.budget.large_bytes + 1)
    bad_header: Any = 5  # a translator bug: a header value that is not a string
    env.gateway.routes["/compute/v2.1/big"] = lambda r: Reply(200, big, {"x-count": bad_header})
    status, headers, body = env.request("GET", "/compute/v2.1/big", headers={"X-Auth-Token": "t"})
    assert status == 500
    assert headers["content-type"].startswith("application/json")
    assert orjson.loads(body)["computeFault"]["code"] == 500
    deadline = time.monotonic() + 5
    while env.budget.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert env.budget.in_flight == 0


def test_exception_in_reply_translation_is_500(env: Plumbing) -> None:
    def translate(reply: ArktosReply) -> Reply:
        raise KeyError("metadata")

    env.gateway.routes["/compute/v2.1/servers"] = lambda r: Forward(
        ArktosRequest("GET", "/api/v1/pods"), translate
    )
    status, _, body = env.request("GET", "/compute/v2.1/servers", headers={"X-Auth-Token": "t"})
    assert status == 500
    assert orjson.loads(body)["computeFault"]["code"] == 500


def test_one_log_line_per_request(env: Plumbing) -> None:
    env.gateway.routes["/compute/v2.1/log-test"] = lambda r: _forward(
        ArktosRequest("GET", "/api/v1/pods?limit=5"), 200
    )
    env.gateway.routes["/compute/v2.1/log-test-local"] = lambda r: Reply(200, b"{}")
    # Only this test's lines: a previous test's line may arrive late.
    paths = {"/compute/v2.1/log-test", "/compute/v2.1/log-test-local"}
    with capture_logs() as logs:
        env.request("GET", "/compute/v2.1/log-test?limit=5", headers={"X-Auth-Token": "t"})
        env.request("GET", "/compute/v2.1/log-test-local")
        # The processor logs after its last write: the client may see the reply a moment earlier.
        deadline = time.monotonic() + 5
        while (
            len(lines := [e for e in logs if e["event"] == "request" and e["path"] in paths]) < 2
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
    assert len(lines) == 2
    fwd, local = lines
    assert fwd["request_id"].startswith("req-")
    assert (fwd["method"], fwd["path"]) == ("GET", "/compute/v2.1/log-test")
    assert (fwd["arktos_method"], fwd["arktos_path"]) == ("GET", "/api/v1/pods?limit=5")
    assert (fwd["status"], fwd["upstream_status"]) == (200, 200)
    assert fwd["processor_ms"] > 0
    assert (local["arktos_method"], local["arktos_path"], local["upstream_status"]) == (None, None, None)
    assert local["status"] == 200


def test_processor_time_of_a_direct_read_counts_its_translation(env: Plumbing) -> None:
    """A read the processor sends to Arktos itself (``Forward.direct``) is translated after the await of
    Arktos's answer: that translation is processor work and belongs in the log line's ``processor_ms``
    (only the wait for Arktos stays out). The translator here blocks for 60 ms."""

    def slow_translate(reply: ArktosReply) -> Reply:
        time.sleep(0.06)
        return Reply(200, b"{}", {"content-type": "application/json"})

    env.gateway.routes["/compute/v2.1/direct-log-test"] = lambda r: Forward(
        ArktosRequest("GET", "/api/v1/pods?limit=1"), slow_translate, direct=True
    )
    with capture_logs() as logs:
        status, _, _ = env.request("GET", "/compute/v2.1/direct-log-test", headers={"X-Auth-Token": "t"})
        deadline = time.monotonic() + 5
        while (
            not (lines := [e for e in logs if e["event"] == "request" and "direct-log" in e["path"]])
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
    assert status == 200
    assert [s.path_qs for s in env.arktos.seen] == ["/api/v1/pods?limit=1"]
    assert env.arktos.seen[0].headers.get("authorization") == "Bearer t"
    (line,) = lines
    assert line["arktos_direct"] is True
    assert line["processor_ms"] >= 60


def test_processor_down_fails_closed_with_503(env: Plumbing) -> None:
    env.gateway.routes["/compute/v2.1/servers"] = lambda r: _forward(
        ArktosRequest("GET", "/api/v1/pods"), 200
    )
    env.stop_processor()
    try:
        status, headers, body = env.request("GET", "/compute/v2.1/servers", headers={"X-Auth-Token": "t"})
        assert status == 503
        assert headers["content-type"].startswith("application/json")
        fault = orjson.loads(body)["serviceUnavailable"]
        assert fault["code"] == 503
        assert fault["message"].startswith("The OpenStack gateway's processor is unavailable.")
        assert "outcome is unknown" in fault["message"]
        assert env.arktos.seen == []
    finally:
        env.start_processor()
    status, _, _ = env.request("GET", "/compute/v2.1/servers", headers={"X-Auth-Token": "t"})
    assert status == 200


def test_arktos_unreachable(tmp_path) -> None:
    translated: list[ArktosReply] = []
    with plumbing(tmp_path) as p:
        p.gateway.routes["/compute/v2.1/servers"] = lambda r: _forward(
            ArktosRequest("GET", "/api/v1/pods"), 200, seen=translated
        )
        p.stop_upstream()
        status, headers, body = p.request("GET", "/compute/v2.1/servers", headers={"X-Auth-Token": "t"})
        assert status == 503
        # The router's local reply (already OpenStack-shaped by local_reply_config) passes through the
        # processor unchanged but for the marker header; it is not an Arktos reply to translate.
        assert orjson.loads(body) == {
            "serviceUnavailable": {"code": 503, "message": "Arktos is unavailable; retry later."}
        }
        assert translated == []
        assert headers.get("x-openstack-request-id", "").startswith("req-")
        assert "x-openstack-gateway-local-reply" not in headers


def test_processor_on_unix_socket(tmp_path) -> None:
    with plumbing(tmp_path, unix_socket=True) as p:
        p.gateway.routes["/compute/v2.1/servers"] = lambda r: _forward(
            ArktosRequest("GET", "/api/v1/pods"), 200
        )
        status, _, body = p.request("GET", "/compute/v2.1/servers", headers={"X-Auth-Token": "t"})
        assert (status, body) == (200, b'{"translated": true}')
        assert p.arktos.seen[0].path_qs == "/api/v1/pods"
