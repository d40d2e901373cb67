"""Mirror mode end to end (issue 14): a Nova-like primary answering from the DevStack exchanges, the front
Envoy (``python -m gateway_stack mirror``'s stack), and a gateway stack as the shadow; openstacksdk (in
process) runs create/list/show/reboot/delete against the front.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openstack
import pytest
import requests
import yaml

from gateway_stack.mirror.capture import capture_files
from gateway_stack.mirror.launcher import MirrorStack
from gateway_stack.procs import free_port
from gateway_stack.report.cli import main as report_main
from gateway_stack.stack import Stack
from tests.e2e.conftest import Backend, StackFactory
from tests.e2e.nova_double import INJECTED_KEY, NovaDouble, NovaDoubleServer

IMAGE_NAME = "cirros-0.5.2-x86_64-disk"


class Mirror:
    def __init__(self, stack: MirrorStack, double: NovaDouble, shadow: Stack, primary_url: str) -> None:
        self.stack = stack
        self.double = double
        self.shadow = shadow
        self.primary_url = primary_url

    def lines(self) -> list[dict[str, Any]]:
        return [
            json.loads(line)
            for path in capture_files(self.stack.capture)
            for line in path.read_text().splitlines()
            if line.strip()
        ]

    def sides(self) -> dict[str, dict[str, dict[str, Any]]]:
        """id -> side -> line."""
        paired: dict[str, dict[str, dict[str, Any]]] = {}
        for line in self.lines():
            paired.setdefault(line["id"], {})[line["side"]] = line
        return paired

    def pair(self, method: str, path: str, timeout: float = 30.0) -> dict[str, dict[str, Any]]:
        """Both sides of the newest exchange of ``method path`` (the primary's path), once written."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                s
                for s in self.sides().values()
                if len(s) == 2
                and (s["primary"]["request"]["method"], s["primary"]["request"]["path"]) == (method, path)
            ]
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"no pair for {method} {path}"
            time.sleep(0.2)

    def all_paired(self, expected: int, timeout: float = 30.0) -> dict[str, dict[str, dict[str, Any]]]:
        """Every exchange, once at least ``expected`` have both sides."""
        deadline = time.monotonic() + timeout
        while True:
            sides = self.sides()
            if sum(len(s) == 2 for s in sides.values()) >= expected or time.monotonic() > deadline:
                return sides
            time.sleep(0.2)


@pytest.fixture(scope="module")
def mirror(
    make_stack: StackFactory, backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mirror]:
    work = tmp_path_factory.mktemp("mirror")
    tokens = work / "shadow-tokens.yaml"
    # The DevStack token's project is "demo" (id 135f5975...): its mirrored requests use Arktos's demo token.
    tokens.write_text(yaml.safe_dump({"demo": backend.demo_token}))
    double = NovaDouble()
    with NovaDoubleServer(double) as primary, make_stack(work / "shadow") as shadow:
        stack = MirrorStack(
            workdir=work,
            primary=primary.url,
            shadow_tokens=tokens,
            capture=work / "capture",
            port=free_port(),
            shadow_url=shadow.public_url,
        )
        double.public_url = stack.front_url
        stack.start()
        try:
            yield Mirror(stack, double, shadow, primary.url)
        finally:
            stack.stop()


def sdk(front_url: str) -> openstack.connection.Connection:
    return openstack.connection.Connection(
        auth_url=f"{front_url}/identity/v3",
        username="admin",
        password="devstack-password",
        project_name="demo",
        user_domain_name="Default",
        project_domain_name="Default",
        compute_api_version="2.1",
    )


def shadow_server_status(mirror: Mirror, server_id: str, token: str) -> str:
    reply = requests.get(
        f"{mirror.shadow.public_url}/compute/v2.1/servers/{server_id}",
        headers={"X-Auth-Token": token},
        timeout=10,
    )
    return str(reply.json()["server"]["status"]) if reply.status_code == 200 else str(reply.status_code)


