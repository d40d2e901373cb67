"""The query of a server list: Nova's filters and paging parameters, parsed and checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from extproc import annotations as keys
from extproc.compute import schemas
from extproc.compute.create_request import ref_id
from extproc.compute.flavors import nova_limit
from extproc.compute.server_view import display_name, list_facts, list_state, parse_time, tenant_of
from extproc.errors import Service, bad_request, echo
from extproc.messages import ClientRequest, Reply
from extproc.query_regex import Pattern, Refused, compile_filter

# CONF.api.max_limit: the default and the largest page.
MAX_LIMIT = 1000
FALSE_STRINGS = frozenset({"0", "f", "false", "off", "n", "no"})


def _bool_param(name: str, value: str) -> bool | str:
    """oslo's strict bool_from_string; the error message when ``value`` is neither."""
    lowered = value.strip().lower()
    if lowered in schemas.TRUE_STRINGS:
        return True
    if lowered in FALSE_STRINGS:
        return False
    accepted = ", ".join(f"'{v}'" for v in sorted(schemas.TRUE_STRINGS | FALSE_STRINGS))
    shown = echo(value)
    return (
        f"Invalid input received: Unrecognized value '{shown}' for {name}, acceptable values are: {accepted}"
    )


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The parsed query of a server list: Nova's filters and paging."""

    limit: int = MAX_LIMIT
    marker: str | None = None
    all_tenants: bool = False
    name: Pattern | None = None
    statuses: frozenset[str] = frozenset()
    image: str | None = None
    flavor: str | None = None
    changes_since: datetime | None = None
    reservation_id: str | None = None
    tenant_id: str | None = None
    ip: Pattern | None = None
    ip6: Pattern | None = None
    # All-tenants lists span every namespace; servers live in the gateway's namespace only.
    namespace: str | None = None

    def wants(self, pod: Mapping[str, Any]) -> bool:
        metadata = pod.get("metadata") or {}
        annotations_ = metadata.get("annotations") or {}
        if self.namespace is not None and metadata.get("namespace", self.namespace) != self.namespace:
            return False
        if self.name is not None and not self.name.search(display_name(pod)):
            return False
        if self.statuses and list_state(list_facts(pod)).status not in self.statuses:
            return False
        if self.image is not None and annotations_.get(keys.IMAGE_ID) != self.image:
            return False
        if self.flavor is not None and annotations_.get(keys.FLAVOR_ID) != self.flavor:
            return False
        if self.changes_since is not None:
            updated = list_facts(pod).updated
            if updated is None or updated < self.changes_since:
                return False
        if self.reservation_id is not None:
            labels = (pod.get("metadata") or {}).get("labels") or {}
            if labels.get(keys.RESERVATION_ID) != self.reservation_id:
                return False
        if self.tenant_id is not None and tenant_of(pod) != self.tenant_id:
            return False
        if self.ip is None and self.ip6 is None:
            return True
        ips = list_facts(pod).ips
        if self.ip is not None and not any(self.ip.search(a) for a in ips if ":" not in a):
            return False
        return self.ip6 is None or any(self.ip6.search(a) for a in ips if ":" in a)


def parse_list_query(req: ClientRequest, namespace: str | None = None) -> ListQuery | Reply:
    """Nova's list parameters; unknown ones (osc's ``deleted=False``...) are ignored, as Nova does."""
    one = req.query_one

    # NOTE: limit=0 is an empty page without a next link, as Nova's get_limit_and_marker gives.
    limit = nova_limit(one("limit"))
    if isinstance(limit, Reply):
        return limit

    all_tenants = False
    raw_all = one("all_tenants")
    if raw_all is not None:
        parsed = _bool_param("all_tenants", raw_all)
        if isinstance(parsed, str):
            return bad_request(Service.COMPUTE, parsed)
        all_tenants = parsed

    changes_since = None
    raw_since = one("changes-since")
    if raw_since is not None:
        changes_since = parse_time(raw_since)
        if changes_since is None:
            return bad_request(
                Service.COMPUTE,
                f"Invalid input for query parameters changes-since. Value: {echo(raw_since)}. "
                f"'{echo(raw_since)}' is not a 'date-time'",
            )

    # Nova's regex filters, run by a linear-time engine (client patterns never backtrack on the loop).
    patterns: dict[str, Pattern | None] = {}
    for parameter in ("name", "ip", "ip6"):
        raw = one(parameter)
        compiled = compile_filter(parameter, raw) if raw else None
        if isinstance(compiled, Refused):
            return bad_request(Service.COMPUTE, compiled.message)
        patterns[parameter] = compiled
    image = one("image")
    tenant_id = one("tenant_id") or one("project_id")
    return ListQuery(
        limit=limit,
        marker=one("marker") or None,
        all_tenants=all_tenants,
        name=patterns["name"],
        statuses=frozenset(s.upper() for s in req.query.get("status", []) if s),
        image=ref_id(image) if image else None,
        flavor=one("flavor") or None,
        changes_since=changes_since,
        reservation_id=one("reservation_id") or None,
        # NOTE: Nova only honours a project filter together with all_tenants; else it is the caller's own.
        tenant_id=tenant_id if all_tenants and tenant_id else None,
        ip=patterns["ip"],
        ip6=patterns["ip6"],
        namespace=namespace if all_tenants else None,
    )
