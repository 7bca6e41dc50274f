"""AP305 return files: build them from a validation report.

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
(``comments``); such lines are returned too. :mod:`eicodec.readback` reads an AP305 back
against its AP304 and tells, per claim line, what became of it. Which record is a claim
line, its reference and its amount come from the ``[answer]`` table of the rules.

Both passes stream: memory grows with the largest insured group, not with the file.
"""

from __future__ import annotations

import codecs
import datetime as dt
import itertools
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import attrs
import numpy as np

from .answer_index import GAP, AnswerIndex, stamp_of
from .batches import Batch, _binary, all_digits, digits_value, iter_batches
from .batches import replayable as _replayable
from .codes import return_codes
from .decisions import Award, decided_awards
from .errors import EicodecError, MismatchError
from .findings import Outcome, Report, Status, Verdict, fingerprint_records
from .layouts import KEY_RUBRICS, MessageSpec, ReturnFields, all_specs, spec_of_layout
from .model import Declaration, Record, record_class
from .outputs import atomic_output
from .reader import RecordStream, Source, _looks_like_content, build_tree, fingerprint_bytes, fingerprint_path
from .rules import RuleSet, answer_for, rules_for
from .writer import CRLF, render_records, trailer_from_counts

#: a returned record, or (for write_retour, see _Builder.as_text) just its text
Row = Record | str
#: a row, or the bytes of several rows (CR/LF after each)
Item = Row | bytes

#: an answer reads its ranges (in one go when at most answer_index.GAP bytes apart) up to
#: this much at a time (whole runs of ranges)
_WINDOW = 1 << 22


def value_or_none(rec: Record, key: str) -> Any:
    """A field's value, or None when the record's text does not decode (broken input
    still gets a return file; the broken field is copied as it was)."""
    try:
        return rec.get(key)
    except EicodecError:
        return None


def code_fields(spec: MessageSpec) -> tuple[str, ...]:
    """The return-code fields of return spec *spec* (its ``[return] codes``)."""
    if spec.returns is None:
        raise EicodecError(f"{spec.name} is no return message (its spec has no [return] table)")
    return spec.returns.codes


