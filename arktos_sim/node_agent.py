"""The node agent: plays kubelet (and scheduler) for pods, VMs in particular.

One state machine, two transports (``NodeIO``): inside the simulator it reads and writes the store directly
(``StoreIO``); on its own (``python -m arktos_sim.node_agent --arktos-url ...``, see ``node_http.py``) it
drives any Arktos API server over HTTPS with its own credential, as a scheduler and a kubelet would
(``pods/binding``, ``pods/status``, ``actions/status``, a grace-period-0 ``DELETE``).

State machine of a VM pod (``boot`` = ``--vm-boot-seconds``):

    created ──bind (at once)──────▶ Pending   suspended/nostate, nodeName+hostIP set
    Pending ──after boot──────────▶ Running   active/running/ready, podIP, nicStatuses, startTime
            └─(fail injected)─────▶ Failed    error/crashed, reason+message
    powerSpec → Shutdown ──after boot──▶ NoSchedule  stopped/shutdown, not ready
    powerSpec → Running (while stopped) ─at once─▶ Pending ──after boot──▶ Running
        (Arktos's vmpod controller may set the phase to Pending first: a stopped VM in Pending starts too)
    spec.virtualMachine.image changed (a rebuild):
        Running ─at once─▶ Pending (suspended, the old image still reported) ─after boot─▶ Running, new
        image, new virtualMachineId, restartCount+1;  NoSchedule ─after boot─▶ NoSchedule, new image
    deletionTimestamp set (graceful DELETE of a bound pod) ──at once──▶ DELETE gracePeriodSeconds=0 (gone)
    Action created ──after boot (+ reboot delay)──▶ status.complete; reboot: restartCount+1;
                                                    snapshot: snapshotID; restore: restoreSuccessful
    Action older than an hour ──▶ deleted

Failure injection: annotation ``arktos-sim/fail: "true"`` or an image URL containing ``fail``.

A time-ordered heap of ``(due, seq, op, key, uid)`` holds the work; every step re-reads the object, so stale
entries (the pod was changed or deleted meanwhile) are harmless. ``step(now)`` is the whole state machine and
takes the time as an argument, so tests drive it with a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import ipaddress
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from . import meta
from .resources import ACTIONS, PODS
from .store import ADDED, DELETED, MODIFIED, Event, Key, Store, copy_obj

Json = dict[str, Any]

FAIL_ANNOTATION = "arktos-sim/fail"
NODE_NAME = "arktos-sim-node-0"
HOST_IP = "172.18.0.2"
ACTION_TTL = 3600.0
POD: str = "pod"
ACTION: str = "action"


class NodeIO(Protocol):
    """What the state machine needs from Arktos; objects are plain dicts as the API shows them."""

    def get_pod(self, key: Key) -> Json | None: ...

    def bind_pod(self, pod: Json, node_name: str) -> Json | None:
        """Assign the pod to the node (the binding subresource); the bound pod, or None if it is gone."""
        ...

    def put_pod_status(self, pod: Json) -> None: ...

    def finalize_pod(self, key: Key, uid: str) -> None:
        """Confirm a graceful deletion, as a kubelet does: DELETE with gracePeriodSeconds 0."""
        ...

    def get_action(self, key: Key) -> Json | None: ...

    def put_action_status(self, action: Json) -> None: ...

    def delete_action(self, key: Key, uid: str) -> None: ...

    def pods(self) -> Iterable[Json]: ...

    def actions(self) -> Iterable[Json]: ...


def _key(obj: Json) -> Key:
    m = obj["metadata"]
    return (m.get("tenant", ""), m.get("namespace", ""), m["name"])


def _fixed_ip(pod: Json) -> str | None:
    """The fixed IP the pod's first NIC asks for (``spec.nics[0].ipAddress``), if any."""
    nics = pod.get("spec", {}).get("nics") or []
    first = nics[0] if nics and isinstance(nics[0], dict) else {}
    ip = first.get("ipAddress")
    return ip if isinstance(ip, str) and ip else None


def _vm(obj: Json) -> Json | None:
    vm = obj.get("spec", {}).get("virtualMachine")
    return vm if isinstance(vm, dict) else None


def _power(obj: Json) -> str:
    vm = _vm(obj)
    return str(vm.get("powerSpec", "Running")) if vm else "Running"


def _image(obj: Json) -> str:
    vm = _vm(obj)
    return str(vm.get("image", "")) if vm else ""


def _reported_image(obj: Json) -> str:
    vms = (obj.get("status") or {}).get("virtualMachineStatus") or {}
    return str(vms.get("image") or "")


