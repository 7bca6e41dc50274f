"""Issue 25's proof at scale: N seeded mutated files through every shareable output.

    python scripts/privacy_corpus.py [N=20000] [SEED=25] [--parquet-every K=20] [--shard I/M]
                                     [--files K,K,...]

(``--shard I/M``: only files I, I+M, I+2M, ... of the same corpus, for M processes;
``--files``: only those files of it, to look again at what a run reported.)

Each file is a well-formed example damaged one to three times (a kenmerk relabelled to
every other type, joined and split lines, a CR inside a line, shifted fields, truncated
lines and files, byte noise, non-ASCII text, duplicated and dropped lines; see
tests/privacy_harness.py). Counts, by kind: personal values of the base file found in an
output (anonymised copy, masked CSV in both layouts for every record type, JSON, JSON
Lines, Arrow, Parquet for every K-th file, show, HTML report, messages, JSON report),
foreign exceptions, anonymised copies that validate differently, and refusals by the
leak guard. Exit status 1 when anything but a refusal was found. Not a test: it runs
for about 40 minutes for 20,000 files; the suite runs a few hundred
(tests/test_privacy_corpus.py).
"""

from __future__ import annotations

import collections
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.privacy_harness import check, corpus, personal_values


def main(argv: list[str]) -> int:
    every = 20
    if "--parquet-every" in argv:
        i = argv.index("--parquet-every")
        every = int(argv[i + 1])
        del argv[i:i + 2]
    shard, shards = 0, 1
    if "--shard" in argv:
        i = argv.index("--shard")
        shard, shards = (int(x) for x in argv[i + 1].split("/"))
        del argv[i:i + 2]
    only: set[int] | None = None
    if "--files" in argv:
        i = argv.index("--files")
        only = {int(x) for x in argv[i + 1].split(",")}
        del argv[i:i + 2]
    n = int(argv[0]) if argv else 20_000
    seed = int(argv[1]) if len(argv) > 1 else 25
    counts: collections.Counter[str] = collections.Counter()
    files: collections.Counter[str] = collections.Counter()
    mutations: collections.Counter[str] = collections.Counter()
    examples: dict[tuple[str, str], tuple[int, list[str]]] = {}
    values: dict[int, dict[str, str]] = {}
    found: collections.defaultdict[str, set[int]] = collections.defaultdict(set)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        for k, base, data, done in corpus(seed, n):
            if k % shards != shard or (only is not None and k not in only):
                continue
            mutations.update(done)
            got = check(data, values.setdefault(id(base), personal_values(base)), Path(work),
                        parquet=every > 0 and k % every == 0)
            for kind, where in got:
                counts[kind] += 1
                examples.setdefault((kind, where), (k, done))
            for kind in {kind for kind, _ in got}:
                files[kind] += 1
                found[kind].add(k)
            if (k + 1) % (1000 * shards) < shards:
                print(f"{k + 1:,} files, {time.monotonic() - started:.0f} s: {dict(files)}", flush=True)
    print(f"\n{n:,} files (seed {seed}, shard {shard}/{shards}) in {time.monotonic() - started:.0f} s")
    print("mutations applied:", dict(sorted(mutations.items())))
    for kind in ("leak", "foreign", "verdict", "refused"):
        print(f"{kind:8} {files[kind]:6,} files {counts[kind]:7,} hits")
    for (kind, where), (k, done) in sorted(examples.items())[:40]:
        print(f"  {kind}: {where} (file {k}: {', '.join(done)})")
    for kind in ("leak", "foreign", "verdict", "refused"):
        if found[kind]:
            print(f"files with {kind}: {','.join(map(str, sorted(found[kind])))}")
    return 1 if files["leak"] or files["foreign"] or files["verdict"] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
