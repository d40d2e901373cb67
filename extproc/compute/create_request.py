"""A server create request, validated and reduced to what the gateway uses, and the VM pod it becomes.

Pure translation: ``parse_create`` checks the body (Nova's 400 messages), ``build_pod`` makes the VM pod
Arktos accepts (fixtures 03 and 08); Nova's password and reservation id generators.
"""

from __future__ import annotations

import base64
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from extproc import annotations as keys
from extproc.compute import create_networking, schemas
from extproc.compute.server_fields import default_hostname
from extproc.ids import vm_name_from_display_name
from extproc.network import server_nics
from extproc.network.objects import NETWORK_LABEL

Json = dict[str, Any]

RESERVATION_ID_RE = re.compile(r"r-[a-z0-9]{8}")


def generate_reservation_id() -> str:
    """Nova's "r-xxxxxxxx" (also a valid label value)."""
    return "r-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def ref_id(ref: str) -> str:
    """An id from a flavorRef/imageRef that may be a link (``http://.../flavors/1``)."""
    if "/" not in ref:
        return ref
    path = urlsplit(ref).path if "://" in ref else ref
    return path.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A validated create body, reduced to what the gateway uses."""

    name: str
    flavor_ref: str
    image_ref: str
    key_name: str | None
    user_data: str | None
    metadata: Mapping[str, str]
    min_count: int
    max_count: int
    return_reservation_id: bool
    access_ipv4: str | None
    access_ipv6: str | None
    networking: create_networking.RequestedNetworking
    # What the view shows from later microversions (``server_view``), as Nova records them at create:
    # the description (below 2.19 Nova stores the name as the description), the tags (2.52), the
    # requested hostname (2.90), the requested zone (2.96's pinned zone) and the scheduler hints (2.100).
    description: str | None = None
    tags: tuple[str, ...] = ()
    hostname: str | None = None
    availability_zone: str | None = None
    scheduler_hints: Mapping[str, list[str]] | None = None


def _is_image_local(bdm: Mapping[str, Any]) -> bool:
    boot_index = bdm.get("boot_index")
    return (
        bdm.get("source_type") == "image"
        and bdm.get("destination_type", "local") == "local"
        and boot_index is not None
        and str(boot_index) == "0"
        and bool(bdm.get("uuid"))
    )


BDM_UNSUPPORTED = (
    "Block device mapping is not supported by this cloud: the only accepted entry boots from an image onto "
    "local disk (source_type image, destination_type local, boot_index 0, uuid <image id>)."
)


# nova.exception.AmbiguousHostnameForMultipleInstances
AMBIGUOUS_HOSTNAME = "Unable to allocate a single hostname to multiple instances"
# A requested destination (2.74) is the scheduler's business in Arktos: no API places a VM on a node.
REQUESTED_DESTINATION_UNSUPPORTED = (
    "Requesting a host or hypervisor_hostname is not supported by this cloud: Arktos's scheduler places "
    "every VM."
)


def trusted_certs_unsupported(cert_id: str) -> str:
    """nova.exception.CertificateValidationFailed, with why no certificate can pass here."""
    return (
        f"Image signature certificate validation failed for certificate: {cert_id}. Arktos does not verify "
        "image signatures, so no trusted certificate can be applied."
    )


def scheduler_hints_of(body: Mapping[str, Any]) -> dict[str, list[str]]:
    """The create's scheduler hints as Nova's RequestSpec keeps them (and 2.100 shows them): every value
    a list of strings."""
    hints = body.get("os:scheduler_hints")
    if hints is None:
        hints = body.get("OS-SCH-HNT:scheduler_hints")
    if not isinstance(hints, dict):
        return {}
    kept: dict[str, list[str]] = {}
    for name, value in hints.items():
        values = value if isinstance(value, list) else [value]
        kept[str(name)] = [v if isinstance(v, str) else orjson.dumps(v).decode() for v in values]
    return kept


def parse_create(body: Any, version: tuple[int, int] = (2, 1)) -> CreateRequest | str:
    """The create request at microversion ``version``, or Nova's 400 message."""
    problem = schemas.validate_create(body, version)
    if problem is not None:
        return problem
    server: Mapping[str, Any] = body["server"]
    if server.get("block_device_mapping"):
        return BDM_UNSUPPORTED
    if server.get("host") or server.get("hypervisor_hostname"):
        return REQUESTED_DESTINATION_UNSUPPORTED
    certs = server.get("trusted_image_certificates")
    if certs:
        return trusted_certs_unsupported(str(certs[0]))

    image_ref = server.get("imageRef") or ""
    bdms = server.get("block_device_mapping_v2") or []
    for bdm in bdms:
        if not _is_image_local(bdm):
            return BDM_UNSUPPORTED
    if len(bdms) > 1:
        return BDM_UNSUPPORTED
    if not image_ref and bdms:
        image_ref = str(bdms[0]["uuid"])
    if not image_ref:
        return "Missing imageRef attribute"

    try:
        min_count = int(server.get("min_count", 1))
        max_count = int(server.get("max_count", min_count))
    except ValueError:
        return "min_count and max_count must be integers"
    if min_count < 1:
        return "Invalid input received: min_count must be >= 1"
    if max_count < 1:
        return "Invalid input received: max_count must be >= 1"
    if min_count > max_count:
        return "min_count must be <= max_count"

    hostname = server.get("hostname")
    if hostname and max_count > 1:
        return AMBIGUOUS_HOSTNAME
    zone = server.get("availability_zone")
    if zone not in (None, "", "nova"):
        return f"The requested availability zone is not available: {zone}"
    networking = create_networking.parse(server)
    if isinstance(networking, str):
        return networking

    return CreateRequest(
        name=server["name"],
        flavor_ref=ref_id(str(server["flavorRef"])),
        image_ref=ref_id(str(image_ref)),
        key_name=server.get("key_name") or None,
        user_data=server.get("user_data") or None,
        metadata=dict(server.get("metadata") or {}),
        min_count=min_count,
        max_count=max_count,
        return_reservation_id=schemas.is_true(server.get("return_reservation_id", False)),
        access_ipv4=schemas.canonical_ip(server["accessIPv4"]) if server.get("accessIPv4") else None,
        access_ipv6=schemas.canonical_ip(server["accessIPv6"]) if server.get("accessIPv6") else None,
        networking=networking,
        # NOTE: Nova's create sets description = name below 2.19 (servers.py create), None when 2.19+
        # gives none; ``server_view`` shows it from 2.19.
        description=server.get("description") if version >= (2, 19) else server["name"],
        tags=tuple(server.get("tags") or ()),
        hostname=hostname or None,
        availability_zone=zone or None,
        scheduler_hints=scheduler_hints_of(body),
    )


