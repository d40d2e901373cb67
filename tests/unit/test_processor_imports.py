"""What the processor loads: its memory counts in issue 13's budget (bench/README.md levers (r2), (r5))."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from extproc.quantity import parse_quantity

REPO = Path(__file__).resolve().parents[2]

IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
import extproc
for info in pkgutil.walk_packages(extproc.__path__, "extproc."):
    importlib.import_module(info.name)
print(" ".join(sorted(name for name in sys.modules if name.split(".")[0] == "kubernetes")))
"""


def test_no_module_of_the_processor_imports_the_kubernetes_client() -> None:
    # ``kubernetes.client`` is ~900 generated modules (48 MB); the processor reaches Arktos with urllib3.
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=REPO,
    )
    assert out.stdout.split() == []


def test_parse_quantity_is_the_kubernetes_clients_own() -> None:
    from kubernetes.utils import quantity  # the test may load the whole client; the processor does not

    assert Path(parse_quantity.__code__.co_filename).resolve() == Path(quantity.__file__).resolve()
    for text in ("4Gi", "500m", "1k", "512Mi", "1", "0.5", "1e3", "2E"):
        assert parse_quantity(text) == quantity.parse_quantity(text)
    assert parse_quantity("512Mi") == Decimal(512 * 2**20)
    for bad in ("1Qi", "abc", "1Xi"):
        with pytest.raises(ValueError):
            parse_quantity(bad)
