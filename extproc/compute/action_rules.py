"""Nova's state rules for server actions, and the task state an in-flight Arktos Action shows as.

Nova guards each action with ``@check_instance_state(vm_state=..., task_state=...)`` (nova/compute/api.py)
and answers a refusal with 409 "Cannot '<action>' instance <id> while it is in <attr> <state>"
(``raise_http_conflict_for_instance_invalid_state``), checking vm_state first, then task_state. ``RULES``
copies those decorators for the actions Arktos can perform, with deliberate narrowings because Arktos can
only snapshot or restore a running VM (a stopped VM's pod is off its node; its node agent completes such an
Action with an error), said in the 409's message, and does not restart a failed VM pod:

| action      | Nova's vm_states                          | here   | task_states                    |
|-------------|-------------------------------------------|--------|--------------------------------|
| reboot SOFT | active                                    | same   | None                           |
| reboot HARD | active, stopped, paused, suspended, error | same   | task_states.ALLOW_REBOOT       |
| os-stop     | active, error                             | same   | None                           |
| os-start    | stopped                                   | same   | None                           |
| createImage | active, stopped, paused, suspended        | active | None                           |
| rebuild     | active, stopped, error                    | active, stopped | None                  |
| (restore)   | rebuild from the server's own snapshot    | active | None                           |

Everything here is pure: the caller computes the server's state (``server_status``) and the pending
Actions (from the cluster cache) and asks ``refusal``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from extproc.cluster_cache import REBOOT_TYPE, ClusterView, operation_of
from extproc.compute.server_status import ServerState


class Kind(Enum):
    """The actions the gateway performs (a HARD and a SOFT reboot follow different rules)."""

    REBOOT_SOFT = "reboot_soft"
    REBOOT_HARD = "reboot_hard"
    STOP = "stop"
    START = "start"
    CREATE_IMAGE = "create_image"
    REBUILD = "rebuild"


@dataclass(frozen=True, slots=True)
class Rule:
    # The action's name in Nova's message ("reboot", "stop", "start", "createImage", "rebuild").
    nova_name: str
    vm_states: frozenset[str]
    task_states: frozenset[str | None]
    # vm_state -> why Arktos cannot do what Nova would do in that state (said after Nova's message).
    arktos_limits: Mapping[str, str] = field(default_factory=dict)


# nova/compute/task_states.py ALLOW_REBOOT
_ALLOW_REBOOT: frozenset[str | None] = frozenset(
    {
        None,
        "rebooting",
        "reboot_pending",
        "reboot_started",
        "resuming",
        "rebooting_hard",
        "unpausing",
        "pausing",
        "suspending",
    }
)
_IDLE: frozenset[str | None] = frozenset({None})

_SNAPSHOT_RUNNING_ONLY = (
    "Arktos can only snapshot a running VM (a stopped VM's pod is taken off its node, so there is no VM to "
    "snapshot); start the server first"
)
_RESTORE_RUNNING_ONLY = (
    "Arktos can only restore a snapshot into a running VM (a stopped VM's pod is taken off its node); start "
    "the server first"
)
_NO_FAILED_RESTART = (
    "Arktos does not restart a failed VM pod, so it cannot be rebuilt; delete the server and create a new one"
)

RULES: Mapping[Kind, Rule] = {
    Kind.REBOOT_SOFT: Rule("reboot", frozenset({"active"}), _IDLE),
    Kind.REBOOT_HARD: Rule(
        "reboot", frozenset({"active", "stopped", "paused", "suspended", "error"}), _ALLOW_REBOOT
    ),
    Kind.STOP: Rule("stop", frozenset({"active", "error"}), _IDLE),
    Kind.START: Rule("start", frozenset({"stopped"}), _IDLE),
    # NOTE: narrower than Nova (see the module docstring), and the messages say why.
    Kind.CREATE_IMAGE: Rule(
        "createImage",
        frozenset({"active"}),
        _IDLE,
        dict.fromkeys(("stopped", "paused", "suspended"), _SNAPSHOT_RUNNING_ONLY),
    ),
    Kind.REBUILD: Rule("rebuild", frozenset({"active", "stopped"}), _IDLE, {"error": _NO_FAILED_RESTART}),
}
# A rebuild from the server's own snapshot is Arktos's restore action: a running VM only.
RESTORE = Rule(
    "rebuild",
    frozenset({"active"}),
    _IDLE,
    {"stopped": _RESTORE_RUNNING_ONLY, "error": _NO_FAILED_RESTART},
)


def conflict_message(nova_name: str, server_id: str, attr: str, state: str | None) -> str:
    """Nova's raise_http_conflict_for_instance_invalid_state message."""
    return f"Cannot '{nova_name}' instance {server_id} while it is in {attr} {state}"


def refusal(kind: Kind, server_id: str, state: ServerState, rule: Rule | None = None) -> str | None:
    """Nova's 409 message if ``kind`` (by ``rule``, default its own) is not allowed in ``state``; None if
    it is. Where Nova would allow it and Arktos cannot do it, the message says why."""
    rule = rule or RULES[kind]
    if state.vm_state not in rule.vm_states:
        message = conflict_message(rule.nova_name, server_id, "vm_state", state.vm_state)
        why = rule.arktos_limits.get(state.vm_state)
        return f"{message}: {why}" if why else message
    if state.task_state not in rule.task_states:
        return conflict_message(rule.nova_name, server_id, "task_state", state.task_state)
    return None


def task_state_of(action: Mapping[str, Any]) -> str | None:
    """The Nova task state of one pending Arktos Action."""
    operation = operation_of(action)
    if operation == "reboot":
        annotations = (action.get("metadata") or {}).get("annotations") or {}
        # NOTE: Arktos has one kind of reboot; HARD is known from the processor's note of what it submitted
        # and from the reboot's instance-action record on the pod (``ClusterCache.pending_actions``).
        return "rebooting_hard" if annotations.get(REBOOT_TYPE) == "HARD" else "rebooting"
    if operation == "snapshot":
        return "image_snapshot"
    if operation == "restore":
        return "rebuilding"
    return None


def pending_task(actions: Iterable[Mapping[str, Any]]) -> str | None:
    """The task state a server shows while ``actions`` (pending, oldest first) are in flight.

    Nova runs one task at a time; when Arktos has several, the newest one is what the user last asked for.
    """
    task = None
    for action in actions:
        task = task_state_of(action) or task
    return task


def task_lookup_for(cluster: ClusterView | None, namespace: str) -> Callable[[Mapping[str, Any]], str | None]:
    """pod -> its pending task state, from the cache's pending Actions (None without a cache)."""

    def lookup(pod: Mapping[str, Any]) -> str | None:
        if cluster is None:
            return None
        meta = pod.get("metadata") or {}
        tenant = str(meta.get("tenant") or "")
        name = str(meta.get("name") or "")
        if not tenant or not name:
            return None
        return pending_task(
            cluster.pending_actions(tenant, str(meta.get("namespace") or namespace), name, pod)
        )

    return lookup
