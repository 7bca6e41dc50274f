"""Issue 26: masking decided for a whole batch of lines (Masker.hidden_rows) gives, line
for line, exactly what the one definition (Masker.hidden_raw) gives.

Lines come from seeded mutated files (tests/privacy_harness.py: relabelled kenmerken,
joined, split, shifted, truncated lines, byte noise, non-ASCII text) and from lines made
to sit on the edges of each form: every example line relabelled to every type, dates
around 29 February and the year 0000, times around 24:00, D/C, non-ASCII digits, and
reserves holding text or Unicode white space. Each line is asked of every layout of its
spec, not only of the one its kenmerk names.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

import eicodec
from eicodec import tables
from eicodec.batches import char_matrix
from eicodec.masking import DATE_OR_ZEROS, TIME_OF_DAY, Masker
from eicodec.masking_rows import _digit_dates_fit, dates_ok
from tests.privacy_harness import EXAMPLES, bases, corpus


def _text_lines(data: bytes) -> list[str]:
    return [x.decode("utf-8", "surrogateescape") for x in data.split(b"\r\n") if x]


def _put(line: str, f: eicodec.layouts.FieldSpec, text: str) -> str:
    return line[:f.start - 1] + text.ljust(f.length)[:f.length] + line[f.end:]


def _edge_lines(spec: eicodec.MessageSpec, lines: list[str], rng: random.Random) -> set[str]:
    """*lines* of *spec* relabelled to every type and with fields set to the edges of
    their forms."""
    out: set[str] = set()
    kinds = [*spec.records, "00", "77"]
    dates = ["20240229", "20230229", "19000229", "20000229", "16000229", "00000000", "00000101",
             "00010101", "20241301", "20240100", "20240431", "20240430", "99991231", "2024 101", "0000000 "]
    times = ["2400", "2359", "0060", "0059", "0000", "1960", "2300", "24 0"]
    odd_digits = ["\u0663", "\uff15", "x", " ", "-", "/", ":"]  # (Arabic-Indic 3, fullwidth 5; "/" and ":" beside 0-9)
    blanks = [" ", "\u3000", "\xa0", "\x1c", "\x85", "\u200b", "X", "\xe9", "\t"]
    for line in lines:
        lay = spec.records.get(line[:2])
        for k in kinds:
            out.add(k + line[2:])
        if lay is None or len(line) != lay.length:
            continue
        for f in lay.fields[1:]:
            if f.kind == "date":
                out.update(_put(line, f, d) for d in dates)
            elif f.kind == "time":
                out.update(_put(line, f, t) for t in times)
            elif f.kind == "dc":
                out.update(_put(line, f, c) for c in ("D", "C", " ", "X", "d"))
            elif f.kind in ("digits", "number", "amount"):
                p = rng.randrange(f.length)
                text = line[f.slice]
                out.update(_put(line, f, text[:p] + c + text[p + 1:]) for c in odd_digits)
            elif f.kind == "reserve":
                for c in blanks:
                    p = rng.randrange(f.length)
                    out.add(_put(line, f, " " * p + c))
                    for k in kinds:  # (a filled reserve in a line that is not what it claims)
                        out.add(k + _put(line, f, " " * p + c)[2:])
    return out


def _assert_same(masker: Masker, lines: list[str]) -> int:
    """Every layout of the spec asked of every line, both ways; returns the comparisons."""
    by_length: dict[int, list[str]] = {}
    for line in lines:
        by_length.setdefault(len(line), []).append(line)
    done = 0
    for width, group in by_length.items():
        if width == 0:
            continue
        for wide in (False, True):
            chars = char_matrix(group, width)
            if wide:  # the same lines as code points (a batch that holds non-ASCII text)
                chars = chars.astype(np.uint32)
            for lay in masker.spec.records.values():
                answers, which = masker.hidden_rows(lay, chars)
                assert len(which) == len(group)
                for line, k in zip(group, which.tolist(), strict=True):
                    assert answers[k] == masker.hidden_raw(lay, line), (lay.type, line)
                    done += 1
                ascii_lines = [line for line in group if line.isascii()]
                if not wide and ascii_lines:  # the ASCII lines also column-major, as tables hand them over
                    rows = char_matrix(ascii_lines, width)
                    cols = np.full((width, len(ascii_lines)), 0x7F, dtype=np.uint8)  # (positions not checked: junk)
                    for a, b in masker.column_spans(lay):
                        cols[a:b] = rows[:, a:b].T
                    answers, which = masker.hidden_rows(lay, rows, cols)
                    for line, k in zip(ascii_lines, which.tolist(), strict=True):
                        assert answers[k] == masker.hidden_raw(lay, line), (lay.type, line, "column-major")
                        done += 1
    return done


def _spec_of(data: bytes) -> eicodec.MessageSpec:
    return eicodec.read(data).spec


def test_the_batch_decision_equals_the_line_decision_on_mutated_files() -> None:
    per_spec: dict[str, tuple[Masker, set[str]]] = {}
    base_of = {b: _spec_of(b) for b in bases()}
    for _k, base, data, _done in corpus(26, 400):
        spec = base_of[base]
        masker, seen = per_spec.setdefault(spec.name, (Masker(spec), set()))
        seen.update(_text_lines(data))
    rng = random.Random(26)
    for b in bases():
        spec = base_of[b]
        masker, seen = per_spec[spec.name]
        seen.update(_edge_lines(spec, _text_lines(b), rng))
    kinds: set[str] = set()
    for masker, seen in per_spec.values():
        lines = sorted(seen)
        assert _assert_same(masker, lines) > 0
        for line in lines:
            lay = masker.spec.records.get(line[:2])
            kinds.add("non-ascii" if not line.isascii() else "ascii")
            if lay is None:
                kinds.add("unknown type")
            elif len(line) != lay.length:
                kinds.add("short or long")
            else:
                hide = masker.hidden_raw(lay, line)
                if hide is None:
                    kinds.add("does not fit")
                elif any(f.attr in hide for f in lay.fields if f.kind == "reserve"):
                    kinds.add("filled reserve")
                if hide is not None and hide - {f.attr for f in lay.fields if f.personal or f.kind == "reserve"}:
                    kinds.add("fits another layout")
    # (the lines reach every branch of the decision)
    assert kinds >= {"non-ascii", "ascii", "unknown type", "short or long", "does not fit", "filled reserve",
                     "fits another layout"}


def test_dates_and_times_by_arrays_match_the_patterns() -> None:
    """The calendar check of a batch against DATE_OR_ZEROS: every month and day 00-99 of
    years around the leap rules, and 29 February (and its neighbours) of every year."""
    texts = [f"{y:04d}{md:04d}" for y in (0, 1, 4, 100, 400, 1600, 1700, 1900, 2000, 2023, 2024, 9996, 9999)
             for md in range(10000)]
    texts += [f"{y:04d}02{d:02d}" for y in range(10000) for d in (28, 29, 30)]
    digits = np.array([[int(c) for c in t] for t in texts], dtype=np.int32)
    got = dates_ok(digits)
    pattern = re.compile(DATE_OR_ZEROS)
    want = np.array([pattern.fullmatch(t) is not None for t in texts])
    assert np.array_equal(got, want)
    assert got.sum() > 10000  # (not vacuous)
    # times: every four digits, through a layout that has a time field
    spec = eicodec.get_spec("AP304")
    masker = Masker(spec)
    lay = next(lay for lay in spec.records.values() if any(f.kind == "time" for f in lay.fields))
    line = next(x for x in _text_lines((EXAMPLES / "ap304_full.asc").read_bytes()) if x.startswith(lay.type))
    f = next(f for f in lay.fields if f.kind == "time")
    lines = [_put(line, f, f"{t:04d}") for t in range(10000)]
    answers, which = masker.hidden_rows(lay, char_matrix(lines, len(line)))
    fits = [answers[k] is not None for k in which.tolist()]
    time_re = re.compile(f"(?:0000|{TIME_OF_DAY})")
    assert fits == [time_re.fullmatch(f"{t:04d}") is not None for t in range(10000)]
    assert sum(fits) == 24 * 60


def _per_line_mask_rows(masker, batch, lay, cb, answers=None):  # type: ignore[no-untyped-def]
    """The masking of a batch of the table as it was: hidden_raw asked line by line (the
    batch's *answers*, when given, are not looked at)."""
    if not len(cb.lines) or not cb.valid:
        return cb
    valid = {}
    for k, v in cb.valid.items():
        base = k.removesuffix("_signed")
        drop = np.array([(h := masker.hidden_raw(lay, batch.text(line - batch.first))) is None or base in h
                         for line in cb.lines.tolist()], dtype=bool)
        valid[k] = v & ~drop
    return tables.ColumnBatch(cb.lines, cb.columns, valid)


def _csv_or_error(data: bytes, record_type: str) -> str:
    try:
        return "".join(tables.iter_csv_rows(data, record_type))
    except eicodec.EicodecError as exc:
        return f"error {type(exc).__name__}"


@pytest.mark.parametrize("batch_lines", [7, 4096])
def test_masked_tables_are_the_same_as_with_the_line_decision(monkeypatch: pytest.MonkeyPatch,
                                                               batch_lines: int) -> None:
    """The masked CSV of every record type of mutated files, decided a batch at a time
    and decided line by line, is the same text."""
    monkeypatch.setattr(tables, "_ENGINE_BATCH_LINES", batch_lines)
    compared = 0
    for k, _base, data, _done in corpus(27, 60):
        try:
            spec = _spec_of(data)
        except eicodec.EicodecError:
            continue
        for t in spec.records:
            fast = _csv_or_error(data, t)
            with monkeypatch.context() as m:
                m.setattr(tables, "_mask_rows", _per_line_mask_rows)
                slow = _csv_or_error(data, t)
            assert fast == slow, (k, t)
            compared += not fast.startswith("error")
    assert compared > 100


def test_dates_of_ascii_digits_by_small_integers_match_dates_ok() -> None:
    """The ASCII path's date check (_digit_dates_fit, four character codes read as one
    number) and dates_ok (on digit values) agree on every month and day of chosen years,
    29 February of every year and random digits; and with DATE_OR_ZEROS."""
    rng = random.Random(26)
    texts = [f"{y:04d}{md:04d}" for y in (0, 1, 4, 100, 1600, 1900, 2000, 2023, 2024, 9999)
             for md in range(10000)]
    texts += [f"{y:04d}02{d:02d}" for y in range(10000) for d in (28, 29, 30)]
    texts += ["".join(rng.choice("0123456789") for _ in range(8)) for _ in range(3000)]
    codes = np.frombuffer("".join(texts).encode("ascii"), np.uint8).reshape(-1, 16)
    want = dates_ok(codes.astype(np.int16).reshape(len(codes), 2, 8) - 48)
    # dates at 3 and 11 of a row padded with other digits (at odd positions: unaligned reads)
    padded = np.concatenate([np.full((len(codes), 3), 57, np.uint8), codes[:, :8],
                             codes[:, 8:], np.full((len(codes), 2), 48, np.uint8)], axis=1)
    assert np.array_equal(_digit_dates_fit(padded, (3,)), want[:, 0])
    assert np.array_equal(_digit_dates_fit(padded, (11,)), want[:, 1])
    assert np.array_equal(_digit_dates_fit(padded, (3, 11)), want.all(axis=1))
    pattern = re.compile(DATE_OR_ZEROS)
    assert want.reshape(-1).tolist() == [pattern.fullmatch(t) is not None for t in texts]
    assert want.any() and not want.all()
