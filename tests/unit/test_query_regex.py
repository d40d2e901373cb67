"""The server list's regex filters (``name``, ``ip``, ``ip6``): Nova's validation, linear-time matching."""

from __future__ import annotations

import pytest

from extproc.compute import server_list
from tests.unit.server_doubles import as_forward, ctx, fault, ids, listing, pod_list, request, vm_pod

# Backtracking needs 2**n steps for "(a+)+$" against n "a"s and a mismatch at the end: ~26 already stall
# Python's ``re`` for seconds; 100,000 would take longer than the universe has. RE2 answers in milliseconds.
CATASTROPHIC = "(a+)+$"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("length", [26, 100_000])
def test_catastrophic_pattern_runs_in_linear_time(length: int) -> None:
    pods = [
        vm_pod("s1", "2024-01-01T00:00:01Z", "a" * length + "!"),
        vm_pod("s2", "2024-01-01T00:00:02Z", "a" * length),
    ]
    assert ids(listing(pods=pods, name=CATASTROPHIC)) == ["s2"]
    assert ids(listing(pods=pods, name="a+!")) == ["s1"]


@pytest.mark.timeout(20)
def test_catastrophic_ip_pattern_runs_in_linear_time() -> None:
    pods = [vm_pod("s1", "2024-01-01T00:00:01Z", "web", ip="1" * 100_000 + "x")]
    assert ids(listing(pods=pods, ip="(1+)+$")) == []


def refusal(**query: str) -> tuple[int, str, str]:
    outcome = server_list.list_servers(ctx(), request("GET", "/compute/v2.1/demo/servers", **query), {})
    assert not hasattr(outcome, "upstream"), "a refused filter must not reach Arktos"
    return fault(outcome)  # type: ignore[arg-type]


@pytest.mark.parametrize(("parameter", "pattern"), [("name", "web-(1"), ("ip", "10.[0"), ("ip6", "*")])
def test_invalid_regex_is_novas_400(parameter: str, pattern: str) -> None:
    # nova/api/validation/validators.py: format "regex" is re.compile(); the query-parameter message.
    assert refusal(**{parameter: pattern}) == (
        400,
        "badRequest",
        f"Invalid input for query parameters {parameter}. Value: {pattern}. '{pattern}' is not a 'regex'",
    )


@pytest.mark.parametrize("pattern", [r"(a)\1", "web(?=-1)", "(?<!x)web", "a{1001}"])
def test_regex_needing_backtracking_is_refused_with_a_reason(pattern: str) -> None:
    status, name, message = refusal(name=pattern)
    assert (status, name) == (400, "badRequest")
    assert message.startswith(f"Invalid input for query parameters name. Value: {pattern}. ")
    assert "linear-time engine (RE2)" in message


def test_refusal_echoes_at_most_255_characters_of_the_pattern() -> None:
    pattern = "(" * 10_000
    status, _, message = refusal(name=pattern)
    assert status == 400
    assert message.count("(") == 2 * 255
    assert len(message) < 700


def test_python_syntax_that_re2_shares_still_filters() -> None:
    pods = [vm_pod("s1", "2024-01-01T00:00:01Z", "web-12"), vm_pod("s2", "2024-01-01T00:00:02Z", "Web-x")]
    assert ids(listing(pods=pods, name=r"^web-\d+$")) == ["s1"]
    assert ids(listing(pods=pods, name="(?i)^web")) == ["s2", "s1"]
    assert ids(listing(pods=pods, name="(?P<word>web)-[0-9]{2}")) == ["s1"]
    forward = as_forward(server_list.list_servers(ctx(), request("GET", "/", name="^Web"), {}))
    assert forward.translate(pod_list(pods)).status == 200
