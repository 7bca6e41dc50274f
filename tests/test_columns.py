"""Typed columns (eicodec.columns / iter_columns) agree with the record API field by field."""

from __future__ import annotations

import datetime as dt

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
                    continue
                got = _as_python(values, i, f.kind)
                if want is None:
                    assert not valid[i] or f.kind in ("text", "reserve"), (t, f.rubric, rec.line)
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
