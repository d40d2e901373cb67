"""The simulator's decisions: tenancy/RBAC, paths, selectors, patches, validation, store and watch."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from arktos_sim import auth, patch, paths, persistence, selectors, status
from arktos_sim.api import Api, ApiRequest, ApiResponse, WatchResponse
from arktos_sim.resources import CONFIGMAPS, PODS
from arktos_sim.store import Store, Watcher

from .conftest import TOKENS


def make_api(history: int = 10_000) -> Api:
    api = Api(Store(history=history), auth.TokenFile.parse(TOKENS))
    for tenant in ("system", "demo", "alt"):
        api.ensure_tenant(tenant)
    return api


def call(
    api: Api,
    method: str,
    path: str,
    token: str | None = "demo-token",
    body: object = None,
    content_type: str = "application/json",
    **query: str,
) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else (orjson.dumps(body) if body is not None else b"")
    resp = api.handle(
        ApiRequest(method, path, query, f"Bearer {token}" if token else None, content_type, raw)
    )
    assert isinstance(resp, ApiResponse)
    return resp.status, orjson.loads(resp.body)


def vm_pod(name: str, **vm: object) -> dict[str, object]:
    return {
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"virtualMachine": {"name": "vm", "image": "cirros.img", "keyPairName": "k", **vm}},
    }


# ----------------------------------------------------------------------------- authentication and tenancy
def test_token_file_format() -> None:
    tokens = auth.TokenFile.parse('a,admin,u1,"system:masters,other"\nt,bob,u2,,,tenant1\n# comment\n')
    admin, bob = tokens.users["a"], tokens.users["t"]
    assert admin.tenant == "system" and admin.groups == ("system:masters", "other") and admin.is_master
    assert bob.tenant == "tenant1" and not bob.is_master
    assert tokens.authenticate(None).anonymous
    with pytest.raises(status.ApiError) as err:
        tokens.authenticate("Bearer nope")
    assert err.value.code == 401


def test_shipped_token_file() -> None:
    shipped = Path(auth.__file__).with_name("tokens.csv")
    tokens = auth.TokenFile.load(shipped)
    assert tokens.users["admin-token"].is_master and tokens.users["gateway-token"].is_master
    assert tokens.users["demo-token"].tenant == "demo" and tokens.users["alt-token"].tenant == "alt"


@pytest.mark.parametrize(
    ("user", "tenant", "allowed"),
    [
        (auth.User("root", groups=("system:masters",)), "demo", True),
        (auth.User("root", groups=("system:masters",)), "all", True),
        (auth.User("root", groups=("system:masters",)), None, True),
        (auth.User("sys", groups=()), "system", True),  # system tenant, not a master: own tenant only
        (auth.User("sys", groups=()), "demo", False),
        (
            auth.User("d", tenant="demo", groups=("system:masters",)),
            "alt",
            False,
        ),  # masters only count in system
        (auth.User("d", tenant="demo"), "demo", True),
        (auth.User("d", tenant="demo"), "all", False),
        (auth.User("d", tenant="demo"), None, False),
        (auth.ANONYMOUS, "demo", False),
    ],
)
def test_authorization_decisions(user: auth.User, tenant: str | None, allowed: bool) -> None:
    assert auth.allowed(user, tenant) is allowed


def test_cross_tenant_and_short_paths() -> None:
    api = make_api()
    assert call(api, "POST", "/api/v1/namespaces/default/pods", body=vm_pod("p"))[0] == 201
    code, body = call(api, "GET", "/api/v1/tenants/demo/namespaces/default/pods/p", token="alt-token")
    assert code == 403 and body["message"] == (
        'pods "p" is forbidden: User "alt" cannot get resource "pods" in API group "" '
        'in the namespace "default"'
    )
    assert call(api, "GET", "/api/v1/tenants/demo/namespaces/default/pods/p", token="admin-token")[0] == 200
    assert (
        call(api, "GET", "/api/v1/namespaces/default/pods/p", token="admin-token")[0] == 404
    )  # system tenant
    assert call(api, "GET", "/api/v1/tenants/all/pods", token="demo-token")[0] == 403
    assert call(api, "GET", "/api/v1/tenants", token="demo-token")[0] == 403
    code, ns = call(api, "GET", "/api/v1/namespaces/default", token="alt-token")
    assert code == 200 and ns["metadata"]["tenant"] == "alt"


def test_tenant_lifecycle() -> None:
    api = make_api()
    code, tenant = call(
        api, "POST", "/api/v1/tenants", token="admin-token", body={"metadata": {"name": "t9"}}
    )
    # Arktos requires the storage cluster (fixture 72)
    assert code == 422 and tenant["details"]["causes"][0]["field"] == "spec.storageClusterId"
    code, tenant = call(
        api,
        "POST",
        "/api/v1/tenants",
        token="admin-token",
        body={"metadata": {"name": "t9"}, "spec": {"storageClusterId": "1"}},
    )
    assert code == 201 and tenant["status"] == {"phase": "Active"}
    code, nss = call(api, "GET", "/api/v1/tenants/t9/namespaces", token="admin-token")
    assert sorted(i["metadata"]["name"] for i in nss["items"]) == ["default", "kube-public", "kube-system"]
    call(
        api,
        "POST",
        "/api/v1/tenants/t9/namespaces/default/configmaps",
        token="admin-token",
        body={"metadata": {"name": "c"}},
    )
    code, deleted = call(api, "DELETE", "/api/v1/tenants/t9", token="admin-token")
    assert code == 200 and deleted["status"] == {"phase": "Terminating"}
    assert call(api, "GET", "/api/v1/tenants/t9", token="admin-token")[0] == 404
    assert not list(api.store.table(CONFIGMAPS).scan("t9", None))


# ----------------------------------------------------------------------------- paths and selectors
def test_paths() -> None:
    p = paths.parse("/api/v1/tenants/t/namespaces/ns/pods/p1/action")
    assert p == paths.ResourcePath("", "pods", "t", "ns", "p1", "action")
    assert paths.parse("/api/v1/namespaces/ns/configmaps") == paths.ResourcePath(
        "", "configmaps", None, "ns", None
    )
    assert paths.parse("/apis/apps/v1/namespaces/d/replicasets/r").resource == "replicasets"
    assert paths.parse("/api/v1/tenants/all/pods") == paths.ResourcePath("", "pods", "all", None, None)
    assert paths.parse("/api/v1/tenants") == paths.ResourcePath("", "tenants", None, None, None)
    assert paths.parse("/api/v1/namespaces/default") == paths.ResourcePath(
        "", "namespaces", None, None, "default"
    )
    assert paths.parse("/api/v1/tenants/t/namespaces/ns/pods/p/exec") is None
    assert paths.parse("/apis/apps/v1/namespaces/d/pods") is None
    assert paths.parse("/foo") is None


def test_label_selectors() -> None:
    obj = {"metadata": {"labels": {"app": "web", "tier": "front"}}}
    cases = {
        "app=web": True,
        "app==web": True,
        "app!=web": False,
        "app in (web,db)": True,
        "app notin (web)": False,
        "tier": True,
        "!tier": False,
        "missing!=x": True,
        "app=web,tier=back": False,
        "env in (a)": False,
    }
    for text, expected in cases.items():
        assert selectors.labels_match(selectors.parse_labels(text), obj) is expected, text


def test_field_selectors_and_pagination() -> None:
    api = make_api()
    for i in range(25):
        call(api, "POST", "/api/v1/namespaces/default/pods", body=vm_pod(f"p{i:02d}"))
    _, one = call(api, "GET", "/api/v1/namespaces/default/pods", fieldSelector="metadata.name=p07")
    assert [i["metadata"]["name"] for i in one["items"]] == ["p07"]
    _, none = call(api, "GET", "/api/v1/namespaces/default/pods", fieldSelector="status.phase!=Pending")
    assert none["items"] == []
    assert call(api, "GET", "/api/v1/namespaces/default/pods", fieldSelector="spec.bogus=1")[0] == 400
    names: list[str] = []
    token = ""
    while True:
        query = {"limit": "10"} | ({"continue": token} if token else {})
        _, page = call(api, "GET", "/api/v1/namespaces/default/pods", **query)
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert names == [f"p{i:02d}" for i in range(25)]
    assert call(api, "GET", "/api/v1/namespaces/default/pods", **{"continue": "garbage"})[0] == 400


# ----------------------------------------------------------------------------- patches and updates
def test_merge_patch() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert patch.merge_patch(target, {"a": {"b": None, "d": 3}, "l": [3]}) == {
        "a": {"c": 2, "d": 3},
        "l": [3],
    }


def test_strategic_merge_patch_lists() -> None:
    target = {
        "spec": {
            "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}],
            "tolerations": [{"key": "k1"}],
            "args": ["1"],
        }
    }
    result = patch.strategic_merge_patch(
        target,
        {
            "spec": {
                "containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}],
                "args": ["2"],
                "tolerations": [{"key": "k1", "$patch": "delete"}],
            }
        },
    )
    assert result["spec"]["containers"] == [
        {"name": "a", "image": "x"},
        {"name": "b", "image": "z"},
        {"name": "c", "image": "w"},
    ]
    assert result["spec"]["args"] == ["2"] and result["spec"]["tolerations"] == []
    replaced = patch.strategic_merge_patch(target, {"spec": {"$patch": "replace", "x": 1}})
    assert replaced == {"spec": {"x": 1}}


def test_json_patch() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "replace", "path": "/b/c", "value": 2},
        {"op": "remove", "path": "/a/0"},
        {"op": "test", "path": "/b/c", "value": 2},
    ]
    assert patch.json_patch(doc, ops) == {"a": [2, 3], "b": {"c": 2}}


def test_json_patch_test_reads_an_absent_member_as_null_as_arktos_does() -> None:
    # evanphx/json-patch (Arktos's): a test for null passes on a missing member of an existing object
    # (the gateway's "not locked" test), fails on a present one, and a missing container still fails.
    doc = {"metadata": {"annotations": {"a": "1"}}}
    absent = [{"op": "test", "path": "/metadata/annotations/locked", "value": None}]
    assert patch.json_patch(doc, absent) == doc
    present = [{"op": "test", "path": "/metadata/annotations/a", "value": None}]
    no_container = [{"op": "test", "path": "/metadata/labels/x", "value": None}]
    for ops in (present, no_container):
        with pytest.raises(status.ApiError) as refused:
            patch.json_patch(doc, ops)
        assert refused.value.code == 422


def test_patch_put_conflict_and_status() -> None:
    api = make_api()
    _, pod = call(api, "POST", "/api/v1/namespaces/default/pods", body=vm_pod("p"))
    rv = pod["metadata"]["resourceVersion"]
    for ctype in (patch.MERGE, patch.STRATEGIC):
        code, patched = call(
            api,
            "PATCH",
            "/api/v1/namespaces/default/pods/p",
            content_type=ctype,
            body={"metadata": {"labels": {"x": ctype[12:17]}}},
        )
        assert code == 200 and patched["metadata"]["labels"]["x"] == ctype[12:17]
    assert (
        call(api, "PATCH", "/api/v1/namespaces/default/pods/p", content_type="text/plain", body={})[0] == 415
    )
    stale = dict(pod, metadata=dict(pod["metadata"], resourceVersion=rv))
    code, body = call(api, "PUT", "/api/v1/namespaces/default/pods/p", body=stale)
    assert code == 409 and body["reason"] == "Conflict"
    _, current = call(api, "GET", "/api/v1/namespaces/default/pods/p")
    current["status"] = {"phase": "Running", "podIP": "1.2.3.4"}
    code, updated = call(api, "PUT", "/api/v1/namespaces/default/pods/p", body=current)
    assert code == 200 and updated["status"]["phase"] == "Pending"  # status ignored on PUT
    del current["metadata"]["resourceVersion"]  # unconditional update
    code, updated = call(api, "PUT", "/api/v1/namespaces/default/pods/p/status", body=current)
    assert code == 200 and updated["status"]["podIP"] == "1.2.3.4"


# ----------------------------------------------------------------------------- validation
def test_vm_validation() -> None:
    api = make_api()
    code, body = call(
        api,
        "POST",
        "/api/v1/namespaces/default/pods",
        body=vm_pod("big", userData=base64.b64encode(b"x" * 65536).decode()),
    )
    assert code == 422 and body["details"]["causes"][0]["field"] == "spec.virtualMachine.userData"
    both = vm_pod("both")
    both["spec"]["containers"] = [{"name": "c", "image": "nginx"}]
    assert call(api, "POST", "/api/v1/namespaces/default/pods", body=both)[0] == 422
    code, body = call(
        api, "POST", "/api/v1/namespaces/default/pods", body={"metadata": {"name": "e"}, "spec": {}}
    )
    assert code == 422
    code, body = call(
        api,
        "POST",
        "/api/v1/namespaces/default/pods",
        body={"metadata": {"name": "c"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
    )
    assert code == 201 and body["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    code, body = call(api, "POST", "/api/v1/namespaces/nope/pods", body=vm_pod("x"))
    assert code == 404 and body["message"] == 'namespaces "nope" not found'


# ----------------------------------------------------------------------------- store, watch, persistence
def _lines(watcher: Watcher) -> list[Any]:
    out = []
    while not watcher.queue.empty():
        line = watcher.queue.get_nowait()
        if line is None:
            break
        out.append(orjson.loads(line))
    return out


def test_watch_replay_and_selectors() -> None:
    api = make_api()
    call(api, "POST", "/api/v1/namespaces/default/configmaps", body={"metadata": {"name": "a"}})
    _, listed = call(api, "GET", "/api/v1/namespaces/default/configmaps")
    since = listed["metadata"]["resourceVersion"]
    call(
        api,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        body={"metadata": {"name": "b", "labels": {"k": "v"}}},
    )
    call(
        api,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a",
        content_type=patch.MERGE,
        body={"data": {"x": "1"}},
    )
    call(api, "DELETE", "/api/v1/namespaces/default/configmaps/b")
    call(
        api,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        token="alt-token",
        body={"metadata": {"name": "z"}},
    )
    resp = api.handle(
        ApiRequest(
            "GET",
            "/api/v1/namespaces/default/configmaps",
            {"watch": "true", "resourceVersion": str(since)},
            "Bearer demo-token",
        )
    )
    assert isinstance(resp, WatchResponse)
    events = _lines(resp.watcher)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
    ]
    assert events[0]["object"]["kind"] == "ConfigMap"
    # label selector: an object leaving the selection is seen as DELETED
    sel = Watcher("demo", "default", selectors.parse_labels("k=v"), [])
    api.store.watch(CONFIGMAPS, sel, None)
    call(
        api,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        body={"metadata": {"name": "c", "labels": {"k": "v"}}},
    )
    call(
        api,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/c",
        content_type=patch.MERGE,
        body={"metadata": {"labels": {"k": "w"}}},
    )
    assert [e["type"] for e in _lines(sel)] == ["ADDED", "DELETED"]


def test_watch_too_old_is_gone() -> None:
    api = make_api(history=3)
    for i in range(6):
        call(api, "POST", "/api/v1/namespaces/default/configmaps", body={"metadata": {"name": f"c{i}"}})
    resp = api.handle(
        ApiRequest(
            "GET",
            "/api/v1/namespaces/default/configmaps",
            {"watch": "1", "resourceVersion": "1"},
            "Bearer demo-token",
        )
    )
    assert isinstance(resp, WatchResponse)
    events = _lines(resp.watcher)
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410
    assert resp.watcher.closed


def test_delete_pod_returns_marked_object_and_events() -> None:
    api = make_api()
    call(api, "POST", "/api/v1/namespaces/default/pods", body=vm_pod("p"))
    watcher = Watcher("demo", "default", [], [])
    api.store.watch(PODS, watcher, str(api.store.rv))
    code, body = call(api, "DELETE", "/api/v1/namespaces/default/pods/p")
    assert code == 200 and body["metadata"]["deletionGracePeriodSeconds"] == 0
    assert "deletionTimestamp" in body["metadata"]
    assert [e["type"] for e in _lines(watcher)] == ["MODIFIED", "DELETED"]
    assert call(api, "GET", "/api/v1/namespaces/default/pods/p")[0] == 404


def test_persistence_roundtrip(tmp_path: Path) -> None:
    api = make_api()
    call(api, "POST", "/api/v1/namespaces/default/pods", body=vm_pod("p"))
    path = tmp_path / "state.json"
    persistence.write_atomic(path, orjson.dumps(api.store.snapshot()))
    assert not [p for p in tmp_path.iterdir() if p.name != "state.json"]  # no temp file left behind
    restored = Store()
    data = persistence.load(path)
    assert data is not None
    restored.restore(data)
    assert restored.get(PODS, ("demo", "default", "p")) is not None and restored.rv == api.store.rv
