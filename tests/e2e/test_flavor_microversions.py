"""The flavor view's microversion gates over real HTTP (issue 18 item 1 for flavors): each field at the
version below its gate and at its gate, as Nova's view builder (``views/flavors.py``) shows them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e


def flavor_at(api: Api, version: str) -> dict[str, Any]:
    reply = api.get("/flavors/1", headers={"OpenStack-API-Version": f"compute {version}"})
    assert reply.status_code == 200, reply.text
    assert reply.headers["openstack-api-version"] == f"compute {version}"
    shown: dict[str, Any] = reply.json()["flavor"]
    return shown


def test_flavor_fields_appear_at_their_microversions(demo_api: Api) -> None:
    assert "description" not in flavor_at(demo_api, "2.54")
    assert flavor_at(demo_api, "2.55")["description"] is None
    assert "extra_specs" not in flavor_at(demo_api, "2.60")
    assert flavor_at(demo_api, "2.61")["extra_specs"] == {}
    assert flavor_at(demo_api, "2.74")["swap"] == ""
    assert flavor_at(demo_api, "2.75")["swap"] == 0


def test_flavor_list_refuses_unknown_parameters_from_2_75(demo_api: Api) -> None:
    for version, status in (("2.74", 200), ("2.75", 400)):
        reply = demo_api.get(
            "/flavors", params={"bogus": "1"}, headers={"OpenStack-API-Version": f"compute {version}"}
        )
        assert reply.status_code == status, (version, reply.text)
