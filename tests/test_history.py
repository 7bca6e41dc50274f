"""Claim history (STB §5.4.8, debet-/creditnota's): rules that compare a file's claim
lines with earlier files' lines and their outcomes, off when no history is given."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

import eicodec
from eicodec import ClaimHistory
from tests.test_validator import INSURER, TODAY, patch, rewrite

RETURN_DATE = dt.date(2024, 2, 20)
#: an earlier file: R2024-000101 (line 3) and -103 (line 7) approved, -102 (line 4) rejected
EARLIER = patch(INSURER, 4, "0413", "777")


def answered(data: bytes, mode: str = "insurer") -> bytes:
    report = eicodec.validate(data, mode=mode, today=TODAY)
    return eicodec.dumps(eicodec.build_retour(data, report, return_date=RETURN_DATE,
                                              insurer_reference="VECOZO-1" if mode == "vecozo" else "ZV-1"))


@pytest.fixture
def history() -> ClaimHistory:
    hist = ClaimHistory()
    assert hist.record(EARLIER, answered(EARLIER), by="insurer", source="earlier.asc") == 3
    return hist


def later(**changes: object) -> bytes:
    """INSURER with new references, changed as given (line 3 may become a credit)."""
    base = {"l3__reference": "R2024-000201", "l4__reference": "R2024-000202", "l7__reference": "R2024-000203"}
    return rewrite(INSURER, **{**base, **changes})


def credit_of(ref: str, **changes: object) -> bytes:
    """Line 3 credits *ref* (a copy of the earlier line 3, as STB §5.4.8 asks)."""
    return later(l3__previous_reference=ref, l3__calculated_amount_dc="C", l3__declared_amount_dc="C", **changes)


def history_findings(data: bytes, history: object) -> list[tuple[str, int | None, str | None, str]]:
    report = eicodec.validate(data, today=TODAY, history=history)
    return [(f.code, f.line, f.rubric, f.rule) for f in report.findings if f.rule.startswith("history.")]


def test_an_exact_credit_of_an_approved_debit_passes(history: ClaimHistory) -> None:
    """STB §5.4.8: a credit line for an earlier, not rejected debit, an exact copy of it."""
    assert eicodec.validate(credit_of("R2024-000101"), today=TODAY, history=history).findings == []


@pytest.mark.parametrize("ref", ["R2024-000102", "R2024-999999"])
def test_a_credit_without_a_known_unrejected_debit_is_8017(history: ClaimHistory, ref: str) -> None:
    """STB §5.4.8 "Op een afgewezen debetregel is geen creditering mogelijk"; COD954 8017
    "Van deze creditering is geen debitering bekend" (AP304_controls.md, 0446)."""
    assert history_findings(credit_of(ref), history) == [("8017", 3, "0446", "history.credit_without_debit")]


def test_history_rules_are_off_without_a_history() -> None:
    """Without a history no STB §5.4.8 rule that needs earlier files runs."""
    report = eicodec.validate(credit_of("R2024-999999"), today=TODAY)
    assert report.findings == [] and report.status is eicodec.Status.APPROVED


def test_a_credit_must_be_an_exact_copy_for_the_whole_awarded_amount(history: ClaimHistory) -> None:
    """STB §5.4.8: "Een creditregel is een exacte kopie van ... de oorspronkelijke debetregel"
    and "Een gedeeltelijke creditering ... is dus niet mogelijk"."""
    assert history_findings(credit_of("R2024-000101", l3__quantity=2), history) == [
        ("0651", 3, "0446", "history.credit_copy")]
    assert history_findings(credit_of("R2024-000101", l3__declared_amount=1000),
                            history) == [("0651", 3, "0443", "history.full_credit")]


def test_a_debit_is_credited_once(history: ClaimHistory) -> None:
    """COD954 8084 "Debetregel is al eerder gecrediteerd" (AP304_controls.md, 0446)."""
    first = credit_of("R2024-000101")
    history.record(first, answered(first), by="insurer")
    again = credit_of("R2024-000101", l3__reference="R2024-000301", l4__reference="R2024-000302",
                      l7__reference="R2024-000303")
    assert history_findings(again, history) == [("8084", 3, "0446", "history.credited_twice")]


def test_a_second_debit_keeps_the_first_debits_date(history: ClaimHistory) -> None:
    """STB §5.4.8: "In een 2e debetregel ... is de prestatie- of behandeldatum ... identiek
    aan die in de 1e (oorspronkelijke) debetregel" (its exception makes the code provisional)."""
    same = later(l3__previous_reference="R2024-000101")
    assert history_findings(same, history) == []
    other = later(l3__previous_reference="R2024-000101", l3__service_date=dt.date(2024, 1, 10))
    found = eicodec.validate(other, today=TODAY, history=history).findings
    assert [(f.code, f.rule, f.provisional) for f in found] == [("8007", "history.second_debit_date", True)]


