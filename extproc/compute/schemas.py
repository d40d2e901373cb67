"""JSON Schemas for compute request bodies, validated with ``jsonschema`` the way Nova does it.

Nova's server schemas (``nova/api/openstack/compute/schemas/servers.py`` and
``nova/api/validation/parameter_types.py``) per microversion: each schema is built for the request's
microversion, a field beside the version that brought or removed it, and like Nova's refuses keys it does not
list (which is how a field of a later microversion is a 400 below it).

Errors read like Nova's (``nova/api/validation/validators.py``): "Invalid input for field/attribute
<field>. Value: <value>. <reason>".
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from extproc.errors import ECHO_LIMIT, echo

FORMATS = FormatChecker(formats=())
Version = tuple[int, int]

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

# Nova's tag (nova/objects/tag.py MAX_TAG_LENGTH; instance.MAX_TAG_COUNT for a server's tags).
MAX_TAG_LENGTH = 60
MAX_TAG_COUNT = 50
TAG: dict[str, Any] = {"type": "string", "pattern": "^[^,/]*$", "minLength": 1, "maxLength": MAX_TAG_LENGTH}
DESCRIPTION: dict[str, Any] = {
    "type": ["string", "null"],
    "format": "description",
    "minLength": 0,
    "maxLength": 255,
}
# A host name (2.90) and, from 2.94, any FQDN (parameter_types.hostname / fqdn).
HOSTNAME: dict[str, Any] = {
    "type": "string",
    "pattern": "^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$",
    "minLength": 2,
    "maxLength": 63,
}
FQDN: dict[str, Any] = {"type": "string", "pattern": "^[a-zA-Z0-9-._]*$", "minLength": 1, "maxLength": 255}
NAME_OR_NONE: dict[str, Any] = {
    "oneOf": [{"type": "string", "minLength": 1, "maxLength": 255}, {"type": "null"}]
}
TRUSTED_CERTS: dict[str, Any] = {
    "type": ["array", "null"],
    "minItems": 1,
    "maxItems": 50,
    "uniqueItems": True,
    "items": {"type": "string", "minLength": 1},
}
PERSONALITY: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "contents": {"type": "string", "format": "base64"}},
        "additionalProperties": False,
    },
}
USER_DATA: dict[str, Any] = {"type": "string", "format": "base64", "maxLength": 65535}


def _is_printable(char: str) -> bool:
    """parameter_types._is_printable: no "other" (control, format...) and no space but Zs."""
    category = unicodedata.category(char)
    return not category.startswith("C") and (not category.startswith("Z") or category == "Zs")


@FORMATS.checks("description")
def _is_description(instance: object) -> bool:
    # Nova's valid_description_regex ranges over U+0000-U+FFFE only: nothing above the BMP matches.
    return not isinstance(instance, str) or all(ord(c) < 0xFFFF and _is_printable(c) for c in instance)


_LEGACY_BLOCK_DEVICE_MAPPING: dict[str, Any] = {
    "type": "object",
    "properties": {
        "virtual_name": {"type": "string", "maxLength": 255},
        "volume_id": {"type": "string", "format": "uuid"},
        "snapshot_id": {"type": "string", "maxLength": 255},
        "volume_size": {"type": ["integer", "string"], "pattern": "^[0-9]+$"},
        "device_name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9._/-]*$"},
        "delete_on_termination": BOOLEAN,
        "no_device": {},
        "connection_info": {"type": "string", "maxLength": 16777215},
    },
    "additionalProperties": False,
}


def _block_device_mapping_v2(version: Version) -> dict[str, Any]:
    properties = dict(_LEGACY_BLOCK_DEVICE_MAPPING["properties"])
    properties.update(
        {
            "source_type": {"type": "string", "enum": ["volume", "image", "snapshot", "blank"]},
            "uuid": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9._-]*$"},
            "image_id": {"type": "string", "maxLength": 255},
            "destination_type": {"type": "string", "enum": ["local", "volume"]},
            "guest_format": {"type": "string", "maxLength": 255},
            "device_type": {"type": "string", "maxLength": 255},
            "disk_bus": {"type": "string", "maxLength": 255},
            "boot_index": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"},
        }
    )
    # NOTE: Nova merged the BDM tag for 2.32 only ("if version == '2.32'"), and re-added it at 2.42.
    if version == (2, 32) or version >= (2, 42):
        properties["tag"] = TAG
    if version >= (2, 67):
        properties["volume_type"] = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _networks(version: Version) -> dict[str, Any]:
    item: dict[str, Any] = {
        "fixed_ip": IP_ADDRESS,
        "port": {"type": ["string", "null"], "format": "uuid"},
        # 2.37 requires network ids to be UUIDs in the schema (before, the API checked them).
        "uuid": {"type": "string", "format": "uuid"} if version >= (2, 37) else {"type": "string"},
    }
    # NOTE: 2.32 added the NIC tag, 2.37 lost it by mistake, 2.42 brought it back.
    if (2, 32) <= version < (2, 37) or version >= (2, 42):
        item["tag"] = TAG
    listed = {"type": "array", "items": {"type": "object", "properties": item, "additionalProperties": False}}
    if version < (2, 37):
        return listed
    return {"oneOf": [listed, {"type": "string", "enum": ["none", "auto"]}]}


# Nova's scheduler hints (_hints): only ``group`` is used (extproc.compute.server_groups); others are ignored.
SCHEDULER_HINTS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "group": {
            "oneOf": [
                {"type": "array", "items": {"type": "string", "format": "uuid"}},
                {"type": "string", "format": "uuid"},
            ]
        }
    },
    "additionalProperties": True,
}


def server_create_schema(version: Version) -> dict[str, Any]:
    """Nova's ``POST /servers`` schema at ``version`` (schemas/servers.py create .. create_v294), each field
    beside the microversion that brought or removed it."""
    properties: dict[str, Any] = {
        "name": NAME,
        # Nova takes an image id or "" (boot from a block device mapping); the gateway also takes a link
        # ending in the id, as the legacy v2 API did.
        "imageRef": {"type": "string", "maxLength": 2048},
        "flavorRef": {"type": ["string", "integer"], "minLength": 1},
        "adminPass": {"type": "string"},
        "metadata": METADATA,
        "networks": _networks(version),
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"},
        "availability_zone": NAME,
        "block_device_mapping": {"type": "array", "items": _LEGACY_BLOCK_DEVICE_MAPPING},
        "block_device_mapping_v2": {"type": "array", "items": _block_device_mapping_v2(version)},
        "config_drive": BOOLEAN,
        "key_name": NAME,
        "min_count": POSITIVE_INTEGER,
        "max_count": POSITIVE_INTEGER,
        "return_reservation_id": BOOLEAN,
        "security_groups": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": NAME}, "additionalProperties": False},
        },
        "user_data": USER_DATA,
    }
    if version < (2, 57):
        properties["personality"] = PERSONALITY
    if version >= (2, 19):
        properties["description"] = DESCRIPTION
    if version >= (2, 52):
        properties["tags"] = {"type": "array", "items": TAG, "maxItems": MAX_TAG_COUNT}
    if version >= (2, 63):
        properties["trusted_image_certificates"] = TRUSTED_CERTS
    if version >= (2, 74):
        properties["host"] = FQDN
        properties["hypervisor_hostname"] = FQDN
    if version >= (2, 90):
        properties["hostname"] = FQDN if version >= (2, 94) else HOSTNAME
    required = ["name", "flavorRef"]
    if version >= (2, 37):
        required.append("networks")
    return {
        "type": "object",
        "properties": {
            "server": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
            "os:scheduler_hints": SCHEDULER_HINTS,
            "OS-SCH-HNT:scheduler_hints": SCHEDULER_HINTS,
        },
        "required": ["server"],
        "additionalProperties": False,
    }


def server_update_schema(version: Version) -> dict[str, Any]:
    """Nova's ``PUT /servers/{id}`` schema at ``version`` (update .. update_v2104)."""
    properties: dict[str, Any] = {
        "name": NAME,
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"},
    }
    if version >= (2, 19):
        properties["description"] = DESCRIPTION
    if version >= (2, 90):
        properties["hostname"] = FQDN if version >= (2, 94) else HOSTNAME
    if version >= (2, 104):
        properties["pinned_availability_zone"] = NAME_OR_NONE
    return {
        "type": "object",
        "properties": {
            "server": {"type": "object", "properties": properties, "additionalProperties": False},
        },
        "required": ["server"],
        "additionalProperties": False,
    }


