"""CPU seconds of ``validate`` and of ``write_retour`` after it, in one process, repeated.

    .venv/bin/python benchmarks/bench.py --records 200000 --ops lines --keep /tmp/b
    .venv/bin/python benchmarks/retour_cpu.py /tmp/b/bench_200000.asc /tmp/b/bench_200000_rej.asc

Per file the fastest and the median of N runs (default 7) of each, and validate's share
of validate + AP305 by the medians (issue #26: at least 0.6). Standard library only;
CPU time (``time.process_time``), for a machine shared with other work.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

import eicodec


def main() -> None:
    args = sys.argv[1:]
    runs = int(args.pop(0)[2:]) if args and args[0].startswith("-n") else 7
    for path in args:
        vs, rs = [], []
        for _ in range(runs):
            c0 = time.process_time()
            report = eicodec.validate(path, today=dt.date(2024, 6, 1))
            c1 = time.process_time()
            eicodec.write_retour(path, report, path + ".ap305", return_date=dt.date(2024, 6, 2))
            c2 = time.process_time()
            os.remove(path + ".ap305")
            vs.append(c1 - c0)
            rs.append(c2 - c1)
        vs.sort()
        rs.sort()
        v, r = vs[runs // 2], rs[runs // 2]
        print(f"{os.path.basename(path)} {report.status.value}: validate CPU min {vs[0]:.3f} median {v:.3f} s; "
              f"write_retour CPU min {rs[0]:.3f} median {r:.3f} s; validate / (validate + AP305) {v / (v + r):.3f}")


if __name__ == "__main__":
    main()
