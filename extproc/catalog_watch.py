"""Keep a ``CatalogStore`` fresh from Arktos ConfigMaps (flavors and images of every tenant).

Uses the official ``kubernetes`` client for configuration, TLS and authentication (the processor's own
bearer token), but calls Arktos's tenant-aware path ``/api/v1/tenants/all/configmaps`` directly through
``ApiClient.param_serialize`` / ``call_api`` (the generated client has no tenant-aware methods):

1. list (all tenants), keep the ConfigMaps named ``openstack-flavors`` / ``openstack-images`` and hand
   them to ``store.replace_all``;
2. watch from the list's resourceVersion: ADDED/MODIFIED -> ``set_configmap(tenant, name, data)``,
   DELETED -> ``set_configmap(tenant, name, None)``; BOOKMARK only advances the resourceVersion;
3. on 410 Gone (or an ERROR event), a closed watch, or any connection error: relist, with exponential
   backoff after failures. Never raises: the processor keeps serving with what it has.

Runs in a daemon thread (the kubernetes client is blocking). Store updates go through ``apply``, which
defaults to calling the store directly; the processor passes a function that runs them on its asyncio
loop, so translators never see a store changing under them.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import structlog
from kubernetes import client as k8s

from extproc.annotations import FLAVORS_CONFIGMAP, IMAGES_CONFIGMAP

log = structlog.get_logger("extproc.catalog_watch")

CONFIGMAPS_PATH = "/api/v1/tenants/all/configmaps"
WATCHED_NAMES = frozenset({FLAVORS_CONFIGMAP, IMAGES_CONFIGMAP})

Entry = tuple[str, str, dict[str, str]]


class StoreLike:
    """What the watch needs from ``extproc.catalog.CatalogStore`` (documentation only)."""

    def set_configmap(self, tenant: str, name: str, data: dict[str, str] | None) -> None: ...

    def replace_all(self, entries: Iterable[Entry]) -> None: ...


class GoneError(Exception):
    """The resourceVersion is too old (HTTP 410 or a watch ERROR event with code 410)."""


def make_api_client(
    url: str, token: str | None = None, ca_file: str | None = None, verify: bool = True
) -> k8s.ApiClient:
    """A kubernetes ApiClient for Arktos at ``url`` with a bearer token and an optional CA bundle."""
    cfg = k8s.Configuration(host=url.rstrip("/"))
    if token:
        cfg.api_key = {"authorization": token}
        cfg.api_key_prefix = {"authorization": "Bearer"}
    if ca_file:
        cfg.ssl_ca_cert = ca_file
    cfg.verify_ssl = verify
    return k8s.ApiClient(cfg)


def _wanted(obj: dict[str, Any]) -> Entry | None:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if name not in WATCHED_NAMES:
        return None
    tenant = meta.get("tenant") or "system"
    data = obj.get("data") or {}
    return tenant, name, {str(k): str(v) for k, v in data.items()}


def _lines(resp: Any) -> Iterator[bytes]:
    """Complete lines of a streaming urllib3 response."""
    pending = b""
    for chunk in resp.stream(64 * 1024, decode_content=True):
        pending += chunk
        while True:
            nl = pending.find(b"\n")
            if nl < 0:
                break
            line, pending = pending[:nl], pending[nl + 1 :]
            if line.strip():
                yield line
    if pending.strip():
        yield pending


class CatalogWatch:
    def __init__(
        self,
        store: Any,
        api_client: k8s.ApiClient,
        apply: Callable[[Callable[[], None]], None] | None = None,
        watch_timeout_seconds: int = 300,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        request_timeout: float = 30.0,
    ) -> None:
        self.store = store
        self.api = api_client
        self.apply = apply or (lambda fn: fn())
        self.watch_timeout_seconds = watch_timeout_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.request_timeout = request_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resp: Any = None
        # Set after each successful list (tests and readiness checks wait on it).
        self.synced = threading.Event()
        self.lists = 0
        self.events = 0

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="catalog-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        resp = self._resp
        if resp is not None:
            # Unblocks a watch read in progress.
            try:
                resp.shutdown()
            except Exception:
                with contextlib.suppress(Exception):
                    resp.release_conn()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the loop -----------------------------------------------------------------------------------

    def run(self) -> None:
        backoff = self.backoff_initial
        while not self._stop.is_set():
            try:
                rv = self.relist()
                backoff = self.backoff_initial
                while not self._stop.is_set():
                    rv = self.watch(rv)
            except GoneError:
                log.info("catalog_watch_gone", detail="resourceVersion expired; relisting")
                continue
            except Exception as exc:
                if self._stop.is_set():
                    break
                delay = min(self.backoff_max, backoff) * (0.5 + random.random() / 2)
                log.warning("catalog_watch_error", error=repr(exc), retry_in_s=round(delay, 2))
                self._stop.wait(delay)
                backoff = min(self.backoff_max, backoff * 2)

    def _request(self, query: list[tuple[str, str]], read_timeout: float) -> Any:
        method, url, headers, _body, _post = self.api.param_serialize(
            "GET",
            CONFIGMAPS_PATH,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        resp = self.api.call_api(
            method, url, header_params=headers, _request_timeout=(self.request_timeout, read_timeout)
        )
        raw = resp.response
        if resp.status == 410:
            raw.release_conn()
            raise GoneError()
        if resp.status != 200:
            body = raw.data[:300]
            raw.release_conn()
            raise RuntimeError(f"GET {CONFIGMAPS_PATH}: HTTP {resp.status}: {body!r}")
        return raw

    def relist(self) -> str:
        """List every tenant's ConfigMaps, replace the store's contents; the list's resourceVersion."""
        raw = self._request([], self.request_timeout)
        try:
            doc = json.loads(raw.data)
        finally:
            raw.release_conn()
        entries = [e for e in map(_wanted, doc.get("items") or []) if e is not None]
        self.apply(lambda: self.store.replace_all(entries))
        self.lists += 1
        self.synced.set()
        rv = str((doc.get("metadata") or {}).get("resourceVersion") or "")
        log.info("catalog_synced", configmaps=len(entries), resource_version=rv)
        return rv

    def watch(self, rv: str) -> str:
        """Follow one watch request until the server ends it; the last resourceVersion seen."""
        query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self.watch_timeout_seconds)),
        ]
        if rv:
            query.append(("resourceVersion", rv))
        raw = self._request(query, self.watch_timeout_seconds + 30)
        self._resp = raw
        try:
            for line in _lines(raw):
                if self._stop.is_set():
                    break
                rv = self._event(json.loads(line), rv)
        finally:
            self._resp = None
            raw.release_conn()
        return rv

    def _event(self, event: dict[str, Any], rv: str) -> str:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise GoneError()
            raise RuntimeError(f"watch error: {obj.get('message')!r}")
        new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            entry = _wanted(obj)
            if entry is not None:
                tenant, name, data = entry
                value = None if kind == "DELETED" else data
                self.apply(lambda: self.store.set_configmap(tenant, name, value))
                self.events += 1
                log.info("catalog_changed", tenant=tenant, name=name, change=kind)
        return new_rv
