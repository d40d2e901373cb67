"""Nova's instance actions (``/servers/{id}/os-instance-actions[/{request_id}]``) from what Arktos holds.

Nova records one "instance action" per user request that changes a server (create, reboot, stop, ...), with
the request id the client got back (``x-openstack-request-id``), its start time, user and project. The
gateway keeps no state of its own, so the history lives in Arktos, durable across processor restarts:

- **An annotation of the VM pod per action**, ``instance-action.openstack.arktos.io/<request id>`` (a JSON
  object: action, start time, user, project and, for a CustomAction, the Arktos Action it started). It is
  written in the SAME Arktos call as the change itself wherever that call is a pod write: the create's pod
  (or a batch's ReplicaSet template: Nova gives every server of a multi-create the create's request id), the
  JSON patch of stop/start, of a rebuild from an image, and the writes of other features that call
  ``record_patch_op`` (lock, metadata). The patch's ``add`` of a key of its own needs no read of the other
  records, so concurrent actions never overwrite each other, and an action Arktos refuses leaves no record.
- **Arktos's Action objects** (reboot, snapshot = createImage, restore = rebuild from the server's own
  snapshot; fixture 56: ``spec.podName``, ``creationTimestamp``, ``status.complete``). The POST that creates
  one cannot carry an annotation, so the processor adds the record to the pod once Arktos has accepted the
  action (``InstanceActionRecorder``, its own credential, moments later). Until that record is there (or if
  the processor died in between) the Action itself still shows in the history: with the request id from the
  processor's memory of its submission, else ``req-<the Action's uid>``.

Arktos keeps no events for a VM pod's steps (fixture 57: the pod's event list is empty): an action's
``events`` are one event when Arktos tells its outcome (an Action's ``status.complete``; for the create, the
VM's state: no result while building, then Success or Error), none otherwise. At
microversion 2.1 Nova shows ``events`` to administrators only, but the openstack CLI's ``server event show``
fails without them, so every caller gets them, the ``traceback`` only the system tenant's users (the admin
role of the gateway's tokens), which is Nova's rule from 2.51.

A delete is not recorded: once Arktos has deleted the pod the history is gone with it, and at 2.1 Nova
answers 404 for a deleted server's actions as well. From 2.21 Nova reads a deleted server's actions; here
they are gone with the pod, so the answer stays the 404 of an unknown server.

Microversions, gated beside each field as Nova's controller does:

- 2.58: ``updated_at`` in each action (the start time: neither a record nor an Action tells when the action
  last changed); the list takes ``limit``, ``marker`` (a request id; unknown: 400) and ``changes-since``
  (actions updated at or after it), and a full page carries ``links`` to the next; any other query
  parameter is a 400 (Nova's schema is strict from 2.58).
- 2.62: each event carries ``hostId`` (Nova's hash of the host with the project, the pod's node), and
  ``host`` (the node's name) for administrators.
- 2.66: ``changes-before`` (actions updated at or before it; before ``changes-since``: Nova's 400).
- 2.84: each event carries ``details`` (the Arktos Action's error message, else null) for administrators.
- 2.102: show refuses any query parameter.

Reads: one GET of the pod with the client's token (Arktos authorizes it, and 404 is Nova's
``Instance <id> could not be found.``); the Actions come from the processor's watch, only for that pod of
the tenant Arktos has just shown the caller. The request id of ``show`` is never part of an Arktos path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from extproc import annotations as keys
from extproc import arktos_paths
from extproc.cluster_cache import RECORD_REBOOT_TYPE, action_ref, is_complete, operation_of
from extproc.compute import marker_paging
from extproc.compute.query_schema import (
    ALL_QUERIES_STRICT_FROM,
    NON_NEGATIVE_INTEGER,
    STRING,
    QuerySchema,
    parse_date_time,
    single,
)
from extproc.compute.server_fields import host_id, is_server, state_of
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, echo, error_reply, from_arktos
from extproc.identity.views import SYSTEM_TENANT
from extproc.messages import (
    ArktosReply,
    ArktosRequest,
    ClientRequest,
    Forward,
    Outcome,
    Reply,
    json_reply,
)
from extproc.users import user_id_for_token

Json = dict[str, Any]
Version = tuple[int, int]

# The microversions that change instance actions (nova/api/openstack/compute/instance_actions.py).
PAGING_FROM: Version = (2, 58)  # limit, marker, changes-since, links; ``updated_at``
EVENT_HOST_FROM: Version = (2, 62)  # ``hostId``; ``host`` for administrators
CHANGES_BEFORE_FROM: Version = (2, 66)
EVENT_DETAILS_FROM: Version = (2, 84)  # ``details`` for administrators

_DATE_TIME = single({"type": "string", "format": "date-time"})
_LIST_V258 = {
    "limit": single(NON_NEGATIVE_INTEGER),
    "marker": single(STRING),
    "changes-since": _DATE_TIME,
}
# Nova's index_query (anything, ignored), index_query_v258 and index_query_v266: strict from 2.58.
_LIST_QUERIES: Mapping[Version, QuerySchema] = {
    (2, 1): QuerySchema({}),
    PAGING_FROM: QuerySchema(_LIST_V258, strict_from=PAGING_FROM),
    CHANGES_BEFORE_FROM: QuerySchema({**_LIST_V258, "changes-before": _DATE_TIME}, strict_from=PAGING_FROM),
}
_SHOW_QUERY = QuerySchema({}, strict_from=ALL_QUERIES_STRICT_FROM)
CHANGES_ORDER = "The value of changes-since must be less than or equal to changes-before."

# Nova's action names (nova/compute/instance_actions.py) of what the gateway does.
CREATE = "create"
REBOOT = "reboot"
STOP = "stop"
START = "start"
REBUILD = "rebuild"
CREATE_IMAGE = "createImage"
LOCK = "lock"
UNLOCK = "unlock"
# NOTE: Nova records no instance action for metadata writes; issue 11 wants them in the history, named
# after Nova's compute API calls (update_instance_metadata / delete_instance_metadata).
UPDATE_METADATA = "update_metadata"
DELETE_METADATA = "delete_metadata"

# Arktos CustomAction operation -> Nova action.
ARKTOS_OPERATIONS: Mapping[str, str] = {"reboot": REBOOT, "snapshot": CREATE_IMAGE, "restore": REBUILD}
# The compute manager's event of each action (``events`` of ``show``), as Nova names them.
_EVENTS: Mapping[str, str] = {
    CREATE: "compute__do_build_and_run_instance",
    REBOOT: "compute_reboot_instance",
    STOP: "compute_stop_instance",
    START: "compute_start_instance",
    REBUILD: "compute_rebuild_instance",
    CREATE_IMAGE: "compute_snapshot_instance",
}
# Nova's time format in instance actions (a naive UTC datetime with microseconds).
NOVA_TIME = "%Y-%m-%dT%H:%M:%S.%f"


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One instance action as the gateway records it on the pod."""

    action: str
    request_id: str
    start_time: str  # NOVA_TIME, UTC
    user_id: str | None
    project_id: str | None
    # The Arktos Action it started (``cluster_cache.action_ref``: name, snapshot name or snapshot id).
    arktos_ref: str = ""
    # A reboot's type (HARD or SOFT): Arktos has one kind of reboot, so the record on the pod is where the
    # type lives for a restarted processor and every replica (``intent_journal.hard_reboots_recorded``).
    reboot_type: str = ""

    def as_json(self) -> Json:
        record: Json = {"action": self.action, "start_time": self.start_time}
        if self.user_id:
            record["user_id"] = self.user_id
        if self.project_id:
            record["project_id"] = self.project_id
        if self.arktos_ref:
            record["arktos_ref"] = self.arktos_ref
        if self.reboot_type:
            record[RECORD_REBOOT_TYPE] = self.reboot_type
        return record


