"""Hostile and broken input: only eicodec's own errors, every line accounted for, no
personal data in messages, bounded memory on huge lines."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eicodec
from eicodec.cli import main
from tests.conftest import EXAMPLES, ROOT, join, lines_of

TODAY = dt.date(2024, 3, 1)
FULL = (EXAMPLES / "ap304_full.asc").read_bytes()
INSURER = (EXAMPLES / "ap304_insurer.asc").read_bytes()


def universal_lines(data: bytes, encoding: str) -> int:
    """How many lines a reader splitting on CR/LF, LF and lone CR must report."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:  # mixed UTF-8/cp1252 (read line by line): bytes split alike
        text = data.decode("latin-1")
    text = text.removeprefix("\ufeff")
    return len(io.StringIO(text, newline="").readlines())


def exercise(data: bytes) -> eicodec.Report | None:
    """Everything a caller may do with untrusted bytes; only eicodec errors may escape."""
    try:
        records = list(eicodec.iter_records(data))
    except eicodec.UnreadableInputError:
        try:
            report = eicodec.validate(data, today=TODAY)
        except eicodec.UnreadableInputError:
            return None
        # (the validator knows the spec from the header's record length when its
        # 0102/0103/0104 name no message: the file is rejected for that, issue #20)
        assert report.status is eicodec.Status.REJECTED_FILE
        assert {"0102", "0103", "0104"} & {f.rubric for f in report.findings if f.level == "file"}
        return None
    enc = eicodec.open_records(data).info.encoding
    assert len(records) == universal_lines(data, enc)  # every line accounted for
    try:
        decl = eicodec.read(data)
        eicodec.dumps(decl)
    except eicodec.EncodeError:
        pass  # a broken file cannot be written back, and says so
    for rec in records:
        if rec.layout is not None and len(rec.raw) == rec.layout.length:
            for f in rec.layout.fields:
                try:
                    rec.get(f.attr)
                except eicodec.DecodeError:
                    pass
    report = eicodec.validate(data, today=TODAY)
    flagged = {f.line for f in report.findings}
    for rec in records:  # every line the structure rejects appears in a finding
        if rec.layout is None or len(rec.raw) != rec.layout.length or rec.terminator != "\r\n":
            assert rec.line in flagged, rec
    for line, out in report.outcomes.items():
        if out.verdict is eicodec.Verdict.REJECTED and set(out.codes) - {"0200"}:
            assert line in flagged
    if report.status is not eicodec.Status.APPROVED:
        try:
            eicodec.dumps(eicodec.build_retour(data, report, return_date=TODAY))
        except eicodec.EicodecError as exc:
            assert "VECOZO" in str(exc) or isinstance(exc, eicodec.MismatchError)
    return report


