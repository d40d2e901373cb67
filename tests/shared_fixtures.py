"""Where the recorded exchanges live: ``../shared/fixtures`` beside the repository (as in CI)."""

from __future__ import annotations

from pathlib import Path

SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
ARKTOS_FIXTURES = SHARED_FIXTURES / "arktos"
DEVSTACK_FIXTURES = SHARED_FIXTURES / "devstack"