def codes_of(rec: Record, names: Sequence[str] | None = None) -> tuple[str, ...]:
    """The return codes a return record carries, in order (*names*: the code fields,
    default: those of the record's own spec)."""
    if names is None:
        spec = spec_of_layout(rec.layout) if rec.layout is not None else None
        names = spec.returns.codes if spec is not None and spec.returns is not None else ()
    return tuple(c for c in (value_or_none(rec, n) for n in names) if c)


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
        if not report.header_raw:  # (validated with its spec named: see validate)
            header = report.spec.header
            raise EicodecError("no return file can be made: the declaration has no voorlooprecord, and the "
                               "return file's voorlooprecord copies it", line=1, record_type=header,
                               rubric=report.spec.records[header].fields[0].rubric)
        if mode not in ("insurer", "vecozo"):
            raise ValueError(f"mode must be 'insurer' or 'vecozo', not {mode!r}")
        if mode == "vecozo" and report.status is Status.APPROVED:
            raise EicodecError("VECOZO sends no return file for an approved declaration (STB §6.8.1)")
        if comments and mode == "vecozo":
            raise EicodecError("VECOZO adds no comment records to a return file (STB §6.8.3)")
        self.report = report
        self.spec = spec305
        if spec305.returns is None:
            raise EicodecError(f"{spec305.name} is no return message (its spec has no [return] table)")
        self.ret: ReturnFields = spec305.returns
        self.rules: RuleSet = rules_for(report.spec)
        self.mode = mode
        self.insurer_reference = insurer_reference
        self.return_date = return_date
        self.awards = {k: v if isinstance(v, Award) else Award(int(v)) for k, v in awards.items()}
        table = return_codes()
        if self.ret.awarded_vat is None and any(a.vat is not None for a in self.awards.values()):
            raise EicodecError(f"{spec305.name} has no awarded VAT field: an award's vat cannot be returned")
        for award in self.awards.values():
            for code in award.codes:
                if code not in table:
                    raise EicodecError(f"return code {code!r} is not in the COD954 list in use")
        self.comments = {k: list(v) for k, v in comments.items()}
        roles = self.rules.roles
        self.ok = roles["assessed_ok"]
        self.vecozo_ok = roles["vecozo_approved"]
        self.price = roles["price_correction"]
        self.file_level = report.status is Status.REJECTED_FILE
        self.overflow = False  # a trailer total does not fit its field (see :meth:`check_totals`)
        #: flush_rows gives the text of a returned record made from its input text and the
        #: return fields' tail (a str: the same bytes without a Record each, for writing)
        self.as_text = False
        spec304 = report.spec
        answer = answer_for(spec304)
        #: the claim line's record type, its referentienummer and its signed declared amount
        self.claim_t = claim_t = answer.claim_type(spec304)
        self.ref_slice = spec304.field(claim_t, answer.claim_reference).slice
        self.amount_attr = answer.amount_attr(spec304)
        self.tops = frozenset(spec304.top_types)
        total = spec304.totals[0].rubric if spec304.totals else None
        self.total_attr = f"{spec304.field(spec304.trailer, total).attr}_signed" if total else None
        self.everything = mode == "vecozo" and report.status is Status.REJECTED_RECORDS
        lay04 = spec304.records[claim_t]
        signed = lay04.signed[self.amount_attr]
        self.len04 = lay04.length
        self.a0, self.a1, self.dcpos = ((signed[0].start - 1, signed[0].end, signed[1].start - 1)
                                        if signed is not None else (0, 0, 0))
        self._classes = {t: (lay, record_class(lay)) for t, lay in spec304.records.items()}
        self._encoded: dict[tuple[int, Any], str] = {}  # (id of a field, None or text) -> its encoding
        self._tails: dict[tuple[Any, ...], str] = {}  # (type, codes, amounts) -> the return fields' text
        self._plain_tails: dict[tuple[Any, ...], str] = {}  # (type[, verdict, codes]) -> the same
        ret = self.ret
        claim305 = spec305.layout(claim_t)
        if ret.awarded not in claim305.by_attr:
            from .errors import SpecError
            raise SpecError(f"[return] awarded {ret.awarded!r} is not a field of the claim line's record "
                            f"{claim_t}", spec=spec305.source, record_type=claim_t)
        #: the claim line's return fields as (key, fills its D/C): the calculated amount is
        #: left empty, its D/C filled ("D") only where the return spec makes it mandatory
        calc = claim305.by_attr.get(ret.calculated) if ret.calculated else None
        calc_key = None if calc is None else (
            f"{calc.attr}_signed" if calc.sign and claim305.by_rubric[calc.sign].mandatory == "Y" else calc.attr)
        self.claim_keys: tuple[str | None, str, str | None] = (
            calc_key, f"{ret.awarded}_signed", ret.awarded_vat if ret.awarded_vat in claim305.by_attr else None)
        set_here = {*ret.claim_fields(), *ret.codes}
        set_here |= {claim305.by_rubric[f.sign].attr for f in claim305.fields if f.attr in set_here and f.sign}
        #: whether every field a returned record gets lies after the copied AP304 text
        self.tail_only = all(f.start > spec304.record_length for lay in spec305.records.values()
                             for f in lay.fields if f.attr in set_here)

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
        header_t, trailer_t, claim_t = report.spec.header, report.spec.trailer, self.claim_t

        def tap(it: Iterable[Record]) -> Iterator[Record]:
            for rec in it:
                if tot.header is None and rec.record_type == header_t:
                    tot.header = rec
                yield rec

        def counted(it: Iterable[Record]) -> Iterator[Record]:
            for rec in it:
                t = rec.record_type
                whole = rec.layout is not None and len(rec.raw) == rec.layout.length
                if t == trailer_t and whole and self.total_attr:
                    tot.submitted = value_or_none(rec, self.total_attr)
                if t == claim_t and whole:
                    declared = value_or_none(rec, self.amount_attr) or 0
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

    def walk(self, blocks: Iterable[tuple[list[str], list[str] | None]], tot: _Totals,
             body: bool = True) -> Iterator[Row]:
        """The return body from the input's lines while adding them to *tot*; *blocks* as
        :meth:`RecordStream.blocks` gives them.

        The same records as :meth:`body` over :meth:`scan_through`, without a
        :class:`Record` per line: records are made only for the header and trailer, for
        claim lines whose amount is not plain digits with D or C, and for the top-level
        groups that may return something (a line with an outcome; every group when there
        are corrections or added comments, or in VECOZO's "everything" answer).
        ``body=False``: the totals only."""
        spec = self.report.spec
        layouts = spec.records
        lengths = {t: lay.length for t, lay in layouts.items()}
        outcomes = self.report.outcomes
        pending = iter(outcomes)  # lines with an outcome, ascending
        next_out = next(pending, 0)
        file_rejected = self.report.status is Status.REJECTED_FILE
        approved, rejected_file = Verdict.APPROVED, self.file_level
        awards, comments, corrected = self.awards, self.comments, tot.corrected
        everything = self.everything
        ref_slice = self.ref_slice
        a0, a1, dcpos, len04 = self.a0, self.a1, self.dcpos, self.len04
        header_t, trailer_t, claim_t, tops = spec.header, spec.trailer, self.claim_t, self.tops
        amount_attr = self.amount_attr
        # the top-level group being read: (line, text, end) of its records
        group: list[tuple[int, str, str]] = []
        flush_all = everything or bool(comments) or bool(corrected)
        outs: set[int] = set()  # its lines with an outcome
        lineno = 0

        make = self.make

        def flush() -> Iterator[Row]:
            return self.flush_rows(group, outs, tot, {})

        crlf = itertools.repeat("\r\n")
        for texts, terms in blocks:
            for raw, term in zip(texts, terms or crlf):
                lineno += 1
                t = raw[:2]
                length = lengths.get(t)
                out = lineno == next_out
                if out:
                    next_out = next(pending, 0)
                if t == claim_t and length == len(raw):
                    text = raw[a0:a1]
                    sign = raw[dcpos]
                    if len04 > 0 and text.isascii() and text.isdigit() and (sign == "D" or sign == "C"):
                        declared = -int(text) if sign == "C" else int(text)
                    else:
                        declared = value_or_none(make(lineno, raw, term), amount_attr) or 0
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
                elif t == header_t:
                    if tot.header is None:
                        tot.header = make(lineno, raw, term)
                    continue
                elif t == trailer_t:
                    if self.total_attr and length == len(raw):
                        tot.submitted = value_or_none(make(lineno, raw, term), self.total_attr)
                    continue
                if rejected_file or length is None or not body:
                    continue
                if t in tops:
                    if group and (outs or flush_all):
                        yield from flush()
                    group = []
                    outs = set()
                group.append((lineno, raw, term))
                if out:
                    outs.add(lineno)
        if group and (outs or flush_all):
            yield from flush()

    def batch_walk_ok(self) -> bool:
        """Whether :meth:`walk_batches` can read this spec: two-digit kenmerk records, one
        record length."""
        spec = self.report.spec
        return self.len04 == spec.record_length and all(
            t.isascii() and t.isdigit() and len(t) == 2 and lay.length == spec.record_length
            for t, lay in spec.records.items())

    def walk_batches(self, batches: Iterable[Batch], tot: _Totals, body: bool = True) -> Iterator[Row]:
        """:meth:`walk` over the engine's batches (:func:`~eicodec.batches.iter_batches`):
        the totals by array operations, Python only for the lines of the groups that
        return something (and for claim lines whose amount is not plain)."""
        spec = self.report.spec
        layouts = spec.records
        known = np.array(sorted(int(t) for t in layouts), np.int16)
        head_t, tail_t, t04 = int(spec.header), int(spec.trailer), int(self.claim_t)
        top_ts = np.array([int(t) for t in self.tops], np.int16)
        outcomes = self.report.outcomes
        out_lines = np.fromiter(outcomes, np.int64, len(outcomes))  # ascending
        file_rejected = self.report.status is Status.REJECTED_FILE
        approved, nothing_back = Verdict.APPROVED, self.file_level
        awards, corrected = self.awards, tot.corrected
        flush_all = self.everything or bool(self.comments) or bool(corrected)
        a0, a1, dcpos = self.a0, self.a1, self.dcpos
        group: list[tuple[int, str, str]] = []  # the open top-level group: (line, text, end)
        outs: set[int] = set()  # its lines with an outcome
        d_code, c_code = ord("D"), ord("C")

        make = self.make

        def flush(members: list[tuple[int, str, str]], lines_out: set[int]) -> Iterator[Row]:
            return self.flush_rows(members, lines_out, tot, batch_out)

        for batch in batches:
            n = len(batch)
            first = batch.first
            types, whole = batch.types, batch.length_ok
            terms = batch.terms
            lo, hi = np.searchsorted(out_lines, [first, first + n])
            out_rows = out_lines[lo:hi] - first
            out_mask = np.zeros(n, bool)
            out_mask[out_rows] = True
            batch_out = outcomes.verdicts_of_lines(out_rows + first)  # this batch's outcomes
            if tot.header is None:
                at = np.flatnonzero(types == head_t)
                if len(at):
                    i = int(at[0])
                    tot.header = make(first + i, batch.text(i), terms[i] if terms else "\r\n")
            at = np.flatnonzero((types == tail_t) & whole)
            if len(at) and self.total_attr:
                i = int(at[-1])
                tot.submitted = value_or_none(make(first + i, batch.text(i), terms[i] if terms else "\r\n"),
                                       self.total_attr)
            rows = np.flatnonzero((types == t04) & whole)
            if len(rows):
                f = batch.chars[rows, a0:a1]  # (the amount's characters only, not whole lines)
                sign = batch.chars[rows, dcpos]
                plain = all_digits(f) & ((sign == d_code) | (sign == c_code))
                value = np.where(sign == c_code, -1, 1) * digits_value(f)
                value[~plain] = 0
                for k in np.flatnonzero(~plain):
                    i = int(rows[k])
                    value[k] = value_or_none(make(first + i, batch.text(i), terms[i] if terms else "\r\n"),
                                      self.amount_attr) or 0
                tot.declared += int(value.sum())
                if not file_rejected:
                    ok = np.ones(len(rows), bool)
                    with_out = np.flatnonzero(out_mask[rows])
                    if len(with_out):
                        ok[with_out] = [batch_out[line].verdict is approved
                                        for line in (rows[with_out] + first).tolist()]
                    if awards:
                        for k in np.flatnonzero(ok):
                            i = int(rows[k])
                            declared = int(value[k])
                            ref = batch.text(i)[self.ref_slice].rstrip(" ")
                            award = awards.get(ref)
                            tot.awarded += declared if award is None else award.amount
                            if award is not None and (award.amount != declared or award.codes):
                                corrected.add(ref)
                    else:
                        tot.awarded += int(value[ok].sum())
            if not body or nothing_back:
                continue
            # the detail records (known types but header and trailer), split into groups at
            # each top-level record; group 0 continues the one open from the batch before
            part = np.flatnonzero(np.isin(types, known) & (types != head_t) & (types != tail_t))
            if not len(part):
                continue
            gid = np.cumsum(np.isin(types[part], top_ts))
            is_out = out_mask[part]
            last = int(gid[-1])
            wanted = set(range(1, last + 1)) if flush_all else {int(g) for g in np.unique(gid[is_out])}
            wanted.add(last)  # (the group left open is kept as text: it may go on)
            wanted.discard(0)  # (group 0, the one open before, comes first in any case)

            # the rows of the groups wanted, made into (line, text, end) at once
            order = [0, *sorted(wanted)]
            keep = np.isin(gid, order)
            rows_kept, gid_kept = part[keep], gid[keep]
            lines_kept = (rows_kept + first).tolist()
            ends = [terms[i] for i in rows_kept.tolist()] if terms else itertools.repeat("\r\n")
            kept = list(zip(lines_kept, batch.texts_of(rows_kept), ends))
            out_kept = out_mask[rows_kept].tolist()
            los = np.searchsorted(gid_kept, order, "left").tolist()
            his = np.searchsorted(gid_kept, order, "right").tolist()
            for g, lo, hi in zip(order, los, his):
                if g == 0:
                    group.extend(kept[lo:hi])
                    outs.update(lines_kept[k] for k in range(lo, hi) if out_kept[k])
                    if last == 0:
                        break
                    if group and (outs or flush_all):
                        yield from flush(group, outs)
                    group, outs = [], set()
                    continue
                members = kept[lo:hi]
                lines_out = {lines_kept[k] for k in range(lo, hi) if out_kept[k]}
                if g == last:
                    group, outs = members, lines_out
                else:
                    yield from flush(members, lines_out)
        if group and (outs or flush_all):
            yield from flush(group, outs)

    def declared(self, raw: str) -> int | None:
        """The signed declared amount of a whole claim line's text when its digits and D/C
        are plain (as its signed amount field decodes them); else None."""
        if self.len04 < 0:
            return None
        text = raw[self.a0:self.a1]
        sign = raw[self.dcpos]
        if text.isascii() and text.isdigit() and (sign == "D" or sign == "C"):
            return -int(text) if sign == "C" else int(text)
        return None

    def ref(self, rec: Record) -> str:
        """The claim line's reference (``[answer] claim_reference``); "" for other records."""
        return rec.raw[self.ref_slice].rstrip(" ") if rec.record_type == self.claim_t else ""

    def known_totals(self) -> _Totals | None:
        """The totals of an answer without detail records, from what validation kept
        (``header_raw``, ``trailer_raw``, ``counts``, ``amount_sums``), when they are
        exactly what reading the file again would give; else None.

        That answer is the insurer's to an approved file and anyone's to a file rejected
        as a whole (STB §6.7, §6.9): voorlooprecord and sluitrecord only. Awards or
        added comments may return lines, so they need the file."""
        rep = self.report
        if not (rep.status is Status.REJECTED_FILE or (
                rep.status is Status.APPROVED and self.mode == "insurer" and not len(rep.outcomes))):
            return None
        tot = self._report_totals()
        if tot is not None and rep.status is not Status.APPROVED:
            tot.awarded = 0
        return tot

    def ranged(self) -> tuple[_Totals, AnswerIndex] | None:
        """An insurer's answer to a file with rejected lines, from the byte ranges of the
        returned groups that validation kept (:mod:`eicodec.answer_index`): the totals
        but the awarded one (made while reading the ranges), and the index; None when
        the ranges do not tell all (awards or comments, VECOZO's every record, a file
        not read as regular lines, an outcome outside them, totals not exact)."""
        rep = self.report
        index = rep.answer_index
        if (rep.status is not Status.REJECTED_RECORDS or self.mode != "insurer" or self.everything
                or index is None or not index.complete or index.step != rep.spec.record_length + 2):
            return None
        tot = self._report_totals()
        if tot is None or not index.covers(rep.outcomes.lines_between(0, 1 << 62)):
            return None
        return tot, index

    def _report_totals(self) -> _Totals | None:
        """Header, declared and submitted totals from the report (see :meth:`known_totals`);
        awarded as declared. None when they are not exactly what reading the file gives."""
        rep = self.report
        if self.awards or self.comments or not self.batch_walk_ok() or rep.header_line is None:
            return None
        spec = rep.spec
        declared = rep.amount_sums.get(spec.layout(self.claim_t).signed[self.amount_attr][0].rubric)
        if declared is None:
            return None
        tot = _Totals(header=self.make(rep.header_line, rep.header_raw, "\r\n"), declared=declared,
                      awarded=declared)
        trailers = rep.counts.get(spec.trailer, 0)
        if trailers == 1 and rep.trailer_raw is not None:  # (the one sluitrecord, in its place)
            if self.total_attr and len(rep.trailer_raw) == spec.layout(spec.trailer).length:
                tot.submitted = value_or_none(self.make(0, rep.trailer_raw, "\r\n"), self.total_attr)
        elif trailers:
            return None
        return tot

    def windows(self, fh: IO[bytes], index: AnswerIndex, check: bool = True
                ) -> Iterator[tuple[memoryview, np.ndarray, np.ndarray, np.ndarray]]:
        """The ranges of *index* read from *fh* a window of nearby ranges at a time: the
        window's bytes (whole lines) and its ranges' first lines, numbers of lines and
        offsets in the window; raises :class:`MismatchError` when a range's bytes are not
        those validation read (its CRC-32; ``check=False``: not compared)."""
        step = index.step
        firsts = np.array(index.first, np.int64)
        sizes = np.array(index.count, np.int64)
        offsets = np.array(index.offset, np.int64)
        if not len(firsts):
            return
        ends = offsets + sizes * step
        runs = np.array(index.run_start, np.int64)
        # the run each range belongs to: a window holds whole runs (each is checked whole)
        run_of = np.zeros(len(firsts), np.int64)
        run_of[runs[1:]] = 1
        run_of = np.cumsum(run_of)
        # a new window where the gap to the range before is large, or every _WINDOW bytes
        cut = np.flatnonzero(offsets[1:] - ends[:-1] > GAP) + 1
        bounds = [0, *cut.tolist(), len(firsts)]
        for a, b in itertools.pairwise(bounds):
            part = (offsets[runs[run_of[a:b]]] - offsets[a]) // _WINDOW
            sub = [a, *(np.flatnonzero(part[1:] != part[:-1]) + 1 + a).tolist(), b]
            for lo, hi in itertools.pairwise(sub):
                start, end = int(offsets[lo]), int(ends[hi - 1])
                fh.seek(start)
                view = memoryview(fh.read(end - start))
                if len(view) != end - start:
                    raise MismatchError("the report is not about this declaration (its records differ)")
                rel = offsets[lo:hi] - start
                if check:
                    r0, r1 = int(run_of[lo]), int(run_of[hi - 1]) + 1
                    run_ends = [*runs[r0 + 1:r1].tolist(), hi]
                    for r, ra, rb in zip(range(r0, r1), runs[r0:r1].tolist(), run_ends):
                        if index.run_spans:  # (all its bytes, see AnswerIndex)
                            crc = zlib.crc32(view[int(offsets[ra]) - start:int(ends[rb - 1]) - start],
                                             index.run_from[r])
                        else:  # (its ranges' bytes, one after the other)
                            crc = index.run_from[r]
                            for lo_k, hi_k in zip((offsets[ra:rb] - start).tolist(), (ends[ra:rb] - start).tolist()):
                                crc = zlib.crc32(view[lo_k:hi_k], crc)
                        if crc != index.run_crc[r]:
                            raise MismatchError("the report is not about this declaration (its records differ)")
                yield view, firsts[lo:hi], sizes[lo:hi], rel

    def range_data(self, fh: IO[bytes], index: AnswerIndex) -> Iterator[tuple[int, memoryview]]:
        """(first line, bytes) of each range of *index* (see :meth:`windows`)."""
        step = index.step
        for view, firsts, sizes, rel in self.windows(fh, index):
            for line, count, at in zip(firsts.tolist(), sizes.tolist(), rel.tolist()):
                yield line, view[at:at + count * step]

    def not_awarded(self, pieces: Iterable[tuple[int, memoryview]], outs: Mapping[int, Outcome],
                    step: int) -> int:
        """The declared amounts of the claim lines in *pieces* that are not approved (their
        sum comes off the declared total to make the awarded one); *outs*: the outcomes."""
        claim_t, width = self.claim_t, step - 2
        wanted = self.not_approved_claims(outs)
        total, k, n = 0, 0, len(wanted)
        for first, piece in pieces:  # (ascending, as the lines wanted)
            end = first + len(piece) // step
            while k < n and wanted[k] < first:
                k += 1
            while k < n and wanted[k] < end:
                line = wanted[k]
                k += 1
                at = (line - first) * step
                raw = str(piece[at:at + width], "ascii")
                if raw[:2] != claim_t:
                    continue
                declared = self.declared(raw)
                total += declared if declared is not None else (
                    value_or_none(self.make(line, raw, "\r\n"), self.amount_attr) or 0)
        return total

    def not_approved_claims(self, outs: Mapping[int, Outcome]) -> list[int]:
        """The lines of the claim lines whose outcome is not approved, ascending."""
        approved, claim_t = Verdict.APPROVED, self.claim_t
        return sorted(line for line, o in outs.items() if o.record_type == claim_t and o.verdict is not approved)

    def count_not_approved(self, table: tuple[np.ndarray, np.ndarray, list[tuple[str, Verdict, tuple[str, ...]]]]
                           ) -> int:
        """How many claim lines of an outcomes *table* (:meth:`Outcomes.table`) are not
        approved (:meth:`not_approved_claims` counted, without an outcome per line)."""
        _lines, which, combos = table
        bad = np.array([t == self.claim_t and v is not Verdict.APPROVED for t, v, _codes in combos], bool)
        return int(np.count_nonzero(bad[which])) if len(which) else 0

    def cannot_overflow(self, tot: _Totals, not_approved: int) -> bool:
        """Whether no trailer total can overflow (:meth:`check_totals`) whatever the
        amounts of the *not_approved* claim lines: the awarded total lies within that
        many of the largest claim amounts of the declared one, and within the sum of all
        claim amounts without their D/C (``Report.amount_magnitudes``, where known)."""
        amount = self.report.spec.layout(self.claim_t).signed[self.amount_attr][0]
        most = not_approved * (10 ** amount.length - 1)
        magnitude = self.report.amount_magnitudes.get(amount.rubric)
        if magnitude is not None:
            most = min(most, magnitude)
        return self._fits(self.ret.submitted_total, self.submitted(tot)) and \
            self._fits(self.ret.awarded_total, abs(tot.declared) + most)

    def range_body(self, pieces: Iterable[tuple[int, memoryview]], outs: Mapping[int, Outcome], step: int,
                   tot: _Totals, award: bool = False) -> Iterator[Row]:
        """The returned records of the groups in *pieces* (each range one top-level group;
        the first, up to the first top-level record, the records before any), as
        :meth:`flush_rows` makes them for an insurer's answer without awards or added
        comments: a unit (a record with its comment records) goes back when one of its
        lines has an outcome; with a unit after the first, every unit that is no claim
        line (the insured, a debtor) goes too. *outs*: the outcomes of all lines; with
        *award*, the declared amounts of the claim lines not approved (every one goes
        back) come off ``tot.awarded``."""
        spec = self.report.spec
        comment, claim_t, layouts = spec.comment, self.claim_t, spec.records
        header_t, trailer_t = spec.header, spec.trailer
        width = step - 2
        memo, approved, as_text = self._plain_tails, Verdict.APPROVED, self.as_text
        lay305 = self.spec.layout
        for first, piece in pieces:
            text = str(piece, "ascii")  # (validation read these bytes as ASCII lines)
            units: list[list[Any]] = []  # [(line, text), its comment records, whether it goes back]
            line = first - 1
            for at in range(0, len(text), step):
                line += 1
                raw = text[at:at + width]
                t = raw[:2]
                if t not in layouts or t == header_t or t == trailer_t:
                    continue
                if t == comment:
                    if units:  # (a comment before any unit follows no detail record)
                        units[-1][1].append((line, raw))
                        if line in outs:
                            units[-1][2] = True
                    continue
                units.append([(line, raw), [], line in outs])
            if not any(u[2] for u in units):
                continue
            if any(u[2] for u in units[1:]):  # a returned claim takes its insured (and debtor) along
                for u in units:
                    u[2] = u[2] or u[0][1][:2] != claim_t
            for head, cms, back in units:
                if not back:
                    continue
                if award and head[1][:2] == claim_t:
                    outcome = outs.get(head[0])
                    if outcome is not None and outcome.verdict is not approved:
                        declared = self.declared(head[1])
                        tot.awarded -= declared if declared is not None else (
                            value_or_none(self.make(head[0], head[1], "\r\n"), self.amount_attr) or 0)
                for line, raw in (head, *cms):
                    t = raw[:2]
                    outcome = outs.get(line)
                    key: tuple[Any, ...] | None = None
                    if t != claim_t or (outcome is not None and outcome.verdict is not approved):
                        key = (t, outcome.verdict, outcome.codes) if outcome is not None else (t,)
                        tail = memo.get(key)
                        if tail is not None:
                            yield raw + tail if as_text else Record(lay305(t), raw + tail, line)
                            continue
                    kept, values = self._codes_values(t, raw, outcome, tot,
                                                      lambda: self.make(line, raw, "\r\n"))  # noqa: B023
                    tail = self._tail(t, kept, values)
                    if key is not None and tail is not None:
                        memo[key] = tail
                    if tail is None:
                        yield self.returned(self.make(line, raw, "\r\n"), tot, outs.__contains__)
                    else:
                        yield raw + tail if as_text else Record(lay305(t), raw + tail, line)

    def _window_rows(self, window: tuple[memoryview, np.ndarray, np.ndarray, np.ndarray], step: int,
                     table: tuple[np.ndarray, np.ndarray, list[tuple[str, Verdict, tuple[str, ...]]]]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The lines of a window (:meth:`windows`): its bytes as a (lines, step) array, and
        per line of the ranges its row in that array, line number, range, record type
        (-1: not two digits) and outcome (an index into the outcomes' combinations, -1:
        none)."""
        view, firsts, sizes, rel = window
        rid = np.repeat(np.arange(len(firsts)), sizes)
        k = np.arange(len(rid)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        off = rel[rid] // step + k  # (the window is whole lines)
        lines = firsts[rid] + k
        arr = np.frombuffer(view, np.uint8).reshape(-1, step)
        d0, d1 = arr[off, 0].astype(np.int64) - 48, arr[off, 1].astype(np.int64) - 48
        types = np.where((d0 >= 0) & (d0 <= 9) & (d1 >= 0) & (d1 <= 9), d0 * 10 + d1, -1)
        out_lines, out_which, _ = table
        which = np.full(len(lines), -1, np.int64)
        if len(out_lines):
            at = np.minimum(np.searchsorted(out_lines, lines), len(out_lines) - 1)
            hit = out_lines[at] == lines
            which[hit] = out_which[at[hit]]
        return arr, off, lines, rid, types, which

    def _amounts(self, arr: np.ndarray, off: np.ndarray, lines: np.ndarray) -> int:
        """The sum of the signed declared amounts of the claim lines on rows *off* of *arr*."""
        if not len(off):
            return 0
        f = arr[off, self.a0:self.a1]
        sign = arr[off, self.dcpos]
        d_code, c_code = ord("D"), ord("C")
        plain = all_digits(f) & ((sign == d_code) | (sign == c_code))
        total = int((np.where(sign == c_code, -1, 1) * digits_value(f))[plain].sum())
        for k in np.flatnonzero(~plain).tolist():
            total += self._amount(memoryview(arr[int(off[k]), :self.len04].tobytes()), 0, int(lines[k]))
        return total

    def window_not_awarded(self, window: tuple[memoryview, np.ndarray, np.ndarray, np.ndarray], step: int,
                           table: tuple[np.ndarray, np.ndarray, list[tuple[str, Verdict, tuple[str, ...]]]]) -> int:
        """:meth:`not_awarded` of one window, by array operations."""
        arr, off, lines, _rid, types, which = self._window_rows(window, step, table)
        not_ok = np.array([c[1] is not Verdict.APPROVED for c in table[2]] + [False])
        sel = np.flatnonzero((types == int(self.claim_t)) & not_ok[which])
        return self._amounts(arr, off[sel], lines[sel])

    def range_bytes(self, window: tuple[memoryview, np.ndarray, np.ndarray, np.ndarray], step: int,
                    table: tuple[np.ndarray, np.ndarray, list[tuple[str, Verdict, tuple[str, ...]]]],
                    tot: _Totals, award: bool, counts: dict[str, int]) -> bytes | None:
        """:meth:`range_body` of one window (:meth:`windows`) at once, as the bytes of its
        returned records (CR/LF after each): the units that go back found by array
        operations, the return fields' tail made once per (type, outcome) and Python
        only for a claim line whose tail depends on its amount. Adds to *counts* (and,
        with *award*, takes the claim lines not approved off ``tot.awarded``). None
        when a record does not come out plain (:meth:`range_body` then makes them).
        *table*: the outcomes' lines, combination indices and combinations."""
        spec = self.report.spec
        n, out_len = spec.record_length, self.spec.record_length
        code = np.array([int(t) for t in spec.records], np.int64)
        head_t, tail_t, comment_t, claim = int(spec.header), int(spec.trailer), int(spec.comment), int(self.claim_t)
        arr, off, lines, rid, types, which = self._window_rows(window, step, table)
        m = np.flatnonzero(np.isin(types, code) & (types != head_t) & (types != tail_t))  # the members
        mt, mr = types[m], rid[m]
        head = mt != comment_t  # a unit: a record and the comment records after it (same range)
        uid = np.cumsum(head) - 1
        heads = np.flatnonzero(head)
        valid = uid >= 0
        valid[valid] = mr[heads[uid[valid]]] == mr[valid]  # (a comment before any unit: none)
        back = np.zeros(len(heads), bool)
        back[uid[valid & (which[m] >= 0)]] = True
        u_range = mr[heads]
        first_unit = np.ones(len(heads), bool)  # (the first unit of its range)
        first_unit[1:] = u_range[1:] != u_range[:-1]
        back |= np.isin(u_range, u_range[back & ~first_unit]) & (mt[heads] != claim)  # the insured along
        rows = m[valid & back[np.maximum(uid, 0)]]
        if not len(rows):
            return b""
        combos = table[2]
        rt, rw = types[rows], which[rows]
        not_ok = np.array([c[1] is not Verdict.APPROVED for c in combos] + [False])
        plain = (rt != claim) | not_ok[rw]  # the tail does not depend on the text
        keys = rt * (len(combos) + 1) + (rw + 1)
        uniq, first_at, inv = np.unique(keys[plain], return_index=True, return_inverse=True)
        plain_rows = np.flatnonzero(plain)
        tails: list[bytes] = []
        memo = self._plain_tails
        for key, j in zip(uniq.tolist(), plain_rows[first_at].tolist()):
            t_code, w1 = divmod(key, len(combos) + 1)
            t = f"{t_code:02d}"
            outcome = Outcome(int(lines[rows[j]]), *combos[w1 - 1]) if w1 else None
            memo_key = (t, outcome.verdict, outcome.codes) if outcome is not None else (t,)
            tail = memo.get(memo_key)
            if tail is None:
                tail = self._row_tail(arr[int(off[rows[j]])], int(lines[rows[j]]), t, outcome, tot)
                if tail is None:
                    return None
                memo[memo_key] = tail
            tails.append(tail.encode("ascii"))
        own: dict[int, bytes] = {}  # the other rows' tails (a claim line paid: its amount)
        for j in np.flatnonzero(~plain).tolist():
            w = int(rw[j])
            outcome = Outcome(int(lines[rows[j]]), *combos[w]) if w >= 0 else None
            tail = self._row_tail(arr[int(off[rows[j]])], int(lines[rows[j]]), f"{int(rt[j]):02d}", outcome, tot)
            if tail is None:
                return None
            own[j] = tail.encode("ascii")
        if any(len(t) != out_len - n for t in (*tails, *own.values())):
            return None
        out = np.empty((len(rows), out_len + 2), np.uint8)
        out[:, :n] = arr[off[rows], :n]
        if tails:
            block = np.frombuffer(b"".join(tails), np.uint8).reshape(len(tails), out_len - n)
            out[plain_rows, n:out_len] = block[inv.reshape(-1)]
        for j, tail_bytes in own.items():
            out[j, n:out_len] = np.frombuffer(tail_bytes, np.uint8)
        out[:, out_len] = 13
        out[:, out_len + 1] = 10
        if award:
            sel = rows[(rt == claim) & not_ok[rw]]
            tot.awarded -= self._amounts(arr, off[sel], lines[sel])
        kinds, many = np.unique(rt, return_counts=True)
        for t_code, c in zip(kinds.tolist(), many.tolist()):
            counts[f"{t_code:02d}"] = counts.get(f"{t_code:02d}", 0) + c
        return out.tobytes()

    def _row_tail(self, row: np.ndarray, line: int, t: str, outcome: Outcome | None, tot: _Totals) -> str | None:
        """The return fields' tail of the record whose bytes *row* begins with (ASCII;
        None: not plain)."""
        raw = row[:self.report.spec.record_length].tobytes().decode("ascii")
        kept, values = self._codes_values(t, raw, outcome, tot, lambda: self.make(line, raw, "\r\n"))
        tail = self._tail(t, kept, values)
        return tail if tail is not None and tail.isascii() else None

    def _amount(self, view: memoryview, at: int, line: int) -> int:
        """The signed declared amount of the claim line at *at* in *view*."""
        raw = str(view[at:at + self.len04], "ascii")
        declared = self.declared(raw)
        return declared if declared is not None else (
            value_or_none(self.make(line, raw, "\r\n"), self.amount_attr) or 0)

    # ------------------------------------------------------------ pass B
    def header(self, original: Record, corrections: bool) -> Record:
        rep, roles = self.report, self.rules.roles
        hdr = self.copy(original)
        ret = self.ret
        hdr.set(f"{self.spec.header}02", self.spec.message_code)
        for rubric, value in zip(KEY_RUBRICS[1:], self.spec.key[1:]):  # (the return message's own
            # version: the same as the declaration's, unless that header named none, see the reader)
            f = self.spec.records[self.spec.header].by_rubric.get(rubric)
            if f is not None and hdr.raw[f.start - 1:f.end] != value:
                hdr.raw = hdr.raw[:f.start - 1] + value + hdr.raw[f.end:]
        for attr in ret.cleared:  # e.g. the software fields, not filled by an insurer
            hdr.set(attr, None)
        if ret.insurer_reference:
            hdr.set(ret.insurer_reference, self.insurer_reference or None)
        if ret.return_date:
            hdr.set(ret.return_date, self.return_date)
        if self.file_level:
            found = {f.code for f in rep.file_findings}
            if self.overflow:
                found.add(self.overflow_code)
            codes = sorted(found, key=lambda c: (self.rules.file_code_rank(c), c))
        elif rep.status is Status.APPROVED and not corrections:
            codes = [roles["approved_file"]]
        else:
            codes = [roles["header_records_rejected"]]
        self.set_codes(hdr, codes)
        return hdr

    def copy(self, rec: Record) -> Record:
        """The return record: the original text at its own positions, then the return
        fields (a header of the wrong length is cut or padded to keep them aligned)."""
        lay = self.spec.layout(rec.record_type)
        n = self.report.spec.record_length
        return Record(lay, rec.raw[:n].ljust(n) + lay.blank[n:], rec.line)

    def set_codes(self, rec: Record, codes: Sequence[str]) -> None:
        names = self.ret.codes
        for name, code in zip(names, list(dict.fromkeys(codes))[:len(names)]):
            rec.set(name, code)

    def make(self, line: int, raw: str, term: str) -> Record:
        """The declaration's record of text *raw* on *line*."""
        found = self._classes.get(raw[:2])
        return found[1](found[0], raw, line, term) if found is not None else Record(None, raw, line, term)

    def body(self, records: Iterable[Record], totals: _Totals) -> Iterator[Row]:
        """The returned detail records of *records* (the declaration's, in file order)."""
        if self.file_level:
            for _ in records:  # no detail records go back, but the totals need the trailer
                pass
            return
        spec, outcomes = self.report.spec, self.report.outcomes
        group: list[tuple[int, str, str]] = []  # the top-level group: (line, text, end)
        for rec in records:
            t = rec.record_type
            if t in (spec.header, spec.trailer) or rec.layout is None:
                continue
            if t in self.tops:
                yield from self.flush_rows(group, {ln for ln, _, _ in group if ln in outcomes}, totals, {})
                group = []
            group.append((rec.line or 0, rec.raw, rec.terminator))
        yield from self.flush_rows(group, {ln for ln, _, _ in group if ln in outcomes}, totals, {})

    def _added(self, line: int, raw: str) -> list[str]:
        """The comment texts the insurer adds to the record of *line* (by line number or,
        for a claim line, by its reference), cut into comment records' 140 characters."""
        texts = list(self.comments.get(line, []))
        ref = raw[self.ref_slice].rstrip(" ") if raw[:2] == self.claim_t else ""
        if ref:
            texts += self.comments.get(ref, [])
        out = []
        for text in texts:
            out += [text[i:i + 140] for i in range(0, len(text), 140)] or [""]
        return out

    def returned(self, rec: Record, totals: _Totals, has: Callable[[int], bool] | None = None) -> Record:
        rep = self.report
        copy = self.copy(rec)
        line = rec.line or 0
        outcome = rep.outcomes.get(line) if has is None or has(line) else None
        kept, values = self._codes_values(rec.record_type, rec.raw, outcome, totals, lambda: rec)
        tail = self._tail(rec.record_type, kept, values)
        if tail is None:
            self.fill(copy, values)
            return copy
        n = rep.spec.record_length
        copy.raw = copy.raw[:n] + tail
        return copy

    def _codes_values(self, t: str, raw: str, outcome: Outcome | None, totals: _Totals,
                      record: Callable[[], Record]) -> tuple[tuple[str, ...], list[tuple[str, Any]]]:
        """The return codes (at most three) and the return fields' values of the record of
        type *t* and text *raw* with *outcome* (*record* makes it when a field must be read)."""
        if outcome is not None:
            codes = list(outcome.codes)
        elif self.everything:
            codes = [self.vecozo_ok]
        else:
            codes = [self.ok]
        values: list[tuple[str, Any]] = []
        if t == self.claim_t:
            verdict = Verdict.NOT_ASSESSED if self.report.status is Status.REJECTED_FILE else (
                outcome.verdict if outcome is not None else Verdict.APPROVED)
            ref = raw[self.ref_slice].rstrip(" ")
            award = self.awards.get(ref)
            if award is None:
                declared = self.declared(raw) if len(raw) == self.len04 else None
                award = Award(declared if declared is not None else value_or_none(record(), self.amount_attr) or 0)
            if verdict is Verdict.APPROVED and self.mode == "insurer":
                if ref in totals.corrected:
                    codes = [c for c in codes if c != self.ok] + (list(award.codes) or [self.price])
                amount, vat = award.amount, award.vat
            else:
                amount, vat = 0, None
            calc, awarded, vat_key = self.claim_keys
            values = [(calc, None)] if calc else []
            values.append((awarded, amount))
            if vat_key:
                values.append((vat_key, vat))
        names = self.ret.codes
        kept = tuple(dict.fromkeys(codes))[:len(names)]
        values += list(zip(names, kept))
        return kept, values

    def _tail(self, t: str, kept: tuple[str, ...], values: list[tuple[str, Any]]) -> str | None:
        """The text of the return fields after the copied record (the same values give the
        same tail); None when they do not all lie after it or a value is not plain."""
        n_amounts = len(values) - len(kept) if t == self.claim_t else 0
        amounts = values[:n_amounts]
        if not self.tail_only or any(v is not None and type(v) is not int for _, v in amounts):
            return None
        key = (t, kept, *(v for _, v in amounts))
        tail = self._tails.get(key)
        if tail is None:
            if len(self._tails) >= 4096:
                self._tails.clear()
            n = self.report.spec.record_length
            lay = self.spec.layout(t)
            blank = Record(lay, " " * n + lay.blank[n:], 0)
            self.fill(blank, values)
            tail = self._tails[key] = blank.raw[n:]
        return tail

    def flush_rows(self, members: list[tuple[int, str, str]], lines_out: set[int], totals: _Totals,
                   outcome_of: Mapping[int, Outcome]) -> Iterator[Row]:
        """The returned records of one top-level group, given as (line, text, end) of its
        records; *lines_out*: those of its lines that have an outcome, *outcome_of* some
        of their outcomes (the others are looked up in the report). A returned record is
        made from its text and the tail of its return fields, without a :class:`Record`
        per member; the insurer's added comments follow the record they are about."""
        make = self.make
        comment = self.report.spec.comment
        claim_t, corrected, everything = self.claim_t, totals.corrected, self.everything
        units: list[tuple[tuple[int, str, str], list[tuple[int, str, str]]]] = []
        for m in members:
            if m[1][:2] == comment:
                if units:  # (a comment before any unit follows no detail record)
                    units[-1][1].append(m)
            else:
                units.append((m, []))
        if not units:
            return
        added = [self._added(m[0], m[1]) for m, _ in units] if self.comments else [[]] * len(units)
        returned = [everything or m[0] in lines_out or any(c[0] in lines_out for c in cms)
                    or (m[1][:2] == claim_t and m[1][self.ref_slice].rstrip(" ") in corrected) or bool(more)
                    for (m, cms), more in zip(units, added)]
        if any(returned[1:]):  # a returned claim takes its insured (and debtor) along
            returned = [r or m[1][:2] != claim_t for r, (m, _) in zip(returned, units)]
        n = self.report.spec.record_length
        # the tail of a record that is not a claim line paid as declared or awarded does not
        # depend on its text: once per (type, outcome)
        priced = bool(self.awards) or self.mode == "insurer"
        memo = self._plain_tails
        as_text = self.as_text
        for (m, cms), ret, more in zip(units, returned, added):
            if not ret:
                continue
            for line, raw, term in (m, *cms):
                t = raw[:2]
                outcome = outcome_of.get(line)
                if outcome is None and line in lines_out:  # (a line of an earlier batch)
                    outcome = self.report.outcomes[line]
                key = None
                if t != claim_t or not priced or (outcome is not None and outcome.verdict is not Verdict.APPROVED
                                                  and not self.awards):
                    key = (t, outcome.verdict, outcome.codes) if outcome is not None else (t,)
                    tail = memo.get(key)
                    if tail is not None:
                        yield raw[:n].ljust(n) + tail if as_text else Record(self.spec.layout(t),
                                                                              raw[:n].ljust(n) + tail, line)
                        continue
                kept, values = self._codes_values(t, raw, outcome, totals,
                                                  lambda: make(line, raw, term))  # noqa: B023 (called at once)
                tail = self._tail(t, kept, values)
                if key is not None and tail is not None:
                    memo[key] = tail
                if tail is None:
                    yield self.returned(make(line, raw, term), totals, lines_out.__contains__)
                elif as_text:
                    yield raw[:n].ljust(n) + tail
                else:
                    yield Record(self.spec.layout(t), raw[:n].ljust(n) + tail, line)
            if more:  # numbered on from the record's own comments
                k = max((value_or_none(make(*c), "line_number") or 0 for c in cms), default=0)
                record_id = value_or_none(make(*m), "record_id")
                for text in more:
                    k += 1
                    yield self.spec.new(self.spec.comment, record_id=record_id, line_number=k, text=text)

    def fill(self, rec: Record, values: Sequence[tuple[str, Any]]) -> None:
        """``rec.set(key, value)`` for each pair, in one go (the same text: the fields'
        own encoders; an error is raised by :meth:`Record.set` itself)."""
        lay = rec.layout
        assert lay is not None
        cache = self._encoded
        edits: list[tuple[int, int, str]] = []
        try:
            for key, value in values:
                signed = lay.signed.get(key)
                if signed is not None:
                    amount, dc = signed
                    pairs: list[tuple[Any, object]]
                    if value is None:
                        pairs = [(amount, None), (dc, "D")]
                    elif isinstance(value, bool) or not isinstance(value, int):
                        raise TypeError
                    else:
                        pairs = [(amount, abs(value)), (dc, "C" if value < 0 else "D")]
                else:
                    pairs = [(lay.field(key), value)]
                for f, v in pairs:
                    if f.fixed is not None and v != f.fixed:
                        raise ValueError
                    hit = (id(f), v) if v is None or type(v) is str else None
                    text = cache.get(hit) if hit is not None else None
                    if text is None:
                        text = f.encode(v)
                        if hit is not None:
                            cache[hit] = text
                    edits.append((f.start - 1, f.end, text))
        except Exception:  # noqa: BLE001 - Record.set says what is wrong, the same way
            for key, value in values:
                rec.set(key, value)
            return
        raw = rec.raw
        if edits and len(raw) < max(e for _, e, _ in edits):
            for key, value in values:
                rec.set(key, value)
            return
        edits.sort()
        pieces: list[str] = []
        at = 0
        for start, end, text in edits:
            pieces += (raw[at:start], text)
            at = end
        pieces.append(raw[at:])
        rec.raw = "".join(pieces)

    @property
    def overflow_code(self) -> str:
        """The file-level code of an answer whose totals cannot be written (rules data)."""
        return self.rules.roles.get("total_does_not_fit", self.rules.roles["generic_file_rejection"])

    def _fits(self, attr: str | None, cents: int) -> bool:
        return attr is None or abs(cents) < 10 ** self.spec.field(self.spec.trailer, attr).length

    def submitted(self, totals: _Totals) -> int:
        return totals.submitted if totals.submitted is not None else totals.declared

    def awarded(self, totals: _Totals) -> int:
        return 0 if self.file_level or self.mode == "vecozo" else totals.awarded

    def may_overflow(self) -> bool:
        """Whether the claim lines are many enough for a trailer total not to fit (then
        the totals are gathered in a first pass, before the header is written)."""
        n = self.report.counts.get(self.claim_t, 0)
        line_max = 10 ** self.report.spec.layout(self.claim_t).signed[self.amount_attr][0].length - 1
        room = min((10 ** self.spec.field(self.spec.trailer, a).length - 1
                    for a in (self.ret.submitted_total, self.ret.awarded_total) if a), default=None)
        return room is not None and bool(n * line_max > room)

    def check_totals(self, totals: _Totals) -> None:
        """A total that cannot be written makes the answer a file-level rejection
        (``total_does_not_fit`` in the rules' roles): the return file stays well-formed."""
        if not (self._fits(self.ret.submitted_total, self.submitted(totals))
                and self._fits(self.ret.awarded_total, self.awarded(totals))):
            self.overflow = True
            self.file_level = True
            self.everything = False

    def trailer(self, counts: dict[str, int], totals: _Totals) -> Record:
        base = self.spec.new(self.spec.trailer)
        sub_attr, award_attr = self.ret.submitted_total, self.ret.awarded_total
        submitted = self.submitted(totals)
        if sub_attr:
            base.set_signed(sub_attr, submitted if self._fits(sub_attr, submitted) else 0)
        awarded = self.awarded(totals)
        if award_attr:
            base.set_signed(award_attr, awarded if self._fits(award_attr, awarded) else 0)
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
                spec: MessageSpec | None = None, decisions: Mapping[str, Any] | None = None) -> Iterator[Record]:
    """The AP305 records, header first and trailer last, streamed (see :func:`build_retour`).

    The input is read once (twice with ``awards``). Whether the report is about it is
    known only at the end: :class:`~eicodec.errors.MismatchError` then comes after the
    records before the trailer (:func:`write_retour` leaves no output then)."""
    for item in _answer(source, report, False, insurer_reference=insurer_reference, return_date=return_date,
                        awards=awards, comments=comments, mode=mode, spec=spec, decisions=decisions):
        assert isinstance(item, Record)
        yield item


