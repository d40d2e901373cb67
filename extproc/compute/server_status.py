"""Nova's view of a VM pod's state: (vm_state, task_state, power_state, status), as a table.

Inputs are what Arktos tells about a VM pod: the pod ``phase``, the wanted ``spec.virtualMachine.powerSpec``,
the node agent's ``status.virtualMachineStatus.state`` / ``powerState``, whether the pod is scheduled
(``spec.nodeName``), whether the VM has run before, ``metadata.deletionTimestamp``, and whether the image the
node agent reports (``status.virtualMachineStatus.image``) is still not the spec's (a rebuild in progress).

What the Arktos node agent reports (arktos-api.md):

    VM running                    state active     powerState running   phase Running
    exited, or powerSpec=Shutdown state stopped    powerState shutdown  phase NoSchedule (when Shutdown)
    anything else (creating ...)  state suspended  powerState nostate   phase Pending
    failed                                                              phase Failed

``RULES`` is read top to bottom; the first row that matches wins. ``status`` is then derived from
(vm_state, task_state) exactly as Nova's ``nova/api/openstack/common.py`` ``_STATE_MAP`` does, so the two can
never disagree. A deleting pod keeps its row's vm_state with task_state "deleting" (Nova shows a server being
deleted as e.g. ACTIVE/deleting until it is gone), and ``pending_task`` is the hook for task states of
in-flight actions the gateway knows about (reboot, snapshot...), which Arktos's pod does not show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Nova's power states (nova/compute/power_state.py).
NOSTATE = 0
RUNNING = 1
PAUSED = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED = 7

# The node agent's powerState strings -> Nova power states.
POWER_STATES: Mapping[str, int] = {
    "nostate": NOSTATE,
    "running": RUNNING,
    "paused": PAUSED,
    "shutdown": SHUTDOWN,
    "crashed": CRASHED,
    "suspended": SUSPENDED,
}

# Nova's _STATE_MAP, restricted to the task states the gateway can show.
_STATE_MAP: Mapping[str, Mapping[str | None, str]] = {
    "active": {
        None: "ACTIVE",
        "rebooting": "REBOOT",
        "reboot_pending": "REBOOT",
        "reboot_started": "REBOOT",
        "rebooting_hard": "HARD_REBOOT",
        "reboot_pending_hard": "HARD_REBOOT",
        "reboot_started_hard": "HARD_REBOOT",
        "updating_password": "PASSWORD",
        "rebuilding": "REBUILD",
        "rebuild_block_device_mapping": "REBUILD",
        "rebuild_spawning": "REBUILD",
        "migrating": "MIGRATING",
        "resize_prep": "RESIZE",
        "resize_migrating": "RESIZE",
        "resize_migrated": "RESIZE",
        "resize_finish": "RESIZE",
    },
    "building": {None: "BUILD"},
    "stopped": {
        None: "SHUTOFF",
        "resize_prep": "RESIZE",
        "resize_migrating": "RESIZE",
        "resize_migrated": "RESIZE",
        "resize_finish": "RESIZE",
        "rebuilding": "REBUILD",
        "rebuild_block_device_mapping": "REBUILD",
        "rebuild_spawning": "REBUILD",
    },
    "resized": {None: "VERIFY_RESIZE", "resize_reverting": "REVERT_RESIZE"},
    "paused": {None: "PAUSED", "migrating": "MIGRATING"},
    "suspended": {None: "SUSPENDED"},
    "rescued": {None: "RESCUE"},
    "error": {
        None: "ERROR",
        "rebuilding": "REBUILD",
        "rebuild_block_device_mapping": "REBUILD",
        "rebuild_spawning": "REBUILD",
    },
    "deleted": {None: "DELETED"},
    "soft-delete": {None: "SOFT_DELETED"},
    "shelved": {None: "SHELVED"},
    "shelved_offloaded": {None: "SHELVED_OFFLOADED"},
}


def nova_status(vm_state: str, task_state: str | None) -> str:
    """Nova's status_from_state: the task-specific status, else the vm_state's default, else UNKNOWN."""
    by_task = _STATE_MAP.get(vm_state)
    if by_task is None:
        return "UNKNOWN"
    return by_task.get(task_state, by_task[None])


@dataclass(frozen=True, slots=True)
class PodState:
    """The normalized inputs; "" stands for "not reported"."""

    phase: str = ""
    power_spec: str = "Running"
    vm_state: str = ""
    vm_power: str = ""
    scheduled: bool = False
    has_run: bool = False
    deleting: bool = False
    # The VM image was changed (a rebuild) and the node agent still reports the VM of the old one.
    rebuilding: bool = False


@dataclass(frozen=True, slots=True)
class ServerState:
    vm_state: str
    task_state: str | None
    power_state: int
    status: str


# A row's power state: an int, or FROM_VM for "whatever the node agent reports" (nostate if nothing).
FROM_VM = -1
ANY = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One table row: each condition is a set of accepted values, or ANY."""

    phase: frozenset[str] | None
    power_spec: frozenset[str] | None
    vm_state: frozenset[str] | None
    vm_power: frozenset[str] | None
    scheduled: bool | None
    has_run: bool | None
    result: tuple[str, str | None, int]  # vm_state, task_state, power_state (or FROM_VM)
    why: str
    rebuilding: bool | None = ANY

    def matches(self, pod: PodState) -> bool:
        return (
            (self.rebuilding is None or pod.rebuilding == self.rebuilding)
            and (self.phase is None or pod.phase in self.phase)
            and (self.power_spec is None or pod.power_spec in self.power_spec)
            and (self.vm_state is None or pod.vm_state in self.vm_state)
            and (self.vm_power is None or pod.vm_power in self.vm_power)
            and (self.scheduled is None or pod.scheduled == self.scheduled)
            and (self.has_run is None or pod.has_run == self.has_run)
        )


