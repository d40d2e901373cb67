"""What a client's server action asks for, and the Arktos request bodies it becomes (pure).

Nova's schemas of the actions the gateway performs (``nova/api/openstack/compute/schemas/servers.py``),
their parsing into an ``ActionRequest``, and the bodies sent to Arktos: the CustomAction, the conditional
power patch, the instance action's record and the rebuild's one JSON patch (``extproc.compute.actions``
describes what each is for).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from extproc import annotations as keys
from extproc.catalog_entries import Image
from extproc.compute import instance_actions, schemas, server_lock
from extproc.compute.action_rules import Kind
from extproc.compute.create_request import ref_id, trusted_certs_unsupported

POWER_SPEC_PATH = "/spec/virtualMachine/powerSpec"
IMAGE_PATH = "/spec/virtualMachine/image"
# Arktos's reboot parameter: seconds to wait before rebooting (the only one there is).
REBOOT_DELAY_SECONDS = 0

Json = dict[str, Any]
Version = tuple[int, int]


# Arktos's recordings show a VM's image, publicKey and keyPairName patchable (fixtures 33-36), not its
# userData: a rebuild asking for other user data is refused rather than risked.
USER_DATA_UNCHANGEABLE = (
    "Rebuilding with new user_data is not supported by this cloud: Arktos keeps the user data a VM was "
    "created with."
)


class Absent:
    """A rebuild field the body does not name (the server keeps what it has); None is an explicit null."""


ABSENT = Absent()

# -- schemas (nova/api/openstack/compute/schemas/servers.py) -----------------------------------------------

REBOOT_TYPES = ("HARD", "Hard", "hard", "SOFT", "Soft", "soft")

_REBOOT: Json = {
    "type": "object",
    "properties": {
        "reboot": {
            "type": "object",
            "properties": {"type": {"type": "string", "enum": list(REBOOT_TYPES)}},
            "required": ["type"],
            "additionalProperties": False,
        }
    },
    "required": ["reboot"],
    "additionalProperties": False,
}

_CREATE_IMAGE: Json = {
    "type": "object",
    "properties": {
        "createImage": {
            "type": "object",
            "properties": {"name": schemas.NAME, "metadata": schemas.METADATA},
            "required": ["name"],
            "additionalProperties": False,
        }
    },
    "required": ["createImage"],
    "additionalProperties": False,
}


def _rebuild_schema(version: Version) -> Json:
    """Nova's rebuild schema at ``version`` (fields per microversion: schemas.server_rebuild_properties)."""
    return {
        "type": "object",
        "properties": {
            "rebuild": {
                "type": "object",
                "properties": schemas.server_rebuild_properties(version),
                "required": ["imageRef"],
                "additionalProperties": False,
            }
        },
        "required": ["rebuild"],
        "additionalProperties": False,
    }


@functools.lru_cache(maxsize=128)
def _rebuild_validator(version: Version) -> schemas.Draft4Validator:
    return schemas.Draft4Validator(_rebuild_schema(version), format_checker=schemas.FORMATS)


_VALIDATORS = {
    "reboot": schemas.Draft4Validator(_REBOOT, format_checker=schemas.FORMATS),
    "createImage": schemas.Draft4Validator(_CREATE_IMAGE, format_checker=schemas.FORMATS),
}
# os-stop and os-start take any value (Nova ignores their bodies).
ACTION_NAMES = ("reboot", "os-stop", "os-start", "createImage", "rebuild")


# -- parsing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionRequest:
    kind: Kind
    # createImage
    image_name: str = ""
    image_metadata: Mapping[str, str] | None = None
    # rebuild
    image_ref: str = ""
    name: str | None = None
    metadata: Mapping[str, str] | None = None
    # accessIPv4/accessIPv6 annotation -> canonical address (Nova's rebuild sets them)
    access_ips: Mapping[str, str] | None = None
    # Later microversions' rebuild fields, ABSENT unless named: description (2.19), key_name (2.54,
    # null: no key), user_data (2.57, null: none; see USER_DATA_UNCHANGEABLE), hostname (2.90).
    description: str | Absent | None = ABSENT
    key_name: str | Absent | None = ABSENT
    user_data: str | Absent | None = ABSENT
    hostname: str | Absent = ABSENT


def parse_action(body: Any, version: Version = (2, 1)) -> ActionRequest | str:
    """The action a body asks for at ``version``, or Nova's 400 message (nova/api/openstack/wsgi.py
    action_peek...)."""
    if not isinstance(body, dict) or len(body) != 1:
        return "Malformed request body"
    name = next(iter(body))
    if name not in ACTION_NAMES:
        return f"There is no such action: {name}"
    validator = _rebuild_validator(version) if name == "rebuild" else _VALIDATORS.get(name)
    if validator is not None:
        problem = schemas.validate(validator, body)
        if problem is not None:
            return problem
    args = body[name]
    if name == "reboot":
        hard = str(args["type"]).upper() == "HARD"
        return ActionRequest(Kind.REBOOT_HARD if hard else Kind.REBOOT_SOFT)
    if name == "os-stop":
        return ActionRequest(Kind.STOP)
    if name == "os-start":
        return ActionRequest(Kind.START)
    if name == "createImage":
        return ActionRequest(
            Kind.CREATE_IMAGE, image_name=args["name"], image_metadata=dict(args.get("metadata") or {})
        )
    certs = args.get("trusted_image_certificates")
    if certs:
        # Null resets them (nothing to do: no server has any here).
        return trusted_certs_unsupported(str(certs[0]))
    metadata = args.get("metadata")
    return ActionRequest(
        Kind.REBUILD,
        image_ref=ref_id(str(args["imageRef"])),
        name=args.get("name"),
        metadata=dict(metadata) if metadata is not None else None,
        access_ips={
            key: schemas.canonical_ip(args[field])
            for field, key in (("accessIPv4", keys.ACCESS_IPV4), ("accessIPv6", keys.ACCESS_IPV6))
            if args.get(field)
        },
        description=args.get("description", ABSENT),
        key_name=args.get("key_name", ABSENT),
        user_data=args.get("user_data", ABSENT),
        hostname=args.get("hostname", ABSENT),
    )


