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

import functools
import mmap
import os
import sys
from collections.abc import Iterable, Iterator

import attrs
import numpy as np

from .batches import BATCH_LINES, Batch, iter_batches, replayable
from .errors import EicodecError
from .layouts import FieldSpec, MessageSpec, RecordLayout
from .reader import RecordStream, Source

__all__ = ["ColumnBatch", "batch_columns", "columns", "iter_columns"]


@attrs.frozen
class ColumnBatch:
    """The records of one type in one batch: ``lines`` (int64 line numbers), ``columns``
    (attribute name -> array) and ``valid`` (attribute name -> bool array). ``lengths``
    (text read as bytes from an ASCII batch): attribute name -> each value's length in
    bytes as numpy measures it, or one int for all -- known while reading, so that a
    consumer (Arrow's string buffers) need not measure the values again."""

    lines: np.ndarray
    columns: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    lengths: dict[str, np.ndarray | int] = attrs.field(factory=dict, eq=False, repr=False)

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
            out.append(lay.field(key.removesuffix("_signed")))
        except KeyError:
            raise EicodecError(f"record {lay.type} has no field {key!r}", record_type=lay.type) from None
    return list(dict.fromkeys(out))


class _Block:
    """The records of one type in a batch, arranged for reading fields fast: ``chars`` is
    row-major (a text field is one cast of its slice to a fixed-width str array) and
    ``cols`` column-major (each field's characters a block of whole rows, for numbers).
    *chars* must be the block's own copy (a gather of the batch's rows): text columns are
    views into it (or into its cast to code points), and :meth:`blank` writes NULs there."""

    def __init__(self, chars: np.ndarray, as_bytes: bool = False,
                 spans: list[tuple[int, int]] | None = None, cols: np.ndarray | None = None) -> None:
        self.chars = chars
        self.cols = transposed(chars, spans) if cols is None else cols
        self._wide: np.ndarray | None = None
        self.as_bytes = as_bytes
        #: the lengths of text columns where known (bytes of an ASCII block; see ColumnBatch)
        self.lengths: dict[str, np.ndarray | int] | None = {} if as_bytes and chars.dtype == np.uint8 else None

    def lit(self, text: str) -> str | bytes:
        """*text* as the text columns hold it (str, or UTF-8 bytes)."""
        return text.encode("utf-8") if self.as_bytes else text

    @property
    def wide(self) -> np.ndarray:
        """The characters as code points (one cast of the whole block)."""
        if self._wide is None:
            self._wide = self.chars if self.chars.dtype == np.uint32 else self.chars.astype(np.uint32)
        return self._wide

    def _viewed(self, f: FieldSpec) -> np.ndarray:
        """The ``(n, length)`` characters that :meth:`text` of *f* views."""
        if self.as_bytes and self.chars.dtype == np.uint8:
            return self.chars[:, f.start - 1:f.end]
        return self.wide[:, f.start - 1:f.end]

    def text(self, f: FieldSpec) -> np.ndarray:
        """The characters of *f*, trailing spaces kept, as a fixed-width str (or bytes)
        array: a strided view into the block (no copy, no str per value)."""
        text = self._viewed(f).view(f"S{f.length}" if self.as_bytes and self.chars.dtype == np.uint8
                                    else f"<U{f.length}")[:, 0]
        return np.strings.encode(text, "utf-8") if self.as_bytes and text.dtype.kind == "U" else text

    def blank(self, f: FieldSpec, rows: np.ndarray) -> None:
        """Make the characters of *f* NUL in *rows* (bool per row): a numpy string ends at
        its trailing NULs, so :meth:`text` then reads those rows as empty."""
        at = np.flatnonzero(rows)
        for chars in self._held():
            chars[at, f.start - 1:f.end] = 0

    def _held(self) -> list[np.ndarray]:
        """The character arrays that text views are made of: ``chars``, and its cast to
        code points once made (a change to a field's characters goes to both)."""
        if self._wide is None or self._wide is self.chars:
            return [self.chars]
        return [self.chars, self._wide]

    def stripped(self, f: FieldSpec) -> tuple[np.ndarray | None, np.ndarray]:
        """(:meth:`text` without trailing spaces, not empty); the common cases (no value
        ends in a space, every value blank) without a string operation. The text is None
        where it is :meth:`text` of *f* (made when every field's characters are final: an
        ASCII block is cast to code points once, after the NULs went into its bytes)."""
        x = self.cols[f.start - 1:f.end]
        if (x == 0).any():  # a NUL: numpy ends a string at its trailing NULs; compare the text
            text = np.strings.rstrip(self.text(f), self.lit(" "))
            return text, text != self.lit("")
        nonspace = x != 32
        filled = nonspace.any(axis=0)
        if not filled.any():
            self._measured(f, 0)
            return np.zeros(len(self.chars), dtype=f"S{f.length}" if self.as_bytes else f"<U{f.length}"), filled
        if not (x[-1] == 32).any():
            self._measured(f, f.length)
            return None, filled
        # trailing spaces: each value's length (its last character that is not a space),
        # the characters after it made NUL in a copy -- numpy's rstrip, without a string op
        # (a new array, not NULs written into the block: an in-place operation on a strided
        # view goes through numpy's buffers, and the copy is contiguous)
        ascii_str = not self.as_bytes and self.chars.dtype == np.uint8
        chars = self.chars[:, f.start - 1:f.end] if ascii_str else self._viewed(f)
        weights = np.arange(1, f.length + 1, dtype=np.uint8 if f.length < 256 else np.uint16)
        length = (nonspace * weights[:, None]).max(axis=0)
        kept = np.take(_keep_mask(f.length, chars.dtype), length, axis=0)  # (rows of the mask: a copy each)
        np.bitwise_and(kept, chars, out=kept)
        if ascii_str:  # (cut as bytes, then one cast of the copy to code points)
            kept = kept.astype(np.uint32)
        text = kept.view(f"S{f.length}" if kept.dtype == np.uint8 else f"<U{f.length}")[:, 0]
        self._measured(f, length)
        return (np.strings.encode(text, "utf-8") if self.as_bytes and text.dtype.kind == "U" else text), filled

    def _measured(self, f: FieldSpec, length: np.ndarray | int) -> None:
        """Note the length of each value of text field *f* (where lengths are kept)."""
        if self.lengths is not None:
            self.lengths[f.attr] = length