def test_a_reference_is_not_reused_after_an_insurers_answer(history: ClaimHistory) -> None:
    """STB §5.4.8: "Een referentienummer mag hergebruikt worden in geval van een afwijzing
    door VECOZO en niet in geval van een afwijzing door een zorgverzekeraar"; COD954 8021
    "... is niet uniek (reeds aangeleverd)". -102 was rejected by the insurer, -103 approved."""
    again = later(l4__reference="R2024-000102", l7__reference="R2024-000103")
    assert history_findings(again, history) == [("8021", 4, "0445", "history.reference_reused"),
                                                 ("8021", 7, "0445", "history.reference_reused")]


@pytest.mark.parametrize("earlier", [EARLIER, patch(INSURER, 8, "9902", "000009")])
def test_a_reference_may_be_reused_after_vecozo_rejected_it(earlier: bytes) -> None:
    """STB §5.4.8: reuse after a rejection by VECOZO is allowed (lines VECOZO returned with
    8096, the line it rejected, and a file it rejected at file level alike); after the
    same answers from an insurer it is not."""
    hist = ClaimHistory()
    hist.record(earlier, answered(earlier, mode="vecozo"), by="vecozo")
    assert history_findings(INSURER, hist) == []
    hist = ClaimHistory()
    hist.record(earlier, answered(earlier), by="insurer")
    assert {c for c, *_ in history_findings(INSURER, hist)} == {"8021"}


def test_sent_lines_count_until_their_answer_is_recorded() -> None:
    hist = ClaimHistory()
    assert hist.record_sent(INSURER) == 3
    assert {c for c, *_ in history_findings(INSURER, hist)} == {"8021"}
    hist.record(EARLIER, answered(EARLIER, mode="vecozo"), by="vecozo")  # the answer replaces "sent"
    assert len(hist) == 3 and history_findings(INSURER, hist) == []


def test_a_sqlite_file_and_a_mapping_work_as_history(tmp_path: Path) -> None:
    """The documented schema: a SQLite file a caller keeps, or a mapping of rows."""
    path = tmp_path / "claims.sqlite"
    with ClaimHistory(path) as hist:
        hist.record(EARLIER, answered(EARLIER), by="insurer")
    rows = sqlite3.connect(path).execute(
        "SELECT reference, dc, status, rejected_by, awarded FROM claim_lines ORDER BY reference").fetchall()
    assert rows == [("R2024-000101", "D", "not_returned", "", 1250), ("R2024-000102", "D", "rejected", "insurer", 0),
                    ("R2024-000103", "D", "not_returned", "", 3410)]
    assert history_findings(credit_of("R2024-000102"), path) == [
        ("8017", 3, "0446", "history.credit_without_debit")]
    mapping = {"R2024-000101": {"dc": "D", "status": "approved", "awarded": 1250}}
    assert history_findings(credit_of("R2024-000101"), mapping) == []
    assert history_findings(credit_of("R2024-000102"), mapping) == [
        ("8017", 3, "0446", "history.credit_without_debit")]


def test_bad_history_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="status"):
        ClaimHistory().add("R1", "D", "paid")
    with pytest.raises(TypeError):
        eicodec.validate(INSURER, today=TODAY, history=42)  # type: ignore[arg-type]


def test_a_file_that_is_no_history_gives_a_clear_error(tmp_path: Path) -> None:
    """Bad input gets eicodec's own error, never a sqlite3 traceback."""
    path = tmp_path / "not.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(eicodec.EicodecError, match="claim history"):
        eicodec.validate(INSURER, today=TODAY, history=path)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).executescript("CREATE TABLE claim_lines (x TEXT); INSERT INTO claim_lines VALUES ('a');")
    with pytest.raises(eicodec.EicodecError, match="claim history"):
        eicodec.validate(INSURER, today=TODAY, history=other)


def test_the_cli_takes_a_history_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from eicodec.cli import main
    path = tmp_path / "claims.sqlite"
    with ClaimHistory(path) as hist:
        hist.record(EARLIER, answered(EARLIER), by="insurer")
    claim = tmp_path / "credit.asc"
    claim.write_bytes(credit_of("R2024-000102"))
    assert main(["validate", str(claim), "--today", "2024-03-01", "--history", str(path)]) != 0
    assert "8017" in capsys.readouterr().out
    assert main(["validate", str(claim), "--today", "2024-03-01"]) == 0
    assert main(["validate", str(claim), "--history", str(tmp_path / "no" / "such" / "folder.sqlite")]) == 2


