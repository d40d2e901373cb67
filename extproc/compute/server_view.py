"""Nova's view of a VM pod: ``pod dict -> server dict`` at the request's microversion.

One builder, one method per representation, as ``nova/api/openstack/compute/views/servers.py``:
``basic`` (index items), ``show`` (show and detail items), ``update`` (the PUT reply), ``rebuild`` (the
rebuild reply), ``create`` (the POST reply). The builder is pure: everything it needs (public URL, the URL's
project, lookups of images and flavors, the microversion) is passed to its constructor, and it never reads
anything else. Each field of a later microversion is gated beside it, as Nova's view builder does.

``OS-EXT-SRV-ATTR:*`` (2.3's extended attributes too) and 2.16's ``host_status`` are left out on purpose:
Nova's default policy shows them to admins only, and the gateway does not know whether the caller is one
(Arktos alone decides). 2.90 made ``OS-EXT-SRV-ATTR:hostname`` everyone's: it is shown from 2.90.

What a view takes from a pod alone is read once per pod version for lists (``pod_facts``); pure readers of
one pod's fields are in ``server_fields``, 2.47's embedded flavor in ``server_flavor``.

Prerendered servers (issue 13 lever 2): a list item is kept as the JSON bytes of its representation,
memoized by the pod's (uid, resourceVersion) plus everything else the representation depends on
(``_rendered``: the microversion, the link prefixes, the displayed name, the pending task, the image id
the catalog resolved), so a page of 1,000 servers is a join of bytes, not 1,000 renders. The memo wraps
the view methods (``basic``/``_show``), it does not replace them: whoever adds to a representation
something that is neither in the pod nor in that key (a catalog read, another cache) must add it to the
key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from extproc.compute import server_lock
from extproc.compute.pod_facts import PodFacts, facts, list_facts
from extproc.compute.server_fields import (
    Json,
    addresses,
    cached_server_state,
    default_hostname,
    display_name,
    server_id,
    user_data,
)
from extproc.compute.server_flavor import FlavorLike, FlavorLookup, flavor_snapshot, pod_flavor

# Nova shows progress only in these statuses (views/servers.py _progress_statuses).
PROGRESS_STATUSES = frozenset({"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"})
# ... and a fault only in these (_fault_statuses).
FAULT_STATUSES = frozenset({"ERROR", "DELETED"})

# (tenant, VM image URL) -> catalog image id, or None.
ImageLookup = Callable[[str | None, str], str | None]
# pod -> the Nova task state of an action in flight on it (reboot, snapshot...), or None.
TaskLookup = Callable[[Mapping[str, Any]], str | None]


@functools.lru_cache(maxsize=4096)
def _quoted(segment: str) -> str:
    """A path segment as links carry it (ids repeat: the same flavors, images and servers in every reply)."""
    return quote(segment, safe="")


# Prerendered list items: (kind, uid, resourceVersion, request's render key, name, task, image) -> JSON bytes.
# Detail items are ~1.2 KB; 16,384 of them (a 10,000-server tenant listed at two microversions or with two
# link prefixes) are ~25 MB at most.
RENDERED_CAPACITY = 16384
_rendered: dict[tuple[Any, ...], bytes] = {}


def _remember(key: tuple[Any, ...], rendered: bytes) -> bytes:
    if len(_rendered) >= RENDERED_CAPACITY:
        # Oldest first, as ``pod_facts._facts_memo``.
        del _rendered[next(iter(_rendered))]
    _rendered[key] = rendered
    return rendered


class ServerView:
    """Nova's server view builder for one request."""

    def __init__(
        self,
        public_url: str,
        project: str | None,
        image_lookup: ImageLookup | None = None,
        task_lookup: TaskLookup | None = None,
        version: tuple[int, int] = (2, 1),
        flavor_lookup: FlavorLookup | None = None,
    ) -> None:
        self.public_url = public_url
        # A server's flavor (2.47) when its pod has no snapshot of it (pods made before the gateway kept one).
        self.flavor_lookup = flavor_lookup
        # The request's compute microversion: fields Nova adds in later microversions follow it.
        self.version = version
        # The project segment of the request URL: Nova repeats it in every link it builds.
        self.project = project
        self.image_lookup = image_lookup
        # Arktos's pod does not show actions in flight; the caller knows them (the watch-fed cache).
        self.task_lookup = task_lookup
        prefix = f"/{quote(project, safe='')}" if project else ""
        # Built once per request: every link of every server starts with one of these.
        self._versioned = f"{public_url}/compute/v2.1{prefix}"
        self._unversioned = f"{public_url}/compute{prefix}"
        # What every prerendered item of this request shares besides the pod (see ``_rendered``).
        self._render_key = (version, self._versioned, self._unversioned)

    @property
    def render_key(self) -> tuple[tuple[int, int], str, str]:
        """What this view's renders depend on besides pods and lookups: the microversion and the link
        prefixes (public URL, the URL's project). Part of every memo of what it renders."""
        return self._render_key

    # -- links --------------------------------------------------------------------------------------

    def _prefix(self) -> str:
        return f"/{quote(self.project, safe='')}" if self.project else ""

    def self_url(self, sid: str) -> str:
        return f"{self._versioned}/servers/{_quoted(sid)}"

    def bookmark_url(self, collection: str, item_id: str) -> str:
        return f"{self._unversioned}/{collection}/{_quoted(item_id)}"

    def links(self, sid: str) -> list[Json]:
        return self._links(_quoted(sid))

    def _links(self, quoted_sid: str) -> list[Json]:
        return [
            {"rel": "self", "href": f"{self._versioned}/servers/{quoted_sid}"},
            {"rel": "bookmark", "href": f"{self._unversioned}/servers/{quoted_sid}"},
        ]

    def collection_url(self, detail: bool) -> str:
        suffix = "/servers/detail" if detail else "/servers"
        return f"{self._versioned}{suffix}"

    # -- pieces -------------------------------------------------------------------------------------

    def image(self, pod: Mapping[str, Any]) -> Json | str:
        return self._image(facts(pod))

    def _image_id(self, f: PodFacts) -> str | None:
        image_id = f.image_id
        if not image_id and self.image_lookup is not None and f.image_url:
            image_id = self.image_lookup(f.tenant or self.project, f.image_url)
        return image_id

    def _image(self, f: PodFacts) -> Json | str:
        image_id = self._image_id(f)
        if not image_id:
            # NOTE: Nova shows "" for a server booted from a volume; here: an image the catalog lacks.
            return ""
        image: Json = {
            "id": image_id,
            "links": [{"rel": "bookmark", "href": self.bookmark_url("images", image_id)}],
        }
        if self.version >= (2, 98):
            image["properties"] = dict(f.image_properties)
        return image

    def flavor(self, pod: Mapping[str, Any]) -> Json | str:
        return self._flavor(facts(pod), pod)

    def _flavor(self, f: PodFacts, pod: Mapping[str, Any]) -> Json | str:
        flavor_id = f.flavor_id
        if self.version >= (2, 47):
            # Nova shows the flavor the server was booted with, whatever became of the catalog's since.
            if f.flavor_snapshot is not None:
                return dict(f.flavor_snapshot)
            found = (
                self.flavor_lookup(f.tenant or self.project, flavor_id)
                if flavor_id and self.flavor_lookup
                else None
            )
            return flavor_snapshot(found) if found is not None else pod_flavor(pod, flavor_id or "")
        if not flavor_id:
            return ""
        return {
            "id": flavor_id,
            "links": [{"rel": "bookmark", "href": self.bookmark_url("flavors", flavor_id)}],
        }

    # -- representations ----------------------------------------------------------------------------

    def basic(self, pod: Mapping[str, Any]) -> Json:
        """An item of ``GET /servers``."""
        sid = server_id(pod)
        return {"id": sid, "name": display_name(pod), "links": self.links(sid)}

    def show(
        self,
        pod: Mapping[str, Any],
        pending_task: str | None = None,
        extended: bool = True,
        *,
        key_name: bool | None = None,
        server_groups: bool | None = None,
    ) -> Json:
        """``GET /servers/{id}`` (and, with its flags, the PUT and rebuild replies).

        ``extended`` False leaves out the extension attributes, as Nova's PUT and rebuild replies do below
        2.75; ``key_name`` (default: ``extended``) and ``server_groups`` (default: from 2.71, as show
        has them) say what such a reply keeps.
        """
        groups = self.version >= (2, 71) if server_groups is None else server_groups
        return self._show(facts(pod), pod, pending_task, extended, key_name, groups)

    def _show(
        self,
        f: PodFacts,
        pod: Mapping[str, Any],
        pending_task: str | None,
        extended: bool,
        key_name: bool | None = None,
        server_groups: bool = False,
    ) -> Json:
        if pending_task is None and self.task_lookup is not None:
            pending_task = self.task_lookup(pod)
        state = cached_server_state(f.pod_state, pending_task)
        status = state.status
        sid = f.sid
        server: Json = {
            "id": sid,
            "name": display_name(pod),
            "status": status,
            "tenant_id": f.tenant,
            "user_id": f.user_id,
            "metadata": dict(f.metadata),
            "hostId": f.host_id,
            "image": self._image(f),
            "flavor": self._flavor(f, pod),
            "created": f.created_text,
            "updated": f.updated_text,
            "addresses": f.addresses if extended else addresses(pod, extended=False),
            "accessIPv4": f.access_ipv4,
            "accessIPv6": f.access_ipv6,
            "links": self._links(f.sid_quoted),
            "OS-DCF:diskConfig": "MANUAL",
        }
        if status in FAULT_STATUSES:
            server["fault"] = {"code": 500, "created": f.updated_text, "message": f.fault_message}
        if status in PROGRESS_STATUSES:
            server["progress"] = 100 if status == "ACTIVE" else 0
        if extended:
            server["OS-EXT-AZ:availability_zone"] = f.availability_zone
            server["config_drive"] = ""
        if extended if key_name is None else key_name:
            server["key_name"] = f.key_name
        if extended:
            # NOTE: launched_at is set when the guest first became active, never while building.
            server["OS-SRV-USG:launched_at"] = f.launched_text if state.vm_state != "building" else None
            server["OS-SRV-USG:terminated_at"] = None
            if f.addresses:
                # NOTE: Nova reads security groups from the server's ports; before it has one (BUILD, fixture
                # 10) the key is absent.
                server["security_groups"] = [{"name": "default"}]
            server["OS-EXT-STS:task_state"] = state.task_state
            server["OS-EXT-STS:vm_state"] = state.vm_state
            server["OS-EXT-STS:power_state"] = state.power_state
            server["os-extended-volumes:volumes_attached"] = []
        if self.version > (2, 1):
            self._later_fields(server, f, pod, extended, server_groups)
        return server

    def _later_fields(
        self, server: Json, f: PodFacts, pod: Mapping[str, Any], extended: bool, server_groups: bool
    ) -> None:
        """What later microversions add to a server (views/servers.py ``show``, in Nova's order)."""
        version = self.version
        # 2.9 locked and 2.73 locked_reason.
        server.update(server_lock.view_fields(pod, version))
        if version >= (2, 19):
            server["description"] = f.description
        if version >= (2, 26):
            server["tags"] = list(f.tags)
        if version >= (2, 63):
            # NOTE: no server has trusted certificates here: Arktos verifies no image signature, so a
            # create or rebuild naming some is refused (create_request.trusted_certs_unsupported).
            server["trusted_image_certificates"] = None
        if server_groups:
            # 2.71 (show, PUT, rebuild; not the detail list): at most one group, as Nova's.
            server["server_groups"] = [f.server_group] if f.server_group else []
        if version >= (2, 90):
            server["OS-EXT-SRV-ATTR:hostname"] = f.hostname or default_hostname(display_name(pod), f.sid)
        if extended and version >= (2, 96):
            server["pinned_availability_zone"] = f.pinned_az
        if version >= (2, 100):
            server["scheduler_hints"] = dict(f.scheduler_hints)

    def update(self, pod: Mapping[str, Any]) -> Json:
        """The reply of ``PUT /servers/{id}``: below 2.75 Nova's show without the extension attributes,
        from 2.75 all of show."""
        return self.show(pod, extended=self.version >= (2, 75))

    def rebuild(self, pod: Mapping[str, Any], pending_task: str | None = None) -> Json:
        """The reply of the rebuild action (servers.py ``_rebuild``): show without the extension attributes
        below 2.75 (keeping ``key_name`` from 2.54), all of it from 2.75, and the user data from 2.57."""
        server = self.show(
            pod, pending_task, extended=self.version >= (2, 75), key_name=self.version >= (2, 54)
        )
        if self.version >= (2, 57):
            server["user_data"] = user_data(pod)
        return server

    def create(self, sid: str) -> Json:
        """The reply of ``POST /servers`` (fixture 09) as Nova gives it with instance passwords disabled
        (``enable_instance_password = False``): no ``adminPass``, since no Arktos VM would receive one."""
        return {
            "id": sid,
            "links": self.links(sid),
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": "default"}],
        }

    def index(self, pods: Iterable[Mapping[str, Any]]) -> list[Json]:
        return [self.basic(pod) for pod in pods]

    def detail(self, pods: Iterable[Mapping[str, Any]]) -> list[Json]:
        """The items of ``GET /servers/detail`` (pods from an Arktos list or the watch cache)."""
        return [self._show(list_facts(pod), pod, None, True) for pod in pods]

    def index_json(self, pods: Iterable[Mapping[str, Any]]) -> list[bytes]:
        """The items of ``GET /servers`` as JSON bytes: ``index``, prerendered (see ``_rendered``)."""
        found = _rendered.get
        out: list[bytes] = []
        for pod in pods:
            meta = pod.get("metadata") or {}
            uid = meta.get("uid")
            rv = meta.get("resourceVersion")
            if not uid or not rv:
                out.append(orjson.dumps(self.basic(pod)))
                continue
            key = ("basic", uid, rv, self._render_key, display_name(pod))
            rendered = found(key)
            out.append(rendered if rendered is not None else _remember(key, orjson.dumps(self.basic(pod))))
        return out

    def _catalog_flavor(self, f: PodFacts) -> FlavorLike | None:
        """The catalog flavor a 2.47 item shows (a pod without its own snapshot): part of the memo key."""
        if (
            self.version < (2, 47)
            or f.flavor_snapshot is not None
            or not f.flavor_id
            or not self.flavor_lookup
        ):
            return None
        return self.flavor_lookup(f.tenant or self.project, f.flavor_id)

    def detail_json(self, pods: Iterable[Mapping[str, Any]]) -> list[bytes]:
        """The items of ``GET /servers/detail`` as JSON bytes: ``detail``, prerendered (see ``_rendered``)."""
        return [self._prerendered("show", pod, False) for pod in pods]

    def show_json(self, pod: Mapping[str, Any]) -> bytes:
        """``show`` of a pod the watch cache holds, as JSON bytes, prerendered (see ``_rendered``): a
        ``GET /servers/{id}`` answered from the cache (issue 13 lever 1) renders a pod version once."""
        return self._prerendered("server", pod, self.version >= (2, 71))

    def _prerendered(self, kind: str, pod: Mapping[str, Any], server_groups: bool) -> bytes:
        """``_show`` of ``pod`` (extended), memoized by (``kind``, uid, resourceVersion) plus everything else
        the representation depends on; ``kind`` "show" (detail items) has no server groups, "server" (show)
        has them from 2.71."""
        meta = pod.get("metadata") or {}
        uid = meta.get("uid")
        rv = meta.get("resourceVersion")
        f = list_facts(pod)
        if not uid or not rv:
            return orjson.dumps(self._show(f, pod, None, True, server_groups=server_groups))
        tasks = self.task_lookup
        task = tasks(pod) if tasks is not None else None
        key = (
            kind,
            uid,
            rv,
            self._render_key,
            display_name(pod),
            task,
            self._image_id(f),
            self._catalog_flavor(f),
        )
        rendered = _rendered.get(key)
        if rendered is None:
            rendered = _remember(
                key, orjson.dumps(self._show(f, pod, task, True, server_groups=server_groups))
            )
        return rendered