def nova_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(NOVA_TIME)


def new_record(
    ctx: RequestContext,
    token: str | None,
    action: str,
    arktos_ref: str = "",
    now: datetime | None = None,
    reboot_type: str = "",
) -> ActionRecord:
    """The record of ``action`` done by this request (its request id, the caller, the URL's project)."""
    return ActionRecord(
        action=action,
        request_id=ctx.request_id,
        start_time=nova_time(now or datetime.now(UTC)),
        user_id=user_id_for_token(token) if token else None,
        project_id=ctx.tenant,
        arktos_ref=arktos_ref,
        reboot_type=reboot_type,
    )


def annotation_key(request_id: str) -> str:
    return keys.INSTANCE_ACTION_PREFIX + request_id


def annotation_value(record: ActionRecord) -> str:
    return orjson.dumps(record.as_json()).decode()


def record_annotations(record: ActionRecord) -> dict[str, str]:
    """The annotation recording ``record``, for an object being created (a pod, a ReplicaSet template)."""
    return {annotation_key(record.request_id): annotation_value(record)}


def _pointer(key: str) -> str:
    # JSON pointer escaping (RFC 6901): "~" then "/".
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


def record_patch_op(record: ActionRecord) -> Json:
    """The JSON-patch operation recording ``record`` on the pod: append it to the patch of the change it
    records, so the record is written exactly when the change is. The pod must have annotations (every pod
    the gateway creates has)."""
    return {
        "op": "add",
        "path": _pointer(annotation_key(record.request_id)),
        "value": annotation_value(record),
    }


