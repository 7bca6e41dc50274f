"""Hypothesis strategies for property-testing code that reads or writes AP304 v8.0.

Every declaration these strategies generate is valid: it passes
:func:`eicodec.validate` with status ``approved``. Use them to property-test your own
exporter or importer::

    from hypothesis import given
    from eicodec.testing import declarations

    @given(declarations())
    def test_my_import(decl):
        my_import(eicodec.dumps(decl))

Requires the ``hypothesis`` package: ``pip install "eicodec[testing]"``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # a plain install: say what to install, not just the missing module
    raise ImportError(
        "eicodec.testing needs the hypothesis package; install it with: pip install \"eicodec[testing]\"",
        name=exc.name) from exc

from .layouts import MessageSpec, get_spec
from .model import Declaration, Record

__all__ = ["bsns", "declarations", "field_damaged_files", "ibans", "insured_groups", "noisy_files",
           "structurally_damaged_files", "texts"]

_PERIOD_START = dt.date(2024, 1, 1)
# Printable text a pharmacy system would write, including Dutch/German diacritics.
_ALPHABET = st.sampled_from(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .-'éëöüïçßÉÖ"))


def _bsn_ok(digits: str) -> bool:
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(int(d) * w for d, w in zip(digits, weights)) % 11 == 0


@st.composite
def bsns(draw: st.DrawFn) -> str:
    """A 9-digit BSN that passes the 11-proef (never the 999999999 dummy)."""
    first8 = draw(st.integers(min_value=1_000_000, max_value=99_999_999))
    head = f"{first8:08d}"
    weights = (9, 8, 7, 6, 5, 4, 3, 2)
    total = sum(int(d) * w for d, w in zip(head, weights))
    last = total % 11  # need total - last ≡ 0 (mod 11)
    if last == 10:
        return draw(bsns())
    bsn = head + str(last)
    assert _bsn_ok(bsn)
    return bsn


def nth_bsn(n: int) -> str:
    """A BSN passing the 11-proef, another for every *n* >= 0 (for big valid files: one
    verzekerdenrecord per insured, STB §5.2). Of the heads 2n and 2n+1 one has a check
    digit below 10 (the last weight is 2: their check digits differ by 2 mod 11)."""
    weights = (9, 8, 7, 6, 5, 4, 3, 2)
    for head in (f"{10_000_000 + 2 * n:08d}", f"{10_000_000 + 2 * n + 1:08d}"):
        last = sum(int(d) * w for d, w in zip(head, weights)) % 11
        if last < 10:
            return head + str(last)
    raise AssertionError("unreachable")  # pragma: no cover


_IBANS = ("NL91ABNA0417164300", "NL20INGB0001234567", "DE89370400440532013000",
          "BE68539007547034", "NL02ABNA0123456789")


def ibans() -> st.SearchStrategy[str]:
    """Valid IBANs (ISO 13616 check digits correct)."""
    return st.sampled_from(_IBANS)


def texts(max_size: int, min_size: int = 1) -> st.SearchStrategy[str]:
    """Text for AN fields: no leading/trailing spaces, fits *max_size*."""
    return st.text(_ALPHABET, min_size=min_size, max_size=max_size).map(str.strip).filter(
        lambda s: len(s) >= min_size)


def _dates(lo: dt.date, hi: dt.date) -> st.SearchStrategy[dt.date]:
    return st.dates(min_value=lo, max_value=hi)


@st.composite
def _claim_values(draw: st.DrawFn, ref: str, period_end: dt.date, prev_ref: str | None) -> dict[str, Any]:
    amount = draw(st.integers(min_value=0, max_value=500_000))
    vat = amount * 9 // 109
    credit = prev_ref is not None and draw(st.booleans())
    sign = -1 if credit else 1
    values: dict[str, Any] = {
        "forwarding_allowed": "1", "information_record": "N",
        "service_date": draw(_dates(_PERIOD_START, period_end)),
        "service_time": draw(st.none() | st.times().map(lambda t: dt.time(t.hour, t.minute))),
        "service_code_list_1": "001",
        "service_code_1": f"{draw(st.integers(min_value=10_000_000, max_value=99_999_999)):014d}",
        "dispensing_unit": draw(st.sampled_from(["ST", None])),
        "average_daily_dose": draw(st.none() | st.integers(min_value=1, max_value=10_000)),
        "quantity": draw(st.integers(min_value=1, max_value=999)),
        "performer_code": "02" + f"{draw(st.integers(min_value=1, max_value=999_999)):06d}",
        "prescriber_code": draw(st.sampled_from(["01012345", "03054321", None])),
        "compounding_indicator": "3", "wmg_price_system": "1",
        "dosage_known": draw(st.sampled_from(["1", "2", "3"])),
        "gvs_included": draw(st.sampled_from(["1", "2", "3", "9"])),
        "tariff": amount, "calculated_amount_signed": sign * amount,
        "vat_percentage": 900, "vat_amount": vat, "declared_amount_signed": sign * amount,
        "reference": ref, "previous_reference": prev_ref if credit or draw(st.booleans()) else None,
        "service_link_number": "K" + ref[-8:],
    }
    if values["previous_reference"] is None:
        values["calculated_amount_signed"] = amount
        values["declared_amount_signed"] = amount
    return values


@st.composite
def insured_groups(draw: st.DrawFn, spec: MessageSpec, start_ref: int, period_end: dt.date,
                   with_debtor: bool) -> tuple[Record, Record | None, list[tuple[Record, list[Record]]], list[Record], int]:
    """One insured person's records: (02, optional 03, [(04, comments)], 02 comments, next ref)."""
    bsn = draw(bsns()) if draw(st.integers(0, 9)) else "999999999"
    birth = draw(_dates(dt.date(1920, 1, 1), dt.date(2023, 12, 31)))
    uzovi = draw(st.sampled_from(["3311", "3313", "0101", "7029"]))
    insured_number = draw(texts(15)) if bsn == "999999999" or draw(st.booleans()) else None
    debtor_number = draw(texts(11)) if with_debtor else None
    ins = spec.new("02", bsn=bsn, uzovi=uzovi, insured_number=insured_number, birth_date=birth,
                   gender=draw(st.sampled_from(["1", "2"])), name_code_1="1",
                   surname_1=draw(texts(25)), prefix_1=draw(st.none() | texts(10)),
                   name_code_2="0", initials=draw(texts(6)), name_code_3="0",
                   postcode=draw(st.sampled_from(["3511AB", "1012JS", "9711LM"])),
                   house_number=draw(st.integers(1, 99_999)),
                   patient_registration=draw(st.sampled_from(["J", "N"])),
                   debtor_number=debtor_number, deceased="2")
    debtor = None
    if with_debtor:
        debtor = spec.new("03", debtor_number=debtor_number, name_code_1="1",
                          surname_1=draw(texts(25)), name_code_3="1", street=draw(texts(24)),
                          house_number=draw(st.integers(1, 99_999)), postcode="3511AB",
                          city=draw(texts(24)), iban=draw(ibans()), debtor_record_version="02")
    n_claims = draw(st.integers(min_value=1, max_value=4))
    claims = []
    ref = start_ref
    for _ in range(n_claims):
        ref += 1
        prev = f"PREV{ref:012d}" if draw(st.integers(0, 4)) == 0 else None
        values = draw(_claim_values(f"R{ref:015d}", period_end, prev))
        rec = spec.new("04", bsn=bsn, uzovi=uzovi, insured_number=insured_number,
                       birth_date=birth, **values)
        comments = spec.comments(draw(texts(200))) if draw(st.integers(0, 5)) == 0 else []
        claims.append((rec, comments))
    ins_comments = spec.comments(draw(texts(140))) if draw(st.integers(0, 5)) == 0 else []
    return ins, debtor, claims, ins_comments, ref