@dataclass(frozen=True, slots=True)
class PodInputs:
    """What ``build_pod`` needs besides the request: all resolved, all plain values."""

    server_id: str
    reservation_id: str
    image_id: str
    image_url: str
    flavor_id: str
    vcpus: int
    ram_mib: int
    user_id: str
    default_keypair: str
    # The client's X-OpenStack-Request-ID when it names the create (extproc.compute.idempotency).
    client_request_id: str | None = None
    # The public key of the create's key_name (see keypairs.public_key_for_create); None without key_name.
    public_key: str | None = None
    # The create's instance action record (``instance_actions.record_annotations``), kept on the pod.
    instance_action: Mapping[str, str] | None = None
    # The pod's network label and NICs (extproc.network.server_nics); none: Arktos's default network.
    nics: server_nics.NicPlan | None = None
    # Nova's snapshots at boot, shown by later microversions: the flavor as 2.47 embeds it and the image's
    # standard properties (2.98); see ``server_flavor.flavor_snapshot`` / ``image_properties_snapshot``.
    flavor_snapshot: Mapping[str, Any] | None = None
    image_properties: Mapping[str, str] | None = None


def build_pod(create: CreateRequest, inputs: PodInputs) -> Json:
    """The VM pod for a create request (field names as Arktos accepts them, fixtures 03 and 08)."""
    pod_annotations = {
        keys.DISPLAY_NAME: create.name,
        keys.FLAVOR_ID: inputs.flavor_id,
        keys.IMAGE_ID: inputs.image_id,
        keys.USER_ID: inputs.user_id,
        keys.METADATA: orjson.dumps(dict(create.metadata)).decode(),
        keys.CREATED_BY: keys.CREATED_BY_GATEWAY,
    }
    if create.key_name:
        pod_annotations[keys.KEY_NAME] = create.key_name
    if inputs.client_request_id:
        pod_annotations[keys.CLIENT_REQUEST_ID] = inputs.client_request_id
    if create.access_ipv4:
        pod_annotations[keys.ACCESS_IPV4] = create.access_ipv4
    if create.access_ipv6:
        pod_annotations[keys.ACCESS_IPV6] = create.access_ipv6
    pod_annotations[keys.DESCRIPTION] = orjson.dumps(create.description).decode()
    if create.tags:
        pod_annotations[keys.TAGS] = orjson.dumps(list(dict.fromkeys(create.tags))).decode()
    if create.hostname:
        pod_annotations[keys.HOSTNAME] = create.hostname
    elif create.max_count == 1:
        # Nova fixes the hostname at create; a batch member's follows its display name "name-<index>".
        pod_annotations[keys.HOSTNAME] = default_hostname(create.name, inputs.server_id)
    if create.availability_zone:
        pod_annotations[keys.PINNED_AZ] = create.availability_zone
    if create.scheduler_hints:
        pod_annotations[keys.SCHEDULER_HINTS] = orjson.dumps(dict(create.scheduler_hints)).decode()
    if inputs.flavor_snapshot is not None:
        pod_annotations[keys.FLAVOR] = orjson.dumps(dict(inputs.flavor_snapshot)).decode()
    if inputs.image_properties:
        pod_annotations[keys.IMAGE_PROPERTIES] = orjson.dumps(dict(inputs.image_properties)).decode()
    pod_annotations.update(inputs.instance_action or {})
    resources = {"cpu": str(inputs.vcpus), "memory": f"{inputs.ram_mib}Mi"}
    vm: Json = {
        "name": vm_name_from_display_name(create.name),
        "image": inputs.image_url,
        "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": dict(resources), "requests": dict(resources)},
        # NOTE: Arktos refuses a VM without keyPairName or publicKey (fixture 05); Nova needs no key.
        "keyPairName": create.key_name or inputs.default_keypair,
        "powerSpec": "Running",
    }
    if inputs.public_key is not None:
        vm["publicKey"] = inputs.public_key
    labels = {keys.RESERVATION_ID: inputs.reservation_id}
    spec: Json = {"virtualMachine": vm}
    if inputs.nics is not None and inputs.nics.network is not None:
        labels[NETWORK_LABEL] = inputs.nics.network
    if inputs.nics is not None and inputs.nics.nics:
        spec["nics"] = [dict(nic) for nic in inputs.nics.nics]
    if create.user_data:
        # NOTE: Nova's user_data is base64 text; Arktos's userData is []byte, which JSON carries as base64,
        # so the client's text is encoded once more and the guest receives exactly what Nova's would.
        vm["userData"] = base64.b64encode(create.user_data.encode("ascii")).decode("ascii")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": inputs.server_id,
            "labels": labels,
            "annotations": pod_annotations,
        },
        "spec": spec,
    }
