"""A self-contained HTML page for a validation report (one file, no network assets).

Written for the person who has to act on it: a pharmacy finding the claim that was
rejected, or an insurer's analyst. It shows the verdict in words, when and how the file
was checked (date, mode, eicodec version), declared versus awarded amounts per claim
status in Dutch money format, and per finding the line, its insured's line, the claim's
reference (the rubric the rules file makes unique per claim, 0445 in AP304), the rubric
and its name, the COD954 code with its Dutch meaning, and the message. No personal data
from the input appears on the page (messages hold values only with ``show_values``).
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from .codes import return_codes
from .findings import Finding, Report, Status, Verdict
from .masking import Masker
from .model import Record

_COLOURS = {Status.APPROVED: "#1b7f3b", Status.REJECTED_RECORDS: "#b26a00", Status.REJECTED_FILE: "#b3261e"}
_LABELS = {Status.APPROVED: "Approved", Status.REJECTED_RECORDS: "Rejected at record level",
           Status.REJECTED_FILE: "Rejected at file level"}
_VERDICT_TEXT = {
    Status.APPROVED: "Every record passed every check. Nothing needs to be done.",
    Status.REJECTED_RECORDS: "The file was accepted, but some records were rejected. Correct the rejected "
                             "claim lines below and declare them again in a new file.",
    Status.REJECTED_FILE: "The whole file was rejected: none of its claim lines was assessed. Correct the "
                          "file-level problems below and send the whole file again.",
}
_MODES = {"insurer": "insurer (a rejected insured rejects its claim lines; only rejected lines are returned)",
          "vecozo": "VECOZO (every record assessed; approved lines are not awarded by VECOZO)"}
STATUSES = ("approved", "rejected", "not assessed")


def euro(cents: int) -> str:
    """Dutch money format: ``euro(4660) == "€ 46,60"``, ``euro(-123456) == "€ -1.234,56"``."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"€ {sign}{whole:,}".replace(",", ".") + f",{part:02d}"


class LineFacts(NamedTuple):
    """What the page tells about a record with a finding: its insured's line and claim reference."""

    insured_line: int | None
    reference: str | None


class Totals(NamedTuple):
    lines: int
    declared: int
    awarded: int


def reference_rubric(report: Report) -> str | None:
    """The rubric that identifies a claim line for the sender (from the rules data: the
    rubric of ``record.reference_unique``; 0445 in AP304), or None for other standards."""
    from .rules import rules_for

    try:
        rule = rules_for(report.spec).rules.get("record.reference_unique")
    except Exception:  # noqa: BLE001 - a standard without a rules file has no such rubric
        return None
    return rule.rubrics[0] if rule is not None and rule.rubrics else None


def _claim_status(report: Report, line: int) -> str:
    if report.status is Status.REJECTED_FILE:
        return "rejected"
    return {Verdict.APPROVED: "approved", Verdict.REJECTED: "rejected",
            Verdict.NOT_ASSESSED: "not assessed"}[report.verdict(line)]


def scan(report: Report, records: Iterable[Record]) -> tuple[dict[str, Totals], dict[int, LineFacts]]:
    """One pass over the file's records: totals per claim status (declared and awarded
    signed cents, as an insurer would pay) and the facts of each line that has a finding."""
    spec = report.spec
    ref_rubric = reference_rubric(report)
    masker = Masker(spec)
    group_types = {t for t in spec.detail_types if spec.records[t].parent is None and t != spec.comment}
    lines_wanted = {f.line for f in report.findings if f.line}
    sums = {k: [0, 0, 0] for k in STATUSES}
    facts: dict[int, LineFacts] = {}
    group_line: int | None = None
    last_reference: str | None = None
    for rec in records:
        t = rec.record_type
        whole = rec.layout is not None and len(rec.raw) == rec.layout.length
        if t in group_types:
            group_line = rec.line
            last_reference = None
        reference = None
        if whole and ref_rubric is not None and rec.layout is not None and ref_rubric in rec.layout.by_rubric:
            ref_field = rec.layout.by_rubric[ref_rubric]
            hide = masker.hidden_raw(rec.layout, rec.raw)  # (a line that is not what it claims shows nothing)
            shown = hide is not None and ref_field.attr not in hide
            reference = (rec.raw[ref_field.slice].strip() or None) if shown else None
            last_reference = reference
        elif t == spec.comment:
            reference = last_reference  # a comment belongs to the record before it
        if rec.line in lines_wanted:
            facts[rec.line] = LineFacts(group_line if t not in (spec.header, spec.trailer) else None, reference)
        if not whole or rec.layout is None or "declared_amount_signed" not in rec.layout.signed:
            continue
        try:
            declared = rec.get("declared_amount_signed") or 0
        except Exception:  # noqa: BLE001 - a broken amount counts as zero here
            declared = 0
        key = _claim_status(report, rec.line or 0)
        sums[key][0] += 1
        sums[key][1] += declared
        if key == "approved" and report.mode == "insurer":
            sums[key][2] += declared
    return {k: Totals(*v) for k, v in sums.items()}, facts


