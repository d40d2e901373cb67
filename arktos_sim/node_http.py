"""The node agent on its own, against any Arktos API server: ``python -m arktos_sim.node_agent``.

Arktos has no scheduler or kubelet here; this process is both for one Node, with the same state machine as
inside the simulator (``node_agent.NodeAgent``) behind an HTTPS transport (``ArktosHttpIO``):

- registers the Node (``POST /api/v1/nodes``) and keeps its ``Ready`` condition fresh (``nodes/status``), so
  Arktos's node lifecycle controller never taints it unreachable and evicts its pods;
- watches pods and Actions of every tenant (``/api/v1/tenants/all/...``, list then watch, relist on 410);
- binds unscheduled pods (``pods/binding``, as a scheduler), reports VM status, power and image changes
  (``pods/status``) and Action results (``actions/status``), and confirms graceful deletions with a
  grace-period-0 ``DELETE`` (as a kubelet; a bound pod keeps ``deletionTimestamp`` until then).

Its credential (``--token``/``--token-file``/``NODE_AGENT_TOKEN``) must allow that: get/list/watch pods
and actions in all tenants, create ``pods/binding``, update ``pods/status`` and ``actions/status``, delete
pods and actions, create/get/update nodes and ``nodes/status``.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from types import FrameType
from typing import Any
from urllib.parse import quote

import orjson
import requests

from . import meta
from .node_agent import ACTION, HOST_IP, NODE_NAME, POD, NodeAgent
from .store import DELETED, ERROR, Key

Json = dict[str, Any]
KINDS = {POD: "pods", ACTION: "actions"}
WATCH_SECONDS = 300
LISTED = "LISTED"


JSON_PATCH = "application/json-patch+json"


class ArktosError(RuntimeError):
    pass


class ArktosHttpIO:
    """``NodeIO`` over Arktos's REST API with one bearer token."""

    def __init__(self, url: str, token: str, ca: str | None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.verify: str | bool = ca if ca else True
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._local = threading.local()

    # ------------------------------------------------------------------ HTTP
    def session(self) -> requests.Session:
        # One session per thread (the watchers stream on their own connections).
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.verify = self.verify
            session.headers.update(self.headers)
            self._local.session = session
        return session

    def request(
        self,
        method: str,
        path: str,
        body: Json | list[Json] | None = None,
        ok: Iterable[int] = (),
        content_type: str = "application/json",
    ) -> Json | None:
        """The reply object; None for a status in ``ok`` (e.g. 404 when the object is gone)."""
        data = orjson.dumps(body) if body is not None else None
        # verify on every call: a session's own verify loses to REQUESTS_CA_BUNDLE (a known requests quirk).
        reply = self.session().request(
            method,
            self.url + path,
            data=data,
            timeout=self.timeout,
            verify=self.verify,
            headers={"Content-Type": content_type},
        )
        if reply.status_code in ok:
            return None
        if reply.status_code >= 300:
            raise ArktosError(f"{method} {path}: {reply.status_code} {reply.text[:300]}")
        parsed: Json = orjson.loads(reply.content) if reply.content else {}
        return parsed

    @staticmethod
    def path(kind: str, key: Key, sub: str = "") -> str:
        tenant, namespace, name = (quote(part, safe="") for part in key)
        tail = f"/{sub}" if sub else ""
        return f"/api/v1/tenants/{tenant}/namespaces/{namespace}/{KINDS[kind]}/{name}{tail}"

    @staticmethod
    def _key(obj: Json) -> Key:
        m = obj["metadata"]
        return (m.get("tenant", ""), m.get("namespace", ""), m["name"])

    def _status_put(self, kind: str, obj: Json) -> None:
        """Report ``obj``'s status with a JSON patch of ``/status`` alone, as a kubelet patches pod status.

        A status PUT carries the whole object, and Arktos (Kubernetes 1.15's status strategy) keeps the
        metadata of the body: a PUT built from an earlier read would undo annotations another writer (the
        gateway) set since. The ``test`` of the uid drops a report meant for an earlier object of the same
        name (Arktos answers 422 for a failed test, 404 when the object is gone).
        """
        patch = [
            {"op": "test", "path": "/metadata/uid", "value": obj["metadata"]["uid"]},
            {"op": "add", "path": "/status", "value": obj.get("status") or {}},
        ]
        self.request(
            "PATCH",
            self.path(kind, self._key(obj), "status"),
            patch,
            ok=(404, 409, 422),
            content_type=JSON_PATCH,
        )

    # ------------------------------------------------------------------ NodeIO
    def get_pod(self, key: Key) -> Json | None:
        return self.request("GET", self.path(POD, key), ok=(404,))

    def bind_pod(self, pod: Json, node_name: str) -> Json | None:
        key = self._key(pod)
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": key[2], "uid": pod["metadata"]["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        # 409: already bound (by an earlier round); 404: gone.
        if self.request("POST", self.path(POD, key, "binding"), binding, ok=(404, 409)) is None:
            return None
        bound = self.get_pod(key)
        if bound is None or bound["metadata"].get("uid") != pod["metadata"]["uid"]:
            return None
        return bound

    def put_pod_status(self, pod: Json) -> None:
        self._status_put(POD, pod)

    def finalize_pod(self, key: Key, uid: str) -> None:
        options = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": uid},
        }
        self.request("DELETE", self.path(POD, key), options, ok=(404, 409))

    def get_action(self, key: Key) -> Json | None:
        return self.request("GET", self.path(ACTION, key), ok=(404,))

    def put_action_status(self, action: Json) -> None:
        self._status_put(ACTION, action)

    def delete_action(self, key: Key, uid: str) -> None:
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}}
        self.request("DELETE", self.path(ACTION, key), options, ok=(404, 409))

    def list_all(self, kind: str) -> tuple[list[Json], str]:
        listed = self.request("GET", f"/api/v1/tenants/all/{KINDS[kind]}") or {}
        return list(listed.get("items") or []), str(listed.get("metadata", {}).get("resourceVersion", ""))

    def pods(self) -> Iterable[Json]:
        return self.list_all(POD)[0]

    def actions(self) -> Iterable[Json]:
        return self.list_all(ACTION)[0]

    # ------------------------------------------------------------------ the Node
    def node_status(self, host_ip: str) -> Json:
        now = meta.timestamp(time.time())
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "arktos_sim node agent is posting ready status",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "1000"}
        return {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [ready],
            "addresses": [{"type": "InternalIP", "address": host_ip}],
        }

    def register_node(self, name: str, host_ip: str) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": self.node_status(host_ip),
        }
        self.request("POST", "/api/v1/nodes", node, ok=(409,))
        self.heartbeat(name, host_ip)

    def heartbeat(self, name: str, host_ip: str) -> None:
        status = self.node_status(host_ip)
        self.request("PUT", f"/api/v1/nodes/{quote(name, safe='')}/status", self._with_status(name, status))

    def _with_status(self, name: str, status: Json) -> Json:
        node = self.request("GET", f"/api/v1/nodes/{quote(name, safe='')}") or {}
        old = {c.get("type"): c for c in node.get("status", {}).get("conditions") or []}
        for condition in status["conditions"]:
            previous = old.get(condition["type"])
            if previous and previous.get("status") == condition["status"]:
                condition["lastTransitionTime"] = previous.get(
                    "lastTransitionTime", condition["lastTransitionTime"]
                )
        node.setdefault("status", {}).update(status)
        node["metadata"].pop("resourceVersion", None)
        return node

    # ------------------------------------------------------------------ watching
    def watch(self, kind: str, events: queue.Queue[tuple[str, str, Any]], stop: threading.Event) -> None:
        """List, then watch from that version; relist after an expired version or a broken stream."""
        while not stop.is_set():
            try:
                items, rv = self.list_all(kind)
                events.put((kind, LISTED, items))
                while not stop.is_set():
                    rv = self._watch_once(kind, rv, events, stop)
            except (requests.RequestException, ArktosError, ValueError, _Expired) as exc:
                print(f"node agent: watch of {KINDS[kind]}: {exc}; relisting", file=sys.stderr, flush=True)
                stop.wait(1.0)

    def _watch_once(
        self, kind: str, rv: str, events: queue.Queue[tuple[str, str, Any]], stop: threading.Event
    ) -> str:
        url = f"{self.url}/api/v1/tenants/all/{KINDS[kind]}"
        params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": str(WATCH_SECONDS)}
        with self.session().get(
            url, params=params, stream=True, verify=self.verify, timeout=(self.timeout, WATCH_SECONDS + 30)
        ) as r:
            if r.status_code != 200:
                raise ArktosError(f"watch {KINDS[kind]}: {r.status_code} {r.text[:300]}")
            for line in r.iter_lines():
                if stop.is_set():
                    break
                if not line:
                    continue
                event = orjson.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == ERROR:
                    raise _Expired(str(obj.get("message", "watch error")))
                rv = str(obj.get("metadata", {}).get("resourceVersion", rv))
                events.put((kind, str(event.get("type")), obj))
        return rv


