"""Reads in one exchange (issue 13 lever 1) never answer a token Arktos has not authorized for that tenant
and resource: a read is answered from the processor's caches only while Arktos's own 2xx to that token for
that very read is fresh (``--auth-cache-ttl``); anything else reaches Arktos, and what reached it is read
from the simulator's audit log (Envoy's access log on a real Arktos).

- within the TTL, repeated reads of a server, the flavors and Glance's images reach Arktos once each (a
  server list keeps its one-item authorizing probe: its resourceVersion says how fresh the cache must be);
  another tenant's token gets Arktos's 403 and an unknown token Arktos's 401, every time;
- a revoked token reads at most the TTL longer, then gets Arktos's 401;
- with TTL 0 every read reaches Arktos.
"""

from __future__ import annotations

import functools
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from gateway_stack import Stack
from gateway_stack.stack import SIM_TOKENS
from tests.e2e.conftest import ADMIN_TOKEN, ALT_TOKEN, DEMO_TOKEN, Api, StackFactory
from tests.polling import eventually

pytestmark = pytest.mark.e2e

# Long enough that no decision expires during a test on a loaded machine (expiry has its own test below).
LONG_TTL = "3600"
SHORT_TTL_SECONDS = 1.0
REVOCABLE_TOKEN = "revocable-token"
REVOCABLE_ROW = f'{REVOCABLE_TOKEN},revocable,revocable-uid,"",,demo\n'
READS = 5


def arktos_calls(stack: Stack, before: int, path_part: str) -> list[dict[str, object]]:
    """The requests that reached Arktos since ``before`` whose path contains ``path_part``."""
    return [e for e in stack.arktos_request_log()[before:] if path_part in str(e["path"])]


def create_server(api: Api) -> str:
    body = {"server": {"name": "authcache", "imageRef": "cirros-0.5.2-x86_64-disk", "flavorRef": "1"}}
    reply = api.post("/servers", json=body)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["server"]["id"])


def unseen(stack: Stack, read: Callable[[], requests.Response]) -> bool | None:
    """True if ``read`` was answered 200 without any request reaching Arktos."""
    before = len(stack.arktos_request_log())
    reply = read()
    assert reply.status_code == 200, reply.text
    return True if not stack.arktos_request_log()[before:] else None


def glance(stack: Stack, token: str) -> requests.Response:
    return requests.get(f"{stack.public_url}/image/v2/images", headers={"X-Auth-Token": token}, timeout=30)


