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
import functools
import io
import os
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

import re
from itertools import compress, repeat
from operator import is_not

import attrs
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from .codecs import is_digits
from .codes import codelist, return_codes, use_return_codes
from .errors import EicodecError
from .layouts import FieldSpec, MessageSpec, RecordLayout, get_spec
from .model import Record
from .reader import RecordStream, Source, fingerprint_bytes
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
    if value in return_codes().codes:  # the common case: one dict look-up
        return
    if not (isinstance(value, str) and len(value) == 4 and value.isdigit()):
        raise ValueError(f"return code must be 4 digits, not {value!r}")
    raise ValueError(f"return code {value} is not in the COD954 list in use")


def _check_level(instance: Any, attribute: Any, value: str) -> None:
    if value != "record" and value != "file":
        raise ValueError(f"level must be 'file' or 'record', not {value!r}")


@attrs.frozen(slots=True)
class Finding:
    """One thing wrong with the input, with the COD954 code it is returned with.

    The code is checked against the COD954 list in use when the finding is created.
    ``message`` is English and holds no personal data unless the caller asked for it.
    """

    code: str = attrs.field(validator=_check_code)
    level: str = attrs.field(validator=_check_level)
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


class Outcomes(Mapping[int, Outcome]):
    """Line -> :class:`Outcome`, stored compactly (a report of a big rejected file holds
    many of them): each line points at one of the few distinct verdict/code combinations."""

    def __init__(self) -> None:
        self._lines: dict[int, int] = {}
        self._combos: list[tuple[str, Verdict, tuple[str, ...]]] = []
        self._index: dict[tuple[str, Verdict, tuple[str, ...]], int] = {}

    def put(self, line: int, record_type: str, verdict: Verdict, codes: tuple[str, ...]) -> None:
        combo = (record_type, verdict, codes)
        i = self._index.get(combo)
        if i is None:
            i = self._index[combo] = len(self._combos)
            self._combos.append(combo)
        self._lines[line] = i

    def __getitem__(self, line: int) -> Outcome:
        t, verdict, codes = self._combos[self._lines[line]]
        return Outcome(line, t, verdict, codes)

    def __contains__(self, line: object) -> bool:
        return line in self._lines

    def __iter__(self) -> Iterator[int]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Outcomes):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"<Outcomes of {len(self)} records>"


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
    outcomes: Outcomes
    counts: dict[str, int]
    encoding: str
    fingerprint: str
    header_raw: str
    bom: bool = False

    @property
    def file_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "file"]

    @property
    def record_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "record"]

    def verdict(self, line: int) -> Verdict:
        """Verdict of the record on *line* (records not in ``outcomes`` were approved)."""
        return self.outcomes[line].verdict if line in self.outcomes else Verdict.APPROVED

    def codes(self, line: int) -> tuple[str, ...]:
        """Return codes of the record on *line* (empty for an approved record)."""
        return self.outcomes[line].codes if line in self.outcomes else ()

    def code_counts(self) -> Counter[str]:
        return Counter(f.code for f in self.findings)


# ---------------------------------------------------------------------- checks

@attrs.frozen
class _Fast:
    """The compiled fast path of one record layout."""

    pattern: re.Pattern[str]
    dates: tuple[slice, ...]
    sets: tuple[tuple[slice, frozenset[str]], ...]
    diagnose: re.Pattern[str]  # one group per field, set when the field's text is not valid
    always: tuple[tuple[int, slice, frozenset[str] | None, bool], ...]  # (field, slice, ok set
    # or None for a date, date is mandatory): fields the patterns cannot judge alone


@attrs.frozen
class _FieldPlan:
    f: FieldSpec
    code: str
    provisional: bool
    allowed: frozenset[str] | None


