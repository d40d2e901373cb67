"""Client JSON bodies, parsed with bounds: how deep a body may nest.

orjson parses up to 1024 levels; everything after it (jsonschema's validation and its error messages, which
``repr`` the offending value) recurses once per level and would hit Python's recursion limit on a body such
as ``{"server": [[[[...]]]]}`` nested a thousand deep: a 500 for a client's mistake. No OpenStack request body
nests more than a handful of levels, so a body deeper than ``MAX_DEPTH`` is refused as malformed, the way a
body that is not JSON is.
"""

from __future__ import annotations

from typing import Any

import orjson

# Nova's deepest bodies (block_device_mapping_v2 entries, networks) nest about five levels.
MAX_DEPTH = 32


class TooDeep(orjson.JSONDecodeError):
    """A body nested deeper than ``MAX_DEPTH`` (an ``orjson.JSONDecodeError``, so callers treat it alike)."""


def depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True if ``value`` (parsed JSON) nests containers more than ``limit`` levels deep; no recursion."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def loads(body: bytes) -> Any:
    """``body`` parsed; raises ``orjson.JSONDecodeError`` if it is no JSON or nests too deeply."""
    value = orjson.loads(body)
    if depth_exceeds(value):
        raise TooDeep(f"the body nests deeper than {MAX_DEPTH} levels", "", 0)
    return value
