"""Reading an AP305 back against its AP304: what became of each claim line.

:func:`outcome` (and :func:`iter_outcomes`, streamed) tells per claim line of a
declaration what its return file says: approved, rejected, not assessed, rejected with
the file, or not returned, with the codes and the awarded amount. The return file's
records are matched on kenmerk record + identificatie (+ regelnummer for a comment) and
must be copies of the declaration's (as :mod:`eicodec.retour` makes them). Which record
is a claim line, its reference and its amount come from the ``[answer]`` table of the
declaration's rules; the codes' roles from ``[roles]``.

Nothing is read from a return file that is not verified first (:mod:`eicodec.retour_check`
for the file on its own, :class:`OutcomeJoin` against the declaration): a damaged,
truncated or foreign return file raises :class:`~eicodec.errors.ReturnFileError` (or
:class:`~eicodec.errors.ReturnMismatchError`, also a ``MismatchError``, when it answers
another declaration), never a partial or optimistic outcome.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs

from .codes import return_codes
from .errors import DecodeError, MismatchError, ReturnFileError, ReturnMismatchError
from .findings import Status
from .layouts import FieldSpec, MessageSpec
from .model import Declaration, Record
from .reader import RecordStream, Source
from .retour import as_copied, codes_of, value_or_none
from .retour_check import ReturnCheck, check_declaration
from .rules import Answer, answer_for, rules_for


@attrs.frozen
class ClaimOutcome:
    """What an AP305 says of one claim line of the AP304.

    ``status``: ``approved``, ``rejected``, ``not_assessed`` (returned unassessed because
    its insured was rejected), ``rejected_with_file`` (assessed and fine, but returned
    with 8096 because VECOZO rejected the whole file, STB §6.4.3: nothing is awarded, the
    line may be sent again) or ``not_returned`` (insurer return without this line: it was
    approved as declared). Amounts are signed cents. ``return_reference`` is the return
    file's referentienummer zorgverzekeraar (0181): the insurer's reference, or VECOZO's
    (STB §6.5: VECOZO uses that field to show the return is its own); "" when empty.
    """

    line: int
    reference: str
    status: Status = attrs.field(converter=Status)
    codes: tuple[str, ...]
    meanings: tuple[str, ...]
    declared: int
    awarded: int
    return_reference: str = ""




def outcome(ap304: Declaration | Source, ap305: Declaration | Source, *, spec: MessageSpec | None = None,
            return_spec: MessageSpec | None = None) -> list[ClaimOutcome]:
    """Per claim line of *ap304*, what *ap305* says became of it.

    Every line of *ap304* whose record is a claim line (``04``; ``[answer]`` in the rules)
    gets exactly one outcome, in file order: also a claim line that is out of place
    (before its insured, after the sluitrecord), short, too long or with fields that do
    not decode (its amounts then count as 0). Records are matched on kenmerk record +
    identificatie detailrecord and must be copies of the AP304's records (as
    :func:`build_retour` makes them).

    The AP305 is verified before anything is returned; it raises
    :class:`~eicodec.errors.ReturnFileError` when a record is not its layout's length or
    not followed by CR/LF, when the file does not start with one voorlooprecord and end
    with one sluitrecord (an empty line, a record type the return message does not have,
    anything after the sluitrecord), when a sluitrecord count is not what the file holds
    or its totals are not the declared total and the awarded amounts of the outcomes,
    when a return field does not decode, a return code is not in the code list, a
    returned claim line has no return code or a price correction no awarded amount, and
    when a VECOZO answer (8096 on approved lines) misses a record of the AP304.
    :class:`~eicodec.errors.ReturnMismatchError` (a ``ReturnFileError`` and a
    :class:`~eicodec.errors.MismatchError`) when the header differs from the AP304's in a
    rubric it copies, or a returned record copies no record of the AP304.
    *spec* and *return_spec* read files of a standard given as your own spec files
    (default: the spec the header names); the awarded amount and codes are the return
    spec's ``[return]`` fields.
    """
    return list(iter_outcomes(ap304, ap305, spec=spec, return_spec=return_spec))


@attrs.define
class _Returned:
    """What :func:`iter_outcomes` keeps of one detail record of the return file."""

    line: int
    record_type: str
    digest: bytes  # of its copied AP304 text
    codes: tuple[str, ...]
    awarded: int
    comment: bool
    comment_codes: set[str] = attrs.field(factory=set)
    after: _Returned | None = None  # a comment: the returned record it follows
    placed: bool = False  # a comment: that record is a copy of the one its AP304 copy follows
    key_seen: bool = False  # the AP304 has a record of the same key
    copy_ok: bool = False  # ... and of this text
    used: bool = False  # matched to a claim line already


def _records_of(source: Declaration | Source, spec: MessageSpec | None = None) -> tuple[
        MessageSpec, Iterator[Record], Callable[[], None]]:
    """(spec, every record in file order -- placed or not --, closer)."""
    if isinstance(source, Declaration):
        recs = sorted([*source.iter_records(), *source.unplaced], key=lambda r: r.line or 0)
        return source.spec, iter(recs), (lambda: None)
    stream = RecordStream(source, spec=spec, recognise=True)  # (a header naming no spec: as the validator reads it)
    assert stream.info.spec is not None
    return stream.info.spec, iter(stream), stream.close


def _return_records(source: Declaration | Source, spec: MessageSpec | None = None) -> tuple[
        MessageSpec, Iterator[tuple[int, Record]], Callable[[], None]]:
    """(spec, (line, record) of every line of the return file in file order, closer); a
    :class:`Declaration` with structure problems is refused."""
    if isinstance(source, Declaration):
        recs = check_declaration(source)
        return source.spec, enumerate(recs, 1), (lambda: None)
    stream = RecordStream(source, spec=spec)
    assert stream.info.spec is not None
    return stream.info.spec, (((rec.line or i), rec) for i, rec in enumerate(stream, 1)), stream.close


def iter_outcomes(ap304: Declaration | Source, ap305: Declaration | Source, *, spec: MessageSpec | None = None,
                  return_spec: MessageSpec | None = None) -> Iterator[ClaimOutcome]:
    """:func:`outcome`, streamed: the AP304 is read once, record by record; of the AP305
    only a digest, the codes and the awarded amount of each detail record are kept
    (an insurer's return holds the rejected lines only: memory stays small).

    The AP305 is read and verified on its own before the first outcome (it is small:
    a damaged one raises :class:`~eicodec.errors.ReturnFileError` before anything is
    yielded), and its header compared with the AP304's. What needs the whole AP304 --
    every returned record a copy of one of its records, a VECOZO answer holding all of
    them, the sluitrecord totals -- is checked after the last record: then the error
    comes after the outcomes. **The outcomes yielded are final only when the iteration
    ends without an error**; use :func:`outcome` to get all of them or none."""
    spec304, records, close = _records_of(ap304, spec)
    try:
        join = OutcomeJoin(spec304, ap305, return_spec=return_spec)
        for rec in records:
            found = join.feed(rec)
            if found is not None:
                yield found
        join.finish()
    finally:
        close()


def _key_maker(spec: MessageSpec) -> Callable[[Record], tuple[str, str, str]]:
    """Kenmerk record + identificatie detailrecord (+ regelnummer for a comment)."""
    comment_type = spec.comment
    line_no = next(f.slice for f in spec.layout(comment_type).fields
                   if f.kind == "number" and f.element != "NUM040")
    id_slices = {t: lay.id_field.slice for t, lay in spec.records.items() if lay.id_field is not None}

    def key(rec: Record) -> tuple[str, str, str]:
        t = rec.record_type
        idf = id_slices.get(t)
        ident = rec.raw[idf] if idf is not None else ""
        return t, ident, rec.raw[line_no] if t == comment_type else ""
    return key


def _digest(raw: str, n: int) -> bytes:
    return hashlib.blake2b(as_copied(raw, n).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _index_return(spec304: MessageSpec, spec305: MessageSpec, records: Iterator[tuple[int, Record]]) -> tuple[
        Record, Record, list[_Returned], dict[tuple[str, str, str], list[_Returned]]]:
    """The return file's header, trailer, its detail records and, per key, those of that
    key; each record verified on the way (:class:`~eicodec.retour_check.ReturnCheck`)."""
    n = spec304.record_length
    key = _key_maker(spec304)
    check = ReturnCheck(spec304, spec305)
    assert spec305.returns is not None
    names, awarded = spec305.returns.codes, f"{spec305.returns.awarded}_signed"
    header: Record | None = None
    trailer: Record | None = None
    returned: list[_Returned] = []
    by_key: dict[tuple[str, str, str], list[_Returned]] = {}
    last: _Returned | None = None
    has: dict[str, tuple[tuple[FieldSpec, ...], tuple[FieldSpec, FieldSpec] | None]] = {}
    for line, rec in records:
        check.feed(rec, line)
        t = rec.record_type
        if t == spec305.header:
            header = rec
            continue
        if t == spec305.trailer:
            trailer = rec
            continue
        comment = t == spec305.comment
        own = has.get(t)
        if own is None:
            own = has[t] = _fields_of(rec, names, awarded)
        raw = rec.raw
        codes = tuple(c for c in (_decoded(raw, f) for f in own[0]) if c and c is not _FAILED)
        entry = _Returned(line, t, _digest(raw, n), codes, 0 if comment else _signed(raw, own[1]), comment)
        returned.append(entry)
        by_key.setdefault(key(rec), []).append(entry)
        if comment:
            entry.after = last
            if last is not None:
                last.comment_codes.update(entry.codes)
        else:
            last = entry
    check.finish()
    assert header is not None and trailer is not None  # (else ReturnCheck raised)
    return header, trailer, returned, by_key


def _fields_of(rec: Record, codes: Sequence[str], awarded: str) -> tuple[
        tuple[FieldSpec, ...], tuple[FieldSpec, FieldSpec] | None]:
    """The return-code fields (of attributes *codes*) and the signed amount (*awarded*,
    ``<attr>_signed``: its amount and D/C fields) that *rec*'s record type has; what it
    has not reads as None (as :func:`~eicodec.retour.value_or_none` gives it)."""
    lay = rec.layout
    if lay is None:
        return (), None
    return tuple(lay.by_attr[k] for k in codes if k in lay.by_attr), lay.signed.get(awarded)


#: what :func:`_decoded` gives for a field that does not decode
_FAILED = object()


def _decoded(raw: str, f: FieldSpec) -> Any:
    """``Record.get`` of plain field *f* of record text *raw*; :data:`_FAILED` where
    that raises (a short record, a field that does not decode)."""
    text = raw[f.start - 1:f.end]
    if len(text) != f.length:
        return _FAILED
    try:
        return f.decode(text)
    except DecodeError:
        return _FAILED


def _signed(raw: str, fields: tuple[FieldSpec, FieldSpec] | None) -> int:
    """A signed amount (amount and D/C *fields*) of record text *raw*, as
    ``value_or_none(rec, "<attr>_signed") or 0`` reads it: 0 where either does not decode."""
    if fields is None:
        return 0
    value = _decoded(raw, fields[0])
    if value is _FAILED or not value:
        return 0
    sign = _decoded(raw, fields[1])
    if sign is _FAILED:
        return 0
    return -value if sign == "C" else int(value)


class OutcomeJoin:
    """The join of :func:`iter_outcomes`, fed the AP304's records in file order one at a
    time (:meth:`feed` answers a claim line's outcome), then :meth:`finish`.

    The AP305 is read, verified (:mod:`eicodec.retour_check`: lengths, CR/LF, header
    first and one trailer last, record types, trailer counts, return codes) and indexed
    when the join is made: a damaged return file raises
    :class:`~eicodec.errors.ReturnFileError` before any outcome. What needs the whole
    declaration is checked by :meth:`finish`: every returned record copies a declared
    line, a VECOZO return holds every record, the trailer totals are the declaration's.
    The outcomes :meth:`feed` answered are final only when :meth:`finish` returns.
    :mod:`eicodec.tables` feeds it from its batches."""

    def __init__(self, spec: MessageSpec, ap305: Declaration | Source, *,
                 return_spec: MessageSpec | None = None) -> None:
        spec305, records305, close305 = _return_records(ap305, return_spec)
        try:
            if spec.kind != "declaration" or spec305.kind != "return" or spec305.return_of != spec.standard \
                    or spec305.returns is None:
                raise ReturnMismatchError(f"{spec305.name} is not a return file for {spec.name}")
            header305, self.trailer305, self.returned, self.by_key = _index_return(spec, spec305, records305)
        finally:
            close305()
        self.spec, self.spec305, self.header305 = spec, spec305, header305
        self.answer = answer = answer_for(spec)
        self.claim_t, self.amount_attr = answer.claim_type(spec), answer.amount_attr(spec)
        claim_lay = spec.layout(self.claim_t)
        amount_f, dc_f = claim_lay.signed[self.amount_attr]
        self.claim_len, self.amount_slice, self.dc_slice = claim_lay.length, amount_f.slice, dc_f.slice
        self.n = spec.record_length
        self.key = _key_maker(spec)
        self.ref_slice = spec.field(self.claim_t, answer.claim_reference).slice
        self.table = return_codes()
        self.roles = roles = rules_for(spec).roles
        self.vecozo_ok = roles["vecozo_approved"]
        # codes that say nothing against a line: assessed and fine, price corrected, fine
        # but returned with a rejected file
        self.neutral = {roles["assessed_ok"], roles["price_correction"], self.vecozo_ok}
        assert spec305.returns is not None
        self.hdr_codes = codes_of(header305, spec305.returns.codes)
        self.approved_file = roles["approved_file"] in self.hdr_codes
        ref_attr = spec305.returns.insurer_reference
        self.return_reference = (value_or_none(header305, ref_attr) or "").strip() if ref_attr else ""
        self.header_done = False
        #: VECOZO's answer to a rejected file returns every record (STB §6.8.3)
        self.everything = any(self.vecozo_ok in e.codes for e in self.returned)
        self.not_back: int | None = None  # first declared record missing from such an answer
        total = spec.totals[0].rubric if spec.totals else None
        self.total_attr = f"{spec.field(spec.trailer, total).attr}_signed" if total else None
        self.submitted: int | None = None  # the declaration's sluitrecord total
        self.declared = 0  # the sum of its whole claim lines
        self.awarded = 0  # the sum of the outcomes' awarded amounts
        self.comment_t = spec.comment
        # the last AP304 record that is not a comment, and its digest once asked for
        # (only a returned comment's placement asks: most records are never digested)
        self.prev_raw: str | None = None
        self.prev_digest: bytes | None = b""

    def feed(self, rec: Record) -> ClaimOutcome | None:
        """Take the next record of the AP304; a claim line's outcome, None for others."""
        got = self.verdict(rec)
        if got is None:
            return None
        line, ref, status, codes, declared, awarded = got
        return ClaimOutcome(line=line, reference=ref, status=status, codes=codes,
                            meanings=tuple(self.table.meaning(c) for c in codes) if codes else (),
                            declared=declared, awarded=awarded, return_reference=self.return_reference)

    def verdict(self, rec: Record) -> tuple[int, str, str, tuple[str, ...], int, int] | None:
        """:meth:`feed` without making the :class:`ClaimOutcome` (the tables' join keeps
        three of its fields): a claim line's line, reference, status, codes, declared and
        awarded amounts; None for other records."""
        t = rec.record_type
        spec = self.spec
        if t == spec.header:
            if not self.header_done:
                self.header_done = True
                _compare_headers(rec, self.header305, self.answer, self.n)
            return None
        if t == spec.trailer:
            if self.total_attr and rec.layout is not None and len(rec.raw) == rec.layout.length:
                self.submitted = value_or_none(rec, self.total_attr)
            return None
        claim_t = self.claim_t
        entries = self.by_key.get(self.key(rec))
        match: _Returned | None = None
        back = False
        digest = b""
        if entries:
            digest = _digest(rec.raw, self.n)
            for e in entries:
                e.key_seen = True
                if e.digest == digest:
                    e.copy_ok = back = True
                    if e.comment and e.after is not None and e.after.digest == self._prev_digest():
                        e.placed = True  # (its codes went to the returned copy of the right record)
                    if match is None and not e.used and t == claim_t:
                        match = e
            if match is not None:
                match.used = True
        known = t in spec.records  # (the tables' join feeds records of most types without a layout)
        if t != self.comment_t and known:
            self.prev_raw, self.prev_digest = rec.raw, digest or None
        if self.everything and not back and known and self.not_back is None:
            self.not_back = rec.line or 0
        if t != claim_t:
            return None
        raw = rec.raw
        text, sign = raw[self.amount_slice], raw[self.dc_slice]
        whole = len(raw) == self.claim_len
        if whole and text.isascii() and text.isdigit() and (sign == "D" or sign == "C"):
            declared = -int(text) if sign == "C" else int(text)  # (as the field decodes it)
        else:
            declared = value_or_none(rec, self.amount_attr) or 0
        if whole:
            self.declared += declared
        ref = raw[self.ref_slice].strip()
        neutral, hdr_codes = self.neutral, self.hdr_codes
        codes: tuple[str, ...]
        if match is not None:
            codes = match.codes
            if set(codes) == {self.roles["not_assessed"]}:
                status = "not_assessed"
            elif set(codes) - neutral or match.comment_codes - neutral:
                status = "rejected"
            elif self.vecozo_ok in codes:
                status = "rejected_with_file"  # fine, but the whole file went back
            else:
                status = "approved"
            awarded = 0 if status == "rejected_with_file" else match.awarded
        elif not self.returned and not self.approved_file and not set(hdr_codes) <= neutral:
            status, codes, awarded = "rejected", hdr_codes, 0
        elif self.approved_file:
            status, codes, awarded = "approved", (), declared
        else:
            status, codes, awarded = "not_returned", (), declared
        self.awarded += awarded
        return rec.line or 0, ref, status, codes, declared, awarded

    def _prev_digest(self) -> bytes:
        """The digest of the last record fed that is not a comment (b"": none yet)."""
        if self.prev_digest is None:
            assert self.prev_raw is not None
            self.prev_digest = _digest(self.prev_raw, self.n)
        return self.prev_digest

    def finish(self) -> None:
        """After the last record: :class:`~eicodec.errors.MismatchError` when the AP304 had
        no voorlooprecord; :class:`~eicodec.errors.ReturnMismatchError` when the AP305
        holds a record that copies no record of the AP304;
        :class:`~eicodec.errors.ReturnFileError` when a VECOZO answer misses a record of
        the AP304, or the AP305's sluitrecord totals are not the declared total and the
        sum of the awarded amounts of the outcomes."""
        if not self.header_done:
            raise MismatchError("the declaration has no voorlooprecord")
        # (a comment the insurer added has no codes and no record of its key in the AP304)
        bad = [e for e in self.returned
               if not e.copy_ok and not (e.comment and not e.codes and not e.key_seen)]
        if bad:
            raise ReturnMismatchError(f"{len(bad)} record(s) of the return file are not copies of records of the "
                                      f"declaration (first at line {bad[0].line})", line=bad[0].line,
                                      record_type=bad[0].record_type)
        moved = [e for e in self.returned if e.comment and e.copy_ok and not e.placed]
        if moved:
            raise ReturnFileError("a comment record does not follow the record it follows in the declaration",
                                  line=moved[0].line, record_type=moved[0].record_type)
        if self.not_back is not None:
            raise ReturnFileError(f"a VECOZO return holds every record of the declaration, but not the one at "
                                  f"line {self.not_back} of the declaration", record_type=self.spec305.trailer)
        self._check_totals()

    def _check_totals(self) -> None:
        """The AP305's sluitrecord totals: what the declaration submitted, and what the
        outcomes award (0 for a rejected file: its lines award nothing)."""
        trailer = self.trailer305
        lay = trailer.layout
        assert lay is not None
        submitted = self.submitted if self.submitted is not None else self.declared
        returns = self.spec305.returns
        assert returns is not None
        for attr, want in ((returns.submitted_total, submitted), (returns.awarded_total, self.awarded)):
            pair = lay.signed.get(f"{attr}_signed") if attr else None
            if pair is None:
                continue
            if abs(want) >= 10 ** pair[0].length:
                want = 0  # (written as 0 when it does not fit, and the file rejected)
            if (value_or_none(trailer, f"{attr}_signed") or 0) != want:
                raise ReturnFileError("a sluitrecord total is not what the declaration and the returned lines "
                                      "add up to", line=trailer.line, record_type=trailer.record_type,
                                      rubric=pair[0].rubric)


def _compare_headers(header304: Record, header305: Record, answer: Answer, n: int) -> None:
    """The return file's header copies the declaration's, but for the rubrics it rewrites."""
    hlay = header304.layout
    assert hlay is not None
    copy = as_copied(header304.raw, n)
    for f in hlay.fields:
        if f.rubric not in answer.header_rewritten and header305.raw[f.slice] != copy[f.slice]:
            raise ReturnMismatchError(f"the return file belongs to another declaration (header rubric {f.rubric} "
                                      "differs)", line=header305.line, record_type=header305.record_type,
                                      rubric=f.rubric)
