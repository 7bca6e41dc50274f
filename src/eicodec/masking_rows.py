"""The masking decision of :mod:`eicodec.masking` for many lines at once, with numpy.

:meth:`eicodec.masking.Masker.hidden_raw` asks three questions of a line: does it fit
its layout (a regex of each field's form), which reserves hold text (``str.strip``),
which other layouts does it fit. :meth:`~eicodec.masking.Masker.hidden_rows` asks
them of a batch's character array with the checks here, made from the same forms
(:func:`eicodec.masking.forms_of`): a range of character codes per position (0-9, the
fixed text's code, anything), D/C positions, the calendar of dates and the clock of
times. tests/test_masking_batch.py proves the answers equal line for line.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .batches import date_ordinal, unique_ints

#: the top of a position's range that allows any character
_ANY = -1


class RowForm:
    """The pattern of one layout (its fields' forms, :func:`eicodec.masking.forms_of`)
    as array checks of many lines at once, at the offsets where the joined pattern
    matches each field (the sum of the widths before): per position the range of
    character codes it allows (0-9 for digits, dates and times, the one code of fixed
    text, any code elsewhere), then D/C positions, then the calendar of dates and the
    clock of times."""

    def __init__(self, forms: list[tuple[str, str | None, int]]) -> None:
        lo: list[int] = []
        hi: list[int] = []
        dc: list[int] = []
        dates: list[int] = []
        times: list[int] = []
        for form, fixed, width in forms:
            at = len(lo)
            if form == "fixed":
                assert fixed is not None and len(fixed) == width
                codes = [ord(c) for c in fixed]
                lo += codes
                hi += codes
            elif form in ("digits", "date", "time"):  # (a date or a time is digits first)
                lo += [48] * width
                hi += [57] * width
                if form == "date":
                    dates.append(at)
                elif form == "time":
                    times.append(at)
            else:
                lo += [0] * width
                hi += [_ANY] * width
                if form == "dc":
                    dc += range(at, at + width)
        #: the pattern matches lines of this many characters (the layout's length when the
        #: fields follow each other, as a spec's do)
        self.width = len(lo)
        self.lo = np.array(lo, dtype=np.int64)
        self.hi = np.array(hi, dtype=np.int64)
        self.dc = np.array(dc, dtype=np.intp)
        self.date_starts = tuple(dates)
        self.dates = (np.array(dates, dtype=np.intp)[:, None] + np.arange(8)).reshape(-1)
        self.times = (np.array(times, dtype=np.intp)[:, None] + np.arange(4)).reshape(-1)
        ranged = np.flatnonzero((self.lo != 0) | (self.hi != _ANY))
        #: the ranged positions as runs ``(start, end)`` (every position of a run ranged),
        #: checked by :meth:`fits_columns`; with the D/C positions, :attr:`read`: all it reads
        self.runs: list[tuple[int, int]] = _runs(ranged.tolist())
        self.read: list[tuple[int, int]] = _runs(sorted({*ranged.tolist(), *self.dc.tolist()}))
        #: a few of the positions with a range, spread over the line (checked first)
        self.sample = ranged[np.linspace(0, len(ranged) - 1, min(len(ranged), 12)).astype(np.intp)]
        self._bounds: dict[np.dtype, tuple[np.ndarray, np.ndarray] | None] = {}

    def _bounds_of(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray] | None:
        """``(lo, hi - lo)`` in *dtype* (unsigned); None when a fixed character cannot
        be one of its codes (no line of such characters fits)."""
        if dtype not in self._bounds:
            top = np.iinfo(dtype).max
            bounded = self.hi != _ANY
            if (self.hi[bounded] > top).any():
                self._bounds[dtype] = None
            else:
                hi = np.where(bounded, self.hi, top)
                self._bounds[dtype] = (self.lo.astype(dtype), (hi - self.lo).astype(dtype))
        return self._bounds[dtype]

    def fits(self, chars: np.ndarray, sample: bool = False) -> np.ndarray:
        """Which rows of *chars* (``(n, width)`` unsigned character codes, every line
        that long) the layout's pattern fully matches. Each check goes over the rows
        still in the running; with *sample*, a sample of the ranged positions first (for
        lines of another layout, which mostly fail there; lines of the layout's own type
        mostly fit, and the sample would only cost)."""
        n = len(chars)
        bounds = self._bounds_of(chars.dtype) if chars.shape[1] == self.width else None
        if bounds is None or n == 0:
            return np.zeros(n, dtype=bool)
        lo, span = bounds
        rows: np.ndarray | None = None  # (None: all)
        sub = chars

        def keep(good: Any) -> None:
            nonlocal rows, sub
            if not good.all():
                at = np.flatnonzero(good)
                rows = at if rows is None else rows[at]
                sub = sub[at]

        # a character below its range wraps round to above the span (unsigned)
        if sample:
            s = self.sample
            bad = (sub[:, s] - lo[s]) > span[s]
            if bad.any():
                keep(~bad.any(axis=1))
        if len(sub):
            bad = (sub - lo) > span
            if bad.any():
                keep(~bad.any(axis=1))
        if self.dc.size and len(sub):
            c = sub[:, self.dc]
            keep(((c == 68) | (c == 67) | (c == 32)).all(axis=1))
        # (dates and times are digits by now)
        if self.dates.size and len(sub):
            if sub.dtype == np.uint8:
                keep(_digit_dates_fit(sub, self.date_starts))
            else:
                keep(dates_ok(sub[:, self.dates].astype(np.int16).reshape(len(sub), -1, 8) - 48).all(axis=1))
        if self.times.size and len(sub):
            d = sub[:, self.times].astype(np.int16).reshape(len(sub), -1, 4) - 48
            keep(((d[..., 0] * 10 + d[..., 1] <= 23) & (d[..., 2] * 10 + d[..., 3] <= 59)).all(axis=1))
        if rows is None:
            return np.ones(n, dtype=bool)
        out = np.zeros(n, dtype=bool)
        out[rows] = True
        return out

    def fits_columns(self, cols: np.ndarray) -> np.ndarray:
        """:meth:`fits` of lines given column-major: *cols* is ``(width, n)`` ``uint8``
        (``eicodec.columns.transposed``), filled at least over :attr:`read` (the other
        positions allow any character and are not read). The same checks, each over all
        lines (their answers combined), each position's codes a contiguous row."""
        width, n = cols.shape
        bounds = self._bounds_of(cols.dtype) if width == self.width and cols.dtype == np.uint8 else None
        if bounds is None or n == 0:
            return np.zeros(n, dtype=bool)
        lo, span = bounds
        good = np.ones(n, dtype=bool)
        for a, b in self.runs:  # (a character below its range wraps round to above the span)
            bad = (cols[a:b] - lo[a:b, None]) > span[a:b, None]
            if bad.any():
                good &= ~bad.any(axis=0)
        for p in self.dc.tolist():
            c = cols[p]
            good &= (c == 68) | (c == 67) | (c == 32)
        for a in self.date_starts:  # (where not digits: numbers below 256 a pair, in the tables' range)
            pairs = cols[a:a + 8:2] * np.uint8(10)
            pairs += cols[a + 1:a + 8:2]
            pairs -= np.uint8(48 * 11 % 256)
            year = pairs[0].astype(np.intp) * 100 + pairs[1]
            md = pairs[2].astype(np.intp) * 100 + pairs[3]
            fit = _MONTH_DAY_WIDE[md] & (year != 0)
            leap = np.flatnonzero(fit & (md == 229))
            if leap.size:
                y = year[leap]
                fit[leap] = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
            fit |= (year == 0) & (md == 0)  # 00000000
            good &= fit
        for a in self.times.reshape(-1, 4)[:, 0].tolist() if self.times.size else []:
            hh = cols[a].astype(np.int16) * 10 + cols[a + 1] - 528
            mm = cols[a + 2].astype(np.int16) * 10 + cols[a + 3] - 528
            good &= (hh >= 0) & (hh <= 23) & (mm >= 0) & (mm <= 59)
        return good


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Ascending *positions* as runs of consecutive ones, ``(start, end)``."""
    runs: list[tuple[int, int]] = []
    for p in positions:
        if runs and runs[-1][1] == p:
            runs[-1] = (runs[-1][0], p + 1)
        else:
            runs.append((p, p + 1))
    return runs


_DIGITS = np.uint32(0x0F0F0F0F)  # (the digit values of four ASCII digits read as one number)

#: MMDD (as the number) of a month and day that some year has (29 February: leap years)
_MONTH_DAY = np.zeros(10000, dtype=bool)
for _m, _last in enumerate((31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), start=1):
    _MONTH_DAY[_m * 100 + 1:_m * 100 + _last + 1] = True

#: :data:`_MONTH_DAY` for any MMDD two bytes give (to 255 * 100 + 255): False above 1231
_MONTH_DAY_WIDE = np.zeros(256 * 100 + 256, dtype=bool)
_MONTH_DAY_WIDE[:10000] = _MONTH_DAY


def _digit_dates_fit(chars: np.ndarray, starts: tuple[int, ...]) -> np.ndarray:
    """Per row of *chars* (``(n, width)`` uint8, digits at every date's eight positions),
    whether each date that starts at one of *starts* is :data:`DATE_OR_ZEROS`: as
    :func:`dates_ok`, with four characters read as one 32-bit number (their digit values
    its bytes), month and day looked up as MMDD; the year only of a 29 February."""
    if chars.strides[1] != 1:
        chars = np.ascontiguousarray(chars)
    ok = np.ones(len(chars), dtype=bool)
    for a in starts:
        year = chars[:, a:a + 4].view("<u4")[:, 0] & _DIGITS
        x = chars[:, a + 4:a + 8].view("<u4")[:, 0] & _DIGITS
        t = (x * np.uint32(10) + (x >> np.uint32(8))) & np.uint32(0x00FF00FF)  # MM in byte 0, DD in byte 2
        md = (t & np.uint32(0xFF)) * np.uint32(100) + (t >> np.uint32(16))
        fit = _MONTH_DAY[md] & (year != 0)  # (a calendar year is 0001-9999)
        leap = np.flatnonzero(fit & (md == 229))
        if leap.size:
            d = chars[leap, a:a + 4].astype(np.int32) - 48
            y = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
            fit[leap] = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
        fit |= (year == 0) & (md == 0)  # 00000000
        ok &= fit
    return ok


def dates_ok(d: np.ndarray) -> np.ndarray:
    """Which of the CCYYMMDD digit groups *d* (``(..., 8)`` digit values) match
    :data:`DATE_OR_ZEROS`: 00000000, or a calendar date as the engine's field checks
    take it (:func:`eicodec.batches.date_ordinal`: year 0001-9999, the Gregorian calendar)."""
    codes = (np.asarray(d).reshape(-1, 8) + 48).astype(np.uint8)
    _, ok = date_ordinal(codes)
    return np.asarray(ok | (codes == 48).all(axis=1)).reshape(d.shape[:-1])


@functools.cache
def _whitespace() -> np.ndarray:
    """The code points ``str.strip()`` removes (``str.isspace``; made when first needed)."""
    return np.array([c for c in range(0x110000) if chr(c).isspace()], dtype=np.uint32)


#: the same for a byte (an ASCII batch)
_BLANK_BYTE = np.array([chr(c).isspace() for c in range(256)], dtype=bool)


def not_blank(chars: np.ndarray) -> np.ndarray:
    """Which rows of *chars* hold a character ``str.strip()`` keeps."""
    if chars.dtype == np.uint8:
        if (chars == 32).all():  # (the common case: spaces)
            return np.zeros(len(chars), dtype=bool)
        return np.asarray((~_BLANK_BYTE[chars]).any(axis=1))
    return np.asarray((~np.isin(chars, _whitespace())).any(axis=1))


def distinct(own: np.ndarray | None, bits: list[np.ndarray], n: int) -> tuple[list[list[bool] | None], np.ndarray]:
    """The distinct combinations of the predicates *bits* (one bool array per question)
    over the *n* lines, None for a line not *own* (that does not fit its layout; *own*
    None: no line does), and per line the index of its combination."""
    if own is None or not own.any():
        return [None], np.zeros(n, dtype=np.intp)
    if len(bits) <= 62:
        weights = np.int64(1) << np.arange(len(bits), dtype=np.int64)
        code = np.zeros(n, dtype=np.int64)
        for b, w in zip(bits, weights.tolist()):
            code[b] += w
        code[~own] = -1
        keys, which = unique_ints(code, return_inverse=True)  # (a few bits: by a table, no sort)
        combos = [None if k < 0 else [bool(k >> j & 1) for j in range(len(bits))] for k in keys.tolist()]
    else:
        rows, which = np.unique(np.column_stack([~own, *bits]), axis=0, return_inverse=True)
        combos = [None if r[0] else [bool(x) for x in r[1:]] for r in rows.tolist()]
    return combos, which.reshape(-1).astype(np.intp)


def fits_among(forms: list[RowForm], chars: np.ndarray, rows: np.ndarray) -> list[np.ndarray]:
    """For each of *forms*, which lines of *chars* it fits, asked of the *rows* only
    (a bool array; the others: False)."""
    at = np.flatnonzero(rows)
    sub = chars if at.size == len(chars) else chars[at]
    out = []
    for form in forms:
        fit = np.zeros(len(chars), dtype=bool)
        fit[at] = form.fits(sub, sample=True)
        out.append(fit)
    return out
