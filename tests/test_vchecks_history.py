"""A repeated file while a claim history is in use (STB §6.4.2 row 5, "het bericht is
dubbel, omdat het eerder is verzonden, ontvangen en verwerkt"): the whole file is
rejected once (rule ``file.repeated``, kind ``history_file``, 8067 provisional) instead
of 8021 on every claim line; a *different* file re-using a reference keeps 8021 on that
line (issue #20 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

import eicodec
from eicodec import ClaimHistory
from eicodec.findings import Status
from eicodec.history import file_key
from tests.conftest import ROOT
from tests.test_history import EARLIER, answered, later
from tests.test_validator import INSURER, TODAY, patch


def found(data: bytes, history: object, mode: str = "insurer") -> list[tuple[str, int | None, str]]:
    report = eicodec.validate(data, today=TODAY, history=history, mode=mode)  # type: ignore[arg-type]
    return [(f.code, f.line, f.rule) for f in report.findings]


REPEATED = [("8067", 1, "file.repeated")]


@pytest.mark.parametrize("mode", ["insurer", "vecozo"])
@pytest.mark.parametrize("how", ["sent", "answered", "sent_then_answered"])
def test_a_file_the_history_holds_is_rejected_once_at_file_level(how: str, mode: str) -> None:
    hist = ClaimHistory()
    if how in ("sent", "sent_then_answered"):
        assert hist.record_sent(EARLIER) == 3
    if how in ("answered", "sent_then_answered"):
        hist.record(EARLIER, answered(EARLIER), by="insurer")
    report = eicodec.validate(EARLIER, today=TODAY, history=hist, mode=mode)  # type: ignore[arg-type]
    assert report.status is Status.REJECTED_FILE
    every = [*report.findings, *report.unassessed]
    got = [(f.code, f.line, f.rule, f.level) for f in every if f.code in ("8067", "8021", "8084")]
    assert got == [("8067", 1, "file.repeated", "file")]  # one finding, no 8021 per line
    # the rest of the file is checked as before (EARLIER's own 0413 finding on line 4,
    # not assessed in a rejected file)
    assert [(f.code, f.line, f.rule) for f in report.unassessed] == [("0581", 4, "record.field")]
    alone = eicodec.validate(EARLIER, today=TODAY, mode=mode)  # type: ignore[arg-type]
    assert [(f.code, f.line, f.rule) for f in alone.findings] == [("0581", 4, "record.field")]


def test_a_different_file_reusing_one_reference_gets_8021_on_that_line_only() -> None:
    hist = ClaimHistory()
    hist.record(EARLIER, answered(EARLIER), by="insurer")
    again = later(l3__reference="R2024-000101")
    assert found(again, hist) == [("8021", 3, "history.reference_reused")]
    # a copy of the earlier file changed in one character is another file: line by line
    assert {c for c, *_ in found(INSURER, hist)} == {"8021"}
    assert ("8067", 1, "file.repeated") not in found(INSURER, hist)


def test_a_repeated_file_with_credit_lines_gets_no_8084_flood() -> None:
    """The credit lines of the repeated file credit debits the history holds as credited
    by those very lines: the claim_history rules do not run on it."""
    hist = ClaimHistory()
    hist.record(EARLIER, answered(EARLIER), by="insurer")
    credit = later(l3__previous_reference="R2024-000101", l3__calculated_amount_dc="C", l3__declared_amount_dc="C")
    assert found(credit, hist) == []
    hist.record(credit, answered(credit), by="insurer")
    assert found(credit, hist) == REPEATED


def test_the_file_key_the_engine_hashes_is_the_one_the_history_records() -> None:
    """Both read paths of the engine (ASCII bytes, and text: a non-ASCII character)."""
    accented = patch(EARLIER, 2, "0210", "Müller".ljust(25))
    for data in (EARLIER, accented):
        hist = ClaimHistory()
        hist.record_sent(data)
        keys = {row["file_key"] for row in hist.rows()}
        assert keys == {file_key(data.decode("utf-8" if data is accented else "ascii").split("\r\n")[:-1])}
        assert ("8067", 1, "file.repeated") in found(data, hist)
        assert hist.holds_file(keys.pop()) and not hist.holds_file("") and not hist.holds_file("0" * 64)


def test_without_a_history_or_with_hand_made_rows_nothing_is_said() -> None:
    assert [f for f in eicodec.validate(EARLIER, today=TODAY).findings if f.code == "8067"] == []
    mapping = {"R2024-000101": {"dc": "D", "status": "approved", "awarded": 1250}}  # rows without a file key
    assert ("8067", 1, "file.repeated") not in found(EARLIER, mapping)


def test_a_sqlite_history_file_and_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from eicodec.cli import main
    path = tmp_path / "claims.sqlite"
    with ClaimHistory(path) as hist:
        hist.record(EARLIER, answered(EARLIER), by="insurer")
    assert found(EARLIER, path)[0] == ("8067", 1, "file.repeated")
    claim = tmp_path / "again.asc"
    claim.write_bytes(EARLIER)
    assert main(["validate", str(claim), "--today", "2024-03-01", "--history", str(path)]) != 0
    out = capsys.readouterr().out
    assert "8067" in out and "8021" not in out


def test_a_history_file_rule_is_checked_at_load(tmp_path: Path) -> None:
    rules = ROOT / "specs" / "AP304v8.0.rules.toml"
    text = rules.read_text(encoding="utf-8")
    bad = tmp_path / "bad.rules.toml"
    bad.write_text(text.replace('"history.reference_reused"]', '"history.no_such_rule"]'), encoding="utf-8")
    with pytest.raises(eicodec.errors.SpecError, match="no_such_rule"):
        eicodec.validate(EARLIER, today=TODAY, rules=bad)
    record_level = tmp_path / "record.rules.toml"
    record_level.write_text(text.replace('kind = "history_file"\nlevel = "file"', 'kind = "history_file"'),
                            encoding="utf-8")
    with pytest.raises(eicodec.errors.SpecError, match="level file"):
        eicodec.validate(EARLIER, today=TODAY, rules=record_level)


def test_a_repeated_file_on_postgresql(postgresql: str) -> None:
    with ClaimHistory(postgresql) as hist:
        hist.record(EARLIER, answered(EARLIER), by="insurer")
    assert found(EARLIER, postgresql) == found(EARLIER, _sqlite_copy())
    assert ("8067", 1, "file.repeated") in found(EARLIER, postgresql)
    assert found(later(l3__reference="R2024-000101"), postgresql) == [("8021", 3, "history.reference_reused")]


def _sqlite_copy() -> ClaimHistory:
    hist = ClaimHistory()
    hist.record(EARLIER, answered(EARLIER), by="insurer")
    return hist


def test_the_answer_to_a_repeated_file_rejects_it_with_8067() -> None:
    """Every readable file gets an AP305: the repeated one with 8067 in its voorlooprecord
    and every claim line accounted for as rejected."""
    import datetime as dt
    hist = ClaimHistory()
    hist.record(EARLIER, answered(EARLIER), by="insurer")
    report = eicodec.validate(EARLIER, today=TODAY, history=hist)
    ap305 = eicodec.dumps(eicodec.build_retour(EARLIER, report, return_date=dt.date(2024, 2, 20),
                                               insurer_reference="ZV-2"))
    header = ap305.split(b"\r\n")[0].decode("ascii")
    assert "8067" in header and "8021" not in ap305.decode("ascii")
    assert [(o.line, o.status.value) for o in eicodec.outcome(EARLIER, ap305)] == [
        (3, "rejected"), (4, "rejected"), (7, "rejected")]
