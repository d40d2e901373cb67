"""The closing summary line of the end-to-end tests: how many ran against which Arktos.

Here rather than in tests/e2e/conftest.py because under pytest-xdist (``make test``) the controller that
prints the summary collects no tests, so it never loads the e2e conftest; it receives every worker's reports,
and the e2e conftest marks the reports of tests that ran on a stack (``ON_BACKEND_PROPERTY``).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

ON_BACKEND_PROPERTY = "e2e_backend"
_ON_BACKEND: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if (ON_BACKEND_PROPERTY, True) not in report.user_properties:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _ON_BACKEND[report.nodeid] = report.outcome


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ON_BACKEND:
        return
    counts = {o: sum(1 for v in _ON_BACKEND.values() if v == o) for o in ("passed", "failed", "skipped")}
    real = os.environ.get("E2E_BACKEND", "sim") == "arktos"
    where = f"the real Arktos at {os.environ.get('ARKTOS_URL')}" if real else "the Arktos simulator"
    ran = counts["passed"] + counts["failed"]
    terminalreporter.write_line(
        f"e2e backend: {ran} e2e tests ran against {where} "
        f"({counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped)",
        bold=True,
    )