@functools.cache
def _keep_mask(length: int, dtype: np.dtype) -> np.ndarray:
    """``(length + 1, length)``: row *k* keeps (all bits set) the first *k* characters."""
    keep = np.arange(length)[None, :] < np.arange(length + 1)[:, None]
    return np.where(keep, np.iinfo(dtype).max, 0).astype(dtype)


def transposed(chars: np.ndarray, spans: list[tuple[int, int]] | None = None) -> np.ndarray:
    """``chars.T`` as a C-contiguous array, copied a few hundred rows at a time (a
    block of rows stays in the cache: faster than numpy's one-pass transpose). With
    *spans* (0-based ``(start, end)`` character ranges) only those rows of the result
    are filled; the others are left undefined (never read)."""
    n, width = chars.shape
    out = np.empty((width, n), dtype=chars.dtype)
    for a, b in spans if spans is not None else [(0, width)]:
        for i in range(0, n, _TRANSPOSE_ROWS):
            out[a:b, i:i + _TRANSPOSE_ROWS] = chars[i:i + _TRANSPOSE_ROWS, a:b].T
    return out


_TRANSPOSE_ROWS = 256


class _Group:
    """Fields of one length whose characters must be digits (numbers, amounts, times,
    dates, digit codes), checked together: ``positions`` is ``(k, length)`` 0-based."""

    def __init__(self, fields: list[FieldSpec]) -> None:
        self.fields = fields
        self.length = fields[0].length
        self.positions = np.array([np.arange(f.start - 1, f.end) for f in fields], dtype=np.intp)
        self.optional = np.array([f.optional for f in fields], dtype=bool)
        self.valued = [i for i, f in enumerate(fields) if f.kind in ("number", "amount", "time")]
        self.index = [self.valued.index(i) if i in self.valued else -1 for i in range(len(fields))]

    def read(self, block: _Block) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(digits and not empty, all zeros, number) per field: ``(k, n)`` arrays; the
        number (meaningless where not digits) only for the fields in ``valued``."""
        d = block.cols[self.positions]  # (k, length, n): a copy of its own
        d -= np.asarray(48, d.dtype)  # digit values; any other character wraps to >= 10
        top = d.max(axis=1)
        ok = top < 10
        zeros = top == 0
        ok &= ~(zeros & self.optional[:, None])
        value = None
        if self.valued:
            v = d if len(self.valued) == len(self.fields) else d[self.valued]
            value = _number(v).astype(np.int64, copy=False)
        return ok, zeros, value


def _number(v: np.ndarray) -> np.ndarray:
    """The numbers that digit values *v* (``(k, length, n)``) spell, ``(k, n)``; int32
    while they fit (9 digits). Horner's rule over pairs of digits (each pair one
    operation on bytes): half the steps over the wide numbers. Meaningless where a value
    is not a digit (as the caller knows)."""
    length = v.shape[1]
    wide = np.int32 if length <= 9 else np.int64
    if v.dtype != np.uint8 or length < 3:  # (code points, or too short to pair)
        acc: np.ndarray = v[:, 0].astype(wide)
        for j in range(1, length):
            acc *= 10
            acc += v[:, j]
        return acc
    lead = length % 2  # an odd digit first, on its own
    pairs = v[:, lead::2] * np.uint8(10)  # (a pair is at most 99: still a byte)
    pairs += v[:, lead + 1::2]
    acc = (v[:, 0] if lead else pairs[:, 0]).astype(wide)
    for j in range(1 - lead, pairs.shape[1]):
        acc *= 100
        acc += pairs[:, j]
    return acc


_DIGIT_KINDS = ("number", "amount", "digits", "date", "time")


def _groups(fields: list[FieldSpec]) -> list[_Group]:
    by_length: dict[int, list[FieldSpec]] = {}
    for f in fields:
        if f.kind in _DIGIT_KINDS:
            by_length.setdefault(f.length, []).append(f)
    return [_Group(fs) for fs in by_length.values()]


def _digit_column(f: FieldSpec, block: _Block, ok: np.ndarray, zeros: np.ndarray,
                  value: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray]:
    """(values, valid) of digit field *f*: *ok* (digits, not an empty optional), *zeros*
    (all zeros) and *value* (the number the digits spell) from its :class:`_Group`.
    Values None: ``block.text(f)``, once every field's characters are final."""
    kind = f.kind
    if kind == "date":
        return _calendar(block.cols[f.start - 1:f.end], ok)
    if kind == "time":
        assert value is not None
        hh, mm = value // 100, value % 100
        ok = ok & (hh < 24) & (mm < 60)
        out = np.where(ok, hh * 60 + mm, 0).astype("timedelta64[m]")
        out[~ok] = np.timedelta64("NaT")
        return out, ok
    if kind == "digits":
        if not ok.any():  # empty (or not digits) in every row
            block._measured(f, 0)
            return np.zeros(len(ok), dtype=f"S{f.length}" if block.as_bytes else f"<U{f.length}"), ok
        if not ok.all():
            block.blank(f, ~ok)  # "" where empty or not digits
            block._measured(f, np.where(ok, np.int32(f.length), np.int32(0)))
        else:
            block._measured(f, f.length)
        return None, ok  # (block.text(f), made when every field's characters are final)
    assert value is not None
    return (value if ok.all() else np.where(ok, value, 0)), ok


