"""What must differ between a real Nova's answer and the gateway's, and is therefore not a difference.

Each rule names a class of values that two correct clouds answer differently (their own ids, clocks, hosts).
A rule excuses a *value* that differs: a key one side lacks, or a value of another JSON type, is reported,
except inside an ``addresses`` object, whose keys are each cloud's own network names. The report lists
every rule with how many differences it excused, so a reader sees what was not compared.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway_stack.mirror.idmap import IdMap, without_project

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_REQUEST_ID = re.compile(r"^req-[0-9a-f-]{36}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")

# Keys whose values come from each cloud's identity service (Keystone's user/project ids vs Arktos's).
IDENTITY_KEYS = frozenset({"user_id", "tenant_id", "project_id", "owner"})
HOST_KEYS = frozenset({"hostId", "host_id", "OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:hypervisor_hostname"})
ADDRESS_KEYS = frozenset({"addresses", "accessIPv4", "accessIPv6"})
LINK_KEYS = frozenset({"href", "location", "self", "file", "schema", "first", "next", "previous"})


@dataclass(frozen=True, slots=True)
class Value:
    """One differing value: where (``path``: keys and ``[]`` for list items), its key, both values."""

    path: str
    key: str
    primary: Any
    shadow: Any
    kind: str = "value"  # or missing / extra / type (only the addresses rule excuses those)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    description: str
    excuses: Callable[[Value, IdMap], bool]


def _strings(value: Value) -> tuple[str, str] | None:
    if isinstance(value.primary, str) and isinstance(value.shadow, str):
        return value.primary, value.shadow
    return None


def _mapped_ids(value: Value, idmap: IdMap) -> bool:
    both = _strings(value)
    return both is not None and idmap.corresponds(*both)


def _identity(value: Value, idmap: IdMap) -> bool:
    return value.key in IDENTITY_KEYS


def _timestamps(value: Value, idmap: IdMap) -> bool:
    both = _strings(value)
    return both is not None and all(_TIMESTAMP.match(v) for v in both)


def link_paths_agree(primary: str, shadow: str, idmap: IdMap) -> bool:
    """Two links that name the same resource: same path once the host and the project are dropped and ids
    are mapped."""
    p_parts, s_parts = urlsplit(primary), urlsplit(shadow)
    if not (p_parts.netloc or s_parts.netloc):
        return False
    p_segments = without_project(p_parts.path.rstrip("/")).split("/")
    s_segments = without_project(s_parts.path.rstrip("/")).split("/")
    if len(p_segments) != len(s_segments):
        return False
    return all(p == s or idmap.corresponds(p, s) for p, s in zip(p_segments, s_segments, strict=True))


def _link_hosts(value: Value, idmap: IdMap) -> bool:
    both = _strings(value)
    return both is not None and value.key in LINK_KEYS and link_paths_agree(*both, idmap)


def _request_ids(value: Value, idmap: IdMap) -> bool:
    both = _strings(value)
    return both is not None and (value.key == "request_id" or all(_REQUEST_ID.match(v) for v in both))


def _hosts(value: Value, idmap: IdMap) -> bool:
    return value.key in HOST_KEYS


def _addresses(value: Value, idmap: IdMap) -> bool:
    inside = any(f"{key}." in value.path or f"{key}[]" in value.path for key in ADDRESS_KEYS)
    return inside or (value.kind == "value" and value.key in ADDRESS_KEYS)


def _generated_secrets(value: Value, idmap: IdMap) -> bool:
    return value.key == "adminPass"


RULES: tuple[Rule, ...] = (
    Rule(
        "ids mapped",
        "ids the two clouds gave the same thing (catalogs joined by name, creates paired by their replies)",
        _mapped_ids,
    ),
    Rule("timestamps", "both values are timestamps (each cloud's clock)", _timestamps),
    Rule(
        "hosts in links",
        "links (href, location, next...) to the same path, ids mapped, on each cloud's own host",
        _link_hosts,
    ),
    Rule("request ids", "request ids (req-<uuid>, request_id) each cloud makes up per request", _request_ids),
    Rule("hostId", "the host a server runs on (hostId and the OS-EXT-SRV-ATTR host fields)", _hosts),
    Rule(
        "addresses",
        "IP addresses and access IPs, and anything inside addresses (keyed by each cloud's own networks)",
        _addresses,
    ),
    Rule(
        "identity ids",
        "user_id, tenant_id, project_id, owner: ids of each cloud's identity service",
        _identity,
    ),
    Rule("generated passwords", "adminPass, made up by each cloud at create", _generated_secrets),
)


def excusing_rule(value: Value, idmap: IdMap) -> str | None:
    """The name of the first rule that excuses this differing value, None when it is a real difference."""
    for rule in RULES:
        if (value.kind == "value" or rule.excuses is _addresses) and rule.excuses(value, idmap):
            return rule.name
    return None


def looks_like_uuid(text: str) -> bool:
    return bool(_UUID.match(text))
