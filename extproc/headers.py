"""Request ids and compute microversions: what a request asks for and what every reply carries.

The gateway serves Nova's API from 2.1 up to current Nova's maximum (2.104, nova/api/openstack/
api_version_request.py): what each microversion changes is gated beside the field it changes, in the views
and schemas of each resource (``version >= (2, N)``, as Nova's ``api_version_request.is_supported``).
Clients decide what to send and expect from the advertised maximum, so it is raised only with the gates.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from extproc.errors import echo

COMPUTE_SERVICE_TYPE = "compute"
MIN_COMPUTE_VERSION = (2, 1)
MAX_COMPUTE_VERSION = (2, 104)

REQUEST_ID = "x-openstack-request-id"
COMPUTE_REQUEST_ID = "x-compute-request-id"
API_VERSION = "openstack-api-version"
LEGACY_API_VERSION = "x-openstack-nova-api-version"

# Nova's APIVersionRequest format: "2.1", "2.10"; no leading zeros, nothing around it.
_VERSION_RE = re.compile(r"([1-9]\d*)\.([1-9]\d*|0)")
# More digits than any version number has: such a version is out of range without converting it (Python
# refuses int() of more than 4,300 digits, and a long one is no version a client can mean).
_MAX_VERSION_DIGITS = 9


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


def version_string(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


MIN_VERSION_STRING = version_string(MIN_COMPUTE_VERSION)
MAX_VERSION_STRING = version_string(MAX_COMPUTE_VERSION)


@dataclass(frozen=True, slots=True)
class VersionError:
    """A refused microversion: ``status`` 400 (malformed) or 406 (out of range), Nova's message."""

    status: int
    message: str


def requested_compute_version(headers: Mapping[str, str]) -> str | None:
    """The compute microversion a request names, as microversion_parse.get_version reads it.

    ``OpenStack-API-Version: compute X`` (a comma-separated list of "service version") wins over the
    legacy ``X-OpenStack-Nova-API-Version: X``. None when neither names one.
    """
    standard = headers.get(API_VERSION)
    if standard:
        for item in standard.split(","):
            parts = item.strip().split(None, 1)
            if len(parts) == 2 and parts[0].lower() == COMPUTE_SERVICE_TYPE:
                return parts[1].strip()
    legacy = headers.get(LEGACY_API_VERSION)
    if legacy and legacy.strip():
        return legacy.strip()
    return None


def negotiate_compute_version(headers: Mapping[str, str]) -> tuple[int, int] | VersionError:
    """The microversion to serve, or why the request cannot be served (Nova's wsgi.Request rules)."""
    requested = requested_compute_version(headers)
    if requested is None:
        return MIN_COMPUTE_VERSION
    if requested.lower() == "latest":
        return MAX_COMPUTE_VERSION
    match = _VERSION_RE.fullmatch(requested)
    if match is None:
        shown = echo(requested)
        return VersionError(
            400, f"API Version String {shown} is of invalid format. Must be of format MajorNum.MinorNum."
        )
    major, minor = match.group(1), match.group(2)
    if max(len(major), len(minor)) > _MAX_VERSION_DIGITS:
        return _unsupported(requested)
    version = (int(major), int(minor))
    if not MIN_COMPUTE_VERSION <= version <= MAX_COMPUTE_VERSION:
        return _unsupported(version_string(version))
    return version


def _unsupported(shown: str) -> VersionError:
    return VersionError(
        406,
        f"Version {echo(shown)} is not supported by the API. "
        f"Minimum is {MIN_VERSION_STRING} and maximum is {MAX_VERSION_STRING}.",
    )


def request_id_headers(request_id: str) -> dict[str, str]:
    return {REQUEST_ID: request_id}


def compute_headers(
    request_id: str, version: tuple[int, int] = MIN_COMPUTE_VERSION, *, legacy_v2: bool = False
) -> dict[str, str]:
    """Headers on every compute reply (fixtures 09 and 10); the legacy v2 API has no microversion headers
    (Nova's LegacyV2CompatibleWrapper filters them and their Vary out)."""
    if legacy_v2:
        return {REQUEST_ID: request_id, COMPUTE_REQUEST_ID: request_id}
    served = version_string(version)
    return {
        REQUEST_ID: request_id,
        COMPUTE_REQUEST_ID: request_id,
        API_VERSION: f"{COMPUTE_SERVICE_TYPE} {served}",
        LEGACY_API_VERSION: served,
        "vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
    }
