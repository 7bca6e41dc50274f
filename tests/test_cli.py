"""The command line: contract (exit codes, JSON), commands, and the HTML report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

import eicodec
from eicodec.cli import main
from tests.conftest import EXAMPLES, ROOT

TODAY = ["--today", "2024-03-01"]


def eicodec_today():  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.date(2024, 3, 1)
OK = str(EXAMPLES / "ap304_insurer.asc")
BAD = str(EXAMPLES / "ap304_claim_rejected.asc")


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_validate_exit_codes(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run(capsys, "validate", OK, *TODAY)[0] == 0
    assert run(capsys, "validate", BAD, *TODAY)[0] == 1
    junk = tmp_path / "junk.asc"
    junk.write_bytes(b"hello\r\n")
    assert run(capsys, "validate", OK, str(junk), *TODAY)[0] == 3
    assert run(capsys, "validate", str(tmp_path / "missing.asc"))[0] == 3
    assert run(capsys, "validate", "--mode", "nope", OK)[0] == 2
    assert run(capsys, "validate", OK, "--today", "yesterday")[0] == 2
    assert run(capsys, "validate", OK, "--codes", str(tmp_path / "none.csv"))[0] == 2
    assert run(capsys, "frobnicate")[0] == 2


def test_validate_text_summary_names_codes_lines_and_rubrics(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "validate", BAD, *TODAY)
    assert "rejected_records" in out and "0581" in out and "line 4 rubric 0413" in out
    assert "Aanduiding prestatiecodelijst" in out  # the code's meaning
    assert err == ""  # no progress bar when stderr is not a terminal


def test_validate_json_is_one_object_per_file(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.asc"
    junk.write_bytes(b"")
    code, out, _ = run(capsys, "validate", OK, BAD, str(junk), "--format", "json", *TODAY)
    objs = [json.loads(line) for line in out.splitlines()]
    assert [o["status"] for o in objs] == ["approved", "rejected_records", "unreadable"]
    finding = objs[1]["findings"][0]
    assert set(finding) >= {"code", "level", "line", "record_type", "rubric", "rule", "message"}
    assert objs[1]["code_counts"] == {"0581": 1}  # findings per return code
    assert objs[1]["record_counts"] == {"01": 1, "02": 2, "04": 3, "98": 1, "99": 1}  # Python: report.counts
    assert objs[1] == eicodec.validate(BAD, today=eicodec_today()).to_dict(file=BAD)
    assert code == 3


def test_validate_writes_return_files(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "retour.asc"
    assert run(capsys, "validate", BAD, "--retour", str(out), "--insurer-reference", "ZV-1", *TODAY)[0] == 1
    ret = eicodec.read(out)
    assert ret.spec.name == "AP305 v8.0" and ret.groups[0].claims[0].record.return_code_1 == "0581"
    folder = tmp_path / "many"
    assert run(capsys, "validate", OK, BAD, "--retour", str(folder), *TODAY)[0] == 1
    assert sorted(p.name for p in folder.iterdir()) == ["ap304_claim_rejected.ap305.asc", "ap304_insurer.ap305.asc"]


def test_validate_in_parallel_gives_the_same_results(capsys) -> None:  # type: ignore[no-untyped-def]
    one = run(capsys, "validate", OK, BAD, "--format", "json", *TODAY)
    many = run(capsys, "validate", OK, BAD, "--format", "json", "--jobs", "2", *TODAY)
    assert one == many


def test_show_masks_personal_data_unless_asked(capsys) -> None:  # type: ignore[no-untyped-def]
    full = str(EXAMPLES / "ap304_full.asc")
    code, out, _ = run(capsys, "show", full, "--record", "02")
    assert code == 0 and "BURGERSERVICENUMMER" in out and "***" in out
    assert "123456782" not in out and "Vries" not in out and "19560314" not in out and "1956-03-14" not in out
    _, out, _ = run(capsys, "show", full, "--record", "02", "--unmask")
    assert "123456782" in out and "Vries" in out
    _, out, _ = run(capsys, "show", full, "--record", "04", "--fields", "0403,0410,declared_amount")
    assert "DATUM PRESTATIE" in out and "2024-01-08" in out and "0444" not in out


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.asc")), ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_convert_then_build_is_byte_identical(capsys, tmp_path: Path, path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    js = tmp_path / f"x.{fmt}"
    assert run(capsys, "convert", str(path), "--to", fmt, "-o", str(js), "--unmask")[0] == 0
    out = tmp_path / "x.asc"
    assert run(capsys, "build", str(js), "-o", str(out))[0] == 0
    assert out.read_bytes() == path.read_bytes()


def test_convert_json_schema_and_csv(capsys) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = run(capsys, "convert", str(EXAMPLES / "ap304_full.asc"), "--to", "json")
    doc = json.loads(out)
    assert (doc["standard"], doc["version"]) == ("AP304", "8.0")
    claim = next(r for r in doc["records"] if r["record_type"] == "04")
    assert claim["fields"]["service_date"] == "2024-01-08" and claim["fields"]["declared_amount"] == 1250
    _, out, _ = run(capsys, "convert", str(EXAMPLES / "ap304_full.asc"), "--to", "csv", "--layout", "fields")
    assert out.splitlines()[0] == "line,record_type,rubric,name,attr,value"
    assert "123456782" not in out and "***" in out


def test_build_reports_bad_json_in_one_line(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text('{"standard": "AP304", "records": [{"record_type": "04", "fields": {"bsn": "12x"}}]}')
    code, _, err = run(capsys, "build", str(bad), "-o", str(tmp_path / "o.asc"))
    assert code == 2 and err.count("\n") == 1 and "0403" in err and "Traceback" not in err
    bad.write_text("{not json")
    code, _, err = run(capsys, "build", str(bad), "-o", str(tmp_path / "o.asc"))
    assert code == 2 and "not valid JSON" in err and err.count("\n") == 1


def test_explain(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "explain", "8021")
    assert code == 0 and "Referentienummer" in out and "record.reference_unique" in out
    assert run(capsys, "explain", "9999")[0] == 2  # a usage error: no such code


def test_help_of_every_command_has_an_example(capsys) -> None:  # type: ignore[no-untyped-def]
    for cmd in ("validate", "show", "convert", "build", "explain", "report", "info", "example"):
        code, out, _ = run(capsys, cmd, "--help")
        assert code == 0 and "example:" in out


def test_console_script_and_module_run() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-m", "eicodec", "validate", BAD, *TODAY],
                         capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 1 and "0581" in res.stdout
    script = Path(sys.executable).parent / "eicodec"
    if script.exists():
        res = subprocess.run([str(script), "validate", OK, *TODAY], capture_output=True, text=True, check=False)
        assert res.returncode == 0


# ------------------------------------------------------------------ HTML report

class _Checker(HTMLParser):
    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>")
        else:
            self.stack.pop()


def make_report(capsys, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    page = tmp_path / "report.html"
    assert run(capsys, "report", BAD, "--html", str(page), *TODAY)[0] == 1
    return page


def test_html_report_is_valid_self_contained_and_has_no_personal_data(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = make_report(capsys, tmp_path).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    checker = _Checker()
    checker.feed(text)
    assert checker.errors == [] and checker.stack == []
    assert checker.urls == []  # no network (or any external) assets
    assert "Afgekeurd op recordniveau" in text and "0581" in text and "<svg" in text
    assert "111222333" not in text and "Jansen" not in text


# The browser check of the HTML report is in tests/test_report_html.py (three kinds of file).


# Progress lines on a terminal (and never when piped or with JSON): tests/test_shell.py.
