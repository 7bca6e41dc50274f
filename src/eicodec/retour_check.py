"""Verifying a return file before any outcome read from it is believed.

:class:`ReturnCheck` is fed the records of a return file (AP305, or any return message:
a spec of kind ``return`` with ``return_of``) in file order and raises
:class:`~eicodec.errors.ReturnFileError` at the first thing that shows the file is not
whole: a record whose length is not its layout's or that is not followed by CR/LF, an
empty line, a record type the return message does not have, no voorlooprecord first, a
second voorlooprecord, anything after the sluitrecord, no sluitrecord at all, a trailer
count or total that differs from what the file holds, a return field that does not
decode or a mandatory one left empty, a return code not in the code list in use, a
returned claim line without a return code, a price correction without an awarded amount.

Everything it knows comes from the specs and the rules data: the record types, lengths,
header, trailer, the trailer's ``[trailer]`` counts and totals and each field's
``mandatory`` flag from the return spec; which record is a claim line (``[answer]``) and
which code corrects a price (``[roles]``) from the declaration's rules; the return fields
are the ones after the copied declaration text (the declaration's record length). No
rubric or record type of a particular standard is named here. The comparison with the
declaration itself (every returned record copies a declared line, the header the
declaration's) is :mod:`eicodec.readback`'s.

Memory: a count per record type and a running total per trailer total, whatever the
size of the file.
"""

from __future__ import annotations

from typing import Any

from .codes import return_codes
from .errors import EicodecError, ReturnFileError
from .layouts import FieldSpec, MessageSpec
from .model import Declaration, Record
from .retour import codes_of
from .rules import answer_for, rules_for

_PASSED_MAX = 4096  # return-field texts remembered as checked


def _where(rec: Record, line: int) -> dict[str, Any]:
    """``line`` and ``record_type`` of an error about *rec* (the kenmerk only when it is
    one of the message's: a damaged line's first characters are not repeated)."""
    return {"line": line, "record_type": rec.record_type if rec.layout is not None else None}


