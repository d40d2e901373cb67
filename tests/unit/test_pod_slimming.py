"""The watch mirror keeps VM pods without the fields no reader uses (``watch_mirror.UNREAD_POD_FIELDS``,
bench/README.md lever (r7)): a server answered from the cache renders byte for byte as the same server
answered from Arktos's own reply (direct reads and replies through Envoy carry the whole pod), and what the
gateway writes back to Arktos from a cached pod (uid preconditions, JSON-patch ``test`` ops) is the same.

The pods are real-shaped: recordings of a real Arktos (tests/fixtures/arktos) with the annotations and labels
the gateway sets, and a pod the simulator stores for the gateway's own create."""

from __future__ import annotations

import ast
import copy
import inspect
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import orjson
import pytest

from arktos_sim import meta as sim_meta
from arktos_sim import validation as sim_validation
from arktos_sim.resources import PODS as SIM_PODS
from extproc import annotations as keys
from extproc import app, instance_action_recorder, watch_mirror
from extproc.catalog import CatalogStore
from extproc.cluster_cache import ACTION, POD, REPLICASET, RESOURCEQUOTA, ClusterCache
from extproc.compute import (
    batch,
    image_actions,
    instance_actions,
    pod_facts,
    server_item,
    server_list,
    server_view,
)
from extproc.compute.server_view import ServerView
from extproc.config import GatewayConfig
from extproc.context import RequestContext
from extproc.headers import MAX_COMPUTE_VERSION
from extproc.messages import ArktosReply, ClientRequest, Forward, Reply
from extproc.watch_mirror import UNREAD_POD_FIELDS, kept_pod
from tests.unit.server_doubles import IMAGE_ID, IMAGE_URL, PUBLIC, TOKEN, arktos, create, fixture_09_request

Json = dict[str, Any]
TENANT = "demo"
NAMESPACE = "default"
EXTPROC = Path(__file__).resolve().parents[2] / "extproc"
# Microversions where a server's representation changes, and the newest the gateway serves.
VERSIONS = [
    (2, 1),
    (2, 3),
    (2, 9),
    (2, 19),
    (2, 26),
    (2, 47),
    (2, 54),
    (2, 57),
    (2, 63),
    (2, 71),
    (2, 73),
    (2, 75),
    (2, 90),
    (2, 96),
    (2, 98),
    (2, 100),
    MAX_COMPUTE_VERSION,
]


# ---------------------------------------------------------------------------------------------------------
# Real-shaped pods


def _recorded(name: str, index: int = 0) -> Json:
    """A VM pod recorded from a real Arktos, its placeholders filled in as Arktos fills them."""
    body = arktos(name)["body"]
    pod: Json = copy.deepcopy(body["items"][index] if "items" in body else body)
    sid = str(uuid.uuid4())
    uid = str(uuid.uuid4())
    metadata = pod["metadata"]
    metadata.update(
        name=sid,
        tenant=TENANT,
        namespace=NAMESPACE,
        uid=uid,
        resourceVersion=str(1000 + index),
        creationTimestamp="2026-11-30T20:00:00Z",
        hashKey=sim_meta.hash_key(uid),
        selfLink=f"/api/v1/tenants/{TENANT}/namespaces/{NAMESPACE}/pods/{sid}",
    )
    for condition in (pod.get("status") or {}).get("conditions") or []:
        condition["lastTransitionTime"] = "2026-11-30T20:00:05Z"
    return pod


def _annotated(pod: Json, **extra: str) -> Json:
    """``pod`` with what the gateway's create writes on it (every annotation a view reads)."""
    pod["metadata"].setdefault("labels", {})[keys.RESERVATION_ID] = "r-0a1b2c3d"
    pod["metadata"]["annotations"] = {
        keys.DISPLAY_NAME: "web-1",
        keys.FLAVOR_ID: "1",
        keys.IMAGE_ID: IMAGE_ID,
        keys.USER_ID: "08c04c8e508c4a549df8302573e97dfb",
        keys.METADATA: '{"role": "web"}',
        keys.CREATED_BY: keys.CREATED_BY_GATEWAY,
        keys.KEY_NAME: "k1",
        keys.DESCRIPTION: '"the web server"',
        keys.HOSTNAME: "web-1",
        keys.FLAVOR: '{"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0, '
        '"original_name": "m1.tiny", "extra_specs": {}}',
        keys.IMAGE_PROPERTIES: '{"hw_rng_model": "virtio"}',
        keys.INSTANCE_ACTION_PREFIX + "req-1": '{"action": "create", "start_time": '
        '"2026-11-30T20:00:00.000000", "user_id": "u", "project_id": "demo"}',
        **extra,
    }
    return pod


