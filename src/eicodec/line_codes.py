"""The codes of record-level findings on lines whose group has no verdict yet.

The engine notes each record-level finding's line, its place in the findings' order
(phase, order within the phase, made order) and its COD954 code. When a top-level group
is complete, each of its lines gets the first three distinct codes of its findings in
that order (STB §6.4.3). They are kept as arrays, a batch's at a time (not an object per
finding): a file with half its claim lines rejected has hundreds of thousands.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: an entry: line, phase, order within the phase, made order, code (an index into codes);
#: lines below 2**31, phases below 32 and orders below 2**27 (see engine._ORDER_BITS)
_WIDTH = 5
#: codes a line's outcome names at most (STB §6.4.3: up to three return codes)
MOST = 3


class LineCodes:
    """Record-level findings awaiting their group's verdicts (see the module)."""

    def __init__(self) -> None:
        self.codes: list[str] = []
        self._code_id: dict[str, int] = {}
        self._sorted = np.zeros((0, _WIDTH), np.int64)  # by line, phase, order, made order
        self._gone = np.zeros(0, bool)  # entries of _sorted taken by pop_group
        self._fresh: list[np.ndarray] = []  # added since _sorted was made
        self._one: list[tuple[int, int, int, int, int]] = []
        self._n = 0  # entries held

    def __bool__(self) -> bool:
        return self._n > 0

    def __len__(self) -> int:
        return self._n

    def code_id(self, code: str) -> int:
        """The number of *code* in :attr:`codes` (added when new)."""
        i = self._code_id.get(code)
        if i is None:
            i = self._code_id[code] = len(self.codes)
            self.codes.append(code)
        return i

    def add(self, line: int, phase: int, order: int, made: int, code: str) -> None:
        """One finding on *line*."""
        self._one.append((line, phase, order, made, self.code_id(code)))
        self._n += 1

    def add_many(self, lines: np.ndarray, phase: int, order: np.ndarray, made: np.ndarray,
                 codes: np.ndarray) -> None:
        """Findings on *lines* (each with its *order*, *made* order and code number)."""
        n = len(lines)
        if not n:
            return
        block = np.empty((n, _WIDTH), np.int64)
        block[:, 0], block[:, 1], block[:, 2], block[:, 3], block[:, 4] = lines, phase, order, made, codes
        self._fresh.append(block)
        self._n += n

    def _settle(self) -> np.ndarray:
        """All entries held, sorted (the additions merged in, the taken ones dropped)."""
        if self._fresh or self._one or self._gone.any():
            kept = self._sorted[~self._gone] if self._gone.any() else self._sorted
            parts = list(self._fresh)
            if self._one:
                parts.append(np.array(self._one, np.int64).reshape(-1, _WIDTH))
            if parts:
                new = np.concatenate(parts)
                new = new[np.lexsort((new[:, 3], new[:, 2], new[:, 1], new[:, 0]))]
                # merged with those held (made earlier: before the new ones where the rest
                # is equal), two sorted runs: a stable sort of one key merges them
                e = np.concatenate([kept, new])
                key = e[:, 0] << 32 | e[:, 1] << 27 | e[:, 2]
                kept = e[np.argsort(key, kind="stable")] if len(kept) else new
            self._sorted, self._gone = kept, np.zeros(len(kept), bool)
            self._fresh, self._one = [], []
        return self._sorted

    def pop_between(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
        """Take the entries of the lines from *lo* up to (not including) *hi*: the lines
        with one (ascending), per line the index of its codes in the list returned third
        (each a tuple of up to :data:`MOST` distinct codes, in the findings' order)."""
        e = self._settle()
        lines = e[:, 0]
        a, b = int(np.searchsorted(lines, lo)), int(np.searchsorted(lines, hi))
        if a == b:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), []
        taken = e[a:b]
        self._sorted = np.concatenate([e[:a], e[b:]])
        self._gone = np.zeros(len(self._sorted), bool)
        self._n -= b - a
        return self._per_line(taken)

    def pop_group(self, lines: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """Take the entries of *lines* (a group's, ascending): their codes by line."""
        if not self._n or not len(lines):
            return {}
        e = self._settle()
        at = e[:, 0]
        a, b = int(np.searchsorted(at, lines[0])), int(np.searchsorted(at, lines[-1], "right"))
        if a == b:
            return {}
        hit = np.isin(at[a:b], np.asarray(lines, np.int64)) & ~self._gone[a:b]
        if not hit.any():
            return {}
        rows = np.flatnonzero(hit) + a
        self._gone[rows] = True
        self._n -= len(rows)
        found, which, tuples = self._per_line(e[rows])
        return dict(zip(found.tolist(), [tuples[k] for k in which.tolist()]))

    def _per_line(self, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
        """:meth:`pop_between`'s result for entries *e* (sorted)."""
        line, code = e[:, 0], e[:, 4]
        m = len(e)
        pos = np.arange(m)
        # the first entry of each (line, code): a code counts once, where it first comes
        by = np.lexsort((pos, code, line))
        first = np.ones(m, bool)
        first[1:] = (line[by][1:] != line[by][:-1]) | (code[by][1:] != code[by][:-1])
        keep = np.sort(by[first])
        kl, kc = line[keep], code[keep]
        new = np.ones(len(keep), bool)
        new[1:] = kl[1:] != kl[:-1]
        starts = np.flatnonzero(new)
        rank = pos[:len(keep)] - np.repeat(starts, np.diff(np.append(starts, len(keep))))
        which_line = np.cumsum(new) - 1
        base = len(self.codes) + 1
        packed = np.zeros(len(starts), np.int64)
        use = rank < MOST
        np.add.at(packed, which_line[use], (kc[use] + 1) * base ** (MOST - 1 - rank[use]))
        keys, which = np.unique(packed, return_inverse=True)
        tuples = []
        for k in keys.tolist():
            digits = []
            for _ in range(MOST):
                k, d = divmod(k, base)
                digits.append(d)
            tuples.append(tuple(self.codes[d - 1] for d in reversed(digits) if d))
        return kl[starts], which.reshape(-1), tuples
