"""``extproc.bounded_memo.BoundedMemo``: the store under the page and catalog memos."""

from __future__ import annotations

from extproc.bounded_memo import BoundedMemo


def memo(
    capacity: int = 3, max_bytes: int = 100, max_item_bytes: int | None = None
) -> BoundedMemo[str, bytes]:
    return BoundedMemo(capacity, max_bytes, len, max_item_bytes)


def test_the_first_stored_goes_first_past_the_entries() -> None:
    m = memo()
    for key in "abcd":
        m.put(key, b"x")
    assert list(m) == ["b", "c", "d"] and m.size_bytes == 3


def test_a_touched_entry_goes_last() -> None:
    m = memo()
    for key in "abc":
        m.put(key, b"x")
    m.touch("a")
    m.put("d", b"x")
    assert list(m) == ["c", "a", "d"]


def test_the_oldest_go_until_the_bytes_fit() -> None:
    m = memo(capacity=10, max_bytes=10)
    m.put("a", b"1234")
    m.put("b", b"1234")
    m.put("c", b"12345")
    assert list(m) == ["b", "c"] and m.size_bytes == 9


def test_a_value_too_big_is_not_kept_and_drops_what_its_key_held() -> None:
    m = memo(max_bytes=10, max_item_bytes=4)
    m.put("a", b"1234")
    m.put("b", b"12")
    m.put("a", b"12345")
    assert m.get("a") is None and list(m) == ["b"] and m.size_bytes == 2


def test_a_new_value_replaces_the_old_in_the_byte_count() -> None:
    m = memo()
    m.put("a", b"1234")
    m.put("a", b"12")
    assert m.get("a") == b"12" and m.size_bytes == 2 and len(m) == 1
    m.clear()
    assert len(m) == 0 and m.size_bytes == 0


def test_capacity_zero_keeps_nothing() -> None:
    m = memo(capacity=0)
    m.put("a", b"x")
    assert len(m) == 0 and m.size_bytes == 0
