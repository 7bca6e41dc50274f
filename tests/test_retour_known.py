"""An answer without detail records (an insurer's to an approved file, anyone's to a file
rejected as a whole) is made from what validation kept, without reading the file again
but for its fingerprint -- and its bytes are those of the answer made by reading it."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eicodec
from eicodec import retour
from eicodec.testing import declarations, field_damaged_files, noisy_files, structurally_damaged_files
from tests.conftest import join, lines_of
from tests.test_retour import GOLDEN, RETURN_DATE, TODAY, scenario
from tests.test_validator import INSURER, SPEC, patch

#: rejected as a whole for its header and trailer, its claim lines intact
FILE_REJECTED = patch(patch(patch(INSURER, 1, "0119", "XYZ"), 8, "9902", "000009"), 8, "9907", "00000000001")
KW = {"insurer_reference": "ZV-2024-000123", "return_date": RETURN_DATE}


def read_again(data: bytes, report: eicodec.Report, **kw: object) -> bytes:
    """The answer as made by reading the file again (the path for detail records)."""
    saved, saved_ranged = retour._Builder.known_totals, retour._Builder.ranged
    retour._Builder.known_totals = lambda self: None  # type: ignore[method-assign]
    retour._Builder.ranged = lambda self: None  # type: ignore[method-assign]
    try:
        return eicodec.dumps_retour(data, report, **kw)  # type: ignore[arg-type]
    finally:
        retour._Builder.known_totals = saved  # type: ignore[method-assign]
        retour._Builder.ranged = saved_ranged  # type: ignore[method-assign]


class NoReading(Exception):
    pass


@pytest.fixture
def no_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any reading of the records by the builder fails (the fingerprint's bytes may be read)."""
    def refuse(*_a: object, **_k: object) -> None:
        raise NoReading
    monkeypatch.setattr(retour, "RecordStream", refuse)


def test_golden_answer_without_reading_the_records(no_reader: None, tmp_path: Path) -> None:
    data, kw = scenario("approved")
    report = eicodec.validate(data, today=TODAY)
    assert eicodec.dumps_retour(data, report, **kw) == (GOLDEN / "ap305_approved.asc").read_bytes()
    path = tmp_path / "in.asc"
    path.write_bytes(data)
    out = tmp_path / "out.asc"
    eicodec.write_retour(path, report, out, **kw)  # a path, and a file object
    assert out.read_bytes() == eicodec.dumps_retour(io.BytesIO(data), report, **kw)


