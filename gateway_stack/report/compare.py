"""One paired exchange compared: endpoint, status agreement, headers that matter, JSON body differences.

Pure: the two sides and the id map in, a ``Comparison`` out. A body difference is one of

- ``missing``: a key (or list item) the primary has and the shadow lacks;
- ``extra``: a key (or list item) only the shadow has;
- ``type``: the same key with a value of another JSON type;
- ``value``: the same key and type, another value; excused when a rule (``rules.py``) says it must differ.

Paths name keys with dots and list items with ``[]``, so the same field of every server in a list counts
as one place. List items are matched by id (mapped), then by name, then by position, so a list in another
order is not a difference.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway_stack.mirror.exchange import ExchangeSide, HttpResponse, is_json_body
from gateway_stack.mirror.idmap import IdMap
from gateway_stack.report.rules import Value, excusing_rule, link_paths_agree, looks_like_uuid

DiffKind = Literal["missing", "extra", "type", "value"]
# The response headers clients act on; each compared as a "headers.<name>" path.
COMPARED_HEADERS = ("content-type", "openstack-api-version", "x-openstack-nova-api-version", "location")
# Headers that must be there on both sides, whatever their value (the value is per request).
PRESENT_HEADERS = ("x-openstack-request-id", "x-compute-request-id")
# Deeper JSON than this is compared as a whole (no client body nests this deep; bounded recursion).
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Difference:
    path: str
    kind: DiffKind
    primary: Any = None
    shadow: Any = None
    rule: str | None = None  # the rule that excused it (then it is not counted as a difference)


@dataclass(slots=True)
class Comparison:
    id: str
    endpoint: str
    primary_status: int | None
    shadow_status: int | None
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def paired(self) -> bool:
        return self.primary_status is not None and self.shadow_status is not None

    @property
    def status_agrees(self) -> bool:
        return self.paired and self.primary_status == self.shadow_status

    @property
    def real_differences(self) -> list[Difference]:
        return [d for d in self.differences if d.rule is None]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _label(item: Any) -> Any:
    """What a list item is called in a missing/extra difference (its id or name, else itself)."""
    if isinstance(item, dict):
        for key in ("name", "id"):
            if key in item:
                return {key: item[key]}
    return item


class _Differ:
    def __init__(self, idmap: IdMap) -> None:
        self.idmap = idmap
        self.found: list[Difference] = []

    def add(self, path: str, key: str, kind: DiffKind, primary: Any, shadow: Any) -> None:
        rule = excusing_rule(Value(path, key, primary, shadow, kind), self.idmap)
        self.found.append(Difference(path, kind, primary, shadow, rule))

    def compare(self, path: str, key: str, primary: Any, shadow: Any, depth: int = 0) -> None:
        p_type, s_type = _json_type(primary), _json_type(shadow)
        if p_type != s_type:
            self.add(path, key, "type", primary, shadow)
        elif p_type == "object" and depth < MAX_DEPTH:
            for k in primary:
                child = f"{path}.{k}" if path else k
                if k not in shadow:
                    self.add(child, k, "missing", primary[k], None)
                else:
                    self.compare(child, k, primary[k], shadow[k], depth + 1)
            for k in shadow:
                if k not in primary:
                    self.add(f"{path}.{k}" if path else k, k, "extra", None, shadow[k])
        elif p_type == "array" and depth < MAX_DEPTH:
            self.compare_lists(f"{path}[]", key, primary, shadow, depth)
        elif primary != shadow:
            self.add(path, key, "value", primary, shadow)

    def compare_lists(self, path: str, key: str, primary: list[Any], shadow: list[Any], depth: int) -> None:
        for p_item, s_item in self.align(primary, shadow):
            if s_item is _NONE:
                self.add(path, key, "missing", _label(p_item), None)
            elif p_item is _NONE:
                self.add(path, key, "extra", None, _label(s_item))
            else:
                self.compare(path, key, p_item, s_item, depth + 1)

    def align(self, primary: list[Any], shadow: list[Any]) -> Iterator[tuple[Any, Any]]:
        """Items of both lists matched: same or mapped id, then same name, then the rest by position."""
        left = list(range(len(shadow)))
        matched: dict[int, int] = {}
        for by in ("id", "name"):
            for i, p_item in enumerate(primary):
                if i in matched or not isinstance(p_item, dict) or not isinstance(p_item.get(by), str):
                    continue
                for j in left:
                    s_item = shadow[j]
                    if isinstance(s_item, dict) and isinstance(s_item.get(by), str):
                        p_val, s_val = p_item[by], s_item[by]
                        if p_val == s_val or (by == "id" and self.idmap.corresponds(p_val, s_val)):
                            matched[i] = j
                            left.remove(j)
                            break
        if not all(isinstance(item, dict) for item in primary + shadow):
            # Scalars (tags, policies, versions...): an order-free comparison.
            rest_p = [p for p in primary]
            rest_s = [s for s in shadow]
            for p in list(rest_p):
                if p in rest_s:
                    rest_s.remove(p)
                    rest_p.remove(p)
                    yield p, p
            pairs = min(len(rest_p), len(rest_s))
            for n in range(pairs):
                yield rest_p[n], rest_s[n]
            for p in rest_p[pairs:]:
                yield p, _NONE
            for s in rest_s[pairs:]:
                yield _NONE, s
            return
        unmatched_p = [i for i in range(len(primary)) if i not in matched]
        by_position = min(len(unmatched_p), len(left))
        # Unmatched objects with ids of their own are different things (a flavor only one cloud has), not
        # the same thing with other values: only id-less objects pair up by position.
        for i in unmatched_p[:by_position]:
            if _has_own_id(primary[i]) and _has_own_id(shadow[left[0]]):
                continue
            matched[i] = left.pop(0)
        for i, p_item in enumerate(primary):
            yield p_item, shadow[matched[i]] if i in matched else _NONE
        for j in left:
            yield _NONE, shadow[j]


def _has_own_id(item: Any) -> bool:
    return isinstance(item, dict) and ("id" in item or "name" in item)


_NONE: Any = object()


def compare_bodies(primary: Any, shadow: Any, idmap: IdMap) -> list[Difference]:
    """The differences of two JSON bodies (see the module docstring)."""
    differ = _Differ(idmap)
    differ.compare("", "", primary, shadow)
    return differ.found


def compare_headers(primary: HttpResponse, shadow: HttpResponse, idmap: IdMap) -> list[Difference]:
    found: list[Difference] = []
    for name in COMPARED_HEADERS:
        p, s = primary.headers.get(name), shadow.headers.get(name)
        path = f"headers.{name}"
        if p is not None and s is None:
            found.append(Difference(path, "missing", p, None))
        elif p is None and s is not None:
            found.append(Difference(path, "extra", None, s))
        elif p is not None and s is not None and p != s:
            if name == "content-type" and p.split(";")[0].strip() == s.split(";")[0].strip():
                continue  # charset parameters are not a difference a client sees
            rule = "hosts in links" if name == "location" and link_paths_agree(p, s, idmap) else None
            found.append(Difference(path, "value", p, s, rule))
    for name in PRESENT_HEADERS:
        p_has, s_has = name in primary.headers, name in shadow.headers
        if p_has != s_has:
            found.append(Difference(f"headers.{name}", "missing" if p_has else "extra"))
    return found


# --- endpoints -----------------------------------------------------------------------------------------

_GENERIC_ID = re.compile(r"^(\d+|[0-9a-f]{32}|req-[0-9a-f-]{36})$")


def endpoint_of(method: str, path: str) -> str:
    """``METHOD route-template``: the gateway's own route table names Nova's, Glance's and Keystone's routes;
    a path it does not serve gets its id-like segments replaced by ``{id}``."""
    from extproc import routes  # the one list of OpenStack routes; imported late: it pulls the handlers

    match = routes.resolve(method, path)
    if isinstance(match, routes.Match):
        return f"{method} {match.route.pattern}"
    segments = ["{id}" if looks_like_uuid(s) or _GENERIC_ID.match(s) else s for s in path.split("/")]
    return f"{method} {'/'.join(segments)}"


def compare_pair(
    pair_id: str, primary: ExchangeSide | None, shadow: ExchangeSide | None, idmap: IdMap
) -> Comparison:
    """One exchange: its endpoint (from the primary's request), statuses, headers and bodies compared."""
    side = primary or shadow
    assert side is not None, "a pair has at least one side"
    request = side.request
    p_resp = primary.response if primary else None
    s_resp = shadow.response if shadow else None
    comparison = Comparison(
        id=pair_id,
        endpoint=endpoint_of(request.method, request.path),
        primary_status=p_resp.status if p_resp else None,
        shadow_status=s_resp.status if s_resp else None,
    )
    for side in (primary, shadow):
        if side is not None:
            comparison.notes.extend(side.notes)
    if primary is None:
        comparison.notes.append("the primary's side was not captured")
    elif shadow is None:
        comparison.notes.append("the request was not mirrored to the shadow (or its reply was not captured)")
    elif s_resp is None:
        comparison.notes.append("the shadow did not answer")
    if p_resp is None or s_resp is None:
        return comparison
    comparison.differences.extend(compare_headers(p_resp, s_resp, idmap))
    p_json, s_json = is_json_body(p_resp.body), is_json_body(s_resp.body)
    if p_json and s_json:
        comparison.differences.extend(compare_bodies(p_resp.body, s_resp.body, idmap))
    elif p_json != s_json and (p_resp.body is not None or s_resp.body is not None):
        comparison.differences.append(
            Difference("body", "type", _kind_of_body(p_resp), _kind_of_body(s_resp))
        )
    return comparison


def _kind_of_body(response: HttpResponse) -> str:
    if response.body is None:
        return "no body"
    return "JSON" if is_json_body(response.body) else "text"
