"""The layout's field checks: the batch-wide "every field fine" pass never accepts a
record that the detailed field-by-field checks find a problem in, and never sends a
good record to them; the problem codes are the detailed checks' either way."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eicodec
from eicodec.batches import column_major
from eicodec.codes import return_codes
from eicodec.kinds import FieldChecks
from tests.conftest import EXAMPLES, lines_of

# characters that make or break fields: digits (dates, times, codes), zeros and spaces
# (missing), D/C, letters, NUL and DEL (the code-list keys), a non-ASCII letter (wide batch)
NOISE = st.sampled_from(list("0123456789 ADCXZ-\x00\x7fë") + ["00", "01", "12", "31", "29", "99", "  ", "02"])
EXAMPLE_FILES = [("ap304_full.asc", "AP304"), ("ap304_insurer.asc", "AP304"),
                 ("ap304_claim_rejected.asc", "AP304"), ("ap305_claim_rejected.asc", "AP305"),
                 ("gz321_valid.asc", "GZ321 1.0")]


def _checks(spec: eicodec.MessageSpec) -> dict[str, FieldChecks]:
    codes = frozenset(return_codes())
    return {t: FieldChecks(lay, codes) for t, lay in spec.records.items()}


def _agree(checks: FieldChecks, lines: list[str]) -> None:
    wide = any(not ln.isascii() for ln in lines)
    chars = np.array([[ord(c) for c in ln] for ln in lines], np.uint32 if wide else np.uint8)
    detailed = checks.detailed(chars)
    assert (checks.fine(chars) == (detailed == 0).all(axis=1)).all()
    assert (checks.problems(chars) == detailed).all()
    # the engine's way: some of the rows, column-major only up to the cut (a long
    # reserve at the end is checked on the rows as they are)
    rows = np.arange(0, len(chars), 2)
    bad, codes = checks.failing(chars, column_major(chars[:, :checks.cut], rows=rows), rows)
    want = detailed[rows]
    assert bad.tolist() == np.flatnonzero((want != 0).any(axis=1)).tolist()
    assert (codes == want[bad]).all()


@pytest.mark.parametrize(("name", "message"), EXAMPLE_FILES)
@settings(max_examples=40, suppress_health_check=list(HealthCheck), deadline=None)
@given(data=st.data())
def test_fine_pass_agrees_with_detailed_checks(name: str, message: str, data: st.DataObject) -> None:
    spec = eicodec.get_spec(*message.split())
    text = [ln.decode("ascii") for ln in lines_of((EXAMPLES / name).read_bytes())]
    checks = _checks(spec)
    by_type: dict[str, list[str]] = {}
    for ln in text:
        by_type.setdefault(ln[:2], []).append(ln)
    width = spec.record_length
    for t, rows in by_type.items():
        if t not in checks:
            continue
        rows = list(rows)
        for _ in range(data.draw(st.integers(0, 6))):
            i = data.draw(st.integers(0, len(rows) - 1))
            pos = data.draw(st.integers(2, width - 1))
            noise = data.draw(NOISE)
            rows[i] = (rows[i][:pos] + noise + rows[i][pos + len(noise):])[:width]
        _agree(checks[t], rows + [ln for ln in by_type[t]])


def test_long_reserve_at_the_end_is_cut_off_the_column_major_copy() -> None:
    """The cut that the test above exercises is made where a record ends in a long
    reserve (AP304's 02: half the record) and nowhere else."""
    checks = _checks(eicodec.get_spec("AP304"))
    assert checks["02"].cut == 182 and checks["03"].cut == 308
    assert checks["04"].cut == 360  # (a reserve of 13: not worth a pass of its own)
