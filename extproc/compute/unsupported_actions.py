"""Nova's server actions that Arktos has no counterpart for, answered as Nova answers them.

Every action Nova's API knows (``@wsgi.action`` of the controllers nova/api/openstack/compute/routes.py
joins to ``/servers/{id}/action``) gets Nova's answer rather than "There is no such action". Like Nova, the
server is looked up first (``common.get_instance``): ONE GET of the VM pod with the client's token, so
Arktos authorizes the caller and a missing server is Nova's 404 before anything is said about the action;
the cache answers instead for a caller Arktos has recently admitted to the tenant
(``action_support.cached_server``, ``action_support.known_missing``). Then, by what Nova itself would
answer on a server Arktos can hold:

- ``forceDelete``: Nova deletes in any vm_state, so this is the server delete (with its own lookup),
  answered 202;
- ``restore``, ``unpause``, ``resume``, ``unrescue``, ``unshelve``, ``shelveOffload``: Nova's 409
  ``Cannot '<action>' instance <id> while it is in vm_state <state>`` (the state they undo, soft-deleted,
  paused..., never exists on Arktos), followed by why;
- ``confirmResize``, ``revertResize``: Nova's 400 ``Instance has not been resized.``;
- ``addSecurityGroup default``: 202 and nothing changes (every server is in ``default``, and a Neutron port
  keeps its groups as a set); ``add/removeSecurityGroup <other>``: Nova's 404 ``Security group <name> is
  not found for project <project>``;
- ``resetNetwork``: 410 before any lookup, as Nova (removed);
- every other (``pause``, ``resize``, ``removeSecurityGroup default``...): 409 ``Operation '<action>' not
  supported for instance <id>: <why Arktos cannot>``, Nova's own wording for an operation a server cannot
  undergo (``OperationNotSupportedForSEV`` and its siblings). Nova's 501 for a driver without the feature
  would be a 5xx, which the gateway never answers to a client's request.

``lock``/``unlock`` are not here (issue 11 item 2 performs them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from extproc import arktos_paths
from extproc.compute.action_rules import conflict_message, pending_task
from extproc.compute.server_fields import state_of
from extproc.compute.server_status import ServerState
from extproc.context import RequestContext
from extproc.errors import Service, bad_request, error_reply, from_arktos
from extproc.messages import ArktosReply, ArktosRequest, Forward, Outcome, Reply

DEFAULT_SECURITY_GROUP = "default"

# What each state-bound action undoes: Nova's check_instance_state(vm_state=[...]) of nova/compute/api.py.
_UNDOES: Mapping[str, str] = {
    "unpause": "Arktos cannot pause a VM, so no server is ever paused",
    "resume": "Arktos cannot suspend a VM, so no server is ever suspended",
    "unrescue": "Arktos cannot rescue a VM, so no server is ever in rescue",
    "unshelve": "Arktos cannot shelve a VM, so no server is ever shelved",
    "shelveOffload": "Arktos cannot shelve a VM, so no server is ever shelved",
    "restore": "Arktos deletes a server at once (no soft delete), so there is nothing to restore",
}

_NOT_RESIZED = ("confirmResize", "revertResize")

# Operations Arktos cannot perform on a VM pod, and why (said after Nova's wording).
_CANNOT: Mapping[str, str] = {
    "pause": "Arktos cannot pause a VM (a VM pod is running or stopped: use stop)",
    "suspend": "Arktos cannot suspend a VM (a VM pod is running or stopped: use stop)",
    "shelve": "Arktos cannot shelve a VM (it has no image store to offload it to: use stop, or createImage)",
    "resize": "Arktos cannot change the resources of a VM pod in place: create a server of the new flavor",
    "migrate": "Arktos does not move a VM pod to another node",
    "os-migrateLive": "Arktos does not move a VM pod to another node",
    "evacuate": "Arktos does not move a VM pod to another node",
    "rescue": "Arktos cannot boot a VM from a rescue image",
    "changePassword": "Arktos cannot set a password inside a VM (it injects only the creation's SSH key)",
    "createBackup": "Arktos has no rotated backups of a VM: use createImage (a snapshot)",
    "trigger_crash_dump": "Arktos cannot inject an NMI into a VM",
    "os-getConsoleOutput": "Arktos keeps no console log of a VM (a VM pod has no container log to read)",
    "os-getVNCConsole": "Arktos offers no remote console of a VM",
    "os-getSPICEConsole": "Arktos offers no remote console of a VM",
    "os-getRDPConsole": "Arktos offers no remote console of a VM",
    "os-getSerialConsole": "Arktos offers no remote console of a VM",
    "addFixedIp": "Arktos gives a VM pod one address on its network and cannot add another",
    "removeFixedIp": "Arktos gives a VM pod one address on its network and cannot remove it",
    "addFloatingIp": "Arktos has no floating IPs",
    "removeFloatingIp": "Arktos has no floating IPs",
    "os-resetState": "Arktos keeps a VM's state itself and cannot have it set by hand",
    "injectNetworkInfo": "Arktos configures a VM's network itself",
    "removeSecurityGroup": (
        "Arktos has no security groups: every server is in 'default' and cannot leave it"
    ),
}

_SECURITY_GROUP_ACTIONS = ("addSecurityGroup", "removeSecurityGroup")
# nova/api/openstack/compute/admin_actions.py: removed, answered 410 before any lookup.
_GONE = "resetNetwork"
GONE_MESSAGE = "This resource is no longer available.  No forwarding address is given."
FORCE_DELETE = "forceDelete"

NAMES: frozenset[str] = frozenset(
    {*_UNDOES, *_NOT_RESIZED, *_CANNOT, *_SECURITY_GROUP_ACTIONS, _GONE, FORCE_DELETE}
)


# The actions Nova serves only in a range of microversions (``@wsgi.api_version`` on the action): outside
# it Nova's answer is its bare 404 (VersionNotFoundForAPIMethod).
SERVED_IN: Mapping[str, tuple[tuple[int, int], tuple[int, int] | None]] = {
    "trigger_crash_dump": ((2, 17), None),
    "os-getVNCConsole": ((2, 1), (2, 5)),
    "os-getSPICEConsole": ((2, 1), (2, 5)),
    "os-getRDPConsole": ((2, 1), (2, 5)),
    "os-getSerialConsole": ((2, 1), (2, 5)),
    "addFixedIp": ((2, 1), (2, 43)),
    "removeFixedIp": ((2, 1), (2, 43)),
    "addFloatingIp": ((2, 1), (2, 43)),
    "removeFloatingIp": ((2, 1), (2, 43)),
}


def is_known(name: str) -> bool:
    """A Nova server action this module answers."""
    return name in NAMES


def served_at(name: str, version: tuple[int, int]) -> bool:
    """Whether Nova has action ``name`` at microversion ``version``."""
    first, last = SERVED_IN.get(name, ((2, 1), None))
    return first <= version and (last is None or version <= last)


def unsupported(action: str, sid: str) -> str:
    return f"Operation '{action}' not supported for instance {sid}: {_CANNOT[action]}."


@dataclass(frozen=True, slots=True)
class Target:
    """What the answer depends on: the server's state and its project (the tenant Arktos put it in)."""

    sid: str
    state: ServerState
    project: str


