"""Rules of one kind checked at once (issue #26, stop 32): the engine checks the
``equal_to_ancestor`` and ``compare`` rules of one record type that it reads through one
view together (:class:`eicodec.kinds.Fused`), and ``required``/``empty`` rules share each
field's "filled" (``View.filled``). The findings must be those of the kinds one rule at
a time: the GZ321 example, damaged at random in
the fields its rules read, is validated both ways (fusion switched off by giving the
engine no groups) at several batch sizes and in both modes.

Also here: the first pass keeps each record type's identificaties
(``engine._IdsSoFar``), so that a file whose ids repeat needs no pass of their own;
what it finds repeated must be what that pass (:func:`eicodec.engine.id_repeats`) finds.
"""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

import eicodec
from eicodec import engine, kinds
from eicodec.rules import rules_for
from tests.conftest import EXAMPLES

SPEC = eicodec.get_spec("GZ321", "1.0")
VALID = EXAMPLES / "gz321_valid.asc"
TODAY = dt.date(2025, 6, 1)
FUSED_KINDS = {"required", "empty", "equal_to_ancestor", "compare"}


def _read_fields(record: str) -> list[str]:
    """The rubrics of *record* that the fused rules (on it or under it) read."""
    out = set()
    for r in rules_for(SPEC).checks:
        if r.kind not in FUSED_KINDS:
            continue
        names = [*r.rubrics, *(c.rubric for c in r.when if c.rubric), r.params.get("ancestor_rubric")]
        other = r.params.get("other")
        names += [o["rubric"] for o in (other if isinstance(other, list) else [other]) if isinstance(o, dict)]
        out |= {n for n in names if n and n in SPEC.records[record].by_rubric}
    return sorted(out)


def _damaged(seed: int) -> bytes:
    """The example with a few fields the fused rules read blanked, zeroed, made random
    digits or copied from another record of the type."""
    rnd = random.Random(seed)
    lines = VALID.read_bytes().split(b"\r\n")
    body = [k for k, line in enumerate(lines) if line[:2] in (b"04", b"06", b"16", b"17", b"02")]
    for _ in range(rnd.randint(1, 6)):
        k = rnd.choice(body)
        t = lines[k][:2].decode()
        rubrics = _read_fields(t)
        if not rubrics:
            continue
        f = SPEC.records[t].by_rubric[rnd.choice(rubrics)]
        s, e = f.start - 1, f.end
        how = rnd.randrange(4)
        if how == 0:
            new = b" " * (e - s)
        elif how == 1:
            new = b"0" * (e - s)
        elif how == 2:
            new = bytes(rnd.choice(b"0123456789") for _ in range(e - s))
        else:
            other = rnd.choice([j for j in body if lines[j][:2] == lines[k][:2]])
            new = lines[other][s:e]
        lines[k] = lines[k][:s] + new + lines[k][e:]
    return b"\r\n".join(lines)


def _seen(report: eicodec.Report) -> tuple[object, ...]:
    found = [(f.line, f.code, f.rule, f.rubric, f.message, f.level) for f in
             [*report.findings, *(report.unassessed or [])]]
    outcomes = [(line, report.outcomes[line].verdict, report.outcomes[line].codes) for line in report.outcomes]
    return report.status, found, outcomes


def test_the_engine_fuses_gz321s_rules() -> None:
    run = engine._Run(SPEC, rules_for(SPEC), "insurer", False, TODAY, None)
    families = {(kinds.FUSED_FAMILIES[r.kind], r.record) for i, r in run.checks if i in run.fused}
    assert {("ancestor", "06"), ("ancestor", "16"), ("ancestor", "17"), ("compare", "04"),
            ("compare", "16")} <= families
    # every rule of a fused group is of its family and record type
    for i, r in run.checks:
        if i in run.fused:
            assert r.kind in kinds.FUSED_FAMILIES


