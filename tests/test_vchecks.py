"""Vektis' own checks (issue #20): the general EI format rules and the AP304 STB cases.

Every case is the shipped AP304 example with one defect, written from the STB/BER text the
rule cites (specs/AP304v8.0.rules.toml, specs/defaults.rules.toml); the example itself is
approved, so each finding below comes from the defect.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import eicodec
from eicodec.model import Record
from eicodec.rules import rules_for
from eicodec.writer import compute_trailer
from tests.conftest import EXAMPLES

SPEC = eicodec.get_spec("AP304", "8.0")
FULL = EXAMPLES / "ap304_full.asc"


def _lines() -> list[str]:
    return FULL.read_bytes().decode("utf-8")[:-2].split("\r\n")


def _put(line: str, rubric: str, text: str) -> str:
    f = SPEC.field(line[:2], rubric)
    assert len(text) == f.length, (rubric, text)
    return line[: f.start - 1] + text + line[f.end:]


def _get(line: str, rubric: str) -> str:
    f = SPEC.field(line[:2], rubric)
    return line[f.start - 1:f.end]


def _file(lines: list[str], retrailer: bool = True) -> bytes:
    if retrailer:
        recs = [Record(SPEC.records.get(ln[:2]), ln) for ln in lines[:-1]]
        lines = lines[:-1] + [compute_trailer(SPEC, recs, Record(SPEC.layout("99"), lines[-1])).raw]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _found(data: bytes, **kw: object) -> tuple[eicodec.Report, list[tuple[int | None, str | None, str, str]]]:
    report = eicodec.validate(data, **kw)  # type: ignore[arg-type]
    return report, [(f.line, f.rubric, f.code, f.rule) for f in [*report.findings, *report.unassessed]]


def test_the_example_is_approved() -> None:
    report = eicodec.validate(_file(_lines(), retrailer=False))
    assert report.status is eicodec.Status.APPROVED and not report.findings


# ---------------------------------------------------------------- STB cases


def test_a_file_without_any_insured_is_rejected_at_the_trailer() -> None:
    """STB §5.2 and tables 5-1/5-2 (at least one verzekerdenrecord); §6.4.2 row 2."""
    lines = _lines()
    report, found = _found(_file([lines[0], lines[-1]]))
    assert report.status is eicodec.Status.REJECTED_FILE
    assert found == [(2, None, "8026", "file.order")]
    assert "no record 02" in report.findings[0].message


def test_a_debtor_number_without_its_debtor_record_rejects_the_file() -> None:
    """BER 0223 and STB §6.4.2 row 2: a missing conditional record rejects the file."""
    lines = _lines()
    second = 8  # the second 02 (line 9) has no 03
    assert lines[second][:2] == "02" and not _get(lines[second], "0223").strip()
    lines[second] = _put(lines[second], "0223", "DEB0002".ljust(11))
    report, found = _found(_file(lines, retrailer=False))
    assert report.status is eicodec.Status.REJECTED_FILE
    assert found == [(9, "0223", "0630", "file.debtor_record_missing")]


def test_a_debtor_number_with_its_debtor_record_is_fine() -> None:
    lines = _lines()
    assert lines[1][:2] == "02" and _get(lines[1], "0223").strip() and lines[3][:2] == "03"
    assert not [f for f in eicodec.validate(FULL).findings if f.rule == "file.debtor_record_missing"]


def _same_insured(lines: list[str], bsn: str, number: str) -> list[str]:
    """Both insured (and their claim lines) given BSN *bsn* and verzekerdennummer *number*."""
    out = []
    for ln in lines:
        if ln[:2] == "02":
            ln = _put(_put(ln, "0203", bsn), "0205", number.ljust(15))
        elif ln[:2] == "04":
            ln = _put(_put(ln, "0403", bsn), "0405", number.ljust(15))
        out.append(ln)
    return out


def test_the_same_bsn_in_two_insured_records_rejects_the_file() -> None:
    """STB §5.2 'bevat per verzekerde één verzekerdenrecord' (BSN the key, §5.4.7)."""
    report, found = _found(_file(_same_insured(_lines(), "123456782", "")))
    assert report.status is eicodec.Status.REJECTED_FILE
    assert found == [(9, "0203", "0435", "file.insured_twice")]


def test_the_same_bsn_with_another_insurer_is_two_insured() -> None:
    lines = _same_insured(_lines(), "123456782", "")
    lines = [_put(ln, "0204" if ln[:2] == "02" else "0404", "3312") if ln[:2] in ("02", "04") and i > 7 else ln
             for i, ln in enumerate(lines)]
    _, found = _found(_file(lines))
    assert not [f for f in found if f[3] == "file.insured_twice"]


def test_the_dummy_bsn_twice_is_one_insured_only_with_the_same_insured_number() -> None:
    same = _same_insured(_lines(), "999999999", "Z123456789")
    report, found = _found(_file(same))
    assert report.status is eicodec.Status.REJECTED_FILE
    assert found == [(9, "0205", "0435", "file.insured_twice")]
    lines = _same_insured(_lines(), "999999999", "Z123456789")
    lines = [_put(ln, "0205" if ln[:2] == "02" else "0405", "Z987654321".ljust(15))
             if ln[:2] in ("02", "04") and i > 7 else ln for i, ln in enumerate(lines)]
    _, found = _found(_file(lines))
    assert not [f for f in found if f[3] == "file.insured_twice"]


def test_a_period_ending_after_the_invoice_date_rejects_the_file() -> None:
    """BER 0115: einddatum declaratieperiode 'mag niet na de dagtekening van de factuur vallen'."""
    lines = _lines()
    assert _get(lines[0], "0117") == "20240205"
    lines[0] = _put(lines[0], "0115", "20240206")
    report, found = _found(_file(lines, retrailer=False))
    assert report.status is eicodec.Status.REJECTED_FILE
    assert (1, "0115", "0021", "file.period_end_invoice_date") in found
    lines[0] = _put(lines[0], "0115", "20240205")  # the same day is fine
    assert eicodec.validate(_file(lines, retrailer=False)).status is eicodec.Status.APPROVED


# ---------------------------------------------------------------- general format rules


@pytest.mark.parametrize(("line", "rubric", "level"), [
    (1, "0116", "file"),     # factuurnummer in the header: the file
    (2, "0210", "record"),   # naam verzekerde
    (9, "0205", "record"),   # verzekerdennummer
    (3, "9804", "record"),   # vrije tekst of a comment
])
def test_an_alphanumeric_value_starting_with_a_space_is_a_finding_with_its_code(
        line: int, rubric: str, level: str) -> None:
    lines = _lines()
    value = _get(lines[line - 1], rubric)
    assert value.strip() and value[0] != " "
    lines[line - 1] = _put(lines[line - 1], rubric, (" " + value.rstrip()).ljust(len(value))[: len(value)])
    report = eicodec.validate(_file(lines, retrailer=False))
    at = [f for f in [*report.findings, *report.unassessed] if f.rule == "format.left_aligned"]
    assert [(f.line, f.rubric, f.level) for f in at] == [(line, rubric, level)]
    code, _ = rules_for(SPEC).field_code(rubric, lines[line - 1][:2])
    assert at[0].code == code and "left-aligned" in at[0].message
    assert report.status is not eicodec.Status.APPROVED


def test_a_numeric_value_padded_with_spaces_is_not_numeric() -> None:
    """N values are right-aligned and zero-filled: the digits check already says so."""
    lines = _lines()
    lines[1] = _put(lines[1], "0204", " 311")
    found = [(f.rubric, f.rule) for f in eicodec.validate(_file(lines, retrailer=False)).findings]
    assert ("0204", "record.field") in found


def test_an_exempt_rubric_may_start_with_a_space(tmp_path: Path) -> None:
    """A standard names rubrics where a leading space is legitimate (`exempt`)."""
    shipped = Path(__file__).resolve().parents[1] / "specs" / "AP304v8.0.rules.toml"
    rules = tmp_path / "AP304v8.0.rules.toml"
    rules.write_text(shipped.read_text(encoding="utf-8") + '\n[[rule]]\nid = "format.left_aligned"\n'
                     'exempt = ["0210"]\n', encoding="utf-8")
    lines = _lines()
    lines[1] = _put(lines[1], "0210", " " + _get(lines[1], "0210")[:-1])
    data = _file(lines, retrailer=False)
    assert "format.left_aligned" in {f.rule for f in eicodec.validate(data).findings}
    assert eicodec.validate(data, rules=rules).status is eicodec.Status.APPROVED


def test_the_alignment_check_does_not_depend_on_the_batch_size() -> None:
    """The batch-wide 'every field fine' pass and the detailed check agree."""
    lines = _lines()
    lines[1] = _put(lines[1], "0210", " " + _get(lines[1], "0210")[:-1])
    lines[4] = _put(lines[4], "0445", " " + _get(lines[4], "0445")[:-1])
    data = _file(lines, retrailer=False)

    def seen(n: int | None) -> list[tuple[int | None, str | None, str]]:
        report = eicodec.validate(data, batch_lines=n) if n else eicodec.validate(data)
        return sorted((f.line, f.rubric, f.rule) for f in [*report.findings, *report.unassessed])

    want = seen(None)
    assert (2, "0210", "format.left_aligned") in want and (5, "0445", "format.left_aligned") in want
    assert seen(1) == seen(4) == want


# ---------------------------------------------------------------- a wrong 0102/0103/0104


@pytest.mark.parametrize(("key", "rubric", "code"), [
    ("19908", "0102", "0010"),    # no message has code 199: known from its record length (360)
    ("19307", "0103", "0011"),
    ("1930801", "0104", "8027"),
])
def test_a_header_naming_no_message_is_rejected_with_an_answer(key: str, rubric: str, code: str) -> None:
    """COD954 0010/0011: the file is rejected for its 0102/0103 (STB §6.4.2 'Zijn de
    berichtgegevens in het voorlooprecord juist?'), with an AP305, not left unreadable."""
    data = FULL.read_bytes()
    data = b"01" + key.encode() + data[2 + len(key):]
    for spec in (None, SPEC):
        report = eicodec.validate(data, spec=spec)
        assert report.status is eicodec.Status.REJECTED_FILE
        assert [(f.line, f.rubric, f.code, f.level) for f in report.findings] == [(1, rubric, code, "file")]
    retour = eicodec.dumps_retour(data, report, insurer_reference="ZV-1")
    assert retour[:9] == b"011940800"
    outcomes = eicodec.outcome(data, retour)
    assert len(outcomes) == 4 and all(o.status == "rejected" and o.codes == (code,) for o in outcomes)


def test_a_header_naming_another_message_is_read_as_the_spec_given() -> None:
    data = b"0119408" + FULL.read_bytes()[7:]  # AP305's code in a file of AP304's record length
    report = eicodec.validate(data, spec=SPEC)
    assert [(f.line, f.rubric, f.code) for f in report.findings] == [(1, "0102", "0010")]
    assert eicodec.validate(data).spec.name == "AP305 v8.0"  # without: the header's own


def test_reading_without_a_spec_still_refuses_a_header_naming_no_message() -> None:
    with pytest.raises(eicodec.UnreadableInputError, match="unknown message type"):
        eicodec.read(b"01199" + FULL.read_bytes()[5:])


@pytest.mark.parametrize("cut", [lambda ln: ln[:-1], lambda ln: ln + " "])
def test_a_record_of_another_length_brings_no_total_finding_when_the_total_is_right(cut: object) -> None:
    lines = _lines()
    assert lines[4][:2] == "04"
    lines[4] = cut(lines[4])  # type: ignore[operator]
    report = eicodec.validate(_file(lines, retrailer=False))
    assert [(f.line, f.code, f.rule) for f in report.findings] == [(5, "0804", "file.record_length")]
    # and a total that is wrong for the records as written is still found
    lines[-1] = _put(lines[-1], "9907", str(int(_get(lines[-1], "9907")) + 1).zfill(len(_get(lines[-1], "9907"))))
    assert "file.trailer_total" in {f.rule for f in eicodec.validate(_file(lines, retrailer=False)).findings}


# ---------------------------------------------------------------- registers (AGB, UZOVI)

REGISTERS = Path(__file__).parent / "fixtures" / "registers"
REGS = {"agb": REGISTERS / "agb.csv", "uzovi": REGISTERS / "uzovi.csv"}  # fictitious codes


def _register_findings(data: bytes, **kw: object) -> list[tuple[int | None, str | None, str, str]]:
    report = eicodec.validate(data, **kw)  # type: ignore[arg-type]
    return [(f.line, f.rubric, f.code, f.rule) for f in [*report.findings, *report.unassessed]
            if ".register_" in f.rule]


def test_registers_are_off_by_default_and_know_the_examples_codes() -> None:
    data = _file(_lines(), retrailer=False)
    assert _register_findings(data) == []
    report = eicodec.validate(data, registers=REGS)
    assert report.status is eicodec.Status.APPROVED and report.findings == []


def test_a_code_the_register_does_not_hold_is_a_finding_with_the_fields_code() -> None:
    lines = _lines()
    lines[4] = _put(lines[4], "0418", "02012346")  # another AGB code (one digit off)
    lines[1] = _put(lines[1], "0204", "3312")       # an UZOVI number no insurer has
    lines[4] = _put(lines[4], "0404", "3312")
    data = _file(lines, retrailer=False)
    found = _register_findings(data, registers=REGS)
    assert (5, "0418", "8011", "record.register_agb_0418") in found
    assert (2, "0204", "0423", "record.register_uzovi_0204") in found
    assert (5, "0404", "0423", "record.register_uzovi_0404") in found
    assert _register_findings(data, registers={"agb": REGS["agb"]}) == [
        (5, "0418", "8011", "record.register_agb_0418")]  # (only the registers given run)


@pytest.mark.parametrize(("rule_id", "line", "rubric"), [
    ("file.register_uzovi_0108", 1, "0108"), ("file.register_agb_0109", 1, "0109"),
    ("file.register_agb_0110", 1, "0110"), ("file.register_agb_0111", 1, "0111"),
    ("file.register_agb_0112", 1, "0112"), ("record.register_uzovi_0204", 2, "0204"),
    ("record.register_uzovi_0404", 5, "0404"), ("record.register_agb_0418", 5, "0418"),
    ("record.register_agb_0420", 5, "0420"), ("record.register_agb_0421", 5, "0421"),
    ("record.register_agb_0423", 5, "0423"),
])
def test_every_register_rule_finds_a_code_of_an_empty_register(rule_id: str, line: int, rubric: str) -> None:
    lines = _lines()
    f = SPEC.field(rubric[:2], rubric)
    if not _get(lines[line - 1], rubric).strip("0 "):
        lines[line - 1] = _put(lines[line - 1], rubric, "3311" if f.length == 4 else "02012345")
    found = _register_findings(_file(lines, retrailer=False), registers={"agb": [], "uzovi": []})
    assert (line, rubric, rule_id) in {(a, b, d) for a, b, _, d in found}


def test_a_register_may_be_sqlite_or_a_callable(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "agb.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE agb (code TEXT PRIMARY KEY, naam TEXT)")
    con.executemany("INSERT INTO agb VALUES (?, ?)", [(c, "x") for c in ("98012345", "02012345", "02000123")])
    con.commit()
    con.close()
    data = _file(_lines(), retrailer=False)
    assert {r for *_, r in _register_findings(data, registers={"agb": db})} == {"record.register_agb_0421"}
    asked: list[str] = []

    def lookup(code: str) -> bool:
        asked.append(code)
        return code != "01012345"

    found = _register_findings(data, registers={"agb": lookup, "uzovi": {"3311"}})
    assert {r for *_, r in found} == {"record.register_agb_0421"}
    assert sorted(asked) == ["01012345", "02000123", "02012345", "98012345"]  # (each code asked once)


def test_an_unreadable_register_is_an_error_of_the_library(tmp_path: Path) -> None:
    from eicodec.registers import RegisterError

    with pytest.raises(RegisterError):
        eicodec.validate(FULL, registers={"agb": tmp_path / "missing.csv"})
    bad = tmp_path / "bad.sqlite"
    import sqlite3

    sqlite3.connect(bad).execute("CREATE TABLE other (x TEXT)").connection.close()
    with pytest.raises(RegisterError):
        eicodec.validate(FULL, registers={"agb": bad})


def test_cli_register_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from eicodec.cli import main

    lines = _lines()
    lines[4] = _put(lines[4], "0418", "02012346")
    path = tmp_path / "f.asc"
    path.write_bytes(_file(lines, retrailer=False))
    assert main(["validate", str(path)]) == 0
    assert main(["validate", "--register", f"agb={REGS['agb']}", str(path)]) == 1
    assert "0418" in capsys.readouterr().out
    assert main(["validate", "--register", "agb", str(path)]) == 2


def test_gz321_codes_are_looked_up_in_the_registers_given() -> None:
    """The same rules as data for GZ321 (its AGB and UZOVI fields)."""
    gz = eicodec.get_spec("GZ321", "1.0")
    valid = EXAMPLES / "gz321_valid.asc"
    codes: dict[str, set[str]] = {"agb": set(), "uzovi": set()}
    for rec in eicodec.iter_records(valid, spec=gz):
        assert rec.layout is not None
        for f in rec.layout.fields:
            value = rec.raw[f.start - 1:f.end].strip()
            if value.strip("0"):
                if "UZOVI" in f.name.upper():
                    codes["uzovi"].add(value)
                elif any(k in f.name.upper() for k in ("ZORGVERLENERSCODE", "PRAKTIJKCODE", "INSTELLINGSCODE",
                                                        "SERVICEBUREAU")):
                    codes["agb"].add(value)
    assert codes["agb"] and codes["uzovi"]
    assert eicodec.validate(valid, spec=gz, registers=codes).status is eicodec.Status.APPROVED
    one = min(codes["agb"])
    report = eicodec.validate(valid, spec=gz, registers={"agb": codes["agb"] - {one}})
    assert report.status is not eicodec.Status.APPROVED
    assert {f.rule.split(".")[1][:12] for f in [*report.findings, *report.unassessed]} == {"register_agb"}


# ---------------------------------------------------------------- BER conditions (AP304 02/03)


@pytest.mark.parametrize(("rule_id", "line", "edits"), [
    ("record.insured_name_2", 2, {"0212": "2"}),                          # naam (02) missing
    ("record.insured_name_2", 2, {"0213": "Jansen".ljust(25)}),           # naam (02) without naamcode 2
    ("record.insured_prefix_2", 2, {"0214": "van".ljust(10)}),            # voorvoegsel (02) without naam (02)
    ("record.insured_postcode", 2, {"0218": "52062".ljust(9)}),           # both postcodes
    ("record.insured_country", 2, {"0217": " " * 6, "0218": "52062".ljust(9)}),  # abroad, no country
    ("record.debtor_name_2", 4, {"0309": "2"}),
    ("record.debtor_name_2", 4, {"0310": "Jansen".ljust(25)}),
    ("record.debtor_prefix_2", 4, {"0311": "van".ljust(10)}),
    ("record.debtor_postcode", 4, {"0319": "52062".ljust(9)}),
    ("record.debtor_country", 4, {"0318": " " * 6, "0319": "52062".ljust(9)}),
    ("record.debtor_relation", 4, {"0224": "1"}),                         # the insured (line 2) deceased
])
def test_ber_conditions_of_the_insured_and_debtor_records(rule_id: str, line: int, edits: dict[str, str]) -> None:
    lines = _lines()
    for rubric, text in edits.items():
        at = 1 if rubric[:2] == "02" else 3  # the first 02 (line 2) and its 03 (line 4)
        lines[at] = _put(lines[at], rubric, text)
    report = eicodec.validate(_file(lines, retrailer=False))
    assert rule_id in {f.rule for f in report.findings if f.line == line}, \
        [(f.line, f.rubric, f.rule) for f in report.findings]


def test_a_foreign_address_with_its_country_is_fine() -> None:
    lines = _lines()
    lines[1] = _put(_put(_put(lines[1], "0217", " " * 6), "0218", "52062".ljust(9)), "0221", "DE")
    report = eicodec.validate(_file(lines, retrailer=False))
    assert not [f for f in report.findings if f.rule.startswith("record.insured_")]


def test_a_service_bureau_code_is_of_zorgverlenerssoort_98() -> None:
    """BER 0109 'Zorgverlenerssoort = 98' (issue #20): a code servicebureau whose first two
    digits are not 98 rejects the file (0013); the example's 98012345 is fine."""
    lines = _lines()
    assert _get(lines[0], "0109") == "98012345"
    assert eicodec.validate(_file(lines, retrailer=False)).status is eicodec.Status.APPROVED
    lines[0] = _put(lines[0], "0109", "01012345")
    report = eicodec.validate(_file(lines, retrailer=False))
    assert report.status is eicodec.Status.REJECTED_FILE
    assert [(f.line, f.rubric, f.code, f.rule) for f in report.findings] == [
        (1, "0109", "0013", "file.service_bureau_code_kind")]