def _text_column(f: FieldSpec, block: _Block) -> tuple[np.ndarray | None, np.ndarray]:
    """(values, valid) of text, D/C or reserve field *f* in *block* (values None:
    ``block.text(f)``, as :meth:`_Block.stripped`)."""
    text, filled = block.stripped(f)
    if f.kind == "dc":
        if f.length == 1:  # one character: D or C (not a NUL, not a space)
            x = block.cols[f.start - 1]
            return text, (x == ord("D")) | (x == ord("C"))
        shown = block.text(f) if text is None else text
        return text, (shown == block.lit("D")) | (shown == block.lit("C"))
    return text, filled


_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int32)


def _calendar(c: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(datetime64[D], valid) of CCYYMMDD characters *c* (``(8, n)``, column-major),
    valid where *ok* (digits) and a calendar date of years 0001-9999 -- NaT elsewhere.
    Two digits at a time (a byte each), then tables: which MMDD some year has, the day
    number of each year's 1 January and of each month's first day (of a common year);
    whether the year is a leap year only for 29 February and the months after February."""
    pairs = c[0::2] * np.uint8(10) if c.dtype == np.uint8 else (c[0::2] - 48) * 10
    pairs += c[1::2]
    if c.dtype == np.uint8:
        pairs -= np.uint8(48 * 11 % 256)  # (digits: 0-99, the products wrapping alike; anything else below 256)
    else:
        pairs -= 48
        pairs = np.minimum(pairs, 255).astype(np.uint8)  # (not digits: out of every table's range)
    month_days, leap_years, year_start, month_start = _calendar_tables()
    year = pairs[0].astype(np.intp) * 100 + pairs[1]
    month, day = pairs[2], pairs[3]
    md = month.astype(np.intp) * 256 + day
    ok = ok & month_days[md] & (year >= 1)
    leap = leap_years[year]
    feb29 = np.flatnonzero(ok & (md == 2 * 256 + 29))
    if feb29.size:
        ok[feb29] = leap[feb29]
    days = year_start[year] + month_start[month] + day
    days += leap & (month > 2)
    out = days.astype("datetime64[D]")
    out[~ok] = np.datetime64("NaT")
    return np.asarray(out), ok


@functools.cache
def _calendar_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tables of :func:`_calendar`, indexed by any value two digit bytes can give
    (0-255 each; years to 255 * 100 + 255): MMDD (month * 256 + day) of a date some year
    has, leap years, the days from 1970-01-01 to each year's 1 January (by :func:`_dates`),
    and to each month's first day from 1 January, minus one (a common year)."""
    month_day = np.zeros(256 * 256, dtype=bool)
    for m in range(1, 13):
        month_day[m * 256 + 1:m * 256 + _DAYS[m] + 1 + (m == 2)] = True
    years = np.arange(256 * 100 + 256, dtype=np.int32)
    leap = (years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))
    real = (years >= 1) & (years <= 9999)
    ones = np.ones(len(years), dtype=np.int32)
    start = np.where(real, _dates(np.where(real, years, 1970), ones, ones, real).view(np.int64), 0)
    month_start = np.zeros(256, dtype=np.int64)
    month_start[1:13] = np.cumsum(_DAYS[:12])
    return month_day, leap, start, month_start - 1


