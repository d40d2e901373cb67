"""extproc.snapshots: snapshot records, their live state, and the recorder's ConfigMap writes."""

from __future__ import annotations

from typing import Any

import orjson

from extproc.catalog import CatalogStore
from extproc.catalog_configmaps import parse_images
from extproc.catalog_entries import DEFAULT_IMAGES, DELETED_SNAPSHOTS_KEY
from extproc.cluster_cache import ACTION, POD, REPLICASET, ClusterCache
from extproc.snapshots import (
    NOTE_GRACE_SECONDS,
    SnapshotRecorder,
    SnapshotRequest,
    action_outcome,
    record_change,
    snapshot_id_of,
    snapshot_image,
    with_live_state,
)

IMAGE_ID = "11111111-2222-4333-8444-555555555555"
SID = "bad005cf-17e1-48ad-b9f7-e9f9352beb13"
CM_PATH = "/api/v1/tenants/demo/namespaces/default/configmaps/openstack-images"


def snap_action(status: dict[str, Any] | None = None, tenant: str = "demo") -> dict[str, Any]:
    return {
        "metadata": {
            "name": "snapshot-100",
            "tenant": tenant,
            "namespace": "default",
            "resourceVersion": "5",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"podName": SID, "snapshotAction": {"snapshotName": IMAGE_ID}},
        "status": status or {},
    }


DONE = {"complete": True, "snapshotStatus": {"snapshotID": "arktos-snap-1"}}
FAILED = {"complete": True, "error": "pod is not running", "snapshotStatus": {"snapshotID": ""}}


def cache_with(*actions: dict[str, Any]) -> ClusterCache:
    cache = ClusterCache()
    cache.apply_list(POD, [])
    cache.apply_list(ACTION, list(actions))
    cache.apply_list(REPLICASET, [])
    return cache


def record(status: str = "queued", snapshot_id: str = "") -> Any:
    request = SnapshotRequest("snap1", SID, {"k": "v"})
    return snapshot_image(
        IMAGE_ID,
        "demo",
        "default",
        request,
        status,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:01:00Z",
        snapshot_id,
    )


def note_snap1(cache: ClusterCache) -> None:
    """What the processor notes when Arktos answers its createImage ``snap1`` with 201."""
    cache.note_submitted(
        "demo", "default", SID, "snapshot", IMAGE_ID, details=SnapshotRequest("snap1", SID, {}).as_details()
    )


def recorded(fake: FakeArktos) -> Any:
    """The snapshot's record in the ConfigMap the recorder wrote."""
    assert fake.configmap is not None
    (image,) = [i for i in parse_images(fake.configmap["data"]) if i.id == IMAGE_ID]
    return image


def test_action_outcome() -> None:
    assert action_outcome(snap_action()) == ("saving", "")
    assert action_outcome(snap_action(DONE)) == ("active", "arktos-snap-1")
    assert action_outcome(snap_action(FAILED)) == ("killed", "")


def test_record_round_trips_through_the_configmap() -> None:
    image = record("active", "arktos-snap-1")
    data = record_change(None, image, IMAGE_ID)
    assert data is not None
    # A new ConfigMap keeps the built-in images.
    parsed = {i.id: i for i in parse_images(data)}
    assert set(parsed) == {IMAGE_ID, *(i.id for i in DEFAULT_IMAGES)}
    assert parsed[IMAGE_ID] == image
    assert (image.visibility, image.owner, image.properties["image_type"]) == ("private", "demo", "snapshot")
    assert snapshot_id_of(image, SID) == "arktos-snap-1"
    assert snapshot_id_of(image, "another-server") is None
    assert snapshot_id_of(DEFAULT_IMAGES[0], SID) is None
    # Already recorded: nothing to write; removal removes only that entry.
    assert record_change(data, record("active", "arktos-snap-1"), IMAGE_ID) is None
    removed = record_change(data, None, IMAGE_ID)
    assert removed is not None
    assert IMAGE_ID not in removed
    assert record_change(removed, None, IMAGE_ID) is None


