"""``parse_quantity``: the official ``kubernetes`` client's parser of Kubernetes quantities (``4Gi``,
``500m``), loaded from its own file.

``from kubernetes.utils.quantity import parse_quantity`` runs ``kubernetes/__init__.py`` first, which
imports the whole generated client (about 900 API and model modules, 48 MB of the processor's memory;
bench/README.md lever (r5)) for a function that needs only ``decimal``. The module is loaded by its path
inside the installed package instead, so the code is still the library's.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any


def _load() -> Callable[[Any], Decimal]:
    package = importlib.util.find_spec("kubernetes")  # finds the package without importing it
    if package is None or package.origin is None:
        raise ImportError("the kubernetes package is not installed")
    path = Path(package.origin).parent / "utils" / "quantity.py"
    spec = importlib.util.spec_from_file_location("extproc._kubernetes_quantity", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    parse: Callable[[Any], Decimal] = module.parse_quantity
    return parse


parse_quantity = _load()