# The key of the record in the details of a CustomAction the processor noted (``ClusterView.note_submitted``).
SUBMISSION_KEY = "instance_action"


def submission_note(record: ActionRecord) -> dict[str, Any]:
    """What goes into the details of a submitted CustomAction: the record, for the recorder and readers."""
    return {SUBMISSION_KEY: {"request_id": record.request_id, **record.as_json()}}


def submitted_record(details: Mapping[str, Any] | None) -> ActionRecord | None:
    """The record in a submission's details (``submission_note``), or None."""
    note = (details or {}).get(SUBMISSION_KEY)
    if not isinstance(note, dict) or not isinstance(note.get("request_id"), str):
        return None
    return record_of(keys.INSTANCE_ACTION_PREFIX + note["request_id"], orjson.dumps(note).decode())


def record_of(key: str, value: Any) -> ActionRecord | None:
    """The record an annotation holds, or None (not a record, or not one the gateway wrote)."""
    if not key.startswith(keys.INSTANCE_ACTION_PREFIX) or not isinstance(value, str):
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("action"), str):
        return None
    start = data.get("start_time")
    user, project, ref = data.get("user_id"), data.get("project_id"), data.get("arktos_ref")
    reboot_type = data.get(RECORD_REBOOT_TYPE)
    return ActionRecord(
        action=data["action"],
        request_id=key[len(keys.INSTANCE_ACTION_PREFIX) :],
        start_time=start if isinstance(start, str) else "",
        user_id=user if isinstance(user, str) else None,
        project_id=project if isinstance(project, str) else None,
        arktos_ref=ref if isinstance(ref, str) else "",
        reboot_type=reboot_type if isinstance(reboot_type, str) else "",
    )


def records_on(pod: Mapping[str, Any]) -> list[ActionRecord]:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    found = (record_of(str(k), v) for k, v in annotations.items()) if isinstance(annotations, dict) else ()
    return [record for record in found if record is not None]


