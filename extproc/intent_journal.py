"""The processor's own intents the watch cannot show (yet): the journal beside the cluster cache.

Besides what Arktos says, the cache remembers the actions the processor itself has just submitted
(``note_submitted``, called when Arktos answered a CustomAction with 201): the watch shows the Action a few
milliseconds later, and a client that asks in between (``openstack server image create`` GETs the image at
once) must already see it. Such an entry shows as a pending Action marked ``SUBMITTED`` until the real one
arrives, and disappears after ``SUBMITTED_TTL`` if it never does. The same note keeps what Arktos cannot
store: that a reboot was HARD (Arktos has one kind of reboot), marked ``REBOOT_TYPE`` on the Action. That note
is only this processor's, and only until the instance-action recorder has written the reboot's record on the
pod (moments later): the record carries the type (``RECORD_REBOOT_TYPE``), and every processor's watch shows
it, so a restarted processor and every replica mark the Action HARD from the pod
(``hard_reboots_recorded``).

Batch creates: the journal remembers which member each create reply answered with (``note_first_member``)
and the cache marks that pod with ``batch.FIRST_MEMBER`` in what it holds (a cache-only annotation, kept
across events and relists, never written to Arktos), so every view and the reconciler index it 1. The memory
is bounded (``FIRST_MEMBER_CAPACITY`` batches, oldest forgotten first): a mark only matters until the
reconciler has written the batch's indices, moments after the create.

Only the asyncio loop touches it (the cache's), so no lock.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from extproc import annotations as keys
from extproc.watch_mirror import OPERATIONS, Json, Key, action_ref, operation_of

log = structlog.get_logger("extproc.cluster_cache")

# Marks on Action objects the cache returns (never written to Arktos).
SUBMITTED = "openstack.arktos.io/submitted"
REBOOT_TYPE = "openstack.arktos.io/reboot-type"
# The field of a pod's instance-action record (``compute.instance_actions``) keeping a reboot's type.
RECORD_REBOOT_TYPE = "reboot_type"
# How long a submitted action waits for the watch to show it before the cache forgets it.
SUBMITTED_TTL = 60.0
# How long the cache remembers that a reboot was HARD (longer than any reboot takes).
REBOOT_TYPE_TTL = 3600.0
# Batches whose create reply's member is remembered (see the module docstring).
FIRST_MEMBER_CAPACITY = 10_000

SubmissionListener = Callable[[str, str, str, str, str, Mapping[str, Any]], None]


def hard_reboots_recorded(pod: Mapping[str, Any] | None) -> frozenset[str]:
    """The Actions (by name) that the instance-action records on ``pod`` say were HARD reboots."""
    annotations = ((pod or {}).get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict):
        return frozenset()
    found: set[str] = set()
    for key, value in annotations.items():
        # Most records are not reboots: look for the field before parsing.
        if not (str(key).startswith(keys.INSTANCE_ACTION_PREFIX) and isinstance(value, str)):
            continue
        if RECORD_REBOOT_TYPE not in value:
            continue
        try:
            record = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get(RECORD_REBOOT_TYPE) == "HARD":
            ref = record.get("arktos_ref")
            if isinstance(ref, str) and ref:
                found.add(ref)
    return frozenset(found)


def with_marks(action: Mapping[str, Any], marks: Mapping[str, str]) -> Json:
    meta = dict(action.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), **marks}
    return {**action, "metadata": meta}


@dataclass(slots=True)
class Submitted:
    tenant: str
    namespace: str
    pod: str
    operation: str
    ref: str
    hard: bool
    at: float  # monotonic
    wall: float  # unix seconds, compared with the real Action's creationTimestamp
    details: Mapping[str, Any]
    seen: bool = False


class IntentJournal:
    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time):
        self.clock = clock
        self.wall = wall
        self.submitted: list[Submitted] = []
        self._submission_listeners: list[SubmissionListener] = []
        # (tenant, namespace, reservation id) -> the member the create reply answered with.
        self.first_members: OrderedDict[Key, str] = OrderedDict()
        # Counts the changes of what ``pending_actions`` shows from the journal (the submissions, which the
        # watch came to show, which expired): a memo of what was rendered from it (a server list's page,
        # ``extproc.compute.server_pages``) is current while the counter has not moved (``generation_at``).
        self._generation = 0
        # The earliest time a note expires (a stand-in after SUBMITTED_TTL, a HARD reboot's note after
        # REBOOT_TYPE_TTL): what the journal shows changes then with no call to it at all.
        self._next_expiry = math.inf

    # -- submitted CustomActions --------------------------------------------------------------------

    def observe_action(self, tenant: str, namespace: str, pod_name: str, action: Mapping[str, Any]) -> None:
        """The watch shows ``action``: a submission it matches no longer needs its stand-in."""
        for note in self.submitted:
            if (
                not note.seen
                and (note.tenant, note.namespace, note.pod) == (tenant, namespace, pod_name)
                and matches(note, action)
            ):
                note.seen = True
                self._generation += 1

    def note_submitted(
        self,
        tenant: str,
        namespace: str,
        pod_name: str,
        operation: str,
        ref: str,
        hard: bool,
        details: Mapping[str, Any] | None,
        known_actions: Iterable[Mapping[str, Any]],
    ) -> bool:
        """Journal a submission (``known_actions``: the pod's Actions the watch shows); False if the
        operation is not one the journal keeps."""
        if operation not in OPERATIONS:
            return False
        now = self.clock()
        self.prune(now)
        note = Submitted(
            tenant, namespace, pod_name, operation, ref, hard, now, self.wall(), dict(details or {})
        )
        for action in known_actions:
            if matches(note, action):
                note.seen = True
        self.submitted.append(note)
        self._generation += 1
        self._next_expiry = min(self._next_expiry, now + SUBMITTED_TTL)
        for listener in list(self._submission_listeners):
            try:
                listener(tenant, namespace, pod_name, operation, ref, note.details)
            except Exception:
                log.exception("cluster_submission_listener_failed", operation=operation)
        return True

    def on_submitted(self, listener: SubmissionListener) -> None:
        self._submission_listeners.append(listener)

    def submitted_details(self, ref: str) -> Mapping[str, Any] | None:
        now = self.clock()
        for note in reversed(self.submitted):
            if note.ref == ref and now - note.at < REBOOT_TYPE_TTL:
                return note.details
        return None

    def prune(self, now: float) -> None:
        # A HARD reboot's note outlives the reboot (it is the only record of its type); others only wait
        # for the watch.
        kept = [n for n in self.submitted if now - n.at < (REBOOT_TYPE_TTL if n.hard else SUBMITTED_TTL)]
        if len(kept) != len(self.submitted):
            self._generation += 1
        self.submitted = kept

    def generation_at(self, now: float) -> int:
        """The journal's change counter as of ``now`` (clock time): moved by every submission, every
        submission the watch came to show, and every expiry (which happens without any call: the counter
        moves at the first call at or after it)."""
        if now >= self._next_expiry:
            self._generation += 1
            self._next_expiry = min(
                (
                    deadline
                    for n in self.submitted
                    for deadline in (n.at + SUBMITTED_TTL, n.at + REBOOT_TYPE_TTL if n.hard else math.inf)
                    if deadline > now
                ),
                default=math.inf,
            )
        return self._generation

    def hard_reboot(self, tenant: str, namespace: str, action: Mapping[str, Any]) -> bool:
        name = str((action.get("metadata") or {}).get("name") or "")
        return any(
            n.hard
            and n.operation == "reboot"
            and n.ref == name
            and n.tenant == tenant
            and n.namespace == namespace
            for n in self.submitted
        )

    def unseen_stand_ins(self, tenant: str, namespace: str, pod_name: str) -> list[Json]:
        """Stand-in Actions for the pod's submissions the watch has not shown yet."""
        now = self.clock()
        return [
            submitted_action(note)
            for note in self.submitted
            if not note.seen
            and (note.tenant, note.namespace, note.pod) == (tenant, namespace, pod_name)
            and now - note.at < SUBMITTED_TTL
        ]

    def snapshot_stand_in(self, snapshot_name: str) -> Json | None:
        now = self.clock()
        for note in self.submitted:
            if note.operation == "snapshot" and note.ref == snapshot_name and now - note.at < SUBMITTED_TTL:
                return submitted_action(note)
        return None

    def snapshot_stand_ins(self, tenant: str) -> dict[str, Json]:
        found: dict[str, Json] = {}
        now = self.clock()
        for note in self.submitted:
            fresh = now - note.at < SUBMITTED_TTL
            if fresh and note.operation == "snapshot" and note.tenant == tenant and note.ref not in found:
                found[note.ref] = submitted_action(note)
        return found

    # -- batch create replies -----------------------------------------------------------------------

    def with_first_mark(self, key: Key, obj: Json) -> Json:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        reservation = labels.get(keys.RESERVATION_ID)
        if not reservation or self.first_members.get((key[0], key[1], str(reservation))) != key[2]:
            return obj
        return with_marks(obj, {keys.FIRST_MEMBER: "true"})

    def note_first_member(self, tenant: str, namespace: str, reservation: str, pod_name: str) -> None:
        self.first_members[(tenant, namespace, reservation)] = pod_name
        while len(self.first_members) > FIRST_MEMBER_CAPACITY:
            self.first_members.popitem(last=False)

    def first_member_hint(self, key: tuple[str, str, str]) -> str | None:
        return self.first_members.get(key)


def matches(note: Submitted, action: Mapping[str, Any]) -> bool:
    if operation_of(action) != note.operation or action_ref(action) != note.ref:
        return False
    # A restore of the same snapshot id, or a snapshot name, could be reused; only an Action created
    # around or after the submission is this one (timestamps have one-second resolution).
    created = _unix((action.get("metadata") or {}).get("creationTimestamp"))
    return created is None or created >= int(note.wall) - 1


def _unix(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def submitted_action(note: Submitted) -> Json:
    """A stand-in Action for a submission the watch has not shown yet."""
    field, inner = OPERATIONS[note.operation]
    marks = {SUBMITTED: "true"}
    if note.hard:
        marks[REBOOT_TYPE] = "HARD"
    created = datetime.fromtimestamp(int(note.wall), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = note.ref if not inner else f"{note.operation}-{int(note.wall)}"
    return {
        "metadata": {
            "name": name,
            "tenant": note.tenant,
            "namespace": note.namespace,
            "creationTimestamp": created,
            "annotations": marks,
        },
        "spec": {"podName": note.pod, field: {inner: note.ref} if inner else {}},
        "status": {},
    }
