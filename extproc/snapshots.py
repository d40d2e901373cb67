"""Server snapshots as Glance images: the link between an image id and an Arktos snapshot, kept in Arktos.

How an image id and an Arktos snapshot are linked:

1. ``createImage`` chooses the image id (a UUID) and sends it as the CustomAction's ``snapshotName``, so the
   Arktos Action itself carries the link from the first moment (``extproc.compute.actions``).
2. Actions expire after about an hour in Arktos, so ``SnapshotRecorder`` (a reconciler with the processor's
   own credential) records every gateway snapshot durably in the tenant's ``openstack-images`` ConfigMap:
   status ``queued`` as soon as it knows of the snapshot, ``active`` with the Arktos snapshot id once the
   Action completes; a failed snapshot's record is removed (Nova deletes the image of a failed snapshot).
   A snapshot its owner deletes (``extproc.image.writes``) leaves the ConfigMap and its id is remembered
   under ``DELETED_SNAPSHOTS_KEY`` while Arktos may still hold its Action: it is never recorded again, and
   without a record it is neither shown (only Actions still in flight are) nor restorable.
   The record is keyed by the image id (a ConfigMap key cannot hold every image name) and carries Nova's
   snapshot properties (``image_type: snapshot``, ``instance_uuid``...) plus ``arktos_snapshot_id``.
   A ConfigMap created for this is seeded with the built-in images, so the defaults do not vanish.
   Updates are resourceVersion-conditional and retried on 409. It is restart-safe: the cache's relist
   replays every Action, and anything not recorded yet is recorded then.
3. Reads (``extproc.image.handlers``) overlay what the cache knows on the ConfigMap: a record still
   ``queued`` shows ``saving`` while Arktos works on the Action (and ``active`` if the recorder lags), and
   a snapshot not recorded yet (the first milliseconds) is shown from the Action.

What only the processor's memory holds: the image name and metadata between Arktos's 201 and the first
record (milliseconds). The watch may show the Action before that 201 is noted, and another replica's
recorder never has the note: a recorder without the request waits ``NOTE_GRACE_SECONDS`` for the submitting
processor to record it; only if nobody has by then (the processor died exactly then) does the record get a
fallback name.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
import structlog

from extproc import arktos_paths
from extproc.annotations import IMAGES_CONFIGMAP
from extproc.arktos_client import ArktosClient
from extproc.catalog import CatalogStore
from extproc.catalog_configmaps import image_entry, image_sort_key, parse_images
from extproc.catalog_entries import DEFAULT_IMAGES, DELETED_SNAPSHOTS_KEY, Image, canonical_image_id
from extproc.cluster_cache import SUBMITTED, ClusterView, action_ref, is_complete, operation_of

log = structlog.get_logger("extproc.snapshots")

Json = dict[str, Any]

# Glance properties Nova sets on a server snapshot, and the gateway's own link to the Arktos snapshot.
IMAGE_TYPE = "image_type"
INSTANCE_UUID = "instance_uuid"
BASE_IMAGE_REF = "base_image_ref"
USER_ID = "user_id"
ARKTOS_SNAPSHOT_ID = "arktos_snapshot_id"
SNAPSHOT = "snapshot"

GLANCE_TIME = "%Y-%m-%dT%H:%M:%SZ"

# How long a recorder leaves a snapshot in flight whose request it has not noted to the processor that
# submitted it (which records it milliseconds after Arktos's 201) before recording it under a fallback name.
NOTE_GRACE_SECONDS = 5.0


def glance_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime(GLANCE_TIME)


# ---------------------------------------------------------------------------------------------------------
# Pure: records, their state, reading them


@dataclasses.dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """What ``createImage`` knows that Arktos does not keep (travels in the cache's submission note)."""

    name: str
    server_id: str
    metadata: Mapping[str, str]
    base_image_ref: str = ""
    user_id: str = ""

    def as_details(self) -> Json:
        return dataclasses.asdict(self) | {"metadata": dict(self.metadata)}

    @classmethod
    def from_details(cls, details: Mapping[str, Any] | None) -> SnapshotRequest | None:
        if not details or not isinstance(details.get("name"), str):
            return None
        metadata = details.get("metadata") or {}
        return cls(
            name=str(details["name"]),
            server_id=str(details.get("server_id") or ""),
            metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
            base_image_ref=str(details.get("base_image_ref") or ""),
            user_id=str(details.get("user_id") or ""),
        )


SNAPSHOT_SCHEME = "arktos-snapshot://"


def snapshot_url(tenant: str, namespace: str, server_id: str, snapshot_id: str) -> str:
    """The image "URL" of a snapshot: names the Arktos snapshot; not a disk image any VM could boot."""
    return f"{SNAPSHOT_SCHEME}{tenant}/{namespace}/{server_id}/{snapshot_id}"


def snapshot_image(
    image_id: str,
    tenant: str,
    namespace: str,
    request: SnapshotRequest,
    status: str,
    created_at: str,
    updated_at: str,
    snapshot_id: str = "",
) -> Image:
    # Nova sets its snapshot properties, then the metadata given to createImage over them
    # (``properties.update(extra_properties)`` in nova/compute/api.py): the user's image_type stays.
    properties = {IMAGE_TYPE: SNAPSHOT, INSTANCE_UUID: request.server_id, "image_location": SNAPSHOT}
    if request.base_image_ref:
        properties[BASE_IMAGE_REF] = request.base_image_ref
    if request.user_id:
        properties[USER_ID] = request.user_id
    properties.update(request.metadata)
    properties.pop(ARKTOS_SNAPSHOT_ID, None)
    if snapshot_id:
        # The gateway's own link; the image's URL names the server and the snapshot too (what is trusted).
        properties[ARKTOS_SNAPSHOT_ID] = snapshot_id
    return Image(
        id=image_id,
        name=request.name,
        url=snapshot_url(tenant, namespace, request.server_id, snapshot_id),
        status=status,
        visibility="private",
        owner=tenant,
        created_at=created_at,
        updated_at=updated_at,
        properties=properties,
    )


def is_snapshot(image: Image) -> bool:
    """A server snapshot: its URL names an Arktos snapshot (the properties are the user's to change)."""
    return image.url.startswith(SNAPSHOT_SCHEME)


def snapshot_id_of(image: Image, server_id: str) -> str | None:
    """The Arktos snapshot id if ``image`` is a finished snapshot of server ``server_id`` (from its URL,
    ``arktos-snapshot://<tenant>/<namespace>/<server>/<snapshot>``)."""
    if not is_snapshot(image):
        return None
    parts = image.url[len(SNAPSHOT_SCHEME) :].split("/")
    if len(parts) != 4 or parts[2] != server_id:
        return None
    return parts[3] or None


def action_outcome(action: Mapping[str, Any]) -> tuple[str, str]:
    """(Glance status, Arktos snapshot id) an Action stands for: queued, saving, active, or killed."""
    annotations = (action.get("metadata") or {}).get("annotations") or {}
    if annotations.get(SUBMITTED):
        return "queued", ""
    if not is_complete(action):
        return "saving", ""
    status = action.get("status") or {}
    snapshot_id = str((status.get("snapshotStatus") or {}).get("snapshotID") or "")
    if status.get("error") or not snapshot_id:
        return "killed", ""
    return "active", snapshot_id


def _action_tenant(action: Mapping[str, Any]) -> tuple[str, str]:
    meta = action.get("metadata") or {}
    return str(meta.get("tenant") or "system"), str(meta.get("namespace") or "")


def _created(action: Mapping[str, Any]) -> str:
    raw = (action.get("metadata") or {}).get("creationTimestamp")
    return raw if isinstance(raw, str) and raw else glance_time(datetime.now(UTC))


def image_from_action(action: Mapping[str, Any], request: SnapshotRequest | None) -> Image | None:
    """The image a gateway snapshot Action stands for before it is recorded (None if not one)."""
    image_id = canonical_image_id(action_ref(action))
    if operation_of(action) != SNAPSHOT or image_id is None:
        return None
    tenant, namespace = _action_tenant(action)
    pod_name = str((action.get("spec") or {}).get("podName") or "")
    request = request or fallback_request(image_id, pod_name)
    status, snapshot_id = action_outcome(action)
    created = _created(action)
    return snapshot_image(image_id, tenant, namespace, request, status, created, created, snapshot_id)


def fallback_request(image_id: str, server_id: str) -> SnapshotRequest:
    """When the name given to createImage is lost (processor restarted within milliseconds of it)."""
    return SnapshotRequest(name=f"snapshot-{image_id}", server_id=server_id, metadata={})


class RecordDecision(NamedTuple):
    """The recorder's decision for one snapshot: whether to write, the record (None: remove it), and, when
    it waits for the submitting processor's note, in how many seconds to decide again."""

    write: bool
    image: Image | None
    recheck_in: float = 0.0


def with_live_state(
    images: list[Image],
    tenant: str | None,
    cluster: ClusterView | None,
    details: Callable[[str], Mapping[str, Any] | None] | None = None,
) -> list[Image]:
    """``images`` (a tenant's ConfigMap) with what the cache knows of that tenant's snapshots in flight."""
    if cluster is None or tenant is None:
        return images
    shown: list[Image] = []
    known = {image.id for image in images}
    for image in images:
        action = (
            cluster.snapshot_action(image.id) if is_snapshot(image) and image.status != "active" else None
        )
        if action is not None and _action_tenant(action)[0] == tenant:
            status, _ = action_outcome(action)
            # The record says at least queued; the Action can only move it forward.
            if status != "queued":
                image = dataclasses.replace(image, status=status)
        shown.append(image)
    lookup = details or cluster.submitted_details
    for action in cluster.snapshot_actions(tenant):
        image_id = canonical_image_id(action_ref(action))
        if image_id is None or image_id in known or is_complete(action):
            # NOTE: a finished snapshot that is not recorded was deleted (its record is written as soon
            # as the snapshot is asked for); only one still in flight can be unrecorded yet.
            continue
        unrecorded = image_from_action(action, SnapshotRequest.from_details(lookup(image_id)))
        if unrecorded is not None:
            shown.append(unrecorded)
    shown.sort(key=image_sort_key, reverse=True)
    return shown


def default_images_data() -> dict[str, str]:
    """The built-in images as ConfigMap data (what a new ``openstack-images`` starts with)."""
    return {image.name: image_entry(image) for image in DEFAULT_IMAGES}


def deleted_snapshots(data: Mapping[str, str] | None) -> dict[str, str]:
    """The deleted snapshots a ConfigMap's data remembers: image id -> when (see extproc.image.records)."""
    raw = (data or {}).get(DELETED_SNAPSHOTS_KEY)
    try:
        found = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def record_change(
    data: Mapping[str, str] | None, image: Image | None, image_id: str
) -> dict[str, str] | None:
    """The ConfigMap data with ``image`` recorded under its id (or removed when None); None: no change."""
    new = dict(default_images_data() if data is None else data)
    if image is None:
        if image_id not in new:
            return None
        del new[image_id]
        return new
    existing = parse_images({image_id: new[image_id]}) if image_id in new else []
    if existing and (existing[0].status, existing[0].url) == (image.status, image.url):
        return None  # already recorded (the catalog this was decided from may lag behind our own write)
    new[image_id] = image_entry(image)
    return new


# ---------------------------------------------------------------------------------------------------------
# The recorder (I/O: the processor's own credential)


class SnapshotRecorder:
    """Keeps each tenant's ``openstack-images`` ConfigMap in step with the gateway's snapshot Actions."""

    def __init__(
        self,
        cluster: Any,
        client: ArktosClient,
        catalog: CatalogStore,
        namespace: str,
        retry_delay: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster = cluster
        self.client = client
        self.catalog = catalog
        self.namespace = namespace
        self.retry_delay = retry_delay
        self._queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        self._queued: set[tuple[str, str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        # The request details of snapshots this processor submitted (name, metadata...), by image id.
        self._requests: dict[str, SnapshotRequest] = {}
        # When this recorder first saw a snapshot in flight whose request it does not know, by image id.
        self._unnoted_since: dict[str, float] = {}
        self.clock = clock
        self.writes = 0

    def start(self) -> None:
        self.cluster.subscribe(self._on_change)
        self.cluster.on_submitted(self._on_submitted)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="snapshot-recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- events -------------------------------------------------------------------------------------

    def _on_change(self, kind: str, change: str, obj: Mapping[str, Any]) -> None:
        if kind != "Action" or change == "DELETED" or operation_of(obj) != SNAPSHOT:
            return
        image_id = canonical_image_id(action_ref(obj))
        if image_id is not None:
            tenant, namespace = _action_tenant(obj)
            self._enqueue(tenant, namespace, image_id)

    def _on_submitted(
        self, tenant: str, namespace: str, pod: str, operation: str, ref: str, details: Mapping[str, Any]
    ) -> None:
        image_id = canonical_image_id(ref)
        if operation != SNAPSHOT or image_id is None:
            return
        request = SnapshotRequest.from_details(details)
        if request is not None:
            self._requests[image_id] = request
        self._enqueue(tenant, namespace, image_id)

    def _enqueue(self, tenant: str, namespace: str, image_id: str) -> None:
        item = (tenant, namespace, image_id)
        if item not in self._queued:
            self._queued.add(item)
            self._queue.put_nowait(item)

    # -- work ---------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            self._queued.discard(item)
            try:
                await self.reconcile(*item)
            except Exception as exc:
                log.warning("snapshot_record_failed", image_id=item[2], tenant=item[0], error=repr(exc))
                await asyncio.sleep(self.retry_delay)
                self._enqueue(*item)

    def desired(self, tenant: str, namespace: str, image_id: str) -> RecordDecision:
        """What to record (or remove) for ``image_id``, from the cache and the catalog."""
        action = self.cluster.snapshot_action(image_id)
        if action is None or _action_tenant(action) != (tenant, namespace):
            return RecordDecision(False, None)  # the Action expired: the record stays as it is
        current = next((i for i in self.catalog.images(tenant) if i.id == image_id), None)
        status, snapshot_id = action_outcome(action)
        if status == "killed":
            return RecordDecision(current is not None, None)
        request = self._requests.get(image_id) or SnapshotRequest.from_details(
            self.cluster.submitted_details(image_id)
        )
        if request is None and current is not None:
            request = SnapshotRequest(
                name=current.name,
                server_id=current.properties.get(INSTANCE_UUID, ""),
                metadata={
                    k: v
                    for k, v in current.properties.items()
                    if k not in (IMAGE_TYPE, INSTANCE_UUID, BASE_IMAGE_REF, USER_ID, ARKTOS_SNAPSHOT_ID)
                    and k != "image_location"
                },
                base_image_ref=current.properties.get(BASE_IMAGE_REF, ""),
                user_id=current.properties.get(USER_ID, ""),
            )
        if request is None and status != "active":
            # In flight and nobody's request known: the processor that submitted it records it at once.
            grace = self._grace_left(image_id)
            if grace > 0:
                return RecordDecision(False, None, recheck_in=grace)
        pod_name = str((action.get("spec") or {}).get("podName") or "")
        request = request or fallback_request(image_id, pod_name)
        recorded = "active" if status == "active" else "queued"
        if current is not None and current.status == recorded:
            return RecordDecision(False, None)
        created = current.created_at if current is not None else _created(action)
        now = glance_time(datetime.now(UTC))
        image = snapshot_image(image_id, tenant, namespace, request, recorded, created, now, snapshot_id)
        return RecordDecision(True, image)

    def _grace_left(self, image_id: str) -> float:
        """Seconds still to leave a snapshot whose request this recorder does not know to the processor that
        does, counted from when this recorder first had to decide it."""
        now = self.clock()
        return max(0.0, NOTE_GRACE_SECONDS - (now - self._unnoted_since.setdefault(image_id, now)))

    async def reconcile(self, tenant: str, namespace: str, image_id: str) -> None:
        decision = self.desired(tenant, namespace, image_id)
        if decision.recheck_in > 0:
            asyncio.get_running_loop().call_later(
                decision.recheck_in, self._enqueue, tenant, namespace, image_id
            )
            return
        self._unnoted_since.pop(image_id, None)
        write, image = decision.write, decision.image
        if not write:
            return
        await self.write(tenant, namespace, image_id, image)
        if image is not None and image.status == "active":
            self._requests.pop(image_id, None)

    async def write(self, tenant: str, namespace: str, image_id: str, image: Image | None) -> None:
        """Record (or remove) one image in the tenant's ConfigMap: read, change, conditional write."""
        path = arktos_paths.configmap(tenant, namespace, IMAGES_CONFIGMAP)
        for _attempt in range(20):
            status, body = await self.client.request("GET", path)
            if status == 404:
                data = None
                rv = ""
            elif status == 200 and isinstance(body, dict):
                data = body.get("data") or {}
                rv = str((body.get("metadata") or {}).get("resourceVersion") or "")
            else:
                raise RuntimeError(f"GET {path}: {status} {str(body)[:200]}")
            if image is not None and image_id in deleted_snapshots(data):
                return  # its owner deleted it (extproc.image.writes): never record it again
            new = record_change(data, image, image_id)
            if new is None:
                return
            if data is None:
                doc: Json = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": IMAGES_CONFIGMAP}}
                doc["data"] = new
                status, body = await self.client.request(
                    "POST", arktos_paths.configmaps(tenant, namespace), doc
                )
            else:
                doc = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": IMAGES_CONFIGMAP, "resourceVersion": rv},
                    "data": new,
                }
                status, body = await self.client.request("PUT", path, doc)
            if status in (200, 201):
                self.writes += 1
                if isinstance(body, dict):
                    # The next write (ours or a client's image write) builds on this version at once.
                    meta = body.get("metadata") or {}
                    written = {str(k): str(v) for k, v in (body.get("data") or {}).items()}
                    version = str(meta.get("resourceVersion") or "")
                    self.catalog.set_configmap(tenant, IMAGES_CONFIGMAP, written, version)
                log.info(
                    "snapshot_recorded",
                    tenant=tenant,
                    image_id=image_id,
                    status=image.status if image is not None else "removed",
                )
                return
            if status != 409:
                raise RuntimeError(f"write {path}: {status} {orjson.dumps(body)[:200]!r}")
            # 409: someone changed (or created) the ConfigMap since we read it; read again.
        raise RuntimeError(f"write {path}: still conflicting after retries")