def _dates(y: np.ndarray, m: np.ndarray, d: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """datetime64[D] of year/month/day (int32 arrays; calendar dates where *ok*), NaT
    where not *ok*: days since 1970-01-01 by integer arithmetic (the proleptic Gregorian
    calendar, as numpy's), without numpy's month-to-day conversion."""
    early = m <= 2  # March-based years: the leap day ends a year
    y = y - early
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + np.where(early, 9, -3)) + 2) // 5 + d - 1
    days = (era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468).astype("datetime64[D]")
    days[~ok] = np.datetime64("NaT")
    return np.asarray(days)


@attrs.frozen
class _Plan:
    """How to read a list of fields: the digit groups, the character ranges read and the
    signed amounts among the fields (name, amount, D/C indicator). It keeps the layout
    and fields it was made for (so that their ids, its key, stay theirs)."""

    groups: list[_Group]
    spans: list[tuple[int, int]]
    signed: list[tuple[str, FieldSpec, FieldSpec]]
    made_for: tuple[RecordLayout, tuple[FieldSpec, ...]]


def field_spans(lay: RecordLayout, fields: list[FieldSpec]) -> list[tuple[int, int]]:
    """The 0-based ``(start, end)`` character ranges :func:`batch_columns` reads of
    *fields* column-major (see :func:`transposed`)."""
    return list(_plan_of(lay, fields).spans)


