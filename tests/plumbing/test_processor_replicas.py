"""Two processors behind one Envoy (``python -m gateway_stack --processors 2``), as ``make bench``'s failover
scenario drives them: both serve; a killed one costs only the requests it had in flight or was sent before
Envoy ejected it (the fail-closed 503, never another error), every later request is answered by the other,
and its replacement rejoins. Counts only, no timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.failover import CONNECTIONS, run_failover

pytestmark = pytest.mark.timeout(240)


def test_a_killed_processor_is_ejected_and_its_replacement_rejoins(tmp_path: Path) -> None:
    result = run_failover(tmp_path, seconds=4.0)
    assert result["other_errors"] == 0, result
    assert set(result["statuses"]) <= {"200", "503"}, result
    # In flight on the dead processor (one per connection at most), or sent to it before its ejection.
    assert result["fail_closed_503"] <= 2 * CONNECTIONS, result
    assert result["served_while_one_was_down"] > 0, result
    assert result["requests_to_restarted_processor"] > 0, result
