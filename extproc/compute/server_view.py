"""Nova's view of a VM pod: ``pod dict -> server dict`` at the request's microversion.

One builder, one method per representation, as ``nova/api/openstack/compute/views/servers.py``:
``basic`` (index items), ``show`` (show and detail items), ``update`` (the PUT reply), ``rebuild`` (the
rebuild reply), ``create`` (the POST reply). The builder is pure: everything it needs (public URL, the URL's
project, lookups of images and flavors, the microversion) is passed to its constructor, and it never reads
anything else. Each field of a later microversion is gated beside it, as Nova's view builder does.

``OS-EXT-SRV-ATTR:*`` (2.3's extended attributes too) and 2.16's ``host_status`` are left out on purpose:
Nova's default policy shows them to admins only, and the gateway does not know whether the caller is one
(Arktos alone decides). 2.90 made ``OS-EXT-SRV-ATTR:hostname`` everyone's: it is shown from 2.90.

Speed: a list renders up to 1,000 servers per request, mostly the same pods again and again. What a view
takes from a pod alone (times, hashes, addresses, metadata, the pod's state inputs: ``PodFacts``) is, for
lists, computed once per pod version: ``list_facts`` memoizes it by (uid, resourceVersion), which Arktos
changes with every write of the object, so one key never names two contents of a pod from Arktos (the
processor changes none, except the displayed name of batch members, which is not a fact). What depends on
the request (links with the URL's project, the catalog's image, an action in flight, the displayed name)
is assembled per request. Single-server views (``show``) and the state rules read a pod afresh
(``facts``): one pod, nothing to gain, and pods made by hand (tests) may reuse a uid and version.

Prerendered servers (issue 13 lever 2): a list item is kept as the JSON bytes of its representation,
memoized by the pod's (uid, resourceVersion) plus everything else the representation depends on
(``_rendered``: the microversion, the link prefixes, the displayed name, the pending task, the image id
the catalog resolved), so a page of 1,000 servers is a join of bytes, not 1,000 renders. The memo wraps
the view methods (``basic``/``_show``), it does not replace them: whoever adds to a representation
something that is neither in the pod nor in that key (a catalog read, another cache) must add it to the
key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from extproc import annotations as keys
from extproc.compute import server_lock
from extproc.compute.schemas import canonical_ip
from extproc.compute.server_status import PodState, ServerState, pod_state, server_state
from extproc.errors import names_kubernetes
from extproc.network.objects import DEFAULT_NETWORK, NETWORK_LABEL, nic_addresses

Version = tuple[int, int]

AVAILABILITY_ZONE = "nova"
# Nova shows progress only in these statuses (views/servers.py _progress_statuses).
PROGRESS_STATUSES = frozenset({"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"})
# ... and a fault only in these (_fault_statuses).
FAULT_STATUSES = frozenset({"ERROR", "DELETED"})

NOVA_TIME = "%Y-%m-%dT%H:%M:%SZ"
USAGE_TIME = "%Y-%m-%dT%H:%M:%S.%f"

# (tenant, VM image URL) -> catalog image id, or None.
ImageLookup = Callable[[str | None, str], str | None]
# pod -> the Nova task state of an action in flight on it (reboot, snapshot...), or None.
TaskLookup = Callable[[Mapping[str, Any]], str | None]


class FlavorLike(Protocol):
    """What 2.47's embedded flavor takes from a catalog flavor."""

    @property
    def name(self) -> str: ...
    @property
    def vcpus(self) -> int: ...
    @property
    def ram(self) -> int: ...
    @property
    def disk(self) -> int: ...
    @property
    def ephemeral(self) -> int: ...
    @property
    def swap(self) -> int: ...
    @property
    def extra_specs(self) -> Mapping[str, str]: ...


# (tenant, flavor id) -> the catalog's flavor, or None.
FlavorLookup = Callable[[str | None, str], FlavorLike | None]

Json = dict[str, Any]