@settings(max_examples=300, suppress_health_check=list(HealthCheck), deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes(data: bytes) -> None:
    exercise(data)


@settings(max_examples=300, suppress_health_check=list(HealthCheck), deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_after_a_valid_header(tail: bytes) -> None:
    exercise(lines_of(FULL)[0] + b"\r\n" + tail)


def _mutations() -> st.SearchStrategy[bytes]:
    base = st.sampled_from([FULL, INSURER])

    def flip(data: bytes, pos: int, byte: int) -> bytes:
        pos %= len(data)
        return data[:pos] + bytes([byte]) + data[pos + 1:]

    def lines_op(data: bytes, op: str, i: int, j: int) -> bytes:
        lines = lines_of(data)
        i, j = i % len(lines), j % len(lines)
        if op == "dup":
            lines.insert(i, lines[i])
        elif op == "drop":
            del lines[i]
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return join(lines)

    return st.one_of(
        st.builds(flip, base, st.integers(0, 10**6), st.integers(0, 255)),
        st.builds(lambda d, n: d[: n % (len(d) + 1)], base, st.integers(0, 10**6)),  # truncation
        st.builds(lines_op, base, st.sampled_from(["dup", "drop", "swap"]), st.integers(0, 99), st.integers(0, 99)),
        st.builds(lambda d, n: d[: n % len(d)] + b"\x00" + d[n % len(d):], base, st.integers(0, 10**6)),
        base.map(lambda d: b"\xef\xbb\xbf" + d),
        base.map(lambda d: d.replace(b"\r\n", b"\n")),
        base.map(lambda d: d.replace(b"\r\n", b"\r")),
        st.builds(lambda d, n: d.replace(b"\r\n", b"\n", n % 5), base, st.integers(0, 9)),  # mixed endings
        st.builds(lambda d, n: join([*lines_of(d)[:2], b"9" * n, *lines_of(d)[2:]]), base,
                  st.integers(100_000, 101_000)),  # a line of 100 kB
        st.builds(lambda d, s: d.replace(b"Vries", s.encode("utf-8")[:5].ljust(5)), base,
                  st.text(min_size=1, max_size=5)),  # non-Latin text in a name
    )


@settings(max_examples=250, suppress_health_check=list(HealthCheck), deadline=None)
@given(_mutations())
def test_mutations_of_valid_files(data: bytes) -> None:
    exercise(data)


@pytest.mark.parametrize("data", [b"", b"\r\n", lines_of(FULL)[0] + b"\r\n", b"\xef\xbb\xbf", b"\x00" * 500])
def test_edge_inputs(data: bytes) -> None:
    report = exercise(data)
    if data.startswith(b"01193"):  # only a header: readable, rejected at file level
        assert report is not None and report.status is eicodec.Status.REJECTED_FILE


def test_only_header_gets_a_file_level_return_file() -> None:
    data = lines_of(FULL)[0] + b"\r\n"
    report = eicodec.validate(data, today=TODAY)
    ret = eicodec.read(eicodec.dumps(eicodec.build_retour(data, report, return_date=TODAY)))
    assert ret.groups == [] and ret.header.return_code_1 == "0001"


def test_latin1_and_cp1252_files_read_correctly_and_round_trip() -> None:
    decl = eicodec.read(INSURER)
    decl.groups[0].record.surname_1 = "Schröder-Ébène"
    for enc in ("latin-1", "cp1252"):
        data = eicodec.dumps(decl, encoding=enc)
        back = eicodec.read(data, encoding=enc)
        assert back.groups[0].record.surname_1 == "Schröder-Ébène"
        assert eicodec.dumps(back) == data
        assert eicodec.validate(data, encoding=enc, today=TODAY).status is eicodec.Status.APPROVED


def test_a_huge_single_line_is_read_through_with_bounded_memory(tmp_path: Path) -> None:
    """100 MB without a line break: reported as one bad record, never loaded whole."""
    path = tmp_path / "huge.asc"
    with path.open("wb") as fh:
        fh.write(lines_of(FULL)[0] + b"\r\n")
        chunk = b"04" + b"7" * (1 << 20)
        for _ in range(100):
            fh.write(chunk)
        fh.write(b"\r\n")
    # tracemalloc, not ru_maxrss: a child started from this (large) pytest process
    # inherits the parent's peak RSS on Linux.
    code = (
        "import tracemalloc, eicodec, datetime\n"
        "tracemalloc.start()\n"
        f"r = eicodec.validate({str(path)!r}, today=datetime.date(2024, 3, 1))\n"
        "n = sum(1 for _ in eicodec.iter_records(" + repr(str(path)) + "))\n"
        "print(r.status.value, n, [f.code for f in r.findings if f.line == 2][:1],"
        " tracemalloc.get_traced_memory()[1] // 2**20)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                         check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout.split()
    assert out[0] == "rejected_file" and out[1] == "2" and "0804" in out[2], res.stdout
    assert int(out[-1]) < 40, res.stdout  # MB peak for a 100 MB line: it is streamed, not held


# ------------------------------------------------------------------ personal data

PII = ["123456782", "999999999", "111222333", "Vries", "Bakker", "Jansen", "19560314", "1956-03-14",
       "19881102", "1988-11-02", "19710530", "1971-05-30", "Z123456789", "NL91ABNA0417164300", "Oudegracht"]


def _fault_corpus() -> list[bytes]:
    corpus = []
    for base in (FULL, INSURER):
        lines = lines_of(base)
        for i in range(1, len(lines)):
            for pos in (20, 60, 70, 100, 300):
                ln = lines[i]
                corpus.append(join([*lines[:i], ln[:pos] + b"#" + ln[pos + 1:], *lines[i + 1:]]))
            corpus.append(join([*lines[:i], lines[i][:-3], *lines[i + 1:]]))
        corpus.append(base.replace(b"\r\n", b"\n"))
        corpus.append(join(lines[:-1]))
    return corpus


def test_no_personal_data_in_messages_logs_or_default_output(capsys, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for data in _fault_corpus():
        try:
            report = eicodec.validate(data, today=TODAY)
        except eicodec.EicodecError as exc:
            texts.append(str(exc))
            continue
        texts += [f.message for f in report.findings]
        try:
            decl = eicodec.read(data)
            texts += [p.message for p in decl.problems]
            eicodec.dumps(decl)
        except eicodec.EicodecError as exc:
            texts.append(str(exc))
        for rec in eicodec.iter_records(data):
            if rec.layout is not None:
                for f in rec.layout.fields:
                    try:
                        rec.get(f.attr)
                    except eicodec.EicodecError as exc:
                        texts.append(str(exc))
    for args in (["validate", str(EXAMPLES / "ap304_full.asc")], ["show", str(EXAMPLES / "ap304_full.asc")],
                 ["convert", str(EXAMPLES / "ap304_full.asc"), "--to", "csv"],
                 ["report", str(EXAMPLES / "ap304_claim_rejected.asc"), "--html", os.devnull]):
        main(args)
        out = capsys.readouterr()
        texts += [out.out, out.err]
    texts += [r.getMessage() for r in caplog.records]
    blob = "\n".join(texts)
    assert len(texts) > 100
    leaked = [p for p in PII if p in blob]
    assert leaked == []
