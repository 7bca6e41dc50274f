"""The validator: file-level (STB §6.4.2) and record-level (STB §6.4.3) checks.

:func:`validate` streams the input once, one insured group at a time, checking each
group with patterns compiled from the spec (:class:`_GroupPlan`) and wording findings
record by record only where a pattern objects. Along the way it keeps 64-bit hashes of
what must be unique across the file (record ids, referentienummers, debit lines that a
credit line in the same file credits); only when something repeats is the file read
again to find the lines and checked once more knowing them. Memory grows with the
largest group and with the number of rejected records, not with the file. Every
finding carries its COD954 return code (see ``specs/*.rules.toml``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import functools
import io
import os
import re
import tempfile
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import compress, repeat
from operator import is_not, itemgetter
from typing import IO, Any, Literal, NamedTuple

import attrs
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from . import patterns
from .codecs import is_digits
from .codes import codelist, return_codes, use_return_codes
from .errors import EicodecError
from .layouts import FieldSpec, MessageSpec, RecordLayout, get_spec
from .model import Record
from .reader import RecordStream, Source, fingerprint_bytes
from .rules import RuleSet, load_rules, rules_for

Mode = Literal["insurer", "vecozo"]  # how a file is judged: see validate()
MODES: tuple[Mode, ...] = ("insurer", "vecozo")
_PROGRESS_EVERY = 20_000
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
    many of them): two arrays sorted by line, each line pointing at one of the few
    distinct verdict/code combinations."""

    def __init__(self) -> None:
        self._lines = array("q")
        self._which = array("l")
        self._combos: list[tuple[str, Verdict, tuple[str, ...]]] = []
        self._index: dict[tuple[str, str, tuple[str, ...]], int] = {}
        self._cursor = 0

    def put(self, line: int, record_type: str, verdict: Verdict, codes: tuple[str, ...]) -> None:
        key = (record_type, verdict._value_, codes)
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self._combos)
            self._combos.append((record_type, verdict, codes))
        lines = self._lines
        if not lines or line > lines[-1]:  # (lines mostly come in order)
            lines.append(line)
            self._which.append(i)
            return
        k = bisect.bisect_left(lines, line)
        if k < len(lines) and lines[k] == line:
            self._which[k] = i
        else:
            lines.insert(k, line)
            self._which.insert(k, i)

    def _find(self, line: object) -> int:
        if not isinstance(line, int):
            return -1
        lines = self._lines
        n = len(lines)
        k = self._cursor  # where the last look-up ended: look-ups in file order cost O(1)
        if not (k <= n and (k == 0 or lines[k - 1] < line) and (k == n or line <= lines[k])):
            k = self._cursor = bisect.bisect_left(lines, line)
        return k if k < n and lines[k] == line else -1

    def __getitem__(self, line: int) -> Outcome:
        k = self._find(line)
        if k < 0:
            raise KeyError(line)
        t, verdict, codes = self._combos[self._which[k]]
        return Outcome(line, t, verdict, codes)

    def __contains__(self, line: object) -> bool:
        return self._find(line) >= 0

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
    mode: Mode
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

    def to_dict(self, *, file: str | None = None, show_values: bool = False) -> dict[str, Any]:
        """The report as JSON-ready data: exactly what ``eicodec validate --format json``
        prints (see :mod:`eicodec.report_json` and its shipped JSON Schema)."""
        from .report_json import report_to_dict

        return report_to_dict(self, file=file, show_values=show_values)


# ---------------------------------------------------------------------- checks

@attrs.frozen
class _FieldPlan:
    f: FieldSpec
    code: str
    provisional: bool
    allowed: frozenset[str] | None


@attrs.frozen
class _Fast:
    """The compiled fast path of one record layout."""

    parts: tuple[str, ...]  # per field: a pattern matching its text exactly when the field is fine
    pattern: re.Pattern[str]  # the whole record: matches exactly when every field is fine
    diagnose: re.Pattern[str]  # one group per suspect, set when that field's text is not fine
    suspects: tuple[_FieldPlan, ...]  # the fields that can fail, in order


def _field_pattern(f: FieldSpec, allowed: frozenset[str] | None) -> str:
    """A pattern matching a field's text exactly when :meth:`_Checker._field_problem`
    finds nothing wrong with it (records never hold CR or LF, so ``.`` is any character)."""
    n = f.length
    if f.fixed is not None:
        return re.escape(f.fixed)
    if f.codelist in _COD954_LISTS:
        allowed = frozenset(return_codes())
    if f.type == "N":
        required = f.mandatory == "Y" and (f.kind in ("digits", "date", "time") or
                                           f.kind == "number" and not f.element.startswith("ANT"))
        zeros = "0" * n
        if f.kind == "date" and n == 8:  # (year 0000 is no date: zeros never pass as a date)
            return patterns.CALENDAR_DATE if required else patterns.DATE_OR_ZEROS
        if f.kind in ("date", "time") and not (f.kind == "time" and n == 4):
            return patterns.NEVER
        if f.kind == "time":
            body = patterns.TIME_OF_DAY
        elif allowed is not None:
            codes = {a for a in allowed if len(a) == n and a.isascii() and a.isdigit()}
            codes = codes - {zeros} if required else codes | {zeros}
            return patterns.one_of(codes)
        else:
            body = f"[0-9]{{{n}}}"
        return f"(?!{zeros}){body}" if required else body
    if f.kind == "reserve":
        return f" {{{n}}}"
    if f.kind == "dc":
        return "[DC]" if f.mandatory == "Y" else "[DC ]"
    if allowed is not None:
        ok = {a.ljust(n) for a in allowed if 0 < len(a) <= n and a == a.rstrip(" ")}
        if f.mandatory != "Y":
            ok.add(" " * n)
        return patterns.one_of(ok)
    return f"(?! {{{n}}}).{{{n}}}" if f.mandatory == "Y" else f".{{{n}}}"


