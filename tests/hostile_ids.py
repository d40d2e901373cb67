"""Ids that try to leave a collection, smuggle a query or a fragment, or are just too long: the unit tests
check the route table refuses them, the end-to-end tests that nothing reaches Arktos."""

from __future__ import annotations

HOSTILE_IDS = [
    "..",
    "%2E%2E",
    "..%2F..%2F..%2Fapi%2Fv1%2Ftenants%2Fall%2Fpods",
    "abc%2Fdef",
    "abc%2fdef",
    "abc%3Fwatch=true",
    "abc%23frag",
    "abc%00",
    "abc%20def",
    "ABC",
    "a" * 300,
    "abc;def",
    "%252F",
]