def _running(pod: Json) -> Json:
    """What the node agent reports of a booted VM (the shape of fixture 70 once running)."""
    pod["spec"]["nodeName"] = "recorder-node-0"
    pod["status"].update(
        phase="Running",
        hostIP="192.168.0.10",
        podIP="10.0.0.7",
        startTime="2026-11-30T20:00:03Z",
        conditions=[
            {"lastProbeTime": None, "lastTransitionTime": "2026-11-30T20:00:05Z", "status": "True", "type": t}
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        virtualMachineStatus={"image": IMAGE_URL, "name": "vm", "powerState": "running", "ready": True}
        | {"restartCount": 0, "state": "active"},
    )
    return pod


def _simulated_gateway_pod() -> Json:
    """The pod the simulator stores for the gateway's create of fixture 09 (Arktos's defaults applied)."""
    forward = create(fixture_09_request())
    assert isinstance(forward, Forward) and forward.upstream.body is not None
    pod: Json = orjson.loads(forward.upstream.body)
    sim_validation.pod_spec(pod["spec"], "spec", template=False)
    sim_meta.stamp_new(SIM_PODS, pod, TENANT, NAMESPACE)
    pod["metadata"]["resourceVersion"] = "2000"
    pod["status"] = {"phase": "Pending", "qosClass": "Guaranteed"}
    return _running(pod)


def real_pods() -> list[Json]:
    locked = {
        keys.LOCKED_BY: "owner",
        keys.LOCKED_REASON: "maintenance",
        keys.ACCESS_IPV4: "192.0.2.10",
        keys.ACCESS_IPV6: "2001:db8::10",
        keys.TAGS: '["a", "b"]',
        keys.PINNED_AZ: "nova",
        keys.SCHEDULER_HINTS: '{"same_host": ["x"]}',
    }
    grouped = _annotated(_running(_recorded("61-pod-get-bound.json")))
    grouped["metadata"]["labels"][keys.SERVER_GROUP_LABEL] = str(uuid.uuid4())
    member = _annotated(_recorded("28-rs-pods.json"), **{keys.BATCH_SIZE: "2", keys.BATCH_INDEX: "1"})
    pods = [
        _annotated(_recorded("09-pod-get.json")),  # BUILD: Pending, not scheduled
        _annotated(_recorded("70-pod-get-powered-on.json"), **locked),
        _annotated(_recorded("68-pod-status-stopped.json")),  # SHUTOFF
        _annotated(_running(_recorded("85-pod-create-with-nics.json"))),  # two NICs, a network label
        grouped,
        member,  # a batch member: ownerReferences
        _simulated_gateway_pod(),  # the simulator's shape of a gateway pod (resources, workloadInfo)
    ]
    for rv, pod in enumerate(pods, start=100):
        pod["metadata"]["resourceVersion"] = str(rv)
    return pods


def _dropped(pod: Mapping[str, Any]) -> set[str]:
    """Every ``part.field`` of ``UNREAD_POD_FIELDS`` that ``pod`` has."""
    return {
        f"{part}.{field}"
        for part, fields in UNREAD_POD_FIELDS.items()
        for field in fields
        if field in (pod.get(part) or {})
    }


def test_the_real_pods_carry_the_fields_the_mirror_drops() -> None:
    """Otherwise every comparison below would compare a pod with itself."""
    for pod in real_pods():
        expected = {"metadata.selfLink", "metadata.hashKey", "spec.tolerations", "spec.workloadInfo"}
        assert expected <= _dropped(pod)
        assert _dropped(kept_pod(pod)) == set()


def test_slimming_keeps_everything_else_and_leaves_the_pod_as_it_was() -> None:
    pod = real_pods()[-1]
    before = copy.deepcopy(pod)
    kept = kept_pod(pod)
    assert pod == before
    for part in ("metadata", "spec", "status"):
        assert kept[part] == {k: v for k, v in pod[part].items() if k not in UNREAD_POD_FIELDS[part]}
    assert {k: v for k, v in kept.items() if k not in UNREAD_POD_FIELDS} == {
        k: v for k, v in pod.items() if k not in UNREAD_POD_FIELDS
    }
    assert kept_pod(kept) == kept


# ---------------------------------------------------------------------------------------------------------
# No reader names a dropped field


def _string_constants(tree: ast.AST, skip: ast.AST | None) -> Iterator[tuple[int, str]]:
    skipped = {id(node) for node in ast.walk(skip)} if skip is not None else set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            yield node.lineno, node.value


def _definition(tree: ast.Module) -> ast.AST:
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and target.id == "UNREAD_POD_FIELDS":
            return node
    raise AssertionError("UNREAD_POD_FIELDS is not defined in watch_mirror")


def test_no_module_of_the_processor_names_a_dropped_field() -> None:
    """A reader names a pod field to read it (keys, JSON pointers, f-string parts): a module that starts to
    name one of these needs the field kept (take it out of ``UNREAD_POD_FIELDS``)."""
    fields = {field for unread in UNREAD_POD_FIELDS.values() for field in unread}
    found = []
    for path in sorted(EXTPROC.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        skip = _definition(tree) if path.name == "watch_mirror.py" else None
        for line, text in _string_constants(tree, skip):
            found += [f"{path.relative_to(EXTPROC)}:{line}: {field}" for field in fields if field in text]
    assert found == []


def test_the_name_check_sees_a_module_that_names_a_field() -> None:
    tree = ast.parse('tolerations = (pod.get("spec") or {}).get(f"toleration{s}")')
    texts = [text for _, text in _string_constants(tree, None)]
    assert "spec" in texts and "toleration" in texts


# ---------------------------------------------------------------------------------------------------------
# Views: the same bytes from the whole pod and from the mirror's copy


def _image_lookup(tenant: str | None, url: str) -> str | None:
    return IMAGE_ID if url == IMAGE_URL else None


def _task(pod: Mapping[str, Any]) -> str | None:
    return "rebooting" if (pod.get("metadata") or {}).get("resourceVersion") == "101" else None


def _fresh() -> None:
    """No memo answers: each render reads the pod it is given (they share uid and resourceVersion)."""
    server_view._rendered.clear()
    pod_facts._facts_memo.clear()


def renders(pod: Json, version: tuple[int, int]) -> list[tuple[str, Any]]:
    """Every representation of ``pod``'s server at ``version``, each rendered afresh."""
    view = ServerView(PUBLIC, TENANT, _image_lookup, _task, version)
    representations: list[tuple[str, Callable[[], Any]]] = [
        ("show", lambda: orjson.dumps(view.show(pod))),
        ("update", lambda: orjson.dumps(view.update(pod))),
        ("rebuild", lambda: orjson.dumps(view.rebuild(pod))),
        ("index", lambda: orjson.dumps(view.index([pod]))),
        ("detail", lambda: orjson.dumps(view.detail([pod]))),
        ("show_json", lambda: view.show_json(pod)),
        ("index_json", lambda: view.index_json([pod])),
        ("detail_json", lambda: view.detail_json([pod])),
    ]
    out = []
    for name, render in representations:
        _fresh()
        out.append((name, render()))
    _fresh()
    return out


def view_differences(unread: Mapping[str, frozenset[str]] = UNREAD_POD_FIELDS) -> list[str]:
    """The (pod, microversion, representation) whose rendering differs between the whole pod and its copy
    slimmed of ``unread``."""
    differences = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(watch_mirror, "UNREAD_POD_FIELDS", unread)
        for index, pod in enumerate(real_pods()):
            slim = kept_pod(copy.deepcopy(pod))
            for version in VERSIONS:
                pairs = zip(renders(pod, version), renders(slim, version), strict=True)
                for (name, whole), (_, slimmed) in pairs:
                    if whole != slimmed:
                        differences.append(f"pod {index} at {version}: {name}")
    return differences


def test_every_view_renders_the_same_bytes_from_the_slimmed_pod() -> None:
    assert view_differences() == []


@pytest.mark.parametrize(
    "needed",
    [
        ("metadata", "annotations"),
        ("metadata", "labels"),
        ("metadata", "creationTimestamp"),
        ("spec", "virtualMachine"),
        ("spec", "nodeName"),
        ("status", "virtualMachineStatus"),
        ("status", "podIP"),
    ],
)
def test_the_comparison_fails_when_a_field_a_view_reads_is_dropped(needed: tuple[str, str]) -> None:
    """The check above can fail: with a field the views read added to the dropped ones, renders differ."""
    part, field = needed
    unread = {**UNREAD_POD_FIELDS, part: UNREAD_POD_FIELDS[part] | {field}}
    assert view_differences(unread) != []


# ---------------------------------------------------------------------------------------------------------
# Through the handlers: the cache's answers and writes, slimmed or not


def _synced(pods: list[Json]) -> ClusterCache:
    cache = ClusterCache()
    cache.apply_list(POD, copy.deepcopy(pods))
    cache.apply_list(ACTION, [])
    cache.apply_list(REPLICASET, [])
    cache.apply_list(RESOURCEQUOTA, [])
    return cache


def _whole_cache(pods: list[Json]) -> ClusterCache:
    """A cache that keeps pods whole, as before lever (r7)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(watch_mirror, "kept_pod", lambda pod: pod)
        return _synced(pods)


def test_the_cache_keeps_pods_slimmed_and_the_whole_cache_does_not() -> None:
    pods = real_pods()
    slim, whole = _synced(pods), _whole_cache(pods)
    for pod in pods:
        name = pod["metadata"]["name"]
        kept = slim.pod(TENANT, NAMESPACE, name)
        assert kept is not None and _dropped(kept) == set()
        assert whole.pod(TENANT, NAMESPACE, name) == pod


def _ctx(cache: ClusterCache | None, version: tuple[int, int]) -> RequestContext:
    return RequestContext(
        GatewayConfig(public_url=PUBLIC), CatalogStore(), "req-1", TENANT, cache, compute_version=version
    )


def _get(path: str) -> ClientRequest:
    return ClientRequest("GET", path, {}, {"x-auth-token": TOKEN})


def test_a_server_shown_from_the_cache_is_arktos_s_reply_byte_for_byte() -> None:
    pods = real_pods()
    cache = _synced(pods)
    for pod in pods:
        sid = pod["metadata"]["name"]
        for version in VERSIONS:
            _fresh()
            forward = server_item.show_server(
                _ctx(cache, version), _get(f"/compute/v2.1/{TENANT}/servers/{sid}"), {"server_id": sid}
            )
            assert isinstance(forward, Forward) and forward.from_cache is not None
            cached = forward.from_cache(TENANT)
            _fresh()
            direct = forward.translate(ArktosReply(200, {}, orjson.dumps(pod)))
            assert isinstance(cached, Reply) and isinstance(direct, Reply)
            assert (cached.status, cached.body) == (direct.status, direct.body), (sid, version)


@pytest.mark.parametrize("detail", [False, True])
@pytest.mark.parametrize("version", [(2, 1), (2, 47), (2, 73), MAX_COMPUTE_VERSION])
def test_a_list_from_the_cache_is_arktos_s_list_byte_for_byte(detail: bool, version: tuple[int, int]) -> None:
    pods = real_pods()
    handler = server_list.list_servers_detail if detail else server_list.list_servers
    path = f"/compute/v2.1/{TENANT}/servers" + ("/detail" if detail else "")
    listing = orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods})
    _fresh()
    full = handler(_ctx(None, version), _get(path), {})
    probe = handler(_ctx(_synced(pods), version), _get(path), {})
    assert isinstance(full, Forward) and isinstance(probe, Forward)
    # Without a cache: Arktos's whole list, translated.
    _fresh()
    direct = full.translate(ArktosReply(200, {}, listing))
    _fresh()
    first = orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods[:1]})
    cached = probe.translate(ArktosReply(200, {}, first))
    assert isinstance(direct, Reply) and isinstance(cached, Reply)
    assert "limit=1" in probe.upstream.path and "limit" not in full.upstream.path
    assert (cached.status, cached.body) == (direct.status, direct.body)


def _client(method: str, path: str, body: Any, version: tuple[int, int]) -> ClientRequest:
    headers = {"x-auth-token": TOKEN, "openstack-api-version": f"compute {version[0]}.{version[1]}"}
    if body is not None:
        headers["content-type"] = "application/json"
    return ClientRequest(method, path, {}, headers, orjson.dumps(body) if body is not None else b"")


def _requests(sid: str) -> list[tuple[str, str, Any]]:
    """Requests whose handlers read the cached pod: writes guarded by its uid or by ``test`` ops on what it
    shows (annotations, the power spec), the rules of actions, locks, metadata, tags, quotas."""
    server = f"/compute/v2.1/{TENANT}/servers/{sid}"
    return [
        ("GET", server, None),
        ("PUT", server, {"server": {"name": "renamed"}}),
        ("PUT", server, {"server": {"description": "d"}}),
        ("DELETE", server, None),
        ("POST", server + "/action", {"os-stop": None}),
        ("POST", server + "/action", {"os-start": None}),
        ("POST", server + "/action", {"reboot": {"type": "HARD"}}),
        ("POST", server + "/action", {"lock": {"locked_reason": "why"}}),
        ("POST", server + "/action", {"unlock": None}),
        ("POST", server + "/action", {"rebuild": {"imageRef": IMAGE_ID, "name": "again"}}),
        ("POST", server + "/action", {"createImage": {"name": "snap"}}),
        ("POST", server + "/action", {"pause": None}),
        ("GET", server + "/metadata", None),
        ("POST", server + "/metadata", {"metadata": {"k": "v"}}),
        ("PUT", server + "/metadata", {"metadata": {"k": "v"}}),
        ("PUT", server + "/metadata/role", {"meta": {"role": "db"}}),
        ("DELETE", server + "/metadata/role", None),
        ("GET", server + "/tags", None),
        ("PUT", server + "/tags/t1", None),
        ("DELETE", server + "/tags", None),
        ("GET", server + "/os-instance-actions", None),
        ("GET", f"/compute/v2.1/{TENANT}/os-quota-sets/{TENANT}/detail", None),
        ("GET", f"/compute/v2.1/{TENANT}/limits", None),
    ]


def _outcome(outcome: Any, pod: Json) -> Any:
    """What a handler's outcome does: its reply, or its request to Arktos and its translation of Arktos's
    answer (the pod, as a PATCH or GET answers; no ResourceQuota for a quota read)."""
    if isinstance(outcome, Reply):
        return ("reply", outcome.status, outcome.body, sorted(outcome.headers.items()))
    assert isinstance(outcome, Forward)
    upstream = outcome.upstream
    answered: Any = pod
    if "/resourcequotas" in upstream.path:
        answered = {"kind": "ResourceQuotaList", "apiVersion": "v1", "metadata": {}, "items": []}
    _fresh()
    reply = ArktosReply(200, {"content-type": "application/json"}, orjson.dumps(answered))
    translated = outcome.translate(reply)
    if inspect.isawaitable(translated):
        translated.close()  # type: ignore[attr-defined]
        answer: Any = "awaitable"
    else:
        answer = (translated.status, translated.body, sorted(translated.headers.items()))
    return ("forward", upstream.method, upstream.path, upstream.body, upstream.content_type, answer)


class _Frozen(datetime):
    """The instance-action records' clock, stopped: both gateways write the same record."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _Frozen:
        return cls(2026, 11, 30, 21, 0, 0, tzinfo=UTC)


def test_requests_on_a_cached_server_do_the_same_with_the_slimmed_pod(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every request's reply, or its write to Arktos (uid preconditions, ``test`` ops) and the translation of
    Arktos's answer, is the same whether the cache keeps pods whole or slimmed."""
    pods = real_pods()
    assert len({p["metadata"]["name"] for p in pods}) == len(pods)
    slim_gateway = app.Gateway(GatewayConfig(public_url=PUBLIC), CatalogStore(), _synced(pods))
    whole_gateway = app.Gateway(GatewayConfig(public_url=PUBLIC), CatalogStore(), _whole_cache(pods))
    monkeypatch.setattr(instance_actions, "datetime", _Frozen)
    # A snapshot's new image id: the same for both gateways.
    monkeypatch.setattr(image_actions.uuid, "uuid4", lambda: uuid.UUID(int=7))
    forwards = 0
    for pod in pods:
        for version in [(2, 1), (2, 73), MAX_COMPUTE_VERSION]:
            for method, path, body in _requests(pod["metadata"]["name"]):
                request = _client(method, path, body, version)
                _fresh()
                slim = _outcome(slim_gateway.handle(request, "req-1"), pod)
                _fresh()
                whole = _outcome(whole_gateway.handle(request, "req-1"), pod)
                assert slim == whole, (method, path, version)
                forwards += slim[0] == "forward"
    assert forwards > 0


def test_patches_the_reconcilers_build_from_cached_pods_are_the_same() -> None:
    pods = real_pods()
    slim = _synced(pods)
    for pod in pods:
        name = pod["metadata"]["name"]
        kept = slim.pod(TENANT, NAMESPACE, name)
        assert kept is not None
        for keep in (0, 1):
            assert instance_action_recorder.prune_patch(kept, keep) == instance_action_recorder.prune_patch(
                pod, keep
            )
        assert batch.base_name(kept) == batch.base_name(pod)
    members = slim.pods_with_label(TENANT, NAMESPACE, keys.RESERVATION_ID, "r-0a1b2c3d")
    assert len(members) == len(pods) - 1  # all but the simulator's pod, which has its own reservation
    assert batch.assign_indices(members) == batch.assign_indices(
        [p for p in pods if p["metadata"]["labels"].get(keys.RESERVATION_ID) == "r-0a1b2c3d"]
    )