class _Expired(Exception):
    pass


def serve(
    agent: NodeAgent,
    events: queue.Queue[tuple[str, str, Any]],
    stop: threading.Event,
    ready: threading.Event | None = None,
) -> None:
    """The agent's loop: feed watch events to the state machine and run what is due."""
    seen: dict[str, dict[str, Json]] = {POD: {}, ACTION: {}}
    listed: set[str] = set()
    while not stop.is_set():
        agent.step()
        due = agent.next_due()
        timeout = 0.5 if due is None else min(0.5, max(0.0, due - agent.clock()))
        try:
            kind, type_, payload = events.get(timeout=timeout)
        except queue.Empty:
            continue
        if type_ == LISTED:
            seen[kind] = {obj["metadata"]["uid"]: obj for obj in payload}
            if kind == POD:
                agent.resync(pods=payload, actions=())
            else:
                agent.resync(pods=(), actions=payload)
            listed.add(kind)
            if ready is not None and listed == set(seen):
                ready.set()
            continue
        uid = payload.get("metadata", {}).get("uid", "")
        old = seen[kind].get(uid)
        if agent.trace is not None:
            agent.trace(f"event {kind} {type_} {payload.get('metadata', {}).get('name')}")
        if type_ == DELETED:
            seen[kind].pop(uid, None)
        else:
            seen[kind][uid] = payload
        agent.observe(kind, type_, payload, old)


