"""Closer to the standard (issue 13): each test names the STB paragraph or the source its
rule follows. Sources: ../shared/reference/ (AP304-AP305v8.0_STB.txt, GDS801_SOURCES.md:
Vektis' GDS801/GDS802 validation rule set "versie VECOZO", the VGZ page on 8004)."""

from __future__ import annotations

import csv
import datetime as dt

import pytest

import eicodec
from eicodec import Status, Verdict
from eicodec.codes import return_codes
from eicodec.layouts import data_dir
from eicodec.rules import rules_for
from tests.conftest import join, lines_of
from tests.test_validator import FULL, INSURER, SPEC, TODAY, check, patch, rewrite

NO_BSN = "999999999"


def findings(data: bytes, mode: str = "insurer") -> list[tuple[str, int | None, str | None, str]]:
    report = eicodec.validate(data, mode=mode, today=TODAY)
    return [(f.code, f.line, f.rubric, f.rule) for f in report.findings]


def without_bsn(data: bytes, **more: object) -> bytes:
    """INSURER with the first insured (lines 2-4) without a BSN."""
    return rewrite(data, l2__bsn=NO_BSN, l3__bsn=NO_BSN, l4__bsn=NO_BSN, **more)


# ------------------------------------------------------------------ 1. GDS801 rc8101

def test_no_bsn_without_verzekerdennummer_is_8101() -> None:
    """GDS801 rc8101 "Indien BSN niet voorkomt, dan moet Verzekerdennummer voorkomen";
    STB §5.4.7: no BSN is written as 999999999."""
    report = check(without_bsn(INSURER), code="8101", line=2, rubric="0205", status=Status.REJECTED_RECORDS,
                   rule="record.bsn_dummy")
    assert not any(f.code == "0435" for f in report.findings)
    assert not report.findings[0].provisional
    ok = without_bsn(INSURER, l2__insured_number="Z1", l3__insured_number="Z1", l4__insured_number="Z1")
    assert findings(ok) == []


# ------------------------------------------------------------------ 2. GDS801 rc8166a/b

@pytest.mark.parametrize(("vendor", "version", "code"), [
    ("000000", "8.0.3     ", "8166"),   # version without a system code (rc8166b)
    ("000101", " " * 10, "8166"),       # system code without a version (rc8166a)
    ("000000", " " * 10, None),         # both empty
    ("000101", "8.0.3     ", None),     # both filled
])
def test_information_system_code_and_version_are_filled_together(vendor: str, version: str, code: str | None) -> None:
    """GDS801 rc8166a/b: code informatiesysteem (0106) and versie (0107) both or neither,
    in either direction; a voorlooprecord finding rejects the file (STB §6.4.2 row 5)."""
    data = patch(patch(INSURER, 1, "0106", vendor), 1, "0107", version)
    if code is None:
        assert findings(data) == []
        return
    check(data, code=code, line=1, rubric="0107", status=Status.REJECTED_FILE, rule="file.software_system")


# ------------------------------------------------------------------ 3. 8151, never 8004

@pytest.mark.parametrize(("line", "rubric", "text"), [
    (2, "0207", "00000000"), (2, "0207", "19710231"), (3, "0408", "00000000"), (3, "0408", "19711301"),
])
def test_missing_or_impossible_birth_date_is_8151(line: int, rubric: str, text: str) -> None:
    """GDS801 rc8151 (geboortedatum must be present) for 0207/0408 missing or not a date."""
    report = check(patch(INSURER, line, rubric, text), code="8151", line=line, rubric=rubric,
                   status=Status.REJECTED_RECORDS, rule="record.field")
    assert not [f for f in report.findings if f.rule == "record.field" and f.provisional]


