"""Benchmark of eicodec.anonymise: lines/s, peak memory, ratio to plain line iteration.

    python benchmarks/anonymise.py [--groups N] [--keep DIR]

Writes an AP304 v8.0 file of N insured groups (02, 03 for every other one, 1-3 claim
lines, a comment now and then) in which every person has values of their own (BSN,
names, date of birth, postcode, house number, insured number, IBAN): the anonymiser
caches a value's fake, so a file repeating one person would measure the cache. Then, in
a fresh child process each, times plain line iteration and ``anonymise_to`` and prints
one JSON object per measurement (lines, wall and CPU seconds, lines per CPU second, peak
resident memory, ratio to plain line iteration).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bsn(rng: random.Random) -> str:
    while True:
        head = f"{rng.randrange(10_000_000, 100_000_000):08d}"
        last = sum(int(d) * w for d, w in zip(head, (9, 8, 7, 6, 5, 4, 3, 2))) % 11
        if last < 10:
            return head + str(last)


def generate(path: Path, groups: int, seed: int = 1) -> int:
    """Write the file from the example's records with each person's values replaced."""
    import eicodec

    rng = random.Random(seed)
    spec = eicodec.get_spec("AP304")
    lines = (ROOT / "examples" / "ap304_full.asc").read_bytes().decode().split("\r\n")
    header = lines[0]
    by_type = {ln[:2]: ln for ln in lines[1:-2]}
    letters = "abcdefghijklmnopqrstuvwxyz"

    def put(line: str, t: str, rubric: str, text: str) -> str:
        f = spec.field(t, rubric)
        text = text.zfill(f.length) if f.type == "N" else text.ljust(f.length)
        return line[:f.start - 1] + text + line[f.end:]

    count = 1
    kinds = {"02": 0, "03": 0, "04": 0, "98": 0}
    amount = int(by_type["04"][spec.field("04", "0443").slice])
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(header + "\r\n")
        for g in range(groups):
            bsn = _bsn(rng)
            born = f"{rng.randrange(1925, 2023)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
            name = rng.choice(letters).upper() + "".join(rng.choices(letters, k=rng.randrange(3, 12)))
            number = f"VZ{rng.randrange(10**9):09d}"
            debtor = f"D{g:07d}"
            ins = by_type["02"]
            for rub, val in (("0202", str(g + 1)), ("0203", bsn), ("0205", number), ("0207", born),
                             ("0210", name), ("0215", rng.choice(letters).upper() + "."),
                             ("0217", f"{rng.randrange(1000, 10000)}{rng.choice('ABCDEFGH')}{rng.choice('JKLMN')}"),
                             ("0219", str(rng.randrange(1, 400))), ("0223", debtor)):
                ins = put(ins, "02", rub, val)
            out = [ins]
            if g % 2:
                deb = by_type["03"]
                for rub, val in (("0302", str(g + 1)), ("0303", debtor), ("0304", born), ("0307", name)):
                    deb = put(deb, "03", rub, val)
                out.append(deb)
            for k in range(1 + g % 3):
                claim = by_type["04"]
                for rub, val in (("0402", str(3 * g + k + 1)), ("0403", bsn), ("0405", number), ("0408", born),
                                 ("0445", f"R{3 * g + k:019d}")):
                    claim = put(claim, "04", rub, val)
                out.append(claim)
            if g % 10 == 0:
                out.append(put(put(by_type["98"], "98", "9802", str(3 * g + g % 3 + 1)), "98", "9804",
                               f"Opmerking over {name} ({born})"))
            fh.write("".join(ln + "\r\n" for ln in out))
            count += len(out)
            for ln in out:
                kinds[ln[:2]] += 1
        trailer = spec.new("99", insured_count=kinds["02"], debtor_count=kinds["03"], claim_count=kinds["04"],
                           comment_count=kinds["98"], detail_count=sum(kinds.values()),
                           total_amount_signed=amount * kinds["04"]).raw
        fh.write(trailer + "\r\n")
    return count + 1


def _child(op: str, src: str, dst: str) -> dict[str, float]:
    import resource

    with open(src, "rb") as fh:  # warm the page cache
        while fh.read(1 << 20):
            pass
    if op == "anonymise":
        from eicodec.anonymise import anonymise_to
    start = time.perf_counter()
    cpu = time.process_time()
    if op == "lines":
        with open(src, "rb") as fh:
            for _ in fh:
                pass
    else:
        anonymise_to(src, dst, b"benchmark key")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_seconds": time.process_time() - cpu,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", type=int, default=30_000)
    ap.add_argument("--keep", metavar="DIR", help="write the files here (default: a temporary folder)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="eicodec-anon-"))
    src, dst = folder / "ap304_people.asc", folder / "ap304_people.anon.asc"
    lines = generate(src, args.groups)
    floor = None
    for op in ("lines", "anonymise"):
        run = subprocess.run([sys.executable, __file__, "--child", op, str(src), str(dst)],
                             check=True, capture_output=True, text=True)
        res = json.loads(run.stdout)
        rate = lines / max(res["cpu_seconds"], 1e-6)
        floor = floor or rate
        print(json.dumps({"op": op, "lines": lines, "seconds": round(res["seconds"], 3),
                          "cpu_seconds": round(res["cpu_seconds"], 3), "lines_per_cpu_s": round(rate),
                          "peak_mb": round(res["peak_mb"], 1), "ratio_to_lines": round(rate / floor, 4)}))


if __name__ == "__main__":
    main()
