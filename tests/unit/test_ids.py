"""extproc.ids: what may become an Arktos path segment, and what may not."""

from __future__ import annotations

import pytest

from extproc import ids

GOOD_SERVER_IDS = [
    "bad005cf-17e1-48ad-b9f7-e9f9352beb13",
    "p1",
    "a",
    "0",
    "vm.example",
    "a-b.c-d",
    "a" * 253,
]

BAD_SERVER_IDS = [
    "",
    "..",
    ".",
    "a..b",
    ".abc",
    "abc.",
    "-abc",
    "abc-",
    "ABC",
    "Abc",
    "abc/def",
    "abc%2Fdef",
    "abc%2fdef",
    "%2E%2E",
    "..%2F..%2Fapi",
    "abc?watch=true",
    "abc%3Fwatch=true",
    "abc#frag",
    "abc%23frag",
    "abc def",
    "abc%20def",
    "my%20vm",
    "abc\n",
    "abc\t",
    "abc%00",
    "abc;def",
    "abc_def",
    "%252F",
    "a" * 254,
]


@pytest.mark.parametrize("value", GOOD_SERVER_IDS)
def test_valid_server_ids(value: str) -> None:
    assert ids.is_server_id(value)
    assert ids.server_id(value) == value


@pytest.mark.parametrize("value", BAD_SERVER_IDS)
def test_invalid_server_ids(value: str) -> None:
    assert not ids.is_server_id(value)
    assert ids.server_id(value) is None


@pytest.mark.parametrize("value", ["demo", "tenant1", "system", "a", "a" * 63, "t-1"])
def test_valid_project_ids(value: str) -> None:
    assert ids.project_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "a" * 64, "Demo", "de.mo", "-demo", "demo-", "de%2Fmo", "..", "de mo", "demo\n", "de_mo", "de/mo"],
)
def test_invalid_project_ids(value: str) -> None:
    assert ids.project_id(value) is None


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("1", "1"),
        ("m1.tiny", "m1.tiny"),
        ("m1%20tiny", "m1 tiny"),
        ("cirros-0.5.2-x86_64-disk", "cirros-0.5.2-x86_64-disk"),
        ("abc%2Fdef", "abc/def"),  # only ever compared with catalog entries, never put in a path
        ("%2E%2E", ".."),
    ],
)
def test_catalog_ids_are_decoded(raw: str, decoded: str) -> None:
    assert ids.catalog_id(raw) == decoded


@pytest.mark.parametrize("raw", ["", "abc%00", "abc%0A", "%7F", "%ff", "a" * 256, "%41" * 300])
def test_invalid_catalog_ids(raw: str) -> None:
    assert ids.catalog_id(raw) is None


@pytest.mark.parametrize(
    ("display", "vm_name"),
    [
        ("test-2", "test-2"),
        ("Test 2!", "test-2"),
        ("  My  VM  ", "my-vm"),
        ("vm_1.example", "vm-1-example"),
        ("---", "vm"),
        ("", "vm"),
        ("日本語", "vm"),
        ("a" * 70, "a" * 63),
        ("a" * 62 + "-b", "a" * 62),  # cut at 63 leaves a trailing "-", which is trimmed
    ],
)
def test_vm_name_is_a_dns_label(display: str, vm_name: str) -> None:
    name = ids.vm_name_from_display_name(display)
    assert name == vm_name
    assert ids.is_project_id(name)  # same DNS-1123 label rule


@pytest.mark.parametrize(
    ("value", "ok"), [("r-abc12345", True), ("", True), ("-r", False), ("a" * 64, False)]
)
def test_label_values(value: str, ok: bool) -> None:
    assert ids.is_label_value(value) is ok