def _arktos_time(value: Any) -> str:
    """An Arktos timestamp (RFC 3339, "Z") in Nova's format; "" if it is none."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        return nova_time(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True)
class Entry:
    """One action of the history: the record, and the Arktos Action it started (if any)."""

    record: ActionRecord
    arktos_action: Mapping[str, Any] | None = None


def history(
    pod: Mapping[str, Any],
    arktos_actions: list[Mapping[str, Any]],
    submitted: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Entry]:
    """Every action of ``pod``, newest first (Nova's order): its records, and its Arktos Actions (those
    without a record yet take the request id the processor noted at submission, ``submitted`` by ref, else
    ``req-<Action uid>``)."""
    meta = pod.get("metadata") or {}
    tenant = str(meta.get("tenant") or "") or None
    born = _arktos_time(meta.get("creationTimestamp"))
    records = records_on(pod)
    # A restore's ref is the snapshot's id, which repeats: oldest record to oldest Action.
    by_ref: dict[tuple[str, str], list[ActionRecord]] = {}
    for linked in sorted((r for r in records if r.arktos_ref), key=lambda r: r.start_time):
        by_ref.setdefault((linked.action, linked.arktos_ref), []).append(linked)
    seen = {r.request_id for r in records}
    entries: list[Entry] = [Entry(r) for r in records if not r.arktos_ref]
    ordered = sorted(
        arktos_actions, key=lambda a: str((a.get("metadata") or {}).get("creationTimestamp") or "")
    )
    for action in ordered:
        nova_action = ARKTOS_OPERATIONS.get(operation_of(action) or "")
        action_meta = action.get("metadata") or {}
        started = _arktos_time(action_meta.get("creationTimestamp"))
        if nova_action is None or (born and started and started < born):
            continue  # not an operation of the gateway's, or of an earlier pod of that name
        ref = action_ref(action)
        waiting = by_ref.get((nova_action, ref))
        record = waiting.pop(0) if waiting else None
        if record is None:
            noted = submitted_record((submitted or {}).get(ref))
            # A note already shown (on the pod, or for an earlier Action of the same ref) is not this one.
            record = noted if noted is not None and noted.request_id not in seen else None
        if record is None:
            record = ActionRecord(
                action=nova_action,
                request_id=f"req-{action_meta.get('uid') or ref}",
                start_time=started,
                user_id=None,
                project_id=tenant,
            )
        seen.add(record.request_id)
        entries.append(Entry(record, action))
    # Records whose Action the watch does not show (yet, or no longer).
    entries.extend(Entry(r) for group in by_ref.values() for r in group)
    entries.sort(key=lambda e: (e.record.start_time, e.record.request_id), reverse=True)
    return entries


# -- views (nova/api/openstack/compute/instance_actions.py, microversion 2.1) -----------------------------


def action_view(entry: Entry, server_id: str, tenant: str | None, version: Version = (2, 1)) -> Json:
    record = entry.record
    failed = entry.arktos_action is not None and _failed(entry.arktos_action)
    view: Json = {
        "action": record.action,
        "instance_uuid": server_id,
        "request_id": record.request_id,
        "user_id": record.user_id,
        "project_id": record.project_id or tenant,
        "start_time": record.start_time,
        "message": "Error" if failed else None,
    }
    if version >= PAGING_FROM:
        view["updated_at"] = record.start_time
    return view


def _failed(action: Mapping[str, Any]) -> bool:
    status = action.get("status") or {}
    return bool(status.get("error") or status.get("errorMessage"))


def _error_details(action: Mapping[str, Any] | None) -> str | None:
    status = (action or {}).get("status") or {}
    found = status.get("errorMessage") or status.get("error")
    return str(found) if found else None


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What an event view may show besides the event: the served version, whether the caller is an
    administrator (Nova's ``events`` and ``events:details`` policies), and the server's node and project."""

    version: Version = (2, 1)
    admin: bool = False
    node: str = ""
    project: str = ""


def events_view(
    entry: Entry, with_traceback: bool, vm_state: str = "", facts: EventFacts | None = None
) -> list[Json]:
    """The compute event of an action whose outcome Arktos tells, else none: a completed Action's, and the
    create's from the VM's state (``vm_state`` of the pod now: built once it left ``building``)."""
    facts = facts or EventFacts()
    action = entry.arktos_action
    name = _EVENTS.get(entry.record.action)
    if name is None:
        return []
    if action is not None and is_complete(action):
        result: str | None = "Error" if _failed(action) else "Success"
    elif entry.record.action == CREATE and vm_state:
        result = None if vm_state == "building" else "Error" if vm_state == "error" else "Success"
    else:
        return []
    event: Json = {
        "event": name,
        "start_time": entry.record.start_time,
        # NOTE: neither an Action nor a pod records when the step finished.
        "finish_time": None,
        "result": result,
    }
    if with_traceback:
        event["traceback"] = None
    if facts.version >= EVENT_HOST_FROM:
        if facts.admin:
            event["host"] = facts.node or None
        event["hostId"] = host_id(facts.project, facts.node)
    if facts.version >= EVENT_DETAILS_FROM and facts.admin:
        event["details"] = _error_details(action)
    return [event]


# -- handlers ----------------------------------------------------------------------------------------------


def _instance_not_found(sid: str) -> Reply:
    return error_reply(Service.COMPUTE, 404, f"Instance {sid} could not be found.")


def _pod_of(sid: str, reply: ArktosReply) -> Mapping[str, Any] | Reply:
    if reply.status != 200:
        return from_arktos(Service.COMPUTE, reply, {404: f"Instance {sid} could not be found."})
    try:
        pod = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        pod = None
    if not is_server(pod):
        return _instance_not_found(sid)
    return pod


