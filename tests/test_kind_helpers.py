"""The rule kinds' cheaper helpers answer exactly as the plain numpy forms they replace:
code-list membership of numbers (``member`` vs ``np.isin``), of field texts (``value_in``
vs ``np.isin`` on fixed-width strings), and fields read column-major (as the engine hands
them to the rules) vs row-major."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eicodec
from eicodec.kinds import _padded, filled, keys_of, listed_for, member, value_in

SETTINGS = settings(max_examples=150, suppress_health_check=list(HealthCheck), deadline=None)
# characters of fields and of code-list values: digits, spaces, letters, NUL and DEL
# (the fixed-width string keys' edge cases) and non-ASCII letters (wide batches)
CHARS = st.sampled_from(list("0129 ADC\x00\x7fëŁ"))


@SETTINGS
@given(st.lists(st.integers(-3, 40), max_size=60), st.lists(st.integers(-3, 40), max_size=20, unique=True))
def test_member_is_isin(values: list[int], listed: list[int]) -> None:
    v = np.array(values, np.int64)
    ints = np.array(sorted(listed), np.int64)
    assert (member(v, ints) == np.isin(v, ints)).all()


def _reference(f: object, fc: np.ndarray, values: list[str]) -> np.ndarray:
    return np.isin(keys_of(fc), listed_for(_padded(values, f.length, f.type == "N"), fc))  # type: ignore[attr-defined]


@SETTINGS
@given(st.data(), st.sampled_from(["0413", "0105", "0440", "0203"]), st.booleans(), st.booleans())
def test_value_in_is_isin_of_fixed_width_strings(data: st.DataObject, rubric: str, wide: bool,
                                                 column_major: bool) -> None:
    spec = eicodec.get_spec("AP304")
    f = next(lay.by_rubric[rubric] for lay in spec.records.values() if rubric in lay.by_rubric)
    w = f.length
    text = st.text(CHARS, min_size=0, max_size=w + 1)
    values = data.draw(st.lists(text, max_size=12))
    rows = data.draw(st.lists(st.one_of(st.sampled_from([v.ljust(w)[:w] for v in values] or [" " * w]),
                                        st.text(CHARS, min_size=w, max_size=w)), min_size=1, max_size=30))
    if not wide:
        rows = [r.encode("ascii", "replace").decode("ascii") for r in rows]
    fc = np.array([[ord(c) for c in r] for r in rows], np.uint32 if wide else np.uint8)
    if column_major:
        fc = np.ascontiguousarray(fc.T).T
    assert (value_in(f, fc, values) == _reference(f, fc, values)).all()


@SETTINGS
@given(st.lists(st.text(st.sampled_from("0 9A"), min_size=6, max_size=6), min_size=1, max_size=20), st.booleans())
def test_filled_reads_column_major_fields_alike(rows: list[str], numeric: bool) -> None:
    spec = eicodec.get_spec("AP304")
    f = next(x for x in spec.records["04"].fields if (x.type == "N") == numeric and x.length > 1)
    fc = np.array([[ord(c) for c in r[:f.length].ljust(f.length)] for r in rows], np.uint8)
    assert (filled(f, fc) == filled(f, np.ascontiguousarray(fc.T).T)).all()


@SETTINGS
@given(st.lists(st.text(st.sampled_from("0123456789 A\x00"), min_size=1, max_size=1), min_size=1, max_size=24),
       st.integers(1, 12), st.booleans(), st.booleans())
def test_digits_value_and_weighted_sum_are_the_int64_dot_product(chars: list[str], rows: int, wide: bool,
                                                                 column_major: bool) -> None:
    from eicodec.batches import date_parts, digits_value, weighted_sum

    w = len(chars)
    f = np.array([[ord(c) for c in chars[k:] + chars[:k]] for k in range(rows)], np.uint32 if wide else np.uint8)
    if column_major:
        f = np.ascontiguousarray(f.T).T
    d = f.astype(np.int64) - 48
    with np.errstate(over="ignore"):
        powers = 10 ** np.arange(w - 1, -1, -1, dtype=np.int64)
        assert (digits_value(f) == d @ powers).all()
        weights = [*range(w, 1, -1), -1]
        assert (weighted_sum(f, weights) == d @ np.array(weights, np.int64)).all()
    if w >= 8:
        y, m, day, ok = date_parts(f[:, :8])
        assert (y == d[:, :4] @ np.array([1000, 100, 10, 1])).all()
        assert (m == d[:, 4:6] @ np.array([10, 1])).all() and (day == d[:, 6:8] @ np.array([10, 1])).all()


@SETTINGS
@given(st.lists(st.sampled_from(["19000229", "20000229", "20240229", "20230229", "00010101", "00001231",
                                 "99991231", "20241131", "20241301", "2024 101", "2024a101", "202401\x00\x01",
                                 "\x7f\x7f\x7f\x7f0101", "20240100", "99999999"]), min_size=1, max_size=30),
       st.booleans(), st.booleans())
def test_date_ordinal_is_date_parts_combined(dates: list[str], wide: bool, column_major: bool) -> None:
    """``date_ordinal`` (a float product for ASCII) gives what ``date_parts`` gives, combined:
    the same number where the characters are no digits, the same calendar check."""
    from eicodec.batches import date_ordinal, date_parts

    f = np.array([[ord(c) for c in d] for d in dates], np.uint32 if wide else np.uint8)
    if column_major:
        f = np.ascontiguousarray(f.T).T
    y, m, day, ok = date_parts(f)
    value, good = date_ordinal(f)
    assert value.tolist() == (y * 10000 + m * 100 + day).tolist() and good.tolist() == ok.tolist()
    assert good.tolist() == [d.isdigit() and _is_date(d) for d in dates]


def _is_date(text: str) -> bool:
    import datetime as dt

    try:
        dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return True


@SETTINGS
@given(st.lists(st.text(st.sampled_from("AB C\x00\x7fë"), min_size=2, max_size=2), max_size=40),
       st.lists(st.text(st.sampled_from("AB C\x7fë"), min_size=1, max_size=2), max_size=20), st.booleans())
def test_is_listed_is_isin(rows: list[str], values: list[str], wide: bool) -> None:
    from eicodec.kinds import is_listed

    if not wide:
        rows = [r.encode("ascii", "replace").decode("ascii") for r in rows]
    fc = np.array([[ord(c) for c in r] for r in rows], np.uint32 if wide else np.uint8).reshape(len(rows), 2)
    listed = listed_for(_padded(values, 2, False), fc)
    assert (is_listed(keys_of(fc), np.sort(listed)) == np.isin(keys_of(fc), listed)).all()


@SETTINGS
@given(st.integers(0, 300), st.integers(1, 40), st.booleans(), st.integers(1, 130))
def test_column_major_is_the_transposed_copy(n: int, width: int, wide: bool, block: int) -> None:
    from eicodec.batches import column_major

    a = np.random.default_rng(n * 41 + width).integers(0, 1 << 16 if wide else 256, (n, width)).astype(
        np.uint32 if wide else np.uint8)
    got = column_major(a[:, :width], block)
    assert got.flags.c_contiguous and got.dtype == a.dtype and (got == a.T).all()
