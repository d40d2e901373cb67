"""The query of a server list: Nova's filters and paging parameters, parsed and checked."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from extproc import annotations as keys
from extproc.compute import schemas, server_lock
from extproc.compute.create_request import ref_id
from extproc.compute.flavors import nova_limit
from extproc.compute.pod_facts import list_facts, list_state
from extproc.compute.query_schema import STRING, QuerySchema, multi
from extproc.compute.server_fields import default_hostname, display_name, parse_time, tenant_of
from extproc.errors import Service, bad_request, echo
from extproc.messages import ClientRequest, Reply
from extproc.query_regex import Pattern, Refused, compile_filter

# CONF.api.max_limit: the default and the largest page.
MAX_LIMIT = 1000
FALSE_STRINGS = frozenset({"0", "f", "false", "off", "n", "no"})
Version = tuple[int, int]

# The statuses Nova's list can filter by (api/openstack/common.py _STATE_MAP): from 2.38 any other is a 400.
FILTER_STATUSES = frozenset(
    {
        "ACTIVE", "BUILD", "CONFIRMING_RESIZE", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "PASSWORD",
        "PAUSED", "REBOOT", "REBUILD", "RESCUE", "RESIZE", "REVERT_RESIZE", "SHELVED", "SHELVED_OFFLOADED",
        "SHUTOFF", "SOFT_DELETED", "SUSPENDED", "VERIFY_RESIZE",
    }
)  # fmt: skip
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")

# Nova's index_query (schemas/servers.py): every parameter it knows, whatever a non-admin may use of them;
# from 2.75 any other is a 400 (additionalProperties False). Later microversions' own are added below.
_KNOWN_PARAMETERS = frozenset(
    {
        "user_id", "project_id", "tenant_id", "launch_index", "image_ref", "image", "kernel_id",
        "ramdisk_id", "hostname", "key_name", "power_state", "vm_state", "task_state", "host", "node",
        "flavor", "reservation_id", "launched_at", "terminated_at", "availability_zone", "name",
        "display_name", "description", "display_description", "locked_by", "uuid", "root_device_name",
        "config_drive", "access_ip_v4", "access_ip_v6", "auto_disk_config", "progress", "sort_key",
        "sort_dir", "all_tenants", "soft_deleted", "deleted", "status", "changes-since", "ip", "ip6",
        "created_at", "block_device_mapping", "services", "metadata", "system_metadata", "info_cache",
        "security_groups", "pci_devices", "limit", "marker",
    }
)  # fmt: skip


def known_parameters(version: Version) -> frozenset[str]:
    """The list parameters Nova's schema knows at ``version``."""
    known = set(_KNOWN_PARAMETERS)
    if version >= (2, 26):
        known.update(TAG_FILTERS)
    if version >= (2, 66):
        known.add("changes-before")
    if version >= (2, 73):
        known.add("locked")
    return frozenset(known)


@functools.lru_cache(maxsize=8)
def _query_schema(known: frozenset[str]) -> QuerySchema:
    # Values are checked where they are parsed (their messages are Nova's API ones); "_x" passes the schema
    # (Nova's patternProperties) and is then dropped for a non-admin.
    return QuerySchema({name: multi(STRING) for name in known}, pattern_properties={"^_": multi(STRING)})


def _strict_bool(value: str, name: str | None = None) -> bool | str:
    """oslo's ``bool_from_string(strict=True)``; for a value that is neither, the message Nova gives, naming
    the parameter (``name``, as for ``all_tenants``) or not (``common.is_locked``'s InvalidInput)."""
    lowered = value.strip().lower()
    if lowered in schemas.TRUE_STRINGS:
        return True
    if lowered in FALSE_STRINGS:
        return False
    accepted = ", ".join(f"'{v}'" for v in sorted(schemas.TRUE_STRINGS | FALSE_STRINGS))
    shown = f"'{echo(value)}' for {name}" if name is not None else f"'{echo(value)}'"
    return f"Invalid input received: Unrecognized value {shown}, acceptable values are: {accepted}"


def _tags(raw: str | None) -> frozenset[str] | None:
    return frozenset(t for t in raw.split(",")) if raw is not None else None


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
    # 2.26's tag filters: all of ``tags``, any of ``tags_any``, not all of ``not_tags``, none of
    # ``not_tags_any`` (nova/db/main/api.py instance_get_all_by_filters_sort).
    tags: frozenset[str] | None = None
    tags_any: frozenset[str] | None = None
    not_tags: frozenset[str] | None = None
    not_tags_any: frozenset[str] | None = None
    changes_before: datetime | None = None  # 2.66
    locked: bool | None = None  # 2.73
    hostname: Pattern | None = None  # 2.90 lets non-admins filter by it

    def _wants_later(self, pod: Mapping[str, Any]) -> bool:
        """The filters of later microversions (None when the request has none)."""
        if (
            self.tags is not None
            or self.tags_any is not None
            or self.not_tags is not None
            or (self.not_tags_any is not None)
        ):
            tags = set(list_facts(pod).tags)
            if self.tags is not None and not self.tags <= tags:
                return False
            if self.tags_any is not None and not self.tags_any & tags:
                return False
            if self.not_tags is not None and self.not_tags <= tags:
                return False
            if self.not_tags_any is not None and self.not_tags_any & tags:
                return False
        if self.changes_before is not None:
            updated = list_facts(pod).updated
            if updated is None or updated > self.changes_before:
                return False
        if self.locked is not None and server_lock.is_locked(pod) is not self.locked:
            return False
        if self.hostname is not None:
            facts = list_facts(pod)
            if not self.hostname.search(facts.hostname or default_hostname(display_name(pod), facts.sid)):
                return False
        return True

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
        if not self._wants_later(pod):
            return False
        if self.ip is None and self.ip6 is None:
            return True
        ips = list_facts(pod).ips
        if self.ip is not None and not any(self.ip.search(a) for a in ips if ":" not in a):
            return False
        return self.ip6 is None or any(self.ip6.search(a) for a in ips if ":" in a)


