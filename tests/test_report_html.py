"""The HTML report an analyst acts on: approved, record-level and file-level rejected
files, checked as markup and in a real headless Chromium (DOM and screenshots)."""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import eicodec
from eicodec.cli import main
from eicodec.report_html import euro, render
from tests.conftest import EXAMPLES
from tests.test_shell import file_rejected

TODAY = dt.date(2024, 3, 1)
OK = EXAMPLES / "ap304_insurer.asc"
BAD = EXAMPLES / "ap304_claim_rejected.asc"


class _Page(HTMLParser):
    """Well-formedness, external URLs, and the text of elements with an id."""

    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None]] = []
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.text_by_id: dict[str, str] = {}
        self._open_ids: list[str] = []
        self.rows: list[list[str]] = []  # rows of the findings table
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_findings = False

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        attrs = dict(attrs)
        for name in ("src", "href"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if tag == "table" and attrs.get("id") == "findings":
            self._in_findings = True
        if self._in_findings and tag == "tr":
            self._row = []
        if self._row is not None and tag == "td":
            self._cell = []
        if tag in self.VOID:
            return
        self.stack.append((tag, attrs.get("id")))
        if attrs.get("id"):
            self._open_ids.append(attrs["id"])
            self.text_by_id[attrs["id"]] = ""

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"unexpected </{tag}>")
            return
        _, ident = self.stack.pop()
        if ident:
            self._open_ids.remove(ident)
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "tr" and self._row is not None:
            if self._row:
                self.rows.append(self._row)
            self._row = None
        if tag == "table":
            self._in_findings = False

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        for ident in self._open_ids:
            self.text_by_id[ident] += data
        if self._cell is not None:
            self._cell.append(data)


def page_of(path: Path | bytes, mode: str = "insurer", lang: str = "en") -> tuple[str, _Page]:
    report = eicodec.validate(path, today=TODAY, mode=mode)
    name = path.name if isinstance(path, Path) else "built.asc"
    text = render(report, eicodec.iter_records(path), title=f"eicodec: {name}", checked_on=TODAY, lang=lang)
    page = _Page()
    page.feed(text)
    assert page.errors == [] and page.stack == [] and page.urls == []  # well-formed, offline
    return text, page


def test_dutch_money_format() -> None:
    assert euro(4660) == "€ 46,60"
    assert euro(5) == "€ 0,05"
    assert euro(123456789) == "€ 1.234.567,89"
    assert euro(-1250) == "€ -12,50"
    assert euro(0) == "€ 0,00"


def test_every_page_says_when_how_and_by_what_it_was_checked() -> None:
    for path in (OK, BAD):
        text, page = page_of(path)
        assert page.text_by_id["checked-on"].startswith("2024-03-01")
        assert page.text_by_id["mode"].startswith("insurer")
        assert page.text_by_id["version"] == f"eicodec {eicodec.__version__}"
    _, page = page_of(BAD, mode="vecozo")
    assert page.text_by_id["mode"].startswith("VECOZO")
    _, page = page_of(BAD, lang="nl")
    assert page.text_by_id["mode"].startswith("zorgverzekeraar")


def test_approved_file_has_empty_states_not_empty_tables() -> None:
    text, page = page_of(OK)
    assert page.text_by_id["verdict"] == "Approved"
    assert "findings-empty" in page.text_by_id and "codes-empty" in page.text_by_id
    assert 'id="findings"' not in text and 'id="codes"' not in text
    assert "No records are returned" in page.text_by_id["returned"]
    assert "€ 46,60" in page.text_by_id["totals"] or "€" in page.text_by_id["totals"]
    assert not re.search(r"€ -?\d+\.\d\d\b", text)  # never a decimal point in money


def test_the_report_is_dutch_by_default_and_english_when_asked() -> None:
    report = eicodec.validate(BAD, today=TODAY)
    dutch = render(report, eicodec.iter_records(BAD))
    assert '<html lang="nl">' in dutch
    for heading in ("Gedeclareerd en toegekend per status", "Retourcodes", "Bevindingen", "Technische gegevens"):
        assert heading in dutch
    assert "Afgekeurd op recordniveau" in dutch and "declareer ze opnieuw" in dutch
    assert "staat niet in de codelijst" in dutch  # the engine's message, in Dutch
    assert "Rejected" not in dutch and "is not in its code list" not in dutch
    assert report.findings[0].message.endswith("is not in its code list")  # the API stays English
    english = render(report, eicodec.iter_records(BAD), lang="en")
    assert '<html lang="en">' in english and "Rejected at record level" in english
    assert "Bevindingen" not in english


