"""Guard for the optimized validator: the compiled fast path and the per-field reference
path give identical findings (not timed; speed lives in benchmarks/)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eicodec
from eicodec.testing import declarations
from tests.conftest import join, lines_of

TODAY = dt.date(2024, 6, 1)
NOISE = st.sampled_from(list("0123456789 ADCXZ-ë\t") + ["00", "99", "  "])


def both(data: bytes, mode: str = "insurer") -> tuple[eicodec.Report, eicodec.Report] | None:
    try:
        fast = eicodec.validate(data, mode=mode, today=TODAY, fast_path=True)
    except eicodec.UnreadableInputError:
        with pytest.raises(eicodec.UnreadableInputError):
            eicodec.validate(data, mode=mode, today=TODAY, fast_path=False)
        return None
    return fast, eicodec.validate(data, mode=mode, today=TODAY, fast_path=False)


def same(pair: tuple[eicodec.Report, eicodec.Report] | None) -> None:
    if pair is None:
        return
    a, b = pair
    assert a.status is b.status
    assert a.findings == b.findings
    assert a.outcomes == b.outcomes


@settings(max_examples=40, suppress_health_check=list(HealthCheck), deadline=None)
@given(declarations(max_insured=3))
def test_valid_generated_files(decl: eicodec.Declaration) -> None:
    same(both(eicodec.dumps(decl)))


@settings(max_examples=80, suppress_health_check=list(HealthCheck), deadline=None)
@given(declarations(max_insured=3), st.data(), st.sampled_from(["insurer", "vecozo"]))
def test_corrupted_generated_files(decl, data, mode) -> None:  # type: ignore[no-untyped-def]
    lines = [ln.decode("utf-8") for ln in lines_of(eicodec.dumps(decl))]
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        pos = data.draw(st.integers(0, 359))
        noise = data.draw(NOISE)
        lines[i] = (lines[i][:pos] + noise + lines[i][pos + len(noise):])[:360]
    same(both(join([ln.encode("utf-8") for ln in lines]), mode))
