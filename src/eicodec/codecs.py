"""Field codecs: fixed-width text to Python values and back.

One codec per *kind* of value. ``N`` fields are right-aligned and zero-padded, ``AN``
fields left-aligned and space-padded. In an optional field (mandatory flag ``N`` or
``C``) an empty value (all zeros / all spaces) decodes to ``None``, and ``None`` (or 0
for numbers) encodes to the empty value. Encoding never truncates: a value that does not
fit raises :class:`~eicodec.errors.EncodeError`.

Kinds and their Python values:

=========  ===========================================================================
text       ``str`` (trailing spaces removed)
reserve    ``str`` (blank reserve decodes to ``None``)
digits     ``str`` of exactly *length* digits (identifiers and N codes; a shorter digit
           string is zero-padded when encoded)
number     ``int`` >= 0
amount     ``int`` eurocents >= 0; the sign is the separate D/C field named by ``sign``
dc         ``"D"`` (debit, positive) or ``"C"`` (credit, negative)
date       :class:`datetime.date` (CCYYMMDD)
time       :class:`datetime.time` (HHMM)
=========  ===========================================================================
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from .errors import DecodeError, EncodeError

KINDS = ("text", "reserve", "digits", "number", "amount", "dc", "date", "time")
N_KINDS = frozenset({"digits", "number", "amount", "date", "time"})
AN_KINDS = frozenset({"text", "reserve", "dc"})

Decoder = Callable[[str], Any]
Encoder = Callable[[Any], str]

_FORBIDDEN_TEXT = ("\r", "\n")


def is_digits(raw: str) -> bool:
    """True when *raw* is non-empty and consists of ASCII digits only."""
    return raw.isascii() and raw.isdigit()


def make_codec(kind: str, length: int, optional: bool, rubric: str) -> tuple[Decoder, Encoder]:
    """Return ``(decode, encode)`` for one field. Errors name *rubric*, never the value."""
    zeros = "0" * length
    spaces = " " * length

    def enc_err(msg: str) -> EncodeError:
        return EncodeError(msg, rubric=rubric)

    def dec_err(msg: str) -> DecodeError:
        return DecodeError(msg, rubric=rubric)

    if kind in ("text", "reserve"):
        def decode_text(raw: str) -> str | None:
            value = raw.rstrip(" ")
            if not value and (optional or kind == "reserve"):
                return None
            return value

        def encode_text(value: Any) -> str:
            if value is None:
                return spaces
            if not isinstance(value, str):
                raise enc_err(f"expected text, got {type(value).__name__}")
            if any(c in value for c in _FORBIDDEN_TEXT):
                raise enc_err("text may not contain line breaks")
            if len(value) > length:
                raise enc_err(f"text of {len(value)} characters does not fit in {length}")
            return value.ljust(length)

        return decode_text, encode_text

    if kind == "digits":
        def decode_digits(raw: str) -> str | None:
            if not is_digits(raw):
                if optional and raw == spaces:
                    return None
                raise dec_err(f"expected {length} digits")
            if optional and raw == zeros:
                return None
            return raw

        def encode_digits(value: Any) -> str:
            if value is None:
                return zeros
            if isinstance(value, bool):
                raise enc_err("expected digits, got bool")
            if isinstance(value, int):
                if value < 0:
                    raise enc_err("negative value in an unsigned N field")
                value = str(value)
            if not isinstance(value, str) or not is_digits(value):
                raise enc_err(f"expected up to {length} digits")
            if len(value) > length:
                raise enc_err(f"{len(value)} digits do not fit in {length}")
            return value.zfill(length)

        return decode_digits, encode_digits

    if kind in ("number", "amount"):
        def decode_number(raw: str) -> int | None:
            if not is_digits(raw):
                if optional and raw == spaces:
                    return None
                raise dec_err(f"expected {length} digits")
            number = int(raw)
            if optional and number == 0:
                return None
            return number

        def encode_number(value: Any) -> str:
            if value is None:
                return zeros
            if isinstance(value, bool) or not isinstance(value, int):
                raise enc_err(f"expected an int, got {type(value).__name__}")
            if value < 0:
                what = "amount (use the D/C indicator for credit)" if kind == "amount" else "value"
                raise enc_err(f"negative {what} in an unsigned N field")
            text = str(value)
            if len(text) > length:
                raise enc_err(f"{len(text)} digits do not fit in {length}")
            return text.zfill(length)

        return decode_number, encode_number

    if kind == "dc":
        def decode_dc(raw: str) -> str | None:
            if raw in ("D", "C"):
                return raw
            if raw == " " and optional:
                return None
            raise dec_err("debit/credit indicator must be 'D' or 'C'")

        def encode_dc(value: Any) -> str:
            if value is None:
                return spaces
            if value not in ("D", "C"):
                raise enc_err("debit/credit indicator must be 'D' or 'C'")
            return str(value)

        return decode_dc, encode_dc

    if kind == "date":
        def decode_date(raw: str) -> _dt.date | None:
            if optional and raw in (zeros, spaces):
                return None
            if len(raw) != 8 or not is_digits(raw):
                raise dec_err("date must be 8 digits CCYYMMDD")
            try:
                return _dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
            except ValueError:
                raise dec_err("not a calendar date") from None

        def encode_date(value: Any) -> str:
            if value is None:
                return zeros
            if isinstance(value, _dt.datetime) or not isinstance(value, _dt.date):
                raise enc_err(f"expected a datetime.date, got {type(value).__name__}")
            return f"{value.year:04d}{value.month:02d}{value.day:02d}"

        return decode_date, encode_date

    if kind == "time":
        def decode_time(raw: str) -> _dt.time | None:
            if optional and raw in (zeros, spaces):
                return None
            if len(raw) != 4 or not is_digits(raw):
                raise dec_err("time must be 4 digits HHMM")
            try:
                return _dt.time(int(raw[:2]), int(raw[2:]))
            except ValueError:
                raise dec_err("not a time of day") from None

        def encode_time(value: Any) -> str:
            if value is None:
                return zeros
            if not isinstance(value, _dt.time):
                raise enc_err(f"expected a datetime.time, got {type(value).__name__}")
            if value.second or value.microsecond:
                raise enc_err("time has seconds; the field holds HHMM only")
            return f"{value.hour:02d}{value.minute:02d}"

        return decode_time, encode_time

    raise ValueError(f"unknown kind {kind!r}")


def empty_text(kind: str, length: int) -> str:
    """The text of an empty field of *kind*: zeros for N kinds, spaces otherwise."""
    return ("0" if kind in N_KINDS else " ") * length
