"""An insurer's answer to a file with rejected lines is made from the byte ranges of the
returned groups that validation kept (eicodec.answer_index): the same bytes as reading
the whole file again, the reader not used, and a file changed since its validation is
refused (MismatchError), never answered wrongly."""

from __future__ import annotations

import itertools
import pickle
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import eicodec
from eicodec import answer_index, retour
from eicodec.batches import iter_batches
from eicodec.reader import RecordStream
from tests.test_retour import RETURN_DATE, TODAY, _many_groups
from tests.test_retour_known import read_again
from tests.test_validator import INSURER

KW = {"return_date": RETURN_DATE}
#: rejected claim lines at the start, side by side, and at the edges of 4096-line batches
REJECTED = {3, 4, 60, 61, 62, 4094, 4096, 4097, 4099, 8191, 8192, 8194, 8195, 8196}


class NoReading(Exception):
    pass


def refuse(*_a: object, **_k: object) -> None:
    raise NoReading


@pytest.fixture(scope="module")
def many() -> bytes:
    return _many_groups(1400, REJECTED)


def groups_with_outcome(data: bytes, report: eicodec.Report) -> int:
    """The top-level groups (from one record of a top type to the next) holding a line
    with an outcome, counted from the text."""
    tops = set(report.spec.top_types)
    starts = [n for n, line in enumerate(data.split(b"\r\n"), 1) if line[:2].decode() in tops]
    at = np.searchsorted(np.array(starts), np.array(list(report.outcomes)), "right")
    return len(set(at.tolist()))


