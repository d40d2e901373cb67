"""Kubernetes resource quantities (``k8s.io/apimachinery/pkg/api/resource``) as the API server reads and
stores them: parsed from ``<number><suffix>``, written back in canonical form.

A real Arktos answers a ResourceQuota written with ``requests.memory: 8192Mi`` with ``8Gi`` and ``pods: 1000``
with ``1k``: the apiserver decodes every quantity and serializes its canonical form (``Quantity.String``):

- a binary-SI quantity (``Ki``..``Ei``) of at least 1024 that is a whole number keeps a binary suffix, the
  largest that leaves a whole mantissa (``8192Mi`` -> ``8Gi``, ``1536Mi`` stays); anything else is written
  in decimal SI;
- a decimal quantity gets the largest suffix of ``n u m '' k M G T P E`` that leaves a whole mantissa
  (``1000`` -> ``1k``, ``1500m`` stays, ``0.5`` -> ``500m``), an exponent form (``1e3``) keeps ``e``;
- precision finer than nano is rounded up, as Kubernetes does.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

# The apiserver's own pattern (quantity.go splitRE), quoted in its refusals.
PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_NUMBER = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_EXPONENT = re.compile(r"[eE]([+-]?[0-9]+)")
# Kubernetes quantities hold at most 2^63 - 1 of their unit; longer inputs are refused before arithmetic.
_MAX_TEXT = 64

BINARY, DECIMAL, EXPONENT = "BinarySI", "DecimalSI", "DecimalExponent"


def parse(text: str) -> tuple[Decimal, str] | None:
    """The value and format of a quantity, None if ``text`` is none."""
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        return None
    found = _NUMBER.fullmatch(text)
    if found is None:
        return None
    number, suffix = found.groups()
    try:
        value = Decimal(number)
    except InvalidOperation:
        return None
    if suffix in _BINARY:
        return value * (Decimal(1024) ** _BINARY[suffix]), BINARY
    if suffix in _DECIMAL:
        return value.scaleb(_DECIMAL[suffix]), DECIMAL
    exponent = _EXPONENT.fullmatch(suffix)
    if exponent is not None and abs(int(exponent.group(1))) <= 18:
        return value.scaleb(int(exponent.group(1))), EXPONENT
    return None


def canonical(text: str) -> str | None:
    """``text`` as the apiserver writes it back, None if it is no quantity."""
    parsed = parse(text)
    if parsed is None:
        return None
    value, form = parsed
    # Kubernetes keeps nano precision at most, rounding away from zero.
    nanos = math.ceil(abs(value).scaleb(9)) * (1 if value >= 0 else -1)
    if nanos == 0:
        return "0"
    if form == BINARY and abs(nanos) >= 1024 * 10**9 and nanos % 10**9 == 0:
        whole, power = nanos // 10**9, 0
        while power < 6 and whole % 1024 == 0:
            whole, power = whole // 1024, power + 1
        return f"{whole}{next(s for s, p in _BINARY.items() if p == power) if power else ''}"
    mantissa, exponent = nanos, -9
    while exponent < 18 and mantissa % 1000 == 0:
        mantissa, exponent = mantissa // 1000, exponent + 3
    if form == EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"
