"""A self-contained HTML page for a validation report (no network assets).

Shows the verdict, counts per return code with their meanings, a small bar chart of
declared versus awarded amounts per claim status, and the rejected lines with their
codes. No personal data from the input appears on the page.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable

from .codes import return_codes
from .model import Record
from .validator import Report, Status, Verdict

_COLOURS = {Status.APPROVED: "#1b7f3b", Status.REJECTED_RECORDS: "#b26a00", Status.REJECTED_FILE: "#b3261e"}
_LABELS = {Status.APPROVED: "Approved", Status.REJECTED_RECORDS: "Rejected at record level",
           Status.REJECTED_FILE: "Rejected at file level"}


def amounts_by_status(report: Report, records: Iterable[Record]) -> dict[str, tuple[int, int]]:
    """(declared, awarded) signed cents per claim status, awarded as an insurer would pay."""
    sums: dict[str, list[int]] = {"approved": [0, 0], "rejected": [0, 0], "not assessed": [0, 0]}
    for rec in records:
        if rec.record_type != "04" or rec.layout is None or len(rec.raw) != rec.layout.length:
            continue
        try:
            declared = rec.get("declared_amount_signed") or 0
        except Exception:  # noqa: BLE001 - a broken amount counts as zero here
            declared = 0
        if report.status is Status.REJECTED_FILE:
            key = "rejected"
        else:
            key = {Verdict.APPROVED: "approved", Verdict.REJECTED: "rejected",
                   Verdict.NOT_ASSESSED: "not assessed"}[report.verdict(rec.line or 0)]
        sums[key][0] += declared
        if key == "approved" and report.status is not Status.REJECTED_FILE and report.mode == "insurer":
            sums[key][1] += declared
    return {k: (v[0], v[1]) for k, v in sums.items()}


def _euro(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}€ {cents // 100:,}.{cents % 100:02d}".replace(",", " ")


def _chart(amounts: dict[str, tuple[int, int]]) -> str:
    peak = max([abs(v) for pair in amounts.values() for v in pair] + [1])
    width, bar_h, gap = 420, 16, 14
    rows = []
    y = 10
    for label, (declared, awarded) in amounts.items():
        for name, value, colour in (("declared", declared, "#5b7db1"), ("awarded", awarded, "#1b7f3b")):
            w = int(abs(value) / peak * (width - 170))
            rows.append(f'<text x="0" y="{y + 12}" font-size="12">{html.escape(label)} – {name}</text>'
                        f'<rect x="160" y="{y}" width="{w}" height="{bar_h}" fill="{colour}"></rect>'
                        f'<text x="{165 + w}" y="{y + 12}" font-size="11">{html.escape(_euro(value))}</text>')
            y += bar_h + 4
        y += gap
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 120}" height="{y}" role="img" '
            f'aria-label="declared versus awarded per claim status">{"".join(rows)}</svg>')


def render(report: Report, records: Iterable[Record], *, title: str = "eicodec report",
           max_lines: int = 500) -> str:
    """The report as one HTML page. *records* are the file's records (for amounts)."""
    table = return_codes()
    amounts = amounts_by_status(report, records)
    status = report.status
    code_counts = report.code_counts()
    code_rows = "".join(
        f"<tr><td>{c}</td><td>{html.escape(table.meaning(c))}</td><td class=n>{n}</td></tr>"
        for c, n in sorted(code_counts.items()))
    finding_rows = []
    for f in sorted(report.findings, key=lambda x: (x.line or 0, x.code))[:max_lines]:
        finding_rows.append(
            f"<tr><td class=n>{f.line or ''}</td><td>{f.record_type or ''}</td><td>{f.rubric or ''}</td>"
            f"<td>{f.code}</td><td>{html.escape(f.message)}</td><td>{f.level}</td></tr>")
    more = len(report.findings) - max_lines
    more_note = f"<p>… and {more} more findings.</p>" if more > 0 else ""
    counts = ", ".join(f"{t}: {n}" for t, n in sorted(report.counts.items()))
    unassessed = ""
    if report.unassessed:  # STB §6.4.1: kept apart from the answer
        unassessed = (f'<h2>Not assessed</h2>\n<p id="unassessed">The file is rejected at file level, so no record '
                      f"was assessed (STB §6.4.1): {len(report.unassessed)} record-level finding(s) are not part "
                      "of the answer and not in the return file.</p>")
    verdict_counts = Counter(o.verdict.value for o in report.outcomes.values())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1d1d1f; max-width: 70rem; }}
.badge {{ display: inline-block; padding: .4rem .9rem; border-radius: .4rem; color: #fff;
          background: {_COLOURS[status]}; font-weight: 600; font-size: 1.2rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; font-size: .9rem; }}
td.n {{ text-align: right; }}
th {{ background: #f0f0f0; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p><span class="badge" id="verdict">{_LABELS[status]}</span></p>
<p>{html.escape(report.spec.name)} · mode {html.escape(report.mode)} · encoding {html.escape(report.encoding)}
 · records {html.escape(counts)}</p>
<p>Returned records: {verdict_counts.get('rejected', 0)} rejected, {verdict_counts.get('not_assessed', 0)}
 not assessed, {verdict_counts.get('approved', 0)} co-returned.</p>
<h2>Declared and awarded per claim status</h2>
{_chart(amounts)}
<h2>Return codes</h2>
<table id="codes"><tr><th>Code</th><th>Meaning (COD954)</th><th>Findings</th></tr>{code_rows}</table>
<h2>Findings</h2>
<table id="findings"><tr><th>Line</th><th>Record</th><th>Rubric</th><th>Code</th><th>Message</th><th>Level</th></tr>
{"".join(finding_rows)}</table>
{more_note}
{unassessed}
</body>
</html>
"""