def amounts_by_status(report: Report, records: Iterable[Record]) -> dict[str, tuple[int, int]]:
    """(declared, awarded) signed cents per claim status, awarded as an insurer would pay."""
    totals, _ = scan(report, records)
    return {k: (v.declared, v.awarded) for k, v in totals.items()}


def _chart(totals: dict[str, Totals]) -> str:
    peak = max([abs(v) for t in totals.values() for v in (t.declared, t.awarded)] + [1])
    width, bar_h, gap = 420, 16, 14
    rows = []
    y = 10
    for label, t in totals.items():
        for name, value, colour in (("declared", t.declared, "#5b7db1"), ("awarded", t.awarded, "#1b7f3b")):
            w = int(abs(value) / peak * (width - 170))
            rows.append(f'<text x="0" y="{y + 12}" font-size="12">{html.escape(label)} – {name}</text>'
                        f'<rect x="160" y="{y}" width="{w}" height="{bar_h}" fill="{colour}"></rect>'
                        f'<text x="{165 + w}" y="{y + 12}" font-size="11">{html.escape(euro(value))}</text>')
            y += bar_h + 4
        y += gap
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 140}" height="{y}" role="img" '
            f'aria-label="declared versus awarded per claim status">{"".join(rows)}</svg>')


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _field_name(report: Report, f: Finding) -> str:
    if not f.rubric:
        return ""
    for lay in report.spec.records.values():
        field = lay.by_rubric.get(f.rubric)
        if field is not None:
            return field.name
    return ""


def _totals_table(totals: dict[str, Totals], report: Report) -> str:
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td class=n>{t.lines}</td><td class=n>{_e(euro(t.declared))}</td>"
        f"<td class=n>{_e(euro(t.awarded))}</td></tr>" for k, t in totals.items())
    all_lines = sum(t.lines for t in totals.values())
    sum_row = (f"<tr class=sum><td>total</td><td class=n>{all_lines}</td>"
               f"<td class=n>{_e(euro(sum(t.declared for t in totals.values())))}</td>"
               f"<td class=n>{_e(euro(sum(t.awarded for t in totals.values())))}</td></tr>")
    note = ("Awarded: what an insurer pays as declared for the approved lines (an insurer may still "
            "correct prices in its return file)." if report.mode == "insurer" else
            "VECOZO checks files but awards nothing, so awarded is zero in this mode.")
    return (f'<table id="totals"><tr><th>Claim lines</th><th>Number</th><th>Declared</th><th>Awarded</th></tr>'
            f"{rows}{sum_row}</table><p class=note>{_e(note)}</p>")


def _returned(report: Report) -> str:
    verdicts = Counter(o.verdict.value for o in report.outcomes.values())
    if report.status is Status.REJECTED_FILE:
        return ("<p id=returned>The whole file is returned: it was rejected as a whole, so no record in it "
                "was assessed.</p>")
    if report.status is Status.APPROVED:
        return "<p id=returned>No records are returned: nothing was rejected.</p>"
    return (f"<p id=returned>Returned records: {verdicts.get('rejected', 0)} rejected, "
            f"{verdicts.get('not_assessed', 0)} not assessed, {verdicts.get('approved', 0)} co-returned.</p>"
            "<p class=note><b>Rejected</b>: the record has a finding below. <b>Not assessed</b>: the record "
            "was not checked because a record it belongs to was rejected (e.g. the claim lines of a "
            "rejected insured); declare it again with the corrected record. <b>Co-returned</b>: an approved "
            "record that goes back in the return file only to give a rejected record its context (such as "
            "the insured of a rejected claim line, or a comment); it needs no action.</p>")