@st.composite
def declarations(draw: st.DrawFn, *, max_insured: int = 4, to_insurer: bool | None = None) -> Declaration:
    """A valid AP304 v8.0 :class:`Declaration` (trailer left to the writer).

    ``to_insurer=True`` makes a file addressed to an insurer (UZOVI in the header, no
    debtor records); False a file to a service bureau (debtors allowed); None either.
    """
    spec = get_spec("AP304", "8.0")
    if to_insurer is None:
        to_insurer = draw(st.booleans())
    period_end = draw(_dates(dt.date(2024, 1, 1), dt.date(2024, 1, 31)))
    invoice_date = period_end + dt.timedelta(days=draw(st.integers(0, 40)))
    decl = Declaration.new(
        spec, message_kind=draw(st.sampled_from(["P", "T"])),
        uzovi="3311" if to_insurer else None,
        service_bureau_code=None if to_insurer else "98012345",
        provider_code="02012345", practice_code="02000123",
        payee_code="03" if to_insurer else "01",
        period_start=_PERIOD_START, period_end=period_end,
        invoice_number=draw(texts(12)), invoice_date=invoice_date, currency="EUR",
    )
    ref = 0
    seen: set[tuple[str, ...]] = set()
    for _ in range(draw(st.integers(min_value=1, max_value=max_insured))):
        with_debtor = (not to_insurer) and draw(st.booleans())
        ins, debtor, claims, ins_comments, ref = draw(
            insured_groups(spec, ref, period_end, with_debtor))
        # one verzekerdenrecord per insured (STB §5.2): key BSN + UZOVI, or with the dummy
        # BSN UZOVI + verzekerdennummer; an insured drawn twice is left out
        key = (ins.bsn, ins.uzovi) if ins.bsn != "999999999" else ("", ins.uzovi, ins.insured_number or "")
        if key in seen:
            continue
        seen.add(key)
        node = decl.add(ins, comments=ins_comments)
        if debtor is not None:
            node.add(debtor)
        for rec, comments in claims:
            node.add(rec, comments=comments)
    return decl


