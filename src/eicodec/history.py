"""Claim history: earlier claim lines and what became of them (STB §5.4.8).

Some debit/credit rules need earlier files: a credit only for an earlier debit that was
not rejected, an exact copy of it, for its whole awarded amount; a 2nd debit with the
1st one's date; a referentienummer not used again unless VECOZO rejected it. A caller
keeps a :class:`ClaimHistory` (a small SQLite file, or in memory) and passes it as
``validate(..., history=...)``; without one those rules do not run.

Schema (one table, one row per claim line sent; a referentienummer may have several
rows, e.g. a line VECOZO rejected and the same reference sent again)::

    claim_lines(
      reference    TEXT    -- 0445 referentienummer dit prestatierecord
      previous     TEXT    -- 0446 referentienummer voorgaande gerelateerde prestatierecord ('' if none)
      dc           TEXT    -- 'D' debit or 'C' credit (0444)
      service_date TEXT    -- 0410 datum prestatie, CCYYMMDD
      declared     INTEGER -- declaratiebedrag (0443), unsigned cents
      awarded      INTEGER -- toegekend bedrag, unsigned cents (NULL: not known)
      copy_key     TEXT    -- sha256 of the record with the fields a credit may change blanked
      status       TEXT    -- sent | approved | not_returned | rejected | not_assessed | rejected_with_file
      rejected_by  TEXT    -- 'insurer' or 'vecozo' for a rejected line, else ''
      source       TEXT    -- free text, e.g. the file name
    )

No personal data is stored: the copy key is a hash (of a record that holds a BSN and a
birth date, so keep the file as you keep claims). One history is one sender's: references
are those of one declarant. Record a file's answer with :meth:`ClaimHistory.record`
(an AP304 and the AP305 that answers it), or :meth:`ClaimHistory.record_sent` when a file
goes out (its lines count as used, and as known debits, until the answer is recorded).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, Union

import attrs
import numpy as np

from .batches import digits_value, text_of
from .errors import EicodecError
from .kinds import CHECKS, View, filled, when
from .layouts import MessageSpec
from .rules import Rule

#: Statuses of a line that was not rejected (``sent``: no answer recorded yet).
ACCEPTED = frozenset({"sent", "approved", "not_returned"})
STATUSES = ACCEPTED | {"rejected", "not_assessed", "rejected_with_file"}
COLUMNS = ("reference", "previous", "dc", "service_date", "declared", "awarded", "copy_key", "status",
           "rejected_by", "source")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS claim_lines (
  reference TEXT NOT NULL, previous TEXT NOT NULL DEFAULT '', dc TEXT NOT NULL,
  service_date TEXT NOT NULL DEFAULT '', declared INTEGER NOT NULL DEFAULT 0, awarded INTEGER,
  copy_key TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, rejected_by TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS claim_lines_reference ON claim_lines(reference);
CREATE INDEX IF NOT EXISTS claim_lines_previous ON claim_lines(previous);
"""
_IN = 500  # references per SQL query


@attrs.frozen
class Facts:
    """What the history says of one referentienummer."""

    debit_known: bool = False     # an earlier debit line with this reference, not rejected
    credited: bool = False        # a credit line (not rejected) already credits it
    used: bool = False            # sent before and not rejected by VECOZO (STB §5.4.8)
    copy_key: str = ""            # of that debit line
    awarded: int | None = None    # of that debit line, unsigned cents
    service_date: str = ""        # of that debit line


def copy_key(text: str, blank: Sequence[slice]) -> str:
    """The exact-copy key of a record's *text*: sha256 of it with the *blank* slices (the
    fields a credit line may change) replaced by spaces."""
    chars = list(text)
    for sl in blank:
        for i in range(*sl.indices(len(chars))):
            chars[i] = " "
    return hashlib.sha256("".join(chars).encode("utf-8", "surrogatepass")).hexdigest()


def copy_slices(spec: MessageSpec, record: str, rubrics: Iterable[str]) -> list[slice]:
    lay = spec.records[record]
    return [lay.by_rubric[r].slice for r in rubrics]


HistorySource = Union["ClaimHistory", str, "os.PathLike[str]", Mapping[str, Any]]