def _answer(source: Declaration | Source, report: Report, as_text: bool, *, insurer_reference: str | None = None,
            return_date: dt.date | None = None, awards: Mapping[str, Award | int] | None = None,
            comments: Mapping[Any, Sequence[str]] | None = None, mode: str | None = None,
            spec: MessageSpec | None = None, decisions: Mapping[str, Any] | None = None) -> Iterator[Item]:
    """:func:`iter_retour`; with *as_text*, some returned records come as their text alone."""
    if decisions:  # the insurer's own decisions (eicodec.decisions) join the awards
        awards = decided_awards(decisions, awards, source, report, mode or report.mode)
    spec305 = spec or return_spec(report.spec)
    b = _Builder(report, spec305, mode or report.mode, insurer_reference,
                 return_date or report.checked_on or dt.date.today(), awards or {}, comments or {})
    if isinstance(source, Declaration):
        yield from _from_records(b, source, report)
        return
    make, to_close = _replayable(source)
    try:
        known = b.known_totals()
        if known is not None and _unchanged(source, make, report):
            # Nothing but voorlooprecord and sluitrecord goes back: made from what the
            # validation kept, the input read again only for its fingerprint (not at all
            # when its stamp says it is the file validated).
            assert known.header is not None
            b.check_totals(known)
            yield b.header(known.header, False)
            yield b.trailer({}, known)
            return
        ranged = b.ranged()
        if ranged is not None and _unchanged(source, make, report):
            # Rejected lines: their groups read back from the byte ranges validation kept
            # (each checked against its CRC-32 first), the totals from the report.
            b.as_text = as_text  # (ASCII lines: their texts are written as they are)
            yield from _from_ranges(b, make, *ranged)
            return
        # The header must know whether any award corrects an amount: with awards, a first
        # pass gathers the totals; without, they are gathered while the body is written.
        totals = _Totals()
        if b.awards or b.may_overflow():
            with RecordStream(make(), spec=report.spec, defer_check=b.batch_walk_ok()) as stream:
                for _ in b.walk_batches(iter_batches(stream, reopen=make), totals, body=False) \
                        if b.batch_walk_ok() else b.walk(stream.blocks(), totals, body=False):
                    pass
            b.check_totals(totals)
        with RecordStream(make(), spec=report.spec, defer_check=b.batch_walk_ok()) as stream:
            again = _Totals(corrected=set(totals.corrected))
            body = (b.walk_batches(iter_batches(stream, reopen=make), again) if b.batch_walk_ok()
                    else b.walk(stream.blocks(), again))
            head = next(body, None)  # (reads up to the first returned record)
            if again.header is None:
                raise MismatchError("the declaration has no voorlooprecord")
            if report.status is Status.REJECTED_FILE and again.header.raw != report.header_raw:
                raise MismatchError("the report is not about this declaration (its header differs)")
            yield b.header(again.header, bool(again.corrected))
            counts: dict[str, int] = {}
            for rec in itertools.chain([head] if head is not None else [], body):
                t = rec[:2] if isinstance(rec, str) else rec.record_type
                counts[t] = counts.get(t, 0) + 1
                yield rec
            if report.status is not Status.REJECTED_FILE and stream.info.fingerprint != report.fingerprint:
                raise MismatchError("the report is not about this declaration (its records differ)")
        yield b.trailer(counts, again)
    finally:
        for fh in to_close:
            fh.close()


