"""JSON Schemas for compute request bodies, validated with ``jsonschema`` the way Nova does it.

A subset of Nova's 2.1 schemas (``nova/api/openstack/compute/schemas/servers.py`` and
``nova/api/validation/parameter_types.py``), with two gateway choices:
- unknown keys in ``server`` are accepted and ignored (Nova 2.1 accepts extension keys; failing a client for
  a key the gateway has no use for helps nobody);
- ``networks`` accepts both the 2.1 list and the later "auto"/"none" strings, which clients send freely.

Errors read like Nova's (``nova/api/validation/validators.py``): "Invalid input for field/attribute
<field>. Value: <value>. <reason>".
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from extproc.errors import ECHO_LIMIT, echo

FORMATS = FormatChecker(formats=())

# Nova's valid_name_regex: printable characters, no leading or trailing whitespace.
_NAME_RE = re.compile(r"(?!\s)[^\x00-\x1f\x7f]*(?<!\s)\Z")
INVALID_NAME = (
    "An invalid 'name' value was provided. The name must be: printable characters. "
    "Can not start or end with whitespace."
)


@FORMATS.checks("name")
def _is_name(instance: object) -> bool:
    return not isinstance(instance, str) or _NAME_RE.match(instance) is not None


def _string_format(name: str, parse: Callable[[str], object], errors: tuple[type[Exception], ...]) -> None:
    """Register format ``name``: a string is valid when ``parse`` accepts it (non-strings are the type's
    business, as in JSON Schema)."""

    def check(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        try:
            parse(instance)
        except errors:
            return False
        return True

    FORMATS.checks(name)(check)


_string_format(
    "base64", lambda v: base64.b64decode(v.encode("utf-8"), validate=True), (binascii.Error, ValueError)
)
_string_format("uuid", uuid.UUID, (ValueError,))
_string_format("ipv4", ipaddress.IPv4Address, (ValueError,))
_string_format("ipv6", ipaddress.IPv6Address, (ValueError,))


def canonical_ip(address: str) -> str:
    """An ``accessIPv4``/``accessIPv6`` as Nova stores and returns it: canonical, as Python's ``ipaddress``
    writes it (Nova's IPV4/IPV6AddressField coerce through netaddr: ``2001:DB8:0::1`` is ``2001:db8::1``).
    A value the schema let through always parses; anything else is returned unchanged."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


# -- parameter types (nova/api/validation/parameter_types.py) ------------------------------------------

NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255, "format": "name"}

BOOLEAN: dict[str, Any] = {
    "type": ["boolean", "string"],
    "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
             False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"],
}  # fmt: skip

# An integer, or a string of digits (Nova's positive_integer; the range is checked after the schema).
POSITIVE_INTEGER: dict[str, Any] = {
    "type": ["integer", "string"],
    "pattern": "^[0-9]*$",
    "minimum": 1,
    "minLength": 1,
}

IP_ADDRESS: dict[str, Any] = {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]}

# Nova's metadata: keys of [a-zA-Z0-9-_:. ] up to 255, string values up to 255.
METADATA: dict[str, Any] = {
    "type": "object",
    "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False,
}

BLOCK_DEVICE_MAPPING_V2: dict[str, Any] = {
    "type": "object",
    "properties": {
        "uuid": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9._-]*$"},
        "image_id": {"type": "string", "format": "uuid"},
        "source_type": {"type": "string", "enum": ["volume", "image", "snapshot", "blank"]},
        "destination_type": {"type": "string", "enum": ["local", "volume"]},
        "boot_index": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"},
        "delete_on_termination": BOOLEAN,
        "volume_size": {"type": ["integer", "string"], "pattern": "^[0-9]+$"},
        "device_name": {"type": ["string", "null"], "maxLength": 255},
        "guest_format": {"type": "string", "maxLength": 255},
        "device_type": {"type": "string", "maxLength": 255},
        "disk_bus": {"type": "string", "maxLength": 255},
        "no_device": {},
        "tag": {"type": "string", "maxLength": 60},
    },
}

