"""Typed columns (eicodec.columns / iter_columns) agree with the record API field by field."""

from __future__ import annotations

import datetime as dt
import io
import mmap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eicodec
from eicodec.errors import DecodeError
from eicodec.testing import declarations
from tests.conftest import EXAMPLES, join, lines_of


def _expected(value: object, kind: str) -> object:
    if value is None:
        return None
    if kind == "time":
        assert isinstance(value, dt.time)
        return value.hour * 60 + value.minute
    return value


def _as_python(arr: np.ndarray, i: int, kind: str) -> object:
    v = arr[i]
    if kind == "date":
        return None if np.isnat(v) else v.astype(dt.date)
    if kind == "time":
        return None if np.isnat(v) else int(v.astype(np.int64))
    if isinstance(v, np.integer):
        return int(v)
    return str(v)


def check_against_records(data: bytes, batch_lines: int = 8192) -> int:
    spec = eicodec.read(data).spec
    checked = 0
    for t, lay in spec.records.items():
        recs = [r for r in eicodec.iter_records(data) if r.record_type == t and len(r.raw) == lay.length]
        parts = list(eicodec.iter_columns(data, t, batch_lines=batch_lines))
        lines = np.concatenate([p.lines for p in parts])
        assert lines.tolist() == [r.line for r in recs]
        for f in lay.fields:
            values = np.concatenate([p.columns[f.attr] for p in parts])
            valid = np.concatenate([p.valid[f.attr] for p in parts])
            for i, rec in enumerate(recs):
                try:
                    want = _expected(rec.get(f.attr), f.kind)
                except DecodeError:
                    assert not valid[i], (t, f.rubric, rec.line)
                    if f.kind == "digits":  # a broken code reads as "" (documented)
                        assert _as_python(values, i, f.kind) == "", (t, f.rubric, rec.line)
                    continue
                got = _as_python(values, i, f.kind)
                if want is None and f.kind == "digits":  # so does an empty one
                    assert got == "", (t, f.rubric, rec.line)
                if isinstance(want, str) and "\x00" in rec.raw[f.slice]:
                    # (a numpy string cannot end in NUL: trailing NULs of the field are lost
                    # before its trailing spaces are cut, and those of the value after --
                    # a known limit of str/bytes arrays, for text that is not EI text anyway)
                    want = rec.raw[f.slice].rstrip("\x00").rstrip(" ").rstrip("\x00")
                if want is None or want == "" and f.kind in ("text", "reserve"):  # empty: not valid
                    assert not valid[i] or f.kind in ("text", "reserve"), (t, f.rubric, rec.line)
                    assert want is None or (got == "" and not valid[i]), (t, f.rubric, rec.line)
                    continue
                assert valid[i], (t, f.rubric, rec.line)
                assert got == want, (t, f.rubric, rec.line, got, want)
                checked += 1
        for name in lay.signed:
            values = np.concatenate([p.columns[name] for p in parts])
            for i, rec in enumerate(recs):
                try:
                    want = rec.get(name)
                except DecodeError:
                    continue
                if want is not None:
                    assert int(values[i]) == want
    return checked


@pytest.mark.parametrize("name", ["ap304_full.asc", "ap304_insurer.asc", "ap305_claim_rejected.asc"])
def test_examples(name: str) -> None:
    data = (EXAMPLES / name).read_bytes()
    assert check_against_records(data) > 50
    assert check_against_records(data, batch_lines=1) > 50


@settings(max_examples=30, suppress_health_check=list(HealthCheck), deadline=None)
@given(declarations(max_insured=3), st.data())
def test_generated_and_corrupted(decl, data) -> None:  # type: ignore[no-untyped-def]
    lines = [ln.decode("utf-8") for ln in lines_of(eicodec.dumps(decl))]
    for _ in range(data.draw(st.integers(0, 4))):
        i = data.draw(st.integers(1, len(lines) - 1))
        pos = data.draw(st.integers(2, 359))
        noise = data.draw(st.sampled_from(list("0123456789 ADCXZë") + ["00", "99", "13", "  "]))
        lines[i] = (lines[i][:pos] + noise + lines[i][pos + len(noise):])[:360]
    check_against_records(join([ln.encode("utf-8") for ln in lines]), batch_lines=data.draw(st.integers(1, 20)))