class _Checker:
    """Builds findings; knows the rules, the mode and whether values may be shown."""

    def __init__(self, spec: MessageSpec, rules: RuleSet, mode: str, show_values: bool,
                 today: dt.date, fast_path: bool = True) -> None:
        self.spec = spec
        self.rules = rules
        self.mode = mode
        self.show_values = show_values
        self.today = today
        self.business = spec.kind == "declaration"
        self.findings: list[Finding] = []
        self.plans: dict[str, list[_FieldPlan]] = {t: self._plan(lay) for t, lay in spec.records.items()}
        self.fast: dict[str, _Fast] = (
            {t: self._compile(plans) for t, plans in self.plans.items()} if fast_path else {})
        self._date_ok: dict[str, bool] = {}
        self._messages: dict[str, str] = {}

    # -------------------------------------------------------------- fast path
    @staticmethod
    def _compile(plans: list[_FieldPlan]) -> _Fast:
        """One pattern that matches a record exactly when :meth:`_field_problem` finds
        nothing in any field, except calendar validity of dates and membership of large
        code lists (checked separately: a set look-up beats a long alternation)."""
        parts: list[str] = []
        dates = []
        sets: list[tuple[slice, frozenset[str]]] = []
        always: list[int] = []  # fields the pattern cannot judge alone (dates, large lists)
        for i, plan in enumerate(plans):
            f, n = plan.f, plan.f.length
            if f.kind == "date" or (plan.allowed is not None and len(plan.allowed) > 8
                                    and f.kind in ("digits", "text")):
                always.append(i)
            if f.fixed is not None:
                parts.append(re.escape(f.fixed))
                continue
            required = f.mandatory == "Y" and (f.kind in ("digits", "date", "time") or
                                               f.kind == "number" and not f.element.startswith("ANT"))
            if plan.allowed is not None and len(plan.allowed) > 8 and f.kind in ("digits", "text"):
                if f.type == "N":
                    ok = {a for a in plan.allowed if len(a) == n and a.isdigit() and a.isascii()}
                    ok = ok - {"0" * n} if required else ok | {"0" * n}
                else:
                    ok = {a.ljust(n) for a in plan.allowed if 0 < len(a) <= n and a == a.rstrip(" ")}
                    if f.mandatory != "Y":
                        ok.add(" " * n)
                parts.append(f".{{{n}}}")
                sets.append((f.slice, frozenset(ok)))
                continue
            if f.type == "N":
                guard = f"(?!0{{{n}}})" if required else ""
                if f.kind == "time":
                    body = "(?:[01][0-9]|2[0-3])[0-5][0-9]"
                elif plan.allowed is not None and f.kind not in ("date",):
                    alts = sorted({a for a in plan.allowed if len(a) == n and a.isdigit()})
                    alts += [] if required else ["0" * n]
                    body = "(?:" + "|".join(re.escape(a) for a in alts) + ")" if alts else "(?!)"
                elif f.codelist in _COD954_LISTS:
                    body = "(?:" + "|".join(sorted(c for c in return_codes() if len(c) == n)) + ")"
                    body = body if required else f"(?:0{{{n}}}|{body[3:-1]})"
                else:
                    body = f"[0-9]{{{n}}}"
                if f.kind == "date":
                    dates.append(f.slice)
                parts.append(guard + body)
                continue
            if f.kind == "reserve":
                parts.append(f" {{{n}}}")
            elif f.kind == "dc":
                parts.append("[DC]" if f.mandatory == "Y" else "[DC ]")
            else:
                alts_src = None
                if plan.allowed is not None:
                    alts_src = plan.allowed
                elif f.codelist in _COD954_LISTS:
                    alts_src = frozenset(return_codes())
                if alts_src is not None:
                    alts = sorted(re.escape(a) + " " * (n - len(a)) for a in alts_src if 0 < len(a) <= n
                                  and a == a.rstrip(" ") and "\r" not in a and "\n" not in a)
                    if f.mandatory != "Y":
                        alts.append(" " * n)
                    parts.append("(?:" + "|".join(alts) + ")" if alts else "(?!)")
                elif f.mandatory == "Y":  # any character: read lines never hold CR or LF
                    parts.append(f"(?! {{{n}}}).{{{n}}}")
                else:
                    parts.append(f".{{{n}}}")
        diagnose = "".join(f"(?:{part}|(.{{{plan.f.length}}}))" for part, plan in zip(parts, plans))
        ok_sets = {(sl.start, sl.stop): ok for sl, ok in sets}
        checks = tuple((i, plans[i].f.slice, ok_sets.get((plans[i].f.slice.start, plans[i].f.slice.stop)),
                        plans[i].f.mandatory == "Y") for i in always)
        return _Fast(re.compile("".join(parts), re.S), tuple(dates), tuple(sets),
                     re.compile(diagnose, re.S), checks)

    def _dates_ok(self, raw: str, dates: tuple[slice, ...]) -> bool:
        cache = self._date_ok
        for sl in dates:
            text = raw[sl]
            ok = cache.get(text)
            if ok is None:
                ok = text == "00000000" or _date(text) is not None
                if len(cache) > 20_000:
                    cache.clear()
                cache[text] = ok
            if not ok:
                return False
        return True

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
        else:  # the same messages repeat over a big file: keep one copy of each
            message = self._messages.setdefault(message, message)
        finding = Finding(
            code=code or rule.code, level=level or rule.level,
            line=rec.line if rec is not None else None,
            record_type=(rec.record_type or None) if rec is not None else None, rubric=rubric,
            rule=rule_id, message=message,
            provisional=rule.provisional if provisional is None else provisional)
        self.findings.append(finding)
        return finding

    # -------------------------------------------------------------- per field
    def fields(self, rec: Record, level: str, failed_fast: bool = False) -> list[Finding]:
        """Generic checks of every field of *rec* (presence, format, lists, reserve).
        ``failed_fast``: the caller already saw the fast-path pattern fail."""
        out: list[Finding] = []
        raw = rec.raw
        t = raw[:2]
        fast = self.fast.get(t)
        if not failed_fast and fast is not None and fast.pattern.fullmatch(raw) and (
                not fast.dates or self._dates_ok(raw, fast.dates)):
            for sl, ok in fast.sets:
                if raw[sl] not in ok:
                    break
            else:
                return out
        rule_id = "record.field" if level == "record" else (
            "file.header_field" if t == self.spec.header else "file.trailer_field")
        plans = self.plans[t]
        if fast is not None:
            m = fast.diagnose.fullmatch(raw)
            if m is not None:  # only the fields the pattern flags, and dates/long lists that fail
                flagged = set(compress(range(len(plans)), map(is_not, m.groups(), repeat(None))))
                for i, sl, okset, required in fast.always:
                    if i in flagged:
                        continue
                    text = raw[sl]
                    if okset is not None:  # a long code list
                        if text not in okset:
                            flagged.add(i)
                    elif not self._dates_ok(raw, (sl,)) or required and text == "00000000":
                        flagged.add(i)
                plans = [plans[i] for i in sorted(flagged)]
        for plan in plans:
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