def _takes_anything(f: FieldSpec, part: str) -> bool:
    """Whether *part*, the pattern of field *f*, accepts any text (free optional text)."""
    return part == f".{{{f.length}}}"


def _diagnose_source(fields: list[FieldSpec], parts: tuple[str, ...], ahead: Mapping[str, str] | None = None,
                     capture: Mapping[str, str] | None = None) -> tuple[str, list[int], list[int]]:
    """A pattern that matches any record of the layout and tells what fails in it: a
    group per field that can fail (set to its text when it does; free text that takes
    anything gets none), and an empty group after each look-ahead of *ahead* (set when
    the look-ahead fails). *capture* names fields that a look-ahead refers back to.
    Returns the pattern, the indices (into ``groups()``) of the groups of the fields that
    can fail, in field order, and those of the look-aheads."""
    ahead, capture = ahead or {}, capture or {}
    pieces: list[str] = []
    fields_at: list[int] = []
    rules_at: list[int] = []
    group = 0
    for f, part in zip(fields, parts):
        if f.rubric in ahead:
            pieces.append(f"(?:{ahead[f.rubric]}|())")
            rules_at.append(group)
            group += 1
        name = capture.get(f.rubric)
        if name:
            pieces.append(f"(?P<{name}>")
            group += 1
        if _takes_anything(f, part):
            pieces.append(part)
        else:
            pieces.append(f"(?:{part}|(.{{{f.length}}}))")
            fields_at.append(group)
            group += 1
        if name:
            pieces.append(")")
    return "".join(pieces), fields_at, rules_at


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
        self._messages: dict[str, str] = {}
        self._worded: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}

    # -------------------------------------------------------------- fast path
    @staticmethod
    def _compile(plans: list[_FieldPlan]) -> _Fast:
        """The patterns of one layout (see :class:`_Fast`)."""
        parts = tuple(_field_pattern(plan.f, plan.allowed) for plan in plans)
        diagnose, _fields, _rules = _diagnose_source([plan.f for plan in plans], parts)
        suspects = tuple(plan for plan, part in zip(plans, parts) if not _takes_anything(plan.f, part))
        return _Fast(parts, re.compile("".join(parts)), re.compile(diagnose), suspects)

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
        code, level, rubric, rule_id, message, provisional = self._resolve(
            rule_id, code, rubric, message, level, provisional, value)
        finding = Finding(code, level, rec.line if rec is not None else None,
                          (rec.record_type or None) if rec is not None else None,
                          rubric, rule_id, message, provisional)
        self.findings.append(finding)
        return finding

    def _resolve(self, rule_id: str, code: str | None, rubric: str | None, message: str, level: str | None,
                 provisional: bool | None, value: str | None) -> tuple[Any, ...]:
        """A finding's fields but line and record type: the rule's defaults filled in."""
        rule = self.rules.rules[rule_id]
        if value is not None and self.show_values:
            message = f"{message} (value {value!r})"
        else:  # the same messages repeat over a big file: keep one copy of each
            message = self._messages.setdefault(message, message)
        return (code or rule.code, level or rule.level, rubric, rule_id, message,
                rule.provisional if provisional is None else provisional)

    # -------------------------------------------------------------- per field
    def fields(self, rec: Record, level: str, failed_fast: bool = False) -> list[Finding]:
        """Generic checks of every field of *rec* (presence, format, lists, reserve).
        ``failed_fast``: the caller already saw the fast-path pattern fail."""
        raw = rec.raw
        t = raw[:2]
        fast = self.fast.get(t)
        if fast is None:
            return self._add_all(rec.line, t or None, self._field_findings(raw, level, self.plans[t]))
        if not failed_fast and fast.pattern.fullmatch(raw):
            return []
        return self.diagnosed(raw, rec.line, level)

    def diagnosed(self, raw: str, line: int | None, level: str) -> list[Finding]:
        """The findings of a record of the right length that failed its fast-path pattern."""
        t = raw[:2]
        m = self.fast[t].diagnose.fullmatch(raw)
        if m is None:  # cannot happen (every suspect field has a catch-all); be safe
            return self._add_all(line, t or None, self._field_findings(raw, level, self.plans[t]))
        return self.word(raw, line, level, m.groups())

    def word(self, raw: str, line: int | None, level: str, failed: tuple[str | None, ...]) -> list[Finding]:
        """The findings of a record whose suspect fields (``_Fast.suspects``) hold the
        texts *failed* where they fail and None where they pass."""
        t = raw[:2]
        # the same fields fail with the same text over and over in a big file: word
        # their findings once
        key = (t, level, failed)
        found = self._worded.get(key)
        if found is None:
            if len(self._worded) > 4096:
                self._worded.clear()
            plans = list(compress(self.fast[t].suspects, map(is_not, failed, repeat(None))))
            found = self._worded[key] = self._field_findings(raw, level, plans)
        return self._add_all(line, t or None, found)

    def _field_findings(self, raw: str, level: str, plans: list[_FieldPlan]) -> list[tuple[Any, ...]]:
        """The findings of *plans*' fields of *raw* (see :meth:`_resolve`)."""
        t = raw[:2]
        rule_id = "record.field" if level == "record" else (
            "file.header_field" if t == self.spec.header else "file.trailer_field")
        out: list[tuple[Any, ...]] = []
        resolve = self._resolve
        for plan in plans:
            f = plan.f
            text = raw[f.start - 1:f.end]
            problem = self._field_problem(f, text, plan.allowed)
            if problem is None:
                continue
            message = f"{f.name} ({f.rubric}) {problem}"
            if f.kind == "reserve":
                if self.runs("file.reserve"):
                    out.append(resolve("file.reserve", plan.code, f.rubric, message, None, None, None))
            elif f.element == "NUM040":
                out.append(resolve("file.record_id", plan.code, f.rubric, message, None, None, None))
            else:
                out.append(resolve(rule_id, plan.code, f.rubric, message, level, plan.provisional, text))
        return out

    def _add_all(self, line: int | None, rtype: str | None, found: list[tuple[Any, ...]]) -> list[Finding]:
        """Findings made of *found* (see :meth:`_field_findings`) on *line*."""
        new = [Finding(code, level, line, rtype, rubric, rule_id, message, prov)
               for code, level, rubric, rule_id, message, prov in found]
        self.findings.extend(new)
        return new

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


