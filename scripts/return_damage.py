"""The read-back property of issue 23 over many seeded damaged return files.

    python scripts/return_damage.py [COUNT] [SEED]     # default 20000 23

Builds AP305s (insurer and VECOZO) for declarations with rejected, not-assessed and
approved claim lines, damages each COUNT times in turn (tests/return_damage.py) and
reads it back with eicodec.outcome. Prints how many were refused, read as the intact
file, or read otherwise where noise in the fields the return adds made another valid
text (a return code, the header's free-text reference: no reader can see that, a file has
no checksum); exits 1 when any other damage was read otherwise than the intact file, any rejected or not-assessed line read as paid,
or any exception was not the library's. Not a test: the suite runs 6,000.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    from tests.return_damage import run

    count = int(argv[0]) if argv else 20_000
    seed = int(argv[1]) if len(argv) > 1 else 23
    start = time.perf_counter()
    tally = run(count, seed)
    took = time.perf_counter() - start
    print(f"{tally.total} damaged return files (seed {seed}) in {took:.1f} s: {tally.refused} refused, "
          f"{tally.same} read as the intact file, {tally.unseen} read otherwise where noise in a "
          f"return field made another valid text (a code, the header's reference); {len(tally.changed)} read otherwise, {len(tally.unsafe)} unpaid lines read as "
          f"paid, {len(tally.foreign)} foreign exceptions")
    for line in (tally.changed + tally.unsafe + tally.foreign)[:20]:
        print("  ", line)
    return 1 if tally.changed or tally.unsafe or tally.foreign else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
