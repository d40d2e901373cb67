"""The failover scenario: two processors behind one Envoy, one killed under load, then restarted.

A separate stack (``Stack(processors=2)``) serves a steady load of ``GET /flavors`` (a cheap request every
processor answers) from ``CONNECTIONS`` threads. At ``kill_at`` seconds processor 2 is killed (SIGKILL); at
``restart_at`` it is started again on its port, and the load goes on for the rest of the run. Reported:
requests and their statuses, the 503s (the fail-closed answer for the requests in flight on the dead
processor, or sent to it before Envoy noticed), the time from the kill to the last 503 (recovery), any
other error, and the requests processor 2 answered after its restart (it rejoined). Counts only: no target
is asserted on them (bench/README.md).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from gateway_stack import Stack

CONNECTIONS = 8
FLAVORS = "/compute/v2.1/demo/flavors"


def requests_logged(log: Path) -> int:
    """The requests a processor answered, from its log (one structured JSON line per request)."""
    try:
        lines = log.read_text().splitlines()
    except FileNotFoundError:
        return 0
    count = 0
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        count += isinstance(event, dict) and event.get("event") == "request"
    return count


def run_failover(workdir: Path, seconds: float) -> dict[str, Any]:
    seconds = max(seconds, 4.0)
    kill_at, restart_at = seconds * 0.25, seconds * 0.6
    answers: list[tuple[float, int]] = []  # (seconds since start, status; 0: no answer)
    lock = threading.Lock()
    with Stack(workdir=workdir, vm_boot_seconds=0.1, processors=2) as stack:
        url = stack.public_url + FLAVORS
        started = time.monotonic()
        stop = threading.Event()

        def client() -> None:
            session = requests.Session()
            session.headers["X-Auth-Token"] = "demo-token"
            while not stop.is_set():
                try:
                    status = session.get(url, timeout=10).status_code
                except requests.RequestException:
                    status = 0
                with lock:
                    answers.append((time.monotonic() - started, status))

        threads = [threading.Thread(target=client, daemon=True) for _ in range(CONNECTIONS)]
        for thread in threads:
            thread.start()
        time.sleep(kill_at)
        stack.kill_replica(0)
        killed = time.monotonic() - started
        time.sleep(max(0.0, restart_at - killed))
        stack.start_replica(0)  # returns once it serves (a processor takes seconds to start)
        restarted = time.monotonic() - started
        logged_at_restart = requests_logged(stack.replica_logs[0])
        # The load goes on after the restart, so that the restarted processor can show it rejoined.
        time.sleep(max(seconds - restart_at, 2.0))
        stop.set()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        rejoined = requests_logged(stack.replica_logs[0]) - logged_at_restart
    statuses = Counter(status for _, status in answers)
    failed = [t for t, status in answers if status == 503 and t >= killed]
    return {
        "processors": 2,
        "connections": CONNECTIONS,
        "seconds": round(seconds, 1),
        "killed_at_s": round(killed, 2),
        "restarted_at_s": round(restarted, 2),
        "requests": len(answers),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "fail_closed_503": statuses.get(503, 0),
        "other_errors": sum(v for k, v in statuses.items() if k not in (200, 503)),
        "recovery_s": round(max(failed) - killed, 3) if failed else 0.0,
        "served_while_one_was_down": sum(
            1 for t, status in answers if killed <= t < restarted and status == 200
        ),
        "requests_to_restarted_processor": rejoined,
    }
