"""The validator: file-level (STB §6.4.2) and record-level (STB §6.4.3) checks.

:func:`validate` streams the input twice: a cheap first pass collects what must be
unique across the file (record ids, referentienummers, debit lines that a credit line
in the same file credits), the second runs every check one insured group at a time.
Memory grows with the largest group and with the number of rejected records, not with
the file. Every finding carries its COD954 return code (see ``specs/*.rules.toml``).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import io
import os
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import attrs
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from .codecs import is_digits
from .codes import codelist, return_codes, use_return_codes
from .errors import EicodecError
from .layouts import FieldSpec, MessageSpec, RecordLayout, get_spec
from .model import Record
from .reader import RecordStream, Source, _looks_like_content
from .rules import RuleSet, load_rules, rules_for

MODES = ("insurer", "vecozo")
_COD954_LISTS = frozenset({"COD954", "COD955", "COD956"})


class Verdict(str, enum.Enum):
    """What became of a record."""

    APPROVED = "approved"
    REJECTED = "rejected"
    NOT_ASSESSED = "not_assessed"


class Status(str, enum.Enum):
    """What became of the file."""

    APPROVED = "approved"
    REJECTED_RECORDS = "rejected_records"
    REJECTED_FILE = "rejected_file"


def _check_code(instance: Any, attribute: Any, value: str) -> None:
    if not (isinstance(value, str) and len(value) == 4 and value.isdigit()):
        raise ValueError(f"return code must be 4 digits, not {value!r}")
    if value not in return_codes():
        raise ValueError(f"return code {value} is not in the COD954 list in use")


@attrs.frozen(slots=True)
class Finding:
    """One thing wrong with the input, with the COD954 code it is returned with.

    The code is checked against the COD954 list in use when the finding is created.
    ``message`` is English and holds no personal data unless the caller asked for it.
    """

    code: str = attrs.field(validator=_check_code)
    level: str = attrs.field(validator=attrs.validators.in_(("file", "record")))
    line: int | None
    record_type: str | None
    rubric: str | None
    rule: str
    message: str
    provisional: bool = False

    @property
    def meaning(self) -> str:
        """The Dutch COD954 meaning of the code."""
        return return_codes().meaning(self.code)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "level": self.level, "line": self.line,
                "record_type": self.record_type, "rubric": self.rubric, "rule": self.rule,
                "message": self.message, "meaning": self.meaning, "provisional": self.provisional}


@attrs.frozen(slots=True)
class Outcome:
    """What the return file says of one record: its verdict and its codes (max 3 used)."""

    line: int
    record_type: str
    verdict: Verdict
    codes: tuple[str, ...]


@attrs.define
class Report:
    """The result of :func:`validate`.

    ``outcomes`` holds every record the return file carries because of a rejection
    (rejected records and the records that go back with them); a record not in it was
    approved and, in insurer mode, is not returned.
    """

    spec: MessageSpec
    mode: str
    status: Status
    findings: list[Finding]
    outcomes: dict[int, Outcome]
    counts: dict[str, int]
    encoding: str
    fingerprint: str
    header_raw: str
    groups: dict[int, str] = attrs.field(factory=dict)

    @property
    def file_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "file"]

    @property
    def record_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "record"]

    def verdict(self, line: int) -> Verdict:
        """Verdict of the record on *line* (records not in ``outcomes`` were approved)."""
        out = self.outcomes.get(line)
        return out.verdict if out else Verdict.APPROVED

    def codes(self, line: int) -> tuple[str, ...]:
        """Return codes of the record on *line* (empty for an approved record)."""
        out = self.outcomes.get(line)
        return out.codes if out else ()

    def code_counts(self) -> Counter[str]:
        return Counter(f.code for f in self.findings)


# ---------------------------------------------------------------------- checks

@attrs.frozen
class _FieldPlan:
    f: FieldSpec
    code: str
    provisional: bool
    allowed: frozenset[str] | None


class _Checker:
    """Builds findings; knows the rules, the mode and whether values may be shown."""

    def __init__(self, spec: MessageSpec, rules: RuleSet, mode: str, show_values: bool,
                 today: dt.date) -> None:
        self.spec = spec
        self.rules = rules
        self.mode = mode
        self.show_values = show_values
        self.today = today
        self.business = spec.kind == "declaration"
        self.findings: list[Finding] = []
        self.plans: dict[str, list[_FieldPlan]] = {t: self._plan(lay) for t, lay in spec.records.items()}

    def _plan(self, lay: RecordLayout) -> list[_FieldPlan]:
        plans = []
        for f in lay.fields:
            code, prov = self.rules.field_code(f.rubric, lay.type)
            allowed: frozenset[str] | None = None
            if f.codelist:
                if f.codelist in _COD954_LISTS:
                    allowed = None  # checked against the active COD954 table at run time
                else:
                    allowed = codelist(f.codelist)
            if f.allowed is not None:
                allowed = frozenset(f.allowed)
            plans.append(_FieldPlan(f, code, prov, allowed))
        return plans

    def runs(self, rule_id: str) -> bool:
        rule = self.rules.rules.get(rule_id)
        return rule is not None and self.mode in rule.modes

    def add(self, rule_id: str, code: str | None, rec: Record | None, rubric: str | None,
            message: str, *, level: str | None = None, provisional: bool | None = None,
            value: str | None = None) -> Finding:
        rule = self.rules.rules[rule_id]
        if value is not None and self.show_values:
            message = f"{message} (value {value!r})"
        finding = Finding(
            code=code or rule.code, level=level or rule.level,
            line=rec.line if rec is not None else None,
            record_type=(rec.record_type or None) if rec is not None else None, rubric=rubric,
            rule=rule_id, message=message,
            provisional=rule.provisional if provisional is None else provisional)
        self.findings.append(finding)
        return finding

    # -------------------------------------------------------------- per field
    def fields(self, rec: Record, level: str) -> list[Finding]:
        """Generic checks of every field of *rec* (presence, format, lists, reserve)."""
        out: list[Finding] = []
        raw = rec.raw
        rule_id = {"file": "file.header_field" if rec.record_type == self.spec.header
                   else "file.trailer_field", "record": "record.field"}[level]
        for plan in self.plans[rec.record_type]:
            f = plan.f
            text = raw[f.start - 1:f.end]
            problem = self._field_problem(f, text, plan.allowed)
            if problem is None:
                continue
            if f.kind == "reserve":
                if not self.runs("file.reserve"):
                    continue
                out.append(self.add("file.reserve", plan.code, rec, f.rubric,
                                    f"{f.name} ({f.rubric}) {problem}"))
            elif f.element == "NUM040":
                out.append(self.add("file.record_id", plan.code, rec, f.rubric,
                                    f"{f.name} ({f.rubric}) {problem}"))
            else:
                out.append(self.add(rule_id, plan.code, rec, f.rubric, f"{f.name} ({f.rubric}) {problem}",
                                    level=level, provisional=plan.provisional,
                                    value=text if f.kind != "reserve" else None))
        return out

    @staticmethod
    def _field_problem(f: FieldSpec, text: str, allowed: frozenset[str] | None) -> str | None:
        kind = f.kind
        if kind == "reserve":
            return None if text.strip(" ") == "" else "is not blank"
        if f.type == "N":
            if not is_digits(text):
                return "is not numeric"
            empty = text.count("0") == len(text)
            if f.fixed is not None and text != f.fixed:
                return f"is not {f.fixed}"
            if empty:
                # zero is a value for counts, quantities and amounts, not for ids or codes
                if f.mandatory == "Y" and (kind in ("digits", "date", "time") or
                                           kind == "number" and not f.element.startswith("ANT")):
                    return "is missing"
                return None
            if kind == "date":
                try:
                    dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
                except ValueError:
                    return "is not a calendar date (CCYYMMDD)"
            elif kind == "time":
                if not (int(text[:2]) < 24 and int(text[2:]) < 60):
                    return "is not a time of day (HHMM)"
            elif allowed is not None and text not in allowed:
                return "is not in its code list"
            elif f.codelist in _COD954_LISTS and text not in return_codes():
                return "is not a known COD954 code"
            return None
        value = text.rstrip(" ")
        if value == "":
            return "is missing" if f.mandatory == "Y" else None
        if "\r" in value or "\n" in value:
            return "holds a line break"
        if kind == "dc":
            return None if value in ("D", "C") else "is not D or C"
        if f.fixed is not None and text != f.fixed:
            return f"is not {f.fixed}"
        if allowed is not None and value not in allowed:
            return "is not in its code list"
        if f.codelist in _COD954_LISTS and value not in return_codes():
            return "is not a known COD954 code"
        return None


def _bsn_ok(bsn: str) -> bool:
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(int(d) * w for d, w in zip(bsn, weights)) % 11 == 0


def _date(text: str) -> dt.date | None:
    if len(text) != 8 or not is_digits(text) or text == "00000000":
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


# ---------------------------------------------------------------------- pass 1

@attrs.define
class _Prescan:
    dup_id_lines: set[int] = attrs.field(factory=set)
    dup_ref_lines: set[int] = attrs.field(factory=set)
    same_file_credit_lines: set[int] = attrs.field(factory=set)
    same_file_debit_lines: set[int] = attrs.field(factory=set)


def _prescan(records: Iterable[Record], spec: MessageSpec) -> _Prescan:
    """Find what must be unique across the file without keeping the file in memory."""
    result = _Prescan()
    claim = spec.records.get("04")
    ref_f = claim.by_rubric.get("0445") if claim else None
    prev_f = claim.by_rubric.get("0446") if claim else None
    dc_f = claim.by_rubric.get("0444") if claim else None
    id_keys, id_lines = array("q"), array("l")
    last_id: dict[str, int] = {}
    monotonic = True
    ref_hashes, ref_lines, ref_debit = array("q"), array("l"), array("b")
    credit_prev: dict[int, list[int]] = {}
    comment = spec.comment
    for rec in records:
        lay = rec.layout
        if lay is None or len(rec.raw) != lay.length:
            continue
        t = rec.record_type
        idf = lay.id_field
        if idf is not None and t != comment:
            text = rec.raw[idf.start - 1:idf.end]
            if is_digits(text):
                n = int(text)
                if n <= last_id.get(t, -1):
                    monotonic = False
                last_id[t] = n
                id_keys.append(int(t) * 10**13 + n)
                id_lines.append(rec.line or 0)
        if t == "04" and ref_f is not None and prev_f is not None and dc_f is not None:
            ref = rec.raw[ref_f.start - 1:ref_f.end].rstrip(" ")
            dc = rec.raw[dc_f.start - 1:dc_f.end]
            if ref:
                ref_hashes.append(hash(ref))
                ref_lines.append(rec.line or 0)
                ref_debit.append(1 if dc == "D" else 0)
            prev = rec.raw[prev_f.start - 1:prev_f.end].rstrip(" ")
            if dc == "C" and prev:
                credit_prev.setdefault(hash(prev), []).append(rec.line or 0)
    if not monotonic:
        result.dup_id_lines = _duplicates(id_keys, id_lines)
    result.dup_ref_lines = _duplicates(ref_hashes, ref_lines)
    if credit_prev:
        for h, line, debit in zip(ref_hashes, ref_lines, ref_debit):
            if debit and h in credit_prev:
                result.same_file_debit_lines.add(line)
                result.same_file_credit_lines.update(credit_prev[h])
    return result


def _duplicates(keys: array, lines: array) -> set[int]:  # type: ignore[type-arg]
    """Lines whose key occurred on an earlier line too."""
    if len(keys) < 2:
        return set()
    ordered = sorted(keys)
    dup_keys = {a for a, b in zip(ordered, ordered[1:]) if a == b}
    del ordered
    if not dup_keys:
        return set()
    seen: set[int] = set()
    out = set()
    for k, line in zip(keys, lines):
        if k in dup_keys:
            if k in seen:
                out.add(line)
            seen.add(k)
    return out


# ---------------------------------------------------------------------- pass 2

@attrs.define
class _Unit:
    """A detail record with its comments."""

    rec: Record
    comments: list[Record] = attrs.field(factory=list)


@attrs.define
class _Group:
    """An insured person's records (02 + 98s, optional 03 + 98s, 04s + 98s)."""

    head: _Unit
    children: list[_Unit] = attrs.field(factory=list)


