"""Typed columns of one record type, read a batch at a time with numpy.

::

    cols = eicodec.columns("declaratie.asc", "04")
    cols["line"]                    # int64 line numbers
    cols["service_date"]            # datetime64[D], NaT where empty or no date
    cols["declared_amount_signed"]  # int64 cents with the D/C applied

Per kind of field (see :mod:`eicodec.codecs`): ``date`` -> ``datetime64[D]`` (NaT when
empty or not a calendar date); ``time`` -> ``timedelta64[m]`` since midnight (NaT when
empty or invalid); ``number`` -> int64; ``amount`` -> int64 cents as in the file
(unsigned) plus ``<attr>_signed`` with its D/C applied; ``digits`` (identifiers, N
codes) -> str, as written (zero-padded), ``""`` when empty or not digits; ``text``,
``dc``, ``reserve`` -> str with trailing spaces removed. Empty or invalid numbers are 0.
:func:`iter_columns` also gives a validity mask per column: False where the field is
empty (zeros/spaces in an optional field, as the codecs decode it to None) or invalid.
Records of the wrong length are left out (the validator reports them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import attrs
import numpy as np

from .batches import (
    BATCH_LINES,
    Batch,
    all_digits,
    all_of,
    date_parts,
    digits_value,
    field_chars,
    iter_batches,
    replayable,
    text_of,
    to_datetime64,
)
from .errors import EicodecError
from .layouts import FieldSpec, MessageSpec, RecordLayout
from .reader import RecordStream, Source

__all__ = ["ColumnBatch", "columns", "iter_columns", "batch_columns"]


@attrs.frozen
class ColumnBatch:
    """The records of one type in one batch: ``lines`` (int64 line numbers), ``columns``
    (attribute name -> array) and ``valid`` (attribute name -> bool array)."""

    lines: np.ndarray
    columns: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.lines)


def _layout(spec: MessageSpec, record_type: str) -> RecordLayout:
    for t, lay in spec.records.items():
        if record_type in (t, lay.english, lay.plural) and record_type:
            return lay
    raise EicodecError(f"{spec.name} has no record type {record_type!r}")


def _fields(lay: RecordLayout, fields: Iterable[str] | None) -> list[FieldSpec]:
    if fields is None:
        return list(lay.fields)
    out = []
    for key in fields:
        try:
            out.append(lay.field(key[: -len("_signed")] if key.endswith("_signed") else key))
        except KeyError:
            raise EicodecError(f"record {lay.type} has no field {key!r}", record_type=lay.type) from None
    return list(dict.fromkeys(out))


def _column(f: FieldSpec, chars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, valid) of field *f* in *chars* (rows of its record type)."""
    fc = field_chars(chars, f.start, f.length)
    kind = f.kind
    if kind in ("number", "amount", "digits", "date", "time"):
        digits = all_digits(fc)
        zeros = all_of(fc, 48)
        empty = zeros if f.optional else np.zeros(len(fc), bool)
        if kind == "date":
            y, m, d, ok = date_parts(fc)
            ok &= ~empty
            return to_datetime64(y, m, d, ok), ok
        if kind == "time":
            value = digits_value(fc)
            hh, mm = value // 100, value % 100
            ok = digits & (hh < 24) & (mm < 60) & ~empty
            out = np.where(ok, hh * 60 + mm, 0).astype("timedelta64[m]")
            out[~ok] = np.timedelta64("NaT")
            return out, ok
        ok = digits & ~empty
        if kind == "digits":
            text = text_of(fc)
            return np.where(ok, text, ""), ok
        return np.where(ok, digits_value(fc), 0), ok
    text = np.strings.rstrip(text_of(fc), " ")
    if kind == "dc":
        return text, (text == "D") | (text == "C")
    return text, text != ""


def batch_columns(batch: Batch, lay: RecordLayout, fields: list[FieldSpec]) -> ColumnBatch:
    """The columns of *fields* of *lay*'s records in *batch*."""
    rows = batch.rows(lay.type)
    chars = batch.chars[rows]
    cols: dict[str, np.ndarray] = {}
    valid: dict[str, np.ndarray] = {}
    for f in fields:
        cols[f.attr], valid[f.attr] = _column(f, chars)
    for name, (amount, dc) in lay.signed.items():
        if amount in fields:
            value = cols[amount.attr]
            sign = field_chars(chars, dc.start, 1)[:, 0] == ord("C")
            cols[name] = np.where(sign, -value, value)
            valid[name] = valid[amount.attr]
    return ColumnBatch(batch.lines[rows], cols, valid)


def iter_columns(source: Source, record_type: str, *, spec: MessageSpec | None = None,
                 encoding: str | None = None, fields: Iterable[str] | None = None,
                 batch_lines: int = BATCH_LINES) -> Iterator[ColumnBatch]:
    """Typed columns of every *record_type* record of *source*, one batch at a time.

    *record_type* is a kenmerk (``"04"``) or a record's English name (``"claim"``);
    *fields* limits the columns (attribute names or rubrics; default every field).
    Memory stays flat in the file size.
    """
    opener, to_close = replayable(source)
    try:
        with RecordStream(opener(), encoding=encoding, spec=spec) as stream:
            found = stream.info.spec
            assert found is not None
            lay = _layout(found, record_type)
            wanted = _fields(lay, fields)
            for batch in iter_batches(stream, batch_lines, opener):
                yield batch_columns(batch, lay, wanted)
    finally:
        for fh in to_close:
            fh.close()


def columns(source: Source, record_type: str, *, spec: MessageSpec | None = None,
            encoding: str | None = None, fields: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Typed columns of every *record_type* record of *source*, whole: ``"line"`` (int64
    line numbers) plus one array per field (and ``<amount>_signed``); see the module doc."""
    parts = list(iter_columns(source, record_type, spec=spec, encoding=encoding, fields=fields))
    if not parts:
        raise EicodecError("no records")  # cannot happen: the stream has a header at least
    out = {"line": np.concatenate([p.lines for p in parts])}
    for name in parts[0].columns:
        out[name] = np.concatenate([p.columns[name] for p in parts])
    return out
