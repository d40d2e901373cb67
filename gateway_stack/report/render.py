"""``report.json`` rendered for people: a terminal table and one self-contained HTML page.

Both read only the JSON document ``Summary.to_json`` makes, so the three outputs never disagree. Every value
from a capture is escaped in the HTML (bodies come from the clouds, requests from clients).
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

_MAX_CELL = 48


def _pct(part: int, whole: int) -> str:
    return "-" if whole == 0 else f"{100 * part / whole:.0f}%"


def _short(value: Any, limit: int = _MAX_CELL) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(difference: dict[str, Any], side: str) -> str:
    """A side's value in a differences table: JSON, or "(absent)" for the side without the key."""
    absent = (difference["kind"], side) in (("missing", "shadow"), ("extra", "primary"))
    return "(absent)" if absent else _short(json.dumps(difference[side], ensure_ascii=False), 80)


def _top_places(endpoint: dict[str, Any], n: int = 3) -> str:
    places = [f"{d['kind']} {d['path']} x{d['count']}" for d in endpoint["differences"][:n]]
    more = len(endpoint["differences"]) - n
    return "; ".join(places) + (f"; +{more} more" if more > 0 else "")


def terminal_table(report: dict[str, Any]) -> str:
    """The per-endpoint table, worst first, and the totals (plain text, fits a wide terminal)."""
    totals = report["totals"]
    rows = [("endpoint", "n", "status agree", "identical", "where they differ (worst first)")]
    for e in report["endpoints"]:
        rows.append(
            (
                e["endpoint"],
                str(e["exchanges"]),
                f"{e['status_agree']}/{e['paired']} {_pct(e['status_agree'], e['paired'])}",
                f"{e['identical']}/{e['paired']}",
                _top_places(e)
                or ("-" if e["paired"] else "not paired: " + (", ".join(e["notes"]) or "no reply")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[i].ljust(widths[i]) for i in range(4)] + [row[4]]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 30)
    lines.append("")
    lines.append(
        f"{totals['exchanges']} exchanges, {totals['paired']} paired, "
        f"status agrees in {totals['status_agree']}, identical (after the rules) {totals['identical']}, "
        f"different {totals['with_differences']}, not paired {totals['unpaired']}"
    )
    excused = ", ".join(f"{r['name']} {r['excused']}" for r in report["rules"] if r["excused"])
    lines.append(f"excused by rule: {excused or 'none'}")
    return "\n".join(lines) + "\n"


_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2329; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 22px 0 6px; font-family: ui-monospace, monospace; }
.meta { color: #5b6670; margin-bottom: 16px; }
.totals { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0 20px; }
.box { border: 1px solid #d5dbe0; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.box b { display: block; font-size: 20px; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #e3e7ea; padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f7; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
.bad { background: #fde8e8; } .warn { background: #fff6df; } .good { background: #e9f7ec; }
.side { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; }
.side pre { background: #f7f8fa; border: 1px solid #e3e7ea; padding: 8px; overflow: auto;
  max-height: 420px; margin: 0; }
.kind-missing { color: #b42318; } .kind-type { color: #b54708; } .kind-value { color: #175cd3; }
.kind-extra { color: #5b6670; }
"""


def _row_class(e: dict[str, Any]) -> str:
    if not e["paired"]:
        return ""
    if e["status_agree"] < e["paired"]:
        return "bad"
    return "good" if e["identical"] == e["paired"] else "warn"


def _anchor(endpoint: str) -> str:
    return "ep-" + "".join(c if c.isalnum() else "-" for c in endpoint)


def _json_block(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"$text"}:
        return escape(str(value["$text"]))
    return escape(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


def html_page(report: dict[str, Any]) -> str:
    """One HTML page: totals, the endpoint table worst first, the rules, then each endpoint's details."""
    t = report["totals"]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Nova compatibility report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Compatibility report: primary (Nova) vs shadow (Arktos gateway)</h1>",
        f"<div class='meta'>{escape(report['source'])} · generated {escape(report['generated'])}</div>",
        "<div class='totals'>",
    ]
    for label, value in (
        ("exchanges", t["exchanges"]),
        ("paired", t["paired"]),
        ("status agrees", f"{t['status_agree']} ({_pct(t['status_agree'], t['paired'])})"),
        ("identical after rules", f"{t['identical']} ({_pct(t['identical'], t['paired'])})"),
        ("with differences", t["with_differences"]),
        ("not paired", t["unpaired"]),
    ):
        out.append(f"<div class='box'><b>{escape(str(value))}</b>{escape(label)}</div>")
    out.append("</div><h2>Endpoints, worst first</h2><table><tr><th>endpoint</th><th>exchanges</th>")
    out.append("<th>status agrees</th><th>identical</th><th>statuses (primary / shadow)</th>")
    out.append("<th>where the answers differ</th></tr>")
    for e in report["endpoints"]:
        statuses = ", ".join(f"{k} x{v}" for k, v in e["statuses"].items())
        out.append(
            f"<tr class='{_row_class(e)}'><td><a href='#{_anchor(e['endpoint'])}'><code>"
            f"{escape(e['endpoint'])}</code></a></td><td class='num'>{e['exchanges']}</td>"
            f"<td class='num'>{e['status_agree']}/{e['paired']}</td>"
            f"<td class='num'>{e['identical']}/{e['paired']}</td><td>{escape(statuses)}</td>"
            f"<td>{escape(_top_places(e))}</td></tr>"
        )
    out.append("</table><h2>Rules: values that must differ, not counted</h2><table>")
    out.append("<tr><th>rule</th><th>what it excuses</th><th>excused</th></tr>")
    for r in report["rules"]:
        out.append(
            f"<tr><td>{escape(r['name'])}</td><td>{escape(r['description'])}</td>"
            f"<td class='num'>{r['excused']}</td></tr>"
        )
    out.append("</table>")
    for e in report["endpoints"]:
        out.append(f"<h3 id='{_anchor(e['endpoint'])}'>{escape(e['endpoint'])}</h3>")
        if e["notes"]:
            notes = "".join(f"<li>{escape(k)} x{v}</li>" for k, v in e["notes"].items())
            out.append(f"<ul>{notes}</ul>")
        if e["differences"]:
            out.append(
                "<table><tr><th>where</th><th>kind</th><th>times</th><th>primary</th><th>shadow</th></tr>"
            )
            for d in e["differences"]:
                out.append(
                    f"<tr><td><code>{escape(d['path'])}</code></td><td class='kind-{escape(d['kind'])}'>"
                    f"{escape(d['kind'])}</td><td class='num'>{d['count']}</td>"
                    f"<td><code>{escape(_cell(d, 'primary'))}</code></td>"
                    f"<td><code>{escape(_cell(d, 'shadow'))}</code></td></tr>"
                )
            out.append("</table>")
        for x in e["examples"]:
            out.append(
                f"<p>exchange <code>{escape(x['id'])}</code>: primary {x['primary']['status']}, "
                f"shadow {x['shadow']['status']}</p><div class='side'>"
                f"<div><b>primary</b><pre>{_json_block(x['primary']['body'])}</pre></div>"
                f"<div><b>shadow</b><pre>{_json_block(x['shadow']['body'])}</pre></div></div>"
            )
    out.append("</body></html>\n")
    return "".join(out)