def test_the_cli_starts_a_history_records_pairs_and_shows_a_reference(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`--history NEW` makes a new SQLite history; `history record` and `history show`."""
    import json

    from eicodec.cli import main
    path = tmp_path / "new.sqlite"
    ap304, ap305 = tmp_path / "earlier.asc", tmp_path / "earlier.ap305.asc"
    ap304.write_bytes(EARLIER)
    ap305.write_bytes(answered(EARLIER))
    claim = tmp_path / "credit.asc"
    claim.write_bytes(credit_of("R2024-000101"))
    # a new, empty history: the credit names a debit it does not know (8017)
    assert main(["validate", str(claim), "--today", "2024-03-01", "--history", str(path)]) == 1
    assert "new claim history" in capsys.readouterr().err and path.is_file()
    assert main(["history", "record", str(ap304), "--history", str(path)]) == 0  # sent
    assert "3 claim line row(s) added" in capsys.readouterr().out
    assert main(["history", "record", str(ap304), str(ap305), "--history", str(path)]) == 0
    assert "3 claim line row(s)" in capsys.readouterr().out  # the answer replaces "sent"
    assert main(["history", "record", str(ap304), str(ap305), "--history", str(path)]) == 0
    assert "0 claim line row(s)" in capsys.readouterr().out  # again: nothing changes
    assert main(["validate", str(claim), "--today", "2024-03-01", "--history", str(path)]) == 0
    capsys.readouterr()
    assert main(["history", "show", "R2024-000102", "--history", str(path), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(r["status"], r["rejected_by"], r["source"]) for r in shown["rows"]] == [
        ("rejected", "insurer", "earlier.asc")]
    assert all(r["copy_key"].endswith("...") and len(r["copy_key"]) == 15 for r in shown["rows"])
    assert main(["history", "show", "R2024-000102", "--history", str(path)]) == 0
    text = capsys.readouterr().out
    assert "status=rejected" in text and "123456782" not in text  # no BSN: the rows hold none
    assert main(["history", "show", "R9", "--history", str(tmp_path / "none.sqlite")]) == 2


# ------------------------------------------------------------------ idempotent (natural key)

def _rows(hist: ClaimHistory) -> list[tuple[object, ...]]:
    return sorted(tuple(r.values()) for r in hist.rows())


def test_recording_the_same_pair_twice_adds_nothing(history: ClaimHistory) -> None:
    """The natural key (file, line): a re-run batch does not double the history."""
    once = _rows(history)
    assert history.record(EARLIER, answered(EARLIER), by="insurer", source="earlier.asc") == 0
    assert _rows(history) == once and len(history) == 3


def test_record_sent_after_record_adds_nothing(history: ClaimHistory) -> None:
    once = _rows(history)
    assert history.record_sent(EARLIER, source="earlier.asc") == 0
    assert _rows(history) == once
    assert {r["status"] for r in history.rows()} == {"not_returned", "rejected"}


def test_an_answer_after_record_sent_updates_the_same_rows() -> None:
    hist = ClaimHistory()
    assert hist.record_sent(EARLIER) == 3
    assert hist.record(EARLIER, answered(EARLIER), by="insurer") == 3
    assert len(hist) == 3 and hist.record(EARLIER, answered(EARLIER), by="insurer") == 0
    assert [r["status"] for r in hist.rows("R2024-000102")] == ["rejected"]


def _record_at(path: str, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    with ClaimHistory(path) as hist:
        hist.record(EARLIER, answered(EARLIER), by="insurer")


def test_two_processes_recording_the_same_file_leave_one_copy(tmp_path: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    path = str(tmp_path / "claims.sqlite")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_record_at, args=(path, start)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    with ClaimHistory(path) as hist, ClaimHistory() as one:
        one.record(EARLIER, answered(EARLIER), by="insurer")
        assert _rows(hist) == _rows(one) and len(hist) == 3


_VERSION_1 = """
CREATE TABLE claim_lines (
  reference TEXT NOT NULL, previous TEXT NOT NULL DEFAULT '', dc TEXT NOT NULL,
  service_date TEXT NOT NULL DEFAULT '', declared INTEGER NOT NULL DEFAULT 0, awarded INTEGER,
  copy_key TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, rejected_by TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '');
INSERT INTO claim_lines (reference, dc, status, awarded) VALUES ('R2024-000101', 'D', 'approved', 1250);
"""


def test_a_version_1_history_is_migrated(tmp_path: Path) -> None:
    """eicodec 0.3.0's files (no key columns) keep their rows and become version 2."""
    path = tmp_path / "old.sqlite"
    sqlite3.connect(path).executescript(_VERSION_1)
    with ClaimHistory(path) as hist:
        assert len(hist) == 1 and history_findings(credit_of("R2024-000101"), hist) == []
        hist.record(EARLIER, answered(EARLIER), by="insurer")
        assert hist.record(EARLIER, answered(EARLIER), by="insurer") == 0 and len(hist) == 4
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone() == (2,)


def test_a_newer_history_is_refused_naming_its_version(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    sqlite3.connect(path).executescript("PRAGMA user_version = 7; CREATE TABLE claim_lines (x TEXT);")
    with pytest.raises(eicodec.EicodecError, match="schema version 7"):
        ClaimHistory(path)


def test_history_reads_no_answer_module() -> None:
    """The checking side (engine -> history) imports nothing that reads return files:
    the pair is read in eicodec.recording."""
    import ast

    import eicodec.history

    tree = ast.parse(Path(eicodec.history.__file__).read_text(encoding="utf-8"))
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not modules & {"readback", "retour", "recording", "validator", "many", "tables"}