@pytest.fixture(scope="module")
def cached_stack(make_stack: StackFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack(
        tmp_path_factory.mktemp("authcache"), processor_args=["--auth-cache-ttl", LONG_TTL]
    ) as running:
        yield running


@pytest.fixture(scope="module")
def uncached_stack(make_stack: StackFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack(
        tmp_path_factory.mktemp("noauthcache"), processor_args=["--auth-cache-ttl", "0"]
    ) as running:
        yield running


def test_a_read_arktos_allowed_is_answered_from_the_caches(cached_stack: Stack) -> None:
    demo = Api(cached_stack.public_url, DEMO_TOKEN, "demo")
    server = create_server(demo)
    # Demo's images ConfigMap exists once it has an image of its own (Glance's short path learns from a 2xx).
    image = {"name": "authcache", "disk_format": "qcow2", "container_format": "bare"}
    created = requests.post(
        f"{cached_stack.public_url}/image/v2/images",
        json=image,
        headers={"X-Auth-Token": DEMO_TOKEN},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    # Reads of a server that no longer changes (the node agent has booted it), watched with another token
    # (a read with demo's would be the decision this test starts from).
    admin = Api(cached_stack.public_url, ADMIN_TOKEN, "demo")
    eventually(
        "the server ACTIVE", lambda: admin.get(f"/servers/{server}").json()["server"]["status"] == "ACTIVE"
    )
    reads: dict[str, Callable[[], requests.Response]] = {
        f"/pods/{server}": lambda: demo.get(f"/servers/{server}"),
        # Demo has no flavors ConfigMap (a GET of it is 404 and proves nothing): Arktos is asked with a
        # SelfSubjectAccessReview of that GET instead.
        "/selfsubjectaccessreviews": lambda: demo.get("/flavors/detail"),
        "/configmaps/openstack-images": lambda: glance(cached_stack, DEMO_TOKEN),
    }
    for arktos_path, read in reads.items():
        # The first read reaches Arktos (the read itself, or its review); so may the next ones while the
        # watch has not applied the writes this processor relayed (read-your-writes): wait for the first
        # read Arktos did not see, then no read reaches it.
        before = len(cached_stack.arktos_request_log())
        assert read().status_code == 200
        assert len(arktos_calls(cached_stack, before, arktos_path)) == 1, arktos_path
        eventually(f"a read of {arktos_path} without Arktos", functools.partial(unseen, cached_stack, read))
        before = len(cached_stack.arktos_request_log())
        answers = [read() for _ in range(READS)]
        assert [a.status_code for a in answers] == [200] * READS, answers[-1].text
        assert all(a.json() == answers[0].json() for a in answers), arktos_path
        assert arktos_calls(cached_stack, before, "") == [], arktos_path


def test_another_tenant_and_an_unknown_token_are_refused_by_arktos_every_time(cached_stack: Stack) -> None:
    demo = Api(cached_stack.public_url, DEMO_TOKEN, "demo")
    server = create_server(demo)
    assert demo.get(f"/servers/{server}").status_code == 200  # demo's decision exists now
    alt_in_demo = Api(cached_stack.public_url, ALT_TOKEN, "demo")
    unknown = Api(cached_stack.public_url, "no-such-token", "demo")
    for api, status in ((alt_in_demo, 403), (unknown, 401)):
        before = len(cached_stack.arktos_request_log())
        for path in (f"/servers/{server}", "/servers/detail", "/flavors/detail"):
            codes = [api.get(path).status_code for _ in range(3)]
            assert codes == [status] * 3, (path, codes)
        # Each refusal is Arktos's: 3 x 3 requests reached it (the flavors' as a review of demo's ConfigMap).
        assert len(cached_stack.arktos_request_log()[before:]) == 9, status


def test_with_ttl_0_every_read_reaches_arktos(uncached_stack: Stack) -> None:
    demo = Api(uncached_stack.public_url, DEMO_TOKEN, "demo")
    server = create_server(demo)
    reads: dict[str, Callable[[], requests.Response]] = {
        f"/pods/{server}": lambda: demo.get(f"/servers/{server}"),
        "/default/pods": lambda: demo.get("/servers/detail"),
        "/configmaps/openstack-flavors": lambda: demo.get("/flavors/detail"),
        "/configmaps/openstack-images": lambda: glance(uncached_stack, DEMO_TOKEN),
    }
    for arktos_path, read in reads.items():
        before = len(uncached_stack.arktos_request_log())
        assert [read().status_code for _ in range(READS)] == [200] * READS
        calls = arktos_calls(uncached_stack, before, "")
        assert len(calls) == READS and all(arktos_path in str(c["path"]) for c in calls), calls


@pytest.mark.sim_only("revokes a token by rewriting the simulator's token file (SIGHUP)")
def test_a_revoked_token_is_refused_by_arktos_once_the_ttl_has_passed(
    make_stack: StackFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("revoke")
    tokens: Path = workdir / "tokens.csv"
    original = SIM_TOKENS.read_text()
    tokens.write_text(original.rstrip("\n") + "\n" + REVOCABLE_ROW)
    ttl = ["--auth-cache-ttl", str(SHORT_TTL_SECONDS)]
    with make_stack(workdir, processor_args=ttl, tokens_file=tokens) as stack:
        api = Api(stack.public_url, REVOCABLE_TOKEN, "demo")
        server = create_server(api)
        assert api.get(f"/servers/{server}").status_code == 200
        # Revoked in Arktos: the simulator re-reads its token file.
        tokens.write_text(original)
        assert stack.sim is not None
        stack.sim.signal(signal.SIGHUP)
        direct = requests.Session()
        direct.trust_env = False
        direct.verify = str(stack.ca_path) if stack.ca_path else True
        pod_url = f"{stack.arktos_url}/api/v1/tenants/demo/namespaces/default/pods/{server}"
        deadline = time.monotonic() + 30
        while direct.get(pod_url, headers={"Authorization": f"Bearer {REVOCABLE_TOKEN}"}).status_code != 401:
            assert time.monotonic() < deadline, "the simulator never reloaded its token file"
            time.sleep(0.05)
        # NOTE: until the TTL has passed the gateway may still answer from its caches (the documented
        # revocation latency); after it, Arktos decides again.
        time.sleep(SHORT_TTL_SECONDS + 0.5)
        before = len(stack.arktos_request_log())
        for path in (f"/servers/{server}", "/servers/detail", "/flavors/detail"):
            reply = api.get(path)
            assert reply.status_code == 401, (path, reply.text)
        assert glance(stack, REVOCABLE_TOKEN).status_code == 401
        refused = [e for e in stack.arktos_request_log()[before:] if e["user"] is None]
        assert len(refused) == 4, refused