# -- Arktos requests (pure) --------------------------------------------------------------------------------


def custom_action(operation: str, params: Json) -> bytes:
    field = {"reboot": "rebootParams", "snapshot": "snapshotParams", "restore": "restoreParams"}[operation]
    return orjson.dumps({"apiVersion": "v1", "kind": "CustomAction", "operation": operation, field: params})


def power_patch(kind: Kind, record: list[Json] | None = None, lockable: bool = True) -> bytes:
    """The conditional power change: fails (422) unless powerSpec is still what the action starts from, or
    the server is locked (``lockable``: the pod may carry the lock, see ``server_lock.lockable``).
    ``record`` is the instance action's record (``record_ops``), written in the same patch."""
    want, current = ("Shutdown", "Running") if kind is Kind.STOP else ("Running", "Shutdown")
    return orjson.dumps(
        [
            *([server_lock.unlocked_test()] if lockable else []),
            {"op": "test", "path": POWER_SPEC_PATH, "value": current},
            {"op": "replace", "path": POWER_SPEC_PATH, "value": want},
            *(record or []),
        ]
    )


def record_ops(known_pod: Mapping[str, Any] | None, record: instance_actions.ActionRecord) -> list[Json]:
    """The JSON-patch operations recording an instance action on the pod. The gateway's pods always carry
    annotations; a VM pod the cache shows without any gets the whole map (an ``add`` inside a missing map
    would fail the patch)."""
    annotations = ((known_pod or {}).get("metadata") or {}).get("annotations")
    if known_pod is not None and not isinstance(annotations, dict):
        return [
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": instance_actions.record_annotations(record),
            }
        ]
    return [instance_actions.record_patch_op(record)]


@dataclass(frozen=True, slots=True)
class RebuildKey:
    """The key a rebuild gives the VM (2.54): ``name`` None removes the server's key (Arktos still needs a
    keyPairName: the deployment's default, with no public key)."""

    name: str | None
    public_key: str
    key_pair_name: str


def rebuild_patch(
    known_pod: Mapping[str, Any] | None,
    image: Image,
    name: str | None,
    metadata: Mapping[str, str] | None,
    record: instance_actions.ActionRecord | None = None,
    access_ips: Mapping[str, str] | None = None,
    action: ActionRequest | None = None,
    key: RebuildKey | None = None,
) -> list[Json]:
    """ONE JSON patch: the VM's image, and the rebuild's name/metadata (and later microversions' fields of
    ``action``, the new ``key``), on exactly the known VM pod (its uid tested first, as every write of the
    gateway to a pod it knows; Arktos answers a failed test with 422)."""
    changes: dict[str, str] = {keys.IMAGE_ID: image.id}
    vm_changes: dict[str, str] = {}
    if action is not None:
        if not isinstance(action.description, Absent):
            changes[keys.DESCRIPTION] = orjson.dumps(action.description).decode()
        if not isinstance(action.hostname, Absent):
            changes[keys.HOSTNAME] = action.hostname
    if key is not None:
        changes[keys.KEY_NAME] = key.name or ""
        vm_changes["keyPairName"] = key.key_pair_name
        vm_changes["publicKey"] = key.public_key
    if name is not None:
        changes[keys.DISPLAY_NAME] = name
    if metadata is not None:
        # Nova's rebuild replaces the server's metadata with the given one.
        changes[keys.METADATA] = orjson.dumps(dict(metadata)).decode()
    if record is not None:
        changes.update(instance_actions.record_annotations(record))
    changes.update(access_ips or {})
    ops: list[Json] = []
    uid = str(((known_pod or {}).get("metadata") or {}).get("uid") or "")
    if uid:
        ops.append({"op": "test", "path": "/metadata/uid", "value": uid})
    annotations = ((known_pod or {}).get("metadata") or {}).get("annotations")
    if known_pod is not None and not isinstance(annotations, dict):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": changes})
    else:
        # The gateway's pods always carry annotations (created-by...); a locked one refuses (server_lock).
        ops.append(server_lock.unlocked_test())
        ops.extend({"op": "add", "path": _annotation_path(k), "value": v} for k, v in changes.items())
    ops.append({"op": "replace", "path": IMAGE_PATH, "value": image.url})
    # "add" replaces a member that exists and adds one that does not (userData, publicKey are optional).
    ops.extend({"op": "add", "path": f"/spec/virtualMachine/{k}", "value": v} for k, v in vm_changes.items())
    return ops


def _annotation_path(key: str) -> str:
    # JSON pointer escaping (RFC 6901): "~" then "/".
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")
