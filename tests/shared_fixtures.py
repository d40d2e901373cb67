"""Where the recorded exchanges live: ``tests/fixtures``, copied from the project's shared reference
(``shared/fixtures``, recorded from a real Arktos and a real DevStack) so that a fresh clone tests alone."""

from __future__ import annotations

from pathlib import Path

SHARED_FIXTURES = Path(__file__).resolve().parent / "fixtures"
ARKTOS_FIXTURES = SHARED_FIXTURES / "arktos"
DEVSTACK_FIXTURES = SHARED_FIXTURES / "devstack"
