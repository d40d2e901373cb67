"""Nova's regular-expression query filters (``name``, ``ip``, ``ip6`` of a server list), run in linear time.

Nova validates these parameters as Python regexes (``format: regex`` in its query schema: an invalid one is a
400 ``Invalid input for query parameters name. Value: vm(1. 'vm(1' is not a 'regex'``) and lets the database
match them. The gateway matches them itself, on the processor's only event loop, against every server of the
scope: Python's backtracking ``re`` would let one request such as ``name=(a+)+$`` against a server named
``aaa…a!`` run for minutes and stall every tenant. So patterns run on RE2 (``google-re2``), whose matching
time is linear in the text, and whose compiled program is bounded in memory (``max_mem``).

Where RE2 differs from Python's ``re`` (README, "Server list filters"):
- a pattern must first be a valid Python regex (Nova's rule, same 400 message);
- constructs that need backtracking (backreferences ``\\1``, lookahead/lookbehind ``(?=``, ``(?<!``...,
  conditionals, possessive or atomic groups) and repetition counts above 1000 are refused with a 400 that
  says so, instead of being run;
- ``\\d``, ``\\w``, ``\\s``, ``\\b`` are ASCII classes in RE2 (Python's are Unicode-aware); use ``\\pN``,
  ``\\pL`` for non-ASCII digits or letters;
- ``$`` matches only at the end of the text (Python's also before a final newline; names cannot contain one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import re2

from extproc.errors import echo

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # refused patterns are the client's business, not the processor's log
_OPTIONS.never_capture = True  # the filters only ask "does it match": no submatch bookkeeping


class Pattern(Protocol):
    """What a compiled filter offers: ``search`` (Nova's filters match anywhere in the value)."""

    def search(self, text: str) -> object | None: ...


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a filter pattern is not accepted: Nova's 400 message."""

    message: str


def compile_filter(parameter: str, pattern: str) -> Pattern | Refused:
    """``pattern`` compiled for linear-time matching, or the 400 message Nova-like validation gives."""
    shown = echo(pattern)
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError):
        return Refused(
            f"Invalid input for query parameters {parameter}. Value: {shown}. '{shown}' is not a 'regex'"
        )
    try:
        compiled: Pattern = re2.compile(pattern, _OPTIONS)
    except re2.error:
        return Refused(
            f"Invalid input for query parameters {parameter}. Value: {shown}. '{shown}' is a regex this "
            "cloud does not run: filters use a linear-time engine (RE2), without backreferences, "
            "lookaround or repetition counts above 1000."
        )
    return compiled