def _s(*values: str) -> frozenset[str]:
    return frozenset(values)


# "" = the node agent has not reported a VM status (yet).
_CREATING = _s("", "suspended")  # the agent reports a VM being created as suspended/nostate
_NO_POWER = _s("", "nostate")
_UP = _s("", "active")
_UP_POWER = _s("", "running")

RULES: tuple[Rule, ...] = (
    # -- failures first: nothing else about a failed VM matters to the user.
    Rule(_s("Failed"), ANY, ANY, ANY, ANY, ANY, ("error", None, FROM_VM),
         "The pod failed: the VM will not come back by itself, Nova's ERROR."),
    Rule(ANY, ANY, _s("error"), ANY, ANY, ANY, ("error", None, FROM_VM),
         "The node agent reports the VM in error."),
    Rule(ANY, ANY, ANY, _s("crashed"), ANY, ANY, ("error", None, CRASHED),
         "The hypervisor reports the VM crashed; Nova shows a crashed guest as ERROR with power CRASHED."),
    Rule(_s("Unknown"), ANY, ANY, ANY, ANY, ANY, ("unknown", None, FROM_VM),
         "The node is unreachable: Nova's UNKNOWN (host down)."),
    # -- rebuilding: the VM image changed; until the node agent reports the VM of the new image.
    Rule(ANY, _s("Running"), ANY, ANY, ANY, ANY, ("active", "rebuilding", FROM_VM),
         "Rebuild of a running server: ACTIVE/rebuilding (REBUILD) while the VM restarts from the new image.",
         rebuilding=True),
    Rule(ANY, _s("Shutdown"), ANY, ANY, ANY, ANY, ("stopped", "rebuilding", SHUTDOWN),
         "Rebuild of a stopped server: SHUTOFF/rebuilding (REBUILD), then SHUTOFF again (Nova since 2.1).",
         rebuilding=True),
    # -- running, and asked to keep running or to stop.
    Rule(_s("Running"), _s("Running"), _UP, _UP_POWER, ANY, ANY, ("active", None, RUNNING),
         "Running as wanted: ACTIVE."),
    Rule(_s("Running"), _s("Shutdown"), _UP, _UP_POWER, ANY, ANY, ("active", "powering-off", RUNNING),
         "os-stop accepted, VM still up: Nova shows ACTIVE/powering-off until the guest is down."),
    # -- stopped, and asked to stay stopped or to start.
    Rule(_s("NoSchedule"), _s("Shutdown"), ANY, ANY, ANY, ANY, ("stopped", None, SHUTDOWN),
         "Stopped as wanted (Arktos parks a shut-down VM pod in phase NoSchedule): SHUTOFF."),
    Rule(ANY, _s("Shutdown"), _s("stopped"), ANY, ANY, ANY, ("stopped", None, SHUTDOWN),
         "Stopped as wanted, phase not updated yet: SHUTOFF."),
    Rule(_s("NoSchedule"), _s("Running"), ANY, ANY, ANY, ANY, ("stopped", "powering-on", SHUTDOWN),
         "os-start accepted, the pod has not left NoSchedule: Nova shows SHUTOFF/powering-on."),
    Rule(ANY, _s("Running"), _s("stopped"), ANY, ANY, ANY, ("stopped", "powering-on", SHUTDOWN),
         "os-start accepted, VM still down: Nova shows SHUTOFF/powering-on until the guest is up."),
    Rule(_s("Pending"), _s("Running"), _CREATING, _NO_POWER, ANY, True, ("stopped", "powering-on", SHUTDOWN),
         "Started again after having run (the pod goes back through Pending): still SHUTOFF/powering-on."),
    Rule(_s("Pending"), _s("Shutdown"), _CREATING, _NO_POWER, ANY, ANY, ("stopped", "powering-off", NOSTATE),
         "Stop asked before the VM ever came up: on its way to SHUTOFF."),
    # -- building.
    Rule(_s("Pending"), ANY, _s(""), ANY, False, ANY, ("building", "scheduling", NOSTATE),
         "No node yet: Nova's BUILD/scheduling (fixture 10)."),
    Rule(_s("Pending"), ANY, _CREATING, _NO_POWER, ANY, ANY, ("building", "spawning", NOSTATE),
         "On a node, the VM is being created: Nova's BUILD/spawning."),
    # -- the other VM states of the Arktos enum, as Nova names them.
    Rule(ANY, ANY, _s("paused"), ANY, ANY, ANY, ("paused", None, PAUSED), "Paused guest: PAUSED."),
    Rule(ANY, ANY, _s("suspended"), _s("suspended"), ANY, ANY, ("suspended", None, SUSPENDED),
         "Suspended guest (power suspended, not a VM being created): SUSPENDED."),
    Rule(ANY, ANY, _s("rescued"), ANY, ANY, ANY, ("rescued", None, FROM_VM), "RESCUE."),
    Rule(ANY, ANY, _s("resized"), ANY, ANY, ANY, ("resized", None, FROM_VM), "VERIFY_RESIZE."),
    Rule(ANY, ANY, _s("softdeleted"), ANY, ANY, ANY, ("soft-delete", None, FROM_VM), "SOFT_DELETED."),
    Rule(ANY, ANY, _s("deleted"), ANY, ANY, ANY, ("deleted", None, NOSTATE), "DELETED."),
    Rule(ANY, ANY, _s("shelved"), ANY, ANY, ANY, ("shelved", None, SHUTDOWN), "SHELVED."),
    Rule(ANY, ANY, _s("shelvedoffloaded"), ANY, ANY, ANY, ("shelved_offloaded", None, SHUTDOWN),
         "SHELVED_OFFLOADED."),
    Rule(_s("Succeeded"), ANY, ANY, ANY, ANY, ANY, ("stopped", None, SHUTDOWN),
         "The VM exited and the pod will not restart it: SHUTOFF."),
)  # fmt: skip

