"""extproc.compute.schemas: Nova-like JSON Schema validation of request bodies."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from extproc.compute import schemas

IMAGE_ID = "6db08272-a856-49da-8909-7c4c73ab0bac"


def server(**fields: Any) -> dict[str, Any]:
    return {"server": {"name": "vm", "imageRef": IMAGE_ID, "flavorRef": "1", **fields}}


@pytest.mark.parametrize(
    "body",
    [
        server(),
        server(flavorRef=1),
        server(imageRef=""),
        server(
            networks=[
                {"uuid": "net-1"},
                {"port": IMAGE_ID},
                {"fixed_ip": "10.0.0.1"},
                {"fixed_ip": "fd00::1"},
            ]
        ),
        server(user_data=base64.b64encode(b"x" * 100).decode()),
        server(metadata={"a-b_c:d. e": "v"}),
        server(config_drive="true", return_reservation_id=False),
        server(min_count="1", max_count=2),
        server(accessIPv4="192.0.2.1", accessIPv6="2001:db8::1"),
        server(security_groups=[{"name": "default"}]),
        {"server": {"name": "vm", "imageRef": IMAGE_ID, "flavorRef": "1"}, "os:scheduler_hints": {}},
    ],
)
def test_valid_create_bodies(body: Any) -> None:
    assert schemas.validate_create(body) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"server": {"name": "vm", "imageRef": IMAGE_ID}},
            "Invalid input for field/attribute server. Value: {'name': 'vm', 'imageRef': "
            "'6db08272-a856-49da-8909-7c4c73ab0bac'}. 'flavorRef' is a required property",
        ),
        ({}, "'server' is a required property"),
        (server(name="vm\n"), schemas.INVALID_NAME),
        (server(name="vm "), schemas.INVALID_NAME),
        (server(name="a\x00b"), schemas.INVALID_NAME),
        (server(flavorRef=None), "flavorRef"),
        (server(networks=[{"fixed_ip": "999.1.1.1"}]), "fixed_ip"),
        (
            server(user_data="@@@"),
            "Invalid input for field/attribute user_data. Value: @@@. '@@@' is not a 'base64'",
        ),
        (server(metadata={"": "v"}), "metadata"),
        (server(config_drive="perhaps"), "config_drive"),
        (server(min_count=-1), "min_count"),
        (server(security_groups="default"), "security_groups"),
        # Nova's schema lists every key (the extensions were merged into it).
        (server(unknown_extension={"anything": 1}), "Additional properties are not allowed"),
    ],
)
def test_invalid_create_bodies(body: Any, message: str) -> None:
    found = schemas.validate_create(body)
    assert found is not None
    assert message in found


def test_update_schema_is_strict_like_novas() -> None:
    assert schemas.validate_update({"server": {"name": "new"}}) is None
    assert schemas.validate_update({"server": {}}) is None
    assert schemas.validate_update({"server": {"name": "new", "flavorRef": "1"}}) is not None
    assert schemas.validate_update({"server": {"name": "x"}, "extra": 1}) is not None


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("yes", True), ("1", True), (False, False), ("off", False)]
)
def test_is_true(value: object, expected: bool) -> None:
    assert schemas.is_true(value) is expected


def test_create_schema_keys_cover_the_brief() -> None:
    assert {
        "name",
        "imageRef",
        "flavorRef",
        "min_count",
        "max_count",
        "networks",
        "key_name",
        "user_data",
        "metadata",
        "security_groups",
        "block_device_mapping_v2",
        "availability_zone",
        "config_drive",
        "return_reservation_id",
        "accessIPv4",
        "accessIPv6",
        "adminPass",
    } <= schemas.schema_keys(schemas.server_create_schema((2, 1)))