def test_the_file_validator_never_returns_8004() -> None:
    """VGZ (GDS801_SOURCES.md): 8004 "Combinatie BSN en geboortedatum verzekerde is
    onjuist" is the insurer's check of BSN + birth date against its own register."""
    rs = rules_for(SPEC)
    assert "8004" not in rs.field_codes.values() and "8004" not in rs.fallback_codes.values()
    assert all(r.code != "8004" for r in rs.rules.values()) and all(r.code != "8004" for r in rs.checks)
    data = rewrite(INSURER, l3__birth_date=dt.date(1971, 5, 31))  # the 04's copy differs from its 02
    codes = [c for c, *_ in findings(data)]
    assert codes == ["8151"]


# ------------------------------------------------------------------ 4. 8179 in VECOZO mode

@pytest.mark.parametrize("mode", ["insurer", "vecozo"])
def test_forwarding_check_runs_in_both_modes(mode: str) -> None:
    """GDS801 rc8179 is part of Vektis' rule set "versie VECOZO": VECOZO runs it too."""
    check(rewrite(INSURER, l3__forwarding_allowed="2"), code="8179", line=3, rubric="0407",
          status=Status.REJECTED_RECORDS, rule="record.forwarding", mode=mode)


# ------------------------------------------------------------------ 5. STB §5.4.7

def test_with_a_real_bsn_the_verzekerdennummers_are_not_compared() -> None:
    """STB §5.4.7: "In eerste situatie is het Burgerservicenummer sleutel en niet
    UZOVI-nummer + verzekerdenummer": a 04 may carry another verzekerdennummer."""
    assert findings(rewrite(INSURER, l3__insured_number="X9")) == []


def test_without_bsn_the_verzekerdennummer_is_the_key_and_0300_is_never_used() -> None:
    """STB §5.4.7: with BSN 999999999, UZOVI + verzekerdennummer are the key, so a 04's
    verzekerdennummer must equal its 02's; 0300 ("onbekend bij deze UZOVI") is a register
    check and is not returned for a mismatch."""
    data = without_bsn(INSURER, l2__insured_number="Z1", l3__insured_number="Z2", l4__insured_number="Z1")
    report = check(data, code="8101", line=3, rubric="0405", status=Status.REJECTED_RECORDS,
                   rule="record.claim_insured")
    assert [f.line for f in report.findings] == [3]
    rs = rules_for(SPEC)
    assert all(r.code != "0300" for r in rs.checks) and "0300" not in rs.field_codes.values()


# ------------------------------------------------------------------ 6. STB §6.4.2 row 3

@pytest.mark.parametrize("index", [1, 2, 4])  # an 02, an 04, a comment
def test_identical_records_reject_the_file(index: int) -> None:
    """STB §6.4.2 table 6-2 row 3: "Zijn er identieke records (dubbele)? -> afkeuren
    bestand": the copy gets a file-level finding, the file is rejected."""
    lines = lines_of(INSURER)
    data = rewrite(join([*lines[:index + 1], lines[index], *lines[index + 1:]]))
    report = eicodec.validate(data, today=TODAY)
    assert report.status is Status.REJECTED_FILE
    hits = [f for f in report.findings if f.rule == "file.identical_record"]
    assert [(f.line, f.level, f.code) for f in hits] == [(index + 2, "file", "0801")]
    assert eicodec.validate(data, mode="vecozo", today=TODAY).status is Status.REJECTED_FILE


def test_records_that_differ_are_no_identical_copies() -> None:
    """The same comment text on two different records is no duplicate."""
    assert eicodec.validate(FULL, today=TODAY).status is Status.APPROVED


# ------------------------------------------------------------------ 9. codes in COD954

def test_codes_known_only_from_gds801_are_in_the_shipped_list_marked_as_such() -> None:
    """GDS801_SOURCES.md: 8101, 8151, 8166 and 8175 are not in the recovered COD954 list;
    they ship with their rule text as meaning and say it is not the official wording."""
    with (data_dir() / "codelists" / "COD954.csv").open(encoding="utf-8", newline="") as fh:
        rows = {r["code"]: r for r in csv.DictReader(fh)}
    for code in ("8101", "8151", "8166", "8175"):
        assert code in return_codes()
        assert rows[code]["meaning"]
        assert "not the official wording" in rows[code]["explanation"]
    assert "Verzekerdennummer" in rows["8101"]["meaning"]