UNKNOWN_RESULT = ("unknown", None, NOSTATE)


def server_state(pod: PodState, pending_task: str | None = None) -> ServerState:
    """The first matching row of ``RULES`` (UNKNOWN if none), with the deleting / pending task overlay."""
    vm_state, task_state, power = next((r.result for r in RULES if r.matches(pod)), UNKNOWN_RESULT)
    if power == FROM_VM:
        power = POWER_STATES.get(pod.vm_power, NOSTATE)
    if pod.deleting:
        task_state = "deleting"
    elif pending_task is not None:
        task_state = pending_task
    return ServerState(vm_state, task_state, power, nova_status(vm_state, task_state))


def pod_state(pod: Mapping[str, Any]) -> PodState:
    """The table's inputs, read from a pod object."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    vm_spec = spec.get("virtualMachine") or {}
    vm_status = status.get("virtualMachineStatus") or {}
    restarts = vm_status.get("restartCount")
    # NOTE: status.startTime alone does not prove the VM ever ran: kubelet sets it when it first takes the
    # pod, while a brand-new VM is still being created. A restart count or a last termination does.
    has_run = (isinstance(restarts, int) and restarts > 0) or bool(vm_status.get("lastTerminationState"))
    # NOTE: the node agent reports the image of the VM it runs (as kubelet reports a container's image);
    # a pod whose spec names another one is being rebuilt from it.
    reported_image = vm_status.get("image")
    rebuilding = bool(reported_image) and reported_image != vm_spec.get("image")
    return PodState(
        phase=str(status.get("phase") or ""),
        power_spec=str(vm_spec.get("powerSpec") or "Running"),
        vm_state=str(vm_status.get("state") or ""),
        vm_power=str(vm_status.get("powerState") or ""),
        scheduled=bool(spec.get("nodeName")),
        has_run=has_run,
        deleting=bool(metadata.get("deletionTimestamp")),
        rebuilding=rebuilding,
    )
