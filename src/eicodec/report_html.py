"""A self-contained HTML page for a validation report (one file, no network assets).

Written for the person who has to act on it: a pharmacy finding the claim that was
rejected (in Dutch, the default) or an insurer's analyst (``lang="en"``). It shows the
verdict in words, when and how the file was checked (date, mode, eicodec version),
declared debit and credit apart from awarded amounts per claim status in Dutch money
format, and per finding the line, its insured's line, the claim's reference (the rubric
the rules file makes unique per claim, 0445 in AP304), the rubric and its name, the
COD954 code with its Dutch meaning, the message and the wrong value, unless the field
holds personal data (``personal`` in the spec). Technical facts (encoding, record counts,
fingerprint) sit in a collapsed block. The words come from ``report_text.toml``.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple

from .codes import return_codes
from .findings import Finding, Report, Status, Verdict
from .masking import Masker
from .messages_nl import catalogue, check_lang, translate
from .model import Record

_COLOURS = {Status.APPROVED: "#1b7f3b", Status.REJECTED_RECORDS: "#b26a00", Status.REJECTED_FILE: "#b3261e"}
STATUSES = ("approved", "rejected", "not assessed")


class Text:
    """The report's words in one language (from ``report_text.toml``), and its translation
    of the engine's English finding messages (Dutch; English stays as it is)."""

    def __init__(self, lang: str) -> None:
        table = catalogue()[check_lang(lang)]
        self.lang = lang
        self.words: dict[str, str] = {k: v for k, v in table.items() if isinstance(v, str)}

    def __getitem__(self, key: str) -> str:
        return self.words[key]

    def message(self, text: str) -> tuple[str, bool]:
        """*text* in this language, and whether it is (False: left in English)."""
        return translate(text, self.lang)


