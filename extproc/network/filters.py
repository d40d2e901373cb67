"""Neutron's list query (``neutron/api/v2/base.py``, ``api_common``): filters, ``fields``.

Every query key but the paging/sorting/fields keys filters on the attribute of that name; repeated values
are alternatives (``?id=a&id=b``). Booleans match Neutron's spellings (``True``, ``true``, ``1``...). A
filter on an attribute the resource does not have is Neutron's 400. ``fields`` keeps only the attributes
named (``id`` included when asked or when nothing else matches, as Neutron's dict filtering does).
``limit``/``marker``/``sort_*`` are accepted and ignored: the collections are one tenant's networks, NICs and
CIDRs, small enough to be answered whole (Neutron then simply has no next page).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from extproc.errors import echo

Json = dict[str, Any]

NOT_FILTERS = frozenset({"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"})
_TRUE = frozenset({"true", "1", "yes", "y", "on", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "off", "f"})
# Attributes filtered by one of their items' keys (``fixed_ips=ip_address=10.0.0.5``).
_KEYED_LISTS = frozenset({"fixed_ips"})
# How many filter values one request may carry (each costs a comparison per item).
MAX_FILTER_VALUES = 100


@dataclass(frozen=True, slots=True)
class ListQuery:
    filters: Mapping[str, tuple[str, ...]]
    fields: tuple[str, ...]


def parse(query: Mapping[str, list[str]], attributes: Iterable[str]) -> ListQuery | str:
    """The list query, or Neutron's 400 message for a filter on an unknown attribute."""
    known = frozenset(attributes)
    filters: dict[str, tuple[str, ...]] = {}
    count = 0
    for key, values in query.items():
        if key in NOT_FILTERS:
            continue
        if key not in known:
            return f"[{echo(key)}] is invalid attribute for filtering"
        count += len(values)
        if count > MAX_FILTER_VALUES:
            return f"Too many filter values: at most {MAX_FILTER_VALUES} are accepted."
        filters[key] = tuple(values)
    fields = tuple(f for value in query.get("fields", []) for f in value.split(",") if f)
    return ListQuery(filters, fields)


def _matches_value(actual: Any, wanted: str) -> bool:
    if isinstance(actual, bool):
        lowered = wanted.strip().lower()
        return (actual and lowered in _TRUE) or (not actual and lowered in _FALSE)
    if actual is None:
        return wanted == ""
    return str(actual) == wanted


def _matches(item: Mapping[str, Any], key: str, wanted: Sequence[str]) -> bool:
    actual = item.get(key)
    if key in _KEYED_LISTS and isinstance(actual, list):
        for value in wanted:
            sub_key, _, sub_value = value.partition("=")
            if any(isinstance(e, dict) and str(e.get(sub_key)) == sub_value for e in actual):
                return True
        return False
    if isinstance(actual, list):
        return any(_matches_value(element, value) for element in actual for value in wanted)
    return any(_matches_value(actual, value) for value in wanted)


def apply(items: Iterable[Json], query: ListQuery) -> list[Json]:
    selected = [i for i in items if all(_matches(i, k, v) for k, v in query.filters.items())]
    if not query.fields:
        return selected
    return [{k: v for k, v in item.items() if k in query.fields} for item in selected]


def fields_only(item: Json, query: Mapping[str, list[str]]) -> Json:
    """A shown item restricted to ``fields`` (Neutron's show takes ``fields`` too)."""
    fields = [f for value in query.get("fields", []) for f in value.split(",") if f]
    return {k: v for k, v in item.items() if k in fields} if fields else item
