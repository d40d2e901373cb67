"""``python -m gateway_stack report <session>``: the recorded DevStack session replayed against the stack.

The session is the real DevStack exchanges of ``openstack server create`` (tests/fixtures/devstack), as a
HAR file and as JSON Lines. The replay sends each request through Envoy with the demo user's token, maps
DevStack's ids to the gateway's (image and network by name, the server from the paired create), and the
report must pair every exchange, agree on every status, find the flavors identical, excuse exactly what
must differ, and flag a difference injected into the recording.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway_stack import Stack
from tests.devstack_session import devstack_exchanges, write_har, write_jsonl
from tests.e2e.conftest import DEMO_TOKEN, REPO_ROOT, Api, wait_deleted

pytestmark = pytest.mark.e2e

DEVSTACK_NETWORK = "public"  # the network DevStack's create names (by id, found by name first)


def run_report(stack: Stack, session: Path, out: Path) -> dict[str, Any]:
    replay = ["--gateway", stack.public_url, "--token", DEMO_TOKEN, "--project", "demo"]
    proc = subprocess.run(
        [sys.executable, "-m", "gateway_stack", "report", str(session), "--out", str(out), *replay],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "exchanges, 14 paired" in proc.stdout  # the table is printed
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def endpoint(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [e for e in report["endpoints"] if e["endpoint"] == name]
    assert len(found) == 1, [e["endpoint"] for e in report["endpoints"]]
    return found[0]


def created_server(out: Path) -> str:
    for line in (out / "capture" / "replay.jsonl").read_text().splitlines():
        side = json.loads(line)
        if (
            side["side"] == "shadow"
            and side["request"]["method"] == "POST"
            and side["request"]["path"].endswith("/servers")
        ):
            server_id: str = side["response"]["body"]["server"]["id"]
            return server_id
    raise AssertionError("the replay created no server")


@pytest.fixture
def demo_network(stack: Stack) -> Any:
    api = Api(stack.public_url, DEMO_TOKEN, "demo")
    made = api.post("/networking/v2.0/networks", json={"network": {"name": DEVSTACK_NETWORK}})
    assert made.status_code == 201, made.text
    yield made.json()["network"]["id"]
    api.delete(f"/networking/v2.0/networks/{made.json()['network']['id']}")


def test_replayed_devstack_session_pairs_agrees_and_excuses_by_rule(
    stack: Stack, tmp_path: Path, demo_network: str
) -> None:
    api = Api(stack.public_url, DEMO_TOKEN, "demo")
    out = tmp_path / "har-report"
    report = run_report(stack, write_har(tmp_path / "devstack.har"), out)
    try:
        totals = report["totals"]
        assert (totals["exchanges"], totals["paired"], totals["unpaired"]) == (14, 14, 0)
        assert totals["status_agree"] == 14, [(e["endpoint"], e["statuses"]) for e in report["endpoints"]]
        for name, count in (
            ("GET /compute/v2.1/flavors", 1),
            ("GET /compute/v2.1/flavors/{flavor_id}", 3),  # m1.tiny (404 both) and flavor 1 twice
            ("GET /identity", 1),
        ):
            assert endpoint(report, name)["identical"] == count, endpoint(report, name)
        create = endpoint(report, "POST /compute/v2.1/servers")
        # The create reached Arktos with the gateway's own image and network (mapped by name).
        assert create["statuses"] == {"202 / 202": 1}
        assert create["notes"] == {}
        assert create["excused"]["ids mapped"] == 1  # server.id, paired by this very create
        assert [(d["path"], d["kind"]) for d in create["differences"]] == [("server.adminPass", "missing")]
        show = endpoint(report, "GET /compute/v2.1/servers/{server_id}")
        assert show["statuses"] == {"200 / 200": 1}
        for rule in ("ids mapped", "hosts in links", "timestamps", "identity ids"):
            assert show["excused"].get(rule), (rule, show["excused"])
        differing = {d["path"] for d in show["differences"]}
        # hostId: DevStack's show is of a server not scheduled yet (""); the gateway's is "" too, or (once
        # Arktos has bound the VM pod: at once on the simulator, not always on a real Arktos) another host's
        # hash, which the hostId rule excuses. Either way it is never reported as a difference.
        assert not differing & {
            "server.id",
            "server.image.id",
            "server.flavor.id",
            "server.links[].href",
            "server.hostId",
        }
        # Every endpoint and every rule is on the HTML page, escaped.
        page = (out / "report.html").read_text()
        for e in report["endpoints"]:
            assert e["endpoint"] in page
        assert all(r["name"] in page for r in report["rules"])
        assert (out / "report.txt").read_text().startswith("endpoint")
    finally:
        server_id = created_server(out)
        api.delete(f"/servers/{server_id}")
        wait_deleted(api, server_id)


def test_a_difference_injected_into_the_recording_is_flagged(
    stack: Stack, tmp_path: Path, demo_network: str
) -> None:
    api = Api(stack.public_url, DEMO_TOKEN, "demo")
    exchanges = copy.deepcopy(devstack_exchanges())
    injected = 0
    for exchange in exchanges:
        if exchange["url"].endswith("/compute/v2.1/flavors/1"):
            exchange["response_body"]["flavor"]["ram"] = 4096
            injected += 1
    assert injected == 2
    out = tmp_path / "jsonl-report"
    report = run_report(stack, write_jsonl(tmp_path / "devstack.jsonl", exchanges), out)
    try:
        flavors = endpoint(report, "GET /compute/v2.1/flavors/{flavor_id}")
        assert flavors["identical"] == 1  # only the m1.tiny 404 now
        assert flavors["differences"] == [
            {"path": "flavor.ram", "kind": "value", "count": 2, "primary": 4096, "shadow": 512}
        ]
        # Worst first: a flavor endpoint with differences ranks above the identical ones.
        order = [e["endpoint"] for e in report["endpoints"]]
        assert order.index("GET /compute/v2.1/flavors/{flavor_id}") < order.index("GET /compute/v2.1/flavors")
        assert report["totals"]["status_agree"] == 14
    finally:
        server_id = created_server(out)
        api.delete(f"/servers/{server_id}")
        wait_deleted(api, server_id)
