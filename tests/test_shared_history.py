"""Issue 24 items 5 and 6: one claim history shared by many workers, on SQLite and on a
real PostgreSQL server, with a Dask cluster of process workers validating against it.

The PostgreSQL tests start a throwaway server (tests/postgres.py); where PostgreSQL,
SQLAlchemy or psycopg cannot be had they are skipped with the reason."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

import eicodec
from eicodec import ClaimHistory
from eicodec.recording import record_at
from tests.test_history import EARLIER, TODAY, answered, credit_of, later

#: The STB §5.4.8 rules (kind claim_history) of the AP304 rules.
HISTORY_RULES = {"history.credit_without_debit", "history.credited_twice", "history.credit_copy",
                 "history.full_credit", "history.second_debit_date", "history.reference_reused"}
FIRST_CREDIT = credit_of("R2024-000101", l3__reference="R2024-000151", l4__reference="R2024-000152",
                         l7__reference="R2024-000153")


def batch_files(folder: Path) -> list[str]:
    """A batch in which every §5.4.8 rule fires (against the history of :func:`fill`)."""
    files = {
        "credit_known_debit.asc": credit_of("R2024-000103", l3__reference="R2024-000211"),   # 0651 (not a copy)
        "credit_rejected_debit.asc": credit_of("R2024-000102"),                              # 8017
        "credit_again.asc": credit_of("R2024-000101"),                                       # 8084
        "credit_other_quantity.asc": credit_of("R2024-000101", l3__quantity=2),              # 0651 copy
        "credit_partial.asc": credit_of("R2024-000101", l3__declared_amount=1000),           # 0651 full
        "second_debit.asc": later(l3__previous_reference="R2024-000103",
                                  l3__service_date=dt.date(2024, 1, 10)),                    # 8007
        "reference_reused.asc": later(l4__reference="R2024-000102", l7__reference="R2024-000103"),  # 8021
        "new.asc": later(l3__reference="R2024-000301", l4__reference="R2024-000302", l7__reference="R2024-000303"),
    }
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [str(folder / name) for name in files]


def fill(where: str) -> None:
    """The history before the batch: an earlier file and a credit of its line 3, answered."""
    record_at(where, EARLIER, answered(EARLIER), source="earlier.asc")
    record_at(where, FIRST_CREDIT, answered(FIRST_CREDIT), source="first_credit.asc")


def findings(results: list[object]) -> list[list[tuple[object, ...]]]:
    return [[(f.code, f.line, f.rubric, f.rule) for f in r.findings] for r in results]  # type: ignore[attr-defined]


def rows(where: str) -> list[tuple[object, ...]]:
    with ClaimHistory(where) as hist:
        return sorted(tuple(r.values()) for r in hist.rows())


def record_batch(executor: concurrent.futures.Executor, where: str, files: list[str]) -> None:
    """Every file's pair recorded twice, all at once (a re-run batch, racing workers)."""
    pairs = [(Path(f).read_bytes(), answered(Path(f).read_bytes()), Path(f).name) for f in files]
    futures = [executor.submit(record_at, where, ap304, ap305, source=name)
               for ap304, ap305, name in pairs * 2]
    for fut in futures:
        fut.result()


@pytest.fixture(scope="module")
def one_machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], list[object], str]]:
    """The batch validated in one process against a SQLite history, then recorded there."""
    folder = tmp_path_factory.mktemp("batch")
    files = batch_files(folder / "in")
    path = str(folder / "single.sqlite")
    fill(path)
    results = list(eicodec.validate_many(files, jobs=1, today=TODAY, history=path))
    for f in files:
        record_at(path, f, answered(Path(f).read_bytes()), source=Path(f).name)
    yield files, results, path


def test_every_history_rule_fires_in_the_batch(one_machine: tuple[list[str], list[object], str]) -> None:
    _, results, _ = one_machine
    fired = {rule for found in findings(results) for _, _, _, rule in found if rule.startswith("history.")}
    assert fired == HISTORY_RULES
    assert findings(results)[-1] == []  # the file of new references passes


def test_sqlite_history_shared_by_process_workers(tmp_path: Path, one_machine: tuple[list[str], list[object], str]) -> None:
    """Four processes validate and record at once into one SQLite file: the same findings
    as one process, and the same rows (each pair recorded twice: no duplicate)."""
    files, single, single_path = one_machine
    path = str(tmp_path / "shared.sqlite")
    fill(path)
    assert findings(list(eicodec.validate_many(files, jobs=4, today=TODAY, history=path))) == findings(single)
    with concurrent.futures.ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        record_batch(pool, path, files)
    assert rows(path) == rows(single_path)


