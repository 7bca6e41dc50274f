"""AP305 return files: build them from a validation report, and join them to the claims.

:func:`build_retour` lays out what a :class:`~eicodec.validator.Report` decided, as STB
§6.7-6.10 prescribes:

* fully approved (insurer): voorlooprecord with the "no errors" code (8001) and
  sluitrecord with the awarded total;
* rejected at file level: voorlooprecord with up to three codes (most fundamental
  first: ``file_code_order`` in the rules file) and sluitrecord with zero counts;
* rejected at record level, insurer: the rejected records and the records that belong to
  them, each an exact copy of the AP304 record plus its codes; other approved claim lines
  are not returned;
* rejected at record level, VECOZO: every record, approved ones with 8096.

An insurer may award another amount than declared (``awards``) and add comment records
(``comments``); such lines are returned too. :func:`outcome` reads an AP305 back against
its AP304 and tells, per claim line, what became of it.

Both passes stream: memory grows with the largest insured group, not with the file.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import attrs

from .codes import return_codes
from .errors import EicodecError, MismatchError
from .layouts import MessageSpec, get_spec
from .model import Declaration, Record, record_class
from .reader import RecordStream, Source, build_tree, read
from .rules import RuleSet, rules_for
from .validator import Report, Status, Verdict, _replayable, fingerprint_records
from .writer import render_records, trailer_from_counts, write_records


@attrs.frozen
class Award:
    """What an insurer awards on one claim line: a signed amount in cents, extra codes
    (default 8059, price correction, when the amount differs) and optionally the VAT."""

    amount: int
    codes: tuple[str, ...] = ()
    vat: int | None = None


def _value(rec: Record, key: str) -> Any:
    """A field's value, or None when the record's text does not decode (broken input
    still gets a return file; the broken field is copied as it was)."""
    try:
        return rec.get(key)
    except EicodecError:
        return None


def _codes(rec: Record) -> tuple[str, ...]:
    """The return codes a return record carries (Retourcode (01)-(03)), in order."""
    return tuple(c for c in (_value(rec, f"return_code_{i}") for i in (1, 2, 3)) if c)


@attrs.define
class _Unit:
    rec: Record
    comments: list[Record] = attrs.field(factory=list)


@attrs.define
class _Totals:
    fingerprint: str = ""
    header: Record | None = None
    submitted: int | None = None
    declared: int = 0
    awarded: int = 0
    corrected: set[str] = attrs.field(factory=set)


class _Builder:
    def __init__(self, report: Report, spec305: MessageSpec, mode: str,
                 insurer_reference: str | None, return_date: dt.date,
                 awards: Mapping[str, Award | int], comments: Mapping[Any, Sequence[str]]) -> None:
        if report.spec.kind != "declaration":
            raise EicodecError("a return file answers a declaration, not a return file")
        if mode not in ("insurer", "vecozo"):
            raise ValueError(f"mode must be 'insurer' or 'vecozo', not {mode!r}")
        if mode == "vecozo" and report.status is Status.APPROVED:
            raise EicodecError("VECOZO sends no return file for an approved declaration (STB §6.8.1)")
        if comments and mode == "vecozo":
            raise EicodecError("VECOZO adds no comment records to a return file (STB §6.8.3)")
        self.report = report
        self.spec = spec305
        self.rules: RuleSet = rules_for(report.spec)
        self.mode = mode
        self.insurer_reference = insurer_reference
        self.return_date = return_date
        self.awards = {k: v if isinstance(v, Award) else Award(int(v)) for k, v in awards.items()}
        table = return_codes()
        for award in self.awards.values():
            for code in award.codes:
                if code not in table:
                    raise EicodecError(f"return code {code!r} is not in the COD954 list in use")
        self.comments = {k: list(v) for k, v in comments.items()}
        roles = self.rules.roles
        self.ok = roles.get("assessed_ok", "0200")
        self.vecozo_ok = roles.get("vecozo_approved", "8096")
        self.price = roles.get("price_correction", "8059")
        self.file_level = report.status is Status.REJECTED_FILE
        self.overflow = False  # a trailer total does not fit its field (see :meth:`check_totals`)
        spec304 = report.spec
        self.ref_slice = spec304.field("04", "0445").slice
        total = spec304.totals[0].rubric if spec304.totals else None
        self.total_attr = f"{spec304.field(spec304.trailer, total).attr}_signed" if total else None
        self.everything = mode == "vecozo" and report.status is Status.REJECTED_RECORDS

    # ------------------------------------------------------------ pass A
    def scan(self, records: Iterable[Record]) -> _Totals:
        """Totals and corrected claims, without keeping the records."""
        tot = _Totals()
        for _ in self.scan_through(records, tot):
            pass
        return tot

    def scan_through(self, records: Iterable[Record], tot: _Totals) -> Iterator[Record]:
        """Pass *records* on while adding them to the totals in *tot*."""
        report = self.report

        def tap(it: Iterable[Record]) -> Iterator[Record]:
            for rec in it:
                if tot.header is None and rec.record_type == "01":
                    tot.header = rec
                yield rec

        def counted(it: Iterable[Record]) -> Iterator[Record]:
            for rec in it:
                t = rec.record_type
                whole = rec.layout is not None and len(rec.raw) == rec.layout.length
                if t == "99" and whole and self.total_attr:
                    tot.submitted = _value(rec, self.total_attr)
                if t == "04" and whole:
                    declared = _value(rec, "declared_amount_signed") or 0
                    tot.declared += declared
                    verdict = report.verdict(rec.line or 0)
                    if verdict is Verdict.APPROVED:
                        ref = self.ref(rec)
                        award = self.awards.get(ref)
                        amount = declared if award is None else award.amount
                        tot.awarded += amount
                        if award is not None and (award.amount != declared or award.codes):
                            tot.corrected.add(ref)
                yield rec

        return counted(tap(records))

    def walk(self, lines: Iterable[tuple[str, str]], tot: _Totals, body: bool = True) -> Iterator[Record]:
        """The return body from raw lines ``(text, line end)`` while adding them to *tot*.

        The same records as :meth:`body` over :meth:`scan_through`, without a
        :class:`Record` per line: records are made only for the header and trailer, for
        claim lines whose amount is not plain digits with D or C, and for the top-level
        groups that may return something (a line with an outcome, a corrected claim, a
        line with added comments, or every group in VECOZO's "everything" answer).
        ``body=False``: the totals only."""
        spec = self.report.spec
        layouts = spec.records
        classes = {t: record_class(lay) for t, lay in layouts.items()}
        lengths = {t: lay.length for t, lay in layouts.items()}
        lay04 = layouts.get("04")
        if lay04 is not None:
            amount, dc = lay04.signed["declared_amount_signed"]
            a0, a1, dcpos = amount.start - 1, amount.end, dc.start - 1
        outcomes = self.report.outcomes
        pending = iter(outcomes)  # lines with an outcome, ascending
        next_out = next(pending, 0)
        file_rejected = self.report.status is Status.REJECTED_FILE
        approved, rejected_file = Verdict.APPROVED, self.file_level
        awards, comments, corrected = self.awards, self.comments, tot.corrected
        everything = self.everything
        ref_slice = self.ref_slice
        # the group being read: (line, text, end, type) of its units and their comments
        group: list[tuple[int, str, str, str, list[tuple[int, str, str]]]] = []
        last: list[tuple[int, str, str]] | None = None
        keep = everything  # whether the group may return something
        lineno = 0

        def make(line: int, raw: str, term: str) -> Record:
            cls = classes.get(raw[:2])
            return cls(layouts[raw[:2]], raw, line, term) if cls is not None else Record(None, raw, line, term)

        def flush() -> Iterator[Record]:
            units = []
            for line, raw, term, _t, cms in group:
                unit = _Unit(make(line, raw, term))
                unit.comments = [make(*cm) for cm in cms]
                units.append(unit)
            return self.flush(units, tot)

        for raw, term in lines:
            lineno += 1
            t = raw[:2]
            length = lengths.get(t)
            out = False
            if lineno == next_out:
                out = True
                next_out = next(pending, 0)
            if t == "04" and length == len(raw):
                text = raw[a0:a1]
                sign = raw[dcpos]
                if text.isascii() and text.isdigit() and (sign == "D" or sign == "C"):
                    declared = -int(text) if sign == "C" else int(text)
                else:
                    declared = _value(make(lineno, raw, term), "declared_amount_signed") or 0
                tot.declared += declared
                if not file_rejected and (not out or outcomes[lineno].verdict is approved):
                    if awards:
                        ref = raw[ref_slice].rstrip(" ")
                        award = awards.get(ref)
                        tot.awarded += declared if award is None else award.amount
                        if award is not None and (award.amount != declared or award.codes):
                            corrected.add(ref)
                    else:
                        tot.awarded += declared
            elif t == "01":
                if tot.header is None:
                    tot.header = make(lineno, raw, term)
                continue
            elif t == "99":
                if self.total_attr and length == len(raw):
                    tot.submitted = _value(make(lineno, raw, term), self.total_attr)
                continue
            if rejected_file or length is None or not body:
                continue
            if t == "98":
                if last is not None:
                    last.append((lineno, raw, term))
                    keep = keep or out
                continue
            if t == "02":
                if group and keep:
                    yield from flush()
                group = []
                keep = everything
            last = []
            group.append((lineno, raw, term, t, last))
            if out:
                keep = True
            elif comments or corrected:
                ref = raw[ref_slice].rstrip(" ") if t == "04" else ""
                keep = keep or ref in corrected or bool(comments.get(lineno)) or bool(ref and comments.get(ref))
        if group and keep:
            yield from flush()

    def ref(self, rec: Record) -> str:
        """The claim's referentienummer (0445); "" for other records."""
        return rec.raw[self.ref_slice].rstrip(" ") if rec.record_type == "04" else ""

    # ------------------------------------------------------------ pass B
    def header(self, original: Record, corrections: bool) -> Record:
        rep, roles = self.report, self.rules.roles
        hdr = self.copy(original)
        hdr.set("message_code", self.spec.message_code)
        hdr.set("software_vendor_code", None)  # not filled by an insurer (AP305 BER v7.2)
        hdr.set("software_version", None)
        hdr.set("insurer_reference", self.insurer_reference or None)
        hdr.set("return_date", self.return_date)
        if self.file_level:
            found = {f.code for f in rep.file_findings}
            if self.overflow:
                found.add(self.overflow_code)
            codes = sorted(found, key=lambda c: (self.rules.file_code_rank(c), c))
        elif rep.status is Status.APPROVED and not corrections:
            codes = [roles.get("approved_file", "8001")]
        else:
            codes = [roles.get("header_records_rejected", "0200")]
        self.set_codes(hdr, codes)
        return hdr

    def copy(self, rec: Record) -> Record:
        """The return record: the original text at its own positions, then the return
        fields (a header of the wrong length is cut or padded to keep them aligned)."""
        lay = self.spec.layout(rec.record_type)
        n = self.report.spec.record_length
        return Record(lay, rec.raw[:n].ljust(n) + lay.blank[n:], rec.line)

    @staticmethod
    def set_codes(rec: Record, codes: Sequence[str]) -> None:
        for i, code in enumerate(list(dict.fromkeys(codes))[:3], 1):
            rec.set(f"return_code_{i}", code)

    def body(self, records: Iterable[Record], totals: _Totals) -> Iterator[Record]:
        if self.file_level:
            for _ in records:  # no detail records go back, but the totals need the trailer
                pass
            return
        group: list[_Unit] = []
        last: _Unit | None = None
        for rec in records:
            t = rec.record_type
            if t in ("01", "99") or rec.layout is None:
                continue
            if t == "98":
                if last is not None:
                    last.comments.append(rec)
                continue
            if t == "02":
                yield from self.flush(group, totals)
                group = []
            last = _Unit(rec)
            group.append(last)
        yield from self.flush(group, totals)

    def flush(self, group: list[_Unit], totals: _Totals) -> Iterator[Record]:
        if not group:
            return
        rep = self.report

        def wanted(u: _Unit) -> bool:
            lines = [u.rec.line, *(c.line for c in u.comments)]
            return (self.everything or any(ln in rep.outcomes for ln in lines)
                    or self.ref(u.rec) in totals.corrected or self._added(u) != [])

        returned = [wanted(u) for u in group]
        if any(returned[1:]):  # a returned claim takes its insured (and debtor) along
            for i, u in enumerate(group):
                if u.rec.record_type != "04":
                    returned[i] = True
        for u, ret in zip(group, returned):
            if not ret:
                continue
            yield self.returned(u.rec, totals)
            n = 0
            for cm in u.comments:
                yield self.returned(cm, totals)
                n = max(n, _value(cm, "line_number") or 0)
            for text in self._added(u):
                n += 1
                added = self.spec.new("98", record_id=_value(u.rec, "record_id"), line_number=n, text=text)
                yield added

    def _added(self, u: _Unit) -> list[str]:
        texts = list(self.comments.get(u.rec.line, []))
        ref = self.ref(u.rec)
        if ref:
            texts += self.comments.get(ref, [])
        out = []
        for text in texts:
            out += [text[i:i + 140] for i in range(0, len(text), 140)] or [""]
        return out

    def returned(self, rec: Record, totals: _Totals) -> Record:
        rep = self.report
        copy = self.copy(rec)
        line = rec.line or 0
        if line in rep.outcomes:
            codes = list(rep.outcomes[line].codes)
        elif self.everything:
            codes = [self.vecozo_ok]
        else:
            codes = [self.ok]
        if rec.record_type == "04":
            verdict = rep.verdict(line)
            ref = self.ref(rec)
            declared = _value(rec, "declared_amount_signed") or 0
            award = self.awards.get(ref, Award(declared))
            if verdict is Verdict.APPROVED and self.mode == "insurer":
                if ref in totals.corrected:
                    codes = [c for c in codes if c != self.ok] + (list(award.codes) or [self.price])
                amount, vat = award.amount, award.vat
            else:
                amount, vat = 0, None
            copy.set("insurer_calculated_amount", None)
            copy.set_signed("awarded_amount", amount)
            copy.set("awarded_vat_amount", vat)
        self.set_codes(copy, codes)
        return copy

    @property
    def overflow_code(self) -> str:
        """The file-level code of an answer whose totals cannot be written (rules data)."""
        return self.rules.roles.get("total_does_not_fit", self.rules.roles.get("generic_file_rejection", "0001"))

    def _fits(self, attr: str, cents: int) -> bool:
        return abs(cents) < 10 ** self.spec.field(self.spec.trailer, attr).length

    def submitted(self, totals: _Totals) -> int:
        return totals.submitted if totals.submitted is not None else totals.declared

    def awarded(self, totals: _Totals) -> int:
        return 0 if self.file_level or self.mode == "vecozo" else totals.awarded

    def may_overflow(self) -> bool:
        """Whether the claim lines are many enough for a trailer total not to fit (then
        the totals are gathered in a first pass, before the header is written)."""
        n = self.report.counts.get("04", 0)
        line_max = 10 ** self.report.spec.field("04", "0443").length - 1
        room = min(10 ** self.spec.field(self.spec.trailer, a).length - 1
                   for a in ("submitted_total", "awarded_total"))
        return n * line_max > room

    def check_totals(self, totals: _Totals) -> None:
        """A total that cannot be written makes the answer a file-level rejection
        (``total_does_not_fit`` in the rules' roles): the return file stays well-formed."""
        if not (self._fits("submitted_total", self.submitted(totals))
                and self._fits("awarded_total", self.awarded(totals))):
            self.overflow = True
            self.file_level = True
            self.everything = False

    def trailer(self, counts: dict[str, int], totals: _Totals) -> Record:
        base = self.spec.new(self.spec.trailer)
        submitted = self.submitted(totals)
        base.set_signed("submitted_total", submitted if self._fits("submitted_total", submitted) else 0)
        awarded = self.awarded(totals)
        base.set_signed("awarded_total", awarded if self._fits("awarded_total", awarded) else 0)
        return trailer_from_counts(self.spec, counts, {}, base)


def _opener(source: Declaration | Source, report: Report) -> tuple[
        Callable[[], tuple[Iterator[Record], Callable[[], str]]], Callable[[], None]]:
    """A way to get (records, fingerprint of the input) again and again, and a closer."""
    if isinstance(source, Declaration):
        def from_decl() -> tuple[Iterator[Record], Callable[[], str]]:
            return source.iter_records(), lambda: fingerprint_records(source.iter_records(),
                                                                      report.encoding, report.bom)
        return from_decl, (lambda: None)
    make, to_close = _replayable(source)

    def from_source() -> tuple[Iterator[Record], Callable[[], str]]:
        stream = RecordStream(make(), spec=report.spec)
        return iter(stream), lambda: stream.info.fingerprint

    def close() -> None:
        for fh in to_close:
            fh.close()
    return from_source, close


def iter_retour(source: Declaration | Source, report: Report, *, insurer_reference: str | None = None,
                return_date: dt.date | None = None, awards: Mapping[str, Award | int] | None = None,
                comments: Mapping[Any, Sequence[str]] | None = None, mode: str | None = None,
                spec: MessageSpec | None = None) -> Iterator[Record]:
    """The AP305 records, header first and trailer last, streamed (see :func:`build_retour`).

    The input is read once (twice with ``awards``). Whether the report is about it is
    known only at the end: :class:`~eicodec.errors.MismatchError` then comes after the
    records before the trailer (:func:`write_retour` leaves no output then)."""
    spec305 = spec or get_spec("AP305", report.spec.version)
    b = _Builder(report, spec305, mode or report.mode, insurer_reference,
                 return_date or dt.date.today(), awards or {}, comments or {})
    if isinstance(source, Declaration):
        yield from _from_records(b, source, report)
        return
    make, to_close = _replayable(source)
    try:
        # The header must know whether any award corrects an amount: with awards, a first
        # pass gathers the totals; without, they are gathered while the body is written.
        totals = _Totals()
        if b.awards or b.may_overflow():
            with RecordStream(make(), spec=report.spec) as stream:
                for _ in b.walk(stream.raw_lines(), totals, body=False):
                    pass
            b.check_totals(totals)
        with RecordStream(make(), spec=report.spec) as stream:
            lines = stream.raw_lines()
            first: list[tuple[str, str]] = []  # up to the voorlooprecord (empty lines may come before it)
            for raw, term in lines:
                first.append((raw, term))
                if raw[:2] == "01":
                    break
            again = _Totals(corrected=set(totals.corrected))
            body = b.walk(itertools.chain(first, lines), again)
            head = next(body, None)  # (reads up to the first returned record)
            if again.header is None:
                raise MismatchError("the declaration has no voorlooprecord")
            if report.status is Status.REJECTED_FILE and again.header.raw != report.header_raw:
                raise MismatchError("the report is not about this declaration (its header differs)")
            yield b.header(again.header, bool(again.corrected))
            counts: dict[str, int] = {}
            for rec in itertools.chain([head] if head is not None else [], body):
                counts[rec.record_type] = counts.get(rec.record_type, 0) + 1
                yield rec
            if report.status is not Status.REJECTED_FILE and stream.info.fingerprint != report.fingerprint:
                raise MismatchError("the report is not about this declaration (its records differ)")
        yield b.trailer(counts, again)
    finally:
        for fh in to_close:
            fh.close()


def _from_records(b: _Builder, source: Declaration, report: Report) -> Iterator[Record]:
    """:func:`iter_retour` of a :class:`Declaration` (its records are already made)."""
    open_records, close = _opener(source, report)
    try:
        if b.awards or b.may_overflow():
            records, _ = open_records()
            totals = b.scan(records)
            b.check_totals(totals)
            records, fingerprint = open_records()
        else:
            totals = _Totals()
            plain, fingerprint = open_records()
            records = b.scan_through(plain, totals)
        first: list[Record] = []  # up to the voorlooprecord (the reader skips empty lines before it)
        for rec in records:
            first.append(rec)
            if totals.header is not None:
                break
        if totals.header is None:
            raise MismatchError("the declaration has no voorlooprecord")
        if report.status is Status.REJECTED_FILE:
            if totals.header.raw != report.header_raw:
                raise MismatchError("the report is not about this declaration (its header differs)")
        elif fingerprint() != report.fingerprint:
            raise MismatchError("the report is not about this declaration (its records differ)")
        header = b.header(totals.header, bool(totals.corrected))
        yield header
        counts: dict[str, int] = {}
        for rec in b.body(itertools.chain(first, records), totals):
            counts[rec.record_type] = counts.get(rec.record_type, 0) + 1
            yield rec
        yield b.trailer(counts, totals)
    finally:
        close()


def build_retour(source: Declaration | Source, report: Report, *, insurer_reference: str | None = None,
                 return_date: dt.date | None = None, awards: Mapping[str, Award | int] | None = None,
                 comments: Mapping[Any, Sequence[str]] | None = None, mode: str | None = None,
                 spec: MessageSpec | None = None) -> Declaration:
    """The AP305 :class:`Declaration` answering *source* (an AP304) as *report* says.

    ``mode`` defaults to the report's. ``awards`` maps a claim's referentienummer (0445)
    to an :class:`Award` or a signed amount in cents (default: the declared amount for
    approved lines, zero for the others). ``comments`` maps a referentienummer or a line
    number to texts the insurer adds as comment records (insurer only). Raises
    :class:`~eicodec.errors.MismatchError` when the report is not about *source*.
    """
    spec305 = spec or get_spec("AP305", report.spec.version)
    records = iter_retour(source, report, insurer_reference=insurer_reference, return_date=return_date,
                          awards=awards, comments=comments, mode=mode, spec=spec305)
    decl = build_tree(records, spec305)
    decl.encoding = report.encoding if report.encoding not in ("", "str") else "utf-8"
    return decl


def write_retour(source: Declaration | Source, report: Report, target: str | os.PathLike[str] | IO[bytes],
                 *, encoding: str | None = None, **kw: Any) -> None:
    """Build the AP305 and stream it to *target* (path or binary file).

    On an error (such as :class:`~eicodec.errors.MismatchError`, known only at the end)
    nothing stays behind: a path is written through a temporary file, and what was
    written to a seekable file object is cut off again."""
    records = iter_retour(source, report, **kw)
    enc = encoding or _enc(report)
    if isinstance(target, (str, os.PathLike)):
        write_records(records, target, encoding=enc)
        return
    start = _position(target)
    try:
        write_records(records, target, encoding=enc)
    except BaseException:
        if start is not None:
            target.seek(start)
            target.truncate()
        raise


def _position(fh: IO[bytes]) -> int | None:
    """Where a seekable, truncatable *fh* stands; None for a stream."""
    try:
        return fh.tell() if fh.seekable() and hasattr(fh, "truncate") else None
    except (OSError, ValueError, AttributeError):
        return None


def dumps_retour(source: Declaration | Source, report: Report, *, encoding: str | None = None,
                 **kw: Any) -> bytes:
    """The AP305 as bytes."""
    return b"".join(render_records(iter_retour(source, report, **kw), encoding or _enc(report)))


def _enc(report: Report) -> str:
    return report.encoding if report.encoding not in ("", "str") else "utf-8"


# ---------------------------------------------------------------------- reading back

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
    status: str
    codes: tuple[str, ...]
    meanings: tuple[str, ...]
    declared: int
    awarded: int
    return_reference: str = ""


_NEUTRAL = frozenset({"0200", "8059", "8096"})
_HEADER_COPY_SKIP = frozenset({"0102", "0105", "0106", "0107"})


def outcome(ap304: Declaration | Source, ap305: Declaration | Source) -> list[ClaimOutcome]:
    """Per claim line of *ap304*, what *ap305* says became of it.

    Every line of *ap304* whose kenmerk record is ``04`` gets exactly one outcome, in file
    order: also a claim line that is out of place (before its insured, after the
    sluitrecord), short, too long or with fields that do not decode (its amounts then
    count as 0). Records are matched on kenmerk record + identificatie detailrecord and
    must be copies of the AP304's records (as :func:`build_retour` makes them); an AP305
    of another invoice, or with records that are not in the AP304, raises
    :class:`~eicodec.errors.MismatchError`.
    """
    decl = ap304 if isinstance(ap304, Declaration) else read(ap304)
    ret = ap305 if isinstance(ap305, Declaration) else read(ap305)
    if decl.spec.kind != "declaration" or ret.spec.kind != "return" or ret.spec.return_of != decl.spec.standard:
        raise MismatchError(f"{ret.spec.name} is not a return file for {decl.spec.name}")
    n = decl.spec.record_length
    hlay = decl.header.layout
    assert hlay is not None
    header_copy = _as_copied(decl.header.raw, n)
    for f in hlay.fields:
        if f.rubric not in _HEADER_COPY_SKIP and ret.header.raw[f.slice] != header_copy[f.slice]:
            raise MismatchError(f"the return file belongs to another declaration (header rubric {f.rubric} differs)",
                                rubric=f.rubric)
    comment_type = decl.spec.comment
    line_no = next(f.slice for f in decl.spec.layout(comment_type).fields
                   if f.kind == "number" and f.element != "NUM040")
    id_slices = {t: lay.id_field.slice for t, lay in decl.spec.records.items() if lay.id_field is not None}

    def key(rec: Record) -> tuple[str, str, str]:
        """Kenmerk record + identificatie detailrecord (+ regelnummer for a comment)."""
        t = rec.record_type
        idf = id_slices.get(t)
        ident = rec.raw[idf] if idf is not None else ""
        return t, ident, rec.raw[line_no] if t == comment_type else ""

    # Every record of the AP304 in file order, placed or not (a Declaration keeps the
    # records that fit no place in ``unplaced``).
    all_records = sorted([*decl.iter_records(), *decl.unplaced], key=lambda r: r.line or 0)
    originals: dict[tuple[str, str, str], list[Record]] = {}
    for rec in all_records:
        if rec.record_type not in (decl.spec.header, decl.spec.trailer):
            originals.setdefault(key(rec), []).append(rec)
    returned: dict[int, tuple[Record, list[Record]]] = {}
    bad: list[int] = []
    for node in ret.iter_nodes():
        for r in (node.record, *node.comments):
            origs = originals.get(key(r))
            if not origs:
                if r.record_type == comment_type and not _codes(r):
                    continue  # a comment the insurer added
                bad.append(r.line or 0)
            elif not any(r.raw[:n] == _as_copied(o.raw, n) for o in origs):
                bad.append(r.line or 0)
        if node.record.record_type == "04":
            for orig in originals.get(key(node.record), []):
                if node.record.raw[:n] == _as_copied(orig.raw, n) and (orig.line or 0) not in returned:
                    returned[orig.line or 0] = (node.record, node.comments)
                    break
    if bad:
        raise MismatchError(f"{len(bad)} record(s) of the return file are not copies of records of the "
                            f"declaration (first at line {bad[0]})", line=bad[0])
    table = return_codes()
    roles = rules_for(decl.spec).roles
    vecozo_ok = roles.get("vecozo_approved", "8096")
    hdr_codes = _codes(ret.header)
    has_details = bool(ret.groups)
    approved_file = roles.get("approved_file", "8001") in hdr_codes
    return_reference = (_value(ret.header, "insurer_reference") or "").strip()
    ref_slice = decl.spec.field("04", "0445").slice
    out = []
    for rec in all_records:
        if rec.record_type != "04":
            continue
        declared = _value(rec, "declared_amount_signed") or 0
        ref = rec.raw[ref_slice].strip()
        line = rec.line or 0
        codes: tuple[str, ...]
        if line in returned:
            r, comments = returned[line]
            codes = _codes(r)
            comment_codes = {c for cm in comments for c in _codes(cm)}
            if set(codes) == {roles.get("not_assessed", "8002")}:
                status = "not_assessed"
            elif set(codes) - _NEUTRAL or comment_codes - _NEUTRAL:
                status = "rejected"
            elif vecozo_ok in codes:
                status = "rejected_with_file"  # fine, but the whole file went back
            else:
                status = "approved"
            awarded = 0 if status == "rejected_with_file" else _value(r, "awarded_amount_signed") or 0
        elif not has_details and not approved_file and not set(hdr_codes) <= _NEUTRAL:
            status, codes, awarded = "rejected", hdr_codes, 0
        elif approved_file:
            status, codes, awarded = "approved", (), declared
        else:
            status, codes, awarded = "not_returned", (), declared
        out.append(ClaimOutcome(line=line, reference=ref, status=status, codes=codes,
                                meanings=tuple(table.meaning(c) for c in codes),
                                declared=declared, awarded=awarded, return_reference=return_reference))
    return out


def _as_copied(raw: str, n: int) -> str:
    """A record's text as a return file copies it: its first *n* characters, padded."""
    return raw[:n].ljust(n)
