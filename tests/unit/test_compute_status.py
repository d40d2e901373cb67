"""extproc.compute.server_status: the state table, row by row."""

from __future__ import annotations

import json
from typing import Any

import pytest

from extproc.compute.server_status import (
    RULES,
    PodState,
    ServerState,
    nova_status,
    pod_state,
    server_state,
)
from tests.shared_fixtures import ARKTOS_FIXTURES

ARKTOS = ARKTOS_FIXTURES


def arktos_body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ARKTOS / name).read_text())["body"]
    return loaded


# (inputs, expected (vm_state, task_state, power_state, status))
CASES: list[tuple[str, PodState, tuple[str, str | None, int, str]]] = [
    (
        "rebuild of a running server: the VM restarts from the new image",
        PodState(phase="Pending", vm_state="suspended", vm_power="nostate", scheduled=True, rebuilding=True),
        ("active", "rebuilding", 0, "REBUILD"),
    ),
    (
        "rebuild of a running server, before the node agent noticed",
        PodState(phase="Running", vm_state="active", vm_power="running", scheduled=True, rebuilding=True),
        ("active", "rebuilding", 1, "REBUILD"),
    ),
    (
        "rebuild of a stopped server (stays SHUTOFF afterwards)",
        PodState(
            phase="NoSchedule",
            power_spec="Shutdown",
            vm_state="stopped",
            vm_power="shutdown",
            scheduled=True,
            rebuilding=True,
        ),
        ("stopped", "rebuilding", 4, "REBUILD"),
    ),
    (
        "rebuild into an image the VM fails on: the failure wins",
        PodState(phase="Failed", vm_state="error", vm_power="crashed", scheduled=True, rebuilding=True),
        ("error", None, 6, "ERROR"),
    ),
    (
        "new pod, not scheduled (fixture 10)",
        PodState(phase="Pending"),
        ("building", "scheduling", 0, "BUILD"),
    ),
    (
        "scheduled, no VM status yet",
        PodState(phase="Pending", scheduled=True),
        ("building", "spawning", 0, "BUILD"),
    ),
    (
        "agent creating the VM (suspended/nostate)",
        PodState(phase="Pending", vm_state="suspended", vm_power="nostate", scheduled=True),
        ("building", "spawning", 0, "BUILD"),
    ),
    (
        "running",
        PodState(phase="Running", vm_state="active", vm_power="running", scheduled=True),
        ("active", None, 1, "ACTIVE"),
    ),
    ("running, agent silent", PodState(phase="Running", scheduled=True), ("active", None, 1, "ACTIVE")),
    (
        "stop asked, still running",
        PodState(
            phase="Running", power_spec="Shutdown", vm_state="active", vm_power="running", scheduled=True
        ),
        ("active", "powering-off", 1, "ACTIVE"),
    ),
    (
        "stopped (NoSchedule)",
        PodState(phase="NoSchedule", power_spec="Shutdown", vm_state="stopped", vm_power="shutdown"),
        ("stopped", None, 4, "SHUTOFF"),
    ),
    (
        "stopped, NoSchedule without VM status",
        PodState(phase="NoSchedule", power_spec="Shutdown"),
        ("stopped", None, 4, "SHUTOFF"),
    ),
    (
        "stopped, phase not updated yet",
        PodState(
            phase="Running", power_spec="Shutdown", vm_state="stopped", vm_power="shutdown", scheduled=True
        ),
        ("stopped", None, 4, "SHUTOFF"),
    ),
    (
        "start asked, still NoSchedule",
        PodState(phase="NoSchedule", power_spec="Running", vm_state="stopped", vm_power="shutdown"),
        ("stopped", "powering-on", 4, "SHUTOFF"),
    ),
    (
        "start asked, VM still stopped",
        PodState(
            phase="Running", power_spec="Running", vm_state="stopped", vm_power="shutdown", scheduled=True
        ),
        ("stopped", "powering-on", 4, "SHUTOFF"),
    ),
    (
        "started again, back in Pending after having run",
        PodState(phase="Pending", power_spec="Running", scheduled=True, has_run=True),
        ("stopped", "powering-on", 4, "SHUTOFF"),
    ),
    (
        "stop asked before the VM ever came up",
        PodState(phase="Pending", power_spec="Shutdown", scheduled=True),
        ("stopped", "powering-off", 0, "SHUTOFF"),
    ),
    ("pod failed", PodState(phase="Failed"), ("error", None, 0, "ERROR")),
    (
        "pod failed, guest crashed",
        PodState(phase="Failed", vm_state="error", vm_power="crashed"),
        ("error", None, 6, "ERROR"),
    ),
    (
        "agent reports error while running",
        PodState(phase="Running", vm_state="error", vm_power="nostate", scheduled=True),
        ("error", None, 0, "ERROR"),
    ),
    (
        "guest crashed while pod Running",
        PodState(phase="Running", vm_state="active", vm_power="crashed", scheduled=True),
        ("error", None, 6, "ERROR"),
    ),
    ("node lost", PodState(phase="Unknown", scheduled=True), ("unknown", None, 0, "UNKNOWN")),
    (
        "paused",
        PodState(phase="Running", vm_state="paused", vm_power="paused", scheduled=True),
        ("paused", None, 3, "PAUSED"),
    ),
    (
        "suspended for real (power suspended)",
        PodState(phase="Running", vm_state="suspended", vm_power="suspended", scheduled=True),
        ("suspended", None, 7, "SUSPENDED"),
    ),
    (
        "rescued",
        PodState(phase="Running", vm_state="rescued", vm_power="running"),
        ("rescued", None, 1, "RESCUE"),
    ),
    (
        "resized",
        PodState(phase="Running", vm_state="resized", vm_power="running"),
        ("resized", None, 1, "VERIFY_RESIZE"),
    ),
    (
        "soft deleted",
        PodState(phase="Running", vm_state="softdeleted", vm_power="shutdown"),
        ("soft-delete", None, 4, "SOFT_DELETED"),
    ),
    ("deleted", PodState(phase="Running", vm_state="deleted"), ("deleted", None, 0, "DELETED")),
    ("shelved", PodState(phase="Running", vm_state="shelved"), ("shelved", None, 4, "SHELVED")),
    (
        "shelved offloaded",
        PodState(phase="Running", vm_state="shelvedoffloaded"),
        ("shelved_offloaded", None, 4, "SHELVED_OFFLOADED"),
    ),
    ("exited for good", PodState(phase="Succeeded"), ("stopped", None, 4, "SHUTOFF")),
    ("no phase at all", PodState(), ("unknown", None, 0, "UNKNOWN")),
    (
        "running pod, VM reported as being created",
        PodState(phase="Running", vm_state="suspended", vm_power="nostate", scheduled=True),
        ("unknown", None, 0, "UNKNOWN"),
    ),
]