def test_columns_whole_and_names() -> None:
    data = (EXAMPLES / "ap304_full.asc").read_bytes()
    cols = eicodec.columns(data, "claim", fields=["0410", "declared_amount_signed"])
    assert set(cols) == {"line", "service_date", "declared_amount", "declared_amount_signed"}
    assert cols["service_date"].dtype == np.dtype("datetime64[D]")
    assert cols["declared_amount_signed"].dtype == np.int64
    assert (cols["declared_amount_signed"] == np.where(
        eicodec.columns(data, "04", fields=["0444"])["declared_amount_dc"] == "C",
        -cols["declared_amount"], cols["declared_amount"])).all()
    with pytest.raises(eicodec.EicodecError):
        eicodec.columns(data, "04", fields=["nope"])
    with pytest.raises(eicodec.EicodecError):
        eicodec.columns(data, "77")


def test_positions_are_characters() -> None:
    """A multi-byte character before a field does not shift it."""
    data = (EXAMPLES / "ap304_full.asc").read_bytes()
    lines = lines_of(data)
    i = next(k for k, ln in enumerate(lines) if ln.startswith(b"02"))
    surname = eicodec.get_spec("AP304").field("02", "0210")
    text = lines[i].decode()
    lines[i] = (text[:surname.start - 1] + "Öçë".ljust(surname.length) + text[surname.end:]).encode()
    cols = eicodec.columns(join(lines), "02")
    k = list(cols["line"]).index(i + 1)
    assert cols["surname_1"][k] == "Öçë"
    rec = next(r for r in eicodec.iter_records(join(lines)) if r.line == i + 1)
    assert cols["birth_date"][k] == np.datetime64(rec.birth_date)
    assert cols["gender"][k] == rec.gender


@pytest.mark.parametrize("name", ["ap304_full.asc", "ap305_claim_rejected.asc"])
def test_text_as_bytes_is_the_utf8_of_text_as_str(name: str) -> None:
    data = (EXAMPLES / name).read_bytes()
    lines = lines_of(data)
    i = next(k for k, ln in enumerate(lines) if ln.startswith(b"02"))
    text = lines[i].decode()
    f = eicodec.get_spec("AP304").field("02", "0210")
    accented = join([*lines[:i], (text[:f.start - 1] + "Öçë".ljust(f.length) + text[f.end:]).encode(),
                     *lines[i + 1:]])
    for payload in (data, accented):
        for t in ("02", "04"):
            as_str = eicodec.columns(payload, t)
            as_bytes = eicodec.columns(payload, t, text="bytes")
            assert as_str.keys() == as_bytes.keys()
            for key, col in as_str.items():
                if col.dtype.kind == "U":
                    assert as_bytes[key].dtype.kind == "S"
                    assert [b.decode("utf-8") for b in as_bytes[key].tolist()] == col.tolist(), key
                else:
                    assert (np.asarray(as_bytes[key] == col) | (np.isnat(col) if col.dtype.kind in "mM"
                                                                 else False)).all(), key
    with pytest.raises(ValueError):
        eicodec.columns(data, "04", text="latin-1")


def _check_both_text_modes(data: bytes, batch_lines: int) -> None:
    """Columns as str agree with Record.get; as bytes they are the UTF-8 of the str ones."""
    check_against_records(data, batch_lines=batch_lines)
    spec = eicodec.read(data).spec
    for t in spec.records:
        as_str = eicodec.columns(data, t)
        as_bytes = eicodec.columns(data, t, text="bytes")
        for key, col in as_str.items():
            if col.dtype.kind == "U":
                assert [b.decode("utf-8") for b in as_bytes[key].tolist()] == col.tolist(), (t, key)
        for part in eicodec.iter_columns(data, t, text="bytes", batch_lines=batch_lines):
            for key, col in part.columns.items():  # valid: never empty (tables rely on it)
                if col.dtype.kind == "S":
                    assert (col[part.valid[key]] != b"").all(), (t, key)
            for key, length in part.lengths.items():  # the lengths given are numpy's own
                measured = np.strings.str_len(part.columns[key])
                assert np.array_equal(np.broadcast_to(length, measured.shape), measured), (t, key)


_TEXT_NOISE = st.text(st.sampled_from(list("AZ09 ë€\x00-")), min_size=1, max_size=24)


@settings(max_examples=40, suppress_health_check=list(HealthCheck), deadline=None)
@given(declarations(max_insured=3), st.data())
def test_text_and_codes_with_spaces_nuls_and_multibyte_characters(decl, data) -> None:  # type: ignore[no-untyped-def]
    """Text and code fields written over with values that end in spaces, hold spaces or
    NULs inside, multi-byte characters, or nothing: the columns (str and bytes) are what
    Record.get reads -- trailing spaces cut, empty and broken codes empty."""
    spec = decl.spec
    lines = [ln.decode("utf-8") for ln in lines_of(eicodec.dumps(decl))]
    for _ in range(data.draw(st.integers(1, 12))):
        i = data.draw(st.integers(1, len(lines) - 2))
        lay = spec.records.get(lines[i][:2])
        if lay is None:
            continue
        fields = [f for f in lay.fields[1:] if f.kind in ("text", "digits", "dc")]
        f = data.draw(st.sampled_from(fields))
        value = data.draw(st.one_of(_TEXT_NOISE, st.just(""), _TEXT_NOISE.map(lambda v: v + "   ")))
        value = value[:f.length].ljust(f.length)
        lines[i] = lines[i][:f.start - 1] + value + lines[i][f.end:]
    _check_both_text_modes(join([ln.encode("utf-8") for ln in lines]), data.draw(st.integers(1, 20)))