def test_live_state_overlays_the_cache() -> None:
    queued = record("queued")
    assert with_live_state([queued], "demo", cache_with(snap_action()))[0].status == "saving"
    assert with_live_state([queued], "demo", cache_with(snap_action(DONE)))[0].status == "active"
    # Another tenant's Action never changes this tenant's view.
    assert with_live_state([queued], "demo", cache_with(snap_action(tenant="alt")))[0].status == "queued"
    assert with_live_state([queued], "demo", None) == [queued]


def test_unrecorded_snapshot_is_shown_from_the_action() -> None:
    cache = cache_with()
    note_snap1(cache)
    (shown,) = with_live_state([], "demo", cache)
    assert (shown.id, shown.name, shown.status) == (IMAGE_ID, "snap1", "queued")
    assert with_live_state([], "alt", cache) == []


class FakeArktos:
    """Arktos's ConfigMap API as the recorder uses it: GET, POST (create), PUT with resourceVersion."""

    def __init__(self, conflicts: int = 0) -> None:
        self.configmap: dict[str, Any] | None = None
        self.rv = 0
        self.conflicts = conflicts
        self.calls: list[tuple[str, str]] = []

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str | None = None
    ) -> tuple[int, Any]:
        self.calls.append((method, path))
        if method == "GET":
            return (
                (200, self.configmap)
                if self.configmap is not None
                else (404, {"kind": "Status", "code": 404})
            )
        if method == "POST":
            assert self.configmap is None
            self.rv += 1
            self.configmap = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.rv)}}
            return 201, self.configmap
        assert method == "PUT" and self.configmap is not None
        if self.conflicts:
            self.conflicts -= 1
            self.rv += 1  # someone else wrote in between
            self.configmap["metadata"]["resourceVersion"] = str(self.rv)
            return 409, {"kind": "Status", "code": 409, "reason": "Conflict"}
        if body["metadata"]["resourceVersion"] != self.configmap["metadata"]["resourceVersion"]:
            return 409, {"kind": "Status", "code": 409, "reason": "Conflict"}
        self.rv += 1
        self.configmap = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.rv)}}
        return 200, self.configmap


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def recorder(cache: ClusterCache, fake: FakeArktos, clock: Clock | None = None) -> SnapshotRecorder:
    return SnapshotRecorder(
        cache,
        fake,  # type: ignore[arg-type]
        CatalogStore(),
        "default",
        clock=clock or Clock(),
    )


async def test_recorder_creates_then_completes_the_record() -> None:
    cache = cache_with(snap_action())
    fake = FakeArktos(conflicts=1)
    rec = recorder(cache, fake)
    note_snap1(cache)
    await rec.reconcile("demo", "default", IMAGE_ID)
    queued = recorded(fake)
    assert (queued.name, queued.status) == ("snap1", "queued")
    assert fake.calls == [("GET", CM_PATH), ("POST", CM_PATH.rsplit("/", 1)[0])]

    cache.apply_event(ACTION, "MODIFIED", snap_action(DONE))
    await rec.reconcile("demo", "default", IMAGE_ID)  # the first PUT conflicts, the retry succeeds
    active = recorded(fake)
    assert (active.name, active.status, active.properties["arktos_snapshot_id"]) == (
        "snap1",
        "active",
        "arktos-snap-1",
    )
    assert [m for m, _ in fake.calls[2:]] == ["GET", "PUT", "GET", "PUT"]


async def unnoted_snapshot_in_flight() -> tuple[ClusterCache, FakeArktos, Clock, SnapshotRecorder]:
    """A recorder whose watch shows a snapshot Action in flight that no processor has noted: at first sight
    it writes nothing (it waits for the note)."""
    cache = cache_with(snap_action())
    fake = FakeArktos()
    clock = Clock()
    rec = recorder(cache, fake, clock)
    await rec.reconcile("demo", "default", IMAGE_ID)
    assert fake.calls == []
    return cache, fake, clock, rec


