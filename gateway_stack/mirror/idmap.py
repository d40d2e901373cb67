"""The primary's ids -> the shadow's ids, learned from paired exchanges; a request rewritten for the shadow.

The primary (a real Nova/Glance) and the shadow (the gateway in front of Arktos) name the same things with
different ids. The map learns them two ways, both from exchanges both sides answered:

- catalogs by name: a flavor, image, network or server group listed (or shown) by both sides under the same
  name is the same thing (a name listed twice on one side maps nothing: it would be a guess);
- creates by pairing: the ids in the replies of the same create (a server and its reservation id, a
  snapshot's image id from ``createImage``, a Glance image, a server group, a network), and the request ids
  Nova answers with (the ``os-instance-actions/{request_id}`` of a later request).

``rewrite`` then turns a request aimed at the primary into the one for the shadow: ids in the path (by the
collection naming them), in the query (``image=``, ``flavor=``, ``marker=``...) and in the JSON body
(``imageRef``, ``flavorRef``, ``networks[].uuid``, the ``group`` hint, ...). An id it does not know is sent
as is and reported, so the report says why the shadow answered 404.

Pure and synchronous: no I/O, bounded memory (each table keeps its newest ``max_entries``); the caller
serializes access (the recorder and the replay each own one map).
"""

from __future__ import annotations

import enum
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from gateway_stack.mirror.exchange import HttpRequest, HttpResponse, is_json_body


class Kind(enum.StrEnum):
    SERVER = "server"
    FLAVOR = "flavor"
    IMAGE = "image"
    NETWORK = "network"
    SERVER_GROUP = "server group"
    RESERVATION = "reservation"
    REQUEST = "request"  # a request id (instance actions are named by it)
    PROJECT = "project"


# The path segment before an id names its kind (Nova, Glance, Neutron under any prefix).
COLLECTION_KIND: Mapping[str, Kind] = {
    "servers": Kind.SERVER,
    "flavors": Kind.FLAVOR,
    "images": Kind.IMAGE,
    "networks": Kind.NETWORK,
    "os-networks": Kind.NETWORK,
    "os-tenant-networks": Kind.NETWORK,
    "os-server-groups": Kind.SERVER_GROUP,
    "os-instance-actions": Kind.REQUEST,
    "os-quota-sets": Kind.PROJECT,
    "os-simple-tenant-usage": Kind.PROJECT,
}
# Literal segments after a collection that are not ids.
_NOT_IDS = frozenset({"detail", "action", "metadata", "import", "file", "stage", "defaults", ""})

# Query parameters that carry an id (Nova's server list filters, Glance's and Neutron's).
QUERY_KINDS: Mapping[str, Kind] = {
    "image": Kind.IMAGE,
    "flavor": Kind.FLAVOR,
    "reservation_id": Kind.RESERVATION,
    "network_id": Kind.NETWORK,
    "tenant_id": Kind.PROJECT,
    "project_id": Kind.PROJECT,
}

# JSON body keys that carry an id, wherever they appear (create, rebuild, resize, hints, ...).
BODY_KINDS: Mapping[str, Kind] = {
    "imageRef": Kind.IMAGE,
    "flavorRef": Kind.FLAVOR,
    "image_id": Kind.IMAGE,
    "server_id": Kind.SERVER,
    "instance_uuid": Kind.SERVER,
    "network_id": Kind.NETWORK,
    "group": Kind.SERVER_GROUP,
}

# A listable collection's JSON member names: (list key, item key).
_CATALOG_BODIES: Mapping[Kind, tuple[str, str]] = {
    Kind.FLAVOR: ("flavors", "flavor"),
    Kind.IMAGE: ("images", "image"),
    Kind.NETWORK: ("networks", "network"),
    Kind.SERVER_GROUP: ("server_groups", "server_group"),
}

# Kinds whose ids are UUIDs on both clouds: another value in their place is a name being looked up.
_UUID_KINDS = frozenset({Kind.SERVER, Kind.IMAGE, Kind.NETWORK, Kind.SERVER_GROUP})
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_AMBIGUOUS = object()
DEFAULT_MAX_ENTRIES = 50_000


