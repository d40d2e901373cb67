"""Nova's view of a VM pod: ``pod dict -> server dict`` at microversion 2.1.

One builder, one method per representation, as ``nova/api/openstack/compute/views/servers.py``:
``basic`` (index items), ``show`` (show and detail items), ``update`` (the PUT reply), ``create`` (the
POST reply). The builder is pure: everything it needs (public URL, the URL's project, an image lookup by VM
image URL) is passed to its constructor, and it never reads anything else.

``OS-EXT-SRV-ATTR:*`` is left out on purpose: Nova shows it to admins only, and the gateway does not know
whether the caller is one (Arktos alone decides).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from extproc import annotations as keys
from extproc.compute.server_status import ServerState, pod_state, server_state

# The label Arktos pods name their network with (arktos-api.md: default network "default").
NETWORK_LABEL = "arktos.futurewei.com/network"
DEFAULT_NETWORK = "default"
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


def state_of(pod: Mapping[str, Any], pending_task: str | None = None) -> ServerState:
    return server_state(pod_state(pod), pending_task)


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


def addresses(pod: Mapping[str, Any], extended: bool = True) -> dict[str, list[Json]]:
    ips = pod_ips(pod)
    if not ips:
        return {}
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
            return candidate
    return "The virtual machine failed."


class ServerView:
    """Nova's server view builder for one request."""

    def __init__(
        self,
        public_url: str,
        project: str | None,
        image_lookup: ImageLookup | None = None,
        task_lookup: TaskLookup | None = None,
    ) -> None:
        self.public_url = public_url
        # The project segment of the request URL: Nova repeats it in every link it builds.
        self.project = project
        self.image_lookup = image_lookup
        # Arktos's pod does not show actions in flight; the caller knows them (the watch-fed cache).
        self.task_lookup = task_lookup

    # -- links --------------------------------------------------------------------------------------

    def _prefix(self) -> str:
        return f"/{quote(self.project, safe='')}" if self.project else ""

    def self_url(self, sid: str) -> str:
        return f"{self.public_url}/compute/v2.1{self._prefix()}/servers/{quote(sid, safe='')}"

    def bookmark_url(self, collection: str, item_id: str) -> str:
        return f"{self.public_url}/compute{self._prefix()}/{collection}/{quote(item_id, safe='')}"

    def links(self, sid: str) -> list[Json]:
        return [
            {"rel": "self", "href": self.self_url(sid)},
            {"rel": "bookmark", "href": self.bookmark_url("servers", sid)},
        ]

    def collection_url(self, detail: bool) -> str:
        suffix = "/servers/detail" if detail else "/servers"
        return f"{self.public_url}/compute/v2.1{self._prefix()}{suffix}"

    # -- pieces -------------------------------------------------------------------------------------

    def image(self, pod: Mapping[str, Any]) -> Json | str:
        image_id = _annotations(pod).get(keys.IMAGE_ID)
        if not image_id and self.image_lookup is not None:
            url = ((pod.get("spec") or {}).get("virtualMachine") or {}).get("image")
            if isinstance(url, str) and url:
                image_id = self.image_lookup(tenant_of(pod) or self.project, url)
        if not image_id:
            # NOTE: Nova shows "" for a server booted from a volume; here: an image the catalog lacks.
            return ""
        return {"id": image_id, "links": [{"rel": "bookmark", "href": self.bookmark_url("images", image_id)}]}

    def flavor(self, pod: Mapping[str, Any]) -> Json | str:
        flavor_id = _annotations(pod).get(keys.FLAVOR_ID)
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

    def show(self, pod: Mapping[str, Any], pending_task: str | None = None, extended: bool = True) -> Json:
        """``GET /servers/{id}`` and the items of ``GET /servers/detail``.

        ``extended`` False leaves out the extension attributes, as Nova's PUT reply does below 2.75.
        """
        sid = server_id(pod)
        tenant = tenant_of(pod)
        found = _annotations(pod)
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        if pending_task is None and self.task_lookup is not None:
            pending_task = self.task_lookup(pod)
        state = state_of(pod, pending_task)
        created = created_at(pod)
        updated = updated_at(pod) or created
        server: Json = {
            "id": sid,
            "name": display_name(pod),
            "status": state.status,
            "tenant_id": tenant,
            "user_id": found.get(keys.USER_ID, ""),
            "metadata": server_metadata(pod),
            "hostId": host_id(tenant, str(spec.get("nodeName") or "")),
            "image": self.image(pod),
            "flavor": self.flavor(pod),
            "created": nova_time(created) if created else "",
            "updated": nova_time(updated) if updated else "",
            "addresses": addresses(pod, extended),
            "accessIPv4": found.get(keys.ACCESS_IPV4, ""),
            "accessIPv6": found.get(keys.ACCESS_IPV6, ""),
            "links": self.links(sid),
            "OS-DCF:diskConfig": "MANUAL",
        }
        if state.status in FAULT_STATUSES:
            server["fault"] = {
                "code": 500,
                "created": server["updated"],
                "message": _fault_message(pod),
            }
        if state.status in PROGRESS_STATUSES:
            server["progress"] = 100 if state.status == "ACTIVE" else 0
        if not extended:
            return server
        started = parse_time(status.get("startTime"))
        server.update(
            {
                # NOTE: Nova fills the zone in when the instance is scheduled (fixture 10: "" in BUILD).
                "OS-EXT-AZ:availability_zone": AVAILABILITY_ZONE if spec.get("nodeName") else "",
                "config_drive": "",
                "key_name": self.key_name(pod),
                # NOTE: launched_at is set when the guest first became active, never while building.
                "OS-SRV-USG:launched_at": (
                    usage_time(started) if started and state.vm_state != "building" else None
                ),
                "OS-SRV-USG:terminated_at": None,
            }
        )
        if server["addresses"]:
            # NOTE: Nova reads security groups from the server's ports; before it has one (BUILD, fixture
            # 10) the key is absent.
            server["security_groups"] = [{"name": "default"}]
        server.update(
            {
                "OS-EXT-STS:task_state": state.task_state,
                "OS-EXT-STS:vm_state": state.vm_state,
                "OS-EXT-STS:power_state": state.power_state,
                "os-extended-volumes:volumes_attached": [],
            }
        )
        return server

    def update(self, pod: Mapping[str, Any]) -> Json:
        """The reply of ``PUT /servers/{id}`` (Nova's show without the extension attributes)."""
        return self.show(pod, extended=False)

    def create(self, sid: str, admin_pass: str) -> Json:
        """The reply of ``POST /servers`` (fixture 09)."""
        return {
            "id": sid,
            "links": self.links(sid),
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": "default"}],
            "adminPass": admin_pass,
        }

    def index(self, pods: Iterable[Mapping[str, Any]]) -> list[Json]:
        return [self.basic(pod) for pod in pods]

    def detail(self, pods: Iterable[Mapping[str, Any]]) -> list[Json]:
        return [self.show(pod) for pod in pods]