async def test_the_watch_ahead_of_the_submission_note_keeps_the_requested_name() -> None:
    """The watch may show the new Action before the processor has noted Arktos's 201 (name, metadata): the
    recorder waits for that note rather than record a made-up name, which a read of the image shows (with
    the Action's status) until the recorder writes the active record."""
    cache, fake, clock, rec = await unnoted_snapshot_in_flight()
    clock.now += NOTE_GRACE_SECONDS / 2
    await rec.reconcile("demo", "default", IMAGE_ID)
    assert fake.calls == []
    note_snap1(cache)
    await rec.reconcile("demo", "default", IMAGE_ID)
    queued = recorded(fake)
    assert (queued.name, queued.status) == ("snap1", "queued")


async def test_a_snapshot_nobody_noted_is_recorded_under_a_fallback_name_after_the_grace() -> None:
    """A processor that never saw the createImage (restarted since, or another replica took it) still
    records the snapshot, once the submitting processor had its time to record it."""
    _cache, fake, clock, rec = await unnoted_snapshot_in_flight()
    clock.now += NOTE_GRACE_SECONDS
    await rec.reconcile("demo", "default", IMAGE_ID)
    queued = recorded(fake)
    assert (queued.name, queued.status) == (f"snapshot-{IMAGE_ID}", "queued")


async def test_a_finished_snapshot_nobody_noted_is_recorded_at_once() -> None:
    """Only a snapshot in flight waits for its note: a finished one without a record would not be shown."""
    cache = cache_with(snap_action(DONE))
    fake = FakeArktos()
    rec = recorder(cache, fake)
    await rec.reconcile("demo", "default", IMAGE_ID)
    active = recorded(fake)
    assert (active.name, active.status) == (f"snapshot-{IMAGE_ID}", "active")


async def test_recorder_removes_a_failed_snapshot() -> None:
    cache = cache_with(snap_action())
    fake = FakeArktos()
    clock = Clock()
    rec = recorder(cache, fake, clock)
    await rec.reconcile("demo", "default", IMAGE_ID)
    clock.now += NOTE_GRACE_SECONDS
    await rec.reconcile("demo", "default", IMAGE_ID)
    assert fake.configmap is not None
    # Recorded with a fallback name: this processor never saw the createImage request.
    assert any(i.name == f"snapshot-{IMAGE_ID}" for i in parse_images(fake.configmap["data"]))
    rec.catalog.set_configmap("demo", "openstack-images", fake.configmap["data"])
    cache.apply_event(ACTION, "MODIFIED", snap_action(FAILED))
    await rec.reconcile("demo", "default", IMAGE_ID)
    assert IMAGE_ID not in fake.configmap["data"]
    assert orjson.loads(fake.configmap["data"][DEFAULT_IMAGES[0].name])["id"] == DEFAULT_IMAGES[0].id


async def test_recorder_never_records_a_deleted_snapshot_again() -> None:
    """The owner deleted the snapshot (its id remembered in the ConfigMap); its Action still exists and a
    relist replays it: nothing is written back."""
    cache = cache_with(snap_action(DONE))
    fake = FakeArktos()
    data = {DELETED_SNAPSHOTS_KEY: orjson.dumps({IMAGE_ID: "2026-01-01T00:00:00Z"}).decode()}
    fake.configmap = {"kind": "ConfigMap", "metadata": {"name": "openstack-images", "resourceVersion": "5"}}
    fake.configmap["data"] = data
    rec = recorder(cache, fake)
    await rec.reconcile("demo", "default", IMAGE_ID)
    assert fake.calls == [("GET", CM_PATH)]
    assert fake.configmap["data"] == data


def test_a_finished_snapshot_without_a_record_is_not_shown() -> None:
    """Only a snapshot still in flight can lack its record; a finished one without it was deleted."""
    cache = cache_with(snap_action(DONE))
    assert with_live_state([], "demo", cache) == []
