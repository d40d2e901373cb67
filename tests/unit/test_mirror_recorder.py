"""Mirror mode's pure parts: shadow credentials, the capture's bounds, the observer's assembly of an
exchange from ext_proc messages, the front Envoy's configuration, the recorder's token choice."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from gateway_stack.__main__ import main as gateway_stack_main
from gateway_stack.mirror import front_envoy
from gateway_stack.mirror.capture import CaptureWriter, RotatingJsonl, capture_files
from gateway_stack.mirror.catalog_sync import FLAVORS_PATH, CatalogSync, names_unmapped_catalog_ids
from gateway_stack.mirror.credentials import (
    REDACTED,
    Project,
    ShadowTokensError,
    TokenProjects,
    load_shadow_tokens,
    redact_body,
    requested_project,
    shadow_token_for,
    token_reply_project,
)
from gateway_stack.mirror.idmap import IdMap, Kind
from gateway_stack.mirror.observer import ExchangeAssembler, ObservedExchange
from gateway_stack.mirror.recorder import MirroredRequest, Recorder, observed_to_side
from gateway_stack.stack import envoy_binary
from tests.shared_fixtures import DEVSTACK_FIXTURES

PASSWORD_REQUEST: dict[str, Any] = {
    "auth": {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": "s3cret"}},
        },
        "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}},
    }
}


# -- credentials ---------------------------------------------------------------------------------------


def test_shadow_tokens_file_maps_project_ids_and_names(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("demo: arktos-demo\n135f59752049436e95ea0642343340ae: arktos-other\n")
    tokens = load_shadow_tokens(path)
    assert tokens == {"demo": "arktos-demo", "135f59752049436e95ea0642343340ae": "arktos-other"}
    # The id wins over the name.
    assert shadow_token_for(tokens, "135f59752049436e95ea0642343340ae", "demo") == "arktos-other"
    assert shadow_token_for(tokens, "unknown", "demo") == "arktos-demo"
    assert shadow_token_for(tokens, "unknown", "nope") is None


@pytest.mark.parametrize(
    "text", ["- a\n- b\n", "demo: 12\n", "demo: ''\n", "demo: [x]\n", "a: {b: c}\n", "{"]
)
def test_a_malformed_shadow_tokens_file_is_refused_with_the_reason(tmp_path: Path, text: str) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    with pytest.raises(ShadowTokensError, match=str(path)):
        load_shadow_tokens(path)


def test_token_projects_remember_digests_only_and_the_newest() -> None:
    table = TokenProjects(max_tokens=2)
    table.learn("t1", Project("p1", "one"))
    table.learn("t2", Project("p2", "two"))
    table.learn("t3", Project("p3", "three"))
    assert table.project_of("t1") is None  # the oldest went
    assert table.project_of("t3") == Project("p3", "three")
    assert len(table) == 2
    assert all("t3" not in key for key in table._by_digest)


def test_projects_of_the_devstack_token_reply_and_of_a_request() -> None:
    reply = json.loads((DEVSTACK_FIXTURES / "keystone-token-response-body.json").read_text())
    assert token_reply_project(reply) == Project("135f59752049436e95ea0642343340ae", "demo")
    assert token_reply_project({"token": {"methods": ["password"]}}) is None
    assert requested_project(PASSWORD_REQUEST) == (None, "demo")
    assert requested_project({"auth": {"scope": {"project": {"id": "p1"}}}}) == ("p1", None)
    assert requested_project({"not": "auth"}) == (None, None)


def test_redaction_removes_passwords_and_token_ids_and_leaves_the_rest() -> None:
    redacted = redact_body(PASSWORD_REQUEST)
    assert redacted["auth"]["identity"]["password"]["user"]["password"] == REDACTED
    assert redacted["auth"]["scope"] == PASSWORD_REQUEST["auth"]["scope"]
    assert PASSWORD_REQUEST["auth"]["identity"]["password"]["user"]["password"] == "s3cret"  # a copy
    token = {"auth": {"identity": {"methods": ["token"], "token": {"id": "secret-token"}}}}
    assert redact_body(token)["auth"]["identity"]["token"]["id"] == REDACTED
    server = {"server": {"name": "vm", "adminPass": "kept: not a credential of the API"}}
    assert redact_body(server) is server


# -- capture files ------------------------------------------------------------------------------------


def test_capture_files_rotate_and_keep_at_most_max_files(tmp_path: Path) -> None:
    files = RotatingJsonl(tmp_path, max_file_bytes=100, max_files=3)
    for i in range(40):
        files.append(json.dumps({"n": i, "pad": "x" * 20}))
    files.close()
    kept = capture_files(tmp_path)
    assert len(kept) == 3
    assert all(p.stat().st_size <= 100 for p in kept)
    numbers = [json.loads(line)["n"] for p in kept for line in p.read_text().splitlines()]
    assert numbers == sorted(numbers) and numbers[-1] == 39  # the newest lines, in order
    # A new writer never appends to an earlier run's file.
    again = RotatingJsonl(tmp_path, max_file_bytes=100, max_files=3)
    again.append("{}")
    again.close()
    assert capture_files(tmp_path)[-1].read_text() == "{}\n"


def test_capture_writer_drops_and_counts_when_its_queue_is_full(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path, queue_lines=1)
    accepted = sum(writer.write(json.dumps({"n": i})) for i in range(2000))
    writer.close()
    assert accepted + writer.dropped == 2000
    assert writer.written == accepted
    assert writer.dropped > 0
    lines = [line for p in capture_files(tmp_path) for line in p.read_text().splitlines()]
    assert len(lines) == accepted


# -- the observer ----------------------------------------------------------------------------------------


def _headers(**values: str) -> Any:
    return base_pb2.HeaderMap(
        headers=[
            base_pb2.HeaderValue(key=k.replace("_", "-"), raw_value=v.encode()) for k, v in values.items()
        ]
    )


def _request_headers(method: str, path: str, **headers: str) -> pb.ProcessingRequest:
    pseudo = {":method": method, ":path": path}
    hmap = base_pb2.HeaderMap(
        headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in pseudo.items()]
        + list(_headers(**headers).headers)
    )
    return pb.ProcessingRequest(request_headers=pb.HttpHeaders(headers=hmap))


def _response_headers(status: int, end: bool = False, **headers: str) -> pb.ProcessingRequest:
    hmap = _headers(**headers)
    hmap.headers.append(base_pb2.HeaderValue(key=":status", raw_value=str(status).encode()))
    return pb.ProcessingRequest(response_headers=pb.HttpHeaders(headers=hmap, end_of_stream=end))


def test_an_exchange_is_assembled_from_streamed_chunks() -> None:
    assembler = ExchangeAssembler()
    messages = [
        _request_headers("POST", "/compute/v2.1/servers?x=1", x_request_id="rid-1", x_auth_token="tok"),
        pb.ProcessingRequest(request_body=pb.HttpBody(body=b'{"server": ', end_of_stream=False)),
        pb.ProcessingRequest(request_body=pb.HttpBody(body=b'{"name": "vm"}}', end_of_stream=True)),
        _response_headers(202, content_type="application/json"),
        pb.ProcessingRequest(
            response_body=pb.HttpBody(body=b'{"server": {"id": "s1"}}', end_of_stream=False)
        ),
    ]
    for msg in messages:
        assembler.on_message(msg)
        assert not assembler.done
    assembler.on_message(pb.ProcessingRequest(response_body=pb.HttpBody(body=b"", end_of_stream=True)))
    assert assembler.done
    side = observed_to_side(assembler.exchange)
    line = side.to_json()
    assert line["id"] == "rid-1" and line["side"] == "primary"
    assert line["request"]["method"] == "POST"
    assert line["request"]["path"] == "/compute/v2.1/servers" and line["request"]["query"] == "x=1"
    assert line["request"]["body"] == {"server": {"name": "vm"}}
    assert "x-auth-token" not in line["request"]["headers"]
    assert line["response"] == {
        "status": 202,
        "headers": {"content-type": "application/json"},
        "body": {"server": {"id": "s1"}},
    }


def test_a_reply_without_body_ends_with_its_headers_and_a_long_body_is_cut() -> None:
    assembler = ExchangeAssembler()
    assembler.on_message(_request_headers("DELETE", "/compute/v2.1/servers/s1", x_request_id="rid-2"))
    assembler.on_message(_response_headers(204, end=True))
    assert assembler.done and assembler.exchange.status == 204

    cut = ExchangeAssembler(max_body_bytes=10)
    cut.on_message(_request_headers("GET", "/image/v2/images", x_request_id="rid-3"))
    cut.on_message(_response_headers(200))
    cut.on_message(pb.ProcessingRequest(response_body=pb.HttpBody(body=b"x" * 8)))
    cut.on_message(pb.ProcessingRequest(response_body=pb.HttpBody(body=b"y" * 8, end_of_stream=True)))
    assert bytes(cut.exchange.response_body) == b"x" * 8 + b"yy"
    assert cut.exchange.notes == ["response body longer than 10 bytes: recorded cut"]


# -- the recorder's choice of token ---------------------------------------------------------------------


def _copy(method: str, path: str, body: bytes = b"", **headers: str) -> MirroredRequest:
    return MirroredRequest(
        "rid", method, path, "", {k.replace("_", "-"): v for k, v in headers.items()}, body
    )


def test_the_shadow_token_follows_the_project_the_primary_scoped_the_token_to(tmp_path: Path) -> None:
    recorder = Recorder(CaptureWriter(tmp_path), "http://shadow", {"demo": "arktos-demo"})
    recorder.token_projects.learn("primary-a", Project("p-demo", "demo"))
    recorder.token_projects.learn("primary-b", Project("p-alt", "alt"))

    def choose(copy: MirroredRequest) -> tuple[str | None, str | None]:
        return recorder._shadow_token(copy, recorder._copy_request(copy))

    assert choose(_copy("GET", "/compute/v2.1/servers", x_auth_token="primary-a")) == ("arktos-demo", None)
    assert choose(_copy("GET", "/compute/v2.1/servers", x_auth_token="primary-b")) == (
        None,
        "no shadow token mapping for project alt (p-alt)",
    )
    assert choose(_copy("GET", "/compute/v2.1/servers", x_auth_token="never-seen"))[0] is None
    assert choose(_copy("GET", "/identity")) == (None, None)  # discovery carries no token
    auth = json.dumps(PASSWORD_REQUEST).encode()
    assert choose(_copy("POST", "/identity/v3/auth/tokens", auth, content_type="application/json")) == (
        "arktos-demo",
        None,
    )
    other = json.dumps({"auth": {"scope": {"project": {"name": "ops"}}}}).encode()
    assert choose(_copy("POST", "/identity/v3/auth/tokens", other)) == (
        None,
        "no shadow token mapping for project ops",
    )
    recorder.capture.close()


# -- the front Envoy --------------------------------------------------------------------------------------


def _params(primary: str) -> front_envoy.FrontParams:
    return front_envoy.FrontParams(
        primary=front_envoy.parse_primary(primary),
        observer=("127.0.0.1", 50001),
        relay=("127.0.0.1", 50002),
        listen_port=8090,
        admin_port=8091,
    )


def test_front_config_mirrors_the_three_services_and_observes_without_waiting() -> None:
    config = front_envoy.front_config(_params("https://nova.example"))
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    mirrored = {r["match"].get("path_separated_prefix"): r["route"] for r in routes}
    for prefix in ("/identity", "/compute", "/image"):
        assert mirrored[prefix]["cluster"] == "primary"
        assert mirrored[prefix]["request_mirror_policies"][0]["cluster"] == "mirror_relay"
    assert "request_mirror_policies" not in routes[-1]["route"]
    observer = hcm["http_filters"][0]["typed_config"]
    assert observer["observability_mode"] is True and observer["failure_mode_allow"] is True
    primary = config["static_resources"]["clusters"][0]
    assert primary["transport_socket"]["typed_config"]["sni"] == "nova.example"


@pytest.mark.parametrize("url", ["nova.example", "ftp://nova", "http://nova/compute", "http://nova?x=1"])
def test_the_primary_is_a_base_url(url: str) -> None:
    with pytest.raises(ValueError, match="--primary"):
        front_envoy.parse_primary(url)


@pytest.mark.parametrize("primary", ["http://127.0.0.1:8774", "https://nova.example"])
def test_envoy_accepts_the_front_config(tmp_path: Path, primary: str) -> None:
    config = tmp_path / "front.yaml"
    config.write_text(front_envoy.render(_params(primary)))
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(config)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]


# -- the command --------------------------------------------------------------------------------------


def test_mirror_command_prints_the_front_config_and_refuses_a_bad_tokens_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("demo: arktos-demo\n")
    base = ["mirror", "--primary", "http://127.0.0.1:8774", "--shadow-tokens", str(tokens)]
    base += ["--capture", str(tmp_path / "capture"), "--shadow", "http://127.0.0.1:8080"]
    assert gateway_stack_main([*base, "--print-envoy-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["static_resources"]["clusters"][0]["name"] == "primary"
    assert "arktos-demo" not in json.dumps(printed)
    tokens.write_text("- not a mapping\n")
    assert gateway_stack_main(base) == 2
    assert "expected a mapping" in capsys.readouterr().err
    assert gateway_stack_main([*base[:2], "http://nova/compute", *base[3:]]) == 2


# -- the catalogs read by the recorder ------------------------------------------------------------------


def test_catalog_sync_maps_ids_by_name_with_glance_paging_and_is_due_once_or_on_unmapped() -> None:
    pages = {
        "limit=1000": {
            "images": [{"id": "p-img-1", "name": "cirros"}],
            "next": "/v2/images?limit=1000&marker=p-img-1",
        },
        "limit=1000&marker=p-img-1": {"images": [{"id": "p-img-2", "name": "ubuntu"}]},
    }
    calls: list[tuple[str, str, str]] = []

    async def primary(path: str, query: str, token: str) -> tuple[int, Any]:
        calls.append((path, query, token))
        if path == FLAVORS_PATH:
            return 200, {"flavors": [{"id": "1", "name": "m1.tiny"}]}
        return 200, pages[query]

    async def shadow(path: str, query: str, token: str) -> tuple[int, Any]:
        if path == FLAVORS_PATH:
            return 200, {"flavors": [{"id": "tiny", "name": "m1.tiny"}]}
        return 200, {"images": [{"id": "s-img-1", "name": "cirros"}, {"id": "s-img-2", "name": "ubuntu"}]}

    now = [100.0]
    sync = CatalogSync(refresh_seconds=30, clock=lambda: now[0])
    idmap = IdMap()
    assert sync.due("p1", unmapped=False)
    asyncio.run(sync.sync("p1", idmap, (primary, "primary-token"), (shadow, "arktos-token")))
    assert idmap.shadow_id(Kind.FLAVOR, "1") == "tiny"
    assert idmap.shadow_id(Kind.IMAGE, "p-img-1") == "s-img-1"
    assert idmap.shadow_id(Kind.IMAGE, "p-img-2") == "s-img-2"  # from Glance's second page
    assert {c[2] for c in calls} == {"primary-token"}
    assert not sync.due("p1", unmapped=False)
    assert not sync.due("p1", unmapped=True)  # read 0 s ago
    now[0] += 31
    assert sync.due("p1", unmapped=True) and not sync.due("p1", unmapped=False)
    assert names_unmapped_catalog_ids(("no shadow id for the primary's image p-img-9",))
    assert not names_unmapped_catalog_ids(("no shadow id for the primary's server s-1",))


# -- the recorder's worker against a shadow on loopback ----------------------------------------------------


def _observed(request_id: str, method: str, path: str, status: int, body: Any) -> ObservedExchange:
    return ObservedExchange(
        request_id=request_id,
        method=method,
        path=path,
        request_headers={"x-request-id": request_id},
        status=status,
        response_headers={"content-type": "application/json"},
        response_body=bytearray(json.dumps(body).encode()),
    )


def test_a_create_is_learned_before_the_next_copy_and_a_slow_primary_read_holds_nothing_back(
    tmp_path: Path,
) -> None:
    seen: list[tuple[str, str, str]] = []

    async def shadow(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, request.headers.get("x-auth-token", "")))
        if request.method == "POST":
            return web.json_response({"server": {"id": "shadow-server"}}, status=202)
        return web.json_response({"server": {"id": request.path.rsplit("/", 1)[-1]}})

    async def scenario() -> list[dict[str, Any]]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", shadow)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        capture = CaptureWriter(tmp_path)
        recorder = Recorder(capture, f"http://127.0.0.1:{port}", {"demo": "arktos-demo"}, pair_timeout=30)
        recorder.token_projects.learn("primary-token", Project("p-demo", "demo"))
        await recorder.start()
        try:
            headers = {"x-auth-token": "primary-token", "content-type": "application/json"}
            started = time.monotonic()
            # A read whose primary side never arrives, then a create, then a show of the created server.
            recorder.on_mirrored(
                MirroredRequest("r1", "GET", "/compute/v2.1/servers/detail", "", headers, b"")
            )
            create = json.dumps({"server": {"name": "vm", "imageRef": "i", "flavorRef": "1"}}).encode()
            recorder.on_mirrored(MirroredRequest("r2", "POST", "/compute/v2.1/servers", "", headers, create))
            recorder.on_mirrored(
                MirroredRequest("r3", "GET", "/compute/v2.1/servers/primary-server", "", headers, b"")
            )
            await asyncio.sleep(0.3)
            assert [p for _, p, _ in seen] == ["/compute/v2.1/servers/detail", "/compute/v2.1/servers"]
            recorder.on_primary(
                _observed("r2", "POST", "/compute/v2.1/servers", 202, {"server": {"id": "primary-server"}})
            )
            while len(seen) < 3 and time.monotonic() - started < 20:
                await asyncio.sleep(0.05)
            assert len(seen) == 3
            assert time.monotonic() - started < 10  # not the 30 s the first read's pairing may wait
        finally:
            await recorder.stop()
            await runner.cleanup()
            capture.close()
        return [json.loads(line) for p in capture_files(tmp_path) for line in p.read_text().splitlines()]

    lines = asyncio.run(scenario())
    # The show reached the shadow's server, with the mapped Arktos token.
    assert seen[2] == ("GET", "/compute/v2.1/servers/shadow-server", "arktos-demo")
    shadow_lines = {line["id"]: line for line in lines if line["side"] == "shadow"}
    assert shadow_lines["r3"]["request"]["path"] == "/compute/v2.1/servers/shadow-server"
    assert "x-auth-token" not in shadow_lines["r3"]["request"]["headers"]
    assert {line["id"] for line in lines if line["side"] == "primary"} == {"r2"}