def test_a_file_that_turns_irregular_after_its_first_batches() -> None:
    """Batches read from the bytes, then (a non-ASCII line, a NUL, a short line far into
    the file) from the reader's text: the same columns as Record.get either way."""
    lines = lines_of((EXAMPLES / "ap304_full.asc").read_bytes())
    lines = [lines[0], *(lines[1:-1] * 500), lines[-1]]
    claims = [i for i, ln in enumerate(lines) if ln.startswith(b"04")]
    far = claims[len(claims) * 3 // 4::7]
    ref = eicodec.get_spec("AP304").field("04", "0445")
    for k, (i, value) in enumerate(zip(far, ["Ré€  ", "A\x00B ", "", "  X"], strict=False)):
        text = lines[i].decode()
        lines[i] = (text[:ref.start - 1] + value.ljust(ref.length) + text[ref.end:]).encode()
        if k == 3:
            lines[i] = lines[i][:200]  # a short claim line: left out
    data = join(lines)
    assert sum(len(ln) + 2 for ln in lines[:far[0]]) > 1 << 20  # beyond what is looked at first
    _check_both_text_modes(data, 64)


def test_reading_without_the_fingerprint_gives_the_same_batches() -> None:
    """iter_batches(fingerprint=False), which typed columns use: the same lines and
    encoding as with it, for a regular file and for one with a late cp1252 byte."""
    from eicodec.batches import iter_batches, replayable
    from eicodec.reader import RecordStream, fingerprint_bytes

    lines = lines_of((EXAMPLES / "ap304_full.asc").read_bytes())
    regular = join([lines[0], *(lines[1:-1] * 400), lines[-1]])
    late = regular[:-40] + b"\xe9" + regular[-39:]
    for data in (regular, late):
        got = []
        for fingerprint in (True, False):
            opener, _ = replayable(data)
            stream = RecordStream(opener(), defer_check=True)
            batches = [(b.first, b.chars.copy()) for b in iter_batches(stream, 500, opener, fingerprint=fingerprint)]
            got.append((batches, stream.info.encoding, stream.info.settled, stream.info.fingerprint))
        (with_fp, enc1, settled1, fp1), (without, enc2, settled2, fp2) = got
        assert [f for f, _ in with_fp] == [f for f, _ in without]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(with_fp, without, strict=True))
        assert (enc1, settled1, fp1) == (enc2, settled2, fingerprint_bytes([data])) if data is late else (
            enc1 == enc2 == "utf-8" and fp1 == fingerprint_bytes([data]) and fp2 == "" and settled2)
        assert enc1 == ("cp1252" if data is late else "utf-8")


def test_dates_by_integer_arithmetic_are_numpys_calendar() -> None:
    """Every calendar date of the years 1-9999 (what CCYYMMDD can spell) comes out as
    numpy's own datetime64 of it; rows not valid are NaT."""
    from eicodec.columns import _dates

    days = np.arange(np.datetime64("0001-01-01"), np.datetime64("10000-01-01"))
    years = days.astype("datetime64[Y]")
    months = days.astype("datetime64[M]")
    y = (years.astype(np.int64) + 1970).astype(np.int32)
    m = (months.astype(np.int64) % 12 + 1).astype(np.int32)
    d = ((days - months.astype("datetime64[D]")).astype(np.int64) + 1).astype(np.int32)
    ok = np.ones(len(days), dtype=bool)
    ok[::97] = False
    got = _dates(y, m, d, ok)
    assert (got[ok] == days[ok]).all() and np.isnat(got[~ok]).all()