def test_postgresql_history_behaves_as_sqlite(postgresql: str, tmp_path: Path) -> None:
    """The history API on PostgreSQL: the same rows, idempotent, a version, clear errors."""
    with ClaimHistory(postgresql) as hist:
        assert hist.record(EARLIER, answered(EARLIER), by="insurer") == 3
        assert hist.record(EARLIER, answered(EARLIER), by="insurer") == 0
        assert hist.record_sent(EARLIER) == 0 and len(hist) == 3
        sqlite = ClaimHistory()
        sqlite.record(EARLIER, answered(EARLIER), by="insurer")
        assert hist.rows() == sqlite.rows()
        assert hist.facts(["R2024-000101", "R2024-000102"]) == sqlite.facts(["R2024-000101", "R2024-000102"])
        hist._db.rows("DROP TABLE claim_lines")  # start the next test afresh
        hist._db.rows("DROP TABLE eicodec_history_schema")
    with pytest.raises(eicodec.EicodecError, match="claim history") as err:
        ClaimHistory(postgresql.rsplit("/", 1)[0] + "/no_such_database")
    assert "Traceback" not in str(err.value)


def test_a_dask_cluster_validates_a_batch_against_a_shared_postgresql_history(
        postgresql: str, one_machine: tuple[list[str], list[object], str]) -> None:
    """Dask process workers, one PostgreSQL history: every §5.4.8 rule fires as on one
    machine, and recording the batch from the workers (each pair twice, at once) leaves
    the rows of a single-process run."""
    distributed = pytest.importorskip("distributed")
    files, single, single_path = one_machine
    fill(postgresql)
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            executor = client.get_executor()
            results = list(eicodec.validate_many(files, executor=executor, today=TODAY, history=postgresql))
            assert [r.source for r in results] == files
            assert findings(results) == findings(single)
            record_batch(executor, postgresql, files)
        assert rows(postgresql) == rows(single_path)
    finally:
        with ClaimHistory(postgresql) as hist:
            hist._db.rows("DELETE FROM claim_lines")


def test_a_history_object_goes_to_worker_processes_as_its_location(
        tmp_path: Path, one_machine: tuple[list[str], list[object], str]) -> None:
    import pickle

    files, single, _ = one_machine
    path = str(tmp_path / "h.sqlite")
    fill(path)
    with ClaimHistory(path) as hist:
        assert pickle.loads(pickle.dumps(hist)).rows() == hist.rows()
        got = list(eicodec.validate_many(files, jobs=2, today=TODAY, history=hist))
    assert findings(got) == findings(single)
    with pytest.raises(TypeError, match="memory"):
        pickle.dumps(ClaimHistory())


def test_a_new_postgresql_history_made_by_racing_workers_and_the_cli(
        postgresql: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Four processes open a database without a history at once (one makes the schema,
    under a lock), recording one pair; then the command line records, validates and shows
    against the same URL."""
    from eicodec.cli import main

    with ClaimHistory(postgresql) as hist:
        hist._db.rows("DROP TABLE claim_lines")
        hist._db.rows("DROP TABLE eicodec_history_schema")
    with concurrent.futures.ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        done = [pool.submit(record_at, postgresql, EARLIER, answered(EARLIER), source="earlier.asc")
                for _ in range(4)]
        assert sorted(f.result() for f in done) == [0, 0, 0, 3]
    claim = tmp_path / "credit.asc"
    claim.write_bytes(credit_of("R2024-000102"))
    first = tmp_path / "first.asc"
    first.write_bytes(FIRST_CREDIT)
    (tmp_path / "first.ap305.asc").write_bytes(answered(FIRST_CREDIT))
    try:
        assert main(["history", "record", str(first), str(tmp_path / "first.ap305.asc"), "--history", postgresql]) == 0
        assert "3 claim line row(s)" in capsys.readouterr().out
        assert main(["validate", str(claim), str(first), "--jobs", "2", "--today", "2024-03-01",
                     "--history", postgresql, "--format", "json"]) == 1
        docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        codes = [sorted({f["code"] for f in doc["findings"]}) for doc in docs]
        assert codes[0] == ["8017"]
        assert main(["history", "show", "R2024-000151", "--history", postgresql]) == 0
        want = next(o for o in eicodec.outcome(FIRST_CREDIT, answered(FIRST_CREDIT)) if o.reference == "R2024-000151")
        shown = capsys.readouterr().out
        assert f"status={want.status}" in shown and "source=first.asc" in shown and "line=3" in shown
    finally:
        with ClaimHistory(postgresql) as hist:
            hist._db.rows("DELETE FROM claim_lines")