class _Bounded(OrderedDict[str, Any]):
    """A dict that forgets its oldest entries beyond ``limit`` (a long mirror run stays bounded)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: str, value: Any) -> None:
        if key in self:
            self.move_to_end(key)
        self[key] = value
        while len(self) > self.limit:
            self.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Rewritten:
    request: HttpRequest
    # Ids of the primary the map does not know, sent as they were ("no shadow id for image 6db0...").
    unmapped: tuple[str, ...] = ()


def _items(body: Any, kind: Kind) -> Iterator[Mapping[str, Any]]:
    """The objects with an id and a name in a catalog reply of ``kind`` (list, show or create)."""
    if not isinstance(body, dict):
        return
    list_key, item_key = _CATALOG_BODIES[kind]
    found: list[Any] = []
    if isinstance(body.get(list_key), list):
        found = body[list_key]
    elif isinstance(body.get(item_key), dict):
        found = [body[item_key]]
    elif kind is Kind.IMAGE and "id" in body and "name" in body:
        found = [body]  # Glance shows an image at the top level
    for item in found:
        if isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(item.get("name"), str):
            yield item


def _kind_of_path(path: str) -> tuple[Kind | None, bool]:
    """The kind of the collection a path addresses and whether it names one member (``/servers/{id}``)."""
    segments = [s for s in path.split("/") if s]
    for index in range(len(segments) - 1, -1, -1):
        kind = COLLECTION_KIND.get(segments[index])
        if kind is not None and kind in _CATALOG_BODIES:
            member = index + 1 < len(segments) and segments[index + 1] not in _NOT_IDS
            return kind, member
        if kind is not None:
            return None, False
    return None, False


def _created_id(body: Any, key: str) -> str | None:
    if isinstance(body, dict) and isinstance(body.get(key), dict):
        value = body[key].get("id")
        return value if isinstance(value, str) else None
    return None


def _location_id(response: HttpResponse) -> str | None:
    location = response.headers.get("location")
    if not location:
        return None
    last = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    return last or None


class IdMap:
    """What the shadow calls the primary's things (see the module docstring)."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._paired: dict[Kind, _Bounded] = {kind: _Bounded(max_entries) for kind in Kind}
        # Per kind: the primary's id -> name, and the shadow's name -> id (or _AMBIGUOUS).
        self._primary_names: dict[Kind, _Bounded] = {kind: _Bounded(max_entries) for kind in Kind}
        self._shadow_ids: dict[Kind, _Bounded] = {kind: _Bounded(max_entries) for kind in Kind}

    # -- learning ---------------------------------------------------------------------------------------

    def pair(self, kind: Kind, primary_id: str, shadow_id: str) -> None:
        """The primary's ``primary_id`` is the shadow's ``shadow_id`` (a paired create, a mapped project)."""
        self._paired[kind].put(primary_id, shadow_id)

    def learn_catalog(
        self, kind: Kind, primary: Iterable[Mapping[str, Any]], shadow: Iterable[Mapping[str, Any]]
    ) -> None:
        """Both sides' objects (``id`` and ``name``) of one kind, joined by name."""
        self.learn_primary_names(kind, primary)
        self.learn_shadow_names(kind, shadow)

    def learn_primary_names(self, kind: Kind, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            ident, name = item.get("id"), item.get("name")
            if isinstance(ident, str) and isinstance(name, str):
                self._primary_names[kind].put(ident, name)

    def learn_shadow_names(self, kind: Kind, items: Iterable[Mapping[str, Any]]) -> None:
        """The shadow's objects; a name seen with two different ids maps nothing from then on."""
        table = self._shadow_ids[kind]
        for item in items:
            ident, name = item.get("id"), item.get("name")
            if not (isinstance(ident, str) and isinstance(name, str)):
                continue
            known = table.get(name)
            table.put(name, ident if known is None or known == ident else _AMBIGUOUS)

    def learn_project(self, primary_path: str, shadow_path: str) -> None:
        """The projects two compute paths of one exchange name (the primary's, and as sent to the shadow)."""
        primary, shadow = project_segment(primary_path), project_segment(shadow_path)
        if primary and shadow and primary != shadow:
            self.pair(Kind.PROJECT, primary, shadow)

    def learn(self, request: HttpRequest, primary: HttpResponse | None, shadow: HttpResponse | None) -> None:
        """Everything one exchange both sides answered teaches (catalogs, creates, request ids)."""
        if primary is None or shadow is None:
            return
        self._learn_request_ids(primary, shadow)
        if not (200 <= primary.status < 300 and 200 <= shadow.status < 300):
            return
        if not (is_json_body(primary.body) or is_json_body(shadow.body) or request.method == "POST"):
            return
        kind, member = _kind_of_path(request.path)
        if kind is not None:
            self.learn_primary_names(kind, _items(primary.body, kind))
            self.learn_shadow_names(kind, _items(shadow.body, kind))
            if request.method == "POST" and not member:
                self._learn_create(kind, primary.body, shadow.body)
        if request.method == "POST":
            self._learn_server_writes(request, primary, shadow)

    def _learn_request_ids(self, primary: HttpResponse, shadow: HttpResponse) -> None:
        for header in ("x-openstack-request-id", "x-compute-request-id"):
            p, s = primary.headers.get(header), shadow.headers.get(header)
            if p and s:
                self.pair(Kind.REQUEST, p, s)
                return

    def _learn_create(self, kind: Kind, primary_body: Any, shadow_body: Any) -> None:
        item_key = _CATALOG_BODIES[kind][1]
        p, s = _created_id(primary_body, item_key), _created_id(shadow_body, item_key)
        if kind is Kind.IMAGE and p is None and isinstance(primary_body, dict):
            p, s = primary_body.get("id"), shadow_body.get("id") if isinstance(shadow_body, dict) else None
        if isinstance(p, str) and isinstance(s, str):
            self.pair(kind, p, s)

    def _learn_server_writes(self, request: HttpRequest, primary: HttpResponse, shadow: HttpResponse) -> None:
        segments = [s for s in request.path.split("/") if s]
        if segments[-1:] == ["servers"]:
            p, s = _created_id(primary.body, "server"), _created_id(shadow.body, "server")
            if p and s:
                self.pair(Kind.SERVER, p, s)
            p_res, s_res = (
                b.get("reservation_id") if isinstance(b, dict) else None for b in (primary.body, shadow.body)
            )
            if isinstance(p_res, str) and isinstance(s_res, str):
                self.pair(Kind.RESERVATION, p_res, s_res)
        elif segments[-1:] == ["action"] and isinstance(request.body, dict) and "createImage" in request.body:
            # Nova answers a snapshot's image id in Location (2.1-2.44) or as {"image_id"} (2.45+).
            p_img = _body_image_id(primary.body) or _location_id(primary)
            s_img = _body_image_id(shadow.body) or _location_id(shadow)
            if p_img and s_img:
                self.pair(Kind.IMAGE, p_img, s_img)

    # -- lookups ----------------------------------------------------------------------------------------

    def shadow_id(self, kind: Kind, primary_id: str) -> str | None:
        """The shadow's id for the primary's ``primary_id`` of ``kind``, None when not known."""
        paired = self._paired[kind].get(primary_id)
        if paired is not None:
            return str(paired)
        name = self._primary_names[kind].get(primary_id)
        if name is None:
            return None
        found = self._shadow_ids[kind].get(name)
        return found if isinstance(found, str) else None

    def corresponds(self, primary_value: str, shadow_value: str) -> bool:
        """True when the two sides' values name the same thing (of any kind) as far as the map knows."""
        return any(self.shadow_id(kind, primary_value) == shadow_value for kind in Kind)

    # -- rewriting --------------------------------------------------------------------------------------

    def rewrite(self, request: HttpRequest) -> Rewritten:
        """``request`` as the shadow must receive it: the primary's ids replaced by the shadow's."""
        unmapped: list[str] = []
        path = self._rewrite_path(request.path, unmapped)
        query = self._rewrite_query(request.query, request.path, unmapped)
        body = (
            self._rewrite_body(request.body, None, unmapped) if is_json_body(request.body) else request.body
        )
        rewritten = replace(request, path=path, query=query, body=body)
        return Rewritten(rewritten, tuple(dict.fromkeys(unmapped)))

    def _map(self, kind: Kind, value: str, unmapped: list[str]) -> str:
        found = self.shadow_id(kind, value)
        if found is None:
            by_name = isinstance(self._shadow_ids[kind].get(value), str)
            if by_name or (kind in _UUID_KINDS and not _UUID.match(value)):
                return value  # a lookup by name (``GET /flavors/m1.tiny``): the same on both sides
            unmapped.append(f"no shadow id for the primary's {kind} {value}")
            return value
        return found

    def _rewrite_path(self, path: str, unmapped: list[str]) -> str:
        segments = path.split("/")
        out = list(segments)
        for index in range(1, len(segments)):
            kind = COLLECTION_KIND.get(segments[index - 1])
            value = segments[index]
            if kind is None or value in _NOT_IDS:
                continue
            if kind is Kind.PROJECT and self.shadow_id(kind, value) is None:
                continue  # a quota/usage path may name the caller's own project; nothing to report
            out[index] = quote(self._map(kind, value, unmapped), safe="")
        out = self._rewrite_project_segment(out)
        return "/".join(out)

    def _rewrite_project_segment(self, segments: list[str]) -> list[str]:
        project = project_segment("/".join(segments))
        shadow = self.shadow_id(Kind.PROJECT, project) if project else None
        if shadow is not None:
            segments[3] = quote(shadow, safe="")
        return segments

    def _rewrite_query(self, query: str, path: str, unmapped: list[str]) -> str:
        if not query:
            return query
        # A list's ``marker`` is an id of the listed collection (the path's last collection name).
        named = [COLLECTION_KIND[s] for s in path.split("/") if s in COLLECTION_KIND]
        list_kind = named[-1] if named else None
        pairs = parse_qsl(query, keep_blank_values=True)
        changed = False
        out: list[tuple[str, str]] = []
        for key, value in pairs:
            kind = QUERY_KINDS.get(key) or (list_kind if key == "marker" else None)
            if kind is not None and value:
                mapped = self._map_ref(kind, value, unmapped)
                changed = changed or mapped != value
                value = mapped
            out.append((key, value))
        return urlencode(out) if changed else query

    def _map_ref(self, kind: Kind, value: str, unmapped: list[str]) -> str:
        """An id, or a URL ending in one (Nova accepts ``flavorRef``/``imageRef`` as links)."""
        if "/" in value:
            head, _, last = value.rstrip("/").rpartition("/")
            return f"{head}/{self._map(kind, last, unmapped)}"
        return self._map(kind, value, unmapped)

    def _rewrite_body(self, body: Any, parent_key: str | None, unmapped: list[str]) -> Any:
        if isinstance(body, dict):
            out: dict[str, Any] = {}
            for key, value in body.items():
                kind = BODY_KINDS.get(key)
                if key == "uuid" and parent_key == "networks":
                    kind = Kind.NETWORK
                elif (
                    key == "uuid"
                    and parent_key == "block_device_mapping_v2"
                    and body.get("source_type") == "image"
                ):
                    kind = Kind.IMAGE
                if kind is not None and isinstance(value, str) and value:
                    out[key] = self._map_ref(kind, value, unmapped)
                elif kind is Kind.SERVER_GROUP and isinstance(value, list):
                    out[key] = [self._map(kind, v, unmapped) if isinstance(v, str) else v for v in value]
                else:
                    out[key] = self._rewrite_body(value, key, unmapped)
            return out
        if isinstance(body, list):
            return [self._rewrite_body(item, parent_key, unmapped) for item in body]
        return body


# Nova's top-level collections: never a project id in ``/compute/v2.1/{project_id}/...``.
_NOVA_COLLECTIONS = frozenset({"servers", "flavors", "images", "limits", "extensions"})


def project_segment(path: str) -> str | None:
    """The project of a compute path ``/compute/v2.1/{project_id}/...`` (or ``/compute/v2/...``), if named."""
    segments = path.split("/")
    if len(segments) > 3 and segments[1] == "compute" and segments[2] in ("v2.1", "v2"):
        candidate = segments[3]
        if candidate and candidate not in _NOVA_COLLECTIONS and not candidate.startswith("os-"):
            return candidate
    return None


def without_project(path: str) -> str:
    """A compute path or link without its project segment (``/compute/v2.1/{p}/servers`` and the bookmark
    ``/compute/{p}/servers``): whether a cloud's links name the project is its catalog's choice."""
    segments = path.split("/")
    if len(segments) > 2 and segments[1] == "compute":
        at = 3 if len(segments) > 3 and segments[2] in ("v2.1", "v2") else 2
        candidate = segments[at] if len(segments) > at else ""
        if candidate and candidate not in _NOVA_COLLECTIONS and not candidate.startswith("os-"):
            if at == 2 and (candidate[:1] == "v" and candidate[1:2].isdigit()):
                return path
            del segments[at]
    return "/".join(segments)


def with_project(path: str, project: str) -> str:
    """A compute path under ``/compute/v2.1`` or ``/compute/v2`` that names no project, with ``project``
    (the gateway needs it where Nova's URL may omit it: a create on networks)."""
    segments = path.split("/")
    if (
        len(segments) > 3
        and segments[1] == "compute"
        and segments[2] in ("v2.1", "v2")
        and segments[3]
        and project_segment(path) is None
    ):
        segments.insert(3, quote(project, safe=""))
    return "/".join(segments)


def _body_image_id(body: Any) -> str | None:
    value = body.get("image_id") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None
