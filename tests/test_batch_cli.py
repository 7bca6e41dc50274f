"""Issue 24: an insurer's nightly batch on the command line (--jobs, answers, order)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from eicodec.cli import main
from tests.conftest import EXAMPLES, ROOT

TODAY = ["--today", "2024-03-01"]


def generate(path: Path, records: int) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench import generate as make
    finally:
        sys.path.pop(0)
    make(path, records)


@pytest.fixture
def batch(tmp_path: Path) -> list[str]:
    """A big file first (it finishes last), then small approved, rejected and broken ones."""
    (tmp_path / "in").mkdir()
    generate(tmp_path / "in" / "big.asc", 3000)
    files = [tmp_path / "in" / "big.asc"]
    for i, name in enumerate(["ap304_insurer.asc", "ap304_claim_rejected.asc", "ap304_full.asc"] * 2):
        files.append(tmp_path / "in" / f"f{i}.asc")
        shutil.copy(EXAMPLES / name, files[-1])
    (tmp_path / "in" / "junk.asc").write_bytes(b"not an EI file\r\n")
    files.insert(3, tmp_path / "in" / "junk.asc")
    return [str(f) for f in files]


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_jobs_give_the_results_in_input_order(capsys, tmp_path: Path, batch: list[str], jobs: str) -> None:  # type: ignore[no-untyped-def]
    code = main(["validate", *batch, "--jobs", jobs, "--format", "json", "--retour", str(tmp_path / "out"), *TODAY])
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 3  # one unreadable file
    assert [r["file"] for r in results] == batch
    assert [r["status"] for r in results][:5] == ["approved", "approved", "rejected_records", "unreadable",
                                                 "approved"]
    answers = [r["retour"] for r in results if r.get("retour")]
    assert len(answers) == len(set(answers)) == len(batch) - 1
    assert all(Path(a).parent == tmp_path / "out" for a in answers)


def test_parallel_runs_show_a_progress_line_on_a_terminal(capsys, monkeypatch, batch: list[str]) -> None:  # type: ignore[no-untyped-def]
    import eicodec.cli

    monkeypatch.setattr(eicodec.cli, "is_terminal", lambda stream: True)
    main(["validate", *batch[1:], "--jobs", "2", *TODAY])
    out = capsys.readouterr()
    assert f"of {len(batch) - 1} files" in out.err
    assert [line.rsplit(": ", 1)[0] for line in out.out.splitlines() if not line.startswith(" ")] == batch[1:]
