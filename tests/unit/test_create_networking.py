"""extproc.compute.create_networking, and a create refused for a network or security group Nova's
Neutron would not have: 400 before anything reaches Arktos."""

from __future__ import annotations

from typing import Any

import pytest

from extproc.compute import create_networking
from extproc.messages import Forward
from extproc.network import server_nics
from tests.unit.server_doubles import as_reply, create, fault, with_fields

NET = "3e1a5c6e-7d2b-4c8f-9a0b-1c2d3e4f5a6b"


def test_parse_keeps_network_ids_ports_and_unique_group_names() -> None:
    parsed = create_networking.parse(
        {
            "networks": [{"uuid": NET}, {"port": "p1"}],
            "security_groups": [{"name": "default"}, {"name": "default"}, {}],
        }
    )
    assert parsed == create_networking.RequestedNetworking((NET,), ("p1",), ("default",))


@pytest.mark.parametrize(
    ("networks", "message"),
    [
        ([{"fixed_ip": "10.0.0.1"}], "Bad network format: missing 'uuid'"),
        ([{"uuid": "public"}], "Bad networks format: network uuid is not in proper format (public)"),
        ([{"port": "p1"}, {"port": "p1"}], "Port ID 'p1' was specified twice"),
    ],
)
def test_bad_network_formats(networks: Any, message: str) -> None:
    parsed = create_networking.parse({"networks": networks})
    assert isinstance(parsed, str)
    assert parsed.startswith(message)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"security_groups": [{"name": "web"}]}, "Security group web not found."),
        ({"security_groups": [{"name": "default"}, {"name": "db"}]}, "Security group db not found."),
        ({"networks": [{"uuid": NET}]}, f"Network {NET} could not be found."),
        ({"networks": [{"port": NET}]}, f"Port id {NET} could not be found."),
        (
            {"networks": [{"uuid": "net1"}]},
            "Bad networks format: network uuid is not in proper format (net1)",
        ),
    ],
)
def test_create_asking_for_what_does_not_exist_is_400_before_arktos(
    fields: dict[str, Any], message: str
) -> None:
    reply = as_reply(create(with_fields(**fields)))
    assert fault(reply) == (400, "badRequest", message)


@pytest.mark.parametrize(
    ("fields", "version"),
    [
        ({"networks": "auto"}, (2, 37)),
        ({"networks": []}, (2, 1)),
        ({"security_groups": [{"name": "default"}]}, (2, 1)),
    ],
)
def test_what_exists_is_created(fields: dict[str, Any], version: tuple[int, int]) -> None:
    forward = create(with_fields(**fields), version=version)
    assert isinstance(forward, Forward)
    assert (forward.upstream.method, forward.upstream.path) == (
        "POST",
        "/api/v1/tenants/demo/namespaces/default/pods",
    )


def test_no_network_at_all_is_refused_as_arktos_cannot_do_it() -> None:
    # Every Arktos VM pod is on a network: a server without one cannot exist (issue 15).
    reply = as_reply(create(with_fields(networks="none"), version=(2, 37)))
    assert fault(reply) == (400, "badRequest", server_nics.NONE_REFUSED)


def test_a_known_network_is_accepted() -> None:
    requested = create_networking.parse({"networks": [{"uuid": NET}, {"uuid": NET.upper()}]})
    assert isinstance(requested, create_networking.RequestedNetworking)
    assert create_networking.refusal(requested, lambda net: net.lower() == NET) is None