# ---------------------------------------------------------------------- damaged files
# Valid declarations with defects written in, for properties that must hold for any
# input (e.g. "the same findings whatever the batch size"). Not valid, by design.

_NOISE = st.sampled_from(list("0123456789 ADCXZ-ë\t") + ["00", "99", "  "])
_FIELD_DAMAGE = st.sampled_from(["zeros", "blank", "other", "date_late", "date_early", "digits", "dc", "iban"])


def _lines(decl: Declaration) -> list[str]:
    from .writer import dumps

    return dumps(decl).decode("utf-8")[:-2].split("\r\n")


def _file(lines: list[str]) -> bytes:
    return "".join(ln + "\r\n" for ln in lines).encode("utf-8")


@st.composite
def noisy_files(draw: st.DrawFn, *, max_insured: int = 3) -> bytes:
    """A declaration with 1-4 stretches of noise (digits, letters, D/C, a tab, a
    multi-byte character) written over random positions of random lines."""
    lines = _lines(draw(declarations(max_insured=max_insured)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        pos = draw(st.integers(0, 359))
        noise = draw(_NOISE)
        lines[i] = (lines[i][:pos] + noise + lines[i][pos + len(noise):])[:360]
    return _file(lines)


def _damaged_field(line: str, other: str, rubric: str, how: str, k: int) -> str:
    f = get_spec("AP304").records[line[:2]].by_rubric[rubric]
    n = f.length
    if how == "zeros":
        value = "0" * n
    elif how == "blank":
        value = " " * n
    elif how == "other" and other[:2] == line[:2]:
        value = other[f.start - 1:f.end]
    elif how == "date_late" and n == 8:
        value = "20240301"
    elif how == "date_early" and n == 8:
        value = "19991231"
    elif how == "dc" and n == 1:
        value = "DC"[k % 2]
    elif how == "iban" and n >= 18:
        value = ("NL91ABNA0417164300" if k % 2 else "NL91ABNA0417164301").ljust(n)
    else:
        value = str(k).zfill(n)[-n:]
    return line[:f.start - 1] + value + line[f.end:]


@st.composite
def field_damaged_files(draw: st.DrawFn, *, max_insured: int = 4) -> bytes:
    """A declaration with 1-3 detail fields given a value of another record of the same
    type, zeros, blanks, a boundary date, a D/C, a (wrong) IBAN or digits: values that
    reach the cross-record rules (claim against its insured, dates against the header,
    credit lines, ...)."""
    lines = _lines(draw(declarations(max_insured=max_insured)))
    body = range(1, len(lines) - 1)
    spec = get_spec("AP304")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.sampled_from(body))
        j = draw(st.sampled_from(body))
        rubric = draw(st.sampled_from([f.rubric for f in spec.records[lines[i][:2]].fields][1:]))
        lines[i] = _damaged_field(lines[i], lines[j], rubric, draw(_FIELD_DAMAGE), draw(st.integers(0, 10**9)))
    return _file(lines)


@st.composite
def structurally_damaged_files(draw: st.DrawFn, *, max_insured: int = 4) -> bytes:
    """A declaration with 1-3 lines dropped, repeated (duplicate ids and
    referentienummers), moved, cut short, ended with LF only, or empty lines inserted."""
    lines = [ln.encode("utf-8") for ln in _lines(draw(declarations(max_insured=max_insured)))]
    ends = [b"\r\n"] * len(lines)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(1, len(lines) - 1))
        what = draw(st.sampled_from(["drop", "repeat", "move", "lf", "empty", "short"]))
        if what == "drop" and len(lines) > 3:
            del lines[i], ends[i]
        elif what == "repeat":
            lines.insert(i, lines[i - 1])
            ends.insert(i, b"\r\n")
        elif what == "move":
            j = draw(st.integers(1, len(lines) - 1))
            lines.insert(j, lines.pop(i))
        elif what == "lf":
            ends[i - 1] = b"\n"
        elif what == "short":
            lines[i] = lines[i][:draw(st.integers(0, 359))]
        else:
            lines.insert(i, b"")
            ends.insert(i, b"\r\n")
    return b"".join(a + b for a, b in zip(lines, ends))
