"""Masking personal data by what a line really is, not by the kenmerk it claims.

A line's kenmerk record (its first two characters) may be wrong: an insured record (02)
whose kenmerk was changed to 99 still holds a BSN, a name and a postcode, now at the
positions of the sluitrecord's reserve. So :class:`Masker` trusts a line's layout only
when the line's text *fits* it (every field has the form of its kind: digits where
digits go, a calendar date where a date goes, D/C where a D/C goes; text is anything):

* a line of unknown type, of another length than its layout, or that does not fit its
  layout is masked whole;
* in a line that fits, personal fields (``personal = true`` in the spec) and every
  non-blank reserve field are masked;
* when the line fits another layout of the spec at least as tightly (as many or more
  positions constrained to digits, dates, D/C or fixed text: a genuine claim line also
  fits the loose comment layout, but an insured record relabelled 99 fits its own
  layout more tightly than the sluitrecord's), every field that overlaps a personal
  field of that other layout is masked as well.

The masked text is :data:`MASK`. Nothing here knows a particular standard: field kinds,
positions and the ``personal`` flag come from the spec.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Self

from .layouts import FieldSpec, MessageSpec, RecordLayout
from .model import Record

if TYPE_CHECKING:
    import numpy as np

# The forms a date or time field's text may take (what "fits the layout" means for them).
# CCYYMMDD, a real calendar date in years 0001-9999 (what datetime.date accepts)
_MONTH_DAY = ("(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
              "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
              "|02(?:0[1-9]|1[0-9]|2[0-8]))")
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
CALENDAR_DATE = f"(?!0000)(?:[0-9]{{4}}{_MONTH_DAY}|{_LEAP_YEAR}0229)"
#: the same, for a field where 00000000 is allowed as "empty"
DATE_OR_ZEROS = f"(?:0{{8}}|{CALENDAR_DATE})"

# HHMM, a time of day
TIME_OF_DAY = "(?:[01][0-9]|2[0-3])[0-5][0-9]"

MASK = "***"

#: How many fewer positions of the right form (:meth:`Masker.score`) than the best-fitting
#: type a type may have and still be one that a line fitting no layout could be (see
#: :meth:`Masker.could_be`; provisional: two short fields' worth).
SLACK = 16

#: The first characters that make a spreadsheet read a CSV cell as a formula (OWASP
#: "CSV injection": = + - @, tab and carriage return).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """*text* for a CSV text cell: a leading ``'`` when it begins with a formula
    character (OWASP), so that a spreadsheet shows it as text and never runs it."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _form(f: FieldSpec, first: bool) -> str:
    """The form field *f*'s text must have for a line to fit its layout: ``any``,
    ``fixed`` (its fixed text), ``digits``, ``date`` (:data:`DATE_OR_ZEROS`), ``time``
    (0000 or :data:`TIME_OF_DAY`) or ``dc`` (D, C or space). The one dispatch both the
    pattern of a line (:func:`_fit_part`) and the checks of a batch (:func:`forms_of`)
    are made from."""
    n = f.length
    if first:
        return "any"  # the kenmerk record: the very thing that may lie
    if f.fixed is not None:
        return "fixed"
    if f.kind in ("digits", "number", "amount"):
        return "digits"
    if f.kind == "date" and n == 8:
        return "date"
    if f.kind == "time" and n == 4:
        return "time"
    if f.kind == "dc":
        return "dc"
    return "any"  # text, reserve (and kinds whose form we do not know)


def _fit_part(f: FieldSpec, first: bool) -> str:
    """A pattern matching the text of field *f* when it has the form of its kind."""
    n = f.length
    form = _form(f, first)
    if form == "fixed":
        assert f.fixed is not None
        return re.escape(f.fixed)
    if form == "digits":
        return f"[0-9]{{{n}}}"
    if form == "date":
        return DATE_OR_ZEROS
    if form == "time":
        return f"(?:0000|{TIME_OF_DAY})"
    if form == "dc":
        return f"[DC ]{{{n}}}"
    return f".{{{n}}}"


