"""The command line as a shell user meets it: - for stdin/stdout, usage errors (exit 2,
one line naming the option), --debug anywhere, --show-values, JSON / JSON Lines with
their schema, progress on a terminal only, and the example files."""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

import eicodec
from eicodec.cli import main, parse_day
from tests.conftest import EXAMPLES, ROOT

TODAY = ["--today", "2024-03-01"]
OK = str(EXAMPLES / "ap304_insurer.asc")
BAD = str(EXAMPLES / "ap304_claim_rejected.asc")
FULL = str(EXAMPLES / "ap304_full.asc")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


def cli(*argv: str, stdin: bytes = b"", cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m eicodec`` as a user would, with real standard streams."""
    return subprocess.run([sys.executable, "-m", "eicodec", *argv], input=stdin, capture_output=True,
                          env=ENV, cwd=cwd, timeout=120, check=False)


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def run_code(*argv: str) -> int:
    return main(list(argv))


def file_rejected(tmp_path: Path) -> Path:
    """ap304_insurer.asc with a wrong trailer count: rejected at file level."""
    lines = Path(OK).read_bytes().split(b"\r\n")[:-1]
    trailer = lines[-1]
    lines[-1] = trailer[:2] + b"%07d" % (int(trailer[2:9]) + 5) + trailer[9:]
    path = tmp_path / "file_rejected.asc"
    path.write_bytes(b"".join(line + b"\r\n" for line in lines))
    assert eicodec.validate(path, today=dt.date(2024, 3, 1)).status is eicodec.Status.REJECTED_FILE
    return path


# ------------------------------------------------------------------ - as stdin / stdout

def test_every_reading_command_reads_standard_input() -> None:
    data = Path(BAD).read_bytes()
    res = cli("validate", "-", *TODAY, stdin=data)
    assert res.returncode == 1 and b"<stdin>: rejected_records" in res.stdout and b"0581" in res.stdout
    res = cli("validate", "-", "--format", "json", *TODAY, stdin=data)
    assert json.loads(res.stdout)["file"] == "-"
    res = cli("show", "-", "--record", "04", "--fields", "0445", stdin=data)
    assert res.returncode == 0 and b"REFERENTIENUMMER DIT PRESTATIERECORD" in res.stdout
    res = cli("info", "-", stdin=data)
    assert res.returncode == 0 and b"<stdin>: AP304 v8.0" in res.stdout
    res = cli("convert", "-", "--to", "jsonl", stdin=data)
    assert res.returncode == 0 and json.loads(res.stdout.splitlines()[0])["standard"] == "AP304"
    res = cli("report", "-", "--html", "-", *TODAY, stdin=data)
    assert res.returncode == 1 and res.stdout.startswith(b"<!DOCTYPE html>") and b"0581" in res.stdout
    assert b"report written to standard output" in res.stderr


def test_a_pipe_round_trip_convert_build_validate() -> None:
    """convert - | build - -o - | validate - : the file comes back byte for byte."""
    data = Path(FULL).read_bytes()
    for fmt in ("json", "jsonl"):
        js = cli("convert", "-", "--to", fmt, "--unmask", stdin=data)
        back = cli("build", "-", "-o", "-", stdin=js.stdout)
        assert back.returncode == 0 and back.stdout == data
    res = cli("validate", "-", *TODAY, stdin=back.stdout)
    assert res.returncode == 0


def test_retour_from_standard_input(tmp_path: Path) -> None:
    out = tmp_path / "retour.asc"
    res = cli("validate", "-", "--retour", str(out), *TODAY, stdin=Path(BAD).read_bytes())
    assert res.returncode == 1
    assert eicodec.read(out).groups[0].claims[0].record.return_code_1 == "0581"
    # both ends a pipe: the return file on stdout, the findings on stderr
    res = cli("validate", "-", "--retour", "-", *TODAY, stdin=Path(BAD).read_bytes())
    assert res.returncode == 1 and b"0581" in res.stderr
    assert res.stdout == out.read_bytes()
    assert run_code("validate", OK, BAD, "--retour", "-") == 2  # one return file only on stdout


# ------------------------------------------------------------------ usage errors

USAGE = [
    (["explain", "9999"], "CODE"),
    (["validate", OK, "--encoding", "klingon"], "--encoding"),
    (["show", FULL, "--encoding", "klingon"], "--encoding"),
    (["show", FULL, "--record", "77"], "--record"),
    (["show", FULL, "--fields", "9999"], "--fields"),
    (["show", FULL, "--record", "02", "--fields", "0445"], "--fields"),
    (["validate", OK, "--today", "2024-13-45"], "--today"),
    (["report", OK, "--html", "x.html", "--today", "2024-02-30"], "--today"),
    (["validate", OK, "--jobs", "0"], "--jobs"),
    (["validate", OK, "--mode", "nope"], "--mode"),
    (["validate", OK, "--codes", "no/such.csv"], "--codes"),
    (["validate", OK, "--spec", "no/such.toml"], "--spec"),
    (["validate", "-", "-"], "FILE"),
    (["convert", FULL], "--to"),
    (["example", "nope"], "NAME"),
    (["frobnicate"], "frobnicate"),
]


@pytest.mark.parametrize(("argv", "option"), USAGE, ids=[" ".join(a[:1] + a[2:]) for a, _ in USAGE])
def test_usage_errors_exit_2_with_one_line_naming_the_option(capsys, argv: list[str], option: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and option in err and "Traceback" not in err


def test_build_of_bad_json_is_a_usage_error(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    for text in ("{not json", "[1, 2]", '{"standard": "AP999", "records": []}', ""):
        bad.write_text(text)
        code, _, err = run(capsys, "build", str(bad), "-o", str(tmp_path / "o.asc"))
        assert code == 2 and err.count("\n") == 1 and "FILE" in err, text
    assert not (tmp_path / "o.asc").exists()


def test_today_is_parsed_leniently_but_never_guessed() -> None:
    want = dt.date(2024, 3, 1)
    for text in ("2024-03-01", "20240301", "2024/3/1", "1-3-2024", "01.03.2024", "1 March 2024"):
        assert parse_day(text) == want, text
    for text in ("2024-13-45", "2024-02-30", "2024", "March 2024", "yesterday", ""):
        with pytest.raises(Exception):  # noqa: B017 - argparse's type error
            parse_day(text)


def test_a_lenient_today_gives_the_same_result(capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(capsys, "validate", BAD, "--format", "json", "--today", "1-3-2024") == \
        run(capsys, "validate", BAD, "--format", "json", *TODAY)


def test_debug_works_anywhere_on_the_line(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for argv in (["--debug", "build", str(bad), "-o", "x"], ["build", "--debug", str(bad), "-o", "x"],
                 ["build", str(bad), "-o", "x", "--debug"]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "Traceback" in err and "not valid JSON" in err, argv
    code, _, err = run(capsys, "build", str(bad), "-o", "x")
    assert "Traceback" not in err


def test_show_values_is_off_by_default(capsys) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = run(capsys, "validate", BAD, "--format", "json", *TODAY)
    doc = json.loads(out)
    assert doc["show_values"] is False and "777" not in out
    _, out, _ = run(capsys, "validate", BAD, "--format", "json", "--show-values", *TODAY)
    doc = json.loads(out)
    assert doc["show_values"] is True and "'777'" in doc["findings"][0]["message"]


# ------------------------------------------------------------------ JSON, JSON Lines and their schema

jsonschema = pytest.importorskip("jsonschema")


def _validator(name: str):  # type: ignore[no-untyped-def]
    from referencing import Registry, Resource

    from eicodec.report_json import schema

    main_schema = schema("report")
    registry = Registry().with_resource(main_schema["$id"], Resource.from_contents(main_schema))
    cls = jsonschema.validators.validator_for(main_schema)
    cls.check_schema(schema(name))
    return cls(schema(name), registry=registry)


def test_json_output_is_report_to_dict_and_follows_the_shipped_schema(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.asc"
    junk.write_bytes(b"hello\r\n")
    files = [OK, BAD, str(file_rejected(tmp_path)), str(junk)]
    code, out, _ = run(capsys, "validate", *files, "--format", "json", *TODAY)
    docs = [json.loads(line) for line in out.splitlines()]
    assert code == 3 and [d["status"] for d in docs] == ["approved", "rejected_records", "rejected_file",
                                                         "unreadable"]
    check = _validator("report")
    for doc in docs:
        check.validate(doc)
    for path, doc in zip(files[:3], docs[:3], strict=True):
        assert doc == eicodec.validate(path, today=dt.date(2024, 3, 1)).to_dict(file=path)
    assert docs[2]["file_findings_count"] >= 1 and docs[1]["code_counts"] == {"0581": 1}
    broken = {**docs[1], "status": "fine"}
    with pytest.raises(jsonschema.ValidationError):
        check.validate(broken)  # the schema is not a rubber stamp


def test_jsonl_streams_a_summary_then_one_line_per_finding(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.asc"
    junk.write_bytes(b"")
    rejected = file_rejected(tmp_path)
    code, out, _ = run(capsys, "validate", BAD, str(rejected), str(junk), "--format", "jsonl", *TODAY)
    lines = [json.loads(line) for line in out.splitlines()]
    check = _validator("report-line")
    for line in lines:
        check.validate(line)
    kinds = [(x["kind"], x["file"]) for x in lines]
    n_bad = len(eicodec.validate(BAD, today=dt.date(2024, 3, 1)).findings)
    n_rej = len(eicodec.validate(rejected, today=dt.date(2024, 3, 1)).findings)
    assert kinds == ([("report", BAD)] + [("finding", BAD)] * n_bad + [("report", str(rejected))]
                     + [("finding", str(rejected))] * n_rej + [("unreadable", str(junk))])
    assert lines[0]["findings_count"] == n_bad and "findings" not in lines[0]
    assert code == 3


def test_jsonl_keeps_memory_flat_where_one_json_document_does_not() -> None:
    """Streaming a report of 10,000 findings holds one line at a time."""
    import tracemalloc

    from eicodec.report_json import iter_report_jsonl

    report = eicodec.validate(BAD, today=dt.date(2024, 3, 1))
    report.findings = list(report.findings) * 10_000  # the same finding object, many times
    tracemalloc.start()
    for _line in iter_report_jsonl(report, file="big.asc"):
        pass
    streamed = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    json.dumps(report.to_dict(file="big.asc"))
    whole = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert streamed < 200_000 and whole > 20 * streamed  # a few kB against megabytes


def test_the_streamed_json_document_is_exactly_to_dict() -> None:
    from eicodec.report_json import iter_report_json

    for path in (OK, BAD):
        report = eicodec.validate(path, today=dt.date(2024, 3, 1))
        report.findings = list(report.findings) * 3
        want = report.to_dict(file=path)
        assert json.loads("".join(iter_report_json(report, file=path))) == want
        assert "".join(iter_report_json(report, file=path)) == json.dumps(want, ensure_ascii=False)
        both = json.loads("".join(iter_report_json(report, file=path, retour="r.asc")))
        assert both == {**want, "retour": "r.asc"}


def test_python_and_json_counts_mean_the_same_thing() -> None:
    report = eicodec.validate(BAD, today=dt.date(2024, 3, 1))
    doc = report.to_dict()
    assert doc["record_counts"] == report.counts and doc["code_counts"] == dict(report.code_counts())
    assert "counts" not in doc


# ------------------------------------------------------------------ progress

def _under_a_terminal(*argv: str) -> tuple[int, bytes]:
    master, slave = pty.openpty()
    res = subprocess.run([sys.executable, "-m", "eicodec", *argv], stdout=subprocess.DEVNULL, stderr=slave,
                         env=ENV, timeout=180, check=False)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return res.returncode, seen


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid file of 24,000 records, enough for the validator to report progress."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    path = tmp_path_factory.mktemp("big") / "big.asc"
    bench.generate(path, 24_000)
    return path


def test_validate_progress_on_a_terminal_only(big: Path) -> None:
    code, seen = _under_a_terminal("validate", str(big), *TODAY)
    assert code == 0 and b"records checked (" in seen and b"records/s" in seen
    piped = cli("validate", str(big), *TODAY)
    assert piped.returncode == 0 and piped.stderr == b""
    code, seen = _under_a_terminal("validate", str(big), "--format", "json", *TODAY)
    assert code == 0 and b"records checked" not in seen  # never with JSON


def test_progress_of_report_build_convert_and_jobs_on_a_terminal_only(big: Path, tmp_path: Path) -> None:
    _, seen = _under_a_terminal("report", str(big), "--html", str(tmp_path / "r.html"), *TODAY)
    assert b"records checked (" in seen and b"%)" in seen and b"records/s" in seen
    js = tmp_path / "full.json"
    assert cli("convert", FULL, "--to", "json", "--unmask", "-o", str(js)).stderr == b""  # piped: silent
    code, seen = _under_a_terminal("convert", FULL, "--to", "json", "-o", str(tmp_path / "b.json"))
    assert code == 0 and b"B of " in seen and b"kB (" in seen and b"%)" in seen  # bytes read of the size
    code, seen = _under_a_terminal("build", str(js), "-o", str(tmp_path / "back.asc"))
    assert code == 0 and b"records built (" in seen and b"records/s" in seen
    assert (tmp_path / "back.asc").read_bytes() == Path(FULL).read_bytes()
    code, seen = _under_a_terminal("validate", OK, BAD, FULL, "--jobs", "2", *TODAY)
    assert code == 1 and b"of 3 files (" in seen
    code, seen = _under_a_terminal("validate", OK, BAD, "--jobs", "2", "--format", "json", *TODAY)
    assert b"files" not in seen  # never with JSON


def test_progress_line_counts_rates_and_percentages() -> None:
    import io

    from eicodec.progress import Progress

    stream = io.StringIO()
    with Progress("x.asc", total=200, unit="records checked", stream=stream, enabled=True) as bar:
        bar.update(50)
        line = bar.line(now=bar._start + 2.0)
    assert line.startswith("x.asc: 50 of 200 records checked (25%)") and "25 records/s" in line and "6s left" in line
    assert stream.getvalue().startswith("\r\033[K") and stream.getvalue().endswith("\r\033[K")
    quiet = io.StringIO()  # not a terminal: nothing drawn
    with Progress("x.asc", total=200, stream=quiet) as bar:
        bar.update(100)
    assert quiet.getvalue() == ""


# ------------------------------------------------------------------ examples

def test_example_writes_the_shipped_files(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "example", "--list")
    names = out.split()
    assert code == 0 and names == sorted(p.name for p in EXAMPLES.glob("*.asc"))
    os.chdir(tmp_path)
    try:
        assert run(capsys, "example")[0] == 0  # default: ./examples, as the help texts say
        for name in names:
            assert (tmp_path / "examples" / name).read_bytes() == (EXAMPLES / name).read_bytes()
        assert run(capsys, "validate", "examples/ap304_insurer.asc", *TODAY)[0] == 0
        (tmp_path / "examples" / "ap304_full.asc").write_bytes(b"mine")
        code, _, err = run(capsys, "example", "ap304_full")
        assert code == 2 and "--force" in err and (tmp_path / "examples" / "ap304_full.asc").read_bytes() == b"mine"
        assert run(capsys, "example", "ap304_full", "--force")[0] == 0
    finally:
        os.chdir(ROOT)
    res = cli("example", "ap304_claim_rejected", "-o", "-")
    assert res.returncode == 0 and res.stdout == (EXAMPLES / "ap304_claim_rejected.asc").read_bytes()


def test_help_texts_name_only_example_files_that_ship(capsys) -> None:  # type: ignore[no-untyped-def]
    import re

    from eicodec.examples import example_names

    texts = [run(capsys, "--help")[1]]
    for cmd in ("validate", "show", "convert", "build", "explain", "report", "info", "example"):
        texts.append(run(capsys, cmd, "--help")[1])
    named = set(re.findall(r"examples/([\w.]+)", "\n".join(texts)))
    assert named and named <= set(example_names())
    assert all("eicodec example" in t for t in texts)


def test_record_findings_of_a_file_rejected_at_file_level_are_apart_in_json(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """STB §6.4.1: a file rejected at file level has no record assessed; its record findings
    come under `unassessed` (JSON) or as `unassessed` lines (JSON Lines), and both follow
    the shipped schemas."""
    lines = Path(BAD).read_bytes().split(b"\r\n")[:-1]
    trailer = lines[-1]
    lines[-1] = trailer[:2] + b"%07d" % (int(trailer[2:9]) + 5) + trailer[9:]
    both = tmp_path / "both.asc"
    both.write_bytes(b"".join(line + b"\r\n" for line in lines))
    code, out, _ = run(capsys, "validate", str(both), "--format", "json", *TODAY)
    doc = json.loads(out)
    _validator("report").validate(doc)
    assert code == 1 and doc["status"] == "rejected_file"
    assert {f["level"] for f in doc["findings"]} == {"file"}
    assert doc["unassessed"] and {f["level"] for f in doc["unassessed"]} == {"record"}
    assert doc["unassessed_count"] == len(doc["unassessed"])
    code, out, _ = run(capsys, "validate", str(both), "--format", "jsonl", *TODAY)
    rows = [json.loads(line) for line in out.splitlines()]
    check = _validator("report-line")
    for row in rows:
        check.validate(row)
    assert [r["kind"] for r in rows].count("unassessed") == len(doc["unassessed"])


def test_a_report_whose_answer_cannot_be_made_keeps_its_report_and_says_why(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--retour for a declaration no return message is shipped for (GZ321): the report is
    printed as ever, error_type/message say why there is no answer, exit 3, no file."""
    from tests.conftest import EXAMPLES

    gz = str(EXAMPLES / "gz321_valid.asc")
    target = tmp_path / "answer.asc"
    for fmt, check in (("json", _validator("report")), ("jsonl", _validator("report-line"))):
        code, out, _ = run(capsys, "validate", gz, "--retour", str(target), "--format", fmt)
        doc = json.loads(out.splitlines()[0])
        check.validate(doc)
        assert code == 3 and doc["status"] == "approved" and doc["message_type"] == "GZ321 v1.0"
        assert doc["retour"] is None and doc["error_type"] == "EicodecError"
        assert doc["message"].startswith("return file not written: no return message for GZ321")
    code, out, _ = run(capsys, "validate", gz, "--retour", str(target))
    assert code == 3 and out.splitlines()[0].endswith(": approved") and "return file not written" in out
    assert not target.exists()
