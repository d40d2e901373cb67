"""Glance v2's list filters and sorting through Envoy, with the real CLI and openstacksdk."""

from __future__ import annotations

import openstack
import pytest

from tests.e2e.conftest import OpenStackCLI
from tests.e2e.test_image_lifecycle import image_create

pytestmark = pytest.mark.e2e


def test_cli_image_list_sorted_by_name(cli: OpenStackCLI) -> None:
    made = [image_create(cli, name)["id"] for name in ("sort-b", "sort-c", "sort-a")]
    try:
        names = [i["Name"] for i in cli.json("image", "list", "--sort", "name:asc")]
        assert names == sorted(names) and {"sort-a", "sort-b", "sort-c"} <= set(names)
        descending = [i["Name"] for i in cli.json("image", "list", "--sort", "name:desc")]
        assert descending == sorted(names, reverse=True)
    finally:
        cli.run("image", "delete", *made)


def test_sdk_created_at_filter(conn: openstack.connection.Connection) -> None:
    everything = [i.id for i in conn.image.images()]
    assert everything
    assert [i.id for i in conn.image.images(created_at="gte:2000-01-01T00:00:00Z")] == everything
    assert list(conn.image.images(created_at="gte:2049-01-01T00:00:00Z")) == []
    with pytest.raises(openstack.exceptions.BadRequestException, match="ISO 8601"):
        list(conn.image.images(created_at="gte:someday"))
