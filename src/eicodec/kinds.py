"""The rule kinds: one vectorised function per kind, over the rows of a batch.

Every function takes the rows a rule looks at (a :class:`View`: the records of the
rule's type in one batch, with their ancestors and the header at hand) and returns a
boolean array: True where the rule fails. The engine makes findings of those rows only;
a batch of one row is just a small batch, so there is no second way to check a rule.
Field checks of the layout (:class:`FieldChecks`) return a problem code per row and
field, worded by :func:`field_message`.

Nothing here knows a standard: rubrics, values and codes come from the spec and the
rules file.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import numpy as np
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from .batches import all_digits, all_of, column_major, date_digits, date_ordinal, digits_value, text_of, weighted_sum
from .codes import codelist, codelist_file
from .errors import SpecError
from .layouts import FieldSpec, MessageSpec, RecordLayout
from .rules import Condition, Rule, compile_pattern, owner

_ZERO, _SPACE = 48, 32
RETURN_CODE_LISTS = frozenset({"COD954", "COD955", "COD956"})

# ------------------------------------------------------------------ field checks (kind "field")

NOT_NUMERIC, NOT_FIXED, MISSING, NOT_DATE, NOT_TIME, NOT_LISTED, NOT_RETURN_CODE, NOT_BLANK, NOT_DC = range(1, 10)
#: (general EI format rule ``format.left_aligned``, specs/defaults.rules.toml)
NOT_LEFT_ALIGNED = 10
_PROBLEMS = {NOT_NUMERIC: "is not numeric", MISSING: "is missing", NOT_DATE: "is not a calendar date (CCYYMMDD)",
             NOT_TIME: "is not a time of day (HHMM)", NOT_LISTED: "is not in its code list",
             NOT_RETURN_CODE: "is not a known COD954 code", NOT_BLANK: "is not blank",
             NOT_DC: "is not D or C", NOT_LEFT_ALIGNED: "is not left-aligned (starts with a space)"}


def field_message(f: FieldSpec, problem: int) -> str:
    """The English wording of *problem* in field *f* (no value in it)."""
    what = f"is not {f.fixed}" if problem == NOT_FIXED else _PROBLEMS[problem]
    return f"{f.name} ({f.rubric}) {what}"


def _zero_is_missing(f: FieldSpec) -> bool:
    """Zero is a value for counts, quantities and amounts, not for ids, codes or dates."""
    return f.mandatory == "Y" and (f.kind in ("digits", "date", "time") or
                                   f.kind == "number" and not f.element.startswith("ANT"))


def _padded(values: Iterable[str], width: int, numeric: bool) -> np.ndarray:
    """*values* as they stand in a field of *width* (AN: left-aligned, space-padded)."""
    if numeric:
        out = {v for v in values if len(v) == width}
    else:
        out = {v.ljust(width) for v in values if 0 < len(v) <= width and v == v.rstrip(" ")}
    return np.array(sorted(out), dtype=f"U{width}")


def aligned_left(f: FieldSpec) -> bool:
    """Whether the EI rule "links aansluiten, rechts opvullen met spaties" applies to
    field *f*: an alphanumeric value field (not reserve, D/C or a fixed value)."""
    return f.type == "AN" and f.kind not in ("reserve", "dc") and f.fixed is None


def _fixed_codes(text: str) -> np.ndarray:
    return np.array([ord(c) for c in text], np.uint32)


#: character positions checked against their ranges at once (the batch-wide pass)
_POSITIONS_AT_ONCE = 96
#: a reserve at the end of a record at least this long is checked on the rows as they
#: are, not copied column-major (FieldChecks.cut)
_ROW_TAIL = 32


class FieldChecks:
    """The layout's own checks of every field of one record type, vectorised."""

    def __init__(self, lay: RecordLayout, return_codes: frozenset[str],
                 left_aligned: frozenset[str] = frozenset()) -> None:
        """*left_aligned*: the rubrics of *lay* whose filled value may not start with a
        space (rule ``format.left_aligned``; empty: not checked)."""
        self.layout = lay
        self.left_aligned = frozenset(r for r in left_aligned if r in lay.by_rubric and aligned_left(lay.by_rubric[r]))
        self.fields: list[FieldSpec] = []
        self._plans: list[tuple[FieldSpec, np.ndarray | None, np.ndarray | None]] = []
        self._keyed_cache: dict[tuple[int, int], tuple[FieldSpec, np.ndarray | None, np.ndarray | None]] = {}
        for f in lay.fields:
            allowed: frozenset[str] | None = None
            if f.codelist and f.codelist not in RETURN_CODE_LISTS:
                allowed = codelist_file(f.codelist_path) if f.codelist_path else codelist(f.codelist)
            if f.allowed is not None:
                allowed = frozenset(f.allowed)
            numeric = f.type == "N"
            listed = _padded(allowed, f.length, numeric) if allowed is not None else None
            rc = _padded(return_codes, f.length, numeric) if f.codelist in RETURN_CODE_LISTS else None
            if not numeric and f.kind == "text" and f.mandatory != "Y" and f.fixed is None and listed is None \
                    and rc is None and f.rubric not in self.left_aligned:
                continue  # free optional text: nothing can be wrong with it (lines hold no CR/LF)
            self.fields.append(f)
            self._plans.append((f, listed, rc))
        self._plan_fine()

    def _plan_fine(self) -> None:
        """Plan the batch-wide "every field fine" pass from the same field data as the
        detailed checks: per position a range of allowed characters (N: digits; reserve:
        space; fixed N or mandatory fixed AN: that character), per field whether it may
        be all zeros/spaces, dates and times grouped, numeric code lists as integers;
        any other field is judged by its detailed check."""
        lo: list[int] = []
        hi: list[int] = []
        pos: list[int] = []
        filled_pos: list[int] = []   # positions of fields that must not be all blank ...
        filled_blank: list[int] = []  # ... and the blank character there (N: "0", AN: " ")
        filled_starts: list[int] = []
        dates: list[tuple[int, bool]] = []   # (start, may be all zeros)
        times: list[tuple[int, int, int, bool]] = []  # (plan, start, end, may be all zeros)
        numeric_lists: list[tuple[int, int, int, np.ndarray]] = []
        rest: list[int] = []  # plan indices checked in detail for every row
        aligned: list[tuple[int, int, int]] = []  # (plan, start, end) of AN fields checked left-aligned
        # a long reserve at the end of the record is checked on the rows as they are (see
        # cut): the column-major copy of the rows stops before it
        tail = len(self._plans) - 1 if self._plans else -1
        last = self._plans[tail][0] if self._plans else None
        if last is None or last.kind != "reserve" or last.end != self.layout.length or last.length < _ROW_TAIL \
                or (last.fixed is not None and set(last.fixed) != {" "}):
            tail = -1
        #: the characters before this position are all the checks read column-major
        self.cut = self.layout.length if tail < 0 else cast(FieldSpec, last).start - 1
        self._tail = None if tail < 0 else (tail, self.cut, self.layout.length)

        def span(s: int, e: int, low: int, high: int) -> None:
            pos.extend(range(s, e))
            lo.extend([low] * (e - s))
            hi.extend([high] * (e - s))

        def must_fill(s: int, e: int, blank: int) -> None:
            filled_starts.append(len(filled_pos))
            filled_pos.extend(range(s, e))
            filled_blank.extend([blank] * (e - s))

        for j, (f, listed, rc) in enumerate(self._plans):
            s, e = f.start - 1, f.end
            if f.rubric in self.left_aligned:
                aligned.append((j, s, e))
            fixed = _fixed_codes(f.fixed) if f.fixed is not None else None
            if fixed is not None and f.fixed is not None and (
                    len(fixed) != e - s or int(fixed.max(initial=0)) > 255 or (
                    f.type == "N" and f.kind != "reserve" and not (f.fixed.isascii() and f.fixed.isdigit()))):
                rest.append(j)
                continue
            if f.kind == "reserve":
                if j != tail:
                    span(s, e, _SPACE, _SPACE)
                continue
            if f.type == "N":
                if fixed is not None:
                    pos.extend(range(s, e))
                    lo.extend(fixed.tolist())
                    hi.extend(fixed.tolist())
                else:
                    span(s, e, _ZERO, _ZERO + 9)
                zim = _zero_is_missing(f)
                if zim:
                    must_fill(s, e, _ZERO)
                if f.kind == "date":
                    if e - s != 8:
                        rest.append(j)
                    else:
                        dates.append((s, not zim))
                elif f.kind == "time":
                    times.append((j, s, e, not zim))
                elif listed is not None or rc is not None:
                    values = (listed if listed is not None else cast("np.ndarray", rc)).tolist()
                    if e - s > 18:
                        rest.append(j)
                    else:
                        ints = [int(v) for v in values if v.isascii() and v.isdigit() and len(v) == e - s]
                        listed_ints = np.array(sorted(set(ints)), np.int64)
                        if e - s <= 4 and len(listed_ints) > _FEW:  # fine per value: 0 or listed
                            table = np.zeros(10 ** (e - s), bool)
                            table[0] = True
                            table[listed_ints] = True
                            listed_ints = table
                        numeric_lists.append((j, s, e, listed_ints))
                continue
            if f.kind == "dc" and f.mandatory == "Y" and e - s == 1 and fixed is None:
                # (a mandatory D/C indicator is checked for D or C only; they are neighbours)
                span(s, e, ord("C"), ord("D"))
                continue
            if f.mandatory == "Y" and f.kind != "dc" and listed is None and rc is None:
                must_fill(s, e, _SPACE)
                if fixed is not None:
                    pos.extend(range(s, e))
                    lo.extend(fixed.tolist())
                    hi.extend(fixed.tolist())
                continue
            if f.type != "N" and f.kind == "text" and f.mandatory != "Y" and fixed is None \
                    and listed is None and rc is None and f.rubric in self.left_aligned:
                continue  # optional free text: its one check (left-aligned) is in `aligned`
            rest.append(j)
        order = np.argsort(np.array(pos, np.int64), kind="stable")
        self._pos = np.array(pos, np.intp)[order]
        owner_of = {p: j for j, (f, _, _) in enumerate(self._plans) for p in range(f.start - 1, f.end)}
        self._pos_plan = np.array([owner_of[p] for p in self._pos.tolist()], np.intp)
        self._lo = np.array(lo, np.int64)[order]
        self._span = (np.array(hi, np.int64) - np.array(lo, np.int64))[order]
        # the positions with one allowed span at a time, a slice of them at a time: after
        # the lowest allowed character is taken off, the largest of a row's characters
        # tells (one reduction; no array of comparisons)
        self._chunks: list[tuple[np.ndarray, np.ndarray, int]] = []
        self._chunk_plans: list[np.ndarray] = []  # (the plan index of each chunk's positions)
        for width in np.unique(self._span).tolist():
            at = np.flatnonzero(self._span == width)
            for a in range(0, len(at), _POSITIONS_AT_ONCE):
                part = at[a:a + _POSITIONS_AT_ONCE]
                self._chunks.append((self._pos[part], self._lo[part][:, None], int(width)))
                self._chunk_plans.append(self._pos_plan[part])
        self._filled_pos = np.array(filled_pos, np.intp)
        self._filled_blank = np.array(filled_blank, np.int64)
        self._filled_spans = list(zip(filled_starts, [*filled_starts[1:], len(filled_pos)]))
        self._filled_plans = [owner_of[filled_pos[a]] for a in filled_starts]
        self._date_plans = [owner_of[s] for s, _ in dates]
        self._dates = (np.array([s + k for s, _ in dates for k in range(8)], np.intp),
                       np.array([z for _, z in dates], bool))
        self._times = times
        self._numeric_lists = numeric_lists
        self._rest = rest
        self._aligned = aligned

    def fine(self, chars: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """Per row of *chars*: every field passes its checks (the detailed checks would
        find nothing). Exact, not a guess: a row this rejects is checked in detail."""
        return self._fine(chars, cols)[0]

    def _fine(self, chars: np.ndarray, cols: np.ndarray | None = None, rows: np.ndarray | None = None,
              off: set[int] | None = None) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
        """:meth:`fine`, and per field checked apart from the positions: (plan index,
        that field fine per row). With *rows*, the records are ``chars[rows]``; *cols*
        (them column-major) need only hold the characters before :attr:`cut`. *off*: gets
        the plan index of each field with a character out of its range in some row."""
        if cols is None:
            cols = np.ascontiguousarray((chars if rows is None else chars[rows]).T)
        n = cols.shape[1]
        parts: list[tuple[int, np.ndarray]] = []
        dt = cols.dtype
        ok = np.ones(n, bool)
        if self._tail is not None:  # (the reserve at the end: all spaces, row by row)
            j, s, e = self._tail
            tail = chars[:, s:e] ^ np.asarray(_SPACE, chars.dtype) if rows is None else chars[rows, s:e]
            if rows is not None:
                np.bitwise_xor(tail, np.asarray(_SPACE, chars.dtype), out=tail)  # (a copy: in place)
            good = tail.max(axis=1, initial=0) == 0  # (a row's largest: no array of comparisons)
            ok &= good
            parts.append((j, good))
        for k, (at, low, width) in enumerate(self._chunks):
            sub = cols[at]  # (a copy: worked on in place)
            np.subtract(sub, low.astype(dt), out=sub)  # (unsigned: below the range wraps above it)
            good = sub.max(axis=0) <= width
            ok &= good
            if off is not None and not good.all():  # (which positions: a row's bad one makes it bad)
                off.update(self._chunk_plans[k][sub.max(axis=1) > width].tolist())
        if len(self._filled_pos):
            some = cols[self._filled_pos] != self._filled_blank.astype(dt)[:, None]
            for j, (a, b) in zip(self._filled_plans, self._filled_spans):  # (reduceat is slower)
                good = np.logical_or.reduce(some[a:b], axis=0)
                ok &= good
                parts.append((j, good))
        date_pos, may_be_zero = self._dates
        if len(date_pos):
            d = (cols[date_pos].astype(np.int32) - _ZERO).reshape(-1, 8, n)
            y = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
            m = d[:, 4] * 10 + d[:, 5]
            day = d[:, 6] * 10 + d[:, 7]
            good_m = (m >= 1) & (m <= 12)
            dim = np.take(_MOST_DAYS32, m, mode="clip")  # (any month but 1..12: good_m fails it)
            good = (y >= 1) & good_m & (day >= 1) & (day <= dim)
            leap_day = good & (m == 2) & (day == 29)  # (no division for the other days)
            if leap_day.any():
                ly = y[leap_day]
                good[leap_day] = (ly % 4 == 0) & ((ly % 100 != 0) | (ly % 400 == 0))
            good |= may_be_zero[:, None] & (y == 0) & (m == 0) & (day == 0)
            ok = np.asarray(ok & good.all(axis=0))
            parts.extend(zip(self._date_plans, good))
        for j, s, e, zero_ok in self._times:
            if e - s == 4:  # HHMM from its digits (no division)
                hh = cols[s] * np.int16(10) + cols[s + 1].astype(np.int16)
                mm = cols[s + 2] * np.int16(10) + cols[s + 3].astype(np.int16)
                good = (hh < 24 + _ZERO * 11) & (mm < 60 + _ZERO * 11)
                if not zero_ok:
                    good &= (hh != _ZERO * 11) | (mm != _ZERO * 11)
            else:
                v = _col_value(cols, s, e)
                good = np.asarray((v // 100 < 24) & (v % 100 < 60))
                if not zero_ok:
                    good &= v != 0
            ok &= good
            parts.append((j, good))
        for j, s, e, ints in self._numeric_lists:
            v = _col_value(cols, s, e)
            if ints.dtype == bool:  # a table by value (where the field is not all digits,
                # the positions already fail the row and name the field: any answer does)
                good = np.take(ints, v, mode="clip")
            else:
                good = (v == 0) | member(v, ints)
            ok &= good
            parts.append((j, good))
        for j, s, e in self._aligned:
            good = (cols[s] != _SPACE) | (cols[s:e] == _SPACE).all(axis=0)
            ok &= good
            parts.append((j, good))
        for j in self._rest:
            f, listed, rc = self._keyed(j, chars.dtype)
            s, e = f.start - 1, f.end
            block = cols[s:e]
            fc = block.T
            digits = ((block - np.asarray(_ZERO, dt)) < 10).all(axis=0)
            good = self._one(f, fc, listed, rc, n, digits, (block == _ZERO).all(axis=0),
                             (block == _SPACE).all(axis=0), f.rubric in self.left_aligned) == 0
            ok &= good
            parts.append((j, good))
        return ok, parts

    def problems(self, chars: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """``(rows, len(self.fields))`` problem codes (0: fine) of records *chars*.

        Whether each field is all digits, all zeros or all spaces is found for every
        field at once (one pass over the characters, reduced per field); the rest works
        on one value per row and field."""
        out = np.zeros((len(chars), len(self._plans)), np.int8)
        bad, codes = self.failing(chars, cols)
        out[bad] = codes
        return out

    def failing(self, chars: np.ndarray, cols: np.ndarray | None = None, rows: np.ndarray | None = None,
                ) -> tuple[np.ndarray, np.ndarray]:
        """(the rows of *chars* with a problem, in order; their rows of :meth:`problems`).
        With *rows*, the records are ``chars[rows]`` (and *cols* is given: them column-major)."""
        n = len(chars) if rows is None else len(rows)
        if not n or not self._plans:
            return np.zeros(0, np.intp), np.zeros((0, len(self._plans)), np.int8)
        # column-major, so that each field's characters are a block of whole rows and a
        # reduction over them runs across all records at once (*cols*: given by the caller)
        if cols is None:
            cols = column_major(chars, rows=rows)
        suspects: set[int] = set()  # (the fields with a character out of range: see _fine)
        ok, parts = self._fine(chars, cols, rows, suspects)
        if ok.all():
            return np.zeros(0, np.intp), np.zeros((0, len(self._plans)), np.int8)
        bad = np.flatnonzero(~ok)
        # only the fields that are not fine in some of those rows are checked in detail
        suspects.update(j for j, good in parts if not good.all())  # (a row it fails is bad)
        return bad, self.detailed(chars[bad] if rows is None else chars[rows[bad]], sorted(suspects))

    def detailed(self, chars: np.ndarray, only: list[int] | None = None) -> np.ndarray:
        """``(rows, len(self.fields))`` problem codes (0: fine), field by field (the
        fields *only*, by index; the rest 0)."""
        n = len(chars)
        out = np.zeros((n, len(self._plans)), np.int8)
        if not n or not self._plans:
            return out
        for j in range(len(self._plans)) if only is None else only:
            f, listed, rc = self._keyed(j, chars.dtype)
            s, e = f.start - 1, f.end
            # (the field's characters column-major: each reduction runs across the rows)
            cols = np.ascontiguousarray(chars[:, s:e].T)
            fc = cols.T
            digit = ((cols - np.asarray(_ZERO, cols.dtype)) < 10).all(axis=0)
            out[:, j] = self._one(f, fc, listed, rc, n, digit, (cols == _ZERO).all(axis=0),
                                  (cols == _SPACE).all(axis=0), f.rubric in self.left_aligned)
        return out

    def _keyed(self, j: int, dtype: np.dtype) -> tuple[FieldSpec, np.ndarray | None, np.ndarray | None]:
        """Plan *j* with its code lists in the form :func:`keys_of` gives for characters
        of *dtype*, sorted (made once per plan and dtype)."""
        key = (j, dtype.itemsize)
        found = self._keyed_cache.get(key)
        if found is None:
            f, listed, rc = self._plans[j]
            probe = np.zeros((0, f.length), dtype)
            keyed = [None if v is None else np.sort(listed_for(v, probe)) for v in (listed, rc)]
            found = self._keyed_cache[key] = (f, keyed[0], keyed[1])
        return found

    @staticmethod
    def _one(f: FieldSpec, fc: np.ndarray, listed: np.ndarray | None, rc: np.ndarray | None, n: int,
             digits: np.ndarray, zeros: np.ndarray, spaces: np.ndarray, left: bool = False) -> np.ndarray:
        p = np.zeros(n, np.int8)

        def put(code: int, cond: np.ndarray) -> None:
            np.copyto(p, np.int8(code), where=cond & (p == 0))

        if f.kind == "reserve":
            p[~spaces] = NOT_BLANK
            return p
        if f.type == "N":
            p[~digits] = NOT_NUMERIC
            if f.fixed is not None:
                put(NOT_FIXED, (fc != _fixed_codes(f.fixed)).any(axis=1))
            if _zero_is_missing(f):
                put(MISSING, zeros)
            else:
                p[zeros & (p == 0)] = -1  # fine: nothing more to check
            if f.kind == "date":
                _, ok = date_ordinal(fc)
                put(NOT_DATE, ~ok)
            elif f.kind == "time":
                v = digits_value(fc)
                put(NOT_TIME, ~((v // 100 < 24) & (v % 100 < 60)))
            elif listed is not None:
                put(NOT_LISTED, ~is_listed(keys_of(fc), listed_for(listed, fc)))
            elif rc is not None:
                put(NOT_RETURN_CODE, ~is_listed(keys_of(fc), listed_for(rc, fc)))
            p[p < 0] = 0
            return p
        # (lines hold no CR or LF: the reader splits on them, so no text field can)
        if f.mandatory == "Y":
            p[spaces] = MISSING
        else:
            p[spaces] = -1
        if f.kind == "dc":
            c = fc[:, 0]
            put(NOT_DC, (c != ord("D")) & (c != ord("C")))
        else:
            if f.fixed is not None:
                put(NOT_FIXED, (fc != _fixed_codes(f.fixed)).any(axis=1))
            if listed is not None:
                put(NOT_LISTED, ~is_listed(keys_of(fc), listed_for(listed, fc)))
            if rc is not None:
                put(NOT_RETURN_CODE, ~is_listed(keys_of(fc), listed_for(rc, fc)))
            if left:
                put(NOT_LEFT_ALIGNED, fc[:, 0] == _SPACE)
        p[p < 0] = 0
        return p


#: days of each month in a leap year (29 February is checked apart)
_MOST_DAYS32 = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int32)


def _col_value(cols: np.ndarray, s: int, e: int) -> np.ndarray:
    """The int64 number that the digits of column-major field rows ``cols[s:e]`` spell
    (meaningless where not all digits)."""
    v = cols[s].astype(np.int64) - _ZERO
    for k in range(s + 1, e):
        v *= 10
        v += cols[k]
        v -= _ZERO
    return np.asarray(v)


def keys_of(fc: np.ndarray) -> np.ndarray:
    """The texts of field slice *fc* as fixed-width strings to compare (bytes when the
    batch is ASCII, str otherwise; no copy of characters into another width)."""
    n, w = fc.shape
    nul = fc == 0
    if nul.any():  # fixed-width strings drop trailing NULs: make a NUL no code's character
        fc = np.where(nul, np.asarray(0x7F, fc.dtype), fc)
    if fc.dtype == np.uint8:
        return np.ascontiguousarray(fc).view(f"S{w}").reshape(n)
    return np.ascontiguousarray(fc).view(f"<U{w}").reshape(n)


def listed_for(values: np.ndarray, fc: np.ndarray) -> np.ndarray:
    """*values* (a str array) in the form :func:`keys_of` gives for *fc* (given in that
    form already: as they are)."""
    if fc.dtype == np.uint8 and values.dtype.kind != "S":
        return np.array([v.encode("ascii") for v in values.tolist() if v.isascii()], dtype=f"S{fc.shape[1]}")
    return values


def is_listed(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.isin(keys, values)`` for fixed-width string *keys* and *values* (both in the
    form of :func:`keys_of`), *values* sorted: no sort per call."""
    if len(values) <= _FEW:
        out = np.zeros(len(keys), bool)
        for v in values:
            out |= keys == v
        return out
    at = np.searchsorted(values, keys)
    np.minimum(at, len(values) - 1, out=at)
    return np.asarray(values[at] == keys)


# ------------------------------------------------------------------ the rows a rule reads

class View:
    """The rows of one record type that a rule checks, in one batch.

    ``chars`` holds the batch's rows followed by its context rows (ancestors read from
    earlier batches); ``rows`` are the checked records' indices in it and ``anc`` maps
    an ancestor type (or the header type) to the index of that ancestor per checked row.
    """

    def __init__(self, spec: MessageSpec, record: str, chars: np.ndarray, rows: np.ndarray,
                 anc: Mapping[str, np.ndarray], today: int, cols: np.ndarray | None = None,
                 sub: np.ndarray | None = None, memo: dict[object, object] | None = None,
                 blocks: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        """*blocks*: per record type, rows of *chars* (ascending) and those rows
        column-major, where the caller has them: an ancestor's fields are taken from
        there (a gather along contiguous rows instead of across whole records)."""
        self.spec = spec
        self.record = record
        self.all_chars = chars
        self.rows = rows
        self.anc = anc
        self.today = today
        self.n = len(rows)
        #: ``chars[rows]`` column-major (``(record_length, n)``) and as it is, when the caller has them
        self.cols = cols
        self.sub = sub
        #: values worked out once for these rows (shared by the views of the same rows)
        self.memo: dict[object, object] = {} if memo is None else memo
        self.blocks = blocks or {}

    def source(self, rubric: str, record: str | None = None) -> str:
        """The record type *rubric* is read from (the rule's own, an ancestor or the header)."""
        t = record or owner(self.spec, rubric)
        if t is None or rubric not in self.spec.records[t].by_rubric:
            raise SpecError(f"unknown rubric {rubric!r}", spec=self.spec.name)
        return t

    def field(self, rubric: str, record: str | None = None) -> tuple[FieldSpec, np.ndarray]:
        """The field *rubric* and its ``(n, length)`` characters for every checked row."""
        t = self.source(rubric, record)
        f = self.spec.records[t].by_rubric[rubric]
        if t == self.record and self.cols is not None and f.end <= len(self.cols):
            return f, self.cols[f.start - 1:f.end].T
        key = ("field", t, rubric)
        found = self.memo.get(key)
        if found is None:
            if t == self.record:  # (past the column-major copy: see FieldChecks.cut)
                found = self.memo[key] = np.ascontiguousarray(self.all_chars[self.rows, f.start - 1:f.end].T).T
            else:  # (an ancestor's or the header's: kept in the memo)
                ancestor_chars(self, t, [f])
                found = self.memo[key]
        return f, found  # type: ignore[return-value]

    def at(self, t: str) -> tuple[np.ndarray, np.ndarray]:
        """(per checked row, where its ancestor of type *t* lies in that type's block;
        the rows whose ancestor is not there: read in an earlier batch), once per view."""
        at = self.memo.get(("at", t))
        if at is None:
            rows = self.blocks[t][0]
            idx = self.anc[t]
            pos = np.searchsorted(rows, idx)
            np.minimum(pos, len(rows) - 1, out=pos)
            at = self.memo[("at", t)] = (pos, np.flatnonzero(rows[pos] != idx))
        return cast("tuple[np.ndarray, np.ndarray]", at)

    def typed(self, rubric: str, record: str | None = None, signed: bool = False,
              ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`typed` of field *rubric* (of *record*, or the type that holds it), worked
        out once for these rows (callers do not change the arrays)."""
        t = self.source(rubric, record)
        # (keyed by the type read: a rule naming its own record type shares the value)
        key = ("typed", rubric, t, signed)
        found = self.memo.get(key)
        if found is None:
            idx = self.anc.get(t) if t != self.record else None
            if idx is not None and self.n > 1 and idx[0] == idx[-1] and bool((idx == idx[0]).all()):
                # one record for every row (the header): its value, worked out once
                one = View(self.spec, self.record, self.all_chars, self.rows[:1],
                           {a: v[:1] for a, v in self.anc.items()}, self.today)
                value, ok = one.typed(rubric, record, signed)
                found = (np.broadcast_to(value, self.n), np.broadcast_to(ok, self.n))
            else:
                f, fc = self.field(rubric, t)
                found = typed(f, fc, signed, self, t)  # (a D/C field lies in its amount's record)
            self.memo[key] = found
        return found  # type: ignore[return-value]

    def filled(self, rubric: str, record: str | None = None) -> np.ndarray:
        """:func:`filled` of field *rubric* (of *record*, or the type that holds it), worked
        out once for these rows (callers do not change the array)."""
        t = self.source(rubric, record)
        key = ("filled", t, rubric)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = filled(*self.field(rubric, t))
        return found  # type: ignore[return-value]


def filled(f: FieldSpec, fc: np.ndarray) -> np.ndarray:
    """Per row: the field holds a value (N: not all zeros/spaces; AN: not all spaces)."""
    if f.type == "N":
        return np.asarray(~((fc == _ZERO) | (fc == _SPACE)).all(axis=1))
    return ~all_of(fc, _SPACE)


#: Lists of at most this many values are matched value by value (cheaper than a sort).
_FEW = 8


def member(v: np.ndarray, ints: np.ndarray) -> np.ndarray:
    """Per element of int64 *v*: it is one of the sorted int64 *ints* (``np.isin``, cheaper
    for the small lists of codes)."""
    if len(ints) <= _FEW:
        out = np.zeros(len(v), bool)
        for x in ints.tolist():
            out |= v == x
        return out
    at = np.searchsorted(ints, v)
    np.minimum(at, len(ints) - 1, out=at)
    return np.asarray(ints[at] == v)


@functools.lru_cache(maxsize=1024)
def _value_codes(width: int, numeric: bool, values: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """The character codes of *values* as they stand in the field (see :func:`_padded`):
    (those that are ASCII, as uint8; all, as uint32); None for a list matched by ``np.isin``."""
    padded = _padded(values, width, numeric).tolist()
    if len(padded) > _FEW or any(len(v) != width or "\x00" in v or "\x7f" in v for v in padded):
        return None
    wide = np.array([[ord(c) for c in v] for v in padded], np.uint32).reshape(len(padded), width)
    return wide[(wide < 128).all(axis=1)].astype(np.uint8), wide


def value_in(f: FieldSpec, fc: np.ndarray, values: Iterable[str]) -> np.ndarray:
    """Per row: the field's value (AN: without trailing spaces) is one of *values*."""
    codes = _value_codes(f.length, f.type == "N", tuple(values))
    if codes is None:
        return np.isin(keys_of(fc), listed_for(_padded(values, f.length, f.type == "N"), fc))
    out = np.zeros(len(fc), bool)
    for row in codes[0] if fc.dtype == np.uint8 else codes[1]:
        out |= (fc == row).all(axis=1)
    return out


def condition(view: View, c: Condition) -> np.ndarray:
    """Per row: condition *c* holds. One on the records under the row (``under``) is
    decided by the engine once they have all been read (:mod:`eicodec.subtree`): here
    it holds, and the engine keeps a failing row only where it really does."""
    if c.under is not None:
        return np.ones(view.n, bool)
    return field_test(view, c)


def field_test(view: View, c: Condition) -> np.ndarray:
    """Per row: the test of *c* on its rubric (``filled``, ``equals``, ``not_equals``)
    passes; a condition without a rubric passes on every row."""
    ok = np.ones(view.n, bool)
    if c.rubric is None:
        return ok
    f, fc = view.field(c.rubric, c.record)
    if c.filled is not None:
        ok &= view.filled(c.rubric, c.record) == c.filled
    if c.equals is not None:
        ok &= value_in(f, fc, c.equals)
    if c.not_equals is not None:
        ok &= ~value_in(f, fc, c.not_equals)
    return ok


def when(rule: Rule, view: View) -> np.ndarray:
    """Per row: every condition of the rule holds (each condition worked out once for
    the rows of the view; callers do not change the array)."""
    key = ("when", rule.when)
    found = view.memo.get(key)
    if found is None:
        ok = np.ones(view.n, bool)
        for c in rule.when:
            ok &= condition(view, c)
        found = view.memo[key] = ok
    return found  # type: ignore[return-value]


def typed(f: FieldSpec, fc: np.ndarray, signed: bool = False, view: View | None = None,
          record: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(int64 value comparable as the field's kind, has a value) per row: dates as
    CCYYMMDD numbers, numbers and amounts as numbers (signed by their D/C if asked)."""
    if f.kind == "date":
        value, ok = date_ordinal(fc)
        return value, ok & ~all_of(fc, _ZERO)
    if f.type != "N":
        raise SpecError(f"rubric {f.rubric} cannot be compared as a number or date", spec=f.record_type)
    ok = all_digits(fc) & ~all_of(fc, _ZERO)
    value = digits_value(fc)
    if signed and f.sign and view is not None:
        _, dc = view.field(f.sign, record)
        value = np.where(dc[:, 0] == ord("C"), -value, value)
    return value, ok


_COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater, "==": np.equal, "!=": np.not_equal}


# ------------------------------------------------------------------ the kinds

def k_required(rule: Rule, view: View) -> np.ndarray:
    return np.asarray(when(rule, view) & ~view.filled(rule.rubrics[0]))


def k_filled_together(rule: Rule, view: View) -> np.ndarray:
    marks = np.stack([view.filled(r) for r in rule.rubrics], axis=1)
    return when(rule, view) & marks.any(axis=1) & ~marks.all(axis=1)


def k_value_in(rule: Rule, view: View) -> np.ndarray:
    f, fc = view.field(rule.rubrics[0])
    return np.asarray(when(rule, view) & ~value_in(f, fc, rule.params.get("values", ())))


def _differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape[1] == b.shape[1]:
        return np.asarray((a != b).any(axis=1))
    return np.asarray(np.strings.rstrip(text_of(a), " ") != np.strings.rstrip(text_of(b), " "))


def k_equal_to_ancestor(rule: Rule, view: View) -> np.ndarray:
    _, mine = view.field(rule.rubrics[0])
    _, theirs = view.field(rule.params["ancestor_rubric"], rule.params["ancestor"])
    return np.asarray(when(rule, view) & _differ(mine, theirs))


def _first_against_others(rule: Rule, view: View, *, equal: bool) -> np.ndarray:
    """Rows where every field of ``rubrics`` is filled and ``rubrics[0]`` differs from one of
    the others (``equal=False``) or equals one of them (``equal=True``)."""
    parts = [view.field(r) for r in rule.rubrics]
    all_filled = np.ones(view.n, bool)
    for r in rule.rubrics:
        all_filled &= view.filled(r)
    hit = np.zeros(view.n, bool)
    for _, fc in parts[1:]:
        differ = _differ(parts[0][1], fc)
        hit |= ~differ if equal else differ
    return when(rule, view) & all_filled & hit


def k_equal_fields(rule: Rule, view: View) -> np.ndarray:
    """All of ``rubrics`` filled and ``rubrics[0]`` different from one of the others."""
    return _first_against_others(rule, view, equal=False)


def k_fields_differ(rule: Rule, view: View) -> np.ndarray:
    """All of ``rubrics`` filled and ``rubrics[0]`` equal to one of the others (AN: without
    trailing spaces): "a value other than ..." (the mirror of ``equal_fields``)."""
    return _first_against_others(rule, view, equal=True)


def k_compare(rule: Rule, view: View) -> np.ndarray:
    signed = bool(rule.params.get("signed", False))
    left, has_left = view.typed(rule.rubrics[0], None, signed)
    op = _COMPARE[rule.params["op"]]
    others = rule.params["other"]
    fails = np.zeros(view.n, bool)
    for other in others if isinstance(others, list) else [others]:
        right: Any
        has_right: Any
        if other == "today":
            right, has_right = np.int64(view.today), np.True_
        else:
            right, has_right = view.typed(other["rubric"], other.get("record"), signed)
        fails |= has_left & has_right & ~op(left, right)
    return when(rule, view) & fails


def k_elfproef(rule: Rule, view: View) -> np.ndarray:
    f, fc = view.field(rule.rubrics[0])
    n = f.length
    total = weighted_sum(fc, [*range(n, 1, -1), -1])
    exempt = rule.params.get("exempt", ())
    bad = all_digits(fc) & (total % 11 != 0)
    if exempt:
        bad &= ~value_in(f, fc, exempt)
    return np.asarray(when(rule, view) & bad)


@functools.lru_cache(maxsize=4096)
def iban_ok(text: str) -> bool:
    try:
        IBAN(text)
    except (SchwiftyException, ValueError):
        return False
    return True


def k_iban(rule: Rule, view: View) -> np.ndarray:
    _, fc = view.field(rule.rubrics[0])
    texts = np.strings.strip(text_of(fc), " ")
    bad = np.zeros(view.n, bool)
    for i in np.flatnonzero(texts != ""):
        bad[i] = not iban_ok(str(texts[i]))
    return when(rule, view) & bad


def k_record_absent(rule: Rule, view: View) -> np.ndarray:
    return when(rule, view).copy()


def k_empty(rule: Rule, view: View) -> np.ndarray:
    return np.asarray(when(rule, view) & view.filled(rule.rubrics[0]))


def k_any_filled(rule: Rule, view: View) -> np.ndarray:
    some = np.zeros(view.n, bool)
    for r in rule.rubrics:
        some |= view.filled(r)
    return when(rule, view) & ~some


def k_pattern(rule: Rule, view: View) -> np.ndarray:
    f, fc = view.field(rule.rubrics[0])
    texts = text_of(fc)
    if f.type == "AN":
        texts = np.strings.rstrip(texts, " ")
    check = compile_pattern(str(rule.params["pattern"])).fullmatch
    values, where = np.unique(texts, return_inverse=True)
    bad = np.array([check(str(v)) is None for v in values.tolist()], bool)
    return np.asarray(when(rule, view) & filled(f, fc) & bad[where.reshape(-1)])


_WEIGHTS = np.array([pow(1_000_003, k, 1 << 64) for k in range(512)], np.uint64)


def row_hash(fc: np.ndarray) -> np.ndarray:
    """A 64-bit hash (as int64) of each row's characters."""
    n, w = fc.shape
    weights = (_WEIGHTS[:w] if w <= len(_WEIGHTS) else np.resize(_WEIGHTS, w)).tolist()
    if not w:
        return np.zeros(n, np.int64)
    # the sum of products, wrapping as uint64, a column at a time (each column contiguous
    # when *fc* is column-major, as the engine's field views are; numpy's integer matmul
    # has no fast loop)
    cols = fc.T
    v = cols[0] * np.uint64(weights[0])
    for k in range(1, w):
        v += cols[k] * np.uint64(weights[k])
    return np.asarray(v.view(np.int64) ^ np.int64(w))


def _words_hash(a: np.ndarray) -> np.ndarray:
    """64-bit hash of each row of *a* (uint8 or uint32), read as 64-bit words."""
    per_word = 8 // a.itemsize
    pad = -a.shape[1] % per_word
    if pad:
        a = np.concatenate([a, np.zeros((len(a), pad), a.dtype)], axis=1)
    words = np.ascontiguousarray(a).view(np.uint64)
    k = words.shape[1]
    weights = _WEIGHTS[:k] if k <= len(_WEIGHTS) else np.resize(_WEIGHTS, k)
    return (words @ weights).view(np.int64)  # (the sum of products, wrapping as uint64)


def whole_hash(chars: np.ndarray, rows: np.ndarray, sub: np.ndarray | None = None) -> np.ndarray:
    """A 64-bit hash (as int64) of each of *rows* of *chars*, the whole record; the same
    text hashes the same in a batch of bytes and in one of wider characters. (*sub*:
    ``chars[rows]`` when the caller has it.)"""
    if sub is None:
        sub = chars[rows]
    if sub.dtype == np.uint8:
        return _words_hash(sub)
    narrow = (sub < 256).all(axis=1)
    out = np.empty(len(sub), np.int64)
    out[narrow] = _words_hash(sub[narrow].astype(np.uint8))
    out[~narrow] = _words_hash(sub[~narrow].astype(np.uint32)) ^ np.int64(1)
    return out


def unique_keys(rule: Rule, view: View) -> tuple[np.ndarray, np.ndarray]:
    """(hash of the joined rubrics, has a value) per row, for the kind ``unique``;
    with ``whole = true``, of the whole record (identical records, every row counts)."""
    if rule.params.get("whole"):
        return whole_hash(view.all_chars, view.rows, view.sub), np.ones(view.n, bool)
    parts = [view.field(r) for r in rule.rubrics]
    chars = np.concatenate([fc for _, fc in parts], axis=1) if len(parts) > 1 else parts[0][1]
    some = np.zeros(view.n, bool)
    for f, fc in parts:
        some |= filled(f, fc) if f.type == "AN" else ~all_of(fc, _SPACE)
    if rule.when:  # (only the rows where the rule's conditions hold take part)
        some &= when(rule, view)
    return row_hash(chars), some


def pairing_keys(rule: Rule, view: View) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For ``credit_pairing``: (ref hash, is a debit line with a ref, prev hash, is a credit
    line with a prev) per row."""
    f_ref, ref = view.field(rule.params["ref"])
    f_prev, prev = view.field(rule.params["prev"])
    _, dc = view.field(rule.params["dc"])
    has_ref, has_prev = filled(f_ref, ref), filled(f_prev, prev)
    debit, credit = dc[:, 0] == ord("D"), dc[:, 0] == ord("C")
    return row_hash(ref), has_ref & debit, row_hash(prev), has_prev & credit


# ------------------------------------------------------------------ issue #20: register lookups
# (kept apart from the other kinds: see eicodec.registers)

def k_register(rule: Rule, view: View) -> np.ndarray:
    """A filled field whose code the rule's register (``register``) does not hold; runs
    only when the validation was given that register (the engine leaves it out else)."""
    f, fc = view.field(rule.rubrics[0])
    regs = getattr(view, "registers", None)
    register = regs.get(str(rule.params["register"])) if regs is not None else None
    if register is None:
        return np.zeros(view.n, bool)
    has = when(rule, view) & filled(f, fc)
    texts = np.strings.strip(text_of(fc[has]), " ")
    values, where = np.unique(texts, return_inverse=True)
    names = [str(v) for v in values.tolist()]
    known = register.known(names)
    out = np.zeros(view.n, bool)
    out[has] = np.array([v not in known for v in names], bool)[where.reshape(-1)]
    return out


#: kind -> its check (``unique`` and ``credit_pairing`` look across the file: the engine
#: keeps their keys, see :func:`unique_keys` and :func:`pairing_keys`).
CHECKS: dict[str, Callable[[Rule, View], np.ndarray]] = {
    "required": k_required, "filled_together": k_filled_together, "value_in": k_value_in,
    "equal_to_ancestor": k_equal_to_ancestor, "equal_fields": k_equal_fields, "compare": k_compare,
    "fields_differ": k_fields_differ,
    "elfproef": k_elfproef, "iban": k_iban, "record_absent": k_record_absent, "empty": k_empty,
    "any_filled": k_any_filled, "pattern": k_pattern,
    "register": k_register,
}


# ------------------------------------------------------------------ arithmetic within a record
# (branch anystd: kept apart from the other kinds to ease merging)

def _rounded(num: np.ndarray, divisor: int, rounding: str) -> np.ndarray:
    """``num / divisor`` as integers, rounded as stated (*num* >= 0)."""
    if divisor == 1:
        return num
    q, r = np.divmod(num, divisor)
    if rounding == "down":
        return np.asarray(q)
    twice = 2 * r
    if rounding == "half_up":
        return np.asarray(q + (twice >= divisor))
    return np.asarray(q + ((twice > divisor) | ((twice == divisor) & (q % 2 == 1))))  # half_even


def k_product(rule: Rule, view: View) -> np.ndarray:
    """``rubrics[0] = rubrics[1] x rubrics[2] x ... / divisor``, rounded as ``rounding``
    says; unsigned (the D/C fields are checked apart); skipped where a field is not all
    digits. Zero is a value (an amount of 0 for a quantity of 0 is right)."""
    divisor = int(rule.params.get("divisor", 1))
    rounding = str(rule.params.get("rounding", "down"))
    _, fc = view.field(rule.rubrics[0])
    ok = all_digits(fc)
    result = digits_value(fc).astype(np.int64)
    prod = np.ones(view.n, np.int64)
    for rub in rule.rubrics[1:]:
        _, gc = view.field(rub)
        ok &= all_digits(gc)
        prod = prod * digits_value(gc).astype(np.int64)
    fails: np.ndarray = when(rule, view) & ok & (result != _rounded(prod, divisor, rounding))
    return fails


CHECKS["product"] = k_product


# ------------------------------------------------------------------ siblings and child sums
# (branch siblings: kept apart from the other kinds to ease merging)

class Previous:
    """The previous sibling of every row of a :class:`View` (the record of the same
    level under the same parent directly before it, comments not counted), as the
    engine found it across batches: ``view`` holds one row per checked row (a blank
    row where there is none), ``types`` its record type (-1: none), ``known`` False
    where it exists but cannot be read (wrong length: the rule is not judged there)."""

    def __init__(self, view: View, types: np.ndarray, known: np.ndarray) -> None:
        self.view = view
        self.types = types
        self.known = known


def previous_of(view: View) -> Previous:
    """The :class:`Previous` the engine put on *view* (kinds ``previous_sibling`` and
    ``equal_to_previous``)."""
    return cast("Previous", getattr(view, "previous"))  # noqa: B009  (set by the engine)


def _previous_passes(rule: Rule, prev: Previous) -> np.ndarray:
    """Per row: the previous sibling is of the type ``previous.record`` and passes the
    test of ``previous`` (its rubric's filled/equals/not_equals)."""
    c: Condition = rule.params["previous"]
    ok: np.ndarray = np.asarray(prev.types == int(c.record or rule.record or "-1"))
    if c.rubric is not None and ok.any():
        ok &= field_test(prev.view, Condition(c.rubric, c.record, c.filled, c.equals, c.not_equals))
    return ok


def k_previous_sibling(rule: Rule, view: View) -> np.ndarray:
    """Where ``when`` holds, the previous sibling must exist and be ``previous`` (a
    record type, and a test on one of its fields): order among siblings."""
    prev = previous_of(view)
    return np.asarray(when(rule, view) & prev.known & ~_previous_passes(rule, prev))


def k_equal_to_previous(rule: Rule, view: View) -> np.ndarray:
    """Where ``when`` holds and the previous sibling is ``previous``, field ``rubrics[0]``
    equals its ``previous_rubric`` (AN: without trailing spaces). Without such a
    previous sibling the rule says nothing (order is ``previous_sibling``'s business)."""
    prev = previous_of(view)
    c: Condition = rule.params["previous"]
    _, mine = view.field(rule.rubrics[0])
    _, theirs = prev.view.field(str(rule.params["previous_rubric"]), c.record or rule.record)
    return np.asarray(when(rule, view) & prev.known & _previous_passes(rule, prev) & _differ(mine, theirs))


def child_sum_stated(rule: Rule, view: View) -> tuple[np.ndarray, np.ndarray]:
    """For ``child_sum``: (the value of ``rubrics[0]`` per row, the rows judged: ``when``
    holds and the field is all digits). The engine adds up the records under each row
    (:class:`eicodec.subtree.ChildSums`) and compares once the row's record is closed."""
    _, fc = view.field(rule.rubrics[0])
    ok = all_digits(fc)
    return digits_value(fc).astype(np.int64), np.asarray(when(rule, view) & ok)


def child_values(rule: Rule, view: View) -> tuple[np.ndarray, np.ndarray]:
    """For ``child_sum``, on the child records: (what each adds: the sum of its ``sum``
    fields, or 1 with ``count``; it can be read: those fields are all digits)."""
    if rule.params.get("count"):
        return np.ones(view.n, np.int64), np.ones(view.n, bool)
    total = np.zeros(view.n, np.int64)
    ok = np.ones(view.n, bool)
    for rub in rule.params["sum"]:
        _, fc = view.field(rub, rule.params["child"])
        ok &= all_digits(fc)
        total += digits_value(fc).astype(np.int64)
    return total, ok


#: the kinds that read the previous sibling (the engine finds it, see :class:`Previous`)
SIBLING_KINDS = frozenset({"previous_sibling", "equal_to_previous"})
CHECKS["previous_sibling"] = k_previous_sibling
CHECKS["equal_to_previous"] = k_equal_to_previous


def make_previous(rule: Rule, spec: MessageSpec, chars: np.ndarray, types: np.ndarray, known: np.ndarray,
                  today: int) -> Previous:
    """The :class:`Previous` of a sibling rule's rows: *chars* one row per checked row
    (the previous sibling's record), read as records of the type ``previous`` names."""
    c: Condition = rule.params["previous"]
    t = c.record or rule.record or ""
    return Previous(View(spec, t, chars, np.arange(len(chars)), {}, today), types, known)


# ------------------------------------------------------------------ rules of one kind at once
# (issue #26, stop 32: kept apart to ease merging)
#
# A record type with many rules of one kind costs a kernel call per rule and batch, each
# with its own numpy calls on a few thousand rows (GZ321's 06, 16 and 17 have seven to
# nine equal_to_ancestor rules each). The engine checks the rules of a family of kinds
# that it reads through one view at once (:class:`Fused`): equal_to_ancestor rules
# compare all their fields with their ancestors' in one comparison (a rule's conditions
# only where it finds a difference); compare rules parse the dates they read at once.
# (required/empty rules fused the same way measured no cheaper: their fields' "filled"
# is kept per view instead, :meth:`View.filled`.) The failing rows are those of the
# kinds one by one (tests/test_fused.py compares them).

#: kind -> the family of kinds checked at once
FUSED_FAMILIES = {"equal_to_ancestor": "ancestor", "compare": "compare"}


def own_chars(view: View, positions: np.ndarray) -> np.ndarray:
    """``(len(positions), n)``: the characters at *positions* (0-based) of the view's own
    rows, column-major."""
    if view.cols is not None and int(positions.max()) < len(view.cols):
        return np.asarray(view.cols[positions])
    lo, hi = int(positions.min()), int(positions.max()) + 1
    return np.asarray(view.all_chars[view.rows, lo:hi].T[positions - lo])


def _runs(positions: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, offset) of each run of consecutive *positions*: characters
    start..end of a record, at offset.. of an array of the positions side by side."""
    cut = np.flatnonzero(np.diff(positions) != 1) + 1
    bounds = [0, *cut.tolist(), len(positions)]
    return [(int(positions[a]), int(positions[b - 1]) + 1, a) for a, b in itertools.pairwise(bounds)]


def ancestor_chars(view: View, record: str, fields: list[FieldSpec]) -> tuple[np.ndarray, list[int]]:
    """(the characters of *fields* of the ancestor of type *record* of every row,
    column-major and side by side; where each field starts in them). Each field is kept
    in the view's memo as :meth:`View.field` would read it (the other rules share it)."""
    positions = np.array([p for f in fields for p in range(f.start - 1, f.end)], np.intp)
    starts = np.cumsum([0] + [f.length for f in fields]).tolist()
    idx = view.anc[record]
    block = view.blocks.get(record)
    lo, hi = int(positions.min()), int(positions.max()) + 1
    if view.n > 1 and idx[0] == idx[-1] and bool((idx == idx[0]).all()):  # (the header: broadcast)
        chars = np.broadcast_to(view.all_chars[idx[0], positions][:, None], (len(positions), view.n))
    elif block is not None and hi <= len(block[1]):  # (from the ancestors' own block, as View.field)
        pos, outside = view.at(record)
        chars = np.empty((len(positions), view.n), block[1].dtype)
        for s, e, b in _runs(positions):  # (a run of whole rows at a time: no copy of them first)
            np.take(block[1][s:e], pos, axis=1, out=chars[b:b + e - s], mode="clip")
        if len(outside):  # (ancestors read in an earlier batch: a few rows)
            chars[:, outside] = view.all_chars[idx[outside], lo:hi].T[positions - lo]
    else:  # (the span of the rows that holds them at once, then the columns)
        chars = view.all_chars[idx, lo:hi].T[positions - lo]
    for f, b, e in zip(fields, starts, starts[1:]):
        view.memo.setdefault(("field", record, f.rubric), chars[b:e].T)
    return chars, starts


class _Ancestors:
    """``equal_to_ancestor`` rules: their fields and their ancestors' side by side,
    compared at once; a rule's conditions only where it finds a difference."""

    def __init__(self, spec: MessageSpec, record: str, rules: list[Rule], extra: Iterable[tuple[str, str]] = ()
                 ) -> None:
        self.rules = rules
        self.alone: list[int] = []  # (one by one: fields of other widths, or not of these records)
        lay = spec.records[record]
        groups: dict[str, tuple[list[int], list[FieldSpec], list[FieldSpec]]] = {}
        for j, r in enumerate(rules):
            a = str(r.params["ancestor"])
            mine = lay.by_rubric.get(r.rubrics[0]) if owner(spec, r.rubrics[0]) == record else None
            theirs = spec.records[a].by_rubric.get(str(r.params["ancestor_rubric"])) if a != record else None
            if mine is None or theirs is None or mine.length != theirs.length:
                self.alone.append(j)
                continue
            js, own, anc = groups.setdefault(a, ([], [], []))
            js.append(j)
            own.append(mine)
            anc.append(theirs)
        self.groups = []
        for a, (js, own, anc) in groups.items():
            # other fields of the same ancestor that rules on these rows read: gathered with them
            more = [spec.records[a].by_rubric[rub] for t, rub in dict.fromkeys(extra)
                    if t == a and rub in spec.records[a].by_rubric and all(f.rubric != rub for f in anc)]
            positions = np.array([p for f in own for p in range(f.start - 1, f.end)], np.intp)
            self.groups.append((a, js, positions, _runs(positions), anc + more))

    def __call__(self, view: View) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = [None] * len(self.rules)
        for j in self.alone:
            out[j] = k_equal_to_ancestor(self.rules[j], view)
        for a, js, positions, runs, fields in self.groups:
            theirs, starts = ancestor_chars(view, a, fields)
            width = len(positions)
            if view.cols is not None and max(e for _, e, _ in runs) <= len(view.cols):
                differ = np.empty((width, view.n), bool)
                for s, e, b in runs:  # (the view's own characters as they are: no copy)
                    np.not_equal(view.cols[s:e], theirs[b:b + e - s], out=differ[b:b + e - s])
            else:
                differ = own_chars(view, positions) != theirs[:width]
            where = cast("list[bool]", differ.any(axis=1).tolist())
            for j, b, e in zip(js, starts, starts[1:]):
                if any(where[b:e]):
                    out[j] = np.asarray(when(self.rules[j], view) & np.logical_or.reduce(differ[b:e], axis=0))
        return out


def dates_at_once(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`typed` of ``m`` date fields at once: *chars* ``(m, 8, n)`` ASCII, each field's
    eight characters column-major; (CCYYMMDD values, has a date) ``(m, n)``, as
    :func:`eicodec.batches.date_ordinal` and :func:`typed` give them field by field."""
    v, ok, top = date_digits(chars)
    return v, ok & (top != 0)


class _Compare:
    """``compare`` rules: the dates of these rows that they read parsed at once (kept as
    :meth:`View.typed` keeps them), then the kind rule by rule (stacking the values of one
    operator cost more copies than it saved calls)."""

    def __init__(self, spec: MessageSpec, record: str, rules: list[Rule]) -> None:
        self.rules = rules
        self.record = record
        dates: dict[str, FieldSpec] = {}
        for r in rules:
            others = r.params["other"]
            for o in [{"rubric": r.rubrics[0]}, *(others if isinstance(others, list) else [others])]:
                if not isinstance(o, Mapping) or (o.get("record") or owner(spec, o["rubric"])) != record:
                    continue
                f = spec.records[record].by_rubric[o["rubric"]]
                if f.kind == "date" and f.length == 8:
                    dates[f.rubric] = f
        self.own_dates = list(dates.values())
        self.own_positions = np.array([p for f in self.own_dates for p in range(f.start - 1, f.end)], np.intp)

    def _dates(self, view: View) -> None:
        """The view's own date fields that the rules read, parsed at once."""
        if len(self.own_dates) < 2 or ("typed", self.own_dates[-1].rubric, self.record, False) in view.memo:
            return
        chars = own_chars(view, self.own_positions)
        if chars.dtype != np.uint8:
            return  # (wider characters: field by field)
        values, has = dates_at_once(chars.reshape(len(self.own_dates), 8, view.n))
        for k, f in enumerate(self.own_dates):
            for signed in (False, True):  # (a date has no sign)
                view.memo.setdefault(("typed", f.rubric, self.record, signed), (values[k], has[k]))

    def __call__(self, view: View) -> list[np.ndarray | None]:
        self._dates(view)
        return [k_compare(r, view) for r in self.rules]


class Fused:
    """Rules (engine index, rule) of one family of kinds (:data:`FUSED_FAMILIES`) on one
    record type that the engine reads through the same view: :meth:`fails` gives a
    rule's failing rows as its kind would, worked out for all of them at the first
    asked (once per view)."""

    def __init__(self, spec: MessageSpec, family: str, members: list[tuple[int, Rule]],
                 extra: Iterable[tuple[str, str]] = ()) -> None:
        self.at = {i: k for k, (i, _) in enumerate(members)}
        self._key = ("fused", family, tuple(self.at))
        record = str(members[0][1].record)
        rules = [r for _, r in members]
        self._check: Callable[[View], list[np.ndarray | None]] = (
            _Compare(spec, record, rules) if family == "compare" else _Ancestors(spec, record, rules, extra))

    def fails(self, i: int, view: View) -> np.ndarray | None:
        """Rule *i*'s failing rows of *view* (None: none fails)."""
        got = view.memo.get(self._key)
        if got is None:
            got = view.memo[self._key] = self._check(view)
        return cast("list[np.ndarray | None]", got)[self.at[i]]


def reads_of(spec: MessageSpec, rule: Rule) -> set[tuple[str, str]]:
    """(record type, rubric) of the fields of other record types than its own that *rule*
    reads (its ancestor's, conditions', compared fields)."""
    out: set[tuple[str, str]] = set()
    if "ancestor" in rule.params:
        out.add((str(rule.params["ancestor"]), str(rule.params["ancestor_rubric"])))
    for c in rule.when:
        if c.rubric is not None and c.under is None:
            out.add((c.record or owner(spec, c.rubric) or "", c.rubric))
    other = rule.params.get("other")
    for o in other if isinstance(other, list) else [other]:
        if isinstance(o, Mapping):
            out.add((str(o.get("record") or owner(spec, o["rubric"]) or ""), str(o["rubric"])))
    return {(t, rub) for t, rub in out if t != rule.record and t != spec.header}


def fuse(spec: MessageSpec, checks: Iterable[tuple[int, Rule, object]]) -> dict[int, Fused]:
    """The rules of *checks* (engine index, rule, the key of the view the engine reads
    it through) that are checked together: rule index -> its :class:`Fused` (families
    of one rule are left to their kind)."""
    checks = list(checks)
    groups: dict[tuple[str, object], list[tuple[int, Rule]]] = {}
    reads: dict[object, set[tuple[str, str]]] = {}
    for i, r, key in checks:
        reads.setdefault(key, set()).update(reads_of(spec, r))
        family = FUSED_FAMILIES.get(r.kind)
        if family is not None and r.record in spec.records:
            groups.setdefault((family, key), []).append((i, r))
    out: dict[int, Fused] = {}
    for (family, key), members in groups.items():
        if len(members) > 1:
            fused = Fused(spec, family, members, sorted(reads[key]))
            out.update((i, fused) for i, _ in members)
    return out