def answer(action: str, args: Any, target: Target) -> Reply:
    """Nova's answer to ``action`` (not ``forceDelete``/``resetNetwork``) on an existing server (pure)."""
    sid, state = target.sid, target.state
    if action in _UNDOES:
        message = conflict_message(action, sid, "vm_state", state.vm_state)
        return error_reply(Service.COMPUTE, 409, f"{message}: {_UNDOES[action]}")
    if action in _NOT_RESIZED:
        return bad_request(Service.COMPUTE, "Instance has not been resized.")
    if action in _SECURITY_GROUP_ACTIONS:
        group = security_group_name(action, args)
        if isinstance(group, Reply):
            return group
        if group != DEFAULT_SECURITY_GROUP:
            return error_reply(
                Service.COMPUTE, 404, f"Security group {group} is not found for project {target.project}"
            )
        if action == "addSecurityGroup":
            # NOTE: Neutron keeps a port's groups as a set: adding the group it has changes nothing.
            return Reply(status=202)
    return error_reply(Service.COMPUTE, 409, unsupported(action, sid))


def security_group_name(action: str, args: Any) -> str | Reply:
    """The group of add/removeSecurityGroup, or Nova's 400 (security_groups.py ``_parse``, after the
    schema: ``name`` a non-empty string, nothing else)."""
    if not isinstance(args, dict):
        return bad_request(
            Service.COMPUTE,
            f"Invalid input for field/attribute {action}. Value: {_shown(args)}. "
            f"{_shown(args)} is not of type 'object'",
        )
    if "name" not in args:
        return bad_request(Service.COMPUTE, "'name' is a required property")
    name = args["name"]
    if not isinstance(name, str) or not name.strip():
        return bad_request(Service.COMPUTE, "Security group name cannot be empty")
    extra = sorted(set(args) - {"name"})
    if extra:
        return bad_request(
            Service.COMPUTE, f"Additional properties are not allowed ('{extra[0]}' was unexpected)"
        )
    return name