def test_a_message_without_translation_stays_english_and_says_so() -> None:
    from eicodec.report_html import Text

    text = Text("nl")
    assert text.message("BSN fails the 11-proef") == ("BSN voldoet niet aan de elfproef", True)
    assert text.message("ROM indicator given for Transitie") == ("ROM indicator given for Transitie", False)
    assert text.message("record is 359 characters, expected 360") == ("record is 359 tekens lang, verwacht 360", True)
    assert text.message("X (0413) is not in its code list (value '777')") == \
        ("X (0413) staat niet in de codelijst (waarde '777')", True)


def test_technical_facts_are_in_a_collapsed_block() -> None:
    report = eicodec.validate(BAD, today=TODAY)
    text = render(report, eicodec.iter_records(BAD))
    block = text[text.index('<details id="technical">'):text.index("</details>")]
    assert "<details id=\"technical\" open" not in text
    assert report.fingerprint in block and "01: 1" in block and "utf-8" in block
    assert report.fingerprint not in text.replace(block, "")


def test_record_level_rejection_names_the_claim_the_pharmacy_must_find() -> None:
    text, page = page_of(BAD)
    assert page.text_by_id["verdict"] == "Rejected at record level"
    assert len(page.rows) == 1
    line, record, insured, reference, rubric, code, meaning, message, level = page.rows[0]
    assert (line, record, insured, reference, code, level) == ("4", "04", "2", "R2024-000102", "0581", "record")
    assert rubric.startswith("0413") and "PRESTATIECODELIJST" in rubric
    assert meaning == eicodec.return_codes().meaning("0581") and meaning  # the Dutch meaning
    assert "Claim reference (0445)" in text
    legend = page.text_by_id["legend"]
    assert "verzekerdenrecord (02)" in legend and "referentienummer dit prestatierecord (0445)" in legend
    returned = page.text_by_id["returned"]
    assert "1 rejected" in returned and "2 co-returned" in returned  # its insured and its comment
    assert "Co-returned" in text and "needs no action" in text  # the term is explained
    totals = page.text_by_id["totals"]
    assert "€ 9,95" in totals  # the rejected line's 995 cents, declared and not awarded
    assert "111222333" not in text and "Jansen" not in text  # no personal data
    assert "<span class=ref>R2024-000102</span>" in text  # kept on one line (.ref: nowrap)


def test_the_wrong_value_is_shown_unless_the_field_is_personal() -> None:
    _, page = page_of(BAD, lang="nl")
    assert page.rows[0][7].endswith("waarde: '777'")  # 0413 is no personal field
    decl = eicodec.read(OK)
    insured = next(r for r in decl.iter_records() if r.record_type == "02")
    bsn = insured.raw[insured.layout.field("0203").slice]
    wrong = bsn[:-1] + str((int(bsn[-1]) + 1) % 10)  # fails the 11-proef
    insured.set("0203", wrong)
    text, page = page_of(eicodec.dumps(decl), lang="nl")
    row = next(r for r in page.rows if r[4].startswith("0203"))
    assert "persoonsgegeven: waarde niet getoond" in row[7]
    assert wrong not in text and bsn not in text


def test_a_rejected_credit_is_not_netted_into_the_rejected_debit() -> None:
    decl = eicodec.read(OK)
    claims = [r for r in decl.iter_records() if r.record_type == "04"]
    claims[0].set("0413", "777")  # a rejected debit of € 12,50
    claims[-1].declared_amount_signed = -2140  # a rejected credit of € 21,40
    claims[-1].set("0413", "777")
    text, page = page_of(eicodec.dumps(decl))
    totals = "".join(page.text_by_id["totals"].split())
    assert "rejected2€12,50€21,40€0,00" in totals  # debit and credit apart, not netted to € -8,90
    assert "€ -8,90" not in text and "€ 8,90" not in text


def test_file_level_rejection_never_says_zero_rejected(tmp_path: Path) -> None:
    text, page = page_of(file_rejected(tmp_path))
    assert page.text_by_id["verdict"] == "Rejected at file level"
    assert "0 rejected" not in text
    assert "whole file" in page.text_by_id["returned"] and "whole file" in page.text_by_id["verdict-text"]
    assert page.rows and all(row[-1] == "file" for row in page.rows[:1])
    assert page.rows[0][0] == "8"  # the trailer's line: file-level findings come first
    totals = "".join(page.text_by_id["totals"].split())
    assert "rejected3€56,55€0,00€0,00" in totals  # every claim line counted as rejected, nothing awarded


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


