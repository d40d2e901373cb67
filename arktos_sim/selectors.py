"""Label selectors (``=``, ``==``, ``!=``, ``in``, ``notin``, exists, ``!``exists) and field selectors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import status

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.op
        if op == "exists":
            return self.key in labels
        if op == "!exists":
            return self.key not in labels
        value = labels.get(self.key)
        if op == "=" or op == "in":
            return value is not None and value in self.values
        # "!=" and "notin" match objects without the label, as in Kubernetes.
        return value is None or value not in self.values


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return [t.strip() for t in terms if t.strip()]


def _set_values(text: str, term: str) -> frozenset[str]:
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise status.bad_request(f"unable to parse requirement: found '{text}', expected: '('")
    return frozenset(v.strip() for v in text[1:-1].split(",") if v.strip())


def parse_labels(text: str | None) -> list[Requirement]:
    if not text:
        return []
    reqs: list[Requirement] = []
    for term in _split_terms(text):
        if term.startswith("!"):
            reqs.append(Requirement(term[1:].strip(), "!exists"))
        elif " notin " in term or " notin(" in term:
            key, _, rest = term.partition("notin")
            reqs.append(Requirement(key.strip(), "notin", _set_values(rest, term)))
        elif " in " in term or " in(" in term:
            key, _, rest = term.partition(" in")
            reqs.append(Requirement(key.strip(), "in", _set_values(rest, term)))
        elif "!=" in term:
            key, _, value = term.partition("!=")
            reqs.append(Requirement(key.strip(), "!=", frozenset({value.strip()})))
        elif "==" in term:
            key, _, value = term.partition("==")
            reqs.append(Requirement(key.strip(), "=", frozenset({value.strip()})))
        elif "=" in term:
            key, _, value = term.partition("=")
            reqs.append(Requirement(key.strip(), "=", frozenset({value.strip()})))
        else:
            reqs.append(Requirement(term, "exists"))
    for req in reqs:
        if not req.key:
            raise status.bad_request(f"unable to parse requirement: invalid label selector {text!r}")
    return reqs


def labels_match(reqs: list[Requirement], obj: Json) -> bool:
    if not reqs:
        return True
    labels = obj["metadata"].get("labels") or {}
    return all(r.matches(labels) for r in reqs)


def selector_from_match(selector: Json | None) -> list[Requirement]:
    """``LabelSelector`` (matchLabels/matchExpressions) → requirements."""
    if not selector:
        return []
    reqs = [Requirement(k, "=", frozenset({str(v)})) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in selector.get("matchExpressions") or []:
        op = ops.get(str(expr.get("operator")))
        if op is None:
            continue
        reqs.append(
            Requirement(str(expr.get("key")), op, frozenset(str(v) for v in expr.get("values") or []))
        )
    return reqs


def _phase(obj: Json) -> str:
    return str((obj.get("status") or {}).get("phase", ""))


def _node(obj: Json) -> str:
    return str((obj.get("spec") or {}).get("nodeName", ""))


FIELDS: dict[str, Callable[[Json], str]] = {
    "metadata.name": lambda o: str(o["metadata"].get("name", "")),
    "metadata.namespace": lambda o: str(o["metadata"].get("namespace", "")),
    "metadata.tenant": lambda o: str(o["metadata"].get("tenant", "")),
}
POD_FIELDS: dict[str, Callable[[Json], str]] = {**FIELDS, "status.phase": _phase, "spec.nodeName": _node}


def _involved(field: str) -> Callable[[Json], str]:
    return lambda o: str((o.get("involvedObject") or {}).get(field, ""))


# An Event's field selectors (Kubernetes' event field label conversion), as ``kubectl describe`` uses them.
EVENT_FIELDS: dict[str, Callable[[Json], str]] = {
    **FIELDS,
    **{f"involvedObject.{f}": _involved(f) for f in ("kind", "namespace", "name", "uid", "apiVersion")},
    "reason": lambda o: str(o.get("reason", "")),
    "type": lambda o: str(o.get("type", "")),
}


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    get: Callable[[Json], str]
    equal: bool
    value: str

    def matches(self, obj: Json) -> bool:
        return (self.get(obj) == self.value) is self.equal


def parse_fields(text: str | None, resource: str) -> list[FieldRequirement]:
    if not text:
        return []
    known = POD_FIELDS if resource == "pods" else EVENT_FIELDS if resource == "events" else FIELDS
    reqs: list[FieldRequirement] = []
    for term in (t.strip() for t in text.split(",")):
        if not term:
            continue
        if "!=" in term:
            key, _, value = term.partition("!=")
            equal = False
        elif "==" in term:
            key, _, value = term.partition("==")
            equal = True
        elif "=" in term:
            key, _, value = term.partition("=")
            equal = True
        else:
            raise status.bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        getter = known.get(key.strip())
        if getter is None:
            raise status.bad_request(
                f'"{key.strip()}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
        reqs.append(FieldRequirement(getter, equal, value.strip()))
    return reqs


def fields_match(reqs: list[FieldRequirement], obj: Json) -> bool:
    return all(r.matches(obj) for r in reqs)
