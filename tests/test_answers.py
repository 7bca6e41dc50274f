"""Issue 12: every readable file gets its answer, and the answer accounts for every claim line.

Regression tests for the numbered cases 1-3 (AP305 builder and ``outcome``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import eicodec
from eicodec import Status
from tests.conftest import EXAMPLES, join, lines_of
from tests.test_validator import INSURER, patch

TODAY = dt.date(2024, 3, 1)


def many_claims(n_debit: int, n_credit: int, amount: int = 99_999_999) -> bytes:
    """One insured with *n_debit* debit and *n_credit* credit lines of *amount* cents;
    the credit lines carry a service code list (777) an insurer rejects."""
    decl = eicodec.read(EXAMPLES / "ap304_insurer.asc")
    group = decl.groups[0]
    claim = next(n.record for n in group.children if n.record.record_type == "04")
    group.children = [n for n in group.children if n.record.record_type != "04"]
    decl.groups = [group]
    for i in range(n_debit + n_credit):
        rec = claim.copy()
        rec.set("record_id", None)
        sign = 1 if i < n_debit else -1
        rec.set_signed("declared_amount", sign * amount)
        rec.set_signed("calculated_amount", sign * amount)
        rec.set("tariff", amount)
        rec.set("reference", f"R{i:015d}")
        if i >= n_debit:
            rec.set("previous_reference", f"P{i:015d}")
            rec.set("service_code_list_1", "777")
        group.add(rec)
    return eicodec.dumps(decl)


def answer(data: bytes, **kw: object) -> tuple[eicodec.Report, bytes]:
    report = eicodec.validate(data, today=TODAY)
    return report, eicodec.dumps_retour(data, report, return_date=TODAY, **kw)  # type: ignore[arg-type]


def well_formed(ap305: bytes) -> eicodec.Declaration:
    """The AP305 reads back without structure problems: every record its layout's
    length, CR/LF after each, header first, trailer last, counts right."""
    assert ap305.endswith(b"\r\n") and b"\n" not in ap305.replace(b"\r\n", b"")
    back = eicodec.read(ap305)
    assert back.spec.name == "AP305 v8.0"
    assert back.problems == [] and back.unplaced == []
    assert all(len(r.raw) == r.layout.length for r in back.iter_records())
    return back


def claim_lines(data: bytes) -> list[int]:
    """Line numbers of every line whose kenmerk record is 04 (CR/LF-separated input)."""
    return [i for i, ln in enumerate(data.split(b"\r\n"), 1) if ln.startswith(b"04")]


# ---------------------------------------------------------------- case 1

def test_awarded_total_beyond_11_digits_gives_a_file_level_answer_not_an_exception() -> None:
    data = many_claims(1001, 1001)
    report, ap305 = answer(data)
    assert report.status is Status.REJECTED_RECORDS  # the credits are rejected: the award is the debits
    back = well_formed(ap305)
    header_codes = {back.header.return_code_1, back.header.return_code_2, back.header.return_code_3}
    assert "0150" in header_codes  # total_does_not_fit (rules data)
    assert back.groups == []  # a file-level answer returns no detail records
    assert back.trailer.awarded_total in (0, None)  # zeros read as empty
    outs = eicodec.outcome(data, ap305)
    assert len(outs) == 2002 and {o.status for o in outs} == {"rejected"}


def test_totals_that_fit_keep_the_record_level_answer() -> None:
    data = many_claims(999, 1)
    report, ap305 = answer(data)
    back = well_formed(ap305)
    assert back.header.return_code_1 == "0200"
    assert back.trailer.awarded_total_signed == 999 * 99_999_999


@pytest.mark.parametrize(("n_debit", "n_credit", "amount", "fits"), [(10, 2000, 1000, True), (1001, 1001, 99_999_999, False)])
def test_the_claim_amounts_bound_the_awarded_total_so_the_answer_reads_once(
        n_debit: int, n_credit: int, amount: int, fits: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of rejected claim lines could, at the largest amount each, overflow the
    awarded total: the answer then read their groups twice (the total first). Validation
    keeps the sum of all claim amounts without their D/C, which bounds that total: when
    the bound fits, one reading; when it does not, the total is still taken first (and
    here does not fit: a file-level answer). Either way the same AP305 as without it."""
    import attrs

    from eicodec import retour

    data = many_claims(n_debit, n_credit, amount)
    report = eicodec.validate(data, today=TODAY)
    rubric = eicodec.get_spec("AP304").field("04", "declared_amount").rubric
    assert report.amount_magnitudes[rubric] == (n_debit + n_credit) * amount
    assert report.amount_sums[rubric] == (n_debit - n_credit) * amount
    first_passes: list[int] = []
    real = retour._Builder.window_not_awarded

    def counted(self: object, *args: object) -> int:
        first_passes.append(1)
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(retour._Builder, "window_not_awarded", counted)
    ap305 = eicodec.dumps_retour(data, report, return_date=TODAY)
    once = not first_passes
    first_passes.clear()
    unknown = eicodec.dumps_retour(data, attrs.evolve(report, amount_magnitudes={}), return_date=TODAY)
    assert first_passes and once is fits and ap305 == unknown
    back = well_formed(ap305)
    assert ("0150" in {back.header.return_code_1, back.header.return_code_2}) is not fits
    if fits:
        assert back.trailer.awarded_total_signed == n_debit * amount


