"""``python -m gateway_stack report SOURCE --out DIR``: the compatibility report of a capture or a session.

SOURCE is a capture directory (``python -m gateway_stack mirror --capture DIR`` wrote it), or a recorded
Nova session (a HAR file, or JSON Lines of request + reply) that is first replayed against the gateway
(``--gateway``, ``--token``). Writes ``report.json``, ``report.html`` and ``report.txt`` (the table also
printed) into DIR; a replay's capture goes to ``DIR/capture``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway_stack.mirror.idmap import IdMap
from gateway_stack.report.capture import ReadStats, read_capture
from gateway_stack.report.render import html_page, terminal_table
from gateway_stack.report.replay import Replay, SessionError, load_session, replay_to_capture
from gateway_stack.report.summary import summarize


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m gateway_stack report", description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="a capture directory, or a .har / .jsonl session to replay")
    ap.add_argument("--out", type=Path, required=True, help="directory for report.json, .html, .txt")
    ap.add_argument("--gateway", help="replay: the gateway's public URL (e.g. http://127.0.0.1:8080)")
    token = ap.add_mutually_exclusive_group()
    token.add_argument("--token", help="replay: the Arktos token the replayed requests carry")
    token.add_argument("--token-file", type=Path, help="replay: a file holding that token")
    ap.add_argument("--project", help="replay: the Arktos tenant the recorded project becomes")
    ap.add_argument("--ca", help="replay: CA bundle for an https gateway")
    ap.add_argument("--examples", type=int, default=2, help="side-by-side examples per endpoint (default 2)")
    ap.add_argument("--quiet", action="store_true", help="do not print the table")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    source: Path = args.source
    out: Path = args.out
    if source.is_dir():
        capture_dir = source
    elif source.is_file():
        token = args.token_file.read_text().strip() if args.token_file else args.token
        if not args.gateway or not token:
            print(
                "report: replaying a session needs --gateway and --token (or --token-file)", file=sys.stderr
            )
            return 2
        try:
            session = load_session(source)
        except (SessionError, OSError) as exc:
            print(f"report: {exc}", file=sys.stderr)
            return 2
        capture_dir = out / "capture"
        replay = Replay(args.gateway, token, args.project, args.ca or True)
        replay_to_capture(replay, session, capture_dir)
    else:
        print(f"report: {source}: no such capture directory or session file", file=sys.stderr)
        return 2
    stats = ReadStats()
    summary = summarize(read_capture(capture_dir, stats), IdMap(), max_examples=max(0, args.examples))
    summary.unreadable_lines = stats.unreadable_lines
    report = summary.to_json(str(source))
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    table = terminal_table(report)
    (out / "report.txt").write_text(table)
    (out / "report.html").write_text(html_page(report))
    if not args.quiet:
        print(table, end="")
        print(f"written: {out / 'report.json'}, {out / 'report.html'}, {out / 'report.txt'}")
    return 0
