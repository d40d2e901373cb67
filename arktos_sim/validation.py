"""Defaults and validation of pods (VM and container), ReplicaSets, ConfigMaps, namespaces and tenants.

Validation produces Kubernetes ``StatusCause`` dicts ``{reason, message, field}`` in the order the Arktos API
server reports them (fixtures 05, 06, 27); a non-empty list becomes a 422 ``Invalid`` Status.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson

from . import quantity, status

Json = dict[str, Any]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
LABEL_MSG = (
    "a DNS-1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a DNS-1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
USER_DATA_MAX = 65535
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
POWER_SPECS = ("Running", "Shutdown", "Paused", "Suspended")
DEFAULT_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]


def _go_value(value: Any) -> str:
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, dict):
        inner = ", ".join(f"{orjson.dumps(k).decode()}:{orjson.dumps(v).decode()}" for k, v in value.items())
        return "map[string]string{" + inner + "}"
    return str(value)


def required(field: str, detail: str = "") -> Json:
    message = "Required value" + (f": {detail}" if detail else "")
    return {"reason": "FieldValueRequired", "message": message, "field": field}


def invalid(field: str, value: Any, detail: str) -> Json:
    return {
        "reason": "FieldValueInvalid",
        "message": f"Invalid value: {_go_value(value)}: {detail}",
        "field": field,
    }


def not_supported(field: str, value: Any, supported: tuple[str, ...]) -> Json:
    options = ", ".join(f'"{s}"' for s in supported)
    return {
        "reason": "FieldValueNotSupported",
        "message": f"Unsupported value: {_go_value(value)}: supported values: {options}",
        "field": field,
    }


def forbidden(field: str, detail: str) -> Json:
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def too_long(field: str, limit: int) -> Json:
    return {
        "reason": "FieldValueTooLong",
        "message": f"Too long: must have at most {limit} bytes",
        "field": field,
    }


def label_causes(field: str, value: Any) -> list[Json]:
    if not isinstance(value, str) or not value:
        return [required(field)]
    causes = []
    if len(value) > 63:
        causes.append(invalid(field, value, "must be no more than 63 characters"))
    if not DNS1123_LABEL.match(value):
        causes.append(invalid(field, value, LABEL_MSG))
    return causes


def meta_causes(obj: Json, name_kind: str = "subdomain") -> list[Json]:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    if name_kind == "label":
        return label_causes("metadata.name", name)
    if len(name) > 253:
        return [invalid("metadata.name", name, "must be no more than 253 characters")]
    if not DNS1123_SUBDOMAIN.match(name):
        return [invalid("metadata.name", name, SUBDOMAIN_MSG)]
    return []


def _quantity_map(resources: Json, part: str) -> dict[str, str]:
    return {k: str(v) for k, v in (resources.get(part) or {}).items()}


def qos_class(workloads: list[Json]) -> str:
    requests_any = limits_all = False
    guaranteed = True
    for w in workloads:
        res = w.get("resources") or {}
        req, lim = _quantity_map(res, "requests"), _quantity_map(res, "limits")
        if req or lim:
            requests_any = True
        if not lim or lim.keys() < {"cpu", "memory"} or any(req.get(k, lim[k]) != lim[k] for k in lim):
            guaranteed = False
        else:
            limits_all = True
    if not requests_any:
        return "BestEffort"
    return "Guaranteed" if guaranteed and limits_all else "Burstable"


def _default_resources(holder: Json) -> None:
    res = holder.setdefault("resources", {})
    limits = res.get("limits") or {}
    if limits:
        requests = res.setdefault("requests", {})
        for k, v in limits.items():
            requests.setdefault(k, v)


def _workload(src: Json) -> Json:
    item: Json = {"name": src.get("name", ""), "image": src.get("image", "")}
    if "imagePullPolicy" in src:
        item["imagePullPolicy"] = src["imagePullPolicy"]
    item["resources"] = src.get("resources") or {}
    return item


def _pull_policy_default(image: str) -> str:
    tag = image.rsplit("/", 1)[-1]
    return "IfNotPresent" if ":" in tag and not tag.endswith(":latest") else "Always"


def user_data_bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise status.bad_request(
            'Pod in version "v1" cannot be handled as a Pod: userData: expects a base64 string'
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise status.bad_request(
            f'Pod in version "v1" cannot be handled as a Pod: v1.Pod.Spec: v1.PodSpec.VirtualMachine: '
            f"v1.VirtualMachine.UserData: decode base64: {exc}"
        ) from exc


def pod_spec(spec: Json, prefix: str, *, template: bool) -> list[Json]:
    """Default ``spec`` in place and return validation causes. ``template``: inside a ReplicaSet, where the
    pod-creation defaults (powerSpec, shutdownBehavior, imagePullPolicy, tolerations, ...) are not applied."""
    causes: list[Json] = []
    vm = spec.get("virtualMachine")
    containers = spec.get("containers")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    if not template:
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        tolerations = spec.setdefault("tolerations", [])
        present = {t.get("key") for t in tolerations if isinstance(t, dict)}
        tolerations.extend(dict(t) for t in DEFAULT_TOLERATIONS if t["key"] not in present)
    if vm is not None and not isinstance(vm, dict):
        raise status.bad_request("spec.virtualMachine must be an object")
    if vm and containers:
        return [
            forbidden(f"{prefix}.virtualMachine", "a pod has either containers or a virtualMachine, not both")
        ]
    if not vm and not containers:
        return [required(f"{prefix}.containers")]
    if vm:
        _default_resources(vm)
        if not template:
            vm.setdefault("imagePullPolicy", "IfNotPresent")
            vm.setdefault("powerSpec", "Running")
            vm.setdefault("shutdownBehavior", "stop")
        spec["workloadInfo"] = [_workload(vm)]
        causes += label_causes(f"{prefix}.workloadInfo[0].name", vm.get("name"))
        vmp = f"{prefix}.virtualMachine"
        causes += label_causes(f"{vmp}.name", vm.get("name"))
        if not vm.get("image"):
            causes.append(required(f"{vmp}.image"))
        policy = vm.get("imagePullPolicy")
        if policy is None:
            causes.append(required(f"{vmp}.imagePullPolicy"))
        elif policy not in PULL_POLICIES:
            causes.append(not_supported(f"{vmp}.imagePullPolicy", policy, PULL_POLICIES))
        if not vm.get("keyPairName") and not vm.get("publicKey"):
            causes.append(required(f"{vmp}.keyPairName", "KeyPairName and PublicKey can't be both empty"))
        if vm.get("userData") is not None and len(user_data_bytes(vm["userData"])) > USER_DATA_MAX:
            causes.append(too_long(f"{vmp}.userData", USER_DATA_MAX))
        power = vm.get("powerSpec")
        if power is not None and power not in POWER_SPECS:
            causes.append(not_supported(f"{vmp}.powerSpec", power, POWER_SPECS))
    else:
        if not isinstance(containers, list):
            raise status.bad_request("spec.containers must be a list")
        for c in containers:
            _default_resources(c)
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            if not template or "imagePullPolicy" not in c:
                c.setdefault("imagePullPolicy", _pull_policy_default(str(c.get("image", ""))))
        spec["workloadInfo"] = [_workload(c) for c in containers]
        for i, c in enumerate(containers):
            causes += label_causes(f"{prefix}.workloadInfo[{i}].name", c.get("name"))
        for i, c in enumerate(containers):
            causes += label_causes(f"{prefix}.containers[{i}].name", c.get("name"))
            if not c.get("image"):
                causes.append(required(f"{prefix}.containers[{i}].image"))
    return causes


def prepare_pod(obj: Json) -> None:
    """Defaults and validation of a pod being created (raises 422)."""
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        raise status.bad_request("spec must be an object")
    causes = meta_causes(obj) + pod_spec(spec, "spec", template=False)
    if causes:
        raise status.invalid("Pod", "", obj.get("metadata", {}).get("name", ""), causes)
    workloads = [spec["virtualMachine"]] if spec.get("virtualMachine") else list(spec.get("containers") or [])
    st = obj.setdefault("status", {})
    st.setdefault("phase", "Pending")
    st["qosClass"] = qos_class(workloads)


def revalidate_pod(obj: Json) -> None:
    """Validation of an updated pod (defaults re-applied; a container pod's workloadInfo re-derived).

    A VM pod keeps the workloadInfo derived at creation: Arktos answers a patch of
    ``spec.virtualMachine.image`` with the new image in the spec and the old one in workloadInfo
    (fixtures 34, 36).
    """
    spec = obj.setdefault("spec", {})
    recorded = spec.get("workloadInfo") if spec.get("virtualMachine") else None
    causes = pod_spec(spec, "spec", template=False)
    if causes:
        raise status.invalid("Pod", "", obj["metadata"]["name"], causes)
    if recorded is not None:
        spec["workloadInfo"] = recorded


def prepare_replicaset(obj: Json) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        raise status.bad_request("spec must be an object")
    causes = meta_causes(obj)
    spec.setdefault("replicas", 1)
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.setdefault("template", {})
    tmeta = template.setdefault("metadata", {})
    tmeta.setdefault("creationTimestamp", None)
    labels = tmeta.get("labels") or {}
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(required("spec.selector"))
    else:
        from .selectors import labels_match, selector_from_match

        if not labels_match(selector_from_match(selector), {"metadata": {"labels": labels}}):
            causes.append(
                invalid(
                    "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
                )
            )
    causes += pod_spec(template.setdefault("spec", {}), "spec.template.spec", template=True)
    if causes:
        raise status.invalid("ReplicaSet", "apps", obj.get("metadata", {}).get("name", ""), causes)


def config_key_causes(part: str, keys: Any) -> list[Json]:
    """ConfigMap and Secret keys: ``[-._a-zA-Z0-9]+``."""
    return [
        invalid(
            f"{part}[{key}]",
            key,
            "a valid config key must consist of alphanumeric characters, "
            "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
            "validation is '[-._a-zA-Z0-9]+')",
        )
        for key in keys or {}
        if not CONFIG_KEY.match(key)
    ]


def prepare_configmap(obj: Json) -> None:
    causes = meta_causes(obj)
    for part in ("data", "binaryData"):
        causes += config_key_causes(part, obj.get(part))
    if causes:
        raise status.invalid("ConfigMap", "", obj.get("metadata", {}).get("name", ""), causes)


def prepare_secret(obj: Json) -> None:
    """A Secret as Kubernetes stores it (fixtures 51-52): ``stringData`` merged into ``data`` as base64 (it
    wins over a ``data`` key of the same name) and dropped; ``data`` values must be base64 (Go's []byte);
    keys as ConfigMap keys; ``type`` defaults to ``Opaque``."""
    causes = meta_causes(obj)
    data = obj.get("data") or {}
    string_data = obj.pop("stringData", None) or {}
    if not isinstance(data, dict) or not isinstance(string_data, dict):
        raise status.bad_request('Secret in version "v1" cannot be handled as a Secret: data must be a map')
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise status.bad_request(
                f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at data[{key}]'
            ) from None
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode("ascii")
    causes += config_key_causes("data", data)
    if causes:
        raise status.invalid("Secret", "", obj.get("metadata", {}).get("name", ""), causes)
    if data:
        obj["data"] = data
    obj.setdefault("type", "Opaque")


def prepare_resourcequota(obj: Json) -> None:
    """A new ResourceQuota: only ``spec.hard.pods`` is enforced (``Api.admit_pod_quota``); other resources are
    kept but not counted. Created with an empty status (fixture 38): the quota controller fills it
    (``arktos_sim.quota_controller``)."""
    revalidate_resourcequota(obj)
    obj["status"] = {}


def revalidate_resourcequota(obj: Json) -> None:
    """Every write of a ResourceQuota: each ``spec.hard`` value must be a quantity (Kubernetes's pattern), not
    negative, whole for counts (``pods``, ``count/...``); stored in canonical form, as the apiserver
    serializes quantities (``8192Mi`` reads back ``8Gi``, ``arktos_sim.quantity``)."""
    causes = meta_causes(obj)
    hard = (obj.get("spec") or {}).get("hard")
    if not isinstance(hard, dict):
        causes.append(invalid("spec.hard", hard, "must be a map of resource names to quantities"))
        hard = {}
    for name, value in hard.items():
        field = f"spec.hard[{name}]"
        parsed = quantity.parse(value) if isinstance(value, str) else None
        if parsed is None:
            causes.append(
                invalid(field, value, f"quantities must match the regular expression '{quantity.PATTERN}'")
            )
        elif parsed[0] < 0:
            causes.append(invalid(field, value, "must be greater than or equal to 0"))
        elif (name == "pods" or name.startswith("count/")) and parsed[0] != parsed[0].to_integral_value():
            causes.append(invalid(field, value, "must be an integer"))
        else:
            hard[name] = quantity.canonical(value)
    if causes:
        raise status.invalid("ResourceQuota", "", obj.get("metadata", {}).get("name", ""), causes)


def prepare_namespace(obj: Json) -> None:
    causes = meta_causes(obj, "label")
    if causes:
        raise status.invalid("Namespace", "", obj.get("metadata", {}).get("name", ""), causes)
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}


def prepare_tenant(obj: Json) -> None:
    causes = meta_causes(obj, "label")
    spec = obj.setdefault("spec", {})
    if not spec.get("storageClusterId"):
        # Arktos requires it (fixture 72); the simulator's own bootstrap tenants say "1".
        causes.append(required("spec.storageClusterId", "must specify storage cluster id"))
    if causes:
        raise status.invalid("Tenant", "", obj.get("metadata", {}).get("name", ""), causes)
    spec.setdefault("finalizers", ["arktos"])
    obj["status"] = {"phase": "Active"}


# The Network CRD's OpenAPI schema (../shared/arktos/crd-network.json), as its validation words it
# (recorded: a bad CIDR is 422 with the value shown as "").
NETWORK_CIDR_PATTERN = r"^([0-9]{1,3}\.){3}[0-9]{1,3}(\/([0-9]|[1-2][0-9]|3[0-2]))$"
NETWORK_IPAMS = ("Arktos", "Kubernetes", "External")
NETWORK_PHASES = ("Pending", "Ready", "Failed", "Unknown", "Terminating")


def prepare_network(obj: Json) -> None:
    causes = meta_causes(obj)
    spec = obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    service = spec.get("service")
    service = service if isinstance(service, dict) else {}
    for cidr in service.get("cidrs") or []:
        if not isinstance(cidr, str) or re.match(NETWORK_CIDR_PATTERN, cidr) is None:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "message": 'Invalid value: "": spec.service.cidrs in body should match '
                    f"'{NETWORK_CIDR_PATTERN}'",
                    "field": "spec.service.cidrs",
                }
            )
    ipam = service.get("ipam")
    if ipam is not None and ipam not in NETWORK_IPAMS:
        supported = ", ".join(f'"{v}"' for v in NETWORK_IPAMS)
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "message": f'Unsupported value: "{ipam}": supported values: {supported}',
                "field": "spec.service.ipam",
            }
        )
    phase = (obj.get("status") or {}).get("phase") if isinstance(obj.get("status"), dict) else None
    if phase is not None and phase not in NETWORK_PHASES:
        supported = ", ".join(f'"{v}"' for v in NETWORK_PHASES)
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "message": f'Unsupported value: "{phase}": supported values: {supported}',
                "field": "status.phase",
            }
        )
    if causes:
        name = (obj.get("metadata") or {}).get("name", "")
        raise status.invalid("Network", "arktos.futurewei.com", name, causes)
