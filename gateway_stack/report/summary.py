"""The comparisons of a capture summed up per endpoint, worst first: the data of ``report.json``.

Pairs are compared in capture order with one ``IdMap`` that learns from each exchange after comparing it,
as the live recorder does, so a server created early is recognised in every later request about it.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway_stack.mirror.idmap import IdMap
from gateway_stack.report.capture import Pair
from gateway_stack.report.compare import Comparison, Difference, compare_pair
from gateway_stack.report.rules import RULES

# The worse kind of difference first (a key a client reads that is not there breaks it soonest).
KIND_ORDER = {"missing": 0, "type": 1, "value": 2, "extra": 3}
# Bodies in examples are cut beyond this many characters of JSON (a 1,000-server list would drown a page).
EXAMPLE_BODY_CHARS = 6000
# Distinct places kept per endpoint (bodies with ever new keys, e.g. metadata, cannot grow the report).
MAX_PLACES = 500


@dataclass(slots=True)
class Place:
    """One place (path + kind) where the bodies of an endpoint differ, over all its exchanges."""

    path: str
    kind: str
    count: int = 0
    primary: Any = None  # first seen values, as an example
    shadow: Any = None


@dataclass(slots=True)
class Example:
    id: str
    primary_status: int | None
    shadow_status: int | None
    primary_body: Any
    shadow_body: Any
    differences: list[Difference]
    score: int


@dataclass(slots=True)
class Endpoint:
    endpoint: str
    exchanges: int = 0
    paired: int = 0
    status_agree: int = 0
    identical: int = 0  # paired, same status, no difference left once the rules applied
    statuses: Counter[str] = field(default_factory=Counter)
    places: dict[tuple[str, str], Place] = field(default_factory=dict)
    places_dropped: int = 0  # differences at places beyond MAX_PLACES, counted only
    excused: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    examples: list[Example] = field(default_factory=list)

    @property
    def severity(self) -> tuple[float, float, int, int]:
        """Larger is worse: status disagreements, then exchanges that differ, then places, then volume."""
        if not self.paired:
            return (0.0, 0.0, 0, self.exchanges)
        return (
            1 - self.status_agree / self.paired,
            1 - self.identical / self.paired,
            len(self.places),
            self.exchanges,
        )


def _clip(body: Any) -> Any:
    text = json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True)
    if len(text) <= EXAMPLE_BODY_CHARS:
        return body
    return {"$text": text[:EXAMPLE_BODY_CHARS] + f"\n... ({len(text) - EXAMPLE_BODY_CHARS} more characters)"}


def _score(comparison: Comparison) -> int:
    return (0 if comparison.status_agrees else 1000) + len(comparison.real_differences)


@dataclass(slots=True)
class Totals:
    exchanges: int = 0
    paired: int = 0
    status_agree: int = 0
    identical: int = 0
    with_differences: int = 0

    def add(self, comparison: Comparison) -> None:
        self.exchanges += 1
        if not comparison.paired:
            return
        self.paired += 1
        self.status_agree += comparison.status_agrees
        same = comparison.status_agrees and not comparison.real_differences
        self.identical += same
        self.with_differences += not same


@dataclass(slots=True)
class Summary:
    endpoints: list[Endpoint]
    counts: Totals
    unreadable_lines: int = 0
    max_examples: int = 2

    @property
    def totals(self) -> dict[str, int]:
        c = self.counts
        return {
            "exchanges": c.exchanges,
            "paired": c.paired,
            "unpaired": c.exchanges - c.paired,
            "status_agree": c.status_agree,
            "identical": c.identical,
            "with_differences": c.with_differences,
            "unreadable_lines": self.unreadable_lines,
        }

    def excused_total(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for endpoint in self.endpoints:
            total.update(endpoint.excused)
        return total

    def to_json(self, source: str) -> dict[str, Any]:
        excused = self.excused_total()
        return {
            "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "source": source,
            "totals": self.totals,
            "rules": [
                {"name": r.name, "description": r.description, "excused": excused.get(r.name, 0)}
                for r in RULES
            ],
            "endpoints": [_endpoint_json(e) for e in self.endpoints],
        }


def _difference_json(d: Difference) -> dict[str, Any]:
    out: dict[str, Any] = {"path": d.path, "kind": d.kind, "primary": d.primary, "shadow": d.shadow}
    if d.rule:
        out["excused_by"] = d.rule
    return out


def _endpoint_json(e: Endpoint) -> dict[str, Any]:
    method, _, route = e.endpoint.partition(" ")
    return {
        "endpoint": e.endpoint,
        "method": method,
        "route": route,
        "exchanges": e.exchanges,
        "paired": e.paired,
        "status_agree": e.status_agree,
        "identical": e.identical,
        "statuses": dict(e.statuses.most_common()),
        "differences": [
            {"path": p.path, "kind": p.kind, "count": p.count, "primary": p.primary, "shadow": p.shadow}
            for p in sorted_places(e)
        ],
        "differences_beyond_listed_places": e.places_dropped,
        "excused": dict(e.excused.most_common()),
        "notes": dict(e.notes.most_common()),
        "examples": [
            {
                "id": x.id,
                "primary": {"status": x.primary_status, "body": x.primary_body},
                "shadow": {"status": x.shadow_status, "body": x.shadow_body},
                "differences": [_difference_json(d) for d in x.differences],
            }
            for x in e.examples
        ],
    }


def sorted_places(endpoint: Endpoint) -> list[Place]:
    return sorted(endpoint.places.values(), key=lambda p: (-p.count, KIND_ORDER.get(p.kind, 9), p.path))


def _status_label(status: int | None) -> str:
    return "-" if status is None else str(status)


def summarize(pairs: Iterable[Pair], idmap: IdMap | None = None, max_examples: int = 2) -> Summary:
    """Every pair compared (learning ids as it goes) and summed up per endpoint, worst endpoint first; only
    the counts and a few clipped examples are kept, so a capture of any size is read in bounded memory."""
    idmap = idmap or IdMap()
    by_endpoint: dict[str, Endpoint] = {}
    totals = Totals()
    for pair in pairs:
        # Learned first: a create's own new ids (and a catalog's) are then excused as mapped ids.
        if pair.primary is not None and pair.shadow is not None:
            idmap.learn_project(pair.primary.request.path, pair.shadow.request.path)
            idmap.learn(pair.primary.request, pair.primary.response, pair.shadow.response)
        comparison = compare_pair(pair.id, pair.primary, pair.shadow, idmap)
        totals.add(comparison)
        _add(
            by_endpoint.setdefault(comparison.endpoint, Endpoint(comparison.endpoint)),
            comparison,
            pair,
            max_examples,
        )
    endpoints = sorted(by_endpoint.values(), key=lambda e: (e.severity, e.endpoint), reverse=True)
    return Summary(endpoints, totals, max_examples=max_examples)


def _add(endpoint: Endpoint, comparison: Comparison, pair: Pair, max_examples: int) -> None:
    endpoint.exchanges += 1
    endpoint.notes.update(comparison.notes)
    endpoint.statuses[
        f"{_status_label(comparison.primary_status)} / {_status_label(comparison.shadow_status)}"
    ] += 1
    if not comparison.paired:
        return
    endpoint.paired += 1
    endpoint.status_agree += comparison.status_agrees
    real = comparison.real_differences
    endpoint.identical += comparison.status_agrees and not real
    for difference in comparison.differences:
        if difference.rule is not None:
            endpoint.excused[difference.rule] += 1
            continue
        place = endpoint.places.get((difference.path, difference.kind))
        if place is None:
            place = Place(
                difference.path, difference.kind, primary=difference.primary, shadow=difference.shadow
            )
            endpoint.places[(difference.path, difference.kind)] = place
        place.count += 1
    score = _score(comparison)
    if score == 0 and endpoint.examples:
        return
    assert pair.primary is not None and pair.shadow is not None
    assert pair.primary.response is not None and pair.shadow.response is not None
    example = Example(
        comparison.id,
        comparison.primary_status,
        comparison.shadow_status,
        _clip(pair.primary.response.body),
        _clip(pair.shadow.response.body),
        comparison.differences,
        score,
    )
    # Keep the worst few (an identical one only while there is nothing worse: the reader sees a sample).
    endpoint.examples.append(example)
    endpoint.examples.sort(key=lambda x: -x.score)
    del endpoint.examples[max_examples:]
