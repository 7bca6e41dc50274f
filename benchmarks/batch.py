"""eicodec batch benchmark: an insurer's nightly batch through the command line.

    python benchmarks/batch.py [--files N] [--jobs J] [--keep DIR] [--seed S]

Generates N AP304 files (default 10,000) of pharmacy sizes -- most 200-5,000 lines
(log-normal, median about 1,000), one in twenty 5,000-20,000 -- each a copy of the
nearest of 24 template sizes, a third of which have every 10th claim line rejected
(about a third of the files: the count is printed), each file with its own invoice
number. Then runs, each in a fresh
child process, timed:

* ``eicodec validate in/* --jobs J --format json`` (output to /dev/null): validating only;
* the same with ``--retour out``: validating and writing one AP305 per input;
* naming the answers alone (``eicodec.outputs.answer_paths`` over the N inputs).

Prints one JSON object per measurement (files, lines, wall seconds, files/s, lines/s, the
peak resident memory of the largest process: the CLI or one of its workers) and a summary:
the cost of naming and writing the answers as a share of validating (goal: at most 10%).
Generation is not timed. Standard library only (and eicodec). The full run needs a few GB
of disk for the inputs and answers (``--keep`` to keep them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench import generate, reject_lines

#: The template sizes (lines): files are copies of the template nearest their drawn size.
TEMPLATES = 24


def sizes(n: int, rng: random.Random) -> list[int]:
    """*n* file sizes in lines: most 200-5,000 (log-normal), one in twenty 5,000-20,000."""
    out = []
    for _ in range(n):
        if rng.random() < 0.05:
            out.append(int(rng.uniform(5000, 20000)))
        else:
            out.append(min(5000, max(200, int(rng.lognormvariate(math.log(1000), 0.8)))))
    return out


def make_batch(folder: Path, n: int, seed: int) -> tuple[list[str], int, int]:
    """Write the *n* input files under *folder*/in; returns their paths (relative to
    *folder*), the total number of lines and the number of files with rejected lines."""
    import eicodec

    rng = random.Random(seed)
    grid = [int(200 * (100 ** (k / (TEMPLATES - 1)))) for k in range(TEMPLATES)]  # 200 .. 20,000
    tdir = folder / "templates"
    tdir.mkdir(parents=True, exist_ok=True)
    templates: list[list[bytes]] = []
    for k, size in enumerate(grid):
        path = tdir / f"t{k}.asc"
        generate(path, size)
        if k % 3 == 1:  # a third of the templates with rejected claim lines
            reject_lines(path, tdir / f"t{k}r.asc", 10)
            path = tdir / f"t{k}r.asc"
        templates.append(path.read_bytes().splitlines(keepends=True))
    invoice = eicodec.get_spec("AP304").layout("01").field("invoice_number")
    (folder / "in").mkdir(exist_ok=True)
    names, lines, rejected = [], 0, 0
    for i, size in enumerate(sizes(n, rng)):
        k = min(range(TEMPLATES), key=lambda j: abs(grid[j] - size))
        body = templates[k]
        head = body[0].decode()
        sl = invoice.slice
        width = sl.stop - sl.start  # (12: "NIGHT-" and six digits, then a number that fits)
        number = f"NIGHT-{i:06d}" if i < 10 ** (width - 6) else f"N{i:0{width - 1}d}"
        assert len(number) == width, number
        head = head[:sl.start] + number + head[sl.stop:]
        name = f"in/f{i:05d}.asc"
        with open(folder / name, "wb") as fh:
            fh.write(head.encode())
            fh.writelines(body[1:])
        names.append(name)
        lines += len(body)
        rejected += k % 3 == 1
    return names, lines, rejected


def measure(label: str, argv: list[str], cwd: Path, files: int, lines: int) -> dict[str, object]:
    """Run *argv* in a fresh child that times it and reads the peak memory of its tree."""
    probe = ("import json, resource, subprocess, sys, time\n"
             "t = time.perf_counter()\n"
             "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
             "wall = time.perf_counter() - t\n"
             "use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
             "print(json.dumps({'rc': rc, 'wall_s': wall, 'peak_mb': use.ru_maxrss / 1024,\n"
             "                  'cpu_s': use.ru_utime + use.ru_stime}))\n")
    got = json.loads(subprocess.run([sys.executable, "-c", probe, *argv], cwd=cwd, check=True,
                                    capture_output=True, text=True).stdout)
    wall = got["wall_s"]
    return {"op": label, "files": files, "lines": lines, "wall_s": round(wall, 2), "cpu_s": round(got["cpu_s"], 2),
            "files_per_s": round(files / wall, 1), "lines_per_s": round(lines / wall),
            "peak_mb": round(got["peak_mb"], 1), "exit": got["rc"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=24)
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    args = ap.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="eicodec-batch-"))
    try:
        names, lines, rejected = make_batch(folder, args.files, args.seed)
        print(json.dumps({"generated": len(names), "lines": lines, "with_rejected_lines": rejected, "jobs": args.jobs,
                          "bytes": sum((folder / n).stat().st_size for n in names)}), flush=True)
        cli = [sys.executable, "-m", "eicodec", "validate", *names, "--jobs", str(args.jobs),
               "--format", "json", "--today", "2024-06-01"]
        plain = measure("validate", cli, folder, len(names), lines)
        print(json.dumps(plain), flush=True)
        shutil.rmtree(folder / "out", ignore_errors=True)
        answers = measure("validate_with_answers", [*cli, "--retour", "out"], folder, len(names), lines)
        print(json.dumps(answers), flush=True)
        written = sum(1 for _ in (folder / "out").rglob("*.ap305.asc"))
        naming = ("import json, sys, time\nfrom eicodec.outputs import answer_paths\n"
                  "names = sys.stdin.read().split()\nt = time.perf_counter()\n"
                  "answer_paths(names, 'out')\nprint(time.perf_counter() - t)")
        name_s = float(subprocess.run([sys.executable, "-c", naming], input="\n".join(names), cwd=folder,
                                      check=True, capture_output=True, text=True).stdout)
        extra = float(answers["wall_s"]) - float(plain["wall_s"])  # type: ignore[arg-type]
        print(json.dumps({"answers_written": written, "naming_s": round(name_s, 3),
                          "naming_share": round(name_s / float(plain["wall_s"]), 4),  # type: ignore[arg-type]
                          "answers_extra_s": round(extra, 2),
                          "answers_share": round(extra / float(plain["wall_s"]), 3),  # type: ignore[arg-type]
                          "answers_share_cpu": round(float(answers["cpu_s"]) / float(plain["cpu_s"]) - 1, 3),  # type: ignore[arg-type]
                          "goal_share": 0.10}), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