def _from_ranges(b: _Builder, make: Callable[[], Source], tot: _Totals, index: AnswerIndex) -> Iterator[Item]:
    """:func:`iter_retour` from the ranges of *index* (the awarded total: the declared one
    less the claim lines not approved, all of which go back)."""
    binary = _binary(make())
    assert binary is not None  # (validation kept ranges only of input it read as bytes)
    try:
        outcomes = b.report.outcomes
        table = outcomes.table()
        memo: list[dict[int, Outcome]] = []

        def outs() -> dict[int, Outcome]:
            """Every line's outcome, made only where records are built one by one (a dict
            of a big file's lines is most of an answer's memory)."""
            if not memo:
                memo.append(outcomes.verdicts_of_lines(table[0]))
            return memo[0]

        step = index.step
        # one pass when no total can overflow (the header does not wait for the awarded
        # total; a range that differs then stops the answer midway: write_retour leaves
        # nothing behind), else a first pass checks the ranges and takes that total
        once = not b.may_overflow() or b.cannot_overflow(tot, b.count_not_approved(table))
        if not once:
            if b.as_text:
                tot.awarded = tot.declared - sum(b.window_not_awarded(window, step, table)
                                                 for window in b.windows(binary, index, check=False))
            else:
                tot.awarded = tot.declared - b.not_awarded(b.range_data(binary, index), outs(), step)
            b.check_totals(tot)
        assert tot.header is not None
        yield b.header(tot.header, False)
        counts: dict[str, int] = {}
        if not b.file_level and b.as_text and b.spec.record_length == min(
                lay.length for lay in b.spec.records.values()) == max(lay.length for lay in b.spec.records.values()):
            for window in b.windows(binary, index):
                before, awarded = dict(counts), tot.awarded
                block = b.range_bytes(window, step, table, tot, once, counts)
                if block is not None:
                    yield block
                    continue
                counts, tot.awarded = before, awarded  # (a record not plain: made one by one)
                view, firsts, sizes, rel = window
                pieces = [(line, view[at:at + count * step])
                          for line, count, at in zip(firsts.tolist(), sizes.tolist(), rel.tolist())]
                for rec in b.range_body(pieces, outs(), step, tot, award=once):
                    t = rec[:2] if isinstance(rec, str) else rec.record_type
                    counts[t] = counts.get(t, 0) + 1
                    yield rec
        elif not b.file_level:
            for rec in b.range_body(b.range_data(binary, index), outs(), step, tot, award=once):
                t = rec[:2] if isinstance(rec, str) else rec.record_type
                counts[t] = counts.get(t, 0) + 1
                yield rec
        yield b.trailer(counts, tot)
    finally:
        binary.close()