class ReturnCheck:
    """The checks of one return file *spec305* answering a declaration of *spec304*.

    Call :meth:`feed` with each record in file order (empty lines included), then
    :meth:`finish`. Both raise :class:`~eicodec.errors.ReturnFileError`.
    """

    def __init__(self, spec304: MessageSpec, spec305: MessageSpec) -> None:
        self.spec = spec305
        self.copied = copied = spec304.record_length  # the return's records copy this much of the declaration's
        answer = answer_for(spec304)
        self.claim_t = answer.claim_type(spec304)
        self.price = rules_for(spec304).roles.get("price_correction")
        self.codes = return_codes()
        #: per record type: the fields the return adds to the copied text (all fields of
        #: a record type the declaration does not have, such as the sluitrecord's)
        self.added: dict[str, tuple[FieldSpec, ...]] = {
            t: tuple(f for f in lay.fields
                     if (f.start > copied or t not in spec304.records or t == spec305.trailer)
                     and f.kind != "reserve")
            for t, lay in spec305.records.items()}
        claim_lay = spec305.records.get(self.claim_t)
        returns = spec305.returns
        if returns is None:
            raise EicodecError(f"{spec305.name} has no [return] table: it is not a return message")
        self.code_names = returns.codes
        awarded = claim_lay.signed.get(f"{returns.awarded}_signed") if claim_lay is not None else None
        self.awarded_field = awarded[0] if awarded is not None else None
        #: per total rule: (record type, signed attribute) it sums
        self.sums: dict[str, tuple[str, str]] = {}
        for rule in spec305.totals:
            for t, lay in spec305.records.items():
                for attr, (amount, _) in lay.signed.items():
                    if amount.rubric == rule.sum:
                        self.sums[rule.rubric] = (t, attr)
        self.totals = dict.fromkeys(self.sums, 0)
        #: record types whose return fields all lie after the copied text (their checks
        #: depend on that tail alone), and the tails that passed, per type (bounded)
        self.tail_types = frozenset(t for t in spec305.records
                                    if t in spec304.records and t not in (spec305.header, spec305.trailer))
        self.passed: set[tuple[str, str]] = set()
        self.counts: dict[str, int] = {}
        self.records = 0
        self.lines = 0
        self.trailer_line: int | None = None

    def feed(self, rec: Record, line: int | None = None) -> None:
        """Check one record (*line*: its line number, default its own or the next)."""
        self.lines += 1
        at = line if line is not None else rec.line or self.lines
        spec, raw = self.spec, rec.raw
        if self.trailer_line is not None:
            raise ReturnFileError(f"a record after the sluitrecord (line {self.trailer_line})", **_where(rec, at))
        if raw == "":
            raise ReturnFileError("an empty line", line=at)
        t = rec.record_type
        lay = spec.records.get(t)
        if lay is None or rec.layout is None:
            raise ReturnFileError(f"a kenmerk record that is not a record type of {spec.name}", line=at)
        if self.records == 0 and t != spec.header:
            raise ReturnFileError("the first record is not the voorlooprecord", **_where(rec, at))
        if self.records and t == spec.header:
            raise ReturnFileError("a second voorlooprecord", **_where(rec, at))
        if len(raw) != lay.length:
            raise ReturnFileError(f"the record is {len(raw)} characters long, its layout {lay.length}",
                                  **_where(rec, at))
        if rec.terminator != "\r\n":
            raise ReturnFileError("the record is not followed by CR/LF", **_where(rec, at))
        self.records += 1
        self.counts[t] = self.counts.get(t, 0) + 1
        seen = (t, raw[self.copied:]) if t in self.tail_types and not self.sums else None
        if seen is not None and seen in self.passed:
            return  # (the same return fields as a record that passed)
        values = self._values(rec, at)
        if t == spec.trailer:
            self._check_trailer(rec, at, values)
            self.trailer_line = at
            return
        for rubric, (st, attr) in self.sums.items():
            if st == t:
                self.totals[rubric] += self._get(rec, at, attr) or 0
        codes = codes_of(rec, self.code_names)
        for code in codes:
            if code not in self.codes:
                raise ReturnFileError("a return code that is not in the COD954 list in use", **_where(rec, at))
        if t == spec.header and not codes:
            raise ReturnFileError("the voorlooprecord carries no return code", **_where(rec, at))
        if t == self.claim_t:
            if not codes:
                raise ReturnFileError("a returned claim line without a return code", **_where(rec, at))
            award = self.awarded_field
            if self.price in codes and award is not None and not raw[award.slice].strip():
                raise ReturnFileError("a price correction without an awarded amount", rubric=award.rubric,
                                      **_where(rec, at))
        if seen is not None and len(self.passed) < _PASSED_MAX:
            self.passed.add(seen)

    def _get(self, rec: Record, at: int, key: str) -> Any:
        try:
            return rec.get(key)
        except EicodecError:
            raise ReturnFileError("a field that does not decode", **_where(rec, at)) from None

    def _values(self, rec: Record, at: int) -> dict[str, Any]:
        """The return fields of *rec*, decoded; mandatory ones filled."""
        out: dict[str, Any] = {}
        for f in self.added.get(rec.record_type, ()):
            try:
                value = rec.get(f.attr)
            except EicodecError:
                raise ReturnFileError("a return field that does not decode", rubric=f.rubric,
                                      **_where(rec, at)) from None
            if f.mandatory == "Y" and (value is None or value == ""):
                raise ReturnFileError("a mandatory return field is empty", rubric=f.rubric, **_where(rec, at))
            out[f.attr] = value
        return out

    def _check_trailer(self, rec: Record, at: int, values: dict[str, Any]) -> None:
        """The trailer's counts and totals are what the file holds (``[trailer]`` of the spec)."""
        lay = rec.layout
        assert lay is not None
        for rubric, types in self.spec.counts.items():
            f = lay.by_rubric[rubric]
            held = sum(self.counts.get(t, 0) for t in types)
            if (values.get(f.attr) or 0) != held:
                raise ReturnFileError(f"the sluitrecord counts another number of records than the file holds "
                                      f"({held})", rubric=rubric, **_where(rec, at))
        for rule in self.spec.totals:
            f = lay.by_rubric[rule.rubric]
            attr = next((k for k, (a, _) in lay.signed.items() if a is f), f.attr)
            if (self._get(rec, at, attr) or 0) != self.totals.get(rule.rubric, 0):
                raise ReturnFileError("a sluitrecord total differs from the sum of the file's records",
                                      rubric=rule.rubric, **_where(rec, at))

    def finish(self) -> None:
        """After the last record: the file had a sluitrecord."""
        if self.records == 0:
            raise ReturnFileError("the return file holds no records")
        if self.trailer_line is None:
            raise ReturnFileError("the return file ends without its sluitrecord (cut off?)",
                                  line=self.lines + 1, record_type=self.spec.trailer)


def check_declaration(decl: Declaration) -> list[Record]:
    """The records of a return file given as a :class:`Declaration`, in file order, for
    :class:`ReturnCheck`; :class:`~eicodec.errors.ReturnFileError` when the reader found
    structure problems in it or left records outside its tree."""
    if decl.problems:
        p = decl.problems[0]
        raise ReturnFileError(f"the return file's structure is broken ({p.kind})", line=p.line,
                              record_type=p.record_type)
    if decl.unplaced:
        rec = decl.unplaced[0]
        raise ReturnFileError("a record of the return file is out of place", line=rec.line,
                              record_type=rec.record_type if rec.layout is not None else None)
    return list(decl.iter_records())