def test_an_official_list_without_the_gds801_codes_is_refused_clearly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A user's official list replaces the shipped one; a rules file naming a code the list
    lacks is refused at load (SpecError), not at the first finding."""
    from eicodec.codes import use_return_codes
    src = data_dir() / "codelists" / "COD954.csv"
    kept = [ln for ln in src.read_text(encoding="utf-8").splitlines() if not ln.startswith("8101,")]
    path = tmp_path / "COD954-VEKT.csv"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    try:
        with pytest.raises(eicodec.SpecError, match="8101"):
            eicodec.validate(INSURER, codes=path, today=TODAY, rules=data_dir() / "AP304v8.0.rules.toml")
    finally:
        use_return_codes(None)


def test_verdicts_unchanged_for_clean_files() -> None:
    for data in (INSURER, FULL):
        report = eicodec.validate(data, today=TODAY)
        assert report.status is Status.APPROVED and report.verdict(3) is Verdict.APPROVED


# ------------------------------------------------------------------ 7. outcome() and 8096

def test_a_line_vecozo_returns_with_8096_is_rejected_with_the_file_and_awarded_nothing() -> None:
    """STB §6.4.3 / §6.5: with a record-level rejection VECOZO rejects the whole file and
    returns every record, the good ones with 8096 ("als goed beoordeeld, maar afgewezen
    omdat het hele bestand is afgekeurd"): such a line is not approved and gets nothing.
    STB §6.5: VECOZO fills referentienummer zorgverzekeraar (0181); outcome() reads it back."""
    data = patch(INSURER, 4, "0413", "777")
    report = eicodec.validate(data, mode="vecozo", today=TODAY)
    ap305 = eicodec.dumps(eicodec.build_retour(data, report, insurer_reference="VECOZO-0001",
                                               return_date=dt.date(2024, 2, 20)))
    result = {o.line: o for o in eicodec.outcome(data, ap305)}
    assert result[4].status == "rejected" and result[4].codes == ("0581",)
    for line in (3, 7):
        assert result[line].status == "rejected_with_file" and result[line].codes == ("8096",)
        assert result[line].awarded == 0 and result[line].declared > 0
    assert {o.return_reference for o in result.values()} == {"VECOZO-0001"}
    insurer = eicodec.validate(data, today=TODAY)  # an insurer's answer: the others are not returned
    ap305 = eicodec.dumps(eicodec.build_retour(data, insurer, insurer_reference="ZV-1",
                                               return_date=dt.date(2024, 2, 20)))
    result = {o.line: o for o in eicodec.outcome(data, ap305)}
    assert result[3].status == "not_returned" and result[3].awarded == result[3].declared
    assert result[3].return_reference == "ZV-1"


# ------------------------------------------------------------------ 8. STB §6.4.1

def test_after_a_file_level_rejection_no_record_is_assessed() -> None:
    """STB §6.4.1: a file rejected at file level gets "geen verdere controle op
    recordniveau": the record findings are kept apart (``unassessed``), no record has a
    verdict of its own, and the AP305 (voorloop + sluitrecord, §6.7) carries only the
    file-level codes."""
    data = patch(patch(INSURER, 8, "9902", "000009"), 3, "0413", "777")  # wrong count + a bad claim line
    report = eicodec.validate(data, today=TODAY)
    assert report.status is Status.REJECTED_FILE
    assert [(f.code, f.level) for f in report.findings] == [("0151", "file")]
    assert [(f.code, f.line, f.level) for f in report.unassessed] == [("0581", 3, "record")]
    assert len(report.outcomes) == 0 and report.record_findings == []
    assert all(report.verdict(line) is Verdict.NOT_ASSESSED for line in range(1, 9))
    assert "0581" not in report.code_counts()
    ret = eicodec.read(eicodec.dumps(eicodec.build_retour(data, report, return_date=dt.date(2024, 2, 20))))
    assert [r.record_type for r in ret.iter_records()] == ["01", "99"]
    carried = [ret.header.get(f"return_code_{i}") for i in (1, 2, 3)]
    assert "0151" in carried and "0581" not in carried


def test_the_cli_keeps_unassessed_findings_apart(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """STB §6.4.1 on the command line: JSON key ``unassessed``, a line in the text output."""
    import json

    from eicodec.cli import main
    path = tmp_path / "f.asc"
    path.write_bytes(patch(patch(INSURER, 8, "9902", "000009"), 3, "0413", "777"))
    assert main(["validate", str(path), "--format", "json", "--today", "2024-03-01"]) != 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [f["code"] for f in result["findings"]] == ["0151"]
    assert [f["code"] for f in result["unassessed"]] == ["0581"]
    assert main(["validate", str(path), "--today", "2024-03-01"]) != 0
    assert "not assessed" in capsys.readouterr().out


# ------------------------------------------------------------------ 11. unused code lists

def test_every_shipped_code_list_is_used_by_a_field() -> None:
    """Issue 13 item 11: a code list ships only when a field checks against it."""
    used = {f.codelist for spec in eicodec.layouts.builtin_specs() for lay in spec.records.values()
            for f in lay.fields if f.codelist}
    shipped = {p.stem for p in (data_dir() / "codelists").glob("*.csv")}
    # COD002 (berichtcodes) stays: 0102 holds the fixed code of its message (193), from it
    assert shipped - used == {"COD002"}
    assert not {"COD008", "COD805", "COD952", "COD953"} & shipped
    assert used - {"COD955", "COD956"} <= shipped


def test_open_lists_are_not_linked_so_an_unlisted_code_is_no_error() -> None:
    """shared/reference/codelists/README.md: COD805 (software vendors, a registry snapshot)
    and COD952/COD953 (COD016-VEKT, derived from the AGB register) are open or derived:
    "Unknown codes should at most warn". eicodec has no warning level, so they are not
    linked: an unlisted but well-formed code passes, a non-numeric one does not."""
    for rubric in ("0106", "0419", "0422"):
        assert SPEC.field("01" if rubric == "0106" else "04", rubric).codelist is None
    data = patch(patch(INSURER, 1, "0106", "987654"), 3, "0419", "9999")
    assert findings(patch(data, 3, "0422", "9998")) == []
    assert [c for c, *_ in findings(patch(INSURER, 3, "0419", "99A9"))] == ["8011"]


@pytest.mark.parametrize("batch_lines", [1, 3, 8192])
def test_identical_records_are_found_across_byte_and_wide_batches(batch_lines: int) -> None:
    """STB §6.4.2 row 3 whatever the batching: the copy (line 4) lies in a batch that also
    holds a non-ASCII comment (wide characters), the original (line 3) in a byte batch."""
    lines = lines_of(INSURER)
    comment = lines[4].decode()
    accented = (comment[:18] + "Afgeleverd één keer").ljust(len(comment) - 202)[:158] + comment[158:]
    data = rewrite(join([*lines[:3], lines[2], lines[3], accented.encode(), *lines[5:]]))
    report = eicodec.validate(data, today=TODAY, batch_lines=batch_lines)
    hits = [(f.line, f.code) for f in report.findings if f.rule == "file.identical_record"]
    assert hits == [(4, "0801")]


def test_the_html_report_says_records_were_not_assessed() -> None:
    """STB §6.4.1 in the HTML report: a note, never the unassessed findings as the answer."""
    from eicodec.report_html import render
    data = patch(patch(INSURER, 8, "9902", "000009"), 3, "0413", "777")
    page = render(eicodec.validate(data, today=TODAY), eicodec.iter_records(data))
    assert 'id="unassessed"' in page and "1 bevinding(en) op recordniveau" in page
    assert "0581" not in page
    clean = render(eicodec.validate(INSURER, today=TODAY), eicodec.iter_records(INSURER))
    assert 'id="unassessed"' not in clean