@pytest.mark.parametrize("mode", ["insurer", "vecozo"])
def test_file_rejected_without_reading(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rejected as a whole (the header's and the trailer's fault): voorlooprecord with
    the file's codes and sluitrecord, in either mode, the records not read."""
    data = FILE_REJECTED
    report = eicodec.validate(data, mode=mode, today=TODAY)  # type: ignore[arg-type]
    assert report.status is eicodec.Status.REJECTED_FILE
    expected = read_again(data, report, **KW)
    monkeypatch.setattr(retour, "RecordStream", NoReading)
    out = eicodec.dumps_retour(data, report, **KW)
    assert out == expected
    assert [ln[:2] for ln in out.decode().split("\r\n")[:-1]] == ["01", "99"]
    golden = (GOLDEN / "ap305_file_rejected.asc").read_bytes().split(b"\r\n")
    assert out.split(b"\r\n")[1] == golden[1]  # (the submitted total the trailer states)


def test_rejected_lines_read_from_the_kept_ranges_awards_still_need_the_records(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rejected lines: the returned groups are read back from the byte ranges validation
    kept (no reader, the same bytes); awards and comments need the records: the reader
    is used."""
    bad = patch(INSURER, 4, "0413", "777")
    report = eicodec.validate(bad, today=TODAY)
    assert report.status is eicodec.Status.REJECTED_RECORDS
    expected = read_again(bad, report, **KW)

    def refuse(*_a: object, **_k: object) -> None:
        raise NoReading
    monkeypatch.setattr(retour, "RecordStream", refuse)
    assert eicodec.dumps_retour(bad, report, **KW) == expected
    with pytest.raises(NoReading):
        eicodec.dumps_retour(bad, report, awards={"R2024-000103": 1}, **KW)
    report = eicodec.validate(INSURER, today=TODAY)
    with pytest.raises(NoReading):
        eicodec.dumps_retour(INSURER, report, awards={"R2024-000103": 1}, **KW)


def test_another_file_is_still_refused() -> None:
    """The fingerprint is checked: the report of one file does not answer another."""
    report = eicodec.validate(INSURER, today=TODAY)
    other = INSURER.replace(b"R2024-000103", b"R2024-000109")
    assert other != INSURER
    with pytest.raises(eicodec.MismatchError):
        eicodec.dumps_retour(other, report, **KW)
    # a file rejected as a whole: an answer only when the header is the report's, as before
    rejected = eicodec.validate(FILE_REJECTED, today=TODAY)
    assert rejected.status is eicodec.Status.REJECTED_FILE
    other_header = patch(FILE_REJECTED, 1, "0119", "XYY")
    with pytest.raises(eicodec.MismatchError):
        eicodec.dumps_retour(other_header, rejected, **KW)
    other_body = patch(FILE_REJECTED, 2, "0208", "3")  # same header, other bytes: answered as before
    assert other_body != FILE_REJECTED
    assert eicodec.dumps_retour(other_body, rejected, **KW) == read_again(other_body, rejected, **KW)


def test_trailer_total_not_plain_or_missing() -> None:
    """Totals the validation cannot give exactly (a missing or second sluitrecord, an
    amount that is no number) are read from the file, with the same bytes."""
    lines = lines_of(INSURER)
    amount, total = SPEC.field("04", "0443").length, SPEC.field("99", "9907").length
    cases = [join(lines[:-1]), join([*lines, lines[-1]]), join([*lines[:3], lines[3][:-1], *lines[4:]]),
             patch(patch(INSURER, 3, "0443", "X".rjust(amount, "0")), 1, "0119", "XYZ"),
             patch(INSURER, 3, "0443", "X".rjust(amount, "0")), patch(INSURER, 3, "0443", " " * amount),
             patch(INSURER, 8, "9907", "X".rjust(total, "0"))]
    assert all(ln[:2] == b"04" for ln in (lines[2], lines[3]))
    for data in cases:
        for mode in ("insurer", "vecozo"):
            report = eicodec.validate(data, mode=mode, today=TODAY)
            if mode == "vecozo" and report.status is eicodec.Status.APPROVED:
                continue
            assert eicodec.dumps_retour(data, report, **KW) == read_again(data, report, **KW)


ANY_FILE = st.one_of(declarations(max_insured=3).map(eicodec.dumps), noisy_files(max_insured=3),
                     field_damaged_files(max_insured=3), structurally_damaged_files(max_insured=3))


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(ANY_FILE, st.sampled_from(["insurer", "vecozo"]))
def test_same_bytes_as_reading_again(data: bytes, mode: str) -> None:
    try:
        report = eicodec.validate(data, mode=mode, today=dt.date(2024, 6, 1))  # type: ignore[arg-type]
    except eicodec.EicodecError:
        return
    try:
        expected = read_again(data, report)
    except eicodec.EicodecError as exc:
        with pytest.raises(type(exc)):
            eicodec.dumps_retour(data, report)
        return
    assert eicodec.dumps_retour(data, report) == expected


def test_no_rubric_or_code_in_the_builder() -> None:
    """retour.py takes rubrics and codes from the specs and rules, never as literals."""
    text = Path(retour.__file__).read_text(encoding="utf-8")
    assert re.findall(r"""["'][0-9]{4}["']""", text) == []
