"""What a vendor's developer, an insurer's analyst and a pharmacy meet first (issue 22):
describing records, typed constructors, checked writing, decisions outside the file,
dates, the return date, and the small things of the command line."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import eicodec
from eicodec.cli import main
from eicodec.decisions import DecisionError, parse_euros, read_decisions
from eicodec.errors import EncodeError, UnknownSpecError
from tests.conftest import EXAMPLES

TODAY = dt.date(2024, 3, 1)
OK = EXAMPLES / "ap304_insurer.asc"
BAD = EXAMPLES / "ap304_claim_rejected.asc"
ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv: object) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ building declarations

def test_describe_lists_every_field_of_a_record_with_what_it_needs() -> None:
    spec = eicodec.get_spec("AP304")
    table = spec.describe("04")
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("rubric"))
    for column in ("rubric", "name", "attribute", "type", "len", "required"):
        assert column in header
    rows = {line[:4]: line for line in lines if line[:4].isdigit()}
    assert list(rows) == [f.rubric for f in spec.layout("04").fields]  # every field, in order
    assert "bsn" in rows["0403"] and " N " in rows["0403"] and "mandatory" in rows["0403"] and "personal" in rows["0403"]
    assert "conditional" in rows["0405"]
    assert "fixed 04" in rows["0401"] and "filled by the writer" in rows["0402"]
    one = spec.describe("0403")
    assert "0403" in one and "0404" not in one
    assert repr(table) == str(table)  # shows as a table at the prompt


def test_explain_prints_records_fields_and_padded_codes(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "explain", "04")
    assert code == 0 and "0445" in out and "referentienummer" in out.lower() and "mandatory" in out
    code, out, _ = run(capsys, "explain", "0403")
    assert code == 0 and "bsn" in out and "BURGERSERVICENUMMER" in out
    code, out, _ = run(capsys, "explain", "581")
    assert code == 0 and out.startswith("0581  ") and eicodec.return_codes().meaning("0581") in out
    code, out, _ = run(capsys, "explain", "02", "--message", "AP305 v8.0")
    assert code == 0 and "AP305 v8.0 record 02" in out
    assert run(capsys, "explain", "77")[0] == 2
    assert run(capsys, "explain", "zzzz")[0] == 2


def test_get_spec_takes_the_name_it_prints() -> None:
    spec = eicodec.get_spec("AP304")
    assert eicodec.get_spec(spec.name) is spec
    assert eicodec.get_spec("ap304 v8.0") is spec and eicodec.get_spec("AP304", "8.0") is spec
    with pytest.raises(UnknownSpecError):
        eicodec.get_spec("AP304 v7.2")
    with pytest.raises(UnknownSpecError):
        eicodec.get_spec("AP304 v8.0", "7.2")


def _half_built() -> eicodec.Declaration:
    spec = eicodec.get_spec("AP304")
    decl = eicodec.Declaration.new(spec, invoice_number="X1", period_start=dt.date(2024, 1, 1))
    node = decl.add(spec.new("02", bsn="123456782"))
    node.add(spec.new("04", declared_amount_signed=1250, reference="A1"))
    return decl


def test_writing_a_half_filled_built_declaration_raises(tmp_path: Path) -> None:
    decl = _half_built()
    with pytest.raises(EncodeError) as caught:
        eicodec.dumps(decl)
    missing = caught.value.missing  # type: ignore[attr-defined]
    assert ("01", "0105") in {(m.record_type, m.rubric) for m in missing}
    assert "123456782" not in str(caught.value)  # no values in the message
    target = tmp_path / "out.asc"
    with pytest.raises(EncodeError):
        eicodec.write(decl, target)
    assert not target.exists()
    draft = eicodec.dumps(decl, check=False)  # a draft is written when asked
    assert draft.count(b"\r\n") == 4


def test_a_read_declaration_writes_back_byte_for_byte() -> None:
    for path in EXAMPLES.glob("*.asc"):
        data = path.read_bytes()
        assert eicodec.dumps(eicodec.read(data)) == data, path.name


def test_typed_constructors_build_records_of_the_right_type() -> None:
    from eicodec.typed import AP304Claim, new_ap304_claim, typed

    claim = new_ap304_claim(reference="A1", service_date=dt.date(2024, 2, 1), declared_amount_signed=-2140)
    assert typed(claim, AP304Claim) is claim
    assert claim.record_type == "04" and claim.declared_amount_signed == -2140
    assert claim.get("0444") == "C" and claim.reference == "A1"


MYPY_SNIPPET = '''
import datetime as dt
from eicodec.typed import new_ap304_claim

ok = new_ap304_claim(reference="A1", service_date=dt.date(2024, 2, 1))
when: dt.date = ok.service_date
bad = new_ap304_claim(refrence="A1")
'''


@pytest.mark.skipif(shutil.which("mypy") is None and not (Path(sys.executable).parent / "mypy").exists(),
                    reason="mypy not installed")
def test_a_type_checker_sees_a_misspelt_field_name(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(MYPY_SNIPPET, encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
                          "--cache-dir", str(tmp_path / "cache"), str(snippet)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 1, res.stdout + res.stderr
    errors = [line for line in res.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and ":7:" in errors[0] and '"refrence"' in errors[0], res.stdout


def test_typed_module_is_what_typegen_generates() -> None:
    from eicodec.typegen import source

    assert (ROOT / "src" / "eicodec" / "typed.py").read_text(encoding="utf-8") == source()


# ------------------------------------------------------------------ insurer decisions

def test_an_insurer_rejects_a_claim_for_a_reason_outside_the_file() -> None:
    report = eicodec.validate(OK, today=TODAY)
    assert report.status.value == "approved"
    answer = eicodec.dumps_retour(OK, report, decisions={"R2024-000102": eicodec.Reject("8004")})
    outcomes = {o.reference: o for o in eicodec.outcome(OK, answer)}
    assert outcomes["R2024-000102"].status == "rejected" and outcomes["R2024-000102"].codes == ("8004",)
    assert outcomes["R2024-000102"].awarded == 0
    assert {o.status for r, o in outcomes.items() if r != "R2024-000102"} == {"not_returned"}
    corrected = eicodec.dumps_retour(OK, report, decisions={"R2024-000101": eicodec.Award(1000)})
    one = next(o for o in eicodec.outcome(OK, corrected) if o.reference == "R2024-000101")
    assert one.awarded == 1000 and one.codes == ("8059",)


def test_decisions_that_cannot_be_right_are_refused() -> None:
    report = eicodec.validate(OK, today=TODAY)
    with pytest.raises(DecisionError, match="does not hold"):
        eicodec.dumps_retour(OK, report, decisions={"R2024-999999": eicodec.Reject("8004")})
    with pytest.raises(DecisionError, match="COD954"):
        eicodec.dumps_retour(OK, report, decisions={"R2024-000101": eicodec.Reject("1234")})
    with pytest.raises(DecisionError, match="once"):
        eicodec.dumps_retour(OK, report, awards={"R2024-000101": 10},
                             decisions={"R2024-000101": eicodec.Reject("8004")})
    rejected = eicodec.validate(BAD, today=TODAY, mode="vecozo")
    with pytest.raises(DecisionError, match="VECOZO"):
        eicodec.dumps_retour(BAD, rejected, decisions={"R2024-000101": eicodec.Reject("8004")})


def test_decisions_from_a_csv_file(tmp_path: Path) -> None:
    sheet = tmp_path / "decisions.csv"
    sheet.write_text("referentie;code;bedrag\nR2024-000102;8004\nR2024-000101;8059;10,00\n", encoding="utf-8")
    assert read_decisions(sheet) == {"R2024-000102": eicodec.Reject("8004"),
                                     "R2024-000101": eicodec.Award(1000, ("8059",))}
    sheet.write_text("R2024-000102,8004\nR2024-000102,8059\n", encoding="utf-8")
    with pytest.raises(DecisionError, match=r"decisions.csv row 2: .* twice"):
        read_decisions(sheet)
    assert parse_euros("-21,4") == -2140 and parse_euros("7") == 700 and parse_euros("12.50") == 1250
    with pytest.raises(ValueError):
        parse_euros("1.234,56")


def test_a_claim_rejected_by_decision_from_the_command_line(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sheet = tmp_path / "decisions.csv"
    sheet.write_text("R2024-000102,8004\n", encoding="utf-8")
    answer = tmp_path / "answer.asc"
    code, out, _ = run(capsys, "validate", OK, "--today", "2024-03-01", "--retour", answer, "--decisions", sheet)
    assert code == 0  # the file itself passed every check
    outcome = next(o for o in eicodec.outcome(OK, answer) if o.reference == "R2024-000102")
    assert outcome.status == "rejected" and outcome.codes == ("8004",)
    assert run(capsys, "validate", OK, "--decisions", sheet)[0] == 2  # decisions need --retour
    assert run(capsys, "validate", OK, "--retour", answer, "--decisions", sheet, "--mode", "vecozo")[0] == 2
    sheet.write_text("R2024-000102,12\n", encoding="utf-8")
    code, _, err = run(capsys, "validate", OK, "--retour", answer, "--decisions", sheet)
    assert code == 2 and "decisions.csv row 1" in err


# ------------------------------------------------------------------ dates

@pytest.mark.parametrize("text", ["2024-03-01", "20240301", "1-3-2024", "01-03-2024", "1 maart 2024",
                                  "1 March 2024", "1 mrt 2024", "2024/3/1", "01.03.2024"])
def test_today_takes_iso_and_unambiguous_dutch_dates(text: str) -> None:
    from eicodec.cli import parse_day

    assert parse_day(text) == TODAY


@pytest.mark.parametrize("text", ["3/1/2024", "1/3/2024", "13/1/2024", "1-3-24", "31-2-2024", "maart 2024", "yesterday"])
def test_an_ambiguous_or_incomplete_date_is_a_usage_error(capsys, text: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, "validate", OK, "--today", text)
    assert code == 2 and "--today" in err


def test_cli_and_api_return_files_of_the_same_input_are_byte_identical(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli_answer = tmp_path / "cli.asc"
    assert run(capsys, "validate", BAD, "--today", "2024-03-01", "--retour", cli_answer)[0] == 1
    report = eicodec.validate(BAD, today=TODAY)
    api_answer = tmp_path / "api.asc"
    eicodec.write_retour(BAD, report, api_answer)
    assert cli_answer.read_bytes() == api_answer.read_bytes()
    assert eicodec.read(api_answer).header.return_date == TODAY  # the check date, not the clock's


def test_the_json_report_records_the_check_date(capsys) -> None:  # type: ignore[no-untyped-def]
    import jsonschema

    code, out, _ = run(capsys, "validate", BAD, "--today", "1-3-2024", "--format", "json")
    doc = json.loads(out)
    assert doc["checked_on"] == "2024-03-01"
    jsonschema.validate(doc, eicodec.report_json.schema("report"))
    assert eicodec.validate(BAD).to_dict()["checked_on"] == dt.date.today().isoformat()


# ------------------------------------------------------------------ the command line's small things

def test_show_prints_signed_amounts_in_euros(capsys) -> None:  # type: ignore[no-untyped-def]
    decl = eicodec.read(OK)
    claim = next(r for r in decl.iter_records() if r.record_type == "04")
    claim.declared_amount_signed = -2140
    path = Path(pytest.importorskip("tempfile").mkdtemp()) / "credit.asc"
    path.write_bytes(eicodec.dumps(decl))
    code, out, _ = run(capsys, "show", path, "--record", "04", "--fields", "0443,0444")
    assert code == 0
    assert "€ -21,40" in out.splitlines()[1] and "2140" not in out
    shutil.rmtree(path.parent)


def test_eicodec_alone_prints_the_help(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys)
    assert code == 2 and "usage: eicodec" in out and "validate" in out and err == ""


def test_errors_of_single_file_commands_name_the_file(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.asc"
    junk.write_bytes(b"this is no EI file\r\n")
    for argv in (["show", junk], ["convert", junk, "--to", "json"], ["anonymise", junk, "-o", tmp_path / "x.asc"]):
        code, _, err = run(capsys, *argv)
        assert code == 3 and str(junk) in err, (argv, err)


def test_concise_reprs() -> None:
    report = eicodec.validate(BAD, today=TODAY)
    text = repr(report)
    assert len(text) < 300 and "AP304 v8.0" in text and "rejected_records" in text and str(BAD) in text
    assert "04: 3" in text and "2024-03-01" in text
    decl = eicodec.read(BAD)
    assert "\n" not in repr(decl) and len(repr(decl)) < 120 + len(str(BAD))
    assert repr(decl).startswith(f"<Declaration AP304 v8.0 from {BAD}: records 01: 1,") and "04: 3" in repr(decl)
    assert decl.source == str(BAD) and eicodec.read(str(BAD)).source == str(BAD)
    with BAD.open("rb") as fh:  # a file object names its file too
        assert eicodec.read(fh).source == str(BAD)
    content = BAD.read_bytes()
    for unnamed in (content, content.decode("utf-8"), io.BytesIO(content)):
        read = eicodec.read(unnamed)
        assert read.source is None and "(read)" in repr(read) and read == decl  # (source is not compared)
    built = eicodec.Declaration.new(decl.spec, invoice_number="X1")
    assert built.source is None and "(built in code)" in repr(built)
    # content passed as str is no file name: the report's repr neither quotes it
    assert len(repr(eicodec.validate(content.decode("utf-8"), today=TODAY))) < 300
    # the finished copy the writer makes keeps the name; the bytes are as read
    assert eicodec.dumps(decl) == content


def test_what_the_readme_examples_write_is_ignored_by_git() -> None:
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    outputs = set(re.findall(r"(?:-o|--output|--retour|--html|--key-file|>) ?([A-Za-z0-9_.-]+\.(?:asc|csv|json|jsonl|"
                             r"parquet|html|key|txt|sqlite))\b", readme))
    outputs |= set(re.findall(r'(?:write_retour\([^)]*|ClaimHistory\(|to_parquet\([^,]*, )"([A-Za-z0-9_.-]+)"', readme))
    assert {"retour.asc", "claims.parquet", "report.html", "claims.sqlite"} <= outputs
    ignored = {line[1:] for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
               if line.startswith("/")}
    assert {o for o in outputs if not o.startswith(".")} - ignored == set()  # (not a suffix alone)


def test_the_json_report_speaks_dutch_when_asked(capsys) -> None:  # type: ignore[no-untyped-def]
    import jsonschema

    from eicodec.report_json import iter_report_json

    english = "AANDUIDING PRESTATIECODELIJST (01) (0413) is not in its code list"
    dutch = "AANDUIDING PRESTATIECODELIJST (01) (0413) staat niet in de codelijst"
    report = eicodec.validate(BAD, today=TODAY)
    assert [f.message for f in report.findings] == [english]  # the API stays English
    _, default, _ = run(capsys, "validate", BAD, "--today", "2024-03-01", "--format", "json")
    code, en, _ = run(capsys, "validate", BAD, "--today", "2024-03-01", "--format", "json", "--lang", "en")
    assert code == 1 and en == default  # byte for byte: English is the default
    assert json.loads(en) == report.to_dict(file=str(BAD))
    assert json.loads(en)["lang"] == "en" and json.loads(en)["findings"][0]["message"] == english
    code, nl, _ = run(capsys, "validate", BAD, "--today", "2024-03-01", "--format", "json", "--lang", "nl")
    doc = json.loads(nl)
    assert code == 1 and doc["lang"] == "nl" and doc["findings"][0]["message"] == dutch
    assert doc == report.to_dict(file=str(BAD), lang="nl")
    assert nl.strip() == "".join(iter_report_json(report, file=str(BAD), lang="nl"))
    assert {k: v for k, v in doc.items() if k not in ("lang", "findings")} == {
        k: v for k, v in json.loads(en).items() if k not in ("lang", "findings")}
    jsonschema.validate(doc, eicodec.report_json.schema("report"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "lang": "fr"}, eicodec.report_json.schema("report"))
    # JSON Lines and the text output translate the same way
    _, lines, _ = run(capsys, "validate", BAD, "--today", "2024-03-01", "--format", "jsonl", "--lang", "nl")
    first, finding = (json.loads(x) for x in lines.splitlines())
    assert first["lang"] == "nl" and finding["message"] == dutch
    _, text, _ = run(capsys, "validate", BAD, "--today", "2024-03-01", "--lang", "nl")
    assert dutch in text and english not in text
    _, text, _ = run(capsys, "validate", BAD, "--today", "2024-03-01")
    assert english in text
    # a value shown (show_values) keeps its place, its word translated; unknown languages are refused
    shown = eicodec.validate(BAD, today=TODAY, show_values=True).to_dict(lang="nl")["findings"][0]["message"]
    assert shown.startswith(dutch + " (waarde '"), shown
    with pytest.raises(ValueError, match="lang"):
        report.to_dict(lang="fr")
    code, _, err = run(capsys, "validate", BAD, "--lang", "fr")
    assert code == 2 and "--lang" in err