def _token(args: argparse.Namespace) -> str:
    if args.token_file:
        with open(args.token_file) as f:
            return f.read().strip()
    return str(args.token or os.environ.get("NODE_AGENT_TOKEN", ""))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m arktos_sim.node_agent",
        description="Scheduler and kubelet for one Node of a real Arktos: binds pods and reports VM status.",
    )
    ap.add_argument("--arktos-url", default=os.environ.get("ARKTOS_URL"), help="the Arktos API server")
    ap.add_argument("--ca", default=os.environ.get("ARKTOS_CA"), help="CA file that signed its certificate")
    ap.add_argument("--token", help="the agent's bearer token (or --token-file, or env NODE_AGENT_TOKEN)")
    ap.add_argument("--token-file")
    ap.add_argument("--node-name", default=NODE_NAME)
    ap.add_argument("--host-ip", default=HOST_IP)
    ap.add_argument("--vm-boot-seconds", type=float, default=1.0)
    ap.add_argument("--heartbeat-seconds", type=float, default=10.0)
    ap.add_argument("--verbose", action="store_true", help="log every transition and watch event")
    args = ap.parse_args(argv)
    token = _token(args)
    if not args.arktos_url or not token:
        ap.error("--arktos-url and a token are required")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    io = ArktosHttpIO(args.arktos_url, token, args.ca)
    try:
        io.register_node(args.node_name, args.host_ip)
    except (requests.RequestException, ArktosError) as exc:
        print(f"node agent: cannot register node {args.node_name}: {exc}", file=sys.stderr)
        return 1
    trace = (lambda line: print(f"node agent: {line}", flush=True)) if args.verbose else None
    agent = NodeAgent(io, args.vm_boot_seconds, node_name=args.node_name, host_ip=args.host_ip, trace=trace)
    events: queue.Queue[tuple[str, str, Any]] = queue.Queue()
    for kind in (POD, ACTION):
        threading.Thread(
            target=io.watch, args=(kind, events, stop), daemon=True, name=f"watch-{kind}"
        ).start()

    def heartbeats() -> None:
        while not stop.wait(args.heartbeat_seconds):
            try:
                io.heartbeat(args.node_name, args.host_ip)
            except (requests.RequestException, ArktosError) as exc:
                print(f"node agent: heartbeat failed: {exc}", file=sys.stderr, flush=True)

    threading.Thread(target=heartbeats, daemon=True, name="heartbeat").start()
    ready = threading.Event()

    def announce() -> None:
        if ready.wait(120) and not stop.is_set():
            print(f"node agent ready: node {args.node_name} on {args.arktos_url}", flush=True)

    threading.Thread(target=announce, daemon=True, name="announce").start()
    serve(agent, events, stop, ready)
    return 0