@pytest.mark.parametrize(("why", "pod", "expected"), CASES, ids=[c[0] for c in CASES])
def test_state_table(why: str, pod: PodState, expected: tuple[str, str | None, int, str]) -> None:
    assert server_state(pod) == ServerState(*expected)


@pytest.mark.parametrize(
    ("pod", "status"),
    [
        (PodState(phase="Running", vm_state="active", vm_power="running", deleting=True), "ACTIVE"),
        (PodState(phase="Pending", deleting=True), "BUILD"),
        (PodState(phase="NoSchedule", power_spec="Shutdown", deleting=True), "SHUTOFF"),
        (PodState(phase="Failed", deleting=True), "ERROR"),
    ],
)
def test_deleting_keeps_the_vm_state_with_task_deleting(pod: PodState, status: str) -> None:
    state = server_state(pod)
    assert state.task_state == "deleting"
    assert state.status == status


def test_pending_task_hook_overlays_the_task_state() -> None:
    running = PodState(phase="Running", vm_state="active", vm_power="running", scheduled=True)
    assert server_state(running, pending_task="rebooting") == ServerState("active", "rebooting", 1, "REBOOT")
    assert server_state(running, pending_task="rebooting_hard").status == "HARD_REBOOT"
    assert server_state(running, pending_task="image_snapshot") == ServerState(
        "active", "image_snapshot", 1, "ACTIVE"
    )
    # Deleting wins over an in-flight action.
    deleting = PodState(phase="Running", vm_state="active", vm_power="running", deleting=True)
    assert server_state(deleting, pending_task="rebooting").task_state == "deleting"