def test_client_flow_is_served_by_the_primary_and_mirrored_to_the_shadow(
    mirror: Mirror, backend: Backend
) -> None:
    conn = sdk(mirror.stack.front_url)
    image = conn.image.find_image(IMAGE_NAME)
    flavor = conn.compute.find_flavor("m1.tiny")
    assert image is not None and flavor is not None
    server = conn.compute.create_server(name="mirror-vm", image_id=image.id, flavor_id=flavor.id)
    # The client got the primary's server (the double's id), never the shadow's.
    assert server.id in mirror.double.servers

    create = mirror.pair("POST", "/compute/v2.1/servers")
    # The create reached the shadow with the shadow's image (mapped by name from the two image lists).
    assert create["shadow"]["response"]["status"] == 202, create["shadow"]
    shadow_id = create["shadow"]["response"]["body"]["server"]["id"]
    assert shadow_id != server.id
    shadow_images = mirror.pair("GET", "/image/v2/images")["shadow"]["response"]["body"]["images"]
    assert create["shadow"]["request"]["body"]["server"]["imageRef"] == shadow_images[0]["id"]
    deadline = time.monotonic() + 60
    while shadow_server_status(mirror, shadow_id, backend.demo_token) != "ACTIVE":
        assert time.monotonic() < deadline, "the shadow's server never became ACTIVE"
        time.sleep(0.5)

    shown = conn.compute.get_server(server.id)
    assert shown.id == server.id
    assert [s.id for s in conn.compute.servers()] == [server.id]
    conn.compute.reboot_server(server.id, "SOFT")
    conn.compute.delete_server(server.id)
    conn.close()

    mirror.pair("DELETE", f"/compute/v2.1/servers/{server.id}")
    sides = mirror.all_paired(len(mirror.double.requests))
    assert len(sides) == len(mirror.double.requests)
    # The recorder read the primary's two catalogs once for the project, with the client's token.
    assert sorted(mirror.double.recorder_reads) == [
        ("GET", "/compute/v2.1/flavors/detail"),
        ("GET", "/image/v2/images"),
    ]
    unpaired = {i: list(s) for i, s in sides.items() if len(s) != 2}
    assert not unpaired, unpaired
    by_request = {
        (s["primary"]["request"]["method"], s["primary"]["request"]["path"]): s for s in sides.values()
    }
    # Later requests about the same server name the shadow's server on the shadow, and agree.
    for method, path in [
        ("GET", f"/compute/v2.1/servers/{server.id}"),
        ("POST", f"/compute/v2.1/servers/{server.id}/action"),
        ("DELETE", f"/compute/v2.1/servers/{server.id}"),
    ]:
        pair = by_request[(method, path)]
        assert pair["shadow"]["request"]["path"] == path.replace(server.id, shadow_id)
        assert pair["shadow"]["response"]["status"] == pair["primary"]["response"]["status"], pair
    show = by_request[("GET", f"/compute/v2.1/servers/{server.id}")]
    assert INJECTED_KEY in show["primary"]["response"]["body"]["server"]
    assert INJECTED_KEY not in show["shadow"]["response"]["body"]["server"]
    statuses = {
        (s["primary"]["request"]["method"], s["primary"]["request"]["path"]): (
            s["primary"]["response"]["status"],
            s["shadow"]["response"]["status"] if s["shadow"]["response"] else None,
        )
        for s in sides.values()
    }
    disagreeing = {k: v for k, v in statuses.items() if v[0] != v[1]}
    assert not disagreeing, disagreeing
    # The report of this capture: every exchange paired, every status the same, the server compared under
    # the shadow's id, and the key injected into the primary's show flagged as missing from the shadow's.
    out = mirror.stack.capture.parent / "report"
    assert report_main([str(mirror.stack.capture), "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    totals = report["totals"]
    assert totals["exchanges"] == totals["paired"] == totals["status_agree"] == len(sides), totals
    show_report = next(
        e for e in report["endpoints"] if e["endpoint"] == "GET /compute/v2.1/servers/{server_id}"
    )
    flagged = {(d["path"], d["kind"]) for d in show_report["differences"]}
    assert (f"server.{INJECTED_KEY}", "missing") in flagged, flagged
    assert show_report["excused"]["ids mapped"] >= 1  # the primary's server id is the shadow's
    assert "server.id" not in {d["path"] for d in show_report["differences"]}
    # No credential was written: not the password, not a token.
    text = "\n".join(p.read_text() for p in capture_files(mirror.stack.capture))
    assert "devstack-password" not in text
    assert backend.demo_token not in text
    assert "primary-token-" not in text


def test_replies_through_the_front_are_the_primarys_bytes(mirror: Mirror) -> None:
    for path in ("/compute/v2.1/flavors", "/image/v2/images/6db08272-a856-49da-8909-7c4c73ab0bac"):
        direct = requests.get(mirror.primary_url + path, timeout=10)
        front = requests.get(mirror.stack.front_url + path, timeout=10)
        assert front.status_code == direct.status_code
        assert front.json() == direct.json()


def test_a_recorder_that_is_down_does_not_stop_the_primary_path(mirror: Mirror) -> None:
    mirror.stack.stop_recorder()
    try:
        front = requests.get(mirror.stack.front_url + "/compute/v2.1/flavors/1", timeout=10)
        assert front.status_code == 200
        assert front.json()["flavor"]["name"] == "m1.tiny"
    finally:
        mirror.stack.start_recorder()