class _Pipe(io.RawIOBase):
    """A file object that cannot seek (its size is not known in advance)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        return self._data.readinto(b)


@pytest.mark.parametrize("mapped", [False, True])
@pytest.mark.parametrize("text", ["str", "bytes"])
def test_columns_whole_is_iter_columns_joined_whatever_the_source(tmp_path: Path, text: str, mapped: bool,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``columns()`` (issue 26: arrays made once and filled batch by batch) gives exactly the
    batches of ``iter_columns`` joined, from a path, bytes, a seekable or an unseekable file,
    with multi-byte text (wider UTF-8 bytes in some batches than in others; ASCII batches,
    read as bytes and widened to str, next to a batch read as str); *mapped*: every column
    in a memory map of its own (as big tables are), else in numpy's arrays (small ones)."""
    import importlib

    module = importlib.import_module("eicodec.columns")
    monkeypatch.setattr(module, "BATCH_LINES", 2)
    monkeypatch.setattr(module, "_MAPPED", 1 if mapped else 1 << 40)
    data = (EXAMPLES / "ap304_full.asc").read_bytes()
    lines = lines_of(data)
    surname = eicodec.get_spec("AP304").field("02", "0210")
    i = next(k for k, ln in enumerate(lines) if ln.startswith(b"02"))
    t = lines[i].decode()
    lines[i] = (t[:surname.start - 1] + "Öçëß".ljust(surname.length) + t[surname.end:]).encode()
    data = join(lines)
    path = tmp_path / "f.asc"
    path.write_bytes(data)
    parts = list(eicodec.iter_columns(data, "02", text=text, batch_lines=2))
    want = {"line": np.concatenate([p.lines for p in parts])}
    want.update({k: np.concatenate([p.columns[k] for p in parts]) for k in parts[0].columns})
    for source in (path, str(path), data, io.BytesIO(data), _Pipe(data)):
        got = eicodec.columns(source, "02", text=text)
        assert got.keys() == want.keys()
        for k, values in want.items():
            # (bytes columns are as wide as a batch's longest UTF-8 value: batches differ)
            assert got[k].dtype == values.dtype or text == "bytes" and got[k].dtype.kind == "S", (source, k)
            assert got[k].tolist() == values.tolist(), (source, k)
            # no view into a batch's characters (a big column views its own memory map)
            assert got[k].base is None or got[k].flags.owndata or isinstance(getattr(got[k].base, "obj", None), mmap.mmap)
            assert got[k].flags.writeable


def test_growing_column_grows_and_widens() -> None:
    from eicodec.columns import _Growing

    col = _Growing(np.dtype("S2"), 1)
    col.add(np.array([b"ab", b"cd"]))
    col.add(np.array([b"efgh"]))  # a wider batch (longer UTF-8 text) widens the column
    col.add(np.array([], dtype="S1"))
    assert col.done().tolist() == [b"ab", b"cd", b"efgh"]


