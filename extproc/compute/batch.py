"""Batch create (Nova's ``min_count``/``max_count``) as one Arktos ReplicaSet: the pure part.

A ``POST /servers`` with ``max_count`` > 1 becomes ONE ``POST replicasets``: the ReplicaSet is named by the
batch's reservation id (``r-<8 lowercase alnum>``: a valid DNS-1123 name and label value), selects on the
label ``openstack.arktos.io/reservation-id``, asks for ``max_count`` replicas (Nova creates ``max_count``
servers whenever it can) and its template is exactly the VM pod a single create would send, plus the batch
size annotation that marks its pods as batch members. Arktos's controller names the pods ``<rs>-<5 random>``.

What happens after the reply (``extproc.batch_reconciler``): once the controller has made every pod, the
processor gives each one its Nova display name ``name-<i>`` and then deletes the ReplicaSet with
``propagationPolicy: Orphan`` so every server is independent (deleting one no longer makes a replacement).

Display names, and why they never change once shown:
- Nova numbers a batch ``name-1 … name-N`` in creation order. A pod's index is written by the reconciler
  (``batch-index`` annotation, with ``display-name`` ``name-<i>``); until then every view derives the same
  index with ``assign_indices``: pods that have an index keep it, the others take the smallest free indices
  in ``member_order`` (creationTimestamp, then pod name). The reconciler writes exactly what this function
  answers, so a list shown before the write shows the names written afterwards.
- The order only depends on the set of members. The reconciler writes names only once the set is
  complete (all replicas exist), so names can only be derived differently while the controller is still
  creating pods: only for pods created within the same second by different slow-start batches of the
  controller (Arktos's, and the simulator's, which creates missing pods in batches of 1, 2, 4, ...).
- One exception to ``member_order``: the member the create reply answered with is index 1 (Nova's reply
  is the batch's first server, ``name-1``). The reply tells the processor's cache (``note_first_member``),
  which marks that pod with ``FIRST_MEMBER`` (a cache-only annotation, never written to Arktos);
  ``assign_indices`` gives a marked member index 1 when no written index holds it. See ``first_member``.

Members Arktos refused to create (``ReplicaFailure``: quota, admission) while others exist are shown as
ERROR servers with a fault (Nova never loses a server silently): ``failed_members`` derives them from the
ReplicaSet, each with a synthetic, stable id ``<reservation id>-failed-<index>`` (``failed_member_id``;
never a controller pod name, which is ``<rs>-<5 chars without "-">``). Deleting one lowers the
ReplicaSet's replicas by one (``remove_failed_patch``); the reconciler then detaches the batch as usual.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from extproc import annotations as keys
from extproc.errors import refusal_words

Json = dict[str, Any]

# Orphan: keep the pods, remove their ownerReferences (fixtures 29, 30).
ORPHAN_DELETE_OPTIONS: Json = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"}

# How long the create reply waits for the controller's first pod. Below Envoy's ext_proc message timeout
# (5 s by default, see envoy/render.py): past that Envoy would fail the request although the batch exists.
FIRST_SERVER_WAIT_SECONDS = 3.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Cache-only mark of the member the create reply answered with (never written to Arktos).
FIRST_MEMBER = keys.FIRST_MEMBER


def build_replicaset(pod: Mapping[str, Any], reservation_id: str, count: int) -> Json:
    """The ReplicaSet creating ``count`` copies of ``pod`` (the VM pod of a single create).

    The template keeps the pod's labels and annotations (display name, flavor, image, ...) and adds the
    batch size; ``imagePullPolicy`` must be set in a template (Arktos defaults it on pods only, fixture 27),
    and ``build_pod`` always sets it.
    """
    meta = pod.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    labels[keys.RESERVATION_ID] = reservation_id
    template_annotations = dict(meta.get("annotations") or {})
    template_annotations[keys.BATCH_SIZE] = str(count)
    spec = copy.deepcopy(dict(pod.get("spec") or {}))
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": reservation_id,
            "labels": {keys.RESERVATION_ID: reservation_id},
            "annotations": {keys.CREATED_BY: keys.CREATED_BY_GATEWAY},
        },
        "spec": {
            "replicas": count,
            "selector": {"matchLabels": {keys.RESERVATION_ID: reservation_id}},
            "template": {
                "metadata": {"labels": labels, "annotations": template_annotations},
                "spec": spec,
            },
        },
    }


# ---------------------------------------------------------------------------------------------------------
# Members and their indices


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    found = obj.get("metadata")
    return found if isinstance(found, dict) else {}


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    found = _meta(obj).get("annotations")
    return found if isinstance(found, dict) else {}


def reservation_of(obj: Mapping[str, Any]) -> str | None:
    labels = _meta(obj).get("labels")
    value = labels.get(keys.RESERVATION_ID) if isinstance(labels, dict) else None
    return value if isinstance(value, str) and value else None


def is_member(pod: Mapping[str, Any]) -> bool:
    """A pod made from a batch template (a single create has a reservation id too, but no batch size)."""
    return keys.BATCH_SIZE in _annotations(pod) and reservation_of(pod) is not None


def is_live(pod: Mapping[str, Any]) -> bool:
    return not _meta(pod).get("deletionTimestamp")


def is_first_marked(pod: Mapping[str, Any]) -> bool:
    """The member the create reply answered with (marked by the processor's cache, see the docstring)."""
    return _annotations(pod).get(FIRST_MEMBER) == "true"


def mark_first(pod: Mapping[str, Any]) -> Json:
    """A copy of ``pod`` carrying the cache-only ``FIRST_MEMBER`` mark."""
    shown = dict(pod)
    meta = dict(_meta(pod))
    meta["annotations"] = {**_annotations(pod), FIRST_MEMBER: "true"}
    shown["metadata"] = meta
    return shown


def index_of(pod: Mapping[str, Any]) -> int | None:
    """The index the reconciler wrote, None before (or if the annotation is unusable)."""
    raw = _annotations(pod).get(keys.BATCH_INDEX)
    if not isinstance(raw, str) or not raw.isdigit() or int(raw) < 1:
        return None
    return int(raw)


def base_name(pod: Mapping[str, Any]) -> str:
    """The name the client asked for: the template's display name, kept until the index is written."""
    return str(_annotations(pod).get(keys.DISPLAY_NAME) or "")


def indexed_name(base: str, index: int) -> str:
    """Nova's multi-create name (``CONF.multi_instance_display_name_template`` = ``%(name)s-%(count)d``)."""
    return f"{base}-{index}"


def _created(pod: Mapping[str, Any]) -> datetime:
    raw = _meta(pod).get("creationTimestamp")
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return _EPOCH
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return _EPOCH


def member_order(pod: Mapping[str, Any]) -> tuple[datetime, str]:
    """Creation order as far as Arktos tells it: creationTimestamp (seconds), then the pod name."""
    return (_created(pod), str(_meta(pod).get("name") or ""))


def assign_indices(members: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """pod name -> index for the live members of ONE batch.

    Written indices are kept; the member marked ``FIRST_MEMBER`` (the create reply's) takes index 1 if no
    written index holds it; every other member takes the smallest free index, in ``member_order``.
    Deterministic for a given set of members: the views and the reconciler call it on the same set.
    """
    live = [p for p in members if is_live(p)]
    result: dict[str, int] = {}
    taken: set[int] = set()
    for pod in live:
        index = index_of(pod)
        if index is not None and index not in taken:
            result[str(_meta(pod).get("name"))] = index
            taken.add(index)
    if 1 not in taken:
        marked = next(
            (p for p in live if str(_meta(p).get("name")) not in result and is_first_marked(p)), None
        )
        if marked is not None:
            result[str(_meta(marked).get("name"))] = 1
            taken.add(1)
    free = 1
    for pod in sorted((p for p in live if str(_meta(p).get("name")) not in result), key=member_order):
        while free in taken:
            free += 1
        result[str(_meta(pod).get("name"))] = free
        taken.add(free)
    return result


BatchKey = tuple[str, str, str]  # (tenant, namespace, reservation id)


def batch_key(pod: Mapping[str, Any]) -> BatchKey:
    meta = _meta(pod)
    return (str(meta.get("tenant") or ""), str(meta.get("namespace") or ""), reservation_of(pod) or "")


def with_provisional_names(items: list[Any]) -> list[Any]:
    """``items`` (an Arktos pod list) where batch members without a written index show ``name-<i>``.

    The members of a batch are taken from ``items`` itself: a server list reads every pod of the namespace
    (or every pod of the reservation), so the whole batch is there. Pods are copied, never changed in place.
    """
    batches: dict[BatchKey, list[Mapping[str, Any]]] = {}
    for pod in items:
        if isinstance(pod, dict) and is_member(pod) and is_live(pod):
            batches.setdefault(batch_key(pod), []).append(pod)
    renamed: dict[int, Json] = {}
    for members in batches.values():
        if all(index_of(p) is not None for p in members):
            continue
        indices = assign_indices(members)
        for pod in members:
            if index_of(pod) is None:
                renamed[id(pod)] = provisional(pod, indices[str(_meta(pod).get("name"))])
    if not renamed:
        return items
    return [renamed.get(id(pod), pod) for pod in items]


def provisional(pod: Mapping[str, Any], index: int) -> Json:
    """A copy of ``pod`` showing the name the reconciler will write."""
    shown = dict(pod)
    meta = dict(_meta(pod))
    annotations_ = dict(_annotations(pod))
    annotations_[keys.DISPLAY_NAME] = indexed_name(base_name(pod), index)
    meta["annotations"] = annotations_
    shown["metadata"] = meta
    return shown


def name_for(pod: Mapping[str, Any], siblings: Iterable[Mapping[str, Any]]) -> Json:
    """``pod`` as a view shows it, given the batch's members known elsewhere (the watch cache)."""
    if not is_member(pod) or index_of(pod) is not None or not is_live(pod):
        return dict(pod)
    name = str(_meta(pod).get("name"))
    members = {str(_meta(p).get("name")): p for p in siblings if is_member(p)}
    cached = members.get(name)
    # ``pod`` comes from Arktos; the cache's copy of it may carry the create reply's mark.
    members[name] = mark_first(pod) if cached is not None and is_first_marked(cached) else pod
    return provisional(pod, assign_indices(members.values())[name])


FirstOf = Callable[[BatchKey], str | None]


def mark_first_members(items: list[Any], first_of: FirstOf) -> list[Any]:
    """``items`` (pods from Arktos) where the member a create reply answered with carries the cache's mark
    (``first_of``: the processor cache's memory of those replies), so their names agree with the cache's."""
    marked: dict[int, Json] = {}
    for pod in items:
        unnamed = isinstance(pod, dict) and is_member(pod) and index_of(pod) is None
        if unnamed and not is_first_marked(pod) and first_of(batch_key(pod)) == _meta(pod).get("name"):
            marked[id(pod)] = mark_first(pod)
    if not marked:
        return items
    return [marked.get(id(pod), pod) for pod in items]


def first_member(members: Iterable[Mapping[str, Any]]) -> str | None:
    """The member with the lowest index among ``members`` (None if there is none).

    The create reply calls it with the members the watch has delivered when the first one appears: with
    the controller's slow start (ONE pod first, on Arktos and on the simulator) that is the first pod
    created, so the reply does not wait for the rest of the batch. ``member_order`` alone would not keep it
    ``name-1`` (creationTimestamp has one-second resolution, later pods of the same second sort by their
    random names), so the reply hands its choice to the cache (``ClusterView.note_first_member``), whose
    ``FIRST_MEMBER`` mark makes ``assign_indices`` give it index 1 in every view and in the reconciler.
    Restart: the mark lives in the processor's memory only; a processor restarted before the reconciler
    wrote the indices names the batch by ``member_order`` alone (the reply's server may then be ``name-<k>``;
    its id, which clients use, is right either way).
    """
    indices = assign_indices(members)
    return min(indices, key=indices.__getitem__) if indices else None


# ---------------------------------------------------------------------------------------------------------
# The ReplicaSet's state, as the reconciler and the create reply read it


def replicas_wanted(rs: Mapping[str, Any]) -> int:
    spec = rs.get("spec") or {}
    value = spec.get("replicas", 1)
    return value if isinstance(value, int) else 1


def creation_failure(rs: Mapping[str, Any]) -> str | None:
    """The message of a ``ReplicaFailure`` condition (the controller could not create a pod), if any.

    Kubernetes's ReplicaSet controller records a failed pod create (quota, admission, validation) as
    condition ``ReplicaFailure`` = True, reason ``FailedCreate``, and keeps retrying.
    """
    for condition in (rs.get("status") or {}).get("conditions") or []:
        if (
            isinstance(condition, dict)
            and condition.get("type") == "ReplicaFailure"
            and condition.get("status") == "True"
        ):
            return str(condition.get("message") or condition.get("reason") or "FailedCreate")
    return None


def made_nothing(rs: Mapping[str, Any]) -> bool:
    """The controller reports that no pod of ``rs`` exists (``status.replicas`` 0). Checked together with
    the cache's members: pods and ReplicaSets come on separate watches, so the ReplicaSet's failure can
    arrive before the pods the controller made just before it."""
    made = (rs.get("status") or {}).get("replicas", 0)
    return not made


@dataclass(frozen=True, slots=True)
class CreationFailure:
    """The controller could create no member at all: what the create reply answers instead of a server."""

    status: int
    message: str


def failure_reply(message: str) -> CreationFailure:
    """Nova's answer for a batch Arktos refuses to populate: quota → 403 (Nova's ``TooManyInstances`` is
    "Quota exceeded for instances: ..."), anything else (admission, validation) → 400, in Nova's words
    (``errors.refusal_words``: no Kubernetes names)."""
    return CreationFailure(*refusal_words(message))


def name_patch(base: str, index: int) -> Json:
    """The merge patch the reconciler writes on a member: its Nova name and its index."""
    return {
        "metadata": {
            "annotations": {keys.DISPLAY_NAME: indexed_name(base, index), keys.BATCH_INDEX: str(index)}
        }
    }


# ---------------------------------------------------------------------------------------------------------
# Members Arktos refused to create: ERROR servers until the user deletes them


_FAILED_ID_RE = re.compile(r"(r-[a-z0-9]{8})-failed-([1-9][0-9]{0,5})")


def failed_member_id(reservation: str, index: int) -> str:
    """The synthetic server id of missing member ``index`` (a DNS-1123 subdomain, so a valid server id)."""
    return f"{reservation}-failed-{index}"


def parse_failed_member_id(sid: str) -> tuple[str, int] | None:
    """(reservation id, index) of a synthetic id, None for any other server id."""
    found = _FAILED_ID_RE.fullmatch(sid)
    return (found.group(1), int(found.group(2))) if found else None


def _failure_condition(rs: Mapping[str, Any]) -> Mapping[str, Any]:
    for condition in (rs.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "ReplicaFailure":
            return condition
    return {}


def failed_indices(rs: Mapping[str, Any], taken: Iterable[int], live: int) -> list[int]:
    """The indices of the members the controller could not create, while it reports why.

    ``taken``: the indices of the ``live`` members that exist (``assign_indices``). Missing members are
    ``replicas - live`` and take the smallest indices nobody holds, so they keep their index while the
    existing members keep theirs. None while the controller reports no failure (it may just be slow), none
    for a batch without any member (the create reply answered the error and the reconciler deletes it).
    """
    if _meta(rs).get("deletionTimestamp") or creation_failure(rs) is None or live < 1:
        return []
    missing = replicas_wanted(rs) - live
    held = set(taken)
    found: list[int] = []
    index = 1
    while len(found) < missing:
        if index not in held:
            found.append(index)
        index += 1
    return found


def failed_indices_of(rs: Mapping[str, Any], members: Iterable[Mapping[str, Any]]) -> list[int]:
    """``failed_indices`` given the batch's members (as the processor's cache shows them)."""
    indices = assign_indices(members)
    return failed_indices(rs, indices.values(), len(indices))


def failed_member(rs: Mapping[str, Any], index: int) -> Json:
    """Missing member ``index`` of ``rs`` as a pod the server views render: ERROR, with the ReplicaSet's
    ``ReplicaFailure`` message as the fault (its time: when the controller first reported it)."""
    meta = _meta(rs)
    reservation = str(meta.get("name") or "")
    template = (rs.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    annotations_ = dict(template_meta.get("annotations") or {})
    annotations_[keys.DISPLAY_NAME] = indexed_name(str(annotations_.get(keys.DISPLAY_NAME) or ""), index)
    annotations_[keys.BATCH_INDEX] = str(index)
    since = _failure_condition(rs).get("lastTransitionTime") or meta.get("creationTimestamp")
    return {
        "metadata": {
            "name": failed_member_id(reservation, index),
            "tenant": meta.get("tenant"),
            "namespace": meta.get("namespace"),
            "labels": {**(template_meta.get("labels") or {}), keys.RESERVATION_ID: reservation},
            "annotations": annotations_,
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": copy.deepcopy(dict(template.get("spec") or {})),
        "status": {
            "phase": "Failed",
            "reason": "FailedCreate",
            "message": refusal_words(creation_failure(rs) or "")[1],
            "conditions": [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": since}],
        },
    }


def failed_members(rs: Mapping[str, Any], members: Iterable[Mapping[str, Any]]) -> list[Json]:
    return [failed_member(rs, i) for i in failed_indices_of(rs, members)]


def remove_failed_patch(rs: Mapping[str, Any]) -> list[Json]:
    """The JSON patch that gives up one missing member: replicas - 1, only if the ReplicaSet is still as
    the cache shows it (same replicas wanted, same number of pods made). If the controller has created the
    member meanwhile, ``status.replicas`` differs and Arktos refuses the patch (a failed ``test``), so a
    live member is never scaled away."""
    wanted = replicas_wanted(rs)
    made = (rs.get("status") or {}).get("replicas", 0)
    return [
        {"op": "test", "path": "/spec/replicas", "value": wanted},
        {"op": "test", "path": "/status/replicas", "value": made if isinstance(made, int) else 0},
        {"op": "replace", "path": "/spec/replicas", "value": wanted - 1},
    ]


# A patch Arktos always refuses after authorizing the caller (no ReplicaSet wants -1 replicas): sent when
# the cache knows no such missing member, so that Arktos, not the cache, answers (403, 404, or the test).
IMPOSSIBLE_REPLICAS_PATCH: list[Json] = [{"op": "test", "path": "/spec/replicas", "value": -1}]
