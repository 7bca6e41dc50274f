"""eicodec.line_codes: the codes of lines awaiting their group's verdict, by line, are
the first three distinct codes in the findings' order (phase, order, made order),
however the findings came (one by one or in arrays, before or after other takes)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eicodec.line_codes import MOST, LineCodes

CODES = ["0101", "0202", "0303", "0404", "0505"]
entry = st.tuples(st.integers(1, 40), st.integers(0, 4), st.integers(0, 300), st.sampled_from(CODES))


def reference(held: list[tuple[int, int, int, int, str]], lines: set[int]) -> dict[int, tuple[str, ...]]:
    out: dict[int, tuple[str, ...]] = {}
    for line in sorted(lines):
        found = sorted(e for e in held if e[0] == line)
        if found:
            out[line] = tuple(dict.fromkeys(e[4] for e in found))[:MOST]
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.lists(entry, max_size=12), st.integers(1, 41), st.integers(0, 12)),
                min_size=1, max_size=8))
def test_codes_by_line_as_the_findings_order_them(steps) -> None:  # type: ignore[no-untyped-def]
    store, held, seq = LineCodes(), [], 0
    for as_array, entries, lo, width in steps:
        made = []
        for line, phase, order, code in entries:
            seq += 1
            made.append((line, phase, order, seq, code))
        held.extend(made)
        by_phase: dict[int, list[tuple[int, int, int, int, str]]] = {}
        for e in made:
            by_phase.setdefault(e[1], []).append(e)
        for phase, es in by_phase.items():
            if as_array:
                store.add_many(np.array([e[0] for e in es]), phase, np.array([e[2] for e in es]),
                               np.array([e[3] for e in es]), np.array([store.code_id(e[4]) for e in es]))
            else:
                for e in es:
                    store.add(*e)
        # take a range (as the groups placed at once) or a group's lines
        if width % 2:
            want = reference(held, set(range(lo, lo + width)))
            lines, which, tuples = store.pop_between(lo, lo + width)
            got = {int(line): tuples[k] for line, k in zip(lines.tolist(), which.tolist())}
        else:
            group = sorted({lo, lo + 1, lo + width, lo + 2 * width})
            want = reference(held, set(group))
            got = store.pop_group(group)
        assert got == want
        held = [e for e in held if e[0] not in want]
    assert len(store) == len(held)
