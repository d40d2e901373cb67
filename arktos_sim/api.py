"""The API semantics, independent of the HTTP framework: ``Api.handle(ApiRequest)`` → response or watch.

The HTTP layer (``server.py``) only moves bytes; everything Arktos-specific (authentication, tenancy, paths,
verbs, defaults, validation, deletion semantics, actions, watches) is decided here.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from . import access_review, auth, gojson, meta, paths, quantity, selectors, status, validation
from . import patch as patching
from .resources import (
    ACTIONS,
    CONFIGMAPS,
    NAMESPACES,
    NETWORKS,
    PODS,
    REPLICASETS,
    RESOURCEQUOTAS,
    SECRETS,
    TENANTS,
    ResourceType,
    Scope,
    of,
)
from .store import Entry, Key, Store, Watcher, copy_obj

Json = dict[str, Any]

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
TRUE_VALUES = {"1", "t", "T", "true", "TRUE", "True"}
DEFAULT_WATCH_SECONDS = 1800.0


@dataclass(slots=True)
class ApiRequest:
    method: str
    path: str
    query: Mapping[str, str]
    authorization: str | None = None
    content_type: str = "application/json"
    body: bytes = b""


@dataclass(slots=True)
class ApiResponse:
    status: int
    body: bytes


@dataclass(slots=True)
class WatchResponse:
    rt: ResourceType
    watcher: Watcher
    timeout: float


def _dumps(obj: Json) -> bytes:
    return orjson.dumps(obj)


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice(NAME_CHARS) for _ in range(n))


def decode_object(body: bytes, kind: str) -> Json:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise status.bad_request(
            f"the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; "
            f"json parse error: {gojson.syntax_error(body)} ({gojson.summarize(body)})"
        ) from None
    if not isinstance(obj, dict):
        raise status.bad_request(
            f"the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; "
            f"json parse error: json: cannot unmarshal {type(obj).__name__} into Go value of type struct "
            f'{{ APIVersion string "json:\\"apiVersion,omitempty\\""; '
            f'Kind string "json:\\"kind,omitempty\\"" }} '
            f"({gojson.summarize(body)})"
        )
    if not isinstance(obj.get("metadata", {}), dict):
        raise status.bad_request(
            f'{kind} in version "v1" cannot be handled as a {kind}: metadata must be an object'
        )
    return obj


def _bool(value: str | None) -> bool:
    return value is not None and value in TRUE_VALUES


def encode_continue(rv: int, key: Key) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(key)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> Key:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        t, ns, name = data["start"]
        return (str(t), str(ns), str(name))
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise status.bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion"
        ) from None


class Api:
    def __init__(self, store: Store, tokens: auth.TokenFile, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.tokens = tokens
        self.clock = clock

    # ------------------------------------------------------------------ entry point
    def handle(self, req: ApiRequest) -> ApiResponse | WatchResponse:
        try:
            return self._handle(req)
        except status.ApiError as err:
            return ApiResponse(err.code, _dumps(err.body))

    def _handle(self, req: ApiRequest) -> ApiResponse | WatchResponse:
        user = self.tokens.authenticate(req.authorization)
        if req.path == access_review.PATH:
            if req.method != "POST":
                raise status.method_not_allowed()
            access_review.check_caller(user)
            return ApiResponse(201, access_review.review(user, decode_object(req.body, access_review.KIND)))
        rp = paths.parse(req.path)
        if rp is None:
            if user.anonymous:
                raise status.ApiError(
                    status.failure(
                        403,
                        "Forbidden",
                        f'forbidden: User "{user.name}" cannot {req.method.lower()} path "{req.path}"',
                        {},
                    )
                )
            raise status.ApiError(
                status.failure(404, "NotFound", "the server could not find the requested resource", {})
            )
        rt = of(rp)
        method = req.method
        watch = method == "GET" and _bool(req.query.get("watch"))
        verb = self._verb(method, rp, watch)
        resource = rp.resource + (f"/{rp.subresource}" if rp.subresource else "")
        if rt is TENANTS:
            # Arktos's tenant admin role lets a tenant's users read their own Tenant object (fixture 73).
            own = verb == "get" and rp.name is not None and rp.name == user.tenant and not user.anonymous
            target: str | None = rp.name if own else None
        else:
            target = auth.effective_tenant(user, rp.tenant)
        if not auth.allowed(user, target):
            namespace = (
                rp.namespace if rt.scope is Scope.NAMESPACE else (rp.name if rt is NAMESPACES else None)
            )
            raise auth.forbidden(user, verb, resource, rp.group, rp.name, namespace)
        tenant = target or ""
        if tenant == auth.ALL_TENANTS and verb not in ("list", "watch"):
            raise status.method_not_allowed()
        if rp.name is None:
            if verb == "list":
                return self.list_objects(rt, rp, tenant, req)
            if verb == "watch":
                return self.watch_objects(rt, rp, tenant, req)
            if verb == "create":
                return self.create(rt, rp, tenant, req)
            raise status.method_not_allowed()
        key = self._key(rt, tenant, rp.namespace or "", rp.name)
        sub = rp.subresource
        if sub == "action":
            if verb != "create":
                raise status.method_not_allowed()
            return self.pod_action(tenant, rp.namespace or "", rp.name, req)
        if sub == "binding":
            if verb != "create":
                raise status.method_not_allowed()
            return self.bind_pod(key, req)
        if verb == "get":
            return ApiResponse(200, self.store.require(rt, key).full)
        if verb == "update":
            return self.update(rt, key, decode_object(req.body, rt.kind), sub)
        if verb == "patch":
            return self.patch(rt, key, req, sub)
        if verb == "delete" and sub is None:
            return self.delete(rt, key, req)
        raise status.method_not_allowed()

    @staticmethod
    def _verb(method: str, rp: paths.ResourcePath, watch: bool) -> str:
        if method == "GET":
            return "watch" if watch else ("get" if rp.name is not None else "list")
        if method == "POST":
            return "create"
        if method == "PUT":
            return "update"
        if method == "PATCH":
            return "patch"
        if method == "DELETE":
            return "delete" if rp.name is not None else "deletecollection"
        raise status.method_not_allowed()

    @staticmethod
    def _key(rt: ResourceType, tenant: str, namespace: str, name: str) -> Key:
        if rt.scope is Scope.CLUSTER:
            return ("", "", name)
        if rt.scope is Scope.TENANT:
            return (tenant, "", name)
        return (tenant, namespace, name)

    # ------------------------------------------------------------------ reading
    def list_objects(
        self, rt: ResourceType, rp: paths.ResourcePath, tenant: str, req: ApiRequest
    ) -> ApiResponse:
        q = req.query
        labels = selectors.parse_labels(q.get("labelSelector"))
        fields = selectors.parse_fields(q.get("fieldSelector"), rt.resource)
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise status.bad_request(f"invalid limit: {q.get('limit')!r}") from None
        after = decode_continue(q["continue"]) if q.get("continue") else None
        scan_tenant = None if rt.scope is Scope.CLUSTER or tenant == auth.ALL_TENANTS else tenant
        items: list[bytes] = []
        last: Key | None = None
        more = False
        for entry in self.store.table(rt).scan(scan_tenant, rp.namespace, after):
            obj = entry.obj
            if labels and not selectors.labels_match(labels, obj):
                continue
            if fields and not selectors.fields_match(fields, obj):
                continue
            if limit and len(items) >= limit:
                more = True
                break
            items.append(entry.full if rt.custom else entry.item)
            last = (
                obj["metadata"].get("tenant", ""),
                obj["metadata"].get("namespace", ""),
                obj["metadata"]["name"],
            )
        list_meta: Json = {"selfLink": req.path, "resourceVersion": str(self.store.rv)}
        if more and last is not None:
            list_meta["continue"] = encode_continue(self.store.rv, last)
        elif rt.custom:
            list_meta["continue"] = ""
        head = (
            b'{"kind":"'
            + rt.list_kind.encode()
            + b'","apiVersion":"'
            + rt.api_version.encode()
            + b'","metadata":'
            + _dumps(list_meta)
            + b',"items":['
        )
        return ApiResponse(200, head + b",".join(items) + b"]}")

    def watch_objects(
        self, rt: ResourceType, rp: paths.ResourcePath, tenant: str, req: ApiRequest
    ) -> WatchResponse:
        q = req.query
        watcher = Watcher(
            None if rt.scope is Scope.CLUSTER or tenant == auth.ALL_TENANTS else tenant,
            rp.namespace,
            selectors.parse_labels(q.get("labelSelector")),
            selectors.parse_fields(q.get("fieldSelector"), rt.resource),
        )
        try:
            timeout = float(q.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)
        except ValueError:
            raise status.bad_request(f"invalid timeoutSeconds: {q.get('timeoutSeconds')!r}") from None
        try:
            self.store.watch(rt, watcher, q.get("resourceVersion"))
        except status.ApiError as err:
            if err.code != 410:
                raise
            watcher.queue.put_nowait(b'{"type":"ERROR","object":' + _dumps(err.body) + b"}\n")
            watcher.close()
        return WatchResponse(rt, watcher, timeout)

    # ------------------------------------------------------------------ creating
    def create(self, rt: ResourceType, rp: paths.ResourcePath, tenant: str, req: ApiRequest) -> ApiResponse:
        obj = decode_object(req.body, rt.kind)
        namespace = rp.namespace or ""
        if rt.scope is Scope.NAMESPACE:
            if not namespace:
                raise status.method_not_allowed()
            body_ns = obj.get("metadata", {}).get("namespace")
            if body_ns and body_ns != namespace:
                raise status.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
        entry = self.create_object(rt, obj, tenant, namespace)
        return ApiResponse(201, entry.full)

    def create_object(self, rt: ResourceType, obj: Json, tenant: str, namespace: str) -> Entry:
        """Create from a client-supplied object: defaults, validation, metadata, side effects."""
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + random_suffix()
        if rt is PODS:
            validation.prepare_pod(obj)
        elif rt is REPLICASETS:
            validation.prepare_replicaset(obj)
            metadata["generation"] = 1
            obj["status"] = {"replicas": 0}
        elif rt is CONFIGMAPS:
            validation.prepare_configmap(obj)
        elif rt is SECRETS:
            validation.prepare_secret(obj)
        elif rt is NAMESPACES:
            validation.prepare_namespace(obj)
        elif rt is TENANTS:
            validation.prepare_tenant(obj)
        elif rt is ACTIONS:
            raise status.method_not_allowed("actions are created through POST .../pods/{name}/action")
        elif rt is RESOURCEQUOTAS:
            validation.prepare_resourcequota(obj)
        elif rt is NETWORKS:
            # A CRD with the status subresource drops a status sent on create (status is written through
            # networks/<name>/status); generation starts at 1 (fixture 47).
            obj.pop("status", None)
            validation.prepare_network(obj)
            metadata["generation"] = 1
        if rt.scope is Scope.NAMESPACE and self.store.get(NAMESPACES, (tenant, "", namespace)) is None:
            raise status.not_found("namespaces", namespace)
        if rt is PODS:
            self.admit_pod_quota(obj, tenant, namespace)
        if rt is NAMESPACES and self.store.get(TENANTS, ("", "", tenant)) is None:
            raise status.not_found("tenants", tenant)
        meta.stamp_new(rt, obj, tenant, namespace, self.clock())
        entry = self.store.create(rt, obj)
        if rt is TENANTS:
            for ns in DEFAULT_NAMESPACES:
                self.ensure_namespace(metadata["name"], ns)
        return entry

    def admit_pod_quota(self, pod: Json, tenant: str, namespace: str) -> None:
        """Kubernetes's ResourceQuota admission, for the ``pods`` count only: a create that would take the
        namespace's non-terminal pods past a quota's ``spec.hard.pods`` is refused with 403 Forbidden and
        the apiserver's words (``admission.NewForbidden``: ``pods "<name>" is forbidden: exceeded quota:
        <quota>, requested: pods=1, used: pods=<n>, limited: pods=<hard>``)."""
        quotas = list(self.store.table(RESOURCEQUOTAS).scan(tenant, namespace))
        if not quotas:
            return
        used = sum(
            1
            for entry in self.store.table(PODS).scan(tenant, namespace)
            if not entry.obj["metadata"].get("deletionTimestamp")
            and (entry.obj.get("status") or {}).get("phase") not in ("Failed", "Succeeded")
        )
        for entry in quotas:
            hard = str(((entry.obj.get("spec") or {}).get("hard") or {}).get("pods"))
            limit = quantity.parse(hard)
            if limit is None or used + 1 <= limit[0]:
                continue
            # NOTE: Kubernetes names the pod by generateName when the create has no name yet, as the
            # ReplicaSet controller's creates do there (``pods "r-abc-" is forbidden``); the simulator's
            # controller picks the name itself, so generateName wins here to give the same message.
            name = pod["metadata"].get("generateName") or pod["metadata"].get("name") or "Unknown"
            raise status.forbidden(
                "pods",
                "",
                name,
                f"exceeded quota: {entry.obj['metadata']['name']}, requested: pods=1, used: pods={used}, "
                f"limited: pods={hard}",
            )

    def ensure_tenant(self, name: str) -> None:
        if self.store.get(TENANTS, ("", "", name)) is None:
            self.create_object(
                TENANTS, {"metadata": {"name": name}, "spec": {"storageClusterId": "1"}}, "", ""
            )
        for ns in DEFAULT_NAMESPACES:
            self.ensure_namespace(name, ns)

    def ensure_namespace(self, tenant: str, name: str) -> None:
        if self.store.get(NAMESPACES, (tenant, "", name)) is None:
            self.create_object(NAMESPACES, {"metadata": {"name": name}}, tenant, "")

    # ------------------------------------------------------------------ updating
    def update(self, rt: ResourceType, key: Key, obj: Json, sub: str | None) -> ApiResponse:
        current = self.store.require(rt, key)
        body_name = obj.get("metadata", {}).get("name")
        if body_name and body_name != key[2]:
            raise status.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({key[2]})"
            )
        expected = obj.get("metadata", {}).get("resourceVersion")
        entry = self.replace(rt, current, obj, sub, expected)
        return ApiResponse(200, entry.full)

    def replace(
        self, rt: ResourceType, current: Entry, obj: Json, sub: str | None, expected: str | None
    ) -> Entry:
        """Store ``obj`` as the new version of ``current`` (status or main resource semantics)."""
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        old = current.obj
        obj.setdefault("metadata", {})
        new_uid = obj["metadata"].get("uid")
        if new_uid and new_uid != old["metadata"].get("uid"):
            # Kubernetes's ValidateObjectMetaUpdate: a write naming another uid (a patch meant for an
            # object since deleted and recreated) is refused.
            cause = {
                "reason": "FieldValueInvalid",
                "message": f'Invalid value: "{new_uid}": field is immutable',
                "field": "metadata.uid",
            }
            refusal = status.invalid(rt.kind, rt.group, old["metadata"].get("name", ""), [cause])
            if rt.custom:
                # A custom resource's update validates the metadata twice (fixture 76): the cause is
                # listed twice, the message names it once.
                refusal.body["details"]["causes"] = [cause, dict(cause)]
            raise refusal
        meta.carry_over(old, obj)
        if sub == "status":
            new = copy_obj(old)
            new["status"] = obj.get("status", {})
            new["metadata"] = obj["metadata"]
            obj = new
        elif "status" in old:
            obj["status"] = copy_obj(old["status"]) if isinstance(old["status"], dict) else old["status"]
        else:
            obj.pop("status", None)
        if rt is PODS:
            validation.revalidate_pod(obj)
            vm_status = (obj.get("status") or {}).get("virtualMachineStatus")
            if isinstance(vm_status, dict):
                # As Arktos serializes it (fixture 68): resources always, ready/restartCount omitempty.
                vm_status.setdefault("resources", {})
                for field in ("ready", "restartCount"):
                    if field in vm_status and not vm_status[field]:
                        del vm_status[field]
        elif rt is REPLICASETS:
            validation.prepare_replicaset(obj)
            if obj.get("spec") != old.get("spec"):
                obj["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        elif rt is CONFIGMAPS:
            validation.prepare_configmap(obj)
        elif rt is SECRETS:
            validation.prepare_secret(obj)
        elif rt is RESOURCEQUOTAS:
            validation.revalidate_resourcequota(obj)
        elif rt is NAMESPACES or rt is TENANTS:
            obj["spec"], obj["status"] = old.get("spec"), old.get("status")
        elif rt is NETWORKS:
            validation.prepare_network(obj)
            if obj.get("spec") != old.get("spec"):
                obj["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        return self.store.update(rt, obj, expected)

    def patch(self, rt: ResourceType, key: Key, req: ApiRequest, sub: str | None) -> ApiResponse:
        current = self.store.require(rt, key)
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            raise status.bad_request(f"error decoding patch: {gojson.syntax_error(req.body)}") from None
        patched = patching.apply(req.content_type, copy_obj(current.obj), body)
        expected = None
        if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
            expected = body["metadata"].get("resourceVersion")
        entry = self.replace(rt, current, patched, sub, expected)
        return ApiResponse(200, entry.full)

    # ------------------------------------------------------------------ deleting
    def _delete_options(self, req: ApiRequest) -> Json:
        opts: Json = {}
        if req.body.strip():
            try:
                parsed = orjson.loads(req.body)
            except orjson.JSONDecodeError:
                raise status.bad_request(
                    f"error decoding DeleteOptions: {gojson.syntax_error(req.body)}"
                ) from None
            if isinstance(parsed, dict):
                opts = parsed
        if "propagationPolicy" in req.query:
            opts["propagationPolicy"] = req.query["propagationPolicy"]
        if "gracePeriodSeconds" in req.query:
            try:
                opts["gracePeriodSeconds"] = int(req.query["gracePeriodSeconds"])
            except ValueError:
                raise status.bad_request(
                    f'strconv.ParseInt: parsing "{req.query["gracePeriodSeconds"]}": invalid syntax'
                ) from None
        return opts

    def delete(self, rt: ResourceType, key: Key, req: ApiRequest) -> ApiResponse:
        current = self.store.require(rt, key)
        opts = self._delete_options(req)
        pre = opts.get("preconditions") or {}
        cur_meta = current.obj["metadata"]
        if (pre.get("uid") and pre["uid"] != cur_meta.get("uid")) or (
            pre.get("resourceVersion") and pre["resourceVersion"] != cur_meta.get("resourceVersion")
        ):
            raise status.conflict(rt.resource, key[2], rt.group)
        if rt is REPLICASETS:
            return self.delete_replicaset(current, opts)
        if rt is TENANTS or rt is NAMESPACES:
            return ApiResponse(200, self.delete_scope(rt, current).full)
        if rt is PODS:
            grace = opts.get("gracePeriodSeconds")
            return ApiResponse(200, self.delete_pod(key, grace if isinstance(grace, int) else None).full)
        if rt is RESOURCEQUOTAS:
            # As Kubernetes's quota registry (``ReturnDeletedObject``): 200 with the object (fixture 43).
            self.store.delete(rt, key)
            return ApiResponse(200, current.full)
        self.store.delete(rt, key)
        if rt is NETWORKS:
            # A custom resource's delete (recorded from Arktos): a Status without code, group in details.
            details = {"name": key[2], "group": rt.group, "kind": rt.resource, "uid": cur_meta.get("uid")}
            body = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            }
            return ApiResponse(200, _dumps(body))
        details = {"name": key[2], "kind": rt.resource, "uid": cur_meta.get("uid")}
        return ApiResponse(200, _dumps(status.success(details)))

    def _marked_for_deletion(self, entry: Entry, finalizers: list[str] | None = None) -> Json:
        obj = copy_obj(entry.obj)
        m = obj["metadata"]
        m["deletionTimestamp"] = meta.timestamp(self.clock())
        m["deletionGracePeriodSeconds"] = 0
        if finalizers:
            m["finalizers"] = finalizers
        return obj

    def delete_pod(self, key: Key, grace: int | None = None) -> Entry:
        """Kubernetes's graceful pod deletion; the pod is returned (``ReturnDeletedObject``).

        A pod bound to a node (and not finished) is only marked: ``deletionTimestamp`` = now + the grace
        period (``gracePeriodSeconds``, else ``spec.terminationGracePeriodSeconds``), and stays until the
        node's kubelet (the node agent) confirms with a grace-period-0 DELETE (fixtures 62-65). A pod that
        no node runs goes at once with grace period 0 (fixture 31); so does any pod deleted with grace 0.
        A repeated DELETE may only shorten the grace period, counted from the first request.
        """
        current = self.store.require(PODS, key)
        obj = current.obj
        m = obj["metadata"]
        running_on_node = bool(obj.get("spec", {}).get("nodeName")) and obj.get("status", {}).get(
            "phase"
        ) not in ("Failed", "Succeeded")
        if grace is None:
            grace = int(obj.get("spec", {}).get("terminationGracePeriodSeconds", 30))
        if not running_on_node:
            grace = 0
        grace = max(0, grace)
        if m.get("deletionTimestamp"):
            old_grace = int(m.get("deletionGracePeriodSeconds") or 0)
            if grace >= old_grace:
                return current
            requested = meta.parse_timestamp(m["deletionTimestamp"]) - old_grace
        else:
            requested = self.clock()
        marked_obj = copy_obj(obj)
        marked_obj["metadata"]["deletionTimestamp"] = meta.timestamp(requested + grace)
        marked_obj["metadata"]["deletionGracePeriodSeconds"] = grace
        marked = self.store.update(PODS, marked_obj)
        if grace == 0:
            self.store.delete(PODS, key, copy_obj(marked.obj))
        return marked

    def delete_replicaset(self, current: Entry, opts: Json) -> ApiResponse:
        policy = opts.get("propagationPolicy")
        if policy is None:
            policy = "Orphan" if opts.get("orphanDependents") is True else "Background"
        if policy not in ("Orphan", "Background", "Foreground"):
            raise status.invalid(
                "DeleteOptions",
                "",
                "",
                [
                    validation.not_supported(
                        "propagationPolicy", policy, ("Foreground", "Background", "Orphan")
                    )
                ],
            )
        key = (
            current.obj["metadata"]["tenant"],
            current.obj["metadata"]["namespace"],
            current.obj["metadata"]["name"],
        )
        uid = current.obj["metadata"]["uid"]
        owned = [e for e in self.store.table(PODS).scan(key[0], key[1]) if _owned_by(e.obj, uid)]
        if policy == "Background":
            self.store.delete(REPLICASETS, key)
            for pod in owned:
                self.delete_pod(_key_of(pod.obj))
            details = {"name": key[2], "group": "apps", "kind": "replicasets", "uid": uid}
            return ApiResponse(200, _dumps(status.success(details)))
        finalizer = "orphan" if policy == "Orphan" else "foregroundDeletion"
        marked_obj = self._marked_for_deletion(current, [finalizer])
        marked_obj["metadata"]["generation"] = int(marked_obj["metadata"].get("generation", 1)) + 1
        marked = self.store.update(REPLICASETS, marked_obj)
        for pod in owned:
            if policy == "Orphan":
                obj = copy_obj(pod.obj)
                refs = [r for r in obj["metadata"].get("ownerReferences", []) if r.get("uid") != uid]
                if refs:
                    obj["metadata"]["ownerReferences"] = refs
                else:
                    obj["metadata"].pop("ownerReferences", None)
                self.store.update(PODS, obj)
            else:
                self.delete_pod(_key_of(pod.obj))
        final = copy_obj(marked.obj)
        final["metadata"].pop("finalizers", None)
        self.store.delete(REPLICASETS, key, final)
        return ApiResponse(200, marked.full)

    def delete_scope(self, rt: ResourceType, current: Entry) -> Entry:
        """Delete a tenant or namespace and everything in it; returns it as Terminating."""
        m = current.obj["metadata"]
        tenant = m["name"] if rt is TENANTS else m["tenant"]
        namespace = None if rt is TENANTS else m["name"]
        if rt is TENANTS and tenant == auth.SYSTEM_TENANT:
            raise status.forbidden("tenants", "", tenant, "the system tenant cannot be deleted")
        obj = copy_obj(current.obj)
        obj["metadata"]["deletionTimestamp"] = meta.timestamp(self.clock())
        obj["status"] = {"phase": "Terminating"}
        marked = self.store.update(rt, obj)
        for inner in (PODS, CONFIGMAPS, SECRETS, ACTIONS, REPLICASETS, RESOURCEQUOTAS):
            for entry in list(self.store.table(inner).scan(tenant, namespace)):
                self.store.delete(inner, _key_of(entry.obj))
        if rt is TENANTS:
            for scoped in (NAMESPACES, NETWORKS):
                for entry in list(self.store.table(scoped).scan(tenant, None)):
                    self.store.delete(scoped, _key_of(entry.obj))
        self.store.delete(rt, _key_of(current.obj), copy_obj(marked.obj))
        return marked

    # ------------------------------------------------------------------ scheduling
    def bind_pod(self, key: Key, req: ApiRequest) -> ApiResponse:
        """``pods/{name}/binding`` (what a scheduler posts): sets ``spec.nodeName`` and the PodScheduled
        condition. Arktos answers 201 even for a pod already bound (fixture 60), and 404 for a missing one."""
        body = decode_object(req.body, "Binding")
        node = str((body.get("target") or {}).get("name") or "")
        if not node:
            raise status.invalid(
                "Binding", "", key[2], [{"reason": "FieldValueRequired", "message": "Required value",
                                          "field": "target.name"}]
            )  # fmt: skip
        current = self.store.require(PODS, key)
        pod = copy_obj(current.obj)
        pod["spec"]["nodeName"] = node
        scheduled = {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                     "lastTransitionTime": meta.timestamp(self.clock())}  # fmt: skip
        conditions = [
            c for c in pod.setdefault("status", {}).get("conditions") or [] if c.get("type") != "PodScheduled"
        ]
        pod["status"]["conditions"] = [*conditions, scheduled]
        self.store.update(PODS, pod)
        return ApiResponse(
            201,
            _dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        )

    # ------------------------------------------------------------------ VM actions
    def pod_action(self, tenant: str, namespace: str, name: str, req: ApiRequest) -> ApiResponse:
        body = decode_object(req.body, "CustomAction")
        pod = self.store.require(PODS, (tenant, namespace, name)).obj
        operation = str(body.get("operation", ""))
        spec: Json = {}
        node = pod.get("spec", {}).get("nodeName")
        if node:
            spec["nodeName"] = node
        spec["podName"] = name
        params_field = {"reboot": "rebootParams", "snapshot": "snapshotParams", "restore": "restoreParams"}
        if operation not in params_field:
            raise status.bad_request(f"Unsupported operation '{operation}' for Pod '{name}'")
        params = body.get(params_field[operation])
        if not isinstance(params, dict):
            # NOTE: Arktos dereferences the params without a nil check; the request fails inside the server.
            raise status.internal_error("runtime error: invalid memory address or nil pointer dereference")
        if operation == "reboot":
            delay = int(params.get("delayInSeconds") or 0)
            # Arktos's field is omitempty: a reboot without delay stores {} (fixture 56; 23 has a delay of 1).
            spec["rebootAction"] = {"delayInSeconds": delay} if delay else {}
            shown = None
        elif operation == "snapshot":
            spec["snapshotAction"] = {"snapshotName": str(params.get("snapshotName", ""))}
            shown = spec["snapshotAction"]["snapshotName"]
        else:
            spec["restoreAction"] = {"snapshotID": str(params.get("snapshotID", ""))}
            shown = spec["restoreAction"]["snapshotID"]
        action: Json = {
            "metadata": {"name": f"{operation}-{int(self.clock())}"},
            "spec": spec,
            "status": {},
        }
        meta.stamp_new(ACTIONS, action, tenant, namespace, self.clock())
        try:
            entry = self.store.create(ACTIONS, action)
        except status.ApiError as exc:
            if exc.body.get("reason") != "AlreadyExists":
                raise
            # NOTE: Arktos reports the name collision against the pods resource whose subresource was
            # called: 409 'pods "reboot-<s>" already exists', details.kind "pods" (fixture 55).
            raise status.already_exists(PODS.resource, action["metadata"]["name"]) from None
        am = entry.obj["metadata"]
        reply: Json = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": am["resourceVersion"]},
            "status": "Success",
            "message": f"Created action '{operation}' for Pod '{name}'",
            "details": {"name": shown or am["name"], "uid": am["uid"]},
            "code": 201,
        }
        return ApiResponse(201, _dumps(reply))


def _key_of(obj: Json) -> Key:
    m = obj["metadata"]
    return (m.get("tenant", ""), m.get("namespace", ""), m["name"])


def _owned_by(obj: Json, uid: str) -> bool:
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])