def fail_injected(obj: Json) -> bool:
    annotations = obj["metadata"].get("annotations") or {}
    if str(annotations.get(FAIL_ANNOTATION, "")).lower() == "true":
        return True
    vm = _vm(obj)
    return bool(vm and "fail" in str(vm.get("image", "")).lower())


def _condition(type_: str, value: bool, now: str) -> Json:
    return {
        "type": type_,
        "status": "True" if value else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }


class StoreIO:
    """The transport inside the simulator: the store itself."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get_pod(self, key: Key) -> Json | None:
        entry = self.store.get(PODS, key)
        return copy_obj(entry.obj) if entry is not None else None

    def bind_pod(self, pod: Json, node_name: str) -> Json | None:
        current = self.store.get(PODS, _key(pod))
        if current is None or current.obj["metadata"].get("uid") != pod["metadata"].get("uid"):
            return None
        bound = copy_obj(current.obj)
        bound["spec"]["nodeName"] = node_name
        # What Arktos's binding subresource records along with spec.nodeName.
        bound.setdefault("status", {})["conditions"] = [
            _condition("PodScheduled", True, meta.timestamp(time.time()))
        ]
        return copy_obj(self.store.update(PODS, bound).obj)

    def put_pod_status(self, pod: Json) -> None:
        current = self.store.get(PODS, _key(pod))
        if current is None or current.obj["metadata"].get("uid") != pod["metadata"].get("uid"):
            return
        updated = copy_obj(current.obj)
        updated["status"] = pod.get("status", {})
        self.store.update(PODS, updated)

    def finalize_pod(self, key: Key, uid: str) -> None:
        current = self.store.get(PODS, key)
        if current is not None and current.obj["metadata"].get("uid") == uid:
            final = copy_obj(current.obj)
            final["metadata"]["deletionGracePeriodSeconds"] = 0
            self.store.delete(PODS, key, final)

    def get_action(self, key: Key) -> Json | None:
        entry = self.store.get(ACTIONS, key)
        return copy_obj(entry.obj) if entry is not None else None

    def put_action_status(self, action: Json) -> None:
        current = self.store.get(ACTIONS, _key(action))
        if current is not None and current.obj["metadata"].get("uid") == action["metadata"].get("uid"):
            updated = copy_obj(current.obj)
            updated["status"] = action.get("status", {})
            self.store.update(ACTIONS, updated)

    def delete_action(self, key: Key, uid: str) -> None:
        entry = self.store.get(ACTIONS, key)
        if entry is not None and entry.obj["metadata"].get("uid") == uid:
            self.store.delete(ACTIONS, key)

    def pods(self) -> Iterable[Json]:
        return [e.obj for e in self.store.table(PODS).scan(None, None)]

    def actions(self) -> Iterable[Json]:
        return [e.obj for e in self.store.table(ACTIONS).scan(None, None)]


class NodeAgent:
    def __init__(
        self,
        io: NodeIO | Store,
        boot_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        node_name: str = NODE_NAME,
        host_ip: str = HOST_IP,
        pod_cidr: str = "10.244.0.0/16",
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.trace = trace  # told every transition run (the standalone agent logs them)
        if isinstance(io, Store):
            io.listeners.append(self._on_store_event)
            io = StoreIO(io)
        self.io: NodeIO = io
        self.boot = max(0.0, boot_seconds)
        self.clock = clock
        self.wall = wall
        self.node_name = node_name
        self.host_ip = host_ip
        self.heap: list[tuple[float, int, str, Key, str]] = []
        self._seq = 0
        self._network = ipaddress.ip_network(pod_cidr)
        self._next_ip = 2
        self._ips: dict[str, str] = {}  # pod uid -> IP
        self._used: set[str] = set()
        self._wake: asyncio.Event | None = None
        # A simulator-only test control (SIGUSR1/SIGUSR2, ``arktos_sim.__main__``): while held the agent
        # finishes no operation, as a node that has not got round to it yet, so a test can look at the
        # states in between for as long as it needs, whatever the machine's load.
        self.held = False

    def hold(self) -> None:
        self.held = True

    def release(self) -> None:
        self.held = False
        if self._wake is not None:
            self._wake.set()

    # ------------------------------------------------------------------ scheduling of work
    def _push(self, due: float, op: str, key: Key, uid: str) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (due, self._seq, op, key, uid))
        if self._wake is not None:
            self._wake.set()

    def _on_store_event(self, event: Event) -> None:
        kind = POD if event.rt is PODS else ACTION if event.rt is ACTIONS else None
        if kind is not None:
            self.observe(kind, event.type, event.obj, event.old)

    def observe(self, kind: str, type_: str, obj: Json, old: Json | None) -> None:
        """One watch event (``old``: the previous version seen, for MODIFIED)."""
        m = obj["metadata"]
        key = _key(obj)
        now = self.clock()
        if kind == POD:
            if type_ == DELETED:
                self._release(m.get("uid", ""))
                return
            node = obj.get("spec", {}).get("nodeName")
            if node and node != self.node_name:
                return  # another node's pod
            if m.get("deletionTimestamp"):
                if node:
                    self._push(now, "finalize", key, m["uid"])
                return
            if not node:
                if type_ == ADDED:
                    self._push(now, "schedule", key, m["uid"])
            elif type_ == MODIFIED and old is not None:
                if _power(old) != _power(obj):
                    if _power(obj) == "Shutdown":
                        self._push(now + self.boot, "stop", key, m["uid"])
                    elif _power(obj) == "Running":
                        self._push(now, "start", key, m["uid"])
                if _image(old) != _image(obj):
                    self._push(now, "rebuild", key, m["uid"])
        elif kind == ACTION and type_ == ADDED and not obj.get("status"):
            delay = float(obj.get("spec", {}).get("rebootAction", {}).get("delayInSeconds", 0) or 0)
            self._push(now + self.boot + delay, "action", key, m["uid"])
            self._push(now + ACTION_TTL, "expire", key, m["uid"])

    def resync(self, pods: Iterable[Json] | None = None, actions: Iterable[Json] | None = None) -> None:
        """Queue the work implied by the current state (at start, after loading ``--state``, after a relist).

        ``pods``/``actions``: what a list just returned (default: read them through the transport).
        """
        now = self.clock()
        for obj in self.io.pods() if pods is None else pods:
            m = obj["metadata"]
            key = _key(obj)
            node = obj.get("spec", {}).get("nodeName")
            if node and node != self.node_name:
                continue  # another node's pod
            ip = obj.get("status", {}).get("podIP")
            if ip:
                self._ips[m["uid"]] = ip
                self._used.add(ip)
            phase = obj.get("status", {}).get("phase")
            if m.get("deletionTimestamp"):
                if node:
                    self._push(now, "finalize", key, m["uid"])
            elif not node:
                self._push(now, "schedule", key, m["uid"])
            elif _power(obj) == "Shutdown" and phase != "NoSchedule":
                self._push(now + self.boot, "stop", key, m["uid"])
            elif _power(obj) == "Running" and (
                phase == "NoSchedule"
                or (obj.get("status", {}).get("virtualMachineStatus") or {}).get("state") == "stopped"
            ):
                self._push(now, "start", key, m["uid"])
            elif phase == "Pending":
                self._push(now + self.boot, "boot", key, m["uid"])
            elif _vm(obj) and _reported_image(obj) and _reported_image(obj) != _image(obj):
                self._push(now, "rebuild", key, m["uid"])
        for action in self.io.actions() if actions is None else actions:
            m = action["metadata"]
            key = _key(action)
            if not action.get("status"):
                self._push(now + self.boot, "action", key, m["uid"])
            self._push(now + ACTION_TTL, "expire", key, m["uid"])

    # ------------------------------------------------------------------ the state machine
    def step(self, now: float | None = None) -> int:
        """Run every queued transition that is due at ``now``; returns how many ran."""
        now = self.clock() if now is None else now
        done = 0
        while self.heap and self.heap[0][0] <= now:
            _, _, op, key, uid = heapq.heappop(self.heap)
            if self.trace is not None:
                self.trace(f"{op} {'/'.join(key)}")
            try:
                getattr(self, "_" + op)(key, uid, now)
            except Exception as exc:  # one failed write must not stop the agent (the next event retries)
                print(f"node agent: {op} {'/'.join(key)} failed: {exc}", file=sys.stderr, flush=True)
            done += 1
        return done

    def next_due(self) -> float | None:
        return self.heap[0][0] if self.heap else None

    def _pod(self, key: Key, uid: str) -> Json | None:
        pod = self.io.get_pod(key)
        if pod is None or pod["metadata"].get("uid") != uid or pod["metadata"].get("deletionTimestamp"):
            return None
        return pod

    def _vm_status(self, pod: Json, state: str, power: str, ready: bool, image: str | None = None) -> Json:
        """Report the VM; ``image`` is the one it runs (default: the spec's). A VM made from another image
        than the one reported so far is a new VM (new id, one more restart), as kubelet recreates a
        container whose spec changed."""
        vm = _vm(pod) or {}
        st = pod.setdefault("status", {})
        old = st.get("virtualMachineStatus") or {}
        image = str(vm.get("image", "")) if image is None else image
        recreated = bool(old.get("image")) and old.get("image") != image
        vms: Json = {
            "name": vm.get("name", ""),
            "virtualMachineId": (not recreated and old.get("virtualMachineId")) or str(uuid.uuid4()),
            "imageId": str(uuid.uuid5(uuid.NAMESPACE_URL, image)),
            "image": image,
            "state": state,
            "powerState": power,
            "ready": ready,
            "restartCount": int(old.get("restartCount", 0)) + (1 if recreated else 0),
            "resources": vm.get("resources") or {},
        }
        if old.get("lastTerminationState"):
            vms["lastTerminationState"] = old["lastTerminationState"]
        # Arktos serializes these with omitempty: a false ``ready`` and a zero ``restartCount`` are absent.
        for field in ("ready", "restartCount"):
            if not vms[field]:
                del vms[field]
        st["virtualMachineStatus"] = vms
        return vms

    def _conditions(self, pod: Json, ready: bool) -> None:
        now = meta.timestamp(self.wall())
        pod["status"]["conditions"] = [
            _condition("Initialized", True, now),
            _condition("Ready", ready, now),
            _condition("ContainersReady", ready, now),
            _condition("PodScheduled", True, now),
        ]

    def _schedule(self, key: Key, uid: str, now: float) -> None:
        pod = self._pod(key, uid)
        if pod is None or pod["spec"].get("nodeName"):
            return
        bound = self.io.bind_pod(pod, self.node_name)
        if bound is None:
            return
        st = bound.setdefault("status", {})
        st["phase"] = "Pending"
        st["hostIP"] = self.host_ip
        st["conditions"] = [_condition("PodScheduled", True, meta.timestamp(self.wall()))]
        if _vm(bound):
            self._vm_status(bound, "suspended", "nostate", False)
        self.io.put_pod_status(bound)
        self._push(now + self.boot, "stop" if _power(bound) == "Shutdown" else "boot", key, uid)

    def _boot(self, key: Key, uid: str, now: float) -> None:
        pod = self._pod(key, uid)
        if pod is None or pod["status"].get("phase") != "Pending" or _power(pod) != "Running":
            return
        st = pod["status"]
        st.setdefault("startTime", meta.timestamp(self.wall()))
        if fail_injected(pod):
            st["phase"] = "Failed"
            st["reason"] = "VmFailed"
            st["message"] = "arktos-sim: the virtual machine failed to start (failure injected)"
            if _vm(pod):
                self._vm_status(pod, "error", "crashed", False)
            self._conditions(pod, False)
            self.io.put_pod_status(pod)
            return
        st["phase"] = "Running"
        st.pop("reason", None)
        st.pop("message", None)
        st["podIP"] = self._allocate(uid, _fixed_ip(pod))
        self._conditions(pod, True)
        if _vm(pod):
            self._vm_status(pod, "active", "running", True)
            old_nics = {n.get("name"): n for n in st.get("nicStatuses") or []}
            nics = pod["spec"].get("nics") or [{"name": "eth0"}]
            st["nicStatuses"] = [
                {
                    "name": n.get("name", f"eth{i}"),
                    "portID": n.get("portId")
                    or old_nics.get(n.get("name"), {}).get("portID")
                    or str(uuid.uuid4()),
                    "state": "Ready",
                }
                for i, n in enumerate(nics)
            ]
        else:
            started = meta.timestamp(self.wall())
            st["containerStatuses"] = [
                {
                    "name": c.get("name", ""),
                    "image": c.get("image", ""),
                    "imageID": "",
                    "containerID": f"containerd://{uuid.uuid4().hex}",
                    "ready": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": started}},
                    "lastState": {},
                }
                for c in pod["spec"].get("containers") or []
            ]
        self.io.put_pod_status(pod)

    def _stop(self, key: Key, uid: str, now: float) -> None:
        pod = self._pod(key, uid)
        if pod is None or _power(pod) != "Shutdown" or pod["status"].get("phase") in ("Failed", "NoSchedule"):
            return
        pod["status"]["phase"] = "NoSchedule"
        self._vm_status(pod, "stopped", "shutdown", False)
        self._conditions(pod, False)
        self.io.put_pod_status(pod)

    def _start(self, key: Key, uid: str, now: float) -> None:
        pod = self._pod(key, uid)
        if pod is None or _power(pod) != "Running":
            return
        phase = pod["status"].get("phase")
        vm_state = (pod["status"].get("virtualMachineStatus") or {}).get("state")
        # Arktos's vmpod controller may already have moved a stopped VM's pod back to Pending.
        if phase != "NoSchedule" and not (phase == "Pending" and vm_state == "stopped"):
            return
        pod["status"]["phase"] = "Pending"
        self._vm_status(pod, "suspended", "nostate", False)
        self._conditions(pod, False)
        self.io.put_pod_status(pod)
        self._push(now + self.boot, "boot", key, uid)

    def _rebuild(self, key: Key, uid: str, now: float) -> None:
        """The VM image changed: a running VM goes down now and comes back from the new image after the
        boot time (the old image is reported until then); a stopped VM is recreated from it, stopped."""
        pod = self._pod(key, uid)
        if pod is None or not _vm(pod) or not pod["spec"].get("nodeName"):
            return
        reported = _reported_image(pod)
        if not reported or reported == _image(pod):
            return
        phase = pod["status"].get("phase")
        if phase == "Running" and _power(pod) == "Running":
            pod["status"]["phase"] = "Pending"
            self._vm_status(pod, "suspended", "nostate", False, image=reported)
            self._conditions(pod, False)
            self.io.put_pod_status(pod)
            self._push(now + self.boot, "boot", key, uid)
        elif phase == "NoSchedule":
            self._push(now + self.boot, "reimage", key, uid)

    def _reimage(self, key: Key, uid: str, now: float) -> None:
        pod = self._pod(key, uid)
        if pod is None or pod["status"].get("phase") != "NoSchedule" or _reported_image(pod) == _image(pod):
            return
        self._vm_status(pod, "stopped", "shutdown", False)
        self.io.put_pod_status(pod)

    def _finalize(self, key: Key, uid: str, now: float) -> None:
        pod = self.io.get_pod(key)
        if pod is None or pod["metadata"].get("uid") != uid or not pod["metadata"].get("deletionTimestamp"):
            return
        self.io.finalize_pod(key, uid)

    def _action(self, key: Key, uid: str, now: float) -> None:
        action = self.io.get_action(key)
        if action is None or action["metadata"].get("uid") != uid or action.get("status"):
            return
        spec = action["spec"]
        pod = self.io.get_pod((key[0], key[1], spec.get("podName", "")))
        running = pod is not None and pod.get("status", {}).get("phase") == "Running"
        result: Json = {"complete": True}
        if not running:
            result["error"] = f"pod {spec.get('podName')} is not running"
        if "rebootAction" in spec:
            result["rebootStatus"] = {"rebootSuccessful": running}
            if running and pod is not None:
                vms = pod["status"].get("virtualMachineStatus")
                if vms is not None:
                    vms["restartCount"] = int(vms.get("restartCount", 0)) + 1
                    self.io.put_pod_status(pod)
        elif "snapshotAction" in spec:
            result["snapshotStatus"] = {"snapshotID": str(uuid.uuid4()) if running else ""}
        elif "restoreAction" in spec:
            result["restoreStatus"] = {"restoreSuccessful": running}
        action["status"] = result
        self.io.put_action_status(action)

    def _expire(self, key: Key, uid: str, now: float) -> None:
        self.io.delete_action(key, uid)

    # ------------------------------------------------------------------ pod IPs
    def _allocate(self, uid: str, fixed: str | None = None) -> str:
        if uid in self._ips:
            return self._ips[uid]
        if fixed:
            # The VM's first NIC asks for this address (spec.nics[0].ipAddress): the runtime configures it.
            self._ips[uid] = fixed
            self._used.add(fixed)
            return fixed
        size = self._network.num_addresses
        while True:
            ip = str(self._network.network_address + self._next_ip)
            self._next_ip = self._next_ip + 1 if self._next_ip + 1 < size - 1 else 2
            if ip not in self._used:
                break
        self._ips[uid] = ip
        self._used.add(ip)
        return ip

    def _release(self, uid: str) -> None:
        ip = self._ips.pop(uid, None)
        if ip is not None:
            self._used.discard(ip)

    # ------------------------------------------------------------------ the task (inside the simulator)
    async def run(self) -> None:
        self._wake = asyncio.Event()
        while True:
            if self.held:
                self._wake.clear()
                await self._wake.wait()
                continue
            self.step()
            due = self.next_due()
            timeout = None if due is None else max(0.0, due - self.clock())
            self._wake.clear()
            if due is not None and timeout == 0.0:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)


if __name__ == "__main__":
    from arktos_sim.node_http import main

    sys.exit(main())