@pytest.mark.parametrize("how", ["no trailer", "9907 not a number", "trailer cut short"])
def test_broken_or_absent_trailer_still_gets_a_well_formed_answer(how: str) -> None:
    # 1001 debit lines: their declared total does not fit 11 digits either
    everything = lines_of(many_claims(1001, 1001))
    lines = [*everything[:2 + 1001], everything[-1]]
    if how == "no trailer":
        lines = lines[:-1]
    elif how == "9907 not a number":
        t = lines[-1].decode()
        f = eicodec.get_spec("AP304").field("99", "9907")
        lines[-1] = (t[: f.start - 1] + "X" * f.length + t[f.end:]).encode()
    else:
        lines[-1] = lines[-1][:40]
    data = join(lines)
    report, ap305 = answer(data)
    assert report.status is Status.REJECTED_FILE
    back = well_formed(ap305)
    assert back.header.return_code_1 is not None
    assert len(eicodec.outcome(data, ap305)) == 1001


# ---------------------------------------------------------------- case 2

@pytest.mark.parametrize("rubric", ["0440", "0444"])
def test_outcome_reads_an_answer_to_a_claim_line_with_a_broken_dc_indicator(rubric: str) -> None:
    data = patch(INSURER, 3, rubric, "X")
    report, ap305 = answer(data)
    well_formed(ap305)
    outs = eicodec.outcome(data, ap305)
    assert [o.line for o in outs] == claim_lines(data)
    assert outs[0].status == "rejected"


def test_outcome_reads_an_answer_to_a_short_header() -> None:
    lines = lines_of(INSURER)
    data = join([lines[0][:347], *lines[1:]])
    report, ap305 = answer(data)
    assert report.status is Status.REJECTED_FILE
    well_formed(ap305)
    outs = eicodec.outcome(data, ap305)
    assert [o.line for o in outs] == claim_lines(data)
    assert {o.status for o in outs} == {"rejected"}


@pytest.mark.parametrize("cut", [2, 200, 306])
def test_outcome_reads_a_file_level_answer_with_a_short_claim_line(cut: int) -> None:
    lines = lines_of(INSURER)
    data = join([*lines[:2], lines[2][:cut], *lines[3:]])
    report, ap305 = answer(data)
    well_formed(ap305)
    outs = eicodec.outcome(data, ap305)
    assert [o.line for o in outs] == claim_lines(data)


# ---------------------------------------------------------------- case 3

def _misplaced(where: str) -> bytes:
    lines = lines_of(INSURER)
    extra = lines[2].replace(b"R2024-000101", b"R2024-000999")
    if where == "before its 02":
        return join([lines[0], extra, *lines[1:]])
    if where == "after the 99":
        return join([*lines, extra])
    if where == "100 MB line":
        return join([*lines[:3], b"04" + b"9" * (100 << 20), *lines[3:]])
    raise KeyError(where)


@pytest.mark.parametrize("where", ["before its 02", "after the 99", "100 MB line"])
def test_every_claim_line_gets_one_outcome_wherever_it_stands(where: str) -> None:
    data = _misplaced(where)
    report, ap305 = answer(data)
    well_formed(ap305)
    outs = eicodec.outcome(data, ap305)
    assert [o.line for o in outs] == claim_lines(data)
    assert len({o.line for o in outs}) == len(outs)


def test_empty_lines_before_the_header_still_get_an_answer() -> None:
    data = b"\r\n\r\n" + INSURER  # the reader skips them to find the voorlooprecord
    report, ap305 = answer(data)
    well_formed(ap305)
    outs = eicodec.outcome(data, ap305)
    assert [o.line for o in outs] == claim_lines(data)


def test_cli_prints_a_result_for_every_file_and_writes_every_answer(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from eicodec.cli import main

    over = tmp_path / "over.asc"
    over.write_bytes(many_claims(1001, 1001))
    ok = tmp_path / "ok.asc"
    ok.write_bytes(INSURER)
    out = tmp_path / "out"
    code = main(["validate", str(over), str(ok), "--retour", str(out), "--format", "json", "--today", "2024-03-01"])
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert [r["status"] for r in results] == ["rejected_records", "approved"]
    for r in results:
        well_formed(Path(r["retour"]).read_bytes())