class ClaimHistory:
    """Earlier claim lines and their outcomes, in a SQLite file (*path*) or in memory."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(path) if path is not None else ":memory:"
        try:
            self._db = sqlite3.connect(self.path)
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise EicodecError(f"cannot open claim history {Path(self.path).name}: {exc}") from None

    @classmethod
    def of(cls, source: HistorySource) -> ClaimHistory:
        """A history from a :class:`ClaimHistory`, a SQLite file's path, or a mapping
        ``reference -> row`` (a row: a mapping of :data:`COLUMNS`, or a list of them)."""
        if isinstance(source, ClaimHistory):
            return source
        if isinstance(source, (str, os.PathLike)):
            return cls(source)
        if isinstance(source, Mapping):
            hist = cls()
            for ref, rows in source.items():
                for row in rows if isinstance(rows, (list, tuple)) else [rows]:
                    hist.add(**{**dict(row), "reference": ref})
            return hist
        raise TypeError(f"history must be a ClaimHistory, a path or a mapping, not {type(source).__name__}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM claim_lines").fetchone()[0])

    # ------------------------------------------------------------------ writing
    def add(self, reference: str, dc: str, status: str, *, previous: str = "", service_date: str = "",
            declared: int = 0, awarded: int | None = None, copy_key: str = "", rejected_by: str = "",
            source: str = "") -> None:
        """One claim line (amounts in unsigned cents; ``service_date`` CCYYMMDD)."""
        if dc not in ("D", "C"):
            raise ValueError(f"dc must be 'D' or 'C', not {dc!r}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}, not {status!r}")
        if rejected_by not in ("", "insurer", "vecozo"):
            raise ValueError(f"rejected_by must be '', 'insurer' or 'vecozo', not {rejected_by!r}")
        with self._db:
            self._db.execute(f"INSERT INTO claim_lines ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 10)})",
                             (reference.strip(), previous.strip(), dc, service_date, abs(declared),
                              None if awarded is None else abs(awarded), copy_key, status, rejected_by, source))

    def record_sent(self, ap304: Any, *, source: str = "", rules: Any = None) -> int:
        """Note every claim line of *ap304* as sent (no answer yet); returns how many."""
        return self._record(ap304, None, "", source, rules)

    def record(self, ap304: Any, ap305: Any, *, by: str = "insurer", source: str = "", rules: Any = None) -> int:
        """Record what *ap305* (from ``by``: ``"insurer"`` or ``"vecozo"``) says of each
        claim line of *ap304* (see :func:`eicodec.outcome`); rows noted by
        :meth:`record_sent` for those lines are replaced. Returns the number of lines."""
        if by not in ("insurer", "vecozo"):
            raise ValueError(f"by must be 'insurer' or 'vecozo', not {by!r}")
        return self._record(ap304, ap305, by, source, rules)

    def _record(self, ap304: Any, ap305: Any, by: str, source: str, rules: Any) -> int:
        from .model import Declaration
        from .readback import outcome
        from .reader import read
        from .rules import load_rules, rules_for

        decl = ap304 if isinstance(ap304, Declaration) else read(ap304)
        ruleset = load_rules(rules, decl.spec) if rules is not None else rules_for(decl.spec)
        plan = next((r for r in ruleset.checks if r.kind == "claim_history"), None)
        if plan is None:
            raise EicodecError(f"the rules of {decl.spec.name} have no claim_history rule: nothing to record")
        p = plan.params
        t = plan.record or ""
        lay = decl.spec.records[t]
        copy_rule = next((r for r in ruleset.checks if r.kind == "claim_history" and r.params["test"] == "exact_copy"),
                         plan)
        blank = copy_slices(decl.spec, t, copy_rule.params.get("copy_exclude", ()))
        f_ref, f_prev, f_dc = (lay.by_rubric[p[k]] for k in ("ref", "prev", "dc"))
        f_date, f_amount = lay.by_rubric[p["date"]], lay.by_rubric[p["amount"]]
        results = {o.line: o for o in outcome(decl, ap305)} if ap305 is not None else {}
        n = 0
        rows = []
        for rec in sorted([*decl.iter_records(), *decl.unplaced], key=lambda r: r.line or 0):
            raw = rec.raw
            if rec.record_type != t or len(raw) != lay.length:
                continue
            amount = raw[f_amount.slice]
            res = results.get(rec.line or 0)
            status = "sent" if res is None else res.status
            rejected_by = ""
            if status == "rejected_with_file":
                rejected_by = "vecozo"
            elif status in ("rejected", "not_assessed"):
                rejected_by = by
            awarded = None if res is None else abs(res.awarded)
            rows.append((raw[f_ref.slice].strip(), raw[f_prev.slice].strip(), raw[f_dc.slice][:1],
                         raw[f_date.slice], int(amount) if amount.isdigit() else 0, awarded,
                         copy_key(raw, blank), status, rejected_by, source))
            n += 1
        try:
            self._store(rows, replace_sent=ap305 is not None)
        except sqlite3.Error as exc:
            raise EicodecError(f"cannot write claim history {Path(self.path).name}: {exc}") from None
        return n

    def _store(self, rows: list[tuple[Any, ...]], replace_sent: bool) -> None:
        with self._db:
            if replace_sent:  # the answer replaces the "sent" note of these lines
                self._db.executemany("DELETE FROM claim_lines WHERE reference = ? AND status = 'sent' AND dc = ?",
                                     [(r[0], r[2]) for r in rows])
            self._db.executemany(f"INSERT INTO claim_lines ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 10)})",
                                 rows)

    # ------------------------------------------------------------------ reading
    def facts(self, references: Iterable[str]) -> dict[str, Facts]:
        """What the history says of each of *references* (those it knows)."""
        try:
            return self._facts(references)
        except sqlite3.Error as exc:
            raise EicodecError(f"cannot read claim history {Path(self.path).name}: {exc}") from None

    def _facts(self, references: Iterable[str]) -> dict[str, Facts]:
        refs = sorted({r for r in references if r})
        rows: list[tuple[Any, ...]] = []
        credits: set[str] = set()
        for k in range(0, len(refs), _IN):
            part = refs[k:k + _IN]
            marks = ", ".join("?" * len(part))
            rows += self._db.execute(
                f"SELECT reference, dc, status, rejected_by, copy_key, awarded, service_date, rowid "
                f"FROM claim_lines WHERE reference IN ({marks}) ORDER BY rowid", part).fetchall()
            credits |= {r for (r,) in self._db.execute(
                f"SELECT previous FROM claim_lines WHERE dc = 'C' AND previous IN ({marks}) AND status IN "
                f"({', '.join(repr(s) for s in sorted(ACCEPTED))})", part)}
        out: dict[str, dict[str, Any]] = {}
        for ref, dc, status, rejected_by, key, awarded, date, _ in rows:
            f = out.setdefault(ref, {})
            by_vecozo = status == "rejected_with_file" or rejected_by == "vecozo"
            if not by_vecozo:
                f["used"] = True
            if dc == "D" and status in ACCEPTED:  # the latest accepted debit of that reference
                f.update(debit_known=True, copy_key=key, awarded=awarded, service_date=date)
        for ref in credits:
            out.setdefault(ref, {})["credited"] = True
        return {ref: Facts(**f) for ref, f in out.items()}


# ------------------------------------------------------------------ the rule kind

_TESTS = ("credit_known", "not_credited", "exact_copy", "full_credit", "same_date", "reference_new")


def k_claim_history(rule: Rule, view: View) -> np.ndarray:
    """Kind ``claim_history``: one of :data:`_TESTS` (``test``) against the history the
    caller passed (``view.history``); never fails without one."""
    history: ClaimHistory | None = getattr(view, "history", None)
    fails = np.zeros(view.n, bool)
    if history is None or not view.n:
        return fails
    p = rule.params
    test = p["test"]
    f_prev, prev_c = view.field(p["prev"])
    _, dc_c = view.field(p["dc"])
    debit, credit = dc_c[:, 0] == ord("D"), dc_c[:, 0] == ord("C")
    has_prev = filled(f_prev, prev_c)
    if test == "reference_new":
        f_ref, ref_c = view.field(p["ref"])
        keys = np.strings.strip(text_of(ref_c), " ")
        facts = history.facts(str(k) for k in keys)
        for i in np.flatnonzero(filled(f_ref, ref_c)).tolist():
            got = facts.get(str(keys[i]))
            fails[i] = got is not None and got.used
        return when(rule, view) & fails
    prevs = np.strings.strip(text_of(prev_c), " ")
    rows = np.flatnonzero(has_prev & (debit if test == "same_date" else credit))
    facts = history.facts(str(prevs[i]) for i in rows.tolist())
    if test in ("exact_copy",):
        blank = copy_slices(view.spec, view.record, p.get("copy_exclude", ()))
        texts = text_of(view.all_chars[view.rows])
    if test == "full_credit":
        _, amount_c = view.field(p["amount"])
        amounts = digits_value(amount_c)
    if test == "same_date":
        _, date_c = view.field(p["date"])
        dates = text_of(date_c)
    for i in rows.tolist():
        got = facts.get(str(prevs[i]))
        if test == "credit_known":
            fails[i] = got is None or not got.debit_known
        elif got is None or not got.debit_known:
            continue
        elif test == "not_credited":
            fails[i] = got.credited
        elif test == "exact_copy":
            fails[i] = bool(got.copy_key) and copy_key(str(texts[i]), blank) != got.copy_key
        elif test == "full_credit":
            fails[i] = got.awarded is not None and int(amounts[i]) != got.awarded
        elif test == "same_date":
            fails[i] = bool(got.service_date) and str(dates[i]) != got.service_date
    return when(rule, view) & fails


CHECKS["claim_history"] = k_claim_history
