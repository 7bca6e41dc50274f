"""An insurer's own decisions on claim lines, for reasons outside the file.

The validator decides what the file itself shows. An insurer also decides on grounds the
file cannot show (the insured was not insured that day, the prescription is not covered,
a price is corrected): those decisions go into the return file next to the validator's.
A decision names a claim line by its referentienummer (0445 in AP304) and is either

- :class:`Reject`: the claim line is rejected with COD954 return code(s); nothing is
  awarded (e.g. ``Reject("8004")``), or
- :class:`Award`: another amount is awarded, with its code(s)
  (default 8059, price correction), e.g. ``Award(1250, ("8059",))``.

Both go to :func:`~eicodec.write_retour` / :func:`~eicodec.build_retour` as
``decisions={reference: Reject("8004"), ...}``; they become the builder's ``awards``
(a rejection is an award of nothing with its codes). From the command line:
``eicodec validate FILE --retour OUT --decisions decisions.csv`` with a CSV of
``reference,code[,awarded amount]`` (see :func:`read_decisions`).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .codes import return_codes
from .errors import EicodecError
from .findings import Report


@attrs.frozen
class Award:
    """What an insurer awards on one claim line: a signed amount in cents, extra codes
    (default 8059, price correction, when the amount differs) and optionally the VAT.
    (Also importable from :mod:`eicodec.retour`, which builds the return file from it.)"""

    amount: int
    codes: tuple[str, ...] = ()
    vat: int | None = None


class DecisionError(EicodecError):
    """A decision that cannot be used: unknown code, bad amount, a claim decided twice."""


@attrs.frozen
class Reject:
    """Reject a claim line for a reason outside the file, with one to three COD954 codes."""

    code: str
    more: tuple[str, ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        return (self.code, *self.more)

    def as_award(self) -> Award:
        """The same decision as the return-file builder takes it: nothing awarded, these codes."""
        return Award(0, self.codes)


Decision = Reject | Award


def _check_codes(codes: tuple[str, ...], where: str) -> None:
    table = return_codes()
    if not codes or len(codes) > 3:
        raise DecisionError(f"{where}: a decision carries one to three return codes, not {len(codes)}")
    for code in codes:
        if code not in table:
            raise DecisionError(f"{where}: return code {code!r} is not in the COD954 list in use")


def as_awards(decisions: Mapping[str, Decision] | None,
              awards: Mapping[str, Award | int] | None = None) -> dict[str, Award | int]:
    """*awards* with *decisions* added (a :class:`Reject` as an award of nothing with its
    codes). A claim reference in both raises :class:`DecisionError`: decide a claim once."""
    merged: dict[str, Award | int] = dict(awards or {})
    for reference, decision in (decisions or {}).items():
        where = f"decision for claim {reference!r}"
        if reference in merged:
            raise DecisionError(f"{where}: the claim has an award already (decide a claim once)")
        if isinstance(decision, Reject):
            _check_codes(decision.codes, where)
            merged[reference] = decision.as_award()
        elif isinstance(decision, Award):
            if decision.codes:
                _check_codes(decision.codes, where)
            merged[reference] = decision
        else:
            raise DecisionError(f"{where}: expected Reject(...) or Award(...), not {type(decision).__name__}")
    return merged


def decided_awards(decisions: Mapping[str, Decision], awards: Mapping[str, Award | int] | None, source: Any,
                   report: Report, mode: str) -> dict[str, Award | int]:
    """What the return-file builder takes from *decisions*: *awards* with them added,
    after checking that the claims exist in *source* and that an insurer decides them
    (VECOZO checks files and decides nothing)."""
    if mode == "vecozo":
        raise DecisionError("decisions are an insurer's: VECOZO rejects on the file's checks only (mode vecozo)")
    merged = as_awards(decisions, awards)
    check_references(source, report, decisions)
    return merged


_EUROS = re.compile(r"^(-?)(\d{1,9})(?:[.,](\d{1,2}))?$")


def parse_euros(text: str) -> int:
    """Signed cents from an amount in euros: ``12,50``, ``12.50``, ``-21,4``, ``7`` (whole euros).
    No thousands separators (``1.234,56`` is refused: write ``1234,56``)."""
    m = _EUROS.match(text.strip().replace("€", "").strip())
    if m is None:
        raise ValueError(f"{text!r} is not an amount in euros (e.g. 12,50)")
    sign, whole, part = m.groups()
    cents = int(whole) * 100 + int((part or "0").ljust(2, "0"))
    return -cents if sign else cents


def read_decisions(path: str | os.PathLike[str]) -> dict[str, Decision]:
    """Decisions from a CSV file, one claim line a row: ``reference,code[,awarded amount]``.

    Without an amount the claim is rejected with *code* (:class:`Reject`); with one it is
    awarded that amount in euros (``12,50`` or ``12.50``) with *code* (:class:`Award`).
    The separator may be ``,`` or ``;`` (as a Dutch spreadsheet writes it); a first row whose
    code column holds no digits is a header. Errors name the file and row."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DecisionError(f"{name}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise DecisionError(f"{name}: not UTF-8 text") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    out: dict[str, Decision] = {}
    for n, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if n == 1 and len(cells) > 1 and not cells[1].isdigit():
            continue  # a header row
        where = f"{name} row {n}"
        if len(cells) not in (2, 3) or not cells[0] or not re.fullmatch(r"\d{4}", cells[1]):
            raise DecisionError(f"{where}: expected reference,code[,awarded amount] with a four-digit code")
        reference, code = cells[0], cells[1]
        if reference in out:
            raise DecisionError(f"{where}: claim {reference!r} is decided twice")
        _check_codes((code,), where)
        if len(cells) == 3 and cells[2]:
            try:
                out[reference] = Award(parse_euros(cells[2]), (code,))
            except ValueError as exc:
                raise DecisionError(f"{where}: {exc}") from None
        else:
            out[reference] = Reject(code)
    return out


def check_references(source: Any, report: Report, decisions: Mapping[str, Any]) -> None:
    """Raise :class:`DecisionError` when a decision names a claim reference *source* does
    not hold (a typo must not pass silently). *source* is read once more when it can be:
    a path, bytes, a :class:`~eicodec.Declaration` or a seekable file (put back where it
    was); a one-way stream is not checked."""
    from .model import Declaration
    from .reader import iter_records
    from .rules import answer_for

    if not decisions:
        return
    answer = answer_for(report.spec)
    claim_t = answer.claim_type(report.spec)
    rubric = answer.claim_reference
    if isinstance(source, Declaration):
        records: Any = source.iter_records()
    elif isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        records = iter_records(source, spec=report.spec)
    else:
        try:
            if not source.seekable():
                return
            where = source.tell()
        except (AttributeError, OSError, ValueError):
            return
        try:
            found = _references(iter_records(source, spec=report.spec), claim_t, rubric)
        finally:
            source.seek(where)
        return _refuse_unknown(decisions, found)
    _refuse_unknown(decisions, _references(records, claim_t, rubric))


def _references(records: Any, claim_t: str, rubric: str) -> set[str]:
    found: set[str] = set()
    for rec in records:
        if rec.record_type == claim_t and rec.layout is not None and rubric in rec.layout.by_rubric:
            found.add(rec.raw[rec.layout.by_rubric[rubric].slice].rstrip(" "))
    return found


def _refuse_unknown(decisions: Mapping[str, Any], found: set[str]) -> None:
    unknown = sorted(set(decisions) - found)
    if unknown:
        listed = ", ".join(repr(u) for u in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise DecisionError(f"decisions name claim reference(s) the declaration does not hold: {listed}")