def _unchanged(source: Source, make: Callable[[], Source], report: Report) -> bool:
    """Whether *source* is the input *report* is about: its stamp as validation kept it
    (no reading), else its fingerprint (one CRC-32 pass over its bytes)."""
    index = report.answer_index
    if index is not None and index.stamp is not None and stamp_of(source) == index.stamp:
        return True
    return bool(report.fingerprint) and _fingerprint(make()) == report.fingerprint


def _fingerprint(source: Source) -> str:
    """The fingerprint of *source*'s bytes (as the reader takes it), read in chunks."""
    if isinstance(source, str) and _looks_like_content(source):
        return fingerprint_bytes([source.encode("utf-8", "surrogatepass")])
    if isinstance(source, (bytes, bytearray, memoryview)):
        return fingerprint_bytes([bytes(source)])
    if isinstance(source, (str, os.PathLike)):
        return fingerprint_path(source)
    read = source.read
    return fingerprint_bytes(iter(lambda: read(1 << 20), b""))


def _from_records(b: _Builder, source: Declaration, report: Report) -> Iterator[Row]:
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
        for item in b.body(itertools.chain(first, records), totals):
            t = item[:2] if isinstance(item, str) else item.record_type
            counts[t] = counts.get(t, 0) + 1
            yield item
        yield b.trailer(counts, totals)
    finally:
        close()