NETWORKS: dict[str, Any] = {
    "oneOf": [
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "fixed_ip": IP_ADDRESS,
                    "port": {"oneOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]},
                    "uuid": {"type": "string"},
                    "tag": {"type": "string", "maxLength": 60},
                },
            },
        },
        {"type": "string", "enum": ["auto", "none"]},
    ]
}

# Nova's scheduler hints (_hints): only ``group`` is used (extproc.compute.server_groups); others are ignored.
SCHEDULER_HINTS: dict[str, Any] = {
    "type": "object",
    "properties": {"group": {"type": "string", "format": "uuid"}},
    "additionalProperties": True,
}

SERVER_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {
                "name": NAME,
                # Nova 2.1 takes an image id or "" (boot from a block device mapping); the gateway also
                # takes a link ending in the id, as the legacy v2 API did.
                "imageRef": {"type": "string", "maxLength": 2048},
                "flavorRef": {"type": ["string", "integer"], "minLength": 1},
                "adminPass": {"type": "string"},
                "metadata": METADATA,
                "networks": NETWORKS,
                "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
                "accessIPv4": {"type": "string", "format": "ipv4"},
                "accessIPv6": {"type": "string", "format": "ipv6"},
                "availability_zone": NAME,
                "block_device_mapping_v2": {"type": "array", "items": BLOCK_DEVICE_MAPPING_V2},
                "config_drive": BOOLEAN,
                "key_name": NAME,
                "min_count": POSITIVE_INTEGER,
                "max_count": POSITIVE_INTEGER,
                "return_reservation_id": BOOLEAN,
                "security_groups": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": NAME}},
                },
                "user_data": {"type": "string", "format": "base64", "maxLength": 65535},
            },
            "required": ["name", "flavorRef"],
        },
        "os:scheduler_hints": SCHEDULER_HINTS,
        "OS-SCH-HNT:scheduler_hints": SCHEDULER_HINTS,
    },
    "required": ["server"],
}

SERVER_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {
                "name": NAME,
                "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
                "accessIPv4": {"type": "string", "format": "ipv4"},
                "accessIPv6": {"type": "string", "format": "ipv6"},
            },
            "additionalProperties": False,
        },
    },
    "required": ["server"],
    "additionalProperties": False,
}

_CREATE_VALIDATOR = Draft4Validator(SERVER_CREATE, format_checker=FORMATS)
_UPDATE_VALIDATOR = Draft4Validator(SERVER_UPDATE, format_checker=FORMATS)

TRUE_STRINGS = frozenset({"1", "t", "true", "on", "y", "yes"})


def is_true(value: object) -> bool:
    """A validated BOOLEAN as Python bool (oslo strutils.bool_from_string)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_STRINGS


def _message(error: ValidationError) -> str:
    if error.validator == "format" and error.validator_value == "name":
        return INVALID_NAME
    if error.path:
        field, value = echo(error.path[-1]), echo(error.instance)
        return f"Invalid input for field/attribute {field}. Value: {value}. {reason(error)}"
    return reason(error)


def reason(error: ValidationError) -> str:
    """jsonschema's reason, with the client's value in it shortened (``'xxx...' is too long``)."""
    message = error.message
    if len(message) <= ECHO_LIMIT:
        return message
    shown = repr(error.instance)
    if len(shown) > ECHO_LIMIT and shown in message:
        return message.replace(shown, echo(shown))
    return echo(message)


def validate(validator: Draft4Validator, body: Any) -> str | None:
    """The first error's Nova-style message, or None when ``body`` is valid."""
    for error in validator.iter_errors(body):
        return _message(error)
    return None


def validate_create(body: Any) -> str | None:
    return validate(_CREATE_VALIDATOR, body)


def validate_update(body: Any) -> str | None:
    return validate(_UPDATE_VALIDATOR, body)


def schema_keys(schema: Mapping[str, Any]) -> frozenset[str]:
    """The keys a ``server`` object may carry per ``schema`` (for tests and docs)."""
    return frozenset(schema["properties"]["server"]["properties"])
