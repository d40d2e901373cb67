"""The processes under test and the data they serve: the gateway stack, an Envoy without the processor,
and a population of VM pods in tenant ``demo``, namespace ``default``.

Pods are created straight in Arktos (the simulator, or a real Arktos whose node agent then binds and boots
them) by cloning one pod the gateway itself created, so every listed pod has exactly the shape a
``POST /servers`` gives; creating 10,000 of them through the gateway would only measure ``POST /servers``
10,000 times.
"""

from __future__ import annotations

import asyncio
import copy
import json
import ssl
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench import procstat
from bench.real_arktos import ADMIN_TOKEN, ARKTOS, DEMO_TOKEN, SIM, RealArktos
from gateway_stack import Stack
from gateway_stack.procs import Child, free_port, http_ok, wait_until
from gateway_stack.stack import envoy_binary, load_render

TENANT = "demo"
NAMESPACE = "default"
# The demo user's token on the simulator (a real Arktos's: real_arktos.DEMO_TOKEN; see BenchStack.user_token).
USER_TOKEN = "demo-token"
PODS_PATH = f"/api/v1/tenants/{TENANT}/namespaces/{NAMESPACE}/pods"
COMPUTE = f"/compute/v2.1/{TENANT}"
IMAGE = "cirros-0.5.2-x86_64-disk"
FLAVOR = "1"
# Metadata Arktos assigns; a clone must not carry the original's.
_ASSIGNED = ("uid", "resourceVersion", "creationTimestamp", "selfLink", "hashKey", "generation")


def server_body(name: str) -> bytes:
    return json.dumps({"server": {"name": name, "imageRef": IMAGE, "flavorRef": FLAVOR}}).encode()


