"""A file without voorlooprecord, validated with its spec named (STB §6.4.2 table 6-2:
a missing record rejects the file).

Without a header the standard is known only when the caller names the spec: then the
file is rejected at file level with a finding at line 1 that names the header's kenmerk
rubric, the rest is still checked for structure, and no AP305 can be made (its
voorlooprecord copies the declaration's). Without a spec the input stays unreadable.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import eicodec
from eicodec.cli import EXIT_REJECTED, EXIT_UNREADABLE, main
from eicodec.errors import EicodecError, UnreadableInputError
from eicodec.layouts import data_dir
from eicodec.readback import outcome
from eicodec.retour import build_retour, dumps_retour, write_retour
from tests.conftest import EXAMPLES

AP304 = eicodec.get_spec("AP304")
GZ321 = eicodec.get_spec("GZ321", "1.0")
GZ_NO_HEADER = Path(__file__).parent / "fixtures" / "gz321" / "TB_N2_0101_01.asc"


def _without_header(path: Path) -> bytes:
    data = path.read_bytes()
    assert data[:2] == b"01"
    return data[data.index(b"\r\n") + 2:]


@pytest.fixture
def ap304_file(tmp_path: Path) -> Path:
    """examples/ap304_claim_rejected.asc without its 01 (it keeps a record-level defect)."""
    path = tmp_path / "no_header.asc"
    path.write_bytes(_without_header(EXAMPLES / "ap304_claim_rejected.asc"))
    return path


def _where(findings: object) -> list[tuple[object, ...]]:
    return [(f.rule, f.line, f.record_type, f.rubric, f.code, f.level) for f in findings]  # type: ignore[attr-defined]


@pytest.mark.parametrize("batch_lines", [1, 2, 5, 4096])
def test_gz321_without_header_is_rejected_at_line_1_rubric_0101(batch_lines: int) -> None:
    assert GZ_NO_HEADER.read_bytes() == _without_header(EXAMPLES / "gz321_valid.asc")
    report = eicodec.validate(GZ_NO_HEADER, spec=GZ321, batch_lines=batch_lines)
    assert report.status is eicodec.Status.REJECTED_FILE
    # the rest is the valid example: nothing else, also not from rules that read the header
    assert _where(report.findings) == [("file.missing_header", 1, "01", "0101", "0001", "file")]
    assert report.findings[0].provisional and report.unassessed == []
    assert report.verdict(2) is eicodec.Verdict.NOT_ASSESSED and not report.outcomes
    assert report.counts["02"] == 3 and report.header_raw == ""


def test_any_spec_names_its_own_header_rubric_and_keeps_record_findings_apart(ap304_file: Path) -> None:
    report = eicodec.validate(ap304_file, spec=AP304)
    assert report.status is eicodec.Status.REJECTED_FILE
    assert _where(report.findings) == [("file.missing_header", 1, "01", "0101", "0001", "file")]
    # the record-level defect of the example is found, and kept apart (STB §6.4.1)
    with_header = eicodec.validate(EXAMPLES / "ap304_claim_rejected.asc")
    shifted = [(f.rule, (f.line or 0) - 1, f.rubric, f.code) for f in with_header.findings]
    assert shifted and [(f.rule, f.line, f.rubric, f.code) for f in report.unassessed] == shifted


def test_structure_is_still_checked(tmp_path: Path) -> None:
    """A 04 placed before its 02 is still found (file.order at its line)."""
    lines = _without_header(EXAMPLES / "gz321_valid.asc").split(b"\r\n")
    assert lines[2][:2] == b"04" and lines[0][:2] == b"02"
    lines.insert(0, lines.pop(2))  # the first 04 before the first 02
    path = tmp_path / "no_header_04_first.asc"
    path.write_bytes(b"\r\n".join(lines))
    report = eicodec.validate(path, spec=GZ321)
    got = _where(report.findings)
    assert got[0] == ("file.missing_header", 1, "01", "0101", "0001", "file")
    assert ("file.order", 1, "04", "0401", "8026", "file") in got


def test_a_voorlooprecord_after_the_first_record(tmp_path: Path) -> None:
    """A stray record before the voorlooprecord: the file does not start with one (line
    1), and the one that comes is out of place (line 2)."""
    lines = (EXAMPLES / "gz321_valid.asc").read_bytes().split(b"\r\n")
    path = tmp_path / "stray_first.asc"
    path.write_bytes(b"\r\n".join([lines[2], *lines]))  # a copy of the 98 comment first
    with pytest.raises(UnreadableInputError):
        eicodec.validate(path)
    report = eicodec.validate(path, spec=GZ321)
    got = [(f.rule, f.line, f.rubric, f.message) for f in report.findings]
    assert got[:2] == [("file.missing_header", 1, "0101", "the file does not start with a voorlooprecord"),
                       ("file.order", 1, "9801", "commentaarrecord that follows no detail record")]
    assert ("file.order", 2, "0101", "voorlooprecord that is not the first record") in got


def test_rules_that_read_the_header_skip_its_records(tmp_path: Path) -> None:
    rules = tmp_path / "header.rules.toml"
    rules.write_text('[[rule]]\nid = "t.header"\nkind = "record_absent"\nlevel = "record"\ncode = "8072"\n'
                     'record = "04"\nwhen = [{ rubric = "0105", record = "01", not_equals = ["X"] }]\n'
                     'description = "test"\nmessage = "t"\n', encoding="utf-8")
    with_header = eicodec.validate(EXAMPLES / "gz321_valid.asc", spec=GZ321, rules=rules)
    assert {f.rule for f in with_header.findings} == {"t.header"}
    report = eicodec.validate(GZ_NO_HEADER, spec=GZ321, rules=rules)
    assert "t.header" not in {f.rule for f in [*report.findings, *report.unassessed]}


def test_without_a_spec_the_standard_is_unknown() -> None:
    with pytest.raises(UnreadableInputError, match="first record is not a voorlooprecord"):
        eicodec.validate(GZ_NO_HEADER)


@pytest.mark.parametrize("first", [b"XX", b"77", b"  "])
def test_a_first_line_that_is_no_record_of_the_spec_stays_unreadable(tmp_path: Path, first: bytes) -> None:
    path = tmp_path / "odd.asc"
    path.write_bytes(first + GZ_NO_HEADER.read_bytes()[2:])
    with pytest.raises(UnreadableInputError):
        eicodec.validate(path, spec=GZ321)


def test_reading_such_a_file_is_not_changed() -> None:
    with pytest.raises(UnreadableInputError):
        eicodec.read(GZ_NO_HEADER, spec=GZ321)


def test_no_return_file_can_be_made(ap304_file: Path, tmp_path: Path) -> None:
    report = eicodec.validate(ap304_file, spec=AP304)
    target = tmp_path / "answer.asc"
    for make in (lambda: write_retour(ap304_file, report, target), lambda: build_retour(ap304_file, report),
                 lambda: dumps_retour(ap304_file, report)):
        with pytest.raises(EicodecError, match="no return file can be made") as info:
            make()
        assert (info.value.line, info.value.rubric) == (1, "0101")
    assert list(tmp_path.iterdir()) == [ap304_file]  # nothing half-written
    out = io.BytesIO(b"before")
    out.seek(6)
    with pytest.raises(EicodecError):
        write_retour(ap304_file, report, out)
    assert out.getvalue() == b"before"


def test_outcome_of_such_a_file_is_a_library_error(ap304_file: Path) -> None:
    with pytest.raises(EicodecError, match="voorlooprecord"):
        outcome(ap304_file, EXAMPLES / "ap305_claim_rejected.asc")


def test_cli_validate_with_and_without_spec(ap304_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(data_dir() / "AP304v8.0.toml")
    assert main(["validate", str(ap304_file)]) == EXIT_UNREADABLE
    assert "unreadable" in capsys.readouterr().out
    assert main(["validate", "--spec", spec, str(ap304_file)]) == EXIT_REJECTED
    out = capsys.readouterr().out
    assert "rejected_file" in out and "line 1 rubric 0101: 0001 the file does not start with a voorlooprecord" in out
    assert main(["validate", "--spec", spec, "--format", "json", str(ap304_file)]) == EXIT_REJECTED
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "rejected_file" and doc["message_type"] == "AP304 v8.0"
    assert [(f["rule"], f["line"], f["rubric"]) for f in doc["findings"]] == [("file.missing_header", 1, "0101")]
    assert doc["unassessed_count"] == 1
    assert main(["validate", "--spec", spec, "--format", "jsonl", str(ap304_file)]) == EXIT_REJECTED
    kinds = [json.loads(x)["kind"] for x in capsys.readouterr().out.splitlines()]
    assert kinds == ["report", "finding", "unassessed"]


def test_cli_retour_gives_a_message_and_writes_nothing(ap304_file: Path, tmp_path: Path) -> None:
    spec = str(data_dir() / "AP304v8.0.toml")
    target = tmp_path / "answer.asc"
    for out in (str(target), "-"):
        res = subprocess.run([sys.executable, "-m", "eicodec", "validate", "--spec", spec, str(ap304_file),
                              "--retour", out], capture_output=True, timeout=120, check=False)
        assert res.returncode == EXIT_UNREADABLE, res
        said = (res.stdout + res.stderr).decode()
        assert "no return file can be made" in said and "Traceback" not in said
        assert "rejected_file" in said and "0101" in said  # the report is shown all the same
        if out == "-":
            assert res.stdout == b""  # (the report goes to standard error): no AP305 record at all
    assert not target.exists() and list(tmp_path.iterdir()) == [ap304_file]


def test_cli_html_report(ap304_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "report.html"
    assert main(["report", str(ap304_file), "--html", str(page)]) == EXIT_UNREADABLE
    assert not page.exists()
    spec = str(data_dir() / "AP304v8.0.toml")
    assert main(["report", str(ap304_file), "--spec", spec, "--html", str(page)]) == EXIT_REJECTED
    html = page.read_text(encoding="utf-8")
    assert "het bestand begint niet met een voorlooprecord" in html and "0101" in html  # (Dutch by default)
    capsys.readouterr()