@pytest.mark.parametrize("mapped", [False, True])
def test_growing_str_column_widens_ascii_bytes(mapped: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """ASCII bytes added to a str column become the same str (a byte per code point), the
    rest of a shorter value NUL (numpy's end of a str); a column of no rows is empty."""
    import importlib

    module = importlib.import_module("eicodec.columns")
    monkeypatch.setattr(module, "_MAPPED", 1 if mapped else 1 << 40)
    col = module._Growing(np.dtype("<U3"), 2)
    col.add(np.array(["Ö", "ab"]))
    chars = np.frombuffer(b"xyzqrs", np.uint8).reshape(2, 3)
    col.add(chars.view("S3")[:, 0])
    col.add(np.array([b"", b"k"], dtype="S2"))
    col.add(np.array([b"wxyz"]))  # longer than the column: it widens
    got = col.done()
    assert got.dtype == np.dtype("<U4")
    assert got.tolist() == ["Ö", "ab", "xyz", "qrs", "", "k", "wxyz"]
    assert module._Growing(np.dtype("<U3"), 5).done().tolist() == []


def test_text_lengths_are_given_for_ascii_bytes_only() -> None:
    """``ColumnBatch.lengths``: for text read as bytes from an ASCII batch (every text and
    code column of the example's claim lines), none for str or for non-ASCII batches."""
    data = (EXAMPLES / "ap304_full.asc").read_bytes()
    part = next(iter(eicodec.iter_columns(data, "04", text="bytes")))
    text = {k for k, v in part.columns.items() if v.dtype.kind == "S"}
    assert text and set(part.lengths) == text
    assert next(iter(eicodec.iter_columns(data, "04"))).lengths == {}
    lines = lines_of(data)
    i = next(k for k, ln in enumerate(lines) if ln.startswith(b"04"))
    lines[i] = lines[i].replace(b" ", "\u00eb".encode(), 1)  # (a character of two bytes: a batch of code points)
    assert next(iter(eicodec.iter_columns(join(lines), "04", text="bytes"))).lengths == {}


@pytest.mark.parametrize("populate", ["kernel", "refused", "none"])
def test_growing_column_whatever_the_kernel_does_with_its_pages(populate: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A mapped column's pages taken ahead (MADV_POPULATE_WRITE), refused (an older
    kernel: madvise fails, pages come as they are written) or not asked for: the same rows."""
    import importlib

    module = importlib.import_module("eicodec.columns")
    monkeypatch.setattr(module, "_MAPPED", 1)
    monkeypatch.setattr(module, "_AHEAD", 3)
    if populate == "refused":
        monkeypatch.setattr(module, "_POPULATE", 10_000)  # (no such advice: EINVAL)
    elif populate == "none":
        monkeypatch.setattr(module, "_POPULATE", None)
    col = module._Growing(np.dtype("<U3"), 50_000)
    want = []
    for k in range(40):
        part = np.array([f"{k}{j}"[:3] for j in range(997)])
        col.add(part)
        want += part.tolist()
    got = col.done()
    assert got.tolist() == want
    assert isinstance(got.base, mmap.mmap) or isinstance(getattr(got.base, "obj", None), mmap.mmap)


@pytest.mark.parametrize("mapped", [False, True])
def test_growing_column_with_parts_of_zero_bytes(mapped: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of only zero bytes (empty text, zero amounts) between others, before and after
    the column widens or moves to a bigger map: the rows read as written (a mapped column
    leaves its zero pages untouched)."""
    import importlib

    module = importlib.import_module("eicodec.columns")
    monkeypatch.setattr(module, "_MAPPED", 1 if mapped else 1 << 40)
    text = module._Growing(np.dtype("<U2"), 3000)
    parts = [np.zeros(1500, dtype="S2"), np.array([b"ab"] * 700), np.zeros(2000, dtype="S3"),
             np.array([b"xyz", b""]), np.zeros(3, dtype="S1"), np.zeros(0, dtype="S2")]
    for part in parts:
        text.add(part)
    assert text.done().tolist() == [v.decode() for p in parts for v in p.tolist()]
    numbers = module._Growing(np.dtype(np.int64), 10)
    for part in (np.zeros(5000, np.int64), np.arange(3, dtype=np.int64), np.zeros(7, np.int64)):
        numbers.add(part)
    assert numbers.done().tolist() == [0] * 5000 + [0, 1, 2] + [0] * 7


def test_numbers_by_pairs_of_digits_match_horners_rule() -> None:
    """columns._number (Horner's rule over pairs of digit bytes) spells the same numbers
    as one digit at a time, for every length up to 18 digits, bytes and code points."""
    from eicodec.columns import _number

    rng = np.random.default_rng(26)
    for length in range(1, 19):
        for dtype in (np.uint8, np.uint32):
            v = rng.integers(0, 10, (3, length, 500)).astype(dtype)
            v[:, :, 0] = 9  # (the largest number of that length)
            want = np.zeros((3, 500), dtype=object)
            for j in range(length):
                want = want * 10 + v[:, j].astype(object)
            got = _number(v)
            assert got.dtype == (np.int32 if length <= 9 else np.int64)
            assert got.astype(object).tolist() == want.tolist(), (length, dtype)


def test_dates_by_pairs_of_digits_and_tables_match_the_calendar() -> None:
    """columns._calendar (two digits a byte, then tables) gives datetime.date's answer for
    every month and day 00-99 of years around the leap rules and the epoch, 29 February of
    every year and random digits; NaT and invalid where no date (also on code points)."""
    from eicodec.columns import _calendar

    rng = np.random.default_rng(26)
    texts = [f"{y:04d}{m:02d}{d:02d}" for y in (0, 1, 4, 100, 400, 1600, 1700, 1900, 1969, 1970, 2000, 2024, 9999)
             for m in range(100) for d in range(100)]
    texts += [f"{y:04d}02{d:02d}" for y in range(10000) for d in (28, 29, 30)]
    texts += ["".join(rng.choice(list("0123456789"), 8)) for _ in range(5000)]

    def want(t: str) -> np.datetime64 | None:
        try:
            return np.datetime64(dt.date(int(t[:4]), int(t[4:6]), int(t[6:8])))
        except ValueError:
            return None

    expected = [want(t) for t in texts]
    for dtype in (np.uint8, np.uint32):
        c = np.frombuffer("".join(texts).encode("ascii"), np.uint8).reshape(-1, 8).T.astype(dtype)
        values, ok = _calendar(c, np.ones(len(texts), dtype=bool))
        assert ok.tolist() == [e is not None for e in expected]
        assert all(np.isnat(v) if e is None else v == e for v, e in zip(values, expected, strict=True))
    assert sum(e is not None for e in expected) > 10000  # (not vacuous)