_PROBE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" width="{width}" height="900" style="border:0" srcdoc="{page}"></iframe>
<script>
window.addEventListener("load", function () {{
  var w = document.getElementById("f").contentWindow, d = w.document, wide = [];
  d.querySelectorAll("body *").forEach(function (e) {{
    var r = e.getBoundingClientRect();
    if (r.right > w.innerWidth + 0.5) {{ wide.push(e.tagName + (e.id ? "#" + e.id : "")); }}
  }});
  var out = document.createElement("pre");
  out.id = "measured";
  out.textContent = "width=" + w.innerWidth + " scroll=" + d.documentElement.scrollWidth + " wide=" +
    wide.slice(0, 5).join(",");
  document.body.appendChild(out);
}});
</script></body></html>"""


def _flags(tmp_path: Path) -> list[str]:
    assert CHROMIUM is not None
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}"]


def _measure(page: Path, width: int, tmp_path: Path) -> tuple[int, int, str]:
    """(viewport width, document scroll width, elements reaching past the right edge) of
    *page* laid out by Chromium in a viewport *width* px wide: the page in an iframe of that
    width (a headless window cannot be narrower than 500 px), measured by the outer page."""
    probe = page.with_name(f"{page.stem}-{width}.html")
    probe.write_text(_PROBE.format(width=width, page=html.escape(page.read_text(encoding="utf-8"))),
                     encoding="utf-8")
    dom = subprocess.run([*_flags(tmp_path), "--window-size=1400,1000", "--virtual-time-budget=5000",
                          "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120, check=False).stdout
    found = re.search(r'id="measured">width=(\d+) scroll=(\d+) wide=([^<]*)<', dom)
    assert found, dom[-500:]
    return int(found.group(1)), int(found.group(2)), found.group(3)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine")
def test_three_reports_in_headless_chromium(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """DOM as the browser built it at 1280 and 390 px (a phone): Dutch headings, the wrong
    value shown, nothing wider than the window; a screenshot of each (kept in
    $EICODEC_SCREENSHOTS if set)."""
    cases = {"approved": (OK, 0, "Goedgekeurd"), "record-level": (BAD, 1, "Afgekeurd op recordniveau"),
             "file-level": (file_rejected(tmp_path), 1, "Afgekeurd op bestandsniveau")}
    keep = os.environ.get("EICODEC_SCREENSHOTS")
    for name, (source, want, label) in cases.items():
        page = tmp_path / f"{name}.html"
        assert main(["report", str(source), "--html", str(page), "--today", "2024-03-01"]) == want
        capsys.readouterr()
        dom = subprocess.run([*_flags(tmp_path), "--dump-dom", page.as_uri()], capture_output=True, text=True,
                             timeout=120, check=False).stdout
        assert f'id="verdict">{label}<' in dom and "<rect" in dom and 'id="checked-on"' in dom
        assert '<html lang="nl">' in dom and ">Bevindingen<" in dom and ">Technische gegevens<" in dom
        if name == "approved":
            assert 'id="findings-empty"' in dom and 'id="findings"' not in dom
        if name == "record-level":
            assert "R2024-000102" in dom and "meegestuurd" in dom and "waarde: '777'" in dom
        if name == "file-level":
            assert "0 afgekeurd" not in dom
        for width in (1280, 390):
            inner, scroll, wide = _measure(page, width, tmp_path)
            assert inner == width and scroll <= width and wide == "", (name, width, scroll, wide)
        shot = tmp_path / f"{name}.png"
        subprocess.run([*_flags(tmp_path), f"--screenshot={shot}", "--window-size=1280,1400", page.as_uri()],
                       capture_output=True, timeout=120, check=False)
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000  # a real, non-empty picture
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / shot.name)


def test_personal_values_appear_on_the_page_only_when_asked(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "r.html"
    assert main(["report", str(BAD), "--html", str(page), "--today", "2024-03-01", "--lang", "en"]) == 1
    text = page.read_text(encoding="utf-8")
    assert "value: &#x27;777&#x27;" in text and "(value &#x27;777&#x27;)" not in text  # not personal: shown
    assert main(["report", str(BAD), "--html", str(page), "--today", "2024-03-01", "--show-values"]) == 1
    assert "(waarde &#x27;777&#x27;)" in page.read_text(encoding="utf-8")  # the message's own value too
    capsys.readouterr()


def test_every_ap304_rule_message_has_its_dutch_wording() -> None:
    """The catalogue covers the messages of the shipped AP304 rules (a new rule's message
    without a Dutch wording would show in English on a pharmacy's report)."""
    import tomllib

    from eicodec.layouts import data_dir
    from eicodec.report_html import Text

    messages: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("message", "debit_message") and isinstance(value, str):
                    messages.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in ("AP304v8.0.rules.toml", "defaults.rules.toml"):
        walk(tomllib.loads((data_dir() / name).read_text(encoding="utf-8")))
    dutch = Text("nl")
    assert len(messages) > 30
    assert [m for m in sorted(messages) if not dutch.message(m)[1]] == []
