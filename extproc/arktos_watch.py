"""One list+watch loop ("reflector") for any Arktos collection path, with the processor's own credential.

Every watch of the processor (the catalog's ConfigMaps, the cluster cache's pods, Actions and ReplicaSets)
is a ``Reflector``. It calls Arktos's tenant-aware paths (``/api/v1/tenants/all/...``) through the
processor's ``ArktosConnection`` (``extproc.arktos_http``: URL, TLS, the processor's bearer token):

1. list the path (in pages of ``page_size`` with ``limit``/``continue``) and hand every item to
   ``on_list(items)``, which replaces what the consumer knew;
2. watch from the list's resourceVersion: each ADDED/MODIFIED/DELETED event goes to
   ``on_event(type, object)``; BOOKMARK only advances the resourceVersion. ``on_progress(resourceVersion)``
   (optional) hears the list's resourceVersion and each bookmark's: how far the watch has got even when
   no object changed (the cluster cache compares it with the versions of the processor's own writes);
3. on 410 Gone (or an ERROR event), or any connection error: relist, with exponential backoff after
   failures; a watch the server closes normally (its timeout) is resumed from the last resourceVersion.
   Never raises: the processor keeps serving with what it has. ``on_broken()`` (optional) hears the
   moment a watch or list fails, before the relist: what the consumer holds may then be behind Arktos
   until the next ``on_list`` (the cluster cache counts the resource as unsynced meanwhile).

Memory: every object handed on is parsed by orjson (which shares the key strings of all objects it parses)
and its string values are interned (``shared_strings``): the processor keeps every VM pod of every tenant
(10,000 pods: 161 MB with one ``json.loads`` per watch event, 77 MB this way, bench/README.md lever (r1)),
and most of a pod's values are the same in every pod (image, flavor, resources, node, condition names...).
The mirror then keeps VM pods without the fields no reader uses (``watch_mirror.UNREAD_POD_FIELDS``, (r7)).

It runs in a daemon thread (the connection is blocking). Consumer calls go through ``apply``, which
defaults to calling them directly; the processor passes a function that runs them on its asyncio loop, so
translators never see state changing under them.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import structlog
import urllib3

from extproc.arktos_http import ArktosConnection

log = structlog.get_logger("extproc.arktos_watch")

Json = dict[str, Any]
ListHandler = Callable[[list[Json]], None]
EventHandler = Callable[[str, Json], None]


class GoneError(Exception):
    """The resourceVersion is too old (HTTP 410 or a watch ERROR event with code 410)."""


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


def shared_strings(value: Any) -> Any:
    """``value`` (parsed JSON) with every string in it interned, changed in place: equal strings of all the
    objects kept become one object. Interned strings are freed with their last reference (CPython's
    interning is not immortal), so this holds on to nothing."""
    if type(value) is dict:
        for key, item in value.items():
            kind = type(item)
            if kind is str:
                value[key] = sys.intern(item)
            elif kind is dict or kind is list:
                shared_strings(item)
    elif type(value) is list:
        for index, item in enumerate(value):
            kind = type(item)
            if kind is str:
                value[index] = sys.intern(item)
            elif kind is dict or kind is list:
                shared_strings(item)
    return value


def parse(data: bytes) -> Any:
    """One JSON document from Arktos, its strings shared (``shared_strings``). orjson refuses a few things
    Go never writes but ``json`` takes (a lone surrogate escape, NaN): those documents are read by ``json``
    rather than dropped. (orjson reads an integer beyond 64 bits as a float; Kubernetes has none.)"""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        doc = json.loads(data)
    return shared_strings(doc)


class Reflector:
    def __init__(
        self,
        api_client: ArktosConnection,
        path: str,
        on_list: ListHandler,
        on_event: EventHandler,
        *,
        name: str = "",
        apply: Callable[[Callable[[], None]], None] | None = None,
        watch_timeout_seconds: int = 300,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        request_timeout: float = 30.0,
        page_size: int = 500,
        on_progress: Callable[[str], None] | None = None,
        on_broken: Callable[[], None] | None = None,
    ) -> None:
        self.api = api_client
        self.path = path
        self.name = name or path
        self.on_list = on_list
        self.on_event = on_event
        self.on_progress = on_progress
        self.on_broken = on_broken
        self.apply = apply or (lambda fn: fn())
        self.watch_timeout_seconds = watch_timeout_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.request_timeout = request_timeout
        self.page_size = page_size
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resp: Any = None
        # Set after each successful list (tests and readiness checks wait on it).
        self.synced = threading.Event()
        self.lists = 0
        self.events = 0

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"watch {self.name}", daemon=True)
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
                log.info("watch_gone", watch=self.name, detail="resourceVersion expired; relisting")
                self._broken()
                continue
            except Exception as exc:
                if self._stop.is_set():
                    break
                self._broken()
                delay = min(self.backoff_max, backoff) * (0.5 + random.random() / 2)
                log.warning("watch_error", watch=self.name, error=repr(exc), retry_in_s=round(delay, 2))
                self._stop.wait(delay)
                backoff = min(self.backoff_max, backoff * 2)

    def _request(self, query: list[tuple[str, str]], read_timeout: float) -> Any:
        raw = self.api.request(
            "GET",
            self.path,
            query=query,
            headers={"Accept": "application/json"},
            timeout=urllib3.Timeout(connect=self.request_timeout, read=read_timeout),
            preload_content=False,
        )
        if raw.status == 410:
            raw.release_conn()
            raise GoneError()
        if raw.status != 200:
            body = raw.data[:300]
            raw.release_conn()
            raise RuntimeError(f"GET {self.path}: HTTP {raw.status}: {body!r}")
        return raw

    def relist(self) -> str:
        """List everything (page by page), hand it to ``on_list``; the list's resourceVersion."""
        items: list[Json] = []
        token = ""
        while True:
            query = [("limit", str(self.page_size))]
            if token:
                query.append(("continue", token))
            raw = self._request(query, self.request_timeout)
            try:
                doc = parse(raw.data)
            finally:
                raw.release_conn()
            items.extend(i for i in doc.get("items") or [] if isinstance(i, dict))
            meta = doc.get("metadata") or {}
            rv = str(meta.get("resourceVersion") or "")
            token = str(meta.get("continue") or "")
            if not token:
                break
        self.apply(lambda: self.on_list(items))
        self._progress(rv)
        self.lists += 1
        self.synced.set()
        log.info("watch_synced", watch=self.name, items=len(items), resource_version=rv)
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
            # stop() sets the flag, then shuts down whatever _resp it sees: checking the flag after
            # publishing _resp closes the window where stop() came before the watch response existed.
            if self._stop.is_set():
                return rv
            for line in _lines(raw):
                if self._stop.is_set():
                    break
                rv = self._event(parse(line), rv)
        finally:
            self._resp = None
            raw.release_conn()
        return rv

    def _event(self, event: Json, rv: str) -> str:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise GoneError()
            raise RuntimeError(f"watch error: {obj.get('message')!r}")
        new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
        if kind in ("ADDED", "MODIFIED", "DELETED") and isinstance(obj, dict):
            event_type = str(kind)
            self.apply(lambda: self.on_event(event_type, obj))
            self.events += 1
        elif kind == "BOOKMARK":
            self._progress(new_rv)
        return new_rv

    def _broken(self) -> None:
        callback = self.on_broken
        if callback is not None:
            self.apply(callback)

    def _progress(self, rv: str) -> None:
        callback = self.on_progress
        if callback is not None and rv:
            self.apply(lambda: callback(rv))
