"""One real stack (Arktos, processor, Envoy) shared by the end-to-end tests, on either backend.

``E2E_BACKEND`` selects Arktos: ``sim`` (default: the simulator, started here) or ``arktos`` (a real Arktos
control plane, as ``make test-arktos`` starts it: ``ARKTOS_URL``, ``ARKTOS_CA``, ``ARKTOS_ADMIN_TOKEN``, and
the tenant users' tokens ``ARKTOS_DEMO_TOKEN``/``ARKTOS_ALT_TOKEN``). With ``arktos`` the session provisions
least-privilege credentials for the processor and the node agent, starts the node agent
(``python -m arktos_sim.node_agent``) and points the stack at that Arktos. The tests are the same on both;
a test that needs a power only the simulator has is marked ``sim_only`` with the reason.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openstack
import pytest
import requests
from openstack.config import OpenStackConfig

from gateway_stack import Stack
from gateway_stack.arktos_accounts import GATEWAY_RULES, NODE_AGENT_RULES, provision
from gateway_stack.procs import Child, wait_until
from tests.conftest import ON_BACKEND_PROPERTY

VENV_BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Backend:
    name: str  # "sim" or "arktos"
    demo_token: str
    alt_token: str
    admin_token: str
    arktos_url: str | None = None
    arktos_ca: str | None = None

    @property
    def real(self) -> bool:
        return self.name == "arktos"


def selected_backend() -> Backend:
    name = os.environ.get("E2E_BACKEND", "sim")
    if name == "sim":
        return Backend("sim", "demo-token", "alt-token", "admin-token")
    if name != "arktos":
        raise pytest.UsageError(f"E2E_BACKEND={name!r}: expected sim or arktos")
    url = os.environ.get("ARKTOS_URL")
    if not url:
        raise pytest.UsageError("E2E_BACKEND=arktos needs ARKTOS_URL (and ARKTOS_CA, ARKTOS_ADMIN_TOKEN)")
    return Backend(
        "arktos",
        os.environ.get("ARKTOS_DEMO_TOKEN", "demo-admin-token"),
        os.environ.get("ARKTOS_ALT_TOKEN", "alt-admin-token"),
        os.environ.get("ARKTOS_ADMIN_TOKEN", "admin-token"),
        url,
        os.environ.get("ARKTOS_CA") or None,
    )


BACKEND = selected_backend()
DEMO_TOKEN = BACKEND.demo_token
ALT_TOKEN = BACKEND.alt_token
ADMIN_TOKEN = BACKEND.admin_token
# Fixtures that put a test on the selected Arktos (counted in the closing summary line).
STACK_FIXTURES = frozenset({"stack", "make_stack"})


class RealArktos:
    """The session's hold on a real Arktos: the processor's credential and the running node agent."""

    def __init__(self, backend: Backend, workdir: Path) -> None:
        assert backend.arktos_url is not None
        self.backend = backend
        url, ca, admin = backend.arktos_url, backend.arktos_ca, backend.admin_token
        self.gateway_token = provision(url, ca, admin, "openstack-gateway", GATEWAY_RULES)
        token_file = workdir / "node-agent.token"
        token_file.write_text(provision(url, ca, admin, "arktos-node-agent", NODE_AGENT_RULES))
        token_file.chmod(0o600)
        argv = [
            sys.executable,
            "-m",
            "arktos_sim.node_agent",
            "--arktos-url",
            url,
            "--token-file",
            str(token_file),
        ]
        argv += ["--vm-boot-seconds", "0.5", "--verbose"] + (["--ca", ca] if ca else [])
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
        self.agent = Child("node_agent", argv, workdir / "logs" / "node_agent.log", env=env, cwd=REPO_ROOT)
        self.agent.start()
        wait_until(
            "the node agent", lambda: b"node agent ready" in self.agent.log_path.read_bytes(), self.agent, 120
        )

    def stop(self) -> None:
        self.agent.stop()


class StackFactory:
    """Builds stacks on the selected backend (a test that needs a stack of its own uses this)."""

    def __init__(self, backend: Backend, real: RealArktos | None) -> None:
        self.backend = backend
        self.real = real

    def __call__(self, workdir: Path, **kwargs: Any) -> Stack:
        tokens = (self.backend.demo_token, self.backend.admin_token)
        if self.real is None:
            kwargs.setdefault("vm_boot_seconds", 0.5)
            return Stack(workdir=workdir, cloud_tokens=tokens, **kwargs)
        kwargs.pop("tls", None)  # the real Arktos serves what it serves
        kwargs.pop("vm_boot_seconds", None)  # the node agent's, set once for the session
        kwargs.pop("sim_watch_delay_seconds", None)  # a real Arktos's watches lag as they do
        return Stack(
            workdir=workdir,
            arktos_url=self.backend.arktos_url,
            arktos_ca=self.backend.arktos_ca,
            arktos_token=self.real.gateway_token,
            cloud_tokens=tokens,
            **kwargs,
        )


@pytest.fixture(scope="session")
def backend() -> Backend:
    return BACKEND


@pytest.fixture(scope="session")
def make_stack(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFactory]:
    real = RealArktos(backend, tmp_path_factory.mktemp("arktos")) if backend.real else None
    try:
        yield StackFactory(backend, real)
    finally:
        if real is not None:
            real.stop()


@pytest.fixture(scope="session")
def stack(make_stack: StackFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not BACKEND.real:
        return
    for item in items:
        marker = item.get_closest_marker("sim_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "needs the simulator"
            item.add_marker(pytest.mark.skip(reason=f"simulator only: {reason}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
        # Counted in the closing summary line (tests/conftest.py), in this process or a pytest-xdist
        # controller: user_properties travel with the report.
        report.user_properties.append((ON_BACKEND_PROPERTY, True))


class OpenStackCLI:
    """Runs the real openstack CLI against the stack, as a user would after `make run`.

    The command runs in this process (python-openstackclient's ``shell.main``, the code behind the
    ``openstack`` script, with the same argv and environment): the e2e suite runs hundreds of commands, and
    a new interpreter per command spends 1-2 s of CPU importing the client and scanning its plugins before
    sending a request, most of ``make test``'s time. ``test_image_lifecycle.image_create`` still runs the
    ``openstack`` script itself (it needs a terminal as stdin).
    """

    def __init__(self, clouds_yaml: Path, cloud: str) -> None:
        self.env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(clouds_yaml), OS_CLOUD=cloud)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        code, stdout, stderr = run_openstack(list(args), self.env)
        proc = subprocess.CompletedProcess(["openstack", *args], code, stdout, stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-f", "json").stdout)


_OPENSTACK_LOCK = threading.Lock()


def run_openstack(argv: list[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    """``openstack ARGV`` with environment ``env``: (exit status, standard output, standard error).

    What a command changes in this process is put back afterwards: the environment, the streams, the root
    logger (osc adds a console handler per run), the warning filters, and the service clients osc caches
    on its ClientManager class (``forget_service_clients``). One command at a time (the environment and the
    streams are the process's).
    """
    from openstackclient import shell  # imported once, on the first command

    stdout, stderr = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    with _OPENSTACK_LOCK, warnings.catch_warnings():
        saved_env = dict(os.environ)
        saved_handlers, saved_level, saved_stdin = root.handlers[:], root.level, sys.stdin
        os.environ.clear()
        os.environ.update(env)
        # No terminal and nothing to read, as for a command run with its input redirected from /dev/null.
        sys.stdin = io.StringIO("")
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                try:
                    code = shell.main(argv)
                except SystemExit as exited:  # argparse's usage errors
                    code = exited.code if isinstance(exited.code, int) else int(exited.code is not None)
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)
            sys.stdin = saved_stdin
            forget_service_clients()
    return code, stdout.getvalue(), stderr.getvalue()


def forget_service_clients() -> None:
    """osc keeps each service's client (built with the first command's session, so its user, project and
    token) in a ``ClientCache`` descriptor on the ClientManager CLASS: in one process the next command, of
    another user, would reuse it. A new process starts without them; so does the next command here."""
    from osc_lib import clientmanager

    for attribute in vars(clientmanager.ClientManager).values():
        if isinstance(attribute, clientmanager.ClientCache):
            attribute._handle = None


@pytest.fixture(scope="session")
def conn(stack: Stack) -> Iterator[openstack.connection.Connection]:
    """openstacksdk, configured from the clouds.yaml that `make run` writes (cloud `arktos`)."""
    region = OpenStackConfig(config_files=[str(stack.clouds_yaml)]).get_one(cloud="arktos")
    connection = openstack.connection.Connection(config=region)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def cli(stack: Stack) -> OpenStackCLI:
    return OpenStackCLI(stack.clouds_yaml, "arktos")


@pytest.fixture(scope="session")
def admin_cli(stack: Stack) -> OpenStackCLI:
    return OpenStackCLI(stack.clouds_yaml, "arktos-admin")


def issue_token(public_url: str, arktos_token: str, project: str | None) -> requests.Response:
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {"name": "someone", "domain": {"name": "Default"}, "password": arktos_token}
            },
        }
    }
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
    return requests.post(f"{public_url}/identity/v3/auth/tokens", json={"auth": auth}, timeout=10)


class Api:
    """Raw HTTP against the gateway with one user's token, for exact shape checks."""

    def __init__(self, public_url: str, token: str | None, project: str | None) -> None:
        self.public_url = public_url
        self.compute = f"{public_url}/compute/v2.1" + (f"/{project}" if project else "")
        self.session = requests.Session()
        if token is not None:
            self.session.headers["X-Auth-Token"] = token

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self._url(path), timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self._url(path), timeout=30, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.delete(self._url(path), timeout=30, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.put(self._url(path), timeout=30, **kwargs)

    def _url(self, path: str) -> str:
        # "/servers..." is relative to this user's compute endpoint; a path naming a service (or anything
        # else starting at the root, like "/api/v1/...") is relative to the public URL.
        if path.startswith("http"):
            return path
        compute = ("servers", "flavors", "images", "limits", "os-availability-zone", "os-keypairs")
        if path.split("/")[1] in compute:
            return f"{self.compute}{path}"
        return f"{self.public_url}{path}"


def wait_deleted(api: Api, server_id: str, timeout: float = 30.0) -> requests.Response:
    """After a DELETE: Nova shows the server with task_state ``deleting`` until it is gone (Arktos keeps a
    VM pod with deletionTimestamp until its node confirms); returns the final 404 reply."""
    deadline = time.monotonic() + timeout
    while True:
        reply = api.get(f"/servers/{server_id}")
        if reply.status_code == 404:
            return reply
        assert reply.status_code == 200, reply.text
        assert reply.json()["server"]["OS-EXT-STS:task_state"] == "deleting", reply.text
        assert time.monotonic() < deadline, f"server {server_id} never went away"
        time.sleep(0.1)


@pytest.fixture(scope="session")
def demo_api(stack: Stack) -> Api:
    return Api(stack.public_url, DEMO_TOKEN, "demo")


@pytest.fixture(scope="session")
def alt_api(stack: Stack) -> Api:
    return Api(stack.public_url, ALT_TOKEN, "alt")


class ArktosAdmin:
    """Arktos itself (the simulator or the real one) with the administrator's token, bypassing the gateway:
    to set a tenant up behind its back, or to see what it left there."""

    def __init__(self, stack: Stack) -> None:
        self.url = stack.arktos_url
        self.session = requests.Session()
        # REQUESTS_CA_BUNDLE would win over the session's CA: the stack's Arktos CA is the one to trust.
        self.session.trust_env = False
        self.session.verify = str(stack.ca_path) if stack.ca_path else True
        self.session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"

    def get(self, path: str) -> Any:
        resp = self.session.get(self.url + path, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def configmaps(self, tenant: str) -> str:
        return f"{self.url}/api/v1/tenants/{tenant}/namespaces/default/configmaps"

    def put_configmap(self, tenant: str, name: str, data: dict[str, Any]) -> None:
        """Creates or replaces ConfigMap ``name``, each value JSON-encoded (as the gateway's catalogs are)."""
        body = {"metadata": {"name": name}, "data": {k: json.dumps(v) for k, v in data.items()}}
        existing = self.session.get(f"{self.configmaps(tenant)}/{name}", timeout=10)
        if existing.status_code == 200:
            body["metadata"]["resourceVersion"] = existing.json()["metadata"]["resourceVersion"]
            reply = self.session.put(f"{self.configmaps(tenant)}/{name}", json=body, timeout=10)
        else:
            reply = self.session.post(self.configmaps(tenant), json=body, timeout=10)
        assert reply.status_code in (200, 201), reply.text

    def delete_configmap(self, tenant: str, name: str) -> None:
        reply = self.session.delete(f"{self.configmaps(tenant)}/{name}", timeout=10)
        assert reply.status_code in (200, 404), reply.text