def euro(cents: int) -> str:
    """Dutch money format: ``euro(4660) == "€ 46,60"``, ``euro(-123456) == "€ -1.234,56"``."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"€ {sign}{whole:,}".replace(",", ".") + f",{part:02d}"


class LineFacts(NamedTuple):
    """What the page tells about a record with a finding: its insured's line, claim
    reference, and the text of its fields that have a finding (rubric -> value), None for
    a field a masked view hides (personal, or in a line that does not fit its layout:
    see :mod:`eicodec.masking`)."""

    insured_line: int | None
    reference: str | None
    values: Mapping[str, str | None] = MappingProxyType({})


class Totals(NamedTuple):
    """Claim lines of one status: their number, declared debit and credit (both as
    positive cents, never netted) and the signed awarded amount."""

    lines: int
    debit: int
    credit: int
    awarded: int

    @property
    def declared(self) -> int:
        """The signed declared amount (debit minus credit)."""
        return self.debit - self.credit


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
    """One pass over the file's records: totals per claim status (declared debit and
    credit, awarded signed cents as an insurer would pay) and the facts of each line that
    has a finding."""
    spec = report.spec
    ref_rubric = reference_rubric(report)
    masker = Masker(spec)
    group_types = {t for t in spec.detail_types if spec.records[t].parent is None and t != spec.comment}
    lines_wanted: dict[int, set[str]] = {}
    for f in report.findings:
        if f.line:
            lines_wanted.setdefault(f.line, set()).add(f.rubric or "")
    sums = {k: [0, 0, 0, 0] for k in STATUSES}
    masker = Masker(spec)
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
            values: dict[str, str | None] = {}
            hide = masker.hidden(rec)  # None: the line does not fit its layout, show nothing of it
            for rubric in lines_wanted[rec.line]:
                field = rec.layout.by_rubric.get(rubric) if rec.layout is not None else None
                if field is not None:
                    shown = hide is not None and field.attr not in hide
                    values[rubric] = rec.raw[field.slice].strip() if shown else None
            facts[rec.line] = LineFacts(group_line if t not in (spec.header, spec.trailer) else None, reference,
                                        values)
        if not whole or rec.layout is None or "declared_amount_signed" not in rec.layout.signed:
            continue
        try:
            declared = rec.get("declared_amount_signed") or 0
        except Exception:  # noqa: BLE001 - a broken amount counts as zero here
            declared = 0
        key = _claim_status(report, rec.line or 0)
        sums[key][0] += 1
        sums[key][1 if declared >= 0 else 2] += abs(declared)
        if key == "approved" and report.mode == "insurer":
            sums[key][3] += declared
    return {k: Totals(*v) for k, v in sums.items()}, facts


def amounts_by_status(report: Report, records: Iterable[Record]) -> dict[str, tuple[int, int]]:
    """(declared, awarded) signed cents per claim status, awarded as an insurer would pay."""
    totals, _ = scan(report, records)
    return {k: (v.declared, v.awarded) for k, v in totals.items()}


def _chart(totals: dict[str, Totals], text: Text) -> str:
    """Declared (debit, and credit apart) and awarded per status as bars; scales to the page width."""
    bars = []
    for label, t in totals.items():
        bars.append((label, text["chart_debit"], t.debit, "#5b7db1"))
        if t.credit:
            bars.append((label, text["chart_credit"], t.credit, "#8a6fb0"))
        bars.append((label, text["chart_awarded"], t.awarded, "#1b7f3b"))
    peak = max([abs(v) for _, _, v, _ in bars] + [1])
    width, bar_h = 400, 16
    rows = []
    y = 10
    last = None
    for label, name, value, colour in bars:
        if last is not None and label != last:
            y += 10
        last = label
        w = int(abs(value) / peak * 230)
        rows.append(f'<text x="0" y="{y + 12}" font-size="11">{_e(text["claim_" + label.replace(" ", "_")])} – '
                    f'{_e(name)}</text>'
                    f'<rect x="0" y="{y + 16}" width="{max(w, 1)}" height="{bar_h - 6}" fill="{colour}"></rect>'
                    f'<text x="{w + 6}" y="{y + 25}" font-size="11">{_e(euro(value))}</text>')
        y += bar_h + 16
    return (f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {y}" role="img" '
            f'aria-label="{_e(text["chart_label"])}">{"".join(rows)}</svg>')


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


def _totals_table(totals: dict[str, Totals], report: Report, text: Text) -> str:
    heads = (text["col_claims"], text["col_number"], text["col_debit"], text["col_credit"], text["col_awarded"])

    def row(label: str, t: Totals, cls: str = "") -> str:
        cells = (label, str(t.lines), euro(t.debit), euro(t.credit), euro(t.awarded))
        return (f"<tr{cls}>" + "".join(f'<td data-label="{_e(h)}"{" class=n" if i else ""}>{_e(c)}</td>'
                                       for i, (h, c) in enumerate(zip(heads, cells))) + "</tr>")

    rows = "".join(row(text["claim_" + k.replace(" ", "_")], t) for k, t in totals.items())
    whole = Totals(*(sum(t[i] for t in totals.values()) for i in range(4)))
    note = text["note_insurer"] if report.mode == "insurer" else text["note_vecozo"]
    return ('<table id="totals" class=cards><tr>' + "".join(f"<th>{_e(h)}</th>" for h in heads) + "</tr>"
            f"{rows}{row(text['total'], whole, ' class=sum')}</table><p class=note>{_e(note)}</p>")


def _returned(report: Report, text: Text) -> str:
    verdicts = Counter(o.verdict.value for o in report.outcomes.values())
    if report.status is Status.REJECTED_FILE:
        return f"<p id=returned>{_e(text['returned_file'])}</p>"
    if report.status is Status.APPROVED:
        return f"<p id=returned>{_e(text['returned_none'])}</p>"
    some = text["returned_some"].format(rejected=verdicts.get("rejected", 0),
                                        not_assessed=verdicts.get("not_assessed", 0), co=verdicts.get("approved", 0))
    return f"<p id=returned>{_e(some)}</p><p class=note>{text['returned_note']}</p>"


def _message_cell(f: Finding, fact: LineFacts, text: Text) -> str:
    message, translated = text.message(f.message)
    cell = f"<span>{_e(message)}</span>" if translated else f'<span lang="en">{_e(message)}</span>'
    if f.rubric and f.rubric in fact.values:
        value = fact.values[f.rubric]
        if value is None:
            cell += f"<br><small class=value>{_e(text['value_personal'])}</small>"
        else:
            shown = text["value"].format(value=f"'{value}'" if value else "''")
            cell += f"<br><span class=value>{_e(shown)}</span>"
    return cell


def render(report: Report, records: Iterable[Record], *, title: str | None = None,
           max_lines: int = 500, checked_on: dt.date | None = None, lang: str = "nl") -> str:
    """The report as one HTML page, in Dutch (``lang="nl"``, the default) or English
    (``lang="en"``). *records* are the file's records (for amounts, references, insured
    lines and the wrong values of non-personal fields); *checked_on* the date the file was
    checked against (default: the report's own)."""
    from ._version import __version__

    text = Text(lang)
    title = title or text["title"]
    table = return_codes()
    totals, facts = scan(report, records)
    status = report.status
    checked_on = checked_on or report.checked_on
    ref_rubric = reference_rubric(report)
    code_counts = report.code_counts()
    if code_counts:
        codes_html = (f'<table id="codes"><tr><th>{_e(text["codes_head_code"])}</th>'
                      f'<th>{_e(text["codes_head_meaning"])}</th><th>{_e(text["codes_head_count"])}</th></tr>'
                      + "".join(f"<tr><td class=code>{c}</td><td lang=nl>{_e(table.meaning(c))}</td>"
                                f"<td class=n>{n}</td></tr>" for c, n in sorted(code_counts.items())) + "</table>")
    else:
        codes_html = f'<p class=empty id="codes-empty">{_e(text["codes_empty"])}</p>'
    ordered = sorted(report.findings, key=lambda x: (x.level != "file", x.line or 0, x.code))
    ref_head = f"{text['f_reference']} ({ref_rubric})" if ref_rubric else text["f_reference"]
    heads = (text["f_line"], text["f_record"], text["f_insured"], ref_head, text["f_rubric"], text["f_code"],
             text["f_meaning"], text["f_message"], text["f_level"])
    rows = []
    for f in ordered[:max_lines]:
        fact = facts.get(f.line or 0, LineFacts(None, None))
        name = _field_name(report, f)
        cells = (
            ("n", _e(f.line) if f.line else _e(text["file_line"])),
            ("", _e(f.record_type)),
            ("n", _e(fact.insured_line)),
            ("", f"<span class=ref>{_e(fact.reference)}</span>" if fact.reference else ""),
            ("", f"{_e(f.rubric)}{'<br><small>' + _e(name) + '</small>' if name else ''}"),
            ("code", _e(f.code)),
            ("", f"<span lang=nl>{_e(f.meaning)}</span>"),
            ("", _message_cell(f, fact, text)),
            ("", _e(text["level_" + f.level] if "level_" + f.level in text.words else f.level)),
        )
        rows.append(f"<tr class={f.level}>" + "".join(
            f'<td data-label="{_e(h)}"{" class=" + cls if cls else ""}>{c}</td>' for h, (cls, c) in zip(heads, cells))
            + "</tr>")
    more = len(ordered) - max_lines
    more_note = f"<p>{text['more'].format(more=more)}</p>" if more > 0 else ""
    group_types = [t for t in report.spec.detail_types
                   if report.spec.records[t].parent is None and t != report.spec.comment]
    group = report.spec.records[group_types[0]] if group_types else None
    ref_field = next((lay.by_rubric[ref_rubric] for lay in report.spec.records.values()
                      if ref_rubric and ref_rubric in lay.by_rubric), None)
    legend = [text["legend_line"]]
    if group is not None:
        legend.append(text["legend_insured"].format(name=_e(group.name.lower()), type=_e(group.type)))
    if ref_field is not None:
        legend.append(text["legend_reference"].format(name=_e(ref_field.name.lower()), rubric=_e(ref_field.rubric)))
    if rows:
        findings_html = (
            '<table id="findings" class=cards><tr>' + "".join(f"<th>{_e(h)}</th>" for h in heads) + "</tr>"
            f"{''.join(rows)}</table>{more_note}<p class=note id=legend>{' '.join(legend)}</p>")
    else:
        findings_html = f'<p class=empty id="findings-empty">{_e(text["findings_empty"])}</p>'
    counts = ", ".join(f"{t}: {n}" for t, n in sorted(report.counts.items()))
    checked = checked_on.isoformat() if checked_on else text["about_today"]
    unassessed = ""
    if report.unassessed:  # STB §6.4.1: kept apart from the answer
        unassessed = (f'<h2>{_e(text["h_unassessed"])}</h2>\n<p id="unassessed">'
                      f'{_e(text["unassessed"].format(n=len(report.unassessed)))}</p>')
    mode = text["mode_" + report.mode] if "mode_" + report.mode in text.words else report.mode
    return f"""<!DOCTYPE html>
<html lang="{text.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="eicodec {_e(__version__)}">
<title>{_e(title)}</title>
<style>
* {{ box-sizing: border-box; }}
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #1d1d1f; max-width: 80rem; overflow-wrap: break-word; }}
h1, h2, p, dd {{ overflow-wrap: anywhere; }}
.badge {{ display: inline-block; padding: .4rem .9rem; border-radius: .4rem; color: #fff;
          background: {_COLOURS[status]}; font-weight: 600; font-size: 1.2rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; font-size: .9rem; vertical-align: top;
          overflow-wrap: break-word; }}
td.n {{ text-align: right; white-space: nowrap; }}
th {{ background: #f0f0f0; }}
tr.file td {{ background: #fdecea; }}
tr.sum td {{ font-weight: 600; }}
.ref, td.code {{ white-space: nowrap; overflow-wrap: normal; }}
.value {{ font-family: ui-monospace, monospace; white-space: pre-wrap; }}
#chart {{ width: 100%; max-width: 34rem; height: auto; display: block; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }}
dt {{ font-weight: 600; }}
dd {{ margin: 0; overflow-wrap: anywhere; }}
details {{ margin: 1rem 0; }}
summary {{ cursor: pointer; color: #555; }}
code {{ overflow-wrap: anywhere; }}
.note, small {{ color: #555; }}
.empty {{ padding: .6rem .9rem; background: #eef6ee; border-left: 4px solid #1b7f3b; }}
@media (max-width: 40rem) {{
  body {{ margin: 1rem; }}
  dl {{ grid-template-columns: 1fr; }}
  table.cards, table.cards tbody, table.cards tr, table.cards td {{ display: block; width: 100%; }}
  table.cards tr:first-child {{ display: none; }}
  table.cards tr {{ border: 1px solid #ccc; margin: 0 0 .8rem; }}
  table.cards td {{ border: 0; border-bottom: 1px solid #eee; text-align: left; white-space: normal; }}
  table.cards td::before {{ content: attr(data-label) ": "; font-weight: 600; }}
}}
</style>
</head>
<body>
<h1>{_e(title)}</h1>
<p><span class="badge" id="verdict">{_e(text["status_" + status.value])}</span></p>
<p id="verdict-text">{_e(text["verdict_" + status.value])}</p>
<dl id="about">
<dt>{_e(text["about_message"])}</dt><dd>{_e(report.spec.name)} ({_e(report.spec.title)})</dd>
<dt>{_e(text["about_checked_on"])}</dt><dd id="checked-on">{_e(checked)} {_e(text["about_checked_on_note"])}</dd>
<dt>{_e(text["about_mode"])}</dt><dd id="mode">{_e(mode)}</dd>
<dt>{_e(text["about_version"])}</dt><dd id="version">eicodec {_e(__version__)}</dd>
</dl>
{_returned(report, text)}
<h2 id="h-totals">{_e(text["h_totals"])}</h2>
{_totals_table(totals, report, text)}
{_chart(totals, text)}
<h2 id="h-codes">{_e(text["h_codes"])}</h2>
{codes_html}
<h2 id="h-findings">{_e(text["h_findings"])}</h2>
{findings_html}
{unassessed}
<details id="technical">
<summary>{_e(text["tech_summary"])}</summary>
<dl>
<dt>{_e(text["tech_encoding"])}</dt><dd>{_e(report.encoding)}</dd>
<dt>{_e(text["tech_records"])}</dt><dd>{_e(counts)}</dd>
<dt>{_e(text["tech_fingerprint"])}</dt><dd><code>{_e(report.fingerprint)}</code></dd>
</dl>
</details>
</body>
</html>
"""