def render(report: Report, records: Iterable[Record], *, title: str = "eicodec report",
           max_lines: int = 500, checked_on: dt.date | None = None) -> str:
    """The report as one HTML page. *records* are the file's records (for amounts,
    references and insured lines); *checked_on* the date the file was checked against."""
    from ._version import __version__

    table = return_codes()
    totals, facts = scan(report, records)
    status = report.status
    ref_rubric = reference_rubric(report)
    code_counts = report.code_counts()
    if code_counts:
        codes_html = ('<table id="codes"><tr><th>Code</th><th>Meaning (COD954)</th><th>Findings</th></tr>'
                      + "".join(f"<tr><td>{c}</td><td>{_e(table.meaning(c))}</td><td class=n>{n}</td></tr>"
                                for c, n in sorted(code_counts.items())) + "</table>")
    else:
        codes_html = '<p class=empty id="codes-empty">No return codes: nothing to correct.</p>'
    ordered = sorted(report.findings, key=lambda x: (x.level != "file", x.line or 0, x.code))
    rows = []
    for f in ordered[:max_lines]:
        fact = facts.get(f.line or 0, LineFacts(None, None))
        name = _field_name(report, f)
        rows.append(
            f"<tr class={f.level}><td class=n>{_e(f.line) if f.line else 'file'}</td><td>{_e(f.record_type)}</td>"
            f"<td class=n>{_e(fact.insured_line)}</td><td>{_e(fact.reference)}</td>"
            f"<td>{_e(f.rubric)}{'<br><small>' + _e(name) + '</small>' if name else ''}</td>"
            f"<td>{_e(f.code)}</td><td lang=nl>{_e(f.meaning)}</td><td>{_e(f.message)}</td><td>{_e(f.level)}</td></tr>")
    more = len(ordered) - max_lines
    more_note = (f"<p>… and {more} more findings (all of them: <code>eicodec validate FILE --format jsonl</code>)."
                 "</p>" if more > 0 else "")
    ref_head = f"Claim reference ({ref_rubric})" if ref_rubric else "Claim reference"
    group_types = [t for t in report.spec.detail_types
                   if report.spec.records[t].parent is None and t != report.spec.comment]
    group = report.spec.records[group_types[0]] if group_types else None
    ref_field = next((lay.by_rubric[ref_rubric] for lay in report.spec.records.values()
                      if ref_rubric and ref_rubric in lay.by_rubric), None)
    legend = ["<b>Line</b>: the record's line in the file."]
    if group is not None:
        legend.append(f"<b>Insured line</b>: the line of the {_e(group.name.lower())} ({_e(group.type)}) "
                      "the record belongs to.")
    if ref_field is not None:
        legend.append(f"<b>Claim reference</b>: {_e(ref_field.name.lower())} ({_e(ref_field.rubric)}), "
                      "the sender's own number for the claim line.")
    if rows:
        findings_html = (
            f'<table id="findings"><tr><th>Line</th><th>Record</th><th>Insured line</th><th>{_e(ref_head)}</th>'
            f"<th>Rubric</th><th>Code</th><th>Meaning (COD954)</th><th>Message</th><th>Level</th></tr>"
            f"{''.join(rows)}</table>{more_note}<p class=note id=legend>{' '.join(legend)}</p>")
    else:
        findings_html = '<p class=empty id="findings-empty">No findings: every record passed every check.</p>'
    counts = ", ".join(f"{t}: {n}" for t, n in sorted(report.counts.items()))
    checked = checked_on.isoformat() if checked_on else "today"
    unassessed = ""
    if report.unassessed:  # STB §6.4.1: kept apart from the answer
        unassessed = (f'<h2>Not assessed</h2>\n<p id="unassessed">The file is rejected at file level, so no record '
                      f"was assessed (STB §6.4.1): {len(report.unassessed)} record-level finding(s) are not part "
                      "of the answer and not in the return file.</p>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="eicodec {_e(__version__)}">
<title>{_e(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1d1d1f; max-width: 80rem; }}
.badge {{ display: inline-block; padding: .4rem .9rem; border-radius: .4rem; color: #fff;
          background: {_COLOURS[status]}; font-weight: 600; font-size: 1.2rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; font-size: .9rem; vertical-align: top; }}
td.n {{ text-align: right; white-space: nowrap; }}
th {{ background: #f0f0f0; }}
tr.file td {{ background: #fdecea; }}
tr.sum td {{ font-weight: 600; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }}
dt {{ font-weight: 600; }}
.note, small {{ color: #555; }}
.empty {{ padding: .6rem .9rem; background: #eef6ee; border-left: 4px solid #1b7f3b; }}
</style>
</head>
<body>
<h1>{_e(title)}</h1>
<p><span class="badge" id="verdict">{_LABELS[status]}</span></p>
<p id="verdict-text">{_e(_VERDICT_TEXT[status])}</p>
<dl id="about">
<dt>Message</dt><dd>{_e(report.spec.name)} ({_e(report.spec.title)})</dd>
<dt>Checked on</dt><dd id="checked-on">{_e(checked)} (dates in the file are checked against this date)</dd>
<dt>Mode</dt><dd id="mode">{_e(_MODES.get(report.mode, report.mode))}</dd>
<dt>Checked by</dt><dd id="version">eicodec {_e(__version__)}</dd>
<dt>Encoding</dt><dd>{_e(report.encoding)}</dd>
<dt>Records</dt><dd>{_e(counts)}</dd>
<dt>Fingerprint</dt><dd><code>{_e(report.fingerprint)}</code></dd>
</dl>
{_returned(report)}
<h2>Declared and awarded per claim status</h2>
{_totals_table(totals, report)}
{_chart(totals)}
<h2>Return codes</h2>
{codes_html}
<h2>Findings</h2>
{findings_html}
{unassessed}
</body>
</html>
"""
