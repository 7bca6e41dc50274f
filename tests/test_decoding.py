"""Issue 12 case 7: one stray byte does not change how the other lines read.

A UTF-8 file with one cp1252 line is read line by line: good lines keep their text and
length, the bad line is read as cp1252 (its length stays right), and the validator's
finding points at that line only.
"""

from __future__ import annotations

import datetime as dt

import eicodec
from eicodec import Status
from tests.conftest import EXAMPLES, join, lines_of

TODAY = dt.date(2024, 3, 1)
INSURER = (EXAMPLES / "ap304_insurer.asc").read_bytes()  # 01 02 04 04 98 02 04 99


def mixed() -> bytes:
    lines = lines_of(INSURER)
    lines[1] = lines[1].replace(b"Jansen  ", "Schröder".encode())
    lines[5] = lines[5].replace(b"Vries ", "M\xe9ller".encode("latin-1"))  # one cp1252 byte
    return join(lines)


def test_good_utf8_lines_keep_their_text_and_length() -> None:
    stream = eicodec.open_records(mixed())
    records = list(stream)
    assert [len(r.raw) for r in records] == [360] * 8
    assert records[1].surname_1 == "Schröder"
    assert records[5].surname_1 == "Méller"
    assert stream.info.encoding == "utf-8" and stream.info.fallback_lines == [6]


def test_the_finding_points_at_the_bad_line_only() -> None:
    report = eicodec.validate(mixed(), today=TODAY)
    assert [(f.rule, f.line) for f in report.findings] == [("file.encoding", 6)]
    assert report.status is Status.REJECTED_FILE
    assert "Schröder" not in " ".join(f.message for f in report.findings)


def test_a_cp1252_file_is_still_read_as_cp1252_without_findings() -> None:
    lines = lines_of(INSURER)
    lines[5] = lines[5].replace(b"Vries ", "M\xfcller".encode("latin-1"))
    data = join(lines)
    stream = eicodec.open_records(data)
    assert [r.surname_1 for r in stream if r.record_type == "02"] == ["Jansen", "Müller"]
    assert stream.info.encoding == "cp1252" and stream.info.fallback_lines == []
    assert eicodec.validate(data, today=TODAY).status is Status.APPROVED


def test_line_numbers_stay_right_across_read_blocks() -> None:
    lines = lines_of(INSURER)
    claim = lines[2]
    body = [claim] * 5000
    body[9] = claim.replace(b"ST", "Ö".encode() + b"T", 1)
    body[3999] = claim.replace(b"ST", b"\xc9T", 1)  # 0xC9 then ASCII: not UTF-8
    data = join([lines[0], lines[1], *body, lines[-1]])
    stream = eicodec.open_records(data)
    records = list(stream)
    assert all(len(r.raw) == 360 for r in records)
    assert stream.info.fallback_lines == [4002]
    assert "ÖT" in records[11].raw and "ÉT" in records[4001].raw


def test_a_mixed_file_with_a_bom_reads_alike() -> None:
    stream = eicodec.open_records(b"\xef\xbb\xbf" + mixed())
    records = list(stream)
    assert stream.info.bom and stream.info.fallback_lines == [6]
    assert records[0].raw.startswith("01") and [len(r.raw) for r in records] == [360] * 8
