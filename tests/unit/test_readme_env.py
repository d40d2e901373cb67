"""README's "Environment variables" table names every variable `make run` reads (found in the code)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# os.environ.get("X"), os.environ["X"], and the launchers' own helpers _env("X") / _int_env("X").
ENV_READ = re.compile(
    r"""(?:environ(?:\.get)?\(|environ\[|\b_env\(|\b_int_env\()\s*["']([A-Z][A-Z0-9_]+)["']"""
)
# What `make run` starts: the Makefile, the launcher and the programs it runs (they inherit its environment).
SOURCES = ("gateway_stack", "extproc", "arktos_sim")


def variables_read() -> set[str]:
    names: set[str] = set()
    for package in SOURCES:
        for path in (REPO / package).rglob("*.py"):
            names.update(ENV_READ.findall(path.read_text()))
    names.update(re.findall(r"^([A-Z][A-Z0-9_]*)\s*\?=", (REPO / "Makefile").read_text(), re.M))
    return names


def readme_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Environment variables")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_readme_lists_every_variable_make_run_reads() -> None:
    names = variables_read()
    # The scan itself must find the launcher's variables, or this test could not fail.
    assert {"GATEWAY_PORT", "GATEWAY_ADMIN_PORT", "ARKTOS_URL", "PYTHON"} <= names
    listed = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", readme_section(), re.M))
    assert sorted(names - listed) == []