def parse_time(value: Any) -> datetime | None:
    """A Kubernetes RFC 3339 timestamp (or any ISO 8601 one) as an aware UTC datetime; None if unusable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def nova_time(value: datetime) -> str:
    return value.strftime(NOVA_TIME)


def usage_time(value: datetime) -> str:
    # NOTE: OS-SRV-USG timestamps are naive and carry microseconds, unlike created/updated.
    return value.strftime(USAGE_TIME)


@functools.lru_cache(maxsize=4096)
def _quoted(segment: str) -> str:
    """A path segment as links carry it (ids repeat: the same flavors, images and servers in every reply)."""
    return quote(segment, safe="")


def _annotations(pod: Mapping[str, Any]) -> Mapping[str, str]:
    found = (pod.get("metadata") or {}).get("annotations")
    return found if isinstance(found, dict) else {}


def server_id(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name") or "")


def display_name(pod: Mapping[str, Any]) -> str:
    return _annotations(pod).get(keys.DISPLAY_NAME) or server_id(pod)


def tenant_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("tenant") or "")


def is_server(pod: Any) -> bool:
    """Only VM pods are servers; container pods are invisible to the compute API."""
    return isinstance(pod, dict) and isinstance((pod.get("spec") or {}).get("virtualMachine"), dict)


def created_at(pod: Mapping[str, Any]) -> datetime | None:
    return parse_time((pod.get("metadata") or {}).get("creationTimestamp"))


def updated_at(pod: Mapping[str, Any]) -> datetime | None:
    """The latest thing that happened to the pod: creation, start, or a condition transition."""
    status = pod.get("status") or {}
    times = [created_at(pod), parse_time(status.get("startTime"))]
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict):
            times.append(parse_time(condition.get("lastTransitionTime")))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def server_metadata(pod: Mapping[str, Any]) -> dict[str, str]:
    raw = _annotations(pod).get(keys.METADATA)
    if not raw:
        return {}
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(k): str(v) for k, v in parsed.items()}


def _json_annotation(found: Mapping[str, str], key: str) -> Any:
    """An annotation the gateway wrote as JSON, or None when absent or unreadable."""
    raw = found.get(key)
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def default_hostname(name: str, sid: str) -> str:
    """Nova's hostname for a server it was given none for (compute/api.py ``_populate_instance_names``
    over utils.sanitize_hostname): the display name made a host name, else "Server-<id>"."""
    hostname = name.encode("latin-1", "ignore").decode("latin-1")[:63]
    hostname = re.sub(r"[ _\.]", "-", hostname)
    hostname = re.sub(r"[^\w.-]+", "", hostname)
    hostname = hostname.lower().strip(".-")
    return hostname or f"Server-{sid}"


def flavor_snapshot(flavor: FlavorLike) -> Json:
    """The flavor as Nova keeps it in the instance at boot and 2.47 shows it (``_get_flavor_dict``); the
    extra specs are shown since the default policy lets project members see them."""
    return {
        "vcpus": flavor.vcpus,
        "ram": flavor.ram,
        "disk": flavor.disk,
        "ephemeral": flavor.ephemeral,
        "swap": flavor.swap,
        "original_name": flavor.name,
        "extra_specs": dict(flavor.extra_specs),
    }


def _resource_quantity(value: object, unit: int) -> int:
    """A pod resource quantity ("2", "512Mi", "1Gi") in ``unit`` bytes (1 for counts), 0 if unreadable."""
    text = str(value or "")
    for suffix, factor in (("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40)):
        if text.endswith(suffix) and text[: -len(suffix)].isdigit():
            return int(text[: -len(suffix)]) * factor // unit
    return int(text) // unit if text.isdigit() else 0


def pod_flavor(pod: Mapping[str, Any], flavor_id: str) -> Json:
    """2.47's flavor of a VM pod without a snapshot, from what Arktos runs (its CPU and memory); the
    flavor's disks are not in the pod (Arktos VMs boot from the image's own disk)."""
    vm = (pod.get("spec") or {}).get("virtualMachine") or {}
    limits = (vm.get("resources") or {}).get("limits") or {}
    return {
        "vcpus": _resource_quantity(limits.get("cpu"), 1),
        "ram": _resource_quantity(limits.get("memory"), 1 << 20),
        "disk": 0,
        "ephemeral": 0,
        "swap": 0,
        "original_name": flavor_id,
        "extra_specs": {},
    }


def user_data(pod: Mapping[str, Any]) -> str | None:
    """The user data as the client gave it (base64 text): Arktos's ``userData`` is those bytes, which JSON
    carries base64-encoded once more (see ``create_request.build_pod``)."""
    raw = ((pod.get("spec") or {}).get("virtualMachine") or {}).get("userData")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return base64.b64decode(raw, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None


# ``server_state`` scans the rule table; its inputs are few distinct small frozen values.
_server_state = functools.lru_cache(maxsize=1024)(server_state)


def state_of(pod: Mapping[str, Any], pending_task: str | None = None) -> ServerState:
    return _server_state(pod_state(pod), pending_task)


def list_state(f: PodFacts, pending_task: str | None = None) -> ServerState:
    return _server_state(f.pod_state, pending_task)


def host_id(tenant: str, node: str) -> str:
    """Nova's hostId: an opaque per-project hash of the host, "" while unscheduled."""
    if not node:
        return ""
    return hashlib.sha224((tenant + node).encode()).hexdigest()