def _entries_of(ctx: RequestContext, sid: str, pod: Mapping[str, Any]) -> list[Entry]:
    meta = pod.get("metadata") or {}
    tenant = str(meta.get("tenant") or ctx.tenant or "")
    cluster = ctx.cluster
    arktos_actions: list[Mapping[str, Any]] = []
    submitted: dict[str, Mapping[str, Any]] = {}
    if cluster is not None and tenant:
        # Arktos has just shown the caller this pod: its Actions in the same tenant are the caller's to see.
        arktos_actions = cluster.actions_of_pod(tenant, ctx.config.namespace, sid)
        # With stand-ins for what this processor submitted and the watch has not shown yet.
        names = {str((a.get("metadata") or {}).get("name") or "") for a in arktos_actions}
        for pending in cluster.pending_actions(tenant, ctx.config.namespace, sid, pod):
            if str((pending.get("metadata") or {}).get("name") or "") not in names:
                arktos_actions.append(pending)
        for action in arktos_actions:
            ref = action_ref(action)
            details = cluster.submitted_details(ref)
            if details:
                submitted[ref] = details
    return history(pod, arktos_actions, submitted)


def _pod_get(ctx: RequestContext, sid: str) -> ArktosRequest:
    return ArktosRequest(method="GET", path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid))


def _changes_filter(req: ClientRequest, version: Version) -> tuple[str, str] | Reply:
    """The (since, before) bounds of a 2.58+ list in Nova's time format ("" for none), or Nova's 400."""
    bounds: list[str] = []
    for name in ("changes-since", "changes-before"):
        raw = req.query_one(name) if version >= PAGING_FROM else None
        if raw is None or (name == "changes-before" and version < CHANGES_BEFORE_FROM):
            bounds.append("")
            continue
        moment = parse_date_time(raw)
        if moment is None:  # the query schema has refused it already
            return bad_request(
                Service.COMPUTE, f"Invalid input for query parameters {name}. Value: {echo(raw)}."
            )
        bounds.append(nova_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC)))
    since, before = bounds
    if since and before and before < since:
        return bad_request(Service.COMPUTE, CHANGES_ORDER)
    return since, before


def list_instance_actions(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    sid = params["server_id"]
    version = ctx.compute_version
    query = _LIST_QUERIES[max(since for since in _LIST_QUERIES if since <= version)]
    refused = query.refusal(req, version)
    if refused is not None:
        return refused
    changes = _changes_filter(req, version)
    if isinstance(changes, Reply):
        return changes
    since, before = changes

    def translate(reply: ArktosReply) -> Reply:
        pod = _pod_of(sid, reply)
        if isinstance(pod, Reply):
            return pod
        entries = _entries_of(ctx, sid, pod)
        if version < PAGING_FROM:
            return json_reply(200, {"instanceActions": [action_view(e, sid, ctx.tenant) for e in entries]})
        wanted = [
            e
            for e in entries
            if (not since or e.record.start_time >= since) and (not before or e.record.start_time <= before)
        ]
        page = marker_paging.page_of(wanted, lambda e: e.record.request_id, marker_paging.page_request(req))
        if isinstance(page, Reply):
            return page
        body: Json = {"instanceActions": [action_view(e, sid, ctx.tenant, version) for e in page]}
        last = page[-1].record.request_id if page else None
        links = marker_paging.next_links(ctx, req, f"servers/{sid}/os-instance-actions", len(page), last)
        if links:
            body["links"] = links
        return json_reply(200, body)

    return Forward(_pod_get(ctx, sid), translate)


def show_instance_action(ctx: RequestContext, req: ClientRequest, params: Mapping[str, str]) -> Outcome:
    sid = params["server_id"]
    request_id = params["request_id"]
    version = ctx.compute_version
    refused = _SHOW_QUERY.refusal(req, version)
    if refused is not None:
        return refused

    def translate(reply: ArktosReply) -> Reply:
        pod = _pod_of(sid, reply)
        if isinstance(pod, Reply):
            return pod
        entries = _entries_of(ctx, sid, pod)
        entry = next((e for e in entries if e.record.request_id == request_id), None)
        if entry is None:
            return error_reply(Service.COMPUTE, 404, f"Action {echo(request_id)} not found")
        shown = action_view(entry, sid, ctx.tenant, version)
        # NOTE: below 2.51 Nova's default policy shows ``events`` to administrators only, but the openstack
        # CLI's ``server event show`` fails on an action without them; every caller gets them, with the
        # traceback for administrators only (Nova's rule from 2.51).
        vm_state = state_of(pod).vm_state
        admin = ctx.tenant == SYSTEM_TENANT
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        project = str(shown["project_id"] or "")
        facts = EventFacts(version, admin, node, project)
        shown["events"] = events_view(entry, with_traceback=admin, vm_state=vm_state, facts=facts)
        return json_reply(200, {"instanceAction": shown})

    return Forward(_pod_get(ctx, sid), translate)