@pytest.mark.parametrize("seed", range(40))
def test_fused_rules_find_what_the_kinds_find_one_by_one(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _damaged(seed)
    for batch_lines in (3, 4096):
        for mode in ("insurer", "vecozo"):
            fused = eicodec.validate(data, today=TODAY, batch_lines=batch_lines, mode=mode)
            with monkeypatch.context() as m:
                m.setattr(engine, "fuse", lambda spec, checks: {})
                alone = eicodec.validate(data, today=TODAY, batch_lines=batch_lines, mode=mode)
            assert _seen(fused) == _seen(alone)


def test_the_damage_reaches_the_fused_rules() -> None:
    """(so that the comparison above compares something: the fused kinds find things)"""
    ids = {r.id for r in rules_for(SPEC).checks if r.kind in FUSED_KINDS}
    hit: set[str] = set()
    for seed in range(40):
        report = eicodec.validate(_damaged(seed), today=TODAY)
        hit |= {f.rule for f in [*report.findings, *(report.unassessed or [])]} & ids
    kinds_hit = {r.kind for r in rules_for(SPEC).checks if r.id in hit}
    assert kinds_hit == FUSED_KINDS, kinds_hit
    assert len(hit) >= 15


def test_dates_at_once_as_field_by_field() -> None:
    from eicodec.batches import all_of, date_ordinal

    rnd = np.random.default_rng(3)
    n = 4000
    texts = [f"{y:04d}{m:02d}{d:02d}" for y, m, d in zip(rnd.integers(0, 3000, n), rnd.integers(0, 14, n),
                                                          rnd.integers(0, 33, n))]
    texts[:4] = ["00000000", "20240229", "19000229", "2024 229"]
    one = np.frombuffer("".join(texts).encode(), np.uint8).reshape(n, 8)
    two = one[::-1].copy()
    values, has = kinds.dates_at_once(np.ascontiguousarray(np.stack([one.T, two.T])))
    for k, fc in enumerate((one, two)):
        value, ok = date_ordinal(fc)
        assert (values[k] == value).all()
        assert (has[k] == (ok & ~all_of(fc, 48))).all()
    assert has[0][:4].tolist() == [False, True, False, False]


# ------------------------------------------------------------------ ids kept by the first pass

def _digits(ids: list[int]) -> np.ndarray:
    return np.frombuffer("".join(f"{v:012d}" for v in ids).encode(), np.uint8).reshape(len(ids), 12)


@pytest.mark.parametrize("seed", range(30))
def test_ids_kept_by_the_first_pass_repeat_as_a_pass_of_their_own_finds(seed: int,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(seed)
    monkeypatch.setattr(engine._IdsSoFar, "RUNS", rnd.choice([2, 5, 4096]))
    ids: list[int] = []
    v = rnd.randint(1, 50)
    for _ in range(rnd.randint(1, 400)):  # runs counting up, gaps, restarts, repeats
        step = rnd.choice([1, 1, 1, 1, 2, 7, 0, -3, -40]) if ids else 0
        v = max(0, v + step)
        ids.append(v)
    kept = engine._IdsSoFar()
    batches = []
    at = 0
    while at < len(ids):
        size = rnd.randint(1, 60)
        batches.append(ids[at:at + size])
        at += size
    for part in batches:
        kept.add(_digits(part))
    expect = np.unique([x for x in ids if ids.count(x) > 1]).astype(np.int64)
    if kept.lost:
        assert engine._IdsSoFar.RUNS < 4096
    else:
        assert kept.repeated().tolist() == expect.tolist()


def test_repeated_ids_need_no_pass_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GZ321 example twice over with the same ids: the ids of the first copy count up
    with few gaps, those of the second repeat them; the first pass knows which."""
    lines = VALID.read_bytes().split(b"\r\n")
    head, body = lines[:1], [x for x in lines[1:] if x and x[:2] != b"99"]
    tail = [x for x in lines if x[:2] == b"99"]
    data = b"\r\n".join(head + body + body + tail) + b"\r\n"
    expected = eicodec.validate(data, today=TODAY)
    calls = []
    real = engine.id_repeats
    monkeypatch.setattr(engine, "id_repeats", lambda *a: calls.append(a) or real(*a))
    again = eicodec.validate(data, today=TODAY)
    assert not calls
    assert _seen(again) == _seen(expected)
    assert any(f.rule == "file.record_id" for f in again.findings)
    # ... and with the runs given up on, the pass of their own runs and finds the same
    monkeypatch.setattr(engine._IdsSoFar, "RUNS", 0)
    lost = eicodec.validate(data, today=TODAY, batch_lines=3)
    assert calls
    assert _seen(lost) == _seen(expected)


def test_batches_grow_with_the_rules_checks() -> None:
    assert engine.batch_lines_for(rules_for(SPEC)) == 2 * engine.VALIDATE_BATCH_LINES
    ap304 = rules_for(eicodec.get_spec("AP304", "8.0"))
    assert engine.batch_lines_for(ap304) == engine.VALIDATE_BATCH_LINES
