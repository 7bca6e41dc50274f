"""Conditions on the records under a record (``when = [{ under = "any", record = ... }]``).

A rule's record comes before the records that hang under it, and those may lie in later
batches. The engine checks such a rule on its records as on any other, taking these
conditions as holding (:func:`eicodec.kinds.condition`); the rows that fail are kept
here (line numbers only) until the walker has closed their record, that is, until the
record and everything under it has been read. Meanwhile each batch tells which records
have one under them that passes a condition's test. Then the condition decides:
``under = "any"`` holds where such a record was seen, ``"none"`` where none was. A
record of that type under it that is out of its place or has the wrong length cannot
be read: when no readable one passes, the rule is not judged on that record (as a rule
is not run where an ancestor it reads is unreadable).

Memory: the failing rows of records still open, and one batch's passing lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from .kinds import View, field_test
from .layouts import MessageSpec
from .rules import Rule

_NONE = np.zeros(0, np.int64)


class SubtreeConditions:
    """The rules of one run that have ``under`` conditions, with what is known so far."""

    def __init__(self, spec: MessageSpec, checks: Iterable[tuple[int, Rule]]) -> None:
        self.spec = spec
        #: rule index -> rule, for the rules with an ``under`` condition
        self.rules = {i: r for i, r in checks if any(c.under is not None for c in r.when)}
        self._tests = [(i, j, c) for i, r in self.rules.items() for j, c in enumerate(r.when) if c.under is not None]
        # rule index -> [(line of the rule's record, line of the finding, value shown)] waiting
        self._pending: dict[int, list[tuple[np.ndarray, np.ndarray, list[str | None] | None]]] = {}
        # (rule index, condition index) -> lines of records with a record under them that passes
        self._hits: dict[tuple[int, int], np.ndarray] = {}
        # (rule index, condition index) -> lines of records with an unreadable record of that type under them
        self._unsure: dict[tuple[int, int], np.ndarray] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def defer(self, i: int, owners: np.ndarray, lines: np.ndarray, values: list[str | None] | None) -> None:
        """Failing rows of rule *i* that wait for their record to close: the lines of
        the rule's records (*owners*), of the findings, and the values to show (or None)."""
        self._pending.setdefault(i, []).append((owners.astype(np.int64), lines.astype(np.int64), values))

    def observe(self, chars: np.ndarray, ext_lines: np.ndarray, types: np.ndarray, level: np.ndarray,
                placed_of: Callable[[str], np.ndarray], anc: Mapping[str, np.ndarray], today: int) -> None:
        """What one batch says: for each ``under`` condition, the records (lines) with a
        record under them that passes its test, and those with one that cannot be read.
        *placed_of(t)*: per row of the batch, a record of type *t* in its place with the
        record length (and its ancestors); *anc*: per ancestor type, its row per row."""
        for i, j, c in self._tests:
            rule = self.rules[i]
            assert c.record is not None and rule.record is not None
            up = anc.get(rule.record)
            if up is None:
                continue
            placed = placed_of(c.record)
            rows = np.flatnonzero(placed)
            owner = up[rows]
            keep = owner >= 0
            rows, owner = rows[keep], owner[keep]
            if len(rows) and c.rubric is not None:
                owner = owner[field_test(View(self.spec, c.record, chars, rows, {}, today), c)]
            if len(owner):
                self._hits[(i, j)] = np.union1d(self._hits.get((i, j), _NONE), ext_lines[owner])
            broken = up[np.flatnonzero((types == int(c.record)) & (level > 0) & ~placed)]
            broken = broken[broken >= 0]
            if len(broken):
                self._unsure[(i, j)] = np.union1d(self._unsure.get((i, j), _NONE), ext_lines[broken])

    def settle(self, open_lines: Mapping[str, int] | None) -> list[tuple[int, int, str | None]]:
        """The findings ``(rule index, line, value)`` of the waiting rows whose record is
        closed: those where every ``under`` condition holds. *open_lines*: record type ->
        line of the record of that type still open (None: the file is read, all are
        closed). What is kept afterwards concerns open records only."""
        out: list[tuple[int, int, str | None]] = []
        for i, parts in self._pending.items():
            if not parts:
                continue
            rule = self.rules[i]
            owners = np.concatenate([p[0] for p in parts])
            lines = np.concatenate([p[1] for p in parts])
            values: list[str | None] | None = None
            if any(p[2] is not None for p in parts):
                values = [v for p in parts for v in (p[2] if p[2] is not None else [None] * len(p[0]))]
            still = open_lines.get(rule.record or "", -1) if open_lines is not None else -1
            done = owners != still
            ok = done.copy()
            for j, c in enumerate(rule.when):
                if c.under is None:
                    continue
                hit = np.isin(owners, self._hits.get((i, j), _NONE))
                ok &= hit if c.under == "any" else ~hit
                # no readable record passed, but one could not be read: not judged
                ok &= hit | ~np.isin(owners, self._unsure.get((i, j), _NONE))
            for k in np.flatnonzero(ok).tolist():
                out.append((i, int(lines[k]), values[k] if values is not None else None))
            wait = np.flatnonzero(~done)
            kept = [values[k] for k in wait.tolist()] if values is not None else None
            self._pending[i] = [(owners[wait], lines[wait], kept)] if len(wait) else []
        for store in (self._hits, self._unsure):
            for key, arr in store.items():
                still = open_lines.get(self.rules[key[0]].record or "", -1) if open_lines is not None else -1
                store[key] = arr[arr == still]
        return out
