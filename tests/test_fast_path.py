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


# ---------------------------------------------------------------- field-aware mutations
# The pass-2 fast path checks whole insured groups with patterns that also carry the
# business rules (claim against its 02, dates against the header, D/C, credit lines,
# forwarding, debtor number). These mutations aim at those rules: a field gets a value of
# its own kind taken from another record, or one of a few boundary values.

SPEC = eicodec.get_spec("AP304")
FIELD_VALUES = st.sampled_from(["zeros", "blank", "other", "date_late", "date_early", "digits", "dc", "iban"])


def _mutate_field(line: str, other: str, rubric: str, how: str, draw_int: int) -> str:
    lay = SPEC.records[line[:2]]
    f = lay.by_rubric[rubric]
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
        value = "DC"[draw_int % 2]
    elif how == "iban" and n >= 18:
        value = ("NL91ABNA0417164300" if draw_int % 2 else "NL91ABNA0417164301").ljust(n)
    else:
        value = str(draw_int).zfill(n)[-n:]
    return line[:f.start - 1] + value + line[f.end:]


@settings(max_examples=120, suppress_health_check=list(HealthCheck), deadline=None)
@given(declarations(max_insured=4), st.data(), st.sampled_from(["insurer", "vecozo"]))
def test_field_mutations_hit_business_rules_alike(decl, data, mode) -> None:  # type: ignore[no-untyped-def]
    lines = [ln.decode("utf-8") for ln in lines_of(eicodec.dumps(decl))]
    body = range(1, len(lines) - 1)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.sampled_from(body))
        j = data.draw(st.sampled_from(body))
        rubric = data.draw(st.sampled_from([f.rubric for f in SPEC.records[lines[i][:2]].fields][1:]))
        lines[i] = _mutate_field(lines[i], lines[j], rubric, data.draw(FIELD_VALUES),
                                 data.draw(st.integers(0, 10**9)))
    same(both(join([ln.encode("utf-8") for ln in lines]), mode))


@settings(max_examples=60, suppress_health_check=list(HealthCheck), deadline=None)
@given(declarations(max_insured=4), st.data())
def test_structural_mutations_alike(decl, data) -> None:  # type: ignore[no-untyped-def]
    """Lines dropped, repeated (duplicate ids and referentienummers), moved, or ended with
    LF only: the fast path must hand such groups to the record-by-record path."""
    lines = lines_of(eicodec.dumps(decl))
    ends = [b"\r\n"] * len(lines)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(1, len(lines) - 1))
        what = data.draw(st.sampled_from(["drop", "repeat", "move", "lf", "empty"]))
        if what == "drop" and len(lines) > 3:
            del lines[i], ends[i]
        elif what == "repeat":
            lines.insert(i, lines[i - 1])
            ends.insert(i, b"\r\n")
        elif what == "move":
            j = data.draw(st.integers(1, len(lines) - 1))
            lines.insert(j, lines.pop(i))
        elif what == "lf":
            ends[i - 1] = b"\n"
        else:
            lines.insert(i, b"")
            ends.insert(i, b"\r\n")
    same(both(b"".join(a + b for a, b in zip(lines, ends))))


def test_big_file_across_read_blocks() -> None:
    """A file of many read blocks, with groups across block boundaries, rejected claim
    lines, a duplicate referentienummer and one block with a lone LF: same findings."""
    data = eicodec.dumps(declarations(max_insured=4).example())
    header, body, trailer = data.split(b"\r\n", 1)[0], lines_of(data)[1:-1], lines_of(data)[-1]
    lines = [header] + body * 150 + [trailer]  # ~200 KB: several 64K-character blocks
    for i in range(5, len(lines) - 1, 37):
        if lines[i].startswith(b"04"):
            lines[i] = lines[i][:91] + b"777" + lines[i][94:]  # unknown prestatiecodelijst
    data = join(lines)
    mid = len(data) // 2
    cut = data.index(b"\r\n", mid)
    for payload in (data, data[:cut] + b"\n" + data[cut + 2:]):
        pair = both(payload)
        assert pair is not None
        same(pair)
        assert pair[0].status is not eicodec.Status.APPROVED


@pytest.mark.parametrize("name", ["ap304_full.asc", "ap304_insurer.asc", "ap304_claim_rejected.asc",
                                  "ap305_claim_rejected.asc"])
def test_examples_alike_and_checked_in_groups(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples give the same findings both ways, and the fast way did check their
    insured groups as groups (so the property tests above test something)."""
    from eicodec import validator

    passed: list[bool] = []
    real = validator._Validation._fast_group

    def spy(self, plan, lines, first):  # type: ignore[no-untyped-def]
        ok = real(self, plan, lines, first)
        passed.append(ok)
        return ok

    monkeypatch.setattr(validator._Validation, "_fast_group", spy)
    from tests.conftest import EXAMPLES

    same(both((EXAMPLES / name).read_bytes()))
    assert passed and all(passed)