class BenchStack:
    """``gateway_stack.Stack`` (simulator, processor, Envoy; or, with ``real``, processor and Envoy pointed at
    a real Arktos) plus a second Envoy rendered from the same template without the processor
    (``--passthrough``), listening on its own loopback port."""

    def __init__(
        self,
        workdir: Path,
        vm_boot_seconds: float = 0.1,
        processors: int = 1,
        processor_args: list[str] | None = None,
        real: RealArktos | None = None,
    ) -> None:
        self.workdir = workdir
        # Backend "sim" (the stack starts the simulator) or "arktos" (``real``, started by the caller).
        self.real = real
        self.backend = ARKTOS if real is not None else SIM
        # The demo tenant's user: the simulator's tokens.csv, or the user up.sh creates on a real Arktos.
        self.user_token = DEMO_TOKEN if real is not None else USER_TOKEN
        if real is None:
            self.stack = Stack(
                workdir=workdir,
                vm_boot_seconds=vm_boot_seconds,
                processors=processors,
                processor_args=processor_args,
            )
        else:  # the node agent boots the VMs (RealArktos starts it)
            self.stack = Stack(
                workdir=workdir,
                processors=processors,
                processor_args=processor_args,
                arktos_url=real.url,
                arktos_ca=real.ca,
                arktos_token=real.gateway_token,
                cloud_tokens=(DEMO_TOKEN, ADMIN_TOKEN),
            )
        self.passthrough_port = free_port()
        self.passthrough_admin_port = free_port()
        self.passthrough: Child | None = None
        self.template_pod: dict[str, Any] | None = None

    def __enter__(self) -> BenchStack:
        try:
            self.stack.start()
            self._start_passthrough()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.passthrough is not None:
            self.passthrough.stop()
        self.stack.stop()

    def _start_passthrough(self) -> None:
        st = self.stack
        render = load_render()
        params = render.params_from_url(
            st.arktos_url,
            arktos_ca=str(st.ca_path) if st.ca_path else None,
            listen_port=self.passthrough_port,
            admin_port=self.passthrough_admin_port,
            processor=st.processor_address,
        )
        config = render.write(params, self.workdir / "envoy-passthrough.yaml", passthrough=True)
        # The same flags as the gateway's Envoy (gateway_stack.Stack.start_envoy).
        argv = [envoy_binary(), "-c", str(config), "--disable-hot-restart", "--concurrency", "1"]
        argv += ["--log-level", "warn"]
        self.passthrough = Child(
            "envoy-passthrough", argv, st.logs_dir / "envoy-passthrough.log", cwd=self.workdir
        )
        self.passthrough.start()
        admin = f"http://127.0.0.1:{self.passthrough_admin_port}/ready"
        wait_until("the passthrough Envoy", lambda: http_ok(admin), self.passthrough, 30)

    # -- addresses ------------------------------------------------------------------------------

    @property
    def arktos_url(self) -> str:
        return self.stack.arktos_url

    @property
    def passthrough_url(self) -> str:
        return f"http://127.0.0.1:{self.passthrough_port}"

    @property
    def gateway_url(self) -> str:
        return self.stack.public_url

    @property
    def cafile(self) -> str | None:
        return str(self.stack.ca_path) if self.stack.ca_path else None

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.cafile) if self.stack.tls else None

    def pids(self) -> dict[str, list[int]]:
        """Process ids per role (a role's children count too, e.g. several processor workers)."""
        out: dict[str, list[int]] = {}
        for role, child in (
            ("envoy", self.stack.envoy),
            ("envoy_passthrough", self.passthrough),
            ("processor", self.stack.processor),
            *(("processor", replica) for replica in self.stack.replicas),
            ("arktos", self.stack.sim),
            ("node_agent", self.real.agent if self.real is not None else None),
        ):
            if child is None or child.pid is None:
                continue
            out.setdefault(role, []).extend([child.pid, *procstat.descendants(child.pid)])
        if self.real is not None:
            # The API server and etcd: what the simulator is in one process.
            out["arktos"] = self.real.serving_pids()
        return out

    def envoy_counters(self, names: tuple[str, ...]) -> dict[str, int]:
        """Envoy (gateway) counters whose name contains one of ``names``, summed per name."""
        url = f"{self.stack.envoy_admin_url}/stats?format=json&type=Counters"
        with urllib.request.urlopen(url, timeout=5) as resp:
            stats = json.load(resp).get("stats", [])
        totals = dict.fromkeys(names, 0)
        for stat in stats:
            for name in names:
                if name in stat.get("name", ""):
                    totals[name] += int(stat.get("value", 0))
        return totals

    def settle(self, timeout: float = 60.0, busy_fraction: float = 0.05) -> bool:
        """Wait until the simulator (its node agent has booted the VMs created so far) and the processor
        (requests a cut-off load run left behind, the watch catching up with bulk creates) are idle; False
        if they were still busy after ``timeout`` seconds. On a real Arktos the node agent is a process of its
        own, and the API server and etcd idle at ~4 % of a core (their own housekeeping): they count as idle
        below 3x ``busy_fraction``."""
        pids = self.pids()
        limits = {"processor": busy_fraction, "node_agent": busy_fraction}
        limits["arktos"] = busy_fraction * (3 if self.real is not None else 1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = procstat.CpuSample.take(pids)
            time.sleep(0.5)
            used = procstat.CpuSample.take(pids).since(before)
            if all(used.get(role, 0.0) < limit * 0.5 for role, limit in limits.items()):
                return True
        return False

    # -- population -----------------------------------------------------------------------------

    def create_template_server(self) -> str:
        """One server created through the gateway; its pod is the model of every cloned pod."""
        req = urllib.request.Request(
            f"{self.gateway_url}{COMPUTE}/servers",
            data=server_body("bench-template"),
            headers={"X-Auth-Token": self.user_token, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            sid: str = json.load(resp)["server"]["id"]
        pod = self.arktos_get(f"{PODS_PATH}/{sid}")
        self.template_pod = pod
        return sid

    def create_image(self) -> str:
        """One Glance image of tenant demo, created through the gateway (the tenant's images ConfigMap then
        exists, as in a deployment with its own images: Glance's list reads it)."""
        body = {"name": "bench-image", "disk_format": "qcow2", "container_format": "bare"}
        req = urllib.request.Request(
            f"{self.gateway_url}/image/v2/images",
            data=json.dumps(body).encode(),
            headers={"X-Auth-Token": self.user_token, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            image_id: str = json.load(resp)["id"]
        return image_id

    def arktos_get(self, path: str) -> Any:
        req = urllib.request.Request(
            self.arktos_url + path, headers={"Authorization": f"Bearer {self.user_token}"}
        )
        with urllib.request.urlopen(req, timeout=120, context=self.ssl_context()) as resp:
            return json.load(resp)

    def pod_names(self) -> list[str]:
        return [p["metadata"]["name"] for p in self.arktos_get(PODS_PATH)["items"]]

    def _clone(self, name: str, index: int) -> bytes:
        assert self.template_pod is not None
        pod = copy.deepcopy(self.template_pod)
        meta = pod["metadata"]
        for key in _ASSIGNED:
            meta.pop(key, None)
        pod.pop("status", None)
        # Unbound, as a new pod is: the node agent schedules and boots it (a copied nodeName left every
        # clone in BUILD, and the reboot row measured Nova's "vm_state building" refusals).
        pod.get("spec", {}).pop("nodeName", None)
        meta["name"] = name
        meta.setdefault("annotations", {})["openstack.arktos.io/display-name"] = f"bench-{index}"
        return json.dumps(pod).encode()

    def ensure_servers(self, count: int, keep: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Make the tenant hold exactly ``count`` VM pods (creating clones or deleting extra pods, never
        one in ``keep``); their names, ``keep`` first."""
        names = self.pod_names()
        current = set(names)
        extra = [n for n in names if n not in keep][: max(0, len(names) - count)]
        new = [str(uuid.uuid4()) for _ in range(max(0, count - len(names)))]
        asyncio.run(self._mutate(create=new, delete=extra))
        ordered = (
            [n for n in names if n in keep] + [n for n in names if n not in keep and n not in extra] + new
        )
        assert len(current) - len(extra) + len(new) == count
        return ordered

    def add_servers(self, count: int) -> list[str]:
        new = [str(uuid.uuid4()) for _ in range(count)]
        asyncio.run(self._mutate(create=new, delete=[]))
        return new

    async def _mutate(self, create: list[str], delete: list[str], concurrency: int = 16) -> None:
        headers = {"Authorization": f"Bearer {self.user_token}", "Content-Type": "application/json"}
        jobs: list[tuple[str, str]] = [("POST", n) for n in create] + [("DELETE", n) for n in delete]
        ctx = self.ssl_context()
        connector = aiohttp.TCPConnector(ssl=ctx if ctx is not None else False, limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                while jobs:
                    method, name = jobs.pop()
                    if method == "POST":
                        data = self._clone(name, len(jobs))
                        call = session.post(self.arktos_url + PODS_PATH, data=data, headers=headers)
                    else:
                        call = session.delete(f"{self.arktos_url}{PODS_PATH}/{name}", headers=headers)
                    async with call as resp:
                        await resp.read()
                        if resp.status >= 300 and resp.status != 404:
                            raise RuntimeError(f"{method} pod {name}: {resp.status}")

            await asyncio.gather(*(worker() for _ in range(concurrency)))