def build_retour(source: Declaration | Source, report: Report, *, insurer_reference: str | None = None,
                 return_date: dt.date | None = None, awards: Mapping[str, Award | int] | None = None,
                 comments: Mapping[Any, Sequence[str]] | None = None, mode: str | None = None,
                 spec: MessageSpec | None = None, decisions: Mapping[str, Any] | None = None) -> Declaration:
    """The AP305 :class:`Declaration` answering *source* (an AP304) as *report* says.

    ``mode`` defaults to the report's. ``awards`` maps a claim's referentienummer (0445)
    to an :class:`Award` or a signed amount in cents (default: the declared amount for
    approved lines, zero for the others). ``comments`` maps a referentienummer or a line
    number to texts the insurer adds as comment records (insurer only). ``decisions`` maps
    a referentienummer to the insurer's own decision for reasons outside the file:
    :class:`~eicodec.decisions.Reject` (a claim rejected with a COD954 code) or :class:`Award`. The return
    date is *return_date*, else the date the report checked against. Raises
    :class:`~eicodec.errors.MismatchError` when the report is not about *source*.
    """
    spec305 = spec or return_spec(report.spec)
    records = iter_retour(source, report, insurer_reference=insurer_reference, return_date=return_date,
                          awards=awards, comments=comments, mode=mode, spec=spec305, decisions=decisions)
    decl = build_tree(records, spec305)
    decl.encoding = report.encoding if report.encoding not in ("", "str") else "utf-8"
    return decl