class _Validation:
    def __init__(self, spec: MessageSpec, checker: _Checker, pre: _Prescan) -> None:
        self.spec = spec
        self.c = checker
        self.pre = pre
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.header: Record | None = None
        self.trailer: Record | None = None
        self.group: _Group | None = None
        self.last: _Unit | None = None
        self.outcomes: dict[int, Outcome] = {}
        self.groups: dict[int, str] = {}
        self.record_rejections = 0
        self.hasher = hashlib.blake2b(digest_size=16)
        self.header_raw = ""
        self.order = {t: i for i, t in enumerate(spec.records)}
        self.total_rule = spec.totals[0] if spec.totals else None

    # ------------------------------------------------------------ streaming
    def feed(self, rec: Record) -> None:
        c, spec = self.c, self.spec
        self.hasher.update((rec.raw + rec.terminator).encode("utf-8", "surrogatepass"))
        if rec.raw == "":
            c.add("file.line_end", None, rec, None, "empty line: CR/LF without a record")
            return
        if rec.terminator != "\r\n":
            c.add("file.line_end", None, rec, None, "record not followed by CR/LF")
        lay = rec.layout
        if lay is None:
            c.add("file.record_type", None, rec, None, "kenmerk record is not one of the message's record types")
            return
        t = rec.record_type
        self.counts[t] += 1
        length_ok = len(rec.raw) == lay.length
        if not length_ok:
            c.add("file.record_length", None, rec, None,
                  f"record is {len(rec.raw)} characters, expected {lay.length}")
        if self.trailer is not None:
            c.add("file.order", None, rec, None, "record after the sluitrecord")
            return
        if t == spec.header:
            if self.header is not None:
                c.add("file.order", None, rec, None, "second voorlooprecord")
            else:
                self.header = rec
                self.header_raw = rec.raw
                if length_ok:
                    c.fields(rec, "file")
                    self._header_rules(rec)
            return
        if self.header is None:
            c.add("file.order", None, rec, None, "record before the voorlooprecord")
            return
        if t == spec.trailer:
            self._close_group()
            self.trailer = rec
            if length_ok:
                c.fields(rec, "file")
            return
        if length_ok:
            self._id_rules(rec)
            if t == "04" and self.total_rule is not None:
                f = lay.by_rubric.get(self.total_rule.sum)
                if f is not None and f.sign:
                    amount = rec.raw[f.start - 1:f.end]
                    dc = lay.by_rubric[f.sign]
                    if is_digits(amount):
                        self.total += -int(amount) if rec.raw[dc.start - 1] == "C" else int(amount)
        if t == spec.comment:
            if self.last is None:
                c.add("file.order", None, rec, None, "commentaarrecord that follows no detail record")
                return
            self._comment_id(rec, self.last.rec)
            self.last.comments.append(rec)
            return
        unit = _Unit(rec)
        if lay.parent is None:
            self._close_group()
            self.group = _Group(unit)
            self.last = unit
            return
        if self.group is None or self.group.head.rec.record_type != lay.parent:
            c.add("file.order", None, rec, None, f"record {t} outside a record {lay.parent}")
            self.last = None
            return
        kids = self.group.children
        if kids and self.order[kids[-1].rec.record_type] > self.order[t]:
            c.add("file.order", None, rec, None, f"record {t} after record {kids[-1].rec.record_type}")
        if lay.max is not None and sum(1 for k in kids if k.rec.record_type == t) >= lay.max:
            c.add("file.order", None, rec, None, f"more than {lay.max} record(s) {t} for one record {lay.parent}")
        kids.append(unit)
        self.last = unit

    def _id_rules(self, rec: Record) -> None:
        lay = rec.layout
        assert lay is not None
        idf = lay.id_field
        if idf is None or rec.record_type == self.spec.comment:
            return
        if rec.line in self.pre.dup_id_lines:
            self.c.add("file.record_id", None, rec, idf.rubric,
                       f"{idf.name} ({idf.rubric}) is not unique for record type {rec.record_type}")

    def _comment_id(self, rec: Record, parent: Record) -> None:
        idf = rec.layout.id_field if rec.layout else None
        pidf = parent.layout.id_field if parent.layout else None
        if idf is None or pidf is None:
            return
        if rec.raw[idf.start - 1:idf.end] != parent.raw[pidf.start - 1:pidf.end]:
            self.c.add("file.record_id", None, rec, idf.rubric,
                       f"{idf.name} ({idf.rubric}) differs from that of the record it follows")

    def _header_rules(self, rec: Record) -> None:
        c = self.c
        if not c.business:
            return
        raw = rec.raw
        start, end = _date(raw[64:72]), _date(raw[72:80])
        if start and end and end < start and c.runs("file.period"):
            c.add("file.period", None, rec, "0115", "einddatum declaratieperiode is before begindatum")
        payee = {"01": "0109", "02": "0110", "03": "0111", "04": "0112"}.get(raw[62:64])
        if payee is not None and c.runs("file.payee"):
            f = rec.layout.by_rubric[payee]  # type: ignore[union-attr]
            if raw[f.start - 1:f.end].strip("0 ") == "":
                c.add("file.payee", None, rec, "0113",
                      f"identificatiecode betaling aan points at {f.name} ({payee}), which is empty")

    # ------------------------------------------------------------ groups
    def _close_group(self) -> None:
        group = self.group
        self.group = None
        self.last = None
        if group is None:
            return
        spec = self.spec
        head = group.head.rec
        self.groups[head.line or 0] = head.record_type
        for t in spec.children_of(head.record_type):
            lay = spec.records[t]
            if sum(1 for k in group.children if k.rec.record_type == t) < lay.min:
                self.c.add("file.order", None, head, None,
                           f"record {head.record_type} without record {t}")
        self._record_checks(group)

    def _record_checks(self, group: _Group) -> None:
        c = self.c
        before = len(c.findings)
        for unit in (group.head, *group.children):
            for rec in (unit.rec, *unit.comments):
                if rec.layout is not None and len(rec.raw) == rec.layout.length:
                    c.fields(rec, "record")
            self._comment_lines(unit)
        if c.business:
            self._business(group)
        by_line: dict[int, list[Finding]] = {}
        for f in c.findings[before:]:
            if f.level == "record" and f.line is not None:
                by_line.setdefault(f.line, []).append(f)
        if by_line:
            self.record_rejections += 1
            self._verdicts(group, by_line)

    def _comment_lines(self, unit: _Unit) -> None:
        seen: set[str] = set()
        for cm in unit.comments:
            if cm.layout is None or len(cm.raw) != cm.layout.length:
                continue
            f = cm.layout.by_rubric.get("9803")
            if f is None:
                continue
            n = cm.raw[f.start - 1:f.end]
            if n in seen and self.c.runs("record.comment_line"):
                self.c.add("record.comment_line", None, cm, f.rubric, "regelnummer vrije tekst repeats")
            seen.add(n)

    def _business(self, group: _Group) -> None:
        c, pre = self.c, self.pre
        ins = group.head.rec
        if ins.layout is None or len(ins.raw) != ins.layout.length or ins.record_type != "02":
            return
        hdr = self.header
        assert hdr is not None
        r = ins.raw
        bsn, uzovi, number, birth = r[14:23], r[23:27], r[27:42], r[53:61]
        if is_digits(bsn) and bsn != "999999999" and not _bsn_ok(bsn):
            c.add("record.bsn", None, ins, "0203", "BSN fails the 11-proef")
        if bsn == "999999999" and number.strip() == "":
            c.add("record.bsn_dummy", None, ins, "0205",
                  "BSN is 999999999 (no BSN) but verzekerdennummer is empty")
        header_uzovi = hdr.raw[26:30]
        invoice_date, period_end = _date(hdr.raw[92:100]), _date(hdr.raw[72:80])
        debtor_number = r[170:181]
        for unit in group.children:
            rec = unit.rec
            if rec.layout is None or len(rec.raw) != rec.layout.length:
                continue
            x = rec.raw
            if rec.record_type == "03":
                if c.runs("file.debtor_to_insurer") and header_uzovi.strip("0 "):
                    c.add("file.debtor_to_insurer", None, rec, "0301",
                          "debiteurrecord in a file addressed to an insurer (0108 filled)")
                if debtor_number.strip() == "":
                    c.add("record.debtor_number", None, ins, "0223",
                          "debiteurnummer is empty while the insured has a debiteurrecord")
                elif x[14:25] != debtor_number:
                    c.add("record.debtor_number", None, rec, "0303",
                          "debiteurnummer differs from that of the verzekerdenrecord")
                iban = x[259:293].strip()
                if iban:
                    try:
                        IBAN(iban)
                    except (SchwiftyException, ValueError):
                        c.add("record.iban", None, rec, "0325", "IBAN is not valid", value=iban)
                continue
            if rec.record_type != "04":
                continue
            if x[14:23] != bsn:
                c.add("record.claim_insured", "0435", rec, "0403", "BSN differs from that of the verzekerdenrecord")
            elif is_digits(bsn) and bsn != "999999999" and not _bsn_ok(bsn):
                c.add("record.bsn", None, rec, "0403", "BSN fails the 11-proef")
            if x[23:27] != uzovi:
                c.add("record.claim_insured", "0423", rec, "0404", "UZOVI-nummer differs from that of the verzekerdenrecord")
            if x[27:42] != number:
                c.add("record.claim_insured", "0300", rec, "0405",
                      "verzekerdennummer differs from that of the verzekerdenrecord", provisional=True)
            if x[58:66] != birth:
                c.add("record.claim_insured", "8004", rec, "0408",
                      "date of birth differs from that of the verzekerdenrecord", provisional=True)
            service = _date(x[67:75])
            if service is not None:
                if invoice_date is not None and service > invoice_date:
                    c.add("record.claim_date_invoice", None, rec, "0410", "datum prestatie is after dagtekening factuur")
                if period_end is not None and service > period_end or service > c.today:
                    c.add("record.claim_date_period", None, rec, "0410",
                          "datum prestatie is after the declaration period or in the future")
            dc1, dc2 = x[285], x[306]
            if dc1 in "DC" and dc2 in "DC" and dc1 != dc2:
                c.add("record.dc_agree", None, rec, "0444", "debit/credit indicators 0440 and 0444 differ")
            calc, decl = x[277:285], x[298:306]
            if is_digits(calc) and is_digits(decl) and int(calc) and int(calc) < int(decl):
                c.add("record.calculated_amount", None, rec, "0439", "berekend bedrag is lower than declaratiebedrag")
            if dc2 == "C" and x[327:347].strip() == "":
                c.add("record.credit_reference", None, rec, "0446",
                      "credit line without referentienummer voorgaande gerelateerde prestatierecord")
            if rec.line in pre.dup_ref_lines:
                c.add("record.reference_unique", None, rec, "0445", "referentienummer dit prestatierecord is not unique")
            if rec.line in pre.same_file_credit_lines:
                c.add("record.debit_credit_same_file", None, rec, "0446",
                      "credit line for a debit line in the same file")
            if rec.line in pre.same_file_debit_lines:
                c.add("record.debit_credit_same_file", None, rec, "0445",
                      "debit line credited in the same file")
            if c.runs("record.forwarding") and header_uzovi.strip("0 ") and x[57] != "1":
                c.add("record.forwarding", None, rec, "0407",
                      "doorsturen toegestaan must be 1 when the file goes to an insurer")

    def _verdicts(self, group: _Group, by_line: dict[int, list[Finding]]) -> None:
        roles = self.c.rules.roles
        ok, not_assessed = roles.get("assessed_ok", "0200"), roles.get("not_assessed", "8002")
        out = self.outcomes

        def own(rec: Record) -> tuple[str, ...]:
            codes: list[str] = []
            for f in by_line.get(rec.line or -1, []):
                if f.code not in codes:
                    codes.append(f.code)
            return tuple(codes[:3])

        def put(rec: Record, verdict: Verdict, default: str | None) -> None:
            codes = own(rec)
            if codes:
                verdict = Verdict.REJECTED if verdict is not Verdict.NOT_ASSESSED else verdict
            elif default is not None:
                codes = (default,)
            out[rec.line or 0] = Outcome(rec.line or 0, rec.record_type, verdict, codes)

        head = group.head
        # insured level: the 02 and its 03 (STB §6.4.3); claim level: each 04 with its 98s
        claims = [u for u in group.children if u.rec.record_type == "04"]
        top_level = [head, *[u for u in group.children if u.rec.record_type != "04"]]
        vecozo = self.c.mode == "vecozo"
        insured_bad = any(own(r) for u in top_level for r in (u.rec, *u.comments))
        bad_claims = [u for u in claims if any(own(r) for r in (u.rec, *u.comments))]
        if insured_bad:
            put(head.rec, Verdict.REJECTED, ok)
            for u in top_level:
                for r in (u.rec, *u.comments):
                    if r is not head.rec:
                        put(r, Verdict.REJECTED if own(r) else Verdict.APPROVED, ok)
            if not vecozo:  # insurer: the claims of a rejected insured are not assessed
                for u in claims:
                    for r in (u.rec, *u.comments):
                        out[r.line or 0] = Outcome(r.line or 0, r.record_type, Verdict.NOT_ASSESSED,
                                                   (not_assessed,))
                return
        elif bad_claims and not vecozo:
            for u in top_level:  # co-returned with the rejected claims, assessed and fine
                for r in (u.rec, *u.comments):
                    put(r, Verdict.APPROVED, ok)
        for u in bad_claims:
            put(u.rec, Verdict.REJECTED, ok)
            for r in u.comments:
                put(r, Verdict.REJECTED if own(r) else Verdict.APPROVED, ok)

    # ------------------------------------------------------------ the end
    def finish(self) -> None:
        c, spec = self.c, self.spec
        self._close_group()
        if self.trailer is None:
            c.add("file.missing_trailer", None, None, None, "the file has no sluitrecord")
            return
        tr = self.trailer
        if tr.layout is None or len(tr.raw) != tr.layout.length:
            return
        counts = self.counts
        for rubric, types in spec.counts.items():
            f = tr.layout.by_rubric[rubric]
            text = tr.raw[f.start - 1:f.end]
            actual = sum(counts.get(t, 0) for t in types)
            if is_digits(text) and int(text) != actual:
                code, _ = c.rules.field_code(rubric, spec.trailer)
                c.add("file.trailer_count", code, tr, rubric,
                      f"{f.name} ({rubric}) says {int(text)}, the file holds {actual}")
        for rule in spec.totals:
            f = tr.layout.by_rubric[rule.rubric]
            dc = tr.layout.by_rubric[f.sign] if f.sign else None
            text = tr.raw[f.start - 1:f.end]
            if not is_digits(text):
                continue
            stated = int(text) * (-1 if dc is not None and tr.raw[dc.start - 1] == "C" else 1)
            if stated != self.total or (self.total == 0 and dc is not None and tr.raw[dc.start - 1] != "D"):
                c.add("file.trailer_total", None, tr, rule.rubric,
                      f"{f.name} ({rule.rubric}) with its D/C does not equal the signed sum of {rule.sum}")