def _form_width(f: FieldSpec, form: str) -> int:
    """How many characters the pattern of *f* (:func:`_fit_part`) matches: every form
    matches a fixed number of them."""
    if form == "fixed":
        assert f.fixed is not None
        return len(f.fixed)
    return {"date": 8, "time": 4}.get(form, f.length)


def forms_of(lay: RecordLayout) -> list[tuple[str, str | None, int]]:
    """Each field of *lay* as ``(form, fixed text, characters its pattern matches)``:
    the pattern of a line (:func:`_fit_part` of each field, joined) as data, for the
    checks of many lines at once (:mod:`eicodec.masking_rows`)."""
    out = []
    for i, f in enumerate(lay.fields):
        form = _form(f, i == 0)
        out.append((form, f.fixed if form == "fixed" else None, _form_width(f, form)))
    return out


def _overlaps(a: FieldSpec, b: FieldSpec) -> bool:
    return a.start <= b.end and b.start <= a.end


class Masker:
    """Decides, per record, which fields a masked view may show (see the module doc).

    A masker depends on nothing but its spec and never changes: ``Masker(spec)`` gives
    the one already made for that spec (its tables cost milliseconds per spec, more
    than masking a small file)."""

    def __new__(cls, spec: MessageSpec) -> Self:
        got = _MADE.get(spec)
        if type(got) is cls:
            return got
        made = super().__new__(cls)
        made._build(spec)
        _MADE[spec] = made
        return made

    def _build(self, spec: MessageSpec) -> None:
        self.spec = spec
        self._fit: dict[str, re.Pattern[str]] = {}
        for t, lay in spec.records.items():
            parts = [_fit_part(f, i == 0) for i, f in enumerate(lay.fields)]
            self._fit[t] = re.compile("".join(parts), re.DOTALL)
        self._personal: dict[str, frozenset[str]] = {
            t: frozenset(f.attr for f in lay.fields if f.personal) for t, lay in spec.records.items()}
        # fields of layout T that overlap a personal field of layout L
        self._overlap: dict[tuple[str, str], frozenset[str]] = {}
        for t, lay in spec.records.items():
            for u, other in spec.records.items():
                if u != t:
                    self._overlap[t, u] = frozenset(
                        f.attr for f in lay.fields
                        if any(p.personal and _overlaps(f, p) for p in other.fields))
        self._tight: dict[str, int] = {
            t: sum(f.length for f in lay.fields[1:] if _fit_part(f, False) != f".{{{f.length}}}")
            for t, lay in spec.records.items()}
        # per layout: the fields whose form is constrained, each with its own pattern
        self._forms: dict[str, list[tuple[FieldSpec, re.Pattern[str]]]] = {
            t: [(f, re.compile(_fit_part(f, False), re.DOTALL)) for f in lay.fields[1:]
                if _fit_part(f, False) != f".{{{f.length}}}"]
            for t, lay in spec.records.items()}
        self._reserves: dict[str, tuple[FieldSpec, ...]] = {
            t: tuple(f for f in lay.fields if f.kind == "reserve") for t, lay in spec.records.items()}
        # per layout: the other layouts a line of it is checked against (as tight or
        # tighter), leaving out those whose personal fields overlap only fields of its own
        # that are personal (hidden anyway: fitting them would add nothing)
        self._rivals: dict[str, tuple[str, ...]] = {
            t: tuple(u for u in spec.records if u != t and self._tight[u] >= self._tight[t]
                     and not self._overlap[t, u] <= self._personal[t]) for t in spec.records}
        self._rows: dict[str, Any] = {}  # per layout, its RowForm (eicodec.masking_rows), made when first asked

    def fits(self, layout: RecordLayout, raw: str) -> bool:
        """Whether *raw* has the length and the field forms of *layout*."""
        return len(raw) == layout.length and self._fit[layout.type].fullmatch(raw) is not None

    def hidden(self, rec: Record) -> frozenset[str] | None:
        """The attributes of *rec* a masked view must hide; None: hide the whole record."""
        return self.hidden_raw(rec.layout, rec.raw)

    def hidden_raw(self, lay: RecordLayout | None, raw: str) -> frozenset[str] | None:
        """The attributes of a line *raw* read with layout *lay* (None: of unknown type)
        that a masked view must hide; None: hide the whole line. Every masked view (show,
        JSON, both CSV layouts, Arrow, Parquet, HTML) asks this one method."""
        if lay is None or not self.fits(lay, raw):
            return None
        t = lay.type
        return self._hide(t, [bool(raw[f.slice].strip()) for f in self._reserves[t]],
                          [len(raw) == self.spec.records[u].length and self._fit[u].fullmatch(raw) is not None
                           for u in self._rivals[t]])

    def _hide(self, t: str, filled: list[bool], fitting: list[bool]) -> frozenset[str]:
        """What a line of layout *t* that fits it hides: the personal fields, the reserves
        of ``self._reserves[t]`` that are *filled*, and the fields overlapping a personal
        field of each layout of ``self._rivals[t]`` that the line is *fitting*."""
        hide = set(self._personal[t])
        hide.update(f.attr for f, yes in zip(self._reserves[t], filled, strict=True) if yes)
        for u, yes in zip(self._rivals[t], fitting, strict=True):
            if yes:
                hide |= self._overlap[t, u]
        return frozenset(hide)

    def _form(self, t: str) -> Any:
        """The :class:`eicodec.masking_rows.RowForm` of layout *t* (made when first asked)."""
        if t not in self._rows:
            from .masking_rows import RowForm

            self._rows[t] = RowForm(forms_of(self.spec.records[t]))
        return self._rows[t]

    def column_spans(self, lay: RecordLayout) -> list[tuple[int, int]]:
        """The 0-based character ranges of *lay* whose form is checked (digits, dates,
        times, D/C, fixed text): what :meth:`hidden_rows` reads of *cols*."""
        return list(self._form(lay.type).read)

    def hidden_rows(self, lay: RecordLayout, chars: np.ndarray, cols: np.ndarray | None = None,
                    ) -> tuple[list[frozenset[str] | None], np.ndarray]:
        """:meth:`hidden_raw` of many lines at once, by array operations: *chars* are the
        character codes (``(n, width)``, ``uint8`` or ``uint32`` code points) of *n* lines
        read with layout *lay*, each exactly *width* characters long. Returns the distinct
        answers and, per line, the index of its own (``hidden_raw`` of that line): the
        same three questions (does the line fit *lay*, which of its reserves hold text,
        which other layouts does it fit), asked of all lines with numpy
        (:mod:`eicodec.masking_rows`), and the same :meth:`_hide` of their answers.
        *cols*: the same characters column-major (``(width, n)``, ``uint8``), filled at
        least over :meth:`column_spans` of *lay*, when the caller has them (whether the
        lines fit *lay* is then read from them)."""
        from .masking_rows import distinct, fits_among, not_blank

        form = self._form
        t = lay.type
        width = chars.shape[1]
        reserves = self._reserves[t]
        rivals = [u for u in self._rivals[t] if self.spec.records[u].length == width]
        if width != lay.length:
            own = None
        elif cols is not None and cols.dtype.itemsize == 1:  # (bytes: an ASCII batch)
            own = form(t).fits_columns(cols)
        else:
            own = form(t).fits(chars)
        bits = []
        if own is not None and own.any():
            bits = [not_blank(chars[:, f.start - 1:f.end]) for f in reserves]
            bits += fits_among([form(u) for u in rivals], chars, own)
        combos, which = distinct(own, bits, len(chars))
        answers: list[frozenset[str] | None] = []
        for c in combos:
            if c is None:
                answers.append(None)
            else:
                fitting = dict(zip(rivals, c[len(reserves):], strict=True))
                answers.append(self._hide(t, c[:len(reserves)], [fitting.get(u, False) for u in self._rivals[t]]))
        return answers, which

    def misfits(self, lay: RecordLayout, raw: str) -> list[FieldSpec]:
        """The fields of *lay* whose text in *raw* does not have their kind's form: of a
        line longer than the layout its first ``lay.length`` characters are read; of a
        shorter one the fields it holds, a field it cuts short counting as broken."""
        n = len(raw)
        return [f for f, form in self._forms[lay.type] if f.start <= n and (
            f.end > n or form.fullmatch(raw, f.start - 1, f.end) is None)]

    def score(self, lay: RecordLayout, raw: str) -> int:
        """How many of *raw*'s positions have the form *lay* constrains them to (digits,
        a date, D/C, fixed text): how well the line fits the layout. A loose layout (a
        comment record: mostly text) scores low whatever the line."""
        bad = {f.attr for f in self.misfits(lay, raw)}
        n = len(raw)
        return sum(f.length for f, _ in self._forms[lay.type] if f.end <= n and f.attr not in bad)

    def nearly(self, lay: RecordLayout, raw: str, most: int) -> list[FieldSpec] | None:
        """The fields of *lay* that *raw* breaks (see :meth:`misfits`) when it breaks at
        most *most* of them and no other layout of the spec fits it as well on both
        counts (as few broken fields and as many constrained positions of the right form,
        see :meth:`score`: a claim line with a broken record id still fits the loose
        comment layout, yet it is placed as a claim line; a comment line with a broken
        line number is placed as a comment); None otherwise (it cannot be placed as *lay*)."""
        bad = self.misfits(lay, raw)
        if len(bad) > most:
            return None
        mine = self.score(lay, raw)
        if any(u != lay.type and self.score(other, raw) >= mine and len(self.misfits(other, raw)) <= len(bad)
               for u, other in self.spec.records.items()):
            return None
        return bad

    def rivals(self, lay: RecordLayout, raw: str) -> tuple[str, ...]:
        """The other record types that *raw* fits at least as well as its own layout *lay*
        (as many constrained positions of the right form, see :meth:`score`): what a line
        that is nearly placed as *lay* (see :meth:`nearly`) could be as well. An insured
        record relabelled 99 and shifted breaks only two of the sluitrecord's fields, yet
        it has more digits and dates where an insured record has them: it could be an 02."""
        mine = self.score(lay, raw)
        return tuple(u for u, other in self.spec.records.items()
                     if u != lay.type and self.score(other, raw) >= mine)

    def overlapping(self, t: str, types: tuple[str, ...]) -> frozenset[str]:
        """The attributes of layout *t*'s fields that overlap a personal field of one of
        the other layouts *types*."""
        out: frozenset[str] = frozenset()
        for u in types:
            if u != t:
                out |= self._overlap[t, u]
        return out

    def could_be(self, lay: RecordLayout | None, raw: str) -> tuple[str, ...]:
        """The record types line *raw* (read with layout *lay*) could be: its own when it
        fits it, with every other it fits at least as tightly. A line that does not fit its
        layout could be its own type and every type that fits it nearly as well as the
        best (:meth:`score` at most :data:`SLACK` positions below: an 02 relabelled 04 is
        an 02; a 04 with a shifted field is a 04, not a 98); a line of unknown type could
        be any type."""
        if lay is None:
            return tuple(self.spec.records)
        if not self.fits(lay, raw):
            scores = {u: self.score(other, raw) for u, other in self.spec.records.items()}
            best = max(scores.values())
            return (lay.type, *(u for u, n in scores.items() if u != lay.type and n >= best - SLACK))
        t = lay.type
        return (t, *(u for u, other in self.spec.records.items()
                     if u != t and self._tight[u] >= self._tight[t] and len(raw) == other.length
                     and self._fit[u].fullmatch(raw) is not None))

    def fields(self, rec: Record) -> Iterator[tuple[FieldSpec, bool]]:
        """Each field of *rec*'s layout with whether a masked view shows it (the record
        must have a layout and fit it: see :meth:`hidden`)."""
        hide = self.hidden(rec)
        assert rec.layout is not None and hide is not None
        for f in rec.layout.fields:
            yield f, f.attr not in hide


_MADE: weakref.WeakKeyDictionary[MessageSpec, Masker] = weakref.WeakKeyDictionary()