def merged_spans(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """*ranges* (0-based ``(start, end)``) sorted and merged; gaps of a few characters
    are bridged (one copy of a longer range costs less than two)."""
    spans: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if spans and a <= spans[-1][1] + 8:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        else:
            spans.append((a, b))
    return spans


def _spans(lay: RecordLayout, fields: list[FieldSpec]) -> list[tuple[int, int]]:
    """The 0-based ``(start, end)`` character ranges of *fields* (and the D/C indicators
    of their signed amounts), merged; gaps of a few characters are bridged."""
    return merged_spans([(f.start - 1, f.end) for f in fields] +
                        [(dc.start - 1, dc.end) for amount, dc in lay.signed.values() if amount in fields])


_PLANS: dict[tuple[int, ...], _Plan] = {}


def _plan_of(lay: RecordLayout, fields: list[FieldSpec]) -> _Plan:
    """The :class:`_Plan` of *fields* of *lay* (kept: made once per field list; found by
    the objects' ids -- hashing some fifty field specs per batch costs more than reading)."""
    key = (id(lay), *map(id, fields))
    got = _PLANS.get(key)
    if got is None:
        if len(_PLANS) > 256:
            _PLANS.clear()
        signed = [(name, amount, dc) for name, (amount, dc) in lay.signed.items() if amount in fields]
        got = _PLANS[key] = _Plan(_groups(fields), _spans(lay, fields), signed, (lay, tuple(fields)))
    return got


def batch_columns(batch: Batch, lay: RecordLayout, fields: list[FieldSpec], *, text: str = "str",
                  rows: np.ndarray | None = None, chars: np.ndarray | None = None,
                  column_major: np.ndarray | None = None) -> ColumnBatch:
    """The columns of *fields* of *lay*'s records in *batch* (``text="bytes"``: codes and
    text as UTF-8 bytes arrays, which skips making str of ASCII text). *rows* and *chars*:
    ``batch.rows(lay.type)`` and the characters of those rows, when the caller has them
    already (*chars* must be its own copy: the columns take it over and write into it);
    *column_major*: ``transposed(chars, spans)`` over at least :func:`field_spans` of
    *fields* (read, never written)."""
    if text not in ("str", "bytes"):
        raise ValueError(f"text must be 'str' or 'bytes', not {text!r}")
    if rows is None:
        rows = batch.rows(lay.type)
    plan = _plan_of(lay, fields)
    if chars is None:
        chars, column_major = batch.chars[rows], None
    block = _Block(chars, text == "bytes", plan.spans, column_major)
    read: dict[str, tuple[np.ndarray | None, np.ndarray]] = {}
    for g in plan.groups:  # digit fields, a group of one length at a time
        ok, zeros, value = g.read(block)
        for i, f in enumerate(g.fields):
            k = g.index[i]
            read[f.attr] = _digit_column(f, block, ok[i], zeros[i], None if k < 0 or value is None else value[k])
    made: dict[str, tuple[np.ndarray | None, np.ndarray]] = {}
    for f in fields:
        made[f.attr] = read[f.attr] if f.attr in read else _text_column(f, block)
    # every field's characters final (NULs written): the text columns, views of the block
    cols: dict[str, np.ndarray] = {}
    valid: dict[str, np.ndarray] = {}
    for f in fields:
        values, valid[f.attr] = made[f.attr]
        cols[f.attr] = block.text(f) if values is None else values
    for name, amount, dc in plan.signed:
        value = cols[amount.attr]
        sign = block.cols[dc.start - 1] == ord("C")
        cols[name] = np.where(sign, -value, value)
        valid[name] = valid[amount.attr]
    return ColumnBatch(batch.lines[rows], cols, valid, block.lengths or {})


def iter_columns(source: Source, record_type: str, *, spec: MessageSpec | None = None,
                 encoding: str | None = None, fields: Iterable[str] | None = None,
                 batch_lines: int = BATCH_LINES, text: str = "str") -> Iterator[ColumnBatch]:
    """Typed columns of every *record_type* record of *source*, one batch at a time.

    *record_type* is a kenmerk (``"04"``) or a record's English name (``"claim"``);
    *fields* limits the columns (attribute names or rubrics; default every field).
    ``text="bytes"`` gives codes and text as UTF-8 ``bytes`` arrays instead of str
    (faster for ASCII files, e.g. to hand them to Arrow).
    Memory stays flat in the file size.
    """
    opener, to_close = replayable(source)
    try:
        # (no separate encoding pass where the file starts ASCII: the batches check as they read)
        with RecordStream(opener(), encoding=encoding, spec=spec, defer_check=True) as stream:
            found = stream.info.spec
            assert found is not None
            lay = _layout(found, record_type)
            wanted = _fields(lay, fields)
            for batch in iter_batches(stream, batch_lines, opener, fingerprint=False):
                yield batch_columns(batch, lay, wanted, text=text)
    finally:
        for fh in to_close:
            fh.close()


def columns(source: Source, record_type: str, *, spec: MessageSpec | None = None,
            encoding: str | None = None, fields: Iterable[str] | None = None,
            text: str = "str") -> dict[str, np.ndarray]:
    """Typed columns of every *record_type* record of *source*, whole: ``"line"`` (int64
    line numbers) plus one array per field (and ``<amount>_signed``); see the module doc."""
    # Each batch's columns are views into that batch's characters, so they are copied out
    # batch by batch into one array per column. Where the input's size is known, the arrays
    # are made for as many rows as it can hold (pages never written take no memory) and cut
    # to the rows read at the end: one copy, and the peak at most the result's size (less where
    # a column's rows are all zero bytes: see _Growing). An ASCII
    # batch is read as bytes (no cast of its block to code points) and its text widened
    # straight into the str columns (a byte is the character's code point).
    if text not in ("str", "bytes"):
        raise ValueError(f"text must be 'str' or 'bytes', not {text!r}")
    opener, to_close = replayable(source)
    try:
        size = _size_of(opener())
        out: dict[str, _Growing] = {}
        with RecordStream(opener(), encoding=encoding, spec=spec, defer_check=True) as stream:
            found = stream.info.spec
            assert found is not None
            lay = _layout(found, record_type)
            wanted = _fields(lay, fields)
            # at most: every line the record length and a line end, a byte a character
            rows = None if size is None else size // (found.record_length + 1) + 1
            for batch in iter_batches(stream, BATCH_LINES, opener, fingerprint=False):
                read_as = "bytes" if text == "bytes" or batch.chars.dtype == np.uint8 else "str"
                b = batch_columns(batch, lay, wanted, text=read_as)
                for name, values in (("line", b.lines), *b.columns.items()):
                    col = out.get(name)
                    if col is None:
                        dtype = values.dtype
                        if text == "str" and dtype.kind == "S":
                            dtype = np.dtype(f"<U{dtype.itemsize}")
                        col = out[name] = _Growing(dtype, rows)
                    col.add(values)
    finally:
        for fh in to_close:
            fh.close()
    if not out:
        raise EicodecError("no records")  # cannot happen: the stream has a header at least
    return {name: col.done() for name, col in out.items()}


def _size_of(source: Source) -> int | None:
    """The bytes left in *source*, or None when that is not known."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return memoryview(source).nbytes
    if isinstance(source, (str, os.PathLike)):
        try:
            return os.stat(source).st_size
        except OSError:
            return None
    try:
        at = source.tell()
        size = source.seek(0, os.SEEK_END) - at
        source.seek(at)
    except Exception:  # noqa: BLE001 (not seekable: the size is not known)
        return None
    return size if size >= 0 else None


class _Growing:
    """One column of :func:`columns`, filled a batch at a time (see there).

    Its rows live in a private anonymous memory map of their own, not in numpy's
    allocator: numpy asks the kernel for huge pages on big arrays, and a huge page's first
    touch cost 1.3-2.0 s of system time for a 700 MB table against 0.35 s in ordinary
    pages (issue 26; a shared map, as ``mmap.mmap(-1, n)`` makes by default, 0.5 s). Its
    pages are taken a stretch ahead of the rows written, all in one call
    (``MADV_POPULATE_WRITE``, Linux 5.14): one system call instead of a page fault per
    4 kB page, about 0.23 s for the same table."""

    def __init__(self, dtype: np.dtype, rows: int | None) -> None:
        self.dtype = dtype
        self.n = 0
        self._map: mmap.mmap | None = None
        self._ready = 0  # bytes of the map whose pages are taken
        self.values = self._new(rows if rows is not None else 1 << 16)

    def _new(self, rows: int) -> np.ndarray:
        """Room for *rows* rows (its pages taken only when written)."""
        size = rows * self.dtype.itemsize
        self._ready = 0
        if size < _MAPPED or not size:
            self._map = None
            return np.empty(rows, dtype=self.dtype)
        self._map = _private_map(size)
        return np.frombuffer(self._map, dtype=self.dtype)

    def _take_pages(self, end: int, ahead: int) -> None:
        """Have the map's pages up to byte *end* taken, and *ahead* bytes more (what a
        few batches will write), with one call (see the class doc)."""
        global _POPULATE
        if self._map is None or end <= self._ready or _POPULATE is None:
            return
        start = self._ready - self._ready % mmap.PAGESIZE
        stop = min(len(self._map), end + ahead)
        try:
            self._map.madvise(_POPULATE, start, stop - start)
        except (OSError, ValueError):  # (an older kernel: pages taken as they are written)
            _POPULATE = None
            return
        self._ready = stop

    def _move(self, dtype: np.dtype, rows: int) -> None:
        """Copy the rows filled to room for *rows* rows of *dtype*."""
        old, self.dtype = self.values, dtype
        self.values = self._new(rows)
        self._take_pages(self.n * dtype.itemsize, 0)
        self.values[:self.n] = old[:self.n]

    def add(self, part: np.ndarray) -> None:
        """Append *part*; ASCII bytes (``S``) to a str column are widened a byte to a code point."""
        end = self.n + len(part)
        widen = part.dtype.kind == "S" and self.dtype.kind == "U"
        dtype = np.dtype(f"<U{max(part.itemsize, self.dtype.itemsize // 4)}") if widen else \
            np.result_type(self.dtype, part.dtype)
        if dtype != self.dtype or end > len(self.values):  # (text of a batch with longer values)
            self._move(dtype, max(end, 2 * len(self.values)) if end > len(self.values) else len(self.values))
        if self._map is not None and part.flags.c_contiguous and not part.view(np.uint8).any():
            # all zero bytes (an empty text column, zero amounts): the map's pages after the
            # rows written are still the kernel's zero pages -- nothing to write, and pages
            # wholly inside these rows are never taken (they read as zeros)
            whole = end * self.dtype.itemsize
            self._ready = max(self._ready, whole - whole % mmap.PAGESIZE)
            self.n = end
            return
        self._take_pages(end * self.dtype.itemsize, _AHEAD * len(part) * self.dtype.itemsize)
        if widen:
            width, have = self.dtype.itemsize // 4, part.itemsize
            codes = self.values.view(np.uint32).reshape(-1, width)[self.n:end]
            if have == width:  # (both made contiguous: one cast of all the bytes, not one per row)
                codes.reshape(-1)[:] = np.ascontiguousarray(part).view(np.uint8)
            else:
                if have:
                    codes[:, :have] = part[:, None].view(np.uint8)  # (n, have): a byte per character
                codes[:, have:] = 0
        else:
            self.values[self.n:end] = part
        self.n = end

    def done(self) -> np.ndarray:
        """The rows filled (the room after them given back)."""
        if self._map is None:
            self.values.resize(self.n, refcheck=False)
            return self.values
        mapped, self._map = self._map, None
        del self.values  # (the map cannot shrink while an array views it)
        size = self.n * self.dtype.itemsize
        if not size:
            mapped.close()
            return np.empty(0, dtype=self.dtype)
        try:
            mapped.resize(size)
        except (OSError, SystemError, ValueError):  # (a platform that cannot shrink one: it stays)
            pass
        return np.frombuffer(mapped, dtype=self.dtype, count=self.n)


#: columns of at least this many bytes are kept in a memory map of their own (see _Growing)
_MAPPED = 1 << 22

#: batches' worth of a column's pages taken ahead of its rows (see _Growing)
_AHEAD = 8

#: madvise's MADV_POPULATE_WRITE (Linux; None where it is not known or fails)
_POPULATE: int | None = getattr(mmap, "MADV_POPULATE_WRITE", 23 if sys.platform == "linux" else None)


def _private_map(size: int) -> mmap.mmap:
    """*size* bytes of anonymous memory, private to the process where the platform says
    so (the default anonymous map is shared: its pages cost more to take)."""
    if hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS"):
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return mmap.mmap(-1, size)