@pytest.mark.parametrize("batch_lines", [1, 2, 3, 7, 500, 4096])
def test_same_bytes_as_reading_the_whole_file(many: bytes, batch_lines: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups that span batches (down to one line a batch) and rejected lines at a
    batch's edges: the ranges are those of the groups with an outcome, one per group,
    and the answer made from them is byte for byte the one made by reading the file."""
    report = eicodec.validate(many, today=TODAY, batch_lines=batch_lines)
    assert report.status is eicodec.Status.REJECTED_RECORDS
    index = report.answer_index
    assert index is not None and index.complete
    assert len(index) == groups_with_outcome(many, report)  # (memory: the returned groups, not the file)
    # the runs' checksums are pieces of the input's fingerprint, taken in the same pass:
    # the fingerprint is still the whole input's
    assert report.fingerprint == retour._fingerprint(many)
    assert any(index.run_from)
    expected = read_again(many, report, **KW)
    monkeypatch.setattr(retour, "RecordStream", refuse)
    assert eicodec.dumps_retour(many, report, **KW) == expected
    # iter_retour gives the same records as Records
    assert b"".join((r.raw + "\r\n").encode() for r in eicodec.iter_retour(many, report, **KW)) == expected


def test_a_report_travels_with_its_index(many: bytes) -> None:
    """validate_many's workers send reports back pickled: the index goes along."""
    report = pickle.loads(pickle.dumps(eicodec.validate(many, today=TODAY)))
    assert report.answer_index is not None and len(report.answer_index)
    assert eicodec.dumps_retour(many, report, **KW) == read_again(many, report, **KW)


def test_a_file_not_read_as_regular_lines_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name with an accent (UTF-8, not ASCII): from there on the file is read through
    the reader, validation keeps no ranges, the answer reads the file as before."""
    data = _many_groups(30, {3, 60}).replace(b"Vries                    de", "Vriës                    de".encode())
    report = eicodec.validate(data, today=TODAY)
    assert report.status is eicodec.Status.REJECTED_RECORDS
    assert report.answer_index is not None and not report.answer_index.complete
    expected = read_again(data, report, **KW)
    assert eicodec.dumps_retour(data, report, **KW) == expected
    monkeypatch.setattr(retour, "RecordStream", refuse)
    with pytest.raises(NoReading):
        eicodec.dumps_retour(data, report, **KW)


def test_a_changed_file_is_refused(tmp_path: Path, many: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "in.asc"
    path.write_bytes(many)
    report = eicodec.validate(path, today=TODAY)
    start = report.answer_index.offset[1]  # type: ignore[union-attr]  # (a byte of a returned group)
    changed = bytearray(many)
    changed[start + 10] = ord("9") if changed[start + 10] != ord("9") else ord("8")
    path.write_bytes(bytes(changed))  # (same size; its times change)
    target = tmp_path / "out.asc"
    with pytest.raises(eicodec.MismatchError, match="records differ"):
        eicodec.write_retour(path, report, target, **KW)
    assert not target.exists()
    # even were its stamp the same (a change the file system's clock did not see), the
    # range's CRC-32 is checked before a byte is written
    monkeypatch.setattr(retour, "stamp_of", lambda _source: report.answer_index.stamp)  # type: ignore[union-attr]
    monkeypatch.setattr(retour, "_fingerprint", lambda _source: report.fingerprint)
    with pytest.raises(eicodec.MismatchError, match="records differ"):
        eicodec.write_retour(path, report, target, **KW)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.asc"]


@pytest.mark.parametrize("batch_lines", [1, 7, 4096])
def test_runs_have_checksums_of_their_own_when_no_fingerprint_is_taken(many: bytes, batch_lines: int) -> None:
    """Batches read without the input's fingerprint (nothing to chain to): the same
    ranges, each run with a CRC-32 of its ranges' bytes one after the other (going on
    from 0; the lines between them are not read for it)."""
    report = eicodec.validate(many, today=TODAY, batch_lines=batch_lines)
    chained = report.answer_index
    assert chained is not None and chained.complete
    recorder = answer_index.Recorder(report.spec)
    with RecordStream(many, defer_check=True) as stream:
        for batch in iter_batches(stream, batch_lines, lambda: many, fingerprint=False):
            assert batch.crc_before is None
            recorder.feed(batch, report.outcomes)
    alone = recorder.finish(report.outcomes, None)
    assert alone.complete and list(alone.first) == list(chained.first) and list(alone.count) == list(chained.count)
    assert list(alone.run_start) == list(chained.run_start) and not any(alone.run_from)
    assert chained.run_spans and not alone.run_spans
    starts = [*alone.run_start, len(alone)]
    for r, (a, b) in enumerate(itertools.pairwise(starts)):
        lo = int(alone.offset[a])
        hi = int(alone.offset[b - 1]) + alone.count[b - 1] * alone.step
        crc = 0
        for k in range(a, b):
            at = int(alone.offset[k])
            crc = zlib.crc32(many[at:at + alone.count[k] * alone.step], crc)
        assert crc == alone.run_crc[r]
        assert zlib.crc32(many[lo:hi], chained.run_from[r]) == chained.run_crc[r]


@pytest.mark.parametrize("trusted", [False, True], ids=["fingerprinted", "stamp_trusted"])
@pytest.mark.parametrize("batch_lines", [3, 4096])
def test_every_byte_of_the_returned_groups_is_checked(tmp_path: Path, many: bytes, batch_lines: int, trusted: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Nearby returned groups share one CRC-32 (a run): a changed byte anywhere in a
    returned group (first, last, in a run's middle; seeded choices) is refused, even
    when the file's stamp is taken to be unchanged -- whether validation took the
    input's fingerprint on the way (the runs' checksums are pieces of it) or trusted
    the file's stamp (each run's checksum of its ranges' bytes alone)."""
    path = tmp_path / "in.asc"
    path.write_bytes(many)
    if trusted:
        monkeypatch.setattr(answer_index, "RACY_NS", 0)
        time.sleep(0.02)
    report = eicodec.validate(path, today=TODAY, batch_lines=batch_lines)
    index = report.answer_index
    assert index is not None and index.complete
    assert (index.stamp is not None) == trusted and index.run_spans != trusted
    expected = read_again(many, report, **KW)  # (before the file changes: its late fingerprint)
    assert 0 < len(index.run_start) <= len(index)
    if batch_lines > 100:  # (nearby groups closed in one batch: fewer checks than groups)
        assert len(index.run_start) < len(index)
    monkeypatch.setattr(retour, "stamp_of", lambda _source: index.stamp)
    monkeypatch.setattr(retour, "_fingerprint", lambda _source: report.fingerprint)
    step = index.step
    ends = [o + c * step for o, c in zip(index.offset, index.count)]
    rng = np.random.default_rng(26)
    spots = [index.offset[0], ends[-1] - 3, *(int(rng.integers(o, e - 2)) for o, e in zip(index.offset, ends))]
    for at in spots[:: max(1, len(spots) // 30)]:
        changed = bytearray(many)
        changed[at] = ord("7") if changed[at] != ord("7") else ord("8")
        path.write_bytes(bytes(changed))
        with pytest.raises(eicodec.MismatchError, match="records differ"):
            eicodec.write_retour(path, report, tmp_path / "out.asc", **KW)
        assert not (tmp_path / "out.asc").exists()
    path.write_bytes(many)
    eicodec.write_retour(path, report, tmp_path / "out.asc", **KW)
    assert (tmp_path / "out.asc").read_bytes() == expected


@pytest.mark.parametrize("data", [INSURER, _many_groups(30, {3, 60})], ids=["approved", "rejected"])
def test_an_unchanged_file_is_known_by_its_stamp(tmp_path: Path, data: bytes,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A file not changed since it was validated is known by its stat stamp: no
    fingerprint pass over it; a file validated right after it changed gets no stamp
    (RACY_NS: a change within the same tick of the file system's clock would leave the
    stamp as it was; file times cannot be set back -- utime sets the change time -- so
    here the margin is shortened instead of waiting it out)."""
    path = tmp_path / "in.asc"
    path.write_bytes(data)
    fresh = eicodec.validate(path, today=TODAY)
    assert fresh.answer_index is not None and fresh.answer_index.stamp is None  # (racy: just written)
    monkeypatch.setattr(answer_index, "RACY_NS", 0)
    time.sleep(0.02)
    report = eicodec.validate(path, today=TODAY)
    assert report.answer_index is not None and report.answer_index.stamp is not None
    expected = read_again(data, report, **KW)
    monkeypatch.setattr(retour, "_fingerprint", refuse)
    monkeypatch.setattr(retour, "RecordStream", refuse)
    assert eicodec.dumps_retour(path, report, **KW) == expected
    assert eicodec.dumps_retour(str(path), report, **KW) == expected
    with pytest.raises(NoReading):  # (bytes have no stamp: their fingerprint is compared)
        eicodec.dumps_retour(data, report, **KW)


def test_stamp_of_names_only_regular_files(tmp_path: Path) -> None:
    assert answer_index.stamp_of(INSURER) is None
    assert answer_index.stamp_of(INSURER.decode()) is None  # (file content as text)
    assert answer_index.stamp_of(tmp_path) is None
    assert answer_index.stamp_of(tmp_path / "missing.asc") is None
    (tmp_path / "x.asc").write_bytes(INSURER)
    stamp = answer_index.stamp_of(tmp_path / "x.asc")
    assert stamp is not None and stamp[2] == len(INSURER)


def test_an_answer_s_blocks_are_written_as_they_come(tmp_path: Path) -> None:
    """A big answer is made a window at a time; each window's block reaches the file before
    the next is made (all held until the end was 58 MB of a 1,000,000-record answer)."""
    from eicodec.retour import _write

    path = tmp_path / "answer"
    with open(path, "wb") as fh:
        def items() -> Iterator[str | bytes]:
            yield "01HEAD"
            for k in range(3):
                yield b"04BLOCK\r\n"
                fh.flush()
                assert path.stat().st_size == 8 + 9 * (k + 1)
            yield "99TAIL"

        _write(items(), fh, "ascii")
    assert path.read_bytes() == b"01HEAD\r\n" + b"04BLOCK\r\n" * 3 + b"99TAIL\r\n"


@pytest.mark.parametrize("data", [INSURER, _many_groups(30, {3, 60}), b"\xef\xbb\xbf" + INSURER,
                                  INSURER.replace(b"\r\n", b"\n")],
                         ids=["approved", "rejected", "bom", "lf"])
def test_a_file_s_fingerprint_is_taken_when_asked(tmp_path: Path, data: bytes,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A file validated by its path (its stamp trusted) is not fingerprinted on the way:
    the report reads it again when asked, and gives what validating its bytes gives."""
    monkeypatch.setattr(answer_index, "RACY_NS", 0)
    path = tmp_path / "in.asc"
    path.write_bytes(data)
    time.sleep(0.02)
    report = eicodec.validate(path, today=TODAY)
    expected = eicodec.validate(data, today=TODAY).fingerprint
    assert expected and report.fingerprint == expected == retour._fingerprint(data)
    assert report == eicodec.validate(path, today=TODAY)  # (compared by the fingerprint, taken or not)
    kept = pickle.loads(pickle.dumps(report))
    path.unlink()  # (once taken it stays)
    assert kept.fingerprint == report.fingerprint == expected


def test_a_file_changed_after_validation_has_no_fingerprint(tmp_path: Path, many: bytes,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Changed (seeded: a byte, a line more, a line less, times only), moved or gone
    before the fingerprint was asked for: the report says "" (not known), never the
    fingerprint of other bytes; an answer to it is refused."""
    monkeypatch.setattr(answer_index, "RACY_NS", 0)
    rng = np.random.default_rng(30)
    at = int(rng.integers(0, len(many) - 4))
    changes = {
        "byte": lambda p: p.write_bytes(many[:at] + bytes([many[at] ^ 1]) + many[at + 1:]),
        "more": lambda p: p.write_bytes(many + many[-362:]),
        "less": lambda p: p.write_bytes(many[:-362]),
        "touched": lambda p: p.touch(),
        "moved": lambda p: p.rename(p.with_suffix(".old")),
        "gone": lambda p: p.unlink(),
    }
    for name, change in changes.items():
        path = tmp_path / f"{name}.asc"
        path.write_bytes(many)
        time.sleep(0.02)
        report = eicodec.validate(path, today=TODAY)
        time.sleep(0.02)
        change(path)
        assert report.fingerprint == "", name
        if path.exists():
            with pytest.raises(eicodec.MismatchError):
                eicodec.dumps_retour(path, report, **KW)


def test_validate_many_takes_the_fingerprint_where_the_file_is(tmp_path: Path, many: bytes,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A report of ``validate_many`` may travel to another machine: its fingerprint is
    taken before it leaves the worker."""
    monkeypatch.setattr(answer_index, "RACY_NS", 0)
    path = tmp_path / "in.asc"
    path.write_bytes(many)
    time.sleep(0.02)
    [report] = list(eicodec.validate_many([path], jobs=1, today=TODAY))
    assert isinstance(report, eicodec.Report)
    path.unlink()
    assert report.fingerprint == retour._fingerprint(many)