def _shown(value: Any) -> str:
    return orjson.dumps(value).decode()[:255]


# -- the handler -------------------------------------------------------------------------------------------


def server_action(
    ctx: RequestContext,
    sid: str,
    action: str,
    args: Any,
    *,
    known: tuple[ServerState, str] | None,
    missing: bool,
    delete: Callable[[], Outcome],
) -> Outcome:
    """``action`` (``is_known``) on server ``sid``. ``known``: its state and tenant from the cache, when
    the cache may tell this caller; ``missing``: the cache may tell it that no such server exists;
    ``delete``: the server delete (Nova's forceDelete deletes in any vm_state, and the delete looks the
    server up itself)."""
    if action == _GONE:
        return error_reply(Service.COMPUTE, 410, GONE_MESSAGE)
    if action == FORCE_DELETE:
        return as_accepted(delete())
    if missing:
        return _not_found(sid)
    if known is not None:
        state, tenant = known
        return answer(action, args, Target(sid, state, tenant))
    return Forward(
        ArktosRequest(method="GET", path=arktos_paths.pod(ctx.tenant, ctx.config.namespace, sid)),
        _after_lookup(ctx, sid, action, args),
    )


def _after_lookup(ctx: RequestContext, sid: str, action: str, args: Any) -> Callable[[ArktosReply], Reply]:
    def translate(reply: ArktosReply) -> Reply:
        if reply.status == 404:
            return _not_found(sid)
        if not 200 <= reply.status < 300:
            return from_arktos(Service.COMPUTE, reply)
        try:
            pod = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            pod = None
        if not isinstance(pod, dict):
            return error_reply(
                Service.COMPUTE, 500, "Arktos answered the server lookup with an unexpected body."
            )
        tenant = str((pod.get("metadata") or {}).get("tenant") or ctx.tenant or "")
        cluster = ctx.cluster
        pending = (
            cluster.pending_actions(tenant, ctx.config.namespace, sid, pod) if cluster is not None else []
        )
        return answer(action, args, Target(sid, state_of(pod, pending_task(pending)), tenant))

    return translate


def as_accepted(outcome: Outcome) -> Outcome:
    """A delete's outcome with its success (204) answered 202, as Nova's server actions are."""
    if isinstance(outcome, Reply):
        return _accepted(outcome)
    inner = outcome.translate

    def translate(reply: ArktosReply) -> Reply | Awaitable[Reply]:
        translated = inner(reply)
        if isinstance(translated, Reply):
            return _accepted(translated)

        async def later() -> Reply:
            return _accepted(await translated)

        return later()

    return Forward(outcome.upstream, translate)


def _accepted(reply: Reply) -> Reply:
    return Reply(status=202) if reply.status == 204 else reply


def _not_found(sid: str) -> Reply:
    return error_reply(Service.COMPUTE, 404, f"Instance {sid} could not be found.")