def mac_address(pod: Mapping[str, Any], ip: str) -> str:
    """A stable, locally administered MAC in OpenStack's fa:16:3e range (Arktos does not report one)."""
    seed = f"{tenant_of(pod)}/{server_id(pod)}/{ip}".encode()
    digest = hashlib.sha256(seed).digest()
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])


def pod_ips(pod: Mapping[str, Any]) -> list[str]:
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or [] if isinstance(p, dict) and p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    return [str(ip) for ip in ips]


def _access_ip(recorded: object) -> str:
    """A recorded access address in canonical form (a pod annotated before the gateway stored it so, or by
    hand, shows as Nova would)."""
    return canonical_ip(recorded) if isinstance(recorded, str) else ""


def _first_ip(ips: list[str], version: int) -> str:
    return next((ip for ip in ips if (6 if ":" in ip else 4) == version), "")


def addresses(pod: Mapping[str, Any], extended: bool = True) -> dict[str, list[Json]]:
    """The pod's addresses on its network: its IPs, and the fixed IPs of its other NICs (``spec.nics``)."""
    ips = pod_ips(pod)
    if not ips:
        return {}
    ips += [ip for _, ip in nic_addresses(pod)[1:] if ip and ip not in ips]
    labels = (pod.get("metadata") or {}).get("labels") or {}
    network = str(labels.get(NETWORK_LABEL) or DEFAULT_NETWORK)
    entries: list[Json] = []
    for ip in ips:
        entry: Json = {"version": 6 if ":" in ip else 4, "addr": ip}
        if extended:
            entry["OS-EXT-IPS:type"] = "fixed"
            entry["OS-EXT-IPS-MAC:mac_addr"] = mac_address(pod, ip)
        entries.append(entry)
    return {network: entries}