class _FileFacts(NamedTuple):
    to_insurer: bool  # the voorlooprecord names an insurer (0108)
    invoice_date: dt.date | None
    period_end: dt.date | None
    forwarding: bool  # claim lines must allow forwarding (0407 = 1)


class _Insured(NamedTuple):
    rec: Record | None  # None where no finding can be about the 02 itself
    bsn: str
    uzovi: str
    number: str
    birth: str
    key: str | None  # BSN, UZOVI and verzekerdennummer side by side, when the layout has them so
    bsn_bad: bool
    debtor: str


@functools.lru_cache(maxsize=4096)
def _iban_ok(iban: str) -> bool:
    try:
        IBAN(iban)
    except (SchwiftyException, ValueError):
        return False
    return True


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


class _GroupPlan:
    """Pass 2's fast path: an insured group checked with a few pattern matches.

    An insured group is its head record (02) with its comments and the records up to the
    first claim line (03 and comments): the *head part*, one pattern; then each claim
    line (04) with its comments: a *claim unit*, one pattern each. The patterns hold the
    field checks of every record, the comment records' identificatie against the record
    they follow, the order and number of records and, for AP304, the business rules that
    compare fields of one record or with the voorlooprecord. A match means no finding,
    once Python has compared what patterns cannot (claim line against its 02, amounts,
    BSN 11-proef, IBAN, repeated regelnummers). What does not match goes the
    record-by-record way (:meth:`_Validation.feed`), which words the findings.
    """

    def __init__(self, run: _Validation, head_type: str, claim_type: str, mids: tuple[str, ...]) -> None:
        spec, c = run.spec, run.c
        self.head_type, self.claim_type, self.comment_type = head_type, claim_type, spec.comment
        self.claim_min, self.claim_max = spec.records[claim_type].min, spec.records[claim_type].max
        self.claim_length = spec.records[claim_type].length
        self.comment_lines = c.runs("record.comment_line") and "9803" in spec.records[spec.comment].by_rubric
        self.regelnummer = spec.records[spec.comment].by_rubric["9803"].slice if self.comment_lines else None
        at = run.at
        capture: dict[str, dict[str, str]] = {t: {} for t in spec.records}
        ahead: dict[str, dict[str, str]] = {t: {} for t in spec.records}
        forbidden: set[str] = set()
        self.business = at is not None and head_type == "02" and claim_type == "04"
        if self.business:
            assert at is not None
            facts = run._file_facts()
            if "03" in mids:
                if facts.to_insurer and run.runs_debtor_to_insurer:
                    forbidden.add("03")
                w = at.ins_debtor.stop - at.ins_debtor.start
                if at.db_number.stop - at.db_number.start != w:
                    raise _NoPlan("debiteurnummer widths differ")
                capture["02"]["0223"] = "debtor"
                ahead["03"]["0303"] = f"(?=(?P=debtor))(?!\\s{{{w}}})"
            limits = [d for d in (facts.invoice_date, facts.period_end, c.today) if d is not None]
            limit = min(limits)
            ahead["04"]["0410"] = f"(?={patterns.not_after(f'{limit.year:04d}{limit.month:02d}{limit.day:02d}')})"
            if facts.forwarding:
                ahead["04"]["0407"] = "(?=1)"
            dc1, dc2, prev = at.cl_calc_dc, at.cl_decl_dc, at.cl_prev
            claim = spec.records["04"].by_rubric
            if not dc1 < dc2 < prev.start or claim["0440"].length != 1 or claim["0444"].length != 1:
                raise _NoPlan("0440, 0444 and 0446 are not one-character D/C fields in that order")
            if claim["0410"].length != 8:
                raise _NoPlan("datum prestatie is not CCYYMMDD")
            capture["04"]["0440"] = "dc"
            ahead["04"]["0444"] = f"(?=(?P=dc))(?!C.{{{prev.start - dc2 - 1}}}\\s{{{prev.stop - prev.start}}})"
            self.key: tuple[slice, slice] | None = (
                (at.ins_key, at.cl_key) if at.ins_key is not None and at.cl_key is not None else None)
            self.parts = ((at.ins_bsn, at.cl_bsn), (at.ins_uzovi, at.cl_uzovi), (at.ins_number, at.cl_number))
            self.birth = (at.ins_birth, at.cl_birth)
            self.amounts = (at.cl_calc, at.cl_decl)
            self.bsn, self.uzovi, self.number, self.debtor = at.ins_bsn, at.ins_uzovi, at.ins_number, at.ins_debtor
            self.iban = at.db_iban
        # comments carry the identificatie of the record they follow
        cm = spec.records[spec.comment]
        cm_id = cm.id_field
        for t in (head_type, *mids, claim_type):
            idf = spec.records[t].id_field
            if idf is None or cm_id is None:
                continue
            if idf.length != cm_id.length:
                raise _NoPlan("comment identificatie width differs")
            capture[t][idf.rubric] = f"id{t}"

        def source(t: str, after: str | None = None) -> str:
            lay = spec.records[t]
            fast = c.fast[t]
            cap, pre = capture[t], dict(ahead[t])
            if after is not None and f"id{after}" in capture[after].values() and cm_id is not None:
                pre[cm_id.rubric] = f"(?=(?P=id{after}))"
                cap = {}
            out = []
            for f, part in zip(lay.fields, fast.parts):
                name = cap.get(f.rubric)
                out.append(pre.get(f.rubric, "") + (f"(?P<{name}>{part})" if name else part))
            return "".join(out)

        def with_comments(t: str) -> str:
            return f"{source(t)}(?:\\n{source(spec.comment, t)})*"

        if self.business:
            lay = spec.records[claim_type]
            # one pattern that says both which fields fail (as the layout's own diagnose
            # pattern) and whether a business rule may
            diagnose, fields_at, rules_at = _diagnose_source(
                list(lay.fields), c.fast[claim_type].parts, ahead[claim_type], capture[claim_type])
            self.claim_diagnose = re.compile(diagnose)
            self.rules_at = _picker(tuple(rules_at))
            self.fields_at = _picker(tuple(fields_at))
            self.n_rules = len(rules_at)
        head = with_comments(head_type)
        for t in mids:
            lay = spec.records[t]
            lo, hi = (0, 0) if t in forbidden else (lay.min, "" if lay.max is None else lay.max)
            head += f"(?:\\n{with_comments(t)}){{{lo},{hi}}}"
        self.head = re.compile(head)
        self.claim = re.compile(with_comments(claim_type))

    def insured(self, head: str) -> _Insured:
        """What the business rules compare a claim line with, from its (fine) 02."""
        return _Insured(None, head[self.bsn], head[self.uzovi], head[self.number], head[self.birth[0]],
                        head[self.key[0]] if self.key is not None else None, False, head[self.debtor])

    def diagnose_claim(self, raw: str, head: str) -> tuple[tuple[str | None, ...], bool]:
        """For a claim line of the right length: the texts of its suspect fields where
        they fail (see :meth:`_Checker.word`), and whether it certainly passes the
        business rules (:meth:`_Validation._claim_rules`), with one pattern match."""
        m = self.claim_diagnose.fullmatch(raw)
        assert m is not None  # every part has a catch-all
        groups = m.groups()
        rules_ok = self.rules_at(groups).count(None) == self.n_rules and self.compared_ok(raw, head)
        return self.fields_at(groups), rules_ok

    def compared_ok(self, raw: str, head: str) -> bool:
        """The business rules that compare a claim line with its 02 *head* (no pattern can)."""
        if self.key is not None:
            if raw[self.key[1]] != head[self.key[0]]:
                return False
        elif any(raw[b] != head[a] for a, b in self.parts):
            return False
        calc, decl = raw[self.amounts[0]], raw[self.amounts[1]]
        return raw[self.birth[1]] == head[self.birth[0]] and not (calc < decl and calc.strip("0"))

    @classmethod
    def build(cls, run: _Validation) -> _GroupPlan | None:
        """The plan for *run*'s spec, or None when the spec's structure is not one it knows
        (one kind of group head whose children have no children of their own)."""
        spec, c = run.spec, run.c
        if not c.fast or run.header is None or spec.comment not in spec.records:
            return None
        heads = spec.top_types
        if len(heads) != 1:
            return None
        kids = spec.children_of(heads[0])
        if not kids or any(spec.children_of(k) for k in kids):
            return None
        if set(spec.detail_types) != {heads[0], spec.comment, *kids}:
            return None
        try:
            return cls(run, heads[0], kids[-1], kids[:-1])
        except (_NoPlan, KeyError, re.error):
            return None  # a corrected spec the plan cannot express: record by record


