"""extproc.compute.unsupported_actions: every Nova action Arktos cannot perform gets Nova's answer, after
the server is looked up (404 first), never "There is no such action"."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from extproc.compute import unsupported_actions
from extproc.messages import ArktosReply, Forward, Reply
from tests.unit.test_actions import (
    POD_PATH,
    SID,
    cache_with,
    ctx,
    error,
    handle,
    proven,
    running_pod,
    stopped_pod,
    translated,
)

# Every server action of Nova's API (routes.py's server controllers) the gateway does not perform.
NOVA_ACTIONS_ARKTOS_LACKS = [
    "addFixedIp", "addFloatingIp", "addSecurityGroup", "changePassword", "confirmResize", "createBackup",
    "evacuate", "forceDelete", "injectNetworkInfo", "migrate", "os-getConsoleOutput", "os-getRDPConsole",
    "os-getSPICEConsole", "os-getSerialConsole", "os-getVNCConsole", "os-migrateLive", "os-resetState",
    "pause", "removeFixedIp", "removeFloatingIp", "removeSecurityGroup", "rescue", "resetNetwork", "resize",
    "restore", "resume", "revertResize", "shelve", "shelveOffload", "suspend", "trigger_crash_dump",
    "unpause", "unrescue", "unshelve",
]  # fmt: skip


def pod_reply(pod: dict[str, Any]) -> ArktosReply:
    return ArktosReply(200, {"content-type": "application/json"}, orjson.dumps(pod))


def missing_reply() -> ArktosReply:
    body = {"kind": "Status", "code": 404, "reason": "NotFound", "message": f'pods "{SID}" not found'}
    return ArktosReply(404, {"content-type": "application/json"}, orjson.dumps(body))


def body_of(action: str) -> dict[str, Any]:
    return {action: {"name": "default"} if "SecurityGroup" in action else None}


def test_the_table_covers_every_action_nova_knows_but_arktos_lacks() -> None:
    assert frozenset(NOVA_ACTIONS_ARKTOS_LACKS) == unsupported_actions.NAMES


@pytest.mark.parametrize("action", sorted(set(NOVA_ACTIONS_ARKTOS_LACKS) - {"resetNetwork"}))
def test_on_a_missing_server_every_action_is_404(action: str) -> None:
    # At the first microversion Nova has the action (trigger_crash_dump: 2.17).
    first, _ = unsupported_actions.SERVED_IN.get(action, ((2, 1), None))
    outcome = handle(dataclasses.replace(ctx(), compute_version=first), body_of(action))
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path) == (
        "GET" if action != "forceDelete" else "DELETE",
        POD_PATH,
    )
    assert error(translated(outcome, missing_reply())) == (404, f"Instance {SID} could not be found.")


@pytest.mark.parametrize("action", sorted(set(NOVA_ACTIONS_ARKTOS_LACKS) - {"resetNetwork", "forceDelete"}))
def test_the_cache_tells_a_proven_caller_at_once(action: str) -> None:
    missing = handle(ctx(cache_with(), proven()), body_of(action))
    assert isinstance(missing, Reply)
    assert error(missing)[0] == 404
    known = handle(ctx(cache_with(running_pod()), proven()), body_of(action))
    assert isinstance(known, Reply)
    assert known.status in (202, 400, 404, 409)


@pytest.mark.parametrize(
    ("action", "status", "message"),
    [
        ("pause", 409, f"Operation 'pause' not supported for instance {SID}: Arktos cannot pause a VM"),
        ("suspend", 409, f"Operation 'suspend' not supported for instance {SID}: Arktos cannot suspend"),
        ("shelve", 409, f"Operation 'shelve' not supported for instance {SID}: Arktos cannot shelve"),
        ("resize", 409, f"Operation 'resize' not supported for instance {SID}: Arktos cannot change"),
        ("createBackup", 409, f"Operation 'createBackup' not supported for instance {SID}: Arktos has no"),
        ("os-getConsoleOutput", 409, "Arktos keeps no console log of a VM"),
        ("addFloatingIp", 409, "Arktos has no floating IPs"),
        ("unpause", 409, f"Cannot 'unpause' instance {SID} while it is in vm_state active: Arktos cannot"),
        ("resume", 409, f"Cannot 'resume' instance {SID} while it is in vm_state active"),
        ("unshelve", 409, f"Cannot 'unshelve' instance {SID} while it is in vm_state active"),
        ("restore", 409, f"Cannot 'restore' instance {SID} while it is in vm_state active: Arktos deletes"),
        ("confirmResize", 400, "Instance has not been resized."),
        ("revertResize", 400, "Instance has not been resized."),
    ],
)
def test_existing_server_gets_novas_answer_for_what_arktos_cannot_do(
    action: str, status: int, message: str
) -> None:
    outcome = handle(ctx(), {action: None})
    reply = translated(outcome, pod_reply(running_pod()))
    assert reply.status == status
    assert message in error(reply)[1]
    assert "There is no such action" not in error(reply)[1]


def test_state_conflicts_name_the_servers_state() -> None:
    reply = translated(handle(ctx(), {"unpause": None}), pod_reply(stopped_pod()))
    assert error(reply)[1].startswith(f"Cannot 'unpause' instance {SID} while it is in vm_state stopped")


def test_add_default_security_group_changes_nothing_and_removing_it_is_refused() -> None:
    added = translated(handle(ctx(), {"addSecurityGroup": {"name": "default"}}), pod_reply(running_pod()))
    assert (added.status, added.body) == (202, b"")
    removed = translated(
        handle(ctx(), {"removeSecurityGroup": {"name": "default"}}), pod_reply(running_pod())
    )
    assert error(removed) == (
        409,
        f"Operation 'removeSecurityGroup' not supported for instance {SID}: Arktos has no security groups: "
        "every server is in 'default' and cannot leave it.",
    )


@pytest.mark.parametrize("action", ["addSecurityGroup", "removeSecurityGroup"])
def test_other_security_groups_are_not_found(action: str) -> None:
    reply = translated(handle(ctx(), {action: {"name": "web"}}), pod_reply(running_pod()))
    assert error(reply) == (404, "Security group web is not found for project demo")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "'name' is a required property"),
        ({"name": " "}, "Security group name cannot be empty"),
        ({"name": "default", "x": 1}, "Additional properties are not allowed ('x' was unexpected)"),
        (None, "is not of type 'object'"),
    ],
)
def test_bad_security_group_bodies_are_400(args: Any, message: str) -> None:
    reply = translated(handle(ctx(), {"addSecurityGroup": args}), pod_reply(running_pod()))
    assert reply.status == 400
    assert message in error(reply)[1]


def test_force_delete_deletes_in_any_state_answered_202() -> None:
    outcome = handle(ctx(), {"forceDelete": None})
    assert isinstance(outcome, Forward)
    assert (outcome.upstream.method, outcome.upstream.path) == ("DELETE", POD_PATH)
    assert translated(outcome, pod_reply(running_pod())).status == 202
    # The cache knows the pod: the delete is guarded by its uid, as a server delete is.
    guarded = handle(ctx(cache_with(running_pod()), proven()), {"forceDelete": None})
    assert isinstance(guarded, Forward)
    assert guarded.upstream.body is not None
    assert b"preconditions" in guarded.upstream.body


def test_reset_network_is_gone_as_in_nova() -> None:
    reply = handle(ctx(), {"resetNetwork": None})
    assert isinstance(reply, Reply)
    assert reply.status == 410


def test_a_caller_arktos_refuses_gets_arktos_answer_not_the_servers_state() -> None:
    body = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "forbidden"}
    reply = translated(handle(ctx(), {"pause": None}), ArktosReply(403, {}, orjson.dumps(body)))
    assert reply.status == 403