@functools.lru_cache(maxsize=65536)
def _bsn_ok(bsn: str) -> bool:
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(int(d) * w for d, w in zip(bsn, weights)) % 11 == 0


@functools.lru_cache(maxsize=65536)
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

    def any(self) -> bool:
        return bool(self.dup_id_lines or self.dup_ref_lines or self.same_file_credit_lines
                    or self.same_file_debit_lines)


class _UniqueScan:
    """Collects, record by record, what must be unique across the file: 9 bytes per claim
    line (a 64-bit hash of its referentienummer and its D/C), and whether the record ids
    increase. Which *lines* are affected is only worked out in the rare case that
    something repeats (:func:`_locate`)."""

    def __init__(self, spec: MessageSpec) -> None:
        self.id_slices = {t: lay.id_field.slice for t, lay in spec.records.items()
                          if lay.id_field is not None and t != spec.comment}
        claim = spec.records.get("04")
        fields = claim.by_rubric if claim is not None else {}
        self.claims = all(r in fields for r in ("0444", "0445", "0446"))
        if self.claims:
            self.ref_s, self.prev_s = fields["0445"].slice, fields["0446"].slice
            self.dc_i = fields["0444"].start - 1
        self.last_id: dict[str, str] = {}
        self.monotonic = True
        self.ref_hashes, self.ref_debit = array("q"), array("b")
        self.credit_prev: set[int] = set()

    def add(self, t: str, raw: str) -> None:
        sl = self.id_slices.get(t)
        if sl is not None:
            text = raw[sl]
            # ids are zero-padded digits of one width: comparing the text compares the
            # numbers (a non-digit id only makes us look closer; the field check flags it)
            if text <= self.last_id.get(t, ""):
                self.monotonic = False
            self.last_id[t] = text
        if t == "04" and self.claims:
            ref = raw[self.ref_s].rstrip(" ")
            dc = raw[self.dc_i]
            if ref:
                self.ref_hashes.append(hash(ref))
                self.ref_debit.append(1 if dc == "D" else 0)
            if dc == "C":
                prev = raw[self.prev_s].rstrip(" ")
                if prev:
                    self.credit_prev.add(hash(prev))

    def suspects(self) -> tuple[set[int], set[int]]:
        """(referentienummer hashes that repeat, debit hashes that a credit line credits)."""
        dups = _repeated(self.ref_hashes)
        credited = {h for h, debit in zip(self.ref_hashes, self.ref_debit)
                    if debit and h in self.credit_prev} if self.credit_prev else set()
        return dups, credited


def _repeated(keys: Iterable[int]) -> set[int]:
    """Keys that occur more than once; a 4 MB bitmap first, exact counts for suspects only."""
    bits = bytearray(1 << 22)
    suspects: set[int] = set()
    for k in keys:
        b = k & 0x1FFFFFF
        byte, bit = b >> 3, 1 << (b & 7)
        if bits[byte] & bit:
            suspects.add(k)
        else:
            bits[byte] |= bit
    if not suspects:
        return set()
    seen: set[int] = set()
    out: set[int] = set()
    for k in keys:
        if k in suspects:
            if k in seen:
                out.add(k)
            seen.add(k)
    return out