def _picker(indices: tuple[int, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """``itemgetter(*indices)`` that always returns a tuple."""
    if len(indices) == 1:
        i = indices[0]
        return lambda seq: (seq[i],)
    if not indices:
        return lambda seq: ()
    return itemgetter(*indices)


class _NoPlan(Exception):
    """The spec does not fit :class:`_GroupPlan`'s assumptions (the slow path still works)."""


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
        self._facts: _FileFacts | None = None
        self._deferred: tuple[Any, ...] | None = None  # see _fast_group
        self._getters: dict[str, Callable[[str], tuple[str, ...]] | None] = {}
        self.ok_codes = (checker.rules.roles.get("assessed_ok", "0200"),)
        # lines that the first pass found repeated: their groups go record by record
        self.marked = sorted(pre.dup_id_lines | pre.dup_ref_lines | pre.same_file_credit_lines
                             | pre.same_file_debit_lines)

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
            self._scan_and_total(t, raw)
            if self.dup_ids and rec.line in self.dup_ids:
                self._id_rules(rec)
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
        deferred = self._deferred
        if deferred is not None:  # a group of the fast path with rejected claim lines
            self._deferred = None
            self._bad_claims(*deferred)
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
        units = group.children
        units.insert(0, group.head)
        for unit in units:
            for rec in (unit.rec, *unit.comments) if unit.comments else (unit.rec,):
                raw = rec.raw
                if len(raw) != rec.layout.length:  # type: ignore[union-attr]
                    continue  # a file-level finding already; its fields are not read
                plan = fast(raw[:2])
                if plan is None or plan.pattern.fullmatch(raw) is None:
                    fields(rec, "record", True)  # the field-by-field path finds what is wrong
            if len(unit.comments) > 1:
                self._comment_lines(unit)
        del units[0]
        if c.business:
            self._business(group)
        self._verdicts_since(before, group)

    def _verdicts_since(self, before: int, group: _Group) -> None:
        by_line: dict[int, list[Finding]] = {}
        for f in self.c.findings[before:]:
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

    # ------------------------------------------------------------ AP304 business rules
    def _file_facts(self) -> _FileFacts:
        """What the business rules need from the voorlooprecord (read once)."""
        facts = self._facts
        if facts is None:
            at, hdr = self.at, self.header
            assert at is not None and hdr is not None
            h = hdr.raw
            to_insurer = h[at.hdr_uzovi].strip("0 ") != ""
            facts = self._facts = _FileFacts(
                to_insurer, _date(h[at.hdr_invoice_date]), _date(h[at.hdr_end]),
                to_insurer and self.runs_forwarding)
        return facts

    def _insured(self, ins: Record) -> _Insured | None:
        """The facts of an insured's 02 that its other records are compared with."""
        at = self.at
        r = ins.raw
        if at is None or r[:2] != "02" or len(r) != ins.layout.length:  # type: ignore[union-attr]
            return None
        bsn = r[at.ins_bsn]
        bad = bsn != "999999999" and bsn.isdigit() and bsn.isascii() and not _bsn_ok(bsn)
        return _Insured(ins, bsn, r[at.ins_uzovi], r[at.ins_number], r[at.ins_birth],
                        r[at.ins_key] if at.ins_key is not None else None, bad, r[at.ins_debtor])

    def _business(self, group: _Group) -> None:
        ins = self._insured(group.head.rec)
        if ins is None:
            return
        c = self.c
        if ins.bsn_bad:
            c.add("record.bsn", None, ins.rec, "0203", "BSN fails the 11-proef")
        if ins.bsn == "999999999" and ins.number.strip() == "":
            c.add("record.bsn_dummy", None, ins.rec, "0205",
                  "BSN is 999999999 (no BSN) but verzekerdennummer is empty")
        for unit in group.children:
            rec = unit.rec
            x = rec.raw
            if len(x) != rec.layout.length:  # type: ignore[union-attr]
                continue
            t = x[:2]
            if t == "04":
                self._claim_rules(rec, ins)
            elif t == "03":
                self._debtor_rules(rec, ins)

    def _claim_rules(self, rec: Record, ins: _Insured) -> None:
        c, at, pre = self.c, self.at, self.pre
        assert at is not None
        facts = self._file_facts()
        x = rec.raw
        if ins.key is None or at.cl_key is None or x[at.cl_key] != ins.key:
            # BSN, UZOVI, verzekerdennummer at once; drill down
            if x[at.cl_bsn] != ins.bsn:
                c.add("record.claim_insured", "0435", rec, "0403", "BSN differs from that of the verzekerdenrecord")
            if x[at.cl_uzovi] != ins.uzovi:
                c.add("record.claim_insured", "0423", rec, "0404",
                      "UZOVI-nummer differs from that of the verzekerdenrecord")
            if x[at.cl_number] != ins.number:
                c.add("record.claim_insured", "0300", rec, "0405",
                      "verzekerdennummer differs from that of the verzekerdenrecord", provisional=True)
        if ins.bsn_bad and x[at.cl_bsn] == ins.bsn:
            c.add("record.bsn", None, rec, "0403", "BSN fails the 11-proef")
        if x[at.cl_birth] != ins.birth:
            c.add("record.claim_insured", "8004", rec, "0408",
                  "date of birth differs from that of the verzekerdenrecord", provisional=True)
        service = _date(x[at.cl_date])
        if service is not None:
            if facts.invoice_date is not None and service > facts.invoice_date:
                c.add("record.claim_date_invoice", None, rec, "0410", "datum prestatie is after dagtekening factuur")
            if facts.period_end is not None and service > facts.period_end or service > c.today:
                c.add("record.claim_date_period", None, rec, "0410",
                      "datum prestatie is after the declaration period or in the future")
        dc1, dc2 = x[at.cl_calc_dc], x[at.cl_decl_dc]
        if dc1 != dc2 and dc1 in "DC" and dc2 in "DC":
            c.add("record.dc_agree", None, rec, "0444", "debit/credit indicators 0440 and 0444 differ")
        calc = x[at.cl_calc]
        if calc.strip("0"):
            decl = x[at.cl_decl]
            if calc < decl and calc.isdigit() and decl.isdigit():
                c.add("record.calculated_amount", None, rec, "0439", "berekend bedrag is lower than declaratiebedrag")
        if dc2 == "C" and x[at.cl_prev].strip() == "":
            c.add("record.credit_reference", None, rec, "0446",
                  "credit line without referentienummer voorgaande gerelateerde prestatierecord")
        line = rec.line
        if line in pre.dup_ref_lines:
            c.add("record.reference_unique", None, rec, "0445", "referentienummer dit prestatierecord is not unique")
        if line in pre.same_file_credit_lines:
            c.add("record.debit_credit_same_file", None, rec, "0446", "credit line for a debit line in the same file")
        if line in pre.same_file_debit_lines:
            c.add("record.debit_credit_same_file", None, rec, "0445", "debit line credited in the same file")
        if facts.forwarding and x[at.cl_forward] != "1":
            c.add("record.forwarding", None, rec, "0407",
                  "doorsturen toegestaan must be 1 when the file goes to an insurer")

    def _debtor_rules(self, rec: Record, ins: _Insured) -> None:
        c, at = self.c, self.at
        assert at is not None
        x = rec.raw
        if self._file_facts().to_insurer and self.runs_debtor_to_insurer:
            c.add("file.debtor_to_insurer", None, rec, "0301",
                  "debiteurrecord in a file addressed to an insurer (0108 filled)")
        if ins.debtor.strip() == "":
            c.add("record.debtor_number", None, ins.rec, "0223",
                  "debiteurnummer is empty while the insured has a debiteurrecord")
        elif x[at.db_number] != ins.debtor:
            c.add("record.debtor_number", None, rec, "0303", "debiteurnummer differs from that of the verzekerdenrecord")
        iban = x[at.db_iban].strip()
        if iban and not _iban_ok(iban):
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

    # ------------------------------------------------------------ pass 2, in groups
    def consume(self, blocks: Iterable[tuple[list[str], list[str] | None]],
                progress: Callable[[int], None] | None = None) -> None:
        """Check every line of *blocks* (see :meth:`RecordStream.blocks`), then finish.

        Insured groups are gathered line by line and checked as a whole by the
        :class:`_GroupPlan` when there is one; everything else (the header, the trailer,
        lines outside groups, blocks with a broken line end, groups the plan does not
        pass) goes through :meth:`feed` one record at a time.
        """
        feed, layout = self.feed, self.spec.records.get
        spec = self.spec
        n = 0
        mark = _PROGRESS_EVERY
        group: list[str] = []
        first = 0
        plan: _GroupPlan | None = None
        planned = False
        heads = frozenset(spec.top_types)
        ends = frozenset((spec.header, spec.trailer)) | heads
        for texts, terms in blocks:
            if terms is None and self.header is None and texts:  # up to the voorlooprecord: one by one
                for i, raw in enumerate(texts):
                    feed(_Line(layout(raw[:2]), raw, n + i + 1, "\r\n"))  # type: ignore[arg-type]
                    if self.header is not None:
                        break
                n += i + 1
                texts = texts[i + 1:]
            if terms is not None or self.header is None or self.trailer is not None or (planned and plan is None):
                if group:  # it may go on in these lines: record by record from here
                    self._replay(group, first)
                    group = []
                for i, raw in enumerate(texts):
                    feed(_Line(layout(raw[:2]), raw, n + i + 1, "\r\n" if terms is None else terms[i]))  # type: ignore[arg-type]
                n += len(texts)
            else:
                if not planned:
                    plan, planned = _GroupPlan.build(self), True
                for raw in texts:
                    n += 1
                    t = raw[:2]
                    if t in ends:
                        if t in heads:
                            if group:
                                self._flush(plan, group, first)
                            group, first = [raw], n
                            continue
                        if group:  # before the trailer; before a second header it stays open
                            if t == spec.trailer:
                                self._flush(plan, group, first)
                            else:
                                self._replay(group, first)
                            group = []
                        feed(_Line(layout(t), raw, n, "\r\n"))  # type: ignore[arg-type]
                    elif group:
                        group.append(raw)
                    else:
                        feed(_Line(layout(t), raw, n, "\r\n"))  # type: ignore[arg-type]
            if progress is not None and n >= mark:
                progress(n)
                mark = n + _PROGRESS_EVERY
        if group:
            self._flush(plan, group, first)
        self.finish()

    def _flush(self, plan: _GroupPlan | None, lines: list[str], first: int) -> None:
        """Check one gathered group: with the plan if it passes it, else record by record."""
        if plan is None or self.trailer is not None or not self._fast_group(plan, lines, first):
            self._replay(lines, first)

    def _replay(self, lines: list[str], first: int) -> None:
        feed, layout = self.feed, self.spec.records.get
        for i, raw in enumerate(lines):
            feed(_Line(layout(raw[:2]), raw, first + i, "\r\n"))  # type: ignore[arg-type]

    def _marked_between(self, first: int, last: int) -> bool:
        marked = self.marked
        i = bisect.bisect_left(marked, first)
        return i < len(marked) and marked[i] <= last

    def _fast_group(self, plan: _GroupPlan, lines: list[str], first: int) -> bool:
        """Check and count one group with *plan*. Returns False, having changed nothing,
        when the group needs the record-by-record path."""
        n = len(lines)
        if self.marked and self._marked_between(first, first + n - 1):
            return False
        claim_t, comment_t = plan.claim_type, plan.comment_type
        i = 1
        while i < n and lines[i][:2] != claim_t:
            i += 1
        if plan.head.fullmatch(lines[0] if i == 1 else "\n".join(lines[:i])) is None:
            return False
        head = lines[0]
        if i > 2 and plan.comment_lines and self._repeats(plan, lines[1:i]):
            return False
        if plan.business:
            bsn = head[plan.bsn]
            if bsn == "999999999":
                if head[plan.number].strip() == "":
                    return False
            elif bsn.isdigit() and bsn.isascii() and not _bsn_ok(bsn):
                return False
            for raw in lines[1:i]:
                if raw[:2] == "03":
                    iban = raw[plan.iban].strip()
                    if iban and not _iban_ok(iban):
                        return False
            if plan.key is not None:
                cl_key, key = plan.key[1], head[plan.key[0]]
                keys: tuple[tuple[str, slice], ...] = ()
            else:
                cl_key, key = None, None
                keys = tuple((head[a], b) for a, b in plan.parts)
            birth, cl_birth = head[plan.birth[0]], plan.birth[1]
            calc, decl = plan.amounts
        match = plan.claim.fullmatch
        units: list[tuple[int, int]] = []
        bad: list[tuple[int, int]] = []
        unsure = False  # a failing claim unit that may not be whole records in place
        claim_len = plan.claim_length
        j = i
        while j < n:
            k = j + 1
            while k < n and lines[k][:2] == comment_t:
                k += 1
            x = lines[j]
            units.append((j, k))
            if match(x if k == j + 1 else "\n".join(lines[j:k])) is None:
                bad.append((j, k))
                if k > j + 1 or len(x) != claim_len or x[:2] != claim_t:
                    unsure = True
            elif plan.business and (  # _GroupPlan.compared_ok, inlined: it runs for every claim line
                    (x[cl_key] != key if cl_key is not None else any(x[b] != v for v, b in keys))
                    or x[cl_birth] != birth or x[calc] < x[decl] and x[calc].strip("0")):
                bad.append((j, k))
            elif k > j + 2 and plan.comment_lines and self._repeats(plan, lines[j + 1:k]):
                bad.append((j, k))
            j = k
        if len(units) < plan.claim_min or plan.claim_max is not None and len(units) > plan.claim_max:
            return False
        if unsure and not self._sound(plan, lines, bad):
            return False
        # the group before is closed (as feed() closes it on this group's head) ...
        self._close_group()
        # ... this group is counted as feed() counts its records ...
        for raw in lines[:i]:
            self._tally(raw)
        self._tally_claims(lines, units)
        # ... and its findings are made when feed() would close it: on the next head,
        # after that one's own findings
        if bad:
            self._deferred = (plan, lines, first, i, bad)
        return True

    @staticmethod
    def _repeats(plan: _GroupPlan, lines: list[str]) -> bool:
        """Whether the comments of one record repeat a regelnummer (*lines*: records with
        their comments)."""
        sl = plan.regelnummer
        assert sl is not None
        seen: set[str] = set()
        for raw in lines:
            if raw[:2] == plan.comment_type:
                if raw[sl] in seen:
                    return True
                seen.add(raw[sl])
            else:
                seen = set()
        return False

    def _sound(self, plan: _GroupPlan, lines: list[str], bad: list[tuple[int, int]]) -> bool:
        """Whether the failing claim units are whole records in the right places, so that
        only record-level checks can object to them."""
        layout = self.spec.records.get
        for j, k in bad:
            x = lines[j]
            if x[:2] != plan.claim_type:
                return False
            for raw in lines[j:k]:
                lay = layout(raw[:2])
                if lay is None or len(raw) != lay.length:
                    return False
            idf = layout(plan.claim_type).id_field  # type: ignore[union-attr]
            if idf is not None and any(raw[self.comment_id] != x[idf.slice] for raw in lines[j + 1:k]):
                return False
        return True

    def _tally(self, raw: str) -> None:
        """What :meth:`feed` counts of a record of the right length."""
        t = raw[:2]
        self.counts[t] = self.counts.get(t, 0) + 1
        self._scan_and_total(t, raw)

    def _scan_and_total(self, t: str, raw: str) -> None:
        """A record of the right length: its uniqueness keys and its share of the total."""
        if self.scan is not None:
            self.scan.add(t, raw)
        total = self.total_slices.get(t)
        if total is not None:
            amount = raw[total[0]]
            if amount.isdigit() and amount.isascii():
                self.total += -int(amount) if raw[total[1]] == "C" else int(amount)

    def _tally_claims(self, lines: list[str], units: list[tuple[int, int]]) -> None:
        """:meth:`_tally` for the claim units of a group, in one loop."""
        if not units:
            return
        counts = self.counts
        claim_t = lines[units[0][0]][:2]
        counts[claim_t] = counts.get(claim_t, 0) + len(units)
        for j, k in units:
            for x in range(j + 1, k):  # comments
                self._tally(lines[x])
        get = self._claim_getter(claim_t)
        if get is None:  # a layout without the usual fields: the general way
            counts[claim_t] -= len(units)
            for j, _k in units:
                self._tally(lines[j])
            return
        scan = self.scan
        sum_ = 0
        if scan is None:
            for j, _k in units:
                _id, _ref, _dc, _prev, amount, sign = get(lines[j])
                if amount.isdigit() and amount.isascii():  # (not so in a rejected line)
                    sum_ += -int(amount) if sign == "C" else int(amount)
            self.total += sum_
            return
        last_id = scan.last_id.get(claim_t, "")
        monotonic = scan.monotonic
        hashes, debit, credit_prev = scan.ref_hashes, scan.ref_debit, scan.credit_prev
        for j, _k in units:
            id_, ref, dc, prev, amount, sign = get(lines[j])
            if id_ <= last_id:
                monotonic = False
            last_id = id_
            ref = ref.rstrip(" ")
            if ref:
                hashes.append(hash(ref))
                debit.append(dc == "D")
            if dc == "C":
                prev = prev.rstrip(" ")
                if prev:
                    credit_prev.add(hash(prev))
            if amount.isdigit() and amount.isascii():  # (not so in a rejected line)
                sum_ += -int(amount) if sign == "C" else int(amount)
        scan.last_id[claim_t] = last_id
        scan.monotonic = monotonic
        self.total += sum_

    def _claim_getter(self, claim_t: str) -> Callable[[str], tuple[str, ...]] | None:
        """One call that cuts a claim line's identificatie, referentienummers, D/C and
        amount with its sign (what :meth:`_tally` reads of it), or None when the layout
        lacks one of them."""
        if claim_t not in self._getters:
            total = self.total_slices.get(claim_t)
            scan = self.scan or _UniqueScan(self.spec)
            id_sl = scan.id_slices.get(claim_t)
            ok = total is not None and id_sl is not None and scan.claims and claim_t == "04"
            self._getters[claim_t] = itemgetter(id_sl, scan.ref_s, scan.dc_i, scan.prev_s, total[0], total[1]) \
                if ok and total is not None else None
        return self._getters[claim_t]

    def _bad_claims(self, plan: _GroupPlan, lines: list[str], first: int, i: int,
                    bad: list[tuple[int, int]]) -> None:
        """Findings and verdicts for the claim units of a group that the plan did not pass,
        worded as :meth:`_record_checks` words them. The rest of the group is known to
        be fine, which makes the verdicts simple (:meth:`_verdicts` without an
        insured-level rejection)."""
        c = self.c
        findings = c.findings
        before = len(findings)
        layout = self.spec.records.get
        claim_lay = layout(plan.claim_type)
        head = lines[0]
        rules: list[bool] = []  # per unit: whether its business rules must be run
        for j, k in bad:
            if plan.business:  # one pattern names the failing fields and rules
                failed, rules_ok = plan.diagnose_claim(lines[j], head)
                c.word(lines[j], first + j, "record", failed)
                rules.append(not rules_ok)
            else:
                c.diagnosed(lines[j], first + j, "record")
            if k > j + 1:
                unit = _Unit(_Line(claim_lay, lines[j], first + j, "\r\n"))  # type: ignore[arg-type]
                unit.comments = [_Line(layout(lines[x][:2]), lines[x], first + x, "\r\n")  # type: ignore[misc]
                                 for x in range(j + 1, k)]
                for cm in unit.comments:
                    c.fields(cm, "record")
                if len(unit.comments) > 1:
                    self._comment_lines(unit)
        if any(rules):
            ins = plan.insured(head)
            for (j, _k), run in zip(bad, rules):
                if run:
                    self._claim_rules(_Line(claim_lay, lines[j], first + j, "\r\n"), ins)  # type: ignore[arg-type]
        if len(findings) == before:
            return
        codes_of: dict[int, dict[str, None]] = {}
        for f in findings[before:]:
            if f.level == "record":
                codes_of.setdefault(f.line, {})[f.code] = None  # type: ignore[arg-type]
        if not codes_of:
            return
        put, ok = self.outcomes.put, self.ok_codes
        if c.mode != "vecozo":  # co-returned with the rejected claims, assessed and fine
            for x in range(i):
                put(first + x, lines[x][:2], Verdict.APPROVED, ok)
        for j, k in bad:
            if not any(first + x in codes_of for x in range(j, k)):
                continue
            for x in range(j, k):
                own = codes_of.get(first + x)
                if own:
                    put(first + x, lines[x][:2], Verdict.REJECTED, tuple(own)[:3])
                else:
                    put(first + x, lines[x][:2], Verdict.REJECTED if x == j else Verdict.APPROVED, ok)

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


def validate(source: Source, *, mode: Mode = "insurer", today: dt.date | None = None,
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
    with the number of records checked so far. ``fast_path=False`` checks every record and
    field one by one instead of whole insured groups with compiled patterns (same
    findings, slower; the reference for testing the fast path).

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
            run.consume(stream.blocks(), progress)
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
                run.consume(stream.blocks(), progress)
    finally:
        for fh in to_close:
            fh.close()
    if info.fallback_lines and checker.runs("file.encoding"):  # (see reader: mixed encodings)
        for line in info.fallback_lines:
            checker.add("file.encoding", None, Record(None, "", line), None,
                        "line is not UTF-8 like the rest of the file; read as cp1252")
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


def validate_many(sources: Iterable[Source], *, jobs: int | None = None, **kwargs: Any) -> Iterator[Any]:
    """Moved to :func:`eicodec.many.validate_many` (still importable from here)."""
    from .many import validate_many as many

    return many(sources, jobs=jobs, **kwargs)


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