def parse_list_query(
    req: ClientRequest, namespace: str | None = None, version: Version = (2, 1)
) -> ListQuery | Reply:
    """Nova's list parameters at ``version``. Below 2.75 unknown ones (osc's ``deleted=False``...) are
    ignored, as Nova does; from 2.75 they are a 400. A parameter of a later microversion, or one Nova
    lets only administrators use, is ignored (the gateway answers as Nova does a non-admin)."""
    one = req.query_one
    if version >= (2, 75):
        known = known_parameters(version)
        unknown = sorted(name for name in req.query if name not in known and not name.startswith("_"))
        if unknown:
            names = ", ".join(f"'{echo(name)}'" for name in unknown)
            verb = "were" if len(unknown) > 1 else "was"
            return bad_request(
                Service.COMPUTE, f"Additional properties are not allowed ({names} {verb} unexpected)"
            )

    # NOTE: limit=0 is an empty page without a next link, as Nova's get_limit_and_marker gives.
    limit = nova_limit(one("limit"))
    if isinstance(limit, Reply):
        return limit

    all_tenants = False
    raw_all = one("all_tenants")
    if raw_all is not None:
        parsed = _strict_bool(raw_all, "all_tenants")
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

    changes_before = None
    raw_before = one("changes-before") if version >= (2, 66) else None
    if raw_before is not None:
        changes_before = parse_time(raw_before)
        if changes_before is None:
            return bad_request(
                Service.COMPUTE,
                f"Invalid input for query parameters changes-before. Value: {echo(raw_before)}. "
                f"'{echo(raw_before)}' is not a 'date-time'",
            )
        if changes_since is not None and changes_before < changes_since:
            return bad_request(
                Service.COMPUTE, "The value of changes-since must be less than or equal to changes-before."
            )

    statuses = frozenset(s.upper() for s in req.query.get("status", []) if s)
    if statuses and version >= (2, 38) and not statuses & FILTER_STATUSES:
        # Below 2.38 Nova answers an empty list, which the filter gives.
        return bad_request(Service.COMPUTE, "Invalid status value")

    locked = None
    raw_locked = one("locked") if version >= (2, 73) else None
    if raw_locked is not None:
        parsed_locked = _strict_bool(raw_locked)
        if isinstance(parsed_locked, str):
            return bad_request(Service.COMPUTE, parsed_locked)
        locked = parsed_locked

    # Nova's regex filters, run by a linear-time engine (client patterns never backtrack on the loop).
    # Nova's schema checks each pattern at every microversion, then keeps only what a non-admin may use:
    # ip6 from 2.5, hostname from 2.90.
    patterns: dict[str, Pattern | None] = {}
    for parameter in ("name", "ip", "ip6", "hostname"):
        raw = one(parameter)
        compiled = compile_filter(parameter, raw) if raw else None
        if isinstance(compiled, Refused):
            return bad_request(Service.COMPUTE, compiled.message)
        patterns[parameter] = compiled
    if version < (2, 5):
        patterns["ip6"] = None
    if version < (2, 90):
        patterns["hostname"] = None
    image = one("image")
    tenant_id = one("tenant_id") or one("project_id")
    return ListQuery(
        limit=limit,
        marker=one("marker") or None,
        all_tenants=all_tenants,
        name=patterns["name"],
        statuses=statuses,
        image=ref_id(image) if image else None,
        flavor=one("flavor") or None,
        changes_since=changes_since,
        reservation_id=one("reservation_id") or None,
        # NOTE: Nova only honours a project filter together with all_tenants; else it is the caller's own.
        tenant_id=tenant_id if all_tenants and tenant_id else None,
        ip=patterns["ip"],
        ip6=patterns["ip6"],
        namespace=namespace if all_tenants else None,
        **_tag_filters(req, version),
        changes_before=changes_before,
        locked=locked,
        hostname=patterns["hostname"],
    )


def _tag_filters(req: ClientRequest, version: Version) -> dict[str, frozenset[str] | None]:
    if version < (2, 26):
        return {}
    return {name.replace("-", "_"): _tags(req.query_one(name)) for name in TAG_FILTERS}
