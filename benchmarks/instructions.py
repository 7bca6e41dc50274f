"""Instructions per record of `validate`, counted by valgrind (not timed). Standard library only.

    python benchmarks/instructions.py [--records N]

Wall-clock figures on a shared machine vary by ±20% between runs, too much to read a ratio
of two of them; instruction counts do not vary. This generates a valid AP304 file of about
N records (default 20,000) and its copy with every 10th claim line rejected (as bench.py
does), has `valgrind --tool=callgrind` count the instructions of validating each (minus a
run that validates only a small warm-up file, so that start-up and compiling the patterns
cancel out) and prints instructions per record, the extra instructions per rejected claim
line and the ratio of the two files' instruction counts (the rejected-to-valid throughput
ratio for a machine that runs both at the same speed per instruction). Needs valgrind.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import generate, reject_lines

RUN = """
import sys, datetime, eicodec
eicodec.validate(sys.argv[1], today=datetime.date(2024, 6, 1))
if sys.argv[2] != "-":
    report = eicodec.validate(sys.argv[2], today=datetime.date(2024, 6, 1))
    print("findings", len(report.findings))
"""


def count(script: Path, warm: Path, target: str) -> tuple[int, int]:
    """(instructions, findings) of validating *warm* and then *target* ("-": nothing)."""
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                          sys.executable, str(script), str(warm), target],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "0"})
    m = re.search(r"Collected : (\d+)", out.stderr)
    if m is None:
        raise SystemExit("valgrind printed no instruction count")
    f = re.search(r"findings (\d+)", out.stdout)
    return int(m.group(1)), int(f.group(1)) if f else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=20_000)
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        valid, rejected, warm = folder / "valid.asc", folder / "rejected.asc", folder / "warm.asc"
        n = generate(valid, args.records)
        reject_lines(valid, rejected, every=10)
        generate(warm, 400)
        script = folder / "run.py"
        script.write_text(RUN, encoding="utf-8")
        base, _ = count(script, warm, "-")
        v, _ = count(script, warm, str(valid))
        r, rejections = count(script, warm, str(rejected))
    per_valid, per_rejected = (v - base) / n, (r - base) / n
    print(json.dumps({"records": n, "rejected_claim_lines": rejections,
                      "instructions_per_record_valid": round(per_valid),
                      "instructions_per_record_rejected_file": round(per_rejected),
                      "extra_instructions_per_rejection": round((r - v) / rejections) if rejections else None,
                      "rejected_vs_valid": round(per_valid / per_rejected, 3)}))


if __name__ == "__main__":
    main()