def write_retour(source: Declaration | Source, report: Report, target: str | os.PathLike[str] | IO[bytes],
                 *, encoding: str | None = None, **kw: Any) -> None:
    """Build the AP305 and stream it to *target* (path or binary file).

    On an error (such as :class:`~eicodec.errors.MismatchError`, known only at the end)
    nothing stays behind: a path is written through a temporary file, and what was
    written to a seekable file object is cut off again."""
    enc = encoding or _enc(report)
    records = _answer(source, report, _ascii_kin(enc), **kw)
    if isinstance(target, (str, os.PathLike)):
        with atomic_output(target) as fh:
            _write(records, fh, enc)
        return
    start = _position(target)
    try:
        _write(records, target, enc)
    except BaseException:
        if start is not None:
            target.seek(start)
            target.truncate()
        raise


def _write(items: Iterable[Item], fh: IO[bytes] | list[bytes], encoding: str) -> None:
    """:func:`~eicodec.writer.write_records` to an open file (or a list of chunks), a few
    hundred records a write; a record given as its text alone (ASCII, the record's
    length: see :attr:`_Builder.as_text`) is joined with the others as it is."""
    chunks: list[bytes] = []
    texts: list[str] = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
            if len(texts) < 512:
                continue
        if texts:
            chunks.append((CRLF.join(texts) + CRLF).encode(encoding))
            texts.clear()
        if isinstance(item, bytes):
            chunks.append(item)  # (a window's block: written now, never all held at once)
            _put(fh, chunks)
            continue
        if not isinstance(item, str):
            chunks.extend(render_records([item], encoding))
        if len(chunks) >= 512:
            _put(fh, chunks)
    if texts:
        chunks.append((CRLF.join(texts) + CRLF).encode(encoding))
    if chunks:
        _put(fh, chunks)


