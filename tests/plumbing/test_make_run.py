"""``make run`` (``python -m gateway_stack``) as a user runs it: ports, signals, children."""

from __future__ import annotations

import signal

import pytest
import requests

from tests.plumbing.supervisor import Supervisor

pytestmark = pytest.mark.timeout(240)


def test_two_stacks_on_one_machine(tmp_path) -> None:
    """A second `make run` with another GATEWAY_PORT starts beside the first (no fixed admin port)."""
    first = Supervisor(tmp_path / "first")
    second = Supervisor(tmp_path / "second")
    try:
        first.wait_ready()
        second.wait_ready()
        for stack in (first, second):
            r = requests.get(f"{stack.public_url}/compute/v2.1/", timeout=10)
            assert r.status_code == 200, r.text
            assert r.json()["version"]["id"] == "v2.1"
    finally:
        codes = [first.stop(signal.SIGINT), second.stop(signal.SIGTERM)]
    assert codes == [0, 0], first.output() + second.output()