def _locate(lines: Callable[[], Iterable[tuple[str, str]]], spec: MessageSpec, scan: _UniqueScan,
            dups: set[int], credited: set[int]) -> _Prescan:
    """The lines behind what :class:`_UniqueScan` found (runs only when something repeats)."""
    out = _Prescan()
    lengths = {t: lay.length for t, lay in spec.records.items()}
    if not scan.monotonic:
        keys = array("q")
        for raw, _term in lines():
            t = raw[:2]
            sl = scan.id_slices.get(t)
            if sl is not None and lengths.get(t) == len(raw):
                text = raw[sl]
                if text.isdigit() and text.isascii():
                    keys.append(int(t) * 10**13 + int(text))
        dup_ids = _repeated(keys)
    else:
        dup_ids = set()
    if not (dups or credited or dup_ids):
        return out
    seen_refs: set[int] = set()
    seen_ids: set[int] = set()
    for line, (raw, _term) in enumerate(lines(), 1):
        t = raw[:2]
        if lengths.get(t) != len(raw):
            continue
        sl = scan.id_slices.get(t)
        if dup_ids and sl is not None:
            text = raw[sl]
            if text.isdigit() and text.isascii():
                key = int(t) * 10**13 + int(text)
                if key in dup_ids:
                    if key in seen_ids:
                        out.dup_id_lines.add(line)
                    seen_ids.add(key)
        if t == "04" and scan.claims:
            ref = raw[scan.ref_s].rstrip(" ")
            dc = raw[scan.dc_i]
            h = hash(ref) if ref else None
            if h is not None and h in dups:
                if h in seen_refs:
                    out.dup_ref_lines.add(line)
                seen_refs.add(h)
            if dc == "D" and h is not None and h in credited:
                out.same_file_debit_lines.add(line)
            if dc == "C":
                prev = raw[scan.prev_s].rstrip(" ")
                if prev and hash(prev) in credited:
                    out.same_file_credit_lines.add(line)
    return out


# ---------------------------------------------------------------------- pass 2

class _Positions:
    """Where the AP304 business rules look, taken from the spec once (never typed in)."""

    def __init__(self, spec: MessageSpec) -> None:
        def at(t: str, rubric: str) -> slice:
            return spec.field(t, rubric).slice

        def pos(t: str, rubric: str) -> int:
            return spec.field(t, rubric).start - 1

        self.hdr_uzovi, self.hdr_start, self.hdr_end = at("01", "0108"), at("01", "0114"), at("01", "0115")
        self.hdr_invoice_date, self.hdr_payee = at("01", "0117"), at("01", "0113")
        self.ins_bsn, self.ins_uzovi = at("02", "0203"), at("02", "0204")
        self.ins_number, self.ins_birth, self.ins_debtor = at("02", "0205"), at("02", "0207"), at("02", "0223")
        self.cl_bsn, self.cl_uzovi, self.cl_number = at("04", "0403"), at("04", "0404"), at("04", "0405")
        self.cl_birth, self.cl_date = at("04", "0408"), at("04", "0410")
        self.cl_forward = pos("04", "0407")
        self.cl_calc, self.cl_calc_dc = at("04", "0439"), pos("04", "0440")
        self.cl_decl, self.cl_decl_dc = at("04", "0443"), pos("04", "0444")
        self.cl_ref, self.cl_prev = at("04", "0445"), at("04", "0446")
        self.db_number, self.db_iban = at("03", "0303"), at("03", "0325")
        # BSN, UZOVI and verzekerdennummer compared in one go where both records hold
        # them side by side, in the same order and widths
        ins, cl = (self.ins_bsn, self.ins_uzovi, self.ins_number), (self.cl_bsn, self.cl_uzovi, self.cl_number)
        side_by_side = all(a.stop == b.start for a, b in ((ins[0], ins[1]), (ins[1], ins[2]), (cl[0], cl[1]),
                                                          (cl[1], cl[2])))
        same_widths = all(a.stop - a.start == b.stop - b.start for a, b in zip(ins, cl))
        self.ins_key = slice(ins[0].start, ins[2].stop) if side_by_side and same_widths else None
        self.cl_key = slice(cl[0].start, cl[2].stop) if side_by_side and same_widths else None

    @classmethod
    def of(cls, spec: MessageSpec) -> _Positions | None:
        """The positions, or None when *spec* lacks a rubric the AP304 rules read."""
        try:
            return cls(spec)
        except KeyError:
            return None


