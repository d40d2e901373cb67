"""One real stack (Arktos simulator over HTTPS, processor, Envoy) shared by the end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest
import requests
from openstack.config import OpenStackConfig

from gateway_stack import Stack

VENV_BIN = Path(sys.executable).parent
DEMO_TOKEN = "demo-token"
ALT_TOKEN = "alt-token"
ADMIN_TOKEN = "admin-token"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    with Stack(workdir=workdir, vm_boot_seconds=0.5) as running:
        yield running


class OpenStackCLI:
    """Runs the real `openstack` command against the stack, as a user would after `make run`."""

    def __init__(self, clouds_yaml: Path, cloud: str) -> None:
        self.env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(clouds_yaml), OS_CLOUD=cloud)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(VENV_BIN / "openstack"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-f", "json").stdout)


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


@pytest.fixture(scope="session")
def demo_api(stack: Stack) -> Api:
    return Api(stack.public_url, DEMO_TOKEN, "demo")


@pytest.fixture(scope="session")
def alt_api(stack: Stack) -> Api:
    return Api(stack.public_url, ALT_TOKEN, "alt")
