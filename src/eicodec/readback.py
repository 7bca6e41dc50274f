"""Reading an AP305 back against its AP304: what became of each claim line.

:func:`outcome` (and :func:`iter_outcomes`, streamed) tells per claim line of a
declaration what its return file says: approved, rejected, not assessed, rejected with
the file, or not returned, with the codes and the awarded amount. The return file's
records are matched on kenmerk record + identificatie (+ regelnummer for a comment) and
must be copies of the declaration's (as :mod:`eicodec.retour` makes them). Which record
is a claim line, its reference and its amount come from the ``[answer]`` table of the
declaration's rules; the codes' roles from ``[roles]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import attrs

from .codes import return_codes
from .errors import MismatchError
from .findings import Status
from .layouts import MessageSpec
from .model import Declaration, Record
from .reader import RecordStream, Source
from .retour import as_copied, codes_of, value_or_none
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




def outcome(ap304: Declaration | Source, ap305: Declaration | Source) -> list[ClaimOutcome]:
    """Per claim line of *ap304*, what *ap305* says became of it.

    Every line of *ap304* whose record is a claim line (``04``; ``[answer]`` in the rules)
    gets exactly one outcome, in file order: also a claim line that is out of place
    (before its insured, after the sluitrecord), short, too long or with fields that do
    not decode (its amounts then count as 0). Records are matched on kenmerk record +
    identificatie detailrecord and must be copies of the AP304's records (as
    :func:`build_retour` makes them); an AP305 of another invoice, or with records that
    are not in the AP304, raises :class:`~eicodec.errors.MismatchError`.
    """
    return list(iter_outcomes(ap304, ap305))


@attrs.define
class _Returned:
    """What :func:`iter_outcomes` keeps of one detail record of the return file."""

    line: int
    digest: bytes  # of its copied AP304 text
    codes: tuple[str, ...]
    awarded: int
    comment: bool
    comment_codes: set[str] = attrs.field(factory=set)
    key_seen: bool = False  # the AP304 has a record of the same key
    copy_ok: bool = False  # ... and of this text
    used: bool = False  # matched to a claim line already


def _records_of(source: Declaration | Source) -> tuple[MessageSpec, Iterator[Record], Callable[[], None]]:
    """(spec, every record in file order -- placed or not --, closer)."""
    if isinstance(source, Declaration):
        recs = sorted([*source.iter_records(), *source.unplaced], key=lambda r: r.line or 0)
        return source.spec, iter(recs), (lambda: None)
    stream = RecordStream(source)
    assert stream.info.spec is not None
    return stream.info.spec, iter(stream), stream.close


def iter_outcomes(ap304: Declaration | Source, ap305: Declaration | Source) -> Iterator[ClaimOutcome]:
    """:func:`outcome`, streamed: the AP304 is read once, record by record; of the AP305
    only a digest, the codes and the awarded amount of each detail record are kept
    (an insurer's return holds the rejected lines only: memory stays small). A
    :class:`~eicodec.errors.MismatchError` about the return's records comes at the end,
    after the outcomes (the header is compared before the first)."""
    spec, records, close = _records_of(ap304)
    try:
        join = OutcomeJoin(spec, ap305)
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


def _index_return(spec304: MessageSpec, spec305: MessageSpec, records: Iterator[Record]) -> tuple[
        Record | None, list[_Returned], dict[tuple[str, str, str], list[_Returned]]]:
    """The return file's header, its detail records and, per key, those of that key."""
    n = spec304.record_length
    key = _key_maker(spec304)
    placed = set(spec305.records) - {spec305.header, spec305.trailer}
    header: Record | None = None
    returned: list[_Returned] = []
    by_key: dict[tuple[str, str, str], list[_Returned]] = {}
    last: _Returned | None = None
    for rec in records:
        t = rec.record_type
        if t == spec305.header:
            header = header or rec
            continue
        if t not in placed or rec.layout is None:
            continue
        comment = t == spec305.comment
        entry = _Returned(rec.line or 0, _digest(rec.raw, n), codes_of(rec),
                          0 if comment else value_or_none(rec, "awarded_amount_signed") or 0, comment)
        returned.append(entry)
        by_key.setdefault(key(rec), []).append(entry)
        if comment:
            if last is not None:
                last.comment_codes.update(entry.codes)
        else:
            last = entry
    return header, returned, by_key


class OutcomeJoin:
    """The join of :func:`iter_outcomes`, fed the AP304's records in file order one at a
    time (:meth:`feed` answers a claim line's outcome), then :meth:`finish`. The AP305 is
    read and indexed when the join is made. :mod:`eicodec.tables` feeds it from its
    batches."""

    def __init__(self, spec: MessageSpec, ap305: Declaration | Source) -> None:
        spec305, records305, close305 = _records_of(ap305)
        try:
            if spec.kind != "declaration" or spec305.kind != "return" or spec305.return_of != spec.standard:
                raise MismatchError(f"{spec305.name} is not a return file for {spec.name}")
            header305, self.returned, self.by_key = _index_return(spec, spec305, records305)
        finally:
            close305()
        if header305 is None:
            raise MismatchError("the return file has no voorlooprecord")
        self.spec, self.header305 = spec, header305
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
        self.hdr_codes = codes_of(header305)
        self.approved_file = roles["approved_file"] in self.hdr_codes
        self.return_reference = (value_or_none(header305, "insurer_reference") or "").strip()
        self.header_done = False

    def feed(self, rec: Record) -> ClaimOutcome | None:
        """Take the next record of the AP304; a claim line's outcome, None for others."""
        t = rec.record_type
        spec = self.spec
        if t == spec.header:
            if not self.header_done:
                self.header_done = True
                _compare_headers(rec, self.header305, self.answer, self.n)
            return None
        if t == spec.trailer:
            return None
        claim_t = self.claim_t
        entries = self.by_key.get(self.key(rec))
        match: _Returned | None = None
        if entries:
            digest = _digest(rec.raw, self.n)
            for e in entries:
                e.key_seen = True
                if e.digest == digest:
                    e.copy_ok = True
                    if match is None and not e.used and t == claim_t:
                        match = e
            if match is not None:
                match.used = True
        if t != claim_t:
            return None
        raw = rec.raw
        text, sign = raw[self.amount_slice], raw[self.dc_slice]
        if len(raw) == self.claim_len and text.isascii() and text.isdigit() and (sign == "D" or sign == "C"):
            declared = -int(text) if sign == "C" else int(text)  # (as the field decodes it)
        else:
            declared = value_or_none(rec, self.amount_attr) or 0
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
        return ClaimOutcome(line=rec.line or 0, reference=ref, status=status, codes=codes,
                            meanings=tuple(self.table.meaning(c) for c in codes),
                            declared=declared, awarded=awarded, return_reference=self.return_reference)

    def finish(self) -> None:
        """After the last record: :class:`~eicodec.errors.MismatchError` when the AP304 had
        no voorlooprecord or the AP305 holds records that are not copies of the AP304's."""
        if not self.header_done:
            raise MismatchError("the declaration has no voorlooprecord")
        # (a comment the insurer added has no codes and no record of its key in the AP304)
        bad = [e.line for e in self.returned
               if not e.copy_ok and not (e.comment and not e.codes and not e.key_seen)]
        if bad:
            raise MismatchError(f"{len(bad)} record(s) of the return file are not copies of records of the "
                                f"declaration (first at line {bad[0]})", line=bad[0])


def _compare_headers(header304: Record, header305: Record, answer: Answer, n: int) -> None:
    """The return file's header copies the declaration's, but for the rubrics it rewrites."""
    hlay = header304.layout
    assert hlay is not None
    copy = as_copied(header304.raw, n)
    for f in hlay.fields:
        if f.rubric not in answer.header_rewritten and header305.raw[f.slice] != copy[f.slice]:
            raise MismatchError(f"the return file belongs to another declaration (header rubric {f.rubric} differs)",
                                rubric=f.rubric)