class _Line:
    """A line as the validator sees it: cheaper than a :class:`Record` (no field access)."""

    __slots__ = ("layout", "raw", "line", "terminator")

    def __init__(self, layout: RecordLayout | None, raw: str, line: int, terminator: str) -> None:
        self.layout = layout
        self.raw = raw
        self.line = line
        self.terminator = terminator

    @property
    def record_type(self) -> str:
        return self.raw[:2]


class _Unit:
    """A detail record with its comments."""

    __slots__ = ("rec", "comments")

    def __init__(self, rec: Record) -> None:
        self.rec = rec
        self.comments: list[Record] = []


class _Group:
    """An insured person's records (02 + 98s, optional 03 + 98s, 04s + 98s)."""

    __slots__ = ("head", "children", "counts")

    def __init__(self, head: _Unit) -> None:
        self.head = head
        self.children: list[_Unit] = []
        self.counts: dict[str, int] = {}


class _Validation:
    def __init__(self, spec: MessageSpec, checker: _Checker, pre: _Prescan,
                 scan: _UniqueScan | None = None) -> None:
        self.spec = spec
        self.c = checker
        self.pre = pre
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.header: Record | None = None
        self.trailer: Record | None = None
        self.group: _Group | None = None
        self.last: _Unit | None = None
        self.outcomes = Outcomes()
        self.scan = scan
        self.header_raw = ""
        self.order = {t: i for i, t in enumerate(spec.records)}
        self.children_of = {t: spec.children_of(t) for t in spec.records}.__getitem__
        self.runs_forwarding = checker.runs("record.forwarding")
        self.runs_debtor_to_insurer = checker.runs("file.debtor_to_insurer")
        self.at = _Positions.of(spec) if checker.business else None
        self.dup_ids = pre.dup_id_lines
        self.id_slices = {t: lay.id_field.slice for t, lay in spec.records.items() if lay.id_field is not None}
        cl = spec.records[spec.comment].id_field
        self.comment_id = cl.slice if cl is not None else slice(0, 0)
        self.total_slices: dict[str, tuple[slice, int]] = {}
        for rule in spec.totals:
            for t, lay in spec.records.items():
                f = lay.by_rubric.get(rule.sum)
                if f is not None and f.sign:
                    self.total_slices[t] = (f.slice, lay.by_rubric[f.sign].start - 1)

    # ------------------------------------------------------------ streaming
    def feed(self, rec: Record) -> None:
        c, spec = self.c, self.spec
        raw = rec.raw
        if not raw:
            c.add("file.line_end", None, rec, None, "empty line: CR/LF without a record")
            return
        if rec.terminator != "\r\n":
            c.add("file.line_end", None, rec, None, "record not followed by CR/LF")
        lay = rec.layout
        if lay is None:
            c.add("file.record_type", None, rec, None, "kenmerk record is not one of the message's record types")
            return
        t = raw[:2]
        counts = self.counts
        counts[t] = counts.get(t, 0) + 1
        length_ok = len(raw) == lay.length
        if not length_ok:
            c.add("file.record_length", None, rec, None,
                  f"record is {len(raw)} characters, expected {lay.length}")
        if self.trailer is not None:
            c.add("file.order", None, rec, None, "record after the sluitrecord")
            return
        if t == spec.header:
            if self.header is not None:
                c.add("file.order", None, rec, None, "second voorlooprecord")
            else:
                self.header = rec
                self.header_raw = raw
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
            if self.scan is not None:
                self.scan.add(t, raw)
            if self.dup_ids and rec.line in self.dup_ids:
                self._id_rules(rec)
            total = self.total_slices.get(t)
            if total is not None:
                amount = raw[total[0]]
                if amount.isdigit() and amount.isascii():
                    self.total += -int(amount) if raw[total[1]] == "C" else int(amount)
        if t == spec.comment:
            last = self.last
            if last is None:
                c.add("file.order", None, rec, None, "commentaarrecord that follows no detail record")
                return
            sl = self.id_slices.get(last.rec.raw[:2])
            if sl is not None and length_ok and raw[self.comment_id] != last.rec.raw[sl]:
                idf = lay.id_field
                assert idf is not None
                c.add("file.record_id", None, rec, idf.rubric,
                      f"{idf.name} ({idf.rubric}) differs from that of the record it follows")
            last.comments.append(rec)
            return
        unit = _Unit(rec)
        parent = lay.parent
        if parent is None:
            self._close_group()
            self.group = _Group(unit)
            self.last = unit
            return
        group = self.group
        if group is None or group.head.rec.raw[:2] != parent:
            c.add("file.order", None, rec, None, f"record {t} outside a record {parent}")
            self.last = None
            return
        kids = group.children
        if kids and self.order[kids[-1].rec.raw[:2]] > self.order[t]:
            c.add("file.order", None, rec, None, f"record {t} after record {kids[-1].rec.raw[:2]}")
        n = group.counts.get(t, 0)
        if lay.max is not None and n >= lay.max:
            c.add("file.order", None, rec, None, f"more than {lay.max} record(s) {t} for one record {parent}")
        group.counts[t] = n + 1
        kids.append(unit)
        self.last = unit

    def _id_rules(self, rec: Record) -> None:
        lay = rec.layout
        assert lay is not None
        idf = lay.id_field
        if idf is None or rec.raw[:2] == self.spec.comment:
            return
        if rec.line in self.pre.dup_id_lines:
            self.c.add("file.record_id", None, rec, idf.rubric,
                       f"{idf.name} ({idf.rubric}) is not unique for record type {rec.record_type}")

    def _header_rules(self, rec: Record) -> None:
        c, at = self.c, self.at
        if at is None:
            return
        raw = rec.raw
        start, end = _date(raw[at.hdr_start]), _date(raw[at.hdr_end])
        if start and end and end < start and c.runs("file.period"):
            c.add("file.period", None, rec, "0115", "einddatum declaratieperiode is before begindatum")
        payee = c.rules.payee_rubrics.get(raw[at.hdr_payee])
        if payee is not None and c.runs("file.payee"):
            f = rec.layout.by_rubric[payee]  # type: ignore[union-attr]
            if raw[f.slice].strip("0 ") == "":
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
        for t in self.children_of(head.raw[:2]):
            lay = spec.records[t]
            if group.counts.get(t, 0) < lay.min:
                self.c.add("file.order", None, head, None,
                           f"record {head.record_type} without record {t}")
        self._record_checks(group)

    def _record_checks(self, group: _Group) -> None:
        c = self.c
        before = len(c.findings)
        fields = c.fields
        fast = c.fast.get
        dates_ok = c._dates_ok
        units = group.children
        units.insert(0, group.head)
        for unit in units:
            for rec in (unit.rec, *unit.comments) if unit.comments else (unit.rec,):
                raw = rec.raw
                if len(raw) != rec.layout.length:  # type: ignore[union-attr]
                    continue  # a file-level finding already; its fields are not read
                plan = fast(raw[:2])
                if plan is not None and plan.pattern.fullmatch(raw) and (
                        not plan.dates or dates_ok(raw, plan.dates)):
                    for sl, ok in plan.sets:
                        if raw[sl] not in ok:
                            fields(rec, "record", True)
                            break
                    continue
                fields(rec, "record", True)  # the field-by-field path finds what is wrong
            if len(unit.comments) > 1:
                self._comment_lines(unit)
        del units[0]
        if c.business:
            self._business(group)
        by_line: dict[int, list[Finding]] = {}
        for f in c.findings[before:]:
            if f.level == "record" and f.line is not None:
                by_line.setdefault(f.line, []).append(f)
        if by_line:
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
        c, pre, at = self.c, self.pre, self.at
        ins = group.head.rec
        r = ins.raw
        if at is None or r[:2] != "02" or len(r) != ins.layout.length:  # type: ignore[union-attr]
            return
        hdr = self.header
        assert hdr is not None
        bsn, uzovi, number, birth = r[at.ins_bsn], r[at.ins_uzovi], r[at.ins_number], r[at.ins_birth]
        key_in, key_cl = at.ins_key, at.cl_key
        key = r[key_in] if key_in is not None else None
        cl_bsn, cl_uzovi, cl_number, cl_birth, cl_date = at.cl_bsn, at.cl_uzovi, at.cl_number, at.cl_birth, at.cl_date
        cl_calc, cl_calc_dc, cl_decl, cl_decl_dc = at.cl_calc, at.cl_calc_dc, at.cl_decl, at.cl_decl_dc
        cl_prev, cl_forward = at.cl_prev, at.cl_forward
        bsn_bad = bsn != "999999999" and bsn.isdigit() and bsn.isascii() and not _bsn_ok(bsn)
        if bsn_bad:
            c.add("record.bsn", None, ins, "0203", "BSN fails the 11-proef")
        if bsn == "999999999" and number.strip() == "":
            c.add("record.bsn_dummy", None, ins, "0205",
                  "BSN is 999999999 (no BSN) but verzekerdennummer is empty")
        h = hdr.raw
        to_insurer = h[at.hdr_uzovi].strip("0 ") != ""
        invoice_date, period_end = _date(h[at.hdr_invoice_date]), _date(h[at.hdr_end])
        today = c.today
        debtor_number = r[at.ins_debtor]
        dup_refs, credits, debits = pre.dup_ref_lines, pre.same_file_credit_lines, pre.same_file_debit_lines
        forwarding = to_insurer and self.runs_forwarding
        for unit in group.children:
            rec = unit.rec
            x = rec.raw
            t = x[:2]
            if len(x) != rec.layout.length:  # type: ignore[union-attr]
                continue
            if t == "04":
                if key is None or key_cl is None or x[key_cl] != key:  # BSN, UZOVI, verzekerdennummer at once; drill down
                    if x[cl_bsn] != bsn:
                        c.add("record.claim_insured", "0435", rec, "0403",
                              "BSN differs from that of the verzekerdenrecord")
                    if x[cl_uzovi] != uzovi:
                        c.add("record.claim_insured", "0423", rec, "0404",
                              "UZOVI-nummer differs from that of the verzekerdenrecord")
                    if x[cl_number] != number:
                        c.add("record.claim_insured", "0300", rec, "0405",
                              "verzekerdennummer differs from that of the verzekerdenrecord", provisional=True)
                if bsn_bad and x[cl_bsn] == bsn:
                    c.add("record.bsn", None, rec, "0403", "BSN fails the 11-proef")
                if x[cl_birth] != birth:
                    c.add("record.claim_insured", "8004", rec, "0408",
                          "date of birth differs from that of the verzekerdenrecord", provisional=True)
                service = _date(x[cl_date])
                if service is not None:
                    if invoice_date is not None and service > invoice_date:
                        c.add("record.claim_date_invoice", None, rec, "0410",
                              "datum prestatie is after dagtekening factuur")
                    if period_end is not None and service > period_end or service > today:
                        c.add("record.claim_date_period", None, rec, "0410",
                              "datum prestatie is after the declaration period or in the future")
                dc1, dc2 = x[cl_calc_dc], x[cl_decl_dc]
                if dc1 != dc2 and dc1 in "DC" and dc2 in "DC":
                    c.add("record.dc_agree", None, rec, "0444", "debit/credit indicators 0440 and 0444 differ")
                calc = x[cl_calc]
                if calc.strip("0"):
                    decl = x[cl_decl]
                    if calc < decl and calc.isdigit() and decl.isdigit():
                        c.add("record.calculated_amount", None, rec, "0439",
                              "berekend bedrag is lower than declaratiebedrag")
                if dc2 == "C" and x[cl_prev].strip() == "":
                    c.add("record.credit_reference", None, rec, "0446",
                          "credit line without referentienummer voorgaande gerelateerde prestatierecord")
                line = rec.line
                if dup_refs and line in dup_refs:
                    c.add("record.reference_unique", None, rec, "0445",
                          "referentienummer dit prestatierecord is not unique")
                if credits and line in credits:
                    c.add("record.debit_credit_same_file", None, rec, "0446",
                          "credit line for a debit line in the same file")
                if debits and line in debits:
                    c.add("record.debit_credit_same_file", None, rec, "0445", "debit line credited in the same file")
                if forwarding and x[cl_forward] != "1":
                    c.add("record.forwarding", None, rec, "0407",
                          "doorsturen toegestaan must be 1 when the file goes to an insurer")
            elif t == "03":
                if to_insurer and self.runs_debtor_to_insurer:
                    c.add("file.debtor_to_insurer", None, rec, "0301",
                          "debiteurrecord in a file addressed to an insurer (0108 filled)")
                if debtor_number.strip() == "":
                    c.add("record.debtor_number", None, ins, "0223",
                          "debiteurnummer is empty while the insured has a debiteurrecord")
                elif x[at.db_number] != debtor_number:
                    c.add("record.debtor_number", None, rec, "0303",
                          "debiteurnummer differs from that of the verzekerdenrecord")
                iban = x[at.db_iban].strip()
                if iban:
                    try:
                        IBAN(iban)
                    except (SchwiftyException, ValueError):
                        c.add("record.iban", None, rec, "0325", "IBAN is not valid", value=iban)

    def _verdicts(self, group: _Group, by_line: dict[int, list[Finding]]) -> None:
        roles = self.c.rules.roles
        ok, not_assessed = roles.get("assessed_ok", "0200"), roles.get("not_assessed", "8002")
        out = self.outcomes

        codes_of = {line: tuple(dict.fromkeys(f.code for f in fs))[:3] for line, fs in by_line.items()}
        empty: tuple[str, ...] = ()

        def own(rec: Record) -> tuple[str, ...]:
            return codes_of.get(rec.line or -1, empty)

        def put(rec: Record, verdict: Verdict, default: str | None) -> None:
            codes = own(rec)
            if codes:
                verdict = Verdict.REJECTED if verdict is not Verdict.NOT_ASSESSED else verdict
            elif default is not None:
                codes = (default,)
            out.put(rec.line or 0, rec.record_type, verdict, codes)

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
                        out.put(r.line or 0, r.record_type, Verdict.NOT_ASSESSED, (not_assessed,))
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
             show_values: bool = False, progress: Callable[[int], None] | None = None,
             fast_path: bool = True) -> Report:
    """Check *source* (AP304, or AP305 for structure) and return a :class:`Report`.

    ``mode``: ``"insurer"`` (an insurer's checks and return rules) or ``"vecozo"``
    (every record assessed; a record-level rejection rejects the whole file).
    ``today`` is the date dates are checked against (default: today). ``codes`` loads
    an official COD954 list (CSV export) and makes it the list in use. ``rules`` a
    corrected rules file. ``show_values=True`` puts offending values in messages
    (off by default: they may be personal data). ``progress`` is called now and then
    with the number of records checked so far. ``fast_path=False`` checks every field one
    by one instead of with the compiled per-layout pattern (same findings, slower; for
    testing the fast path).

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
            info = stream.info
            ruleset = load_rules(rules) if rules is not None else _rules_of(found)

            def checker_() -> _Checker:
                return _Checker(found, ruleset, mode, show_values, today or dt.date.today(), fast_path)

            checker = checker_()
            run = _Validation(found, checker, _Prescan(), _UniqueScan(found))
            _feed(run, stream, progress)
        assert run.scan is not None
        scan = run.scan

        def raw_lines() -> Iterator[tuple[str, str]]:
            return RecordStream(opener(), encoding=encoding, spec=found).raw_lines()

        dups, credited = scan.suspects()
        pre = _locate(raw_lines, found, scan, dups, credited) if (
            not scan.monotonic or dups or credited) else _Prescan()
        if pre.any():
            # Rare: duplicates or a debit credited in the same file. Check again, now
            # knowing them, so that the affected groups get their verdicts right.
            checker = checker_()
            run = _Validation(found, checker, pre)
            with RecordStream(opener(), encoding=encoding, spec=found) as stream:
                _feed(run, stream, progress)
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
                  counts=dict(run.counts), encoding=info.encoding, fingerprint=info.fingerprint,
                  header_raw=run.header_raw, bom=info.bom)


def _feed(run: _Validation, stream: RecordStream, progress: Callable[[int], None] | None) -> None:
    feed = run.feed
    layouts = run.spec.records.get
    n = 0
    for raw, term in stream.raw_lines():
        n += 1
        feed(_Line(layouts(raw[:2]), raw, n, term))  # type: ignore[arg-type]
        if progress is not None and n % 20000 == 0:
            progress(n)
    run.finish()


def _validate_path(source: Any, kwargs: dict[str, Any]) -> Report:
    return validate(source, **kwargs)


def validate_many(sources: Iterable[Source], *, jobs: int | None = None, **kwargs: Any) -> Iterator[Report]:
    """Validate several files in parallel processes; yields their reports in order.

    *sources* are paths or bytes; *kwargs* are those of :func:`validate`; ``jobs`` is
    the number of processes (default: the number of CPUs). An unreadable file raises
    :class:`~eicodec.errors.UnreadableInputError` when its turn comes.
    """
    import concurrent.futures

    sources = list(sources)
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(sources) < 2:
        for src in sources:
            yield validate(src, **kwargs)
        return
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(jobs, len(sources))) as pool:
        futures = [pool.submit(_validate_path, src, kwargs) for src in sources]
        for fut in futures:
            yield fut.result()


def _rules_of(spec: MessageSpec) -> RuleSet:
    try:
        return rules_for(spec)
    except EicodecError:
        if spec.return_of:
            return rules_for(get_spec(spec.return_of, spec.version))
        raise


def fingerprint_records(records: Iterable[Record], encoding: str = "utf-8", bom: bool = False) -> str:
    """The fingerprint of the file *records* make (as :func:`validate` reports it)."""
    enc = "utf-8" if encoding in ("", "str") else encoding

    def chunks() -> Iterator[bytes]:
        if bom:
            yield b"\xef\xbb\xbf"
        for rec in records:
            yield (rec.raw + rec.terminator).encode(enc, "surrogatepass")
    return fingerprint_bytes(chunks())
