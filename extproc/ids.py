"""Validation of the ids a client puts in a URL, before any of them gets near an Arktos path.

Every id is taken from the raw (still percent-encoded) path segment. Server and project ids become Arktos
path segments, so they must be valid Arktos names; anything else (``%``, ``/``, ``..``, ``?``, ``#``,
whitespace, upper case, over-long values) is refused. Refusal is a 404, never a 400: clients look servers
up by name first (``GET /servers/<name>``) and only list and match after a 404.

Flavor and image ids never reach Arktos (they are looked up in the in-memory catalog), so they are only
percent-decoded and checked for sanity.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# Kubernetes IsDNS1123Subdomain: dot-separated DNS labels, at most 253 characters. Written per label so
# that "..", a leading or a trailing dot can never match.
_DNS1123_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_RE = re.compile(rf"{_DNS1123_LABEL}(?:\.{_DNS1123_LABEL})*")
_LABEL_RE = re.compile(_DNS1123_LABEL)

SERVER_ID_MAX_LENGTH = 253
PROJECT_ID_MAX_LENGTH = 63
# Nova flavor ids and Glance image names are at most 255 characters.
CATALOG_ID_MAX_LENGTH = 255
VM_NAME_MAX_LENGTH = 63
VM_NAME_FALLBACK = "vm"


def is_server_id(raw: str) -> bool:
    """A server id is a pod name: a DNS-1123 subdomain (re.fullmatch: no trailing newline sneaks in)."""
    return 0 < len(raw) <= SERVER_ID_MAX_LENGTH and _SUBDOMAIN_RE.fullmatch(raw) is not None


# Arktos's keyword for every tenant (``/api/v1/tenants/all/pods``): no tenant can have that name, and a
# project "all" in a URL would turn the gateway's tenant path into the all-tenants one.
ALL_TENANTS_KEYWORD = "all"


def is_project_id(raw: str) -> bool:
    """A project id is an Arktos tenant name: a DNS-1123 label, never the all-tenants keyword."""
    return (
        0 < len(raw) <= PROJECT_ID_MAX_LENGTH
        and _LABEL_RE.fullmatch(raw) is not None
        and raw != ALL_TENANTS_KEYWORD
    )


def is_label_value(value: str) -> bool:
    """A Kubernetes label value (used for reservation ids): ≤ 63 of [A-Za-z0-9-_.], alphanumeric ends."""
    return value == "" or (
        len(value) <= 63 and re.fullmatch(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?", value) is not None
    )


_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_server_group_id(raw: str) -> bool:
    return _UUID_RE.fullmatch(raw) is not None


def server_id(raw: str) -> str | None:
    return raw if is_server_id(raw) else None


def project_id(raw: str) -> str | None:
    return raw if is_project_id(raw) else None


def server_group_id(raw: str) -> str | None:
    """A server group id: the UUID the gateway made (lower case, as it names the group's ConfigMap)."""
    return raw if is_server_group_id(raw) else None


def catalog_id(raw: str) -> str | None:
    """A flavor or image id (or name) from a URL, percent-decoded; None if it cannot name anything.

    Refused: empty, invalid UTF-8 escapes, control characters (NUL, CR, LF, ...), over-long values.
    """
    if not raw or len(raw) > 3 * CATALOG_ID_MAX_LENGTH:
        return None
    try:
        value = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return None
    if not value or len(value) > CATALOG_ID_MAX_LENGTH:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return None
    return value


def vm_name_from_display_name(display_name: str) -> str:
    """The ``spec.virtualMachine.name`` for a Nova display name: a DNS-1123 label.

    Lower-cased, every run of characters outside ``[a-z0-9]`` becomes one "-", trimmed to 63 characters
    without leading or trailing "-"; "vm" if nothing is left.
    """
    name = re.sub(r"[^a-z0-9]+", "-", display_name.lower())
    name = name.strip("-")[:VM_NAME_MAX_LENGTH].strip("-")
    return name or VM_NAME_FALLBACK


_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def neutron_id(raw: str) -> str | None:
    """A Neutron id (network, subnet, port, security group): a UUID in Neutron's lower-case spelling.

    Neutron's ids are UUIDs; anything else (a name: ``GET /v2.0/networks/net1``, which clients try before
    they list by name) names nothing, so it is refused with the resource's 404.
    """
    return raw if _UUID_RE.fullmatch(raw) else None
