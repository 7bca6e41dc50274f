"""The benchmark script runs and reports what benchmarks/README.md says (not timed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_bench_script_reports_each_operation(tmp_path: Path) -> None:
    ops = "lines,validate,validate_10pct_rejected,validate_and_retour"
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--records", "3000",
                          "--ops", ops, "--repeat", "2", "--keep", str(tmp_path)],
                         capture_output=True, text=True, check=True, timeout=300)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    measured = {r["op"]: r for r in rows if "records_per_s" in r}
    assert set(measured) == set(ops.split(","))
    for r in measured.values():
        assert r["records"] >= 3000 and r["peak_rss_mb"] > 0 and r["runs"] == 2
        assert r["cpu_seconds"] >= 0 and "ratio_to_lines" in r  # (a tiny run can round to 0.0 s)
    assert rows[-1]["rejected_vs_valid"] > 0  # (reported; its size is for benchmarks/README.md, not a test)
    assert (tmp_path / "bench_3000_rej.asc").exists()  # --keep keeps the generated files


def test_bench_gz321_ops_validate_as_they_say(tmp_path: Path) -> None:
    """The GZ321 file of benchmarks/gz321.py is approved (the op asserts it), the one whose
    ids restart in every copy has only repeated identificaties (each after the first copy),
    the one with a few repeats a few; the ratios of issue 26 are printed."""
    ops = "lines,validate,lines_gz321,validate_gz321,validate_gz321_second_pass,validate_gz321_few_repeats"
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--records", "2000",
                          "--ops", ops, "--keep", str(tmp_path)],
                         capture_output=True, text=True, check=True, timeout=300)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    measured = {r["op"]: r for r in rows if "records_per_s" in r}
    assert set(measured) == set(ops.split(","))
    copies = (measured["validate_gz321"]["records"] - 2) // 23  # (the example: 23 records between 01 and 99)
    assert measured["validate_gz321"]["records"] == 2 + 23 * copies and copies > 1
    assert measured["validate_gz321_second_pass"]["findings"] == 20 * (copies - 1)  # (20 detail records a copy)
    assert measured["validate_gz321_few_repeats"]["findings"] == 20
    assert {"gz321_vs_ap304_ratio", "second_pass_vs_gz321", "few_repeats_vs_gz321"} <= set(rows[-1])