@pytest.mark.parametrize(
    ("vm_state", "task_state", "status"),
    [
        ("active", None, "ACTIVE"),
        ("active", "powering-off", "ACTIVE"),
        ("active", "deleting", "ACTIVE"),
        ("active", "rebooting", "REBOOT"),
        ("active", "rebuilding", "REBUILD"),
        ("building", "scheduling", "BUILD"),
        ("stopped", None, "SHUTOFF"),
        ("stopped", "powering-on", "SHUTOFF"),
        ("stopped", "rebuilding", "REBUILD"),
        ("paused", None, "PAUSED"),
        ("suspended", None, "SUSPENDED"),
        ("error", None, "ERROR"),
        ("error", "rebuilding", "REBUILD"),
        ("deleted", None, "DELETED"),
        ("resized", "resize_reverting", "REVERT_RESIZE"),
        ("what", None, "UNKNOWN"),
    ],
)
def test_nova_status_map(vm_state: str, task_state: str | None, status: str) -> None:
    assert nova_status(vm_state, task_state) == status


def test_every_row_explains_itself_and_is_reachable() -> None:
    assert all(rule.why for rule in RULES)
    reached = set()
    for _, pod, _ in CASES:
        reached.add(next((i for i, rule in enumerate(RULES) if rule.matches(pod)), None))
    # None: the cases that fall off the table (UNKNOWN).
    assert reached == {*range(len(RULES)), None}, "a row no test case reaches"


def test_pod_state_reads_the_pod() -> None:
    created = pod_state(arktos_body("03-pod-create.json"))
    assert created == PodState(phase="Pending", power_spec="Running")
    deleted = pod_state(arktos_body("31-pod-delete.json"))
    assert deleted.deleting and deleted.power_spec == "Shutdown"
    running = pod_state(
        {
            "metadata": {},
            "spec": {"nodeName": "node-1", "virtualMachine": {}},
            "status": {
                "phase": "Running",
                "startTime": "2024-01-01T00:00:00Z",
                "virtualMachineStatus": {"state": "active", "powerState": "running", "restartCount": 0},
            },
        }
    )
    assert running == PodState(
        phase="Running", power_spec="Running", vm_state="active", vm_power="running", scheduled=True
    )


def test_a_pod_whose_reported_image_is_not_its_specs_is_rebuilding() -> None:
    def state(spec_image: str, reported: str | None) -> bool:
        vm_status = {"state": "active", "powerState": "running"}
        if reported is not None:
            vm_status["image"] = reported
        pod = {
            "spec": {"virtualMachine": {"image": spec_image}},
            "status": {"virtualMachineStatus": vm_status},
        }
        return pod_state(pod).rebuilding

    assert state("new.img", "old.img")
    assert not state("new.img", "new.img")
    assert not state("new.img", None), "a node agent that reports no image never shows a rebuild"


def test_start_time_alone_does_not_mean_the_vm_ran() -> None:
    pending = {"spec": {"nodeName": "n"}, "status": {"phase": "Pending", "startTime": "2024-01-01T00:00:00Z"}}
    assert pod_state(pending).has_run is False
    assert server_state(pod_state(pending)).status == "BUILD"
    restarted = {
        "spec": {"nodeName": "n"},
        "status": {"phase": "Pending", "virtualMachineStatus": {"restartCount": 2}},
    }
    assert pod_state(restarted).has_run is True
    assert server_state(pod_state(restarted)).status == "SHUTOFF"