def _fault_message(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    vm_status = status.get("virtualMachineStatus") or {}
    for candidate in (status.get("message"), status.get("reason"), vm_status.get("lastTerminationState")):
        if isinstance(candidate, str) and candidate:
            # A kubelet's reason (eviction, admission) names pods and namespaces: not for OpenStack clients.
            return "The virtual machine failed." if names_kubernetes(candidate) else candidate
    return "The virtual machine failed."


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What the views take from one version of a pod alone (see the module docstring). Read-only: the
    containers here are shared by every reply rendered from that pod version."""

    sid: str
    sid_quoted: str  # as links carry it
    tenant: str
    user_id: str
    metadata: Mapping[str, str]
    host_id: str
    created: datetime | None
    updated: datetime | None
    created_text: str
    updated_text: str
    ips: list[str]
    addresses: Mapping[str, list[Json]]
    access_ipv4: str
    access_ipv6: str
    pod_state: PodState
    fault_message: str
    availability_zone: str
    key_name: str | None
    launched_text: str | None  # startTime as OS-SRV-USG shows it, None if not started
    image_id: str | None  # the image-id annotation
    image_url: str | None  # the VM's image URL (catalog lookup when the annotation is missing)
    flavor_id: str | None
    # Later microversions' fields (annotations the gateway wrote; see ``extproc.annotations``).
    description: str | None
    tags: tuple[str, ...]
    hostname: str | None  # None: derived from the display name (a batch member's "name-<index>")
    pinned_az: str | None
    scheduler_hints: Mapping[str, Any]
    flavor_snapshot: Mapping[str, Any] | None
    image_properties: Mapping[str, str]
    server_group: str | None


# Facts by (uid, resourceVersion): a server list's page is 1,000 pods; the memo holds several pages.
FACTS_CAPACITY = 8192
_facts_memo: dict[tuple[str, str], PodFacts] = {}


def _read_facts(pod: Mapping[str, Any]) -> PodFacts:
    found = _annotations(pod)
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    tenant = tenant_of(pod)
    created = created_at(pod)
    updated = updated_at(pod) or created
    started = parse_time(status.get("startTime"))
    url = (spec.get("virtualMachine") or {}).get("image")
    sid = server_id(pod)
    ips = pod_ips(pod)
    return PodFacts(
        sid=sid,
        sid_quoted=quote(sid, safe=""),
        tenant=tenant,
        user_id=found.get(keys.USER_ID, ""),
        metadata=server_metadata(pod),
        host_id=host_id(tenant, str(spec.get("nodeName") or "")),
        created=created,
        updated=updated,
        created_text=nova_time(created) if created else "",
        updated_text=nova_time(updated) if updated else "",
        ips=ips,
        addresses=addresses(pod),
        # NOTE: Nova's accessIPv4/6 "may be automatically set by the provider": without one the user set,
        # the VM's own address is the one to reach it by (Arktos has no floating IPs). openstacksdk's
        # create_server(auto_ip=True) reads it as the public address and so asks for no floating IP.
        access_ipv4=_access_ip(found.get(keys.ACCESS_IPV4)) or _first_ip(ips, 4),
        access_ipv6=_access_ip(found.get(keys.ACCESS_IPV6)) or _first_ip(ips, 6),
        pod_state=pod_state(pod),
        fault_message=_fault_message(pod),
        # NOTE: Nova fills the zone in when the instance is scheduled (fixture 10: "" in BUILD).
        availability_zone=AVAILABILITY_ZONE if spec.get("nodeName") else "",
        key_name=ServerView.key_name(pod),
        launched_text=usage_time(started) if started else None,
        image_id=found.get(keys.IMAGE_ID) or None,
        image_url=url if isinstance(url, str) and url else None,
        flavor_id=found.get(keys.FLAVOR_ID) or None,
        **_later_facts(pod, found),
    )


def _later_facts(pod: Mapping[str, Any], found: Mapping[str, str]) -> dict[str, Any]:
    description = _json_annotation(found, keys.DESCRIPTION)
    tags = _json_annotation(found, keys.TAGS)
    hints = _json_annotation(found, keys.SCHEDULER_HINTS)
    flavor = _json_annotation(found, keys.FLAVOR)
    properties = _json_annotation(found, keys.IMAGE_PROPERTIES)
    group = ((pod.get("metadata") or {}).get("labels") or {}).get(keys.SERVER_GROUP_LABEL)
    return {
        "description": description if isinstance(description, str) else None,
        "tags": tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        "hostname": found.get(keys.HOSTNAME) or None,
        "pinned_az": found.get(keys.PINNED_AZ) or None,
        "scheduler_hints": hints if isinstance(hints, dict) else {},
        "flavor_snapshot": flavor if isinstance(flavor, dict) else None,
        "image_properties": properties if isinstance(properties, dict) else {},
        "server_group": str(group) if group else None,
    }


def facts(pod: Mapping[str, Any]) -> PodFacts:
    """``PodFacts`` of ``pod``, read now."""
    return _read_facts(pod)


def list_facts(pod: Mapping[str, Any]) -> PodFacts:
    """``PodFacts`` of a pod Arktos listed, memoized by (uid, resourceVersion) when it has both."""
    meta = pod.get("metadata") or {}
    uid = meta.get("uid")
    rv = meta.get("resourceVersion")
    if not uid or not rv:
        return _read_facts(pod)
    key = (str(uid), str(rv))
    found = _facts_memo.get(key)
    if found is None:
        found = _read_facts(pod)
        if len(_facts_memo) >= FACTS_CAPACITY:
            # Oldest first (dicts keep insertion order): cheaper than an LRU's bookkeeping on every hit.
            del _facts_memo[next(iter(_facts_memo))]
        _facts_memo[key] = found
    return found


# Prerendered list items: (kind, uid, resourceVersion, request's render key, name, task, image) -> JSON bytes.
# Detail items are ~1.2 KB; 16,384 of them (a 10,000-server tenant listed at two microversions or with two
# link prefixes) are ~25 MB at most.
RENDERED_CAPACITY = 16384
_rendered: dict[tuple[Any, ...], bytes] = {}


def _remember(key: tuple[Any, ...], rendered: bytes) -> bytes:
    if len(_rendered) >= RENDERED_CAPACITY:
        # Oldest first, as ``_facts_memo``.
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

    @staticmethod
    def key_name(pod: Mapping[str, Any]) -> str | None:
        found = _annotations(pod)
        if found.get(keys.KEY_NAME):
            return found[keys.KEY_NAME]
        if found.get(keys.CREATED_BY) == keys.CREATED_BY_GATEWAY:
            # NOTE: the gateway fills keyPairName with the deployment's default key when the client gave
            # none (Arktos requires one); Nova would show no key, so does the gateway.
            return None
        vm = (pod.get("spec") or {}).get("virtualMachine") or {}
        return vm.get("keyPairName") or None

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
        state = _server_state(f.pod_state, pending_task)
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
        found = _rendered.get
        tasks = self.task_lookup
        out: list[bytes] = []
        for pod in pods:
            meta = pod.get("metadata") or {}
            uid = meta.get("uid")
            rv = meta.get("resourceVersion")
            f = list_facts(pod)
            if not uid or not rv:
                out.append(orjson.dumps(self._show(f, pod, None, True)))
                continue
            task = tasks(pod) if tasks is not None else None
            key = (
                "show",
                uid,
                rv,
                self._render_key,
                display_name(pod),
                task,
                self._image_id(f),
                self._catalog_flavor(f),
            )
            rendered = found(key)
            if rendered is None:
                rendered = _remember(key, orjson.dumps(self._show(f, pod, task, True)))
            out.append(rendered)
        return out