# ---------------------------------------------------------------------- API

def _replayable(source: Source) -> tuple[Callable[[], Source], list[IO[bytes]]]:
    """A way to open *source* more than once (file objects are spooled if needed)."""
    if isinstance(source, (bytes, bytearray, memoryview, os.PathLike)) or isinstance(source, str):
        return (lambda: source), []
    if hasattr(source, "read"):
        if isinstance(source, io.TextIOBase):
            raise TypeError("pass a binary file object (open(path, 'rb')), not a text one")
        try:
            seekable = bool(source.seekable())
        except Exception:  # noqa: BLE001
            seekable = False
        if seekable:
            start = source.tell()

            def again() -> Source:
                source.seek(start)
                return source
            return again, []
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115
        while chunk := source.read(1 << 20):
            spool.write(chunk)

        def from_spool() -> Source:
            spool.seek(0)
            return spool  # type: ignore[return-value]
        return from_spool, [spool]  # type: ignore[list-item]
    raise TypeError(f"cannot read EI records from {type(source).__name__}")


def validate(source: Source, *, mode: str = "insurer", today: dt.date | None = None,
             codes: str | os.PathLike[str] | None = None, spec: MessageSpec | None = None,
             rules: str | os.PathLike[str] | None = None, encoding: str | None = None,
             show_values: bool = False, progress: Callable[[int], None] | None = None) -> Report:
    """Check *source* (AP304, or AP305 for structure) and return a :class:`Report`.

    ``mode``: ``"insurer"`` (an insurer's checks and return rules) or ``"vecozo"``
    (every record assessed; a record-level rejection rejects the whole file).
    ``today`` is the date dates are checked against (default: today). ``codes`` loads
    an official COD954 list (CSV export) and makes it the list in use. ``rules`` a
    corrected rules file. ``show_values=True`` puts offending values in messages
    (off by default: they may be personal data). ``progress`` is called now and then
    with the number of records checked so far.

    Raises :class:`~eicodec.errors.UnreadableInputError` for input that is no EI file.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if codes is not None:
        use_return_codes(codes)
    opener, to_close = _replayable(source)
    try:
        with RecordStream(opener(), encoding=encoding, spec=spec) as stream:
            found = stream.info.spec
            assert found is not None
            enc = stream.info.encoding
            pre = _prescan(stream, found)
        ruleset = load_rules(rules) if rules is not None else _rules_of(found)
        checker = _Checker(found, ruleset, mode, show_values, today or dt.date.today())
        run = _Validation(found, checker, pre)
        with RecordStream(opener(), encoding=encoding, spec=found) as stream:
            if progress is None:
                for rec in stream:
                    run.feed(rec)
            else:
                for n, rec in enumerate(stream, 1):
                    run.feed(rec)
                    if n % 20000 == 0:
                        progress(n)
        run.finish()
    finally:
        for fh in to_close:
            fh.close()
    findings = checker.findings
    if any(f.level == "file" for f in findings):
        status = Status.REJECTED_FILE
    elif any(f.level == "record" for f in findings):
        status = Status.REJECTED_RECORDS
    else:
        status = Status.APPROVED
    return Report(spec=found, mode=mode, status=status, findings=findings, outcomes=run.outcomes,
                  counts=dict(run.counts), encoding=enc, fingerprint=run.hasher.hexdigest(),
                  header_raw=run.header_raw, groups=run.groups)


def _rules_of(spec: MessageSpec) -> RuleSet:
    try:
        return rules_for(spec)
    except EicodecError:
        if spec.return_of:
            return rules_for(get_spec(spec.return_of, spec.version))
        raise


def fingerprint_records(records: Iterable[Record]) -> str:
    """The fingerprint :func:`validate` gives the same records (to pair reports with files)."""
    h = hashlib.blake2b(digest_size=16)
    for rec in records:
        h.update((rec.raw + rec.terminator).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def iter_rejected(report: Report) -> Iterator[Outcome]:
    """Outcomes of records that were rejected or not assessed, in line order."""
    for line in sorted(report.outcomes):
        out = report.outcomes[line]
        if out.verdict is not Verdict.APPROVED:
            yield out