def server_rebuild_properties(version: Version) -> dict[str, Any]:
    """The ``rebuild`` properties of Nova's rebuild schema at ``version`` (rebuild .. rebuild_v294)."""
    properties: dict[str, Any] = {
        "name": NAME,
        "imageRef": {"type": "string", "minLength": 1, "maxLength": 2048},
        "adminPass": {"type": "string"},
        "metadata": METADATA,
        "preserve_ephemeral": BOOLEAN,
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"},
    }
    if version < (2, 57):
        properties["personality"] = PERSONALITY
    if version >= (2, 19):
        properties["description"] = DESCRIPTION
    if version >= (2, 54):
        properties["key_name"] = NAME_OR_NONE
    if version >= (2, 57):
        # Nullable: a rebuild may reset the user data.
        properties["user_data"] = {**USER_DATA, "type": ["string", "null"]}
    if version >= (2, 63):
        properties["trusted_image_certificates"] = TRUSTED_CERTS
    if version >= (2, 90):
        properties["hostname"] = FQDN if version >= (2, 94) else HOSTNAME
    return properties


@functools.lru_cache(maxsize=256)
def _create_validator(version: Version) -> Draft4Validator:
    return Draft4Validator(server_create_schema(version), format_checker=FORMATS)


@functools.lru_cache(maxsize=256)
def _update_validator(version: Version) -> Draft4Validator:
    return Draft4Validator(server_update_schema(version), format_checker=FORMATS)


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


def validate_create(body: Any, version: Version = (2, 1)) -> str | None:
    return validate(_create_validator(version), body)


def validate_update(body: Any, version: Version = (2, 1)) -> str | None:
    return validate(_update_validator(version), body)


def schema_keys(schema: Mapping[str, Any]) -> frozenset[str]:
    """The keys a ``server`` object may carry per ``schema`` (for tests and docs)."""
    return frozenset(schema["properties"]["server"]["properties"])
