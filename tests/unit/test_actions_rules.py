"""extproc.compute.action_rules: every state-rule decision, and task states of Actions in flight."""

from __future__ import annotations

from typing import Any

import pytest

from extproc.cluster_cache import REBOOT_TYPE
from extproc.compute.action_rules import Kind, pending_task, refusal, task_state_of
from extproc.compute.server_status import ServerState, nova_status

SID = "s-1"
VM_STATES = ("active", "stopped", "paused", "suspended", "error", "building", "unknown")
ALLOWED: dict[Kind, set[str]] = {
    Kind.REBOOT_SOFT: {"active"},
    Kind.REBOOT_HARD: {"active", "stopped", "paused", "suspended", "error"},
    Kind.STOP: {"active", "error"},
    Kind.START: {"stopped"},
    Kind.CREATE_IMAGE: {"active"},
    Kind.REBUILD: {"active", "stopped"},
}
# Where Nova would act and Arktos cannot, the message goes on to say why.
EXPLAINED = {
    (Kind.CREATE_IMAGE, "stopped"),
    (Kind.CREATE_IMAGE, "paused"),
    (Kind.CREATE_IMAGE, "suspended"),
    (Kind.REBUILD, "error"),
}
NOVA_NAMES = {
    Kind.REBOOT_SOFT: "reboot",
    Kind.REBOOT_HARD: "reboot",
    Kind.STOP: "stop",
    Kind.START: "start",
    Kind.CREATE_IMAGE: "createImage",
    Kind.REBUILD: "rebuild",
}


def state(vm_state: str, task: str | None = None) -> ServerState:
    return ServerState(vm_state, task, 1, nova_status(vm_state, task))


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("vm_state", VM_STATES)
def test_vm_state_rule(kind: Kind, vm_state: str) -> None:
    found = refusal(kind, SID, state(vm_state))
    if vm_state in ALLOWED[kind]:
        assert found is None
    else:
        nova = f"Cannot '{NOVA_NAMES[kind]}' instance {SID} while it is in vm_state {vm_state}"
        if (kind, vm_state) in EXPLAINED:
            assert found is not None and found.startswith(f"{nova}: Arktos ")
        else:
            assert found == nova


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize(
    "task", ["rebooting", "rebooting_hard", "image_snapshot", "powering-off", "deleting"]
)
def test_task_state_rule(kind: Kind, task: str) -> None:
    vm_state = "stopped" if kind is Kind.START else "active"
    found = refusal(kind, SID, state(vm_state, task))
    hard_reboot_ok = kind is Kind.REBOOT_HARD and task in ("rebooting", "rebooting_hard")
    if hard_reboot_ok:
        assert found is None
    else:
        assert found == f"Cannot '{NOVA_NAMES[kind]}' instance {SID} while it is in task_state {task}"


def test_nova_example_message() -> None:
    assert refusal(Kind.STOP, "abc", state("stopped")) == (
        "Cannot 'stop' instance abc while it is in vm_state stopped"
    )


def action(spec: dict[str, Any], marks: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "x", "annotations": marks or {}}, "spec": spec, "status": {}}


@pytest.mark.parametrize(
    ("spec", "marks", "task"),
    [
        ({"rebootAction": {"delayInSeconds": 0}}, None, "rebooting"),
        ({"rebootAction": {}}, {REBOOT_TYPE: "HARD"}, "rebooting_hard"),
        ({"snapshotAction": {"snapshotName": "i"}}, None, "image_snapshot"),
        ({"restoreAction": {"snapshotID": "s"}}, None, "rebuilding"),
        ({"somethingElse": {}}, None, None),
    ],
)
def test_task_state_of(spec: dict[str, Any], marks: dict[str, str] | None, task: str | None) -> None:
    assert task_state_of(action(spec, marks)) == task


def test_pending_task_is_the_newest() -> None:
    assert pending_task([]) is None
    older = action({"rebootAction": {}})
    newer = action({"snapshotAction": {"snapshotName": "i"}})
    assert pending_task([older, newer]) == "image_snapshot"


def test_status_of_task_states() -> None:
    assert nova_status("active", "rebooting") == "REBOOT"
    assert nova_status("active", "rebooting_hard") == "HARD_REBOOT"
    assert nova_status("active", "image_snapshot") == "ACTIVE"
    assert nova_status("active", "rebuilding") == "REBUILD"
