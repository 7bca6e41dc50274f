"""Field codecs: exact inverses for values that fit; loud errors for values that do not."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

import eicodec
from eicodec.codecs import make_codec


def codec(kind: str, length: int, optional: bool = False):  # type: ignore[no-untyped-def]
    return make_codec(kind, length, optional, "0999")


@given(st.integers(min_value=0, max_value=10**8 - 1))
def test_number_round_trip(value: int) -> None:
    dec, enc = codec("number", 8)
    raw = enc(value)
    assert len(raw) == 8 and raw.isdigit() and dec(raw) == value
    assert enc(dec(raw)) == raw


@given(st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
               max_size=25).map(lambda s: s.rstrip(" ")))
def test_text_round_trip_is_left_aligned_and_space_padded(value: str) -> None:
    dec, enc = codec("text", 25)
    raw = enc(value)
    assert len(raw) == 25 and raw.startswith(value)
    assert dec(raw) == value


@given(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_date_round_trip(value: dt.date) -> None:
    dec, enc = codec("date", 8)
    assert dec(enc(value)) == value


@given(st.times())
def test_time_round_trip(value: dt.time) -> None:
    value = value.replace(second=0, microsecond=0)
    dec, enc = codec("time", 4)
    assert dec(enc(value)) == value


@given(st.text("0123456789", min_size=9, max_size=9))
def test_digits_keep_leading_zeros(value: str) -> None:
    dec, enc = codec("digits", 9)
    assert dec(enc(value)) == value and enc(value) == value


def test_empty_optional_fields_decode_to_none_and_back() -> None:
    for kind, length in (("number", 6), ("amount", 8), ("digits", 4), ("date", 8), ("time", 4),
                         ("text", 10), ("dc", 1)):
        dec, enc = codec(kind, length, optional=True)
        empty = enc(None)
        assert dec(empty) is None
        assert empty == ("0" if kind not in ("text", "dc") else " ") * length


def test_mandatory_empty_values_are_not_none() -> None:
    assert codec("number", 6)[0]("000000") == 0
    assert codec("text", 6)[0]("      ") == ""


@pytest.mark.parametrize(
    ("kind", "length", "value", "needle"),
    [
        ("text", 5, "too long", "does not fit"),
        ("text", 5, "a\r\nb", "line breaks"),
        ("number", 3, 1000, "do not fit"),
        ("number", 3, -1, "negative"),
        ("amount", 8, -1250, "D/C indicator"),
        ("number", 3, "12", "expected an int"),
        ("digits", 4, "12a4", "digits"),
        ("digits", 4, "12345", "do not fit"),
        ("dc", 1, "X", "'D' or 'C'"),
        ("date", 8, "20240101", "datetime.date"),
        ("time", 4, dt.time(10, 30, 15), "seconds"),
    ],
)
def test_values_that_do_not_fit_raise_encode_error_naming_the_rubric(kind: str, length: int, value: object,
                                                                     needle: str) -> None:
    _, enc = codec(kind, length)
    with pytest.raises(eicodec.EncodeError) as info:
        enc(value)
    assert info.value.rubric == "0999" and needle in str(info.value)


@pytest.mark.parametrize(("kind", "length", "raw"), [
    ("number", 4, "12a4"), ("date", 8, "20240230"), ("date", 8, "2024013 "), ("time", 4, "2460"),
    ("dc", 1, "X"), ("digits", 3, "1 3"),
])
def test_bad_text_raises_decode_error(kind: str, length: int, raw: str) -> None:
    with pytest.raises(eicodec.DecodeError):
        codec(kind, length)[0](raw)


def test_signed_amount_keeps_raw_indicator() -> None:
    spec = eicodec.get_spec("AP304")
    rec = spec.new("04", declared_amount_signed=-1250)
    assert rec.declared_amount == 1250 and rec.declared_amount_dc == "C"
    assert rec.declared_amount_signed == -1250
    assert rec.raw_value("0443") == "00001250" and rec.raw_value("0444") == "C"
    rec.declared_amount_signed = 0
    assert rec.declared_amount_dc == "D"


def test_record_setters_name_rubric_and_record_type() -> None:
    spec = eicodec.get_spec("AP304")
    rec = spec.new("02")
    with pytest.raises(eicodec.EncodeError) as info:
        rec.surname_1 = "x" * 26
    assert info.value.rubric == "0210" and info.value.record_type == "02"
    with pytest.raises(eicodec.EncodeError, match="no field"):
        spec.new("02", no_such_field=1)
    with pytest.raises(eicodec.EncodeError, match="fixed"):
        rec.record_code = "04"
    rec["0210"] = "Jansen"
    assert rec.surname_1 == "Jansen" and rec["surname_1"] == "Jansen"


def test_replace_returns_a_changed_copy_and_leaves_the_original() -> None:
    spec = eicodec.get_spec("AP304")
    rec = spec.new("04", reference="R1", declared_amount_signed=100)
    other = rec.replace(reference="R2", declared_amount_signed=-50)
    assert (rec.reference, rec.declared_amount_signed) == ("R1", 100)
    assert (other.reference, other.declared_amount_signed, other.declared_amount_dc) == ("R2", -50, "C")
    assert type(other) is type(rec) and other != rec
    with pytest.raises(eicodec.EncodeError):
        rec.replace(reference="x" * 21)
