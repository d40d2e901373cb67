"""Kubernetes quantities in the simulator: a ResourceQuota's ``spec.hard`` is read and stored as the apiserver
does (a real Arktos answered a quota update of ``requests.memory: 8192Mi`` with ``8Gi``)."""

from __future__ import annotations

import pytest

from arktos_sim import quantity
from arktos_sim.quota_controller import QuotaController

from .test_controllers import QUOTA_PATH, call, setup


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("8192Mi", "8Gi"),  # seen from a real Arktos
        ("4Gi", "4Gi"),  # fixture 38
        ("4096Mi", "4Gi"),
        ("1536Mi", "1536Mi"),  # no whole number of GiB
        ("0.5Ki", "512"),  # below 1024: decimal
        ("1000", "1k"),
        ("2000000", "2M"),
        ("1000m", "1"),
        ("1500m", "1500m"),
        ("0.5", "500m"),
        ("1.5", "1500m"),
        ("1e3", "1e3"),
        ("0.1n", "1n"),  # nano precision, rounded up
        ("0", "0"),
    ],
)
def test_canonical_form(written: str, stored: str) -> None:
    assert quantity.canonical(written) == stored


@pytest.mark.parametrize("text", ["", "abc", "1x", "Mi", "1..2", "9" * 65, "12e20"])
def test_not_quantities(text: str) -> None:
    assert quantity.canonical(text) is None


def test_resource_quota_stores_canonical_quantities_and_refuses_others() -> None:
    api, _, _ = setup()
    hard = {"pods": "1000", "requests.cpu": "4000m", "requests.memory": "8192Mi"}
    created, quota = call(api, "POST", QUOTA_PATH, {"metadata": {"name": "compute"}, "spec": {"hard": hard}})
    assert created == 201
    assert quota["spec"]["hard"] == {"pods": "1k", "requests.cpu": "4", "requests.memory": "8Gi"}
    patch = {"spec": {"hard": {"requests.memory": "6144Mi"}}}
    patched, quota = call(api, "PATCH", f"{QUOTA_PATH}/compute", patch, "application/merge-patch+json")
    assert patched == 200 and quota["spec"]["hard"]["requests.memory"] == "6Gi"
    controller = QuotaController(api.store)
    controller.resync()
    controller.sync_all()
    _, counted = call(api, "GET", f"{QUOTA_PATH}/compute")
    assert counted["status"]["hard"]["pods"] == "1k"
    for bad, message in (
        ("lots", "quantities must match the regular expression"),
        ("-1", "must be greater than or equal to 0"),
        ("1500m", "must be an integer"),
    ):
        refused, body = call(api, "PATCH", f"{QUOTA_PATH}/compute", {"spec": {"hard": {"pods": bad}}},
                             "application/merge-patch+json")  # fmt: skip
        assert refused == 422, body
        assert message in body["message"]