def _put(fh: IO[bytes] | list[bytes], chunks: list[bytes]) -> None:
    if isinstance(fh, list):
        fh.extend(chunks)
    else:
        fh.write(b"".join(chunks))
    chunks.clear()


def _position(fh: IO[bytes]) -> int | None:
    """Where a seekable, truncatable *fh* stands; None for a stream."""
    try:
        return fh.tell() if fh.seekable() and hasattr(fh, "truncate") else None
    except (OSError, ValueError, AttributeError):
        return None


def dumps_retour(source: Declaration | Source, report: Report, *, encoding: str | None = None,
                 **kw: Any) -> bytes:
    """The AP305 as bytes."""
    enc = encoding or _enc(report)
    chunks: list[bytes] = []
    _write(_answer(source, report, _ascii_kin(enc), **kw), chunks, enc)
    return b"".join(chunks)


def _ascii_kin(encoding: str) -> bool:
    """Whether *encoding* writes ASCII text as its bytes (the answer's rows may then be
    given as text and bytes: see :attr:`_Builder.as_text`)."""
    try:
        return codecs.lookup(encoding).name in ("utf-8", "ascii", "cp1252", "iso8859-1", "iso8859-15")
    except LookupError:
        return False


def _enc(report: Report) -> str:
    return report.encoding if report.encoding not in ("", "str") else "utf-8"


def as_copied(raw: str, n: int) -> str:
    """A record's text as a return file copies it: its first *n* characters, padded."""
    return raw[:n].ljust(n)


def return_spec(spec: MessageSpec) -> MessageSpec:
    """The shipped return message that answers *spec* (``return_of`` in its spec), same version."""
    for other in all_specs():
        if other.return_of == spec.standard and other.version == spec.version:
            return other
    raise EicodecError(f"no return message for {spec.name} is shipped (a return message names the "
                       f"declaration it answers in its spec's return_of)")
