"""Issue 12 case 5 and issue 15 part 4: validate_many gives one result per input, in
order, on local processes or any concurrent.futures.Executor (a Dask cluster too)."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import pickle
from pathlib import Path

import pytest

import eicodec
from eicodec import FileFailure, Report, Status
from tests.conftest import EXAMPLES

TODAY = dt.date(2024, 3, 1)


@pytest.fixture
def inputs(tmp_path: Path) -> list[str]:
    """A readable approved file, a missing file, a folder, a rejected file, a non-EI file."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_bytes(b"not an EI file\r\n")
    return [str(EXAMPLES / "ap304_insurer.asc"), str(tmp_path / "missing.asc"), str(tmp_path / "folder"),
            str(EXAMPLES / "ap304_claim_rejected.asc"), str(tmp_path / "notes.txt")]


def check(results: list[object], inputs: list[str]) -> None:
    assert len(results) == len(inputs)
    first, missing, folder, rejected, notes = results
    assert isinstance(first, Report) and first.status is Status.APPROVED
    assert isinstance(rejected, Report) and rejected.status is Status.REJECTED_RECORDS
    for failed, path in ((missing, inputs[1]), (folder, inputs[2]), (notes, inputs[4])):
        assert isinstance(failed, FileFailure)
        assert failed.status == "unreadable" and failed.source == path
        assert failed.error_type == "UnreadableInputError" and "Traceback" not in failed.message
    assert [r.source for r in results] == inputs  # every result says which input it is
    assert [pickle.loads(pickle.dumps(r)).status for r in results] == [r.status for r in results]


@pytest.mark.parametrize("jobs", [1, 2])
def test_validate_many_does_not_stop_at_missing_or_unreadable_files(inputs: list[str], jobs: int) -> None:
    check(list(eicodec.validate_many(inputs, jobs=jobs, today=TODAY)), inputs)


def test_validate_many_runs_on_any_executor(inputs: list[str]) -> None:
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        check(list(eicodec.validate_many(inputs, executor=pool, today=TODAY)), inputs)


def test_a_lost_job_fails_alone() -> None:
    class Flaky(concurrent.futures.ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
            if args and args[0] == "boom":
                fut: concurrent.futures.Future[object] = concurrent.futures.Future()
                fut.set_exception(RuntimeError("worker lost"))
                return fut
            return super().submit(fn, *args, **kwargs)

    paths = [str(EXAMPLES / "ap304_insurer.asc"), "boom", str(EXAMPLES / "ap304_full.asc")]
    with Flaky(2) as pool:
        results = list(eicodec.validate_many(paths, executor=pool, today=TODAY))
    assert [type(r).__name__ for r in results] == ["Report", "FileFailure", "Report"]
    assert results[1].status == "failed" and results[1].error_type == "RuntimeError"


def test_validate_many_is_still_importable_from_the_validator() -> None:
    from eicodec.validator import validate_many

    assert [r.status for r in validate_many([EXAMPLES / "ap304_insurer.asc"], today=TODAY)] == [Status.APPROVED]


def test_validate_many_on_a_dask_cluster(inputs: list[str]) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        results = list(eicodec.validate_many(inputs, executor=client.get_executor(), today=TODAY))
    check(results, inputs)


def test_every_status_is_one_str_enum_that_compares_with_strings(inputs: list[str]) -> None:
    """Report, FileFailure and ClaimOutcome statuses: one type, equal to the plain strings,
    printed and serialised as them (so callers comparing strings keep working)."""
    import json

    results = list(eicodec.validate_many(inputs, jobs=1, today=TODAY))
    claims = eicodec.outcome(EXAMPLES / "ap304_claim_rejected.asc", EXAMPLES / "ap305_claim_rejected.asc")
    statuses = [r.status for r in results] + [c.status for c in claims]
    assert {type(s) for s in statuses} == {Status}
    assert [r.status for r in results] == ["approved", "unreadable", "unreadable", "rejected_records", "unreadable"]
    assert "rejected" in [c.status for c in claims] and Status.REJECTED == "rejected"
    assert [f"{s}" for s in statuses] == [s.value for s in statuses] == json.loads(json.dumps(statuses))
    assert FileFailure("x", "failed", "E", "m").status is Status.FAILED
    with pytest.raises(ValueError):
        FileFailure("x", "lost", "E", "m")
