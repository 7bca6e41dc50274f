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
