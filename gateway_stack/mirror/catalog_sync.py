"""Both sides' flavor and image catalogs, read by the recorder so that ids are mapped by name even when the
client never listed them (``openstack server create --image <id>``).

Once per project (and again when a copy names a flavor or image the map does not know, at most every
``refresh_seconds``), the recorder reads ``/compute/v2.1/flavors/detail`` and ``/image/v2/images`` from the
primary with the client's own token and from the shadow with the mapped Arktos token, and teaches the id map
the two catalogs (``IdMap.learn_catalog``). Reads only, off the client's path (the recorder's worker);
bounded: at most ``MAX_PAGES`` Glance pages of ``PAGE_SIZE`` images per side.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from gateway_stack.mirror.idmap import IdMap, Kind

FLAVORS_PATH = "/compute/v2.1/flavors/detail"
IMAGES_PATH = "/image/v2/images"
PAGE_SIZE = 1000
MAX_PAGES = 5
DEFAULT_REFRESH_SECONDS = 30.0

# (path, query, token) -> (status, JSON body or None)
Reader = Callable[[str, str, str], Awaitable[tuple[int, Any]]]


def _list(body: Any, key: str) -> list[Mapping[str, Any]]:
    items = body.get(key) if isinstance(body, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


async def read_flavors(read: Reader, token: str) -> list[Mapping[str, Any]]:
    status, body = await read(FLAVORS_PATH, "is_public=None", token)
    return _list(body, "flavors") if status == 200 else []


async def read_images(read: Reader, token: str) -> list[Mapping[str, Any]]:
    images: list[Mapping[str, Any]] = []
    query = f"limit={PAGE_SIZE}"
    for _ in range(MAX_PAGES):
        status, body = await read(IMAGES_PATH, query, token)
        if status != 200:
            break
        images += _list(body, "images")
        following = body.get("next") if isinstance(body, dict) else None
        if not isinstance(following, str) or not following:
            break
        # Glance's ``next`` is a path with the marker; only its query is used (the path is known).
        query = urlsplit(following).query
        if not query:
            break
    return images


class CatalogSync:
    """When to read the two catalogs again, per project (a pure clock decision plus the reads)."""

    def __init__(
        self, refresh_seconds: float = DEFAULT_REFRESH_SECONDS, clock: Callable[[], float] = time.monotonic
    ):
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._last: dict[str, float] = {}

    def due(self, project: str, unmapped: bool) -> bool:
        """True the first time a project is seen, and when ids went unmapped after ``refresh_seconds``."""
        last = self._last.get(project)
        if last is None:
            return True
        return unmapped and self.clock() - last >= self.refresh_seconds

    async def sync(
        self,
        project: str,
        idmap: IdMap,
        primary: tuple[Reader, str],
        shadow: tuple[Reader, str],
    ) -> None:
        self._last[project] = self.clock()
        primary_read, primary_token = primary
        shadow_read, shadow_token = shadow
        idmap.learn_catalog(
            Kind.FLAVOR,
            await read_flavors(primary_read, primary_token),
            await read_flavors(shadow_read, shadow_token),
        )
        idmap.learn_catalog(
            Kind.IMAGE,
            await read_images(primary_read, primary_token),
            await read_images(shadow_read, shadow_token),
        )


def names_unmapped_catalog_ids(unmapped: tuple[str, ...]) -> bool:
    """True when a rewrite left a flavor or image id unmapped (``IdMap``'s "no shadow id for ..." notes)."""
    return any(f"primary's {kind} " in note for note in unmapped for kind in (Kind.FLAVOR, Kind.IMAGE))
