"""How the reflectors read Arktos's JSON (``extproc.arktos_watch.parse``): the same values as ``json.loads``,
with equal strings shared between every object kept (the watch cache holds every VM pod of every tenant)."""

from __future__ import annotations

import json

import pytest

from extproc.arktos_watch import parse, shared_strings
from tests.shared_fixtures import ARKTOS_FIXTURES


def recorded_pod_list() -> bytes:
    """The body of a real Arktos pod list, as the bytes a list page or a watch event carries."""
    body = json.loads((ARKTOS_FIXTURES / "17-pod-list-alltenants-admin.json").read_text())["body"]
    return json.dumps(body).encode()


def test_values_are_what_json_reads() -> None:
    data = recorded_pod_list()
    assert parse(data) == json.loads(data)
    event = json.dumps({"type": "ADDED", "object": json.loads(data)["items"][0]}).encode()
    assert parse(event) == json.loads(event)


def test_equal_strings_of_separately_parsed_objects_are_one_object() -> None:
    # Two watch events (each line parsed on its own) of two pods with the same image, requests and node.
    pod = {
        "metadata": {"name": "a", "labels": {"app": "vm"}},
        "spec": {"virtualMachine": {"image": "cirros-0.5.2-x86_64-disk", "resources": {"cpu": "1"}}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "hostIP": "172.18.0.2"},
    }
    first = parse(json.dumps(pod).encode())
    pod["metadata"]["name"] = "b"
    second = parse(json.dumps(pod).encode())
    image = ("spec", "virtualMachine", "image")

    def at(obj: dict[str, object], path: tuple[str, ...]) -> object:
        for key in path:
            obj = obj[key]  # type: ignore[assignment]
        return obj

    assert at(first, image) is at(second, image)
    assert first["status"]["conditions"][0]["type"] is second["status"]["conditions"][0]["type"]
    assert first["status"]["hostIP"] is second["status"]["hostIP"]
    assert first["metadata"]["labels"]["app"] is second["metadata"]["labels"]["app"]
    assert (first["metadata"]["name"], second["metadata"]["name"]) == ("a", "b")


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": "\\ud800"}',  # a lone surrogate escape: json reads it, orjson does not
        b'{"a": NaN}',
    ],
)
def test_documents_orjson_refuses_are_read_as_json_reads_them(data: bytes) -> None:
    parsed = parse(data)
    expected = json.loads(data)
    assert repr(parsed) == repr(expected)


def test_64_bit_integers_are_exact() -> None:
    # Kubernetes's integers are at most 64 bits (Arktos's metadata.hashKey is an int64).
    data = b'{"hashKey": 9223372036854775807, "low": -9223372036854775808, "u": 18446744073709551615}'
    assert parse(data) == json.loads(data)


def test_broken_json_is_still_an_error() -> None:
    with pytest.raises(ValueError):
        parse(b'{"type": "ADDED", "object": {')


def test_strings_in_lists_and_nested_lists_are_shared() -> None:
    text = "node.kubernetes.io/not-ready"
    value = shared_strings([["".join(["node.kubernetes.io/", "not-ready"])], {"k": ["x" + "y"]}])
    assert value[0][0] is shared_strings(["".join(["node.kubernetes.io", "/not-ready"])])[0]
    assert value[0][0] == text
    assert value[1]["k"] == ["xy"]
