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
  creating pods: never on the simulator (its controller makes all pods of a sync at once), and on Arktos
  only for pods created within the same second by different slow-start batches of the controller.

The first server of the reply (Nova answers a multi-create with the first server) is the first member the
processor's watch shows (the lowest in ``member_order`` if it shows several at once); see ``first_member``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from extproc import annotations as keys

Json = dict[str, Any]

# Orphan: keep the pods, remove their ownerReferences (fixtures 29, 30).
ORPHAN_DELETE_OPTIONS: Json = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"}

# How long the create reply waits for the controller's first pod. Below Envoy's ext_proc message timeout
# (5 s by default, see envoy/render.py): past that Envoy would fail the request although the batch exists.
FIRST_SERVER_WAIT_SECONDS = 3.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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

    Written indices are kept; every other member takes the smallest free index, in ``member_order``.
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
    members[name] = pod
    return provisional(pod, assign_indices(members.values())[name])


def first_member(members: Iterable[Mapping[str, Any]]) -> str | None:
    """The member with the lowest index among ``members`` (None if there is none).

    The create reply calls it with the members the watch has delivered when the first one appears: with
    the controller's slow start (ONE pod first, on Arktos and on the simulator) that is the first pod
    created, so the reply does not wait for the rest of the batch. KNOWN GAP: the indices are assigned later
    over the whole batch in ``member_order``; creationTimestamp has one-second resolution and later pods of
    the same second sort by their random names, so the reply's server is ``name-1`` only when its name sorts
    first among them (otherwise it is ``name-<k>``: the id is right, which is what clients use). Making it
    always ``name-1`` needs the reply's choice handed to the reconciler (which would then index it 1).
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


@dataclass(frozen=True, slots=True)
class CreationFailure:
    """The controller could create no member at all: what the create reply answers instead of a server."""

    status: int
    message: str


def failure_reply(message: str) -> CreationFailure:
    """Nova's answer for a batch Arktos refuses to populate: quota → 403 (Nova's ``TooManyInstances`` is
    "Quota exceeded for instances: ..."), anything else (admission, validation) → 400 with Arktos's words."""
    if "exceeded quota" in message:
        return CreationFailure(403, f"Quota exceeded for instances: {message}")
    return CreationFailure(400, message)


def name_patch(base: str, index: int) -> Json:
    """The merge patch the reconciler writes on a member: its Nova name and its index."""
    return {
        "metadata": {
            "annotations": {keys.DISPLAY_NAME: indexed_name(base, index), keys.BATCH_INDEX: str(index)}
        }
    }
