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

from .kinds import View, child_values, field_test, member
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
        # (rule index, condition index) -> what its hits depend on: the rule's record type
        # and the condition but for ``under`` (rules that ask the same of the same records
        # share their hits: GZ321 has 23 such conditions, 9 distinct, on 2 record types)
        self._key = {(i, j): (self.rules[i].record, c.record, c.rubric, c.filled, c.equals, c.not_equals)
                     for i, j, c in self._tests}
        self._conditions = {self._key[(i, j)]: c for i, j, c in self._tests}
        # rule index -> [(line of the rule's record, line of the finding, value shown)] waiting
        self._pending: dict[int, list[tuple[np.ndarray, np.ndarray, list[str | None] | None]]] = {}
        # condition key -> lines of records with a record under them that passes
        self._hits: dict[tuple[object, ...], np.ndarray] = {}
        # (rule's record type, condition's record type) -> lines of records with an
        # unreadable record of that type under them
        self._unsure: dict[tuple[object, ...], np.ndarray] = {}

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
        groups: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray, View | None]] = {}
        for key, c in self._conditions.items():
            record = key[0]
            assert c.record is not None and isinstance(record, str)
            up = anc.get(record)
            if up is None:
                continue
            pair = (record, c.record)
            got = groups.get(pair)
            if got is None:  # (the records of the condition's type under one of the rule's type)
                placed = placed_of(c.record)
                rows = np.flatnonzero(placed)
                owner = up[rows]
                keep = owner >= 0
                rows, owner = rows[keep], owner[keep]
                view = View(self.spec, c.record, chars, rows, {}, today) if len(rows) else None
                got = groups[pair] = (rows, owner, view)
                broken = up[np.flatnonzero((types == int(c.record)) & (level > 0) & ~placed)]
                broken = broken[broken >= 0]
                if len(broken):
                    self._unsure[pair] = _union(self._unsure.get(pair, _NONE), ext_lines[broken])
            rows, owner, view = got
            if view is not None and c.rubric is not None:
                owner = owner[field_test(view, c)]
            if len(owner):
                self._hits[key] = _union(self._hits.get(key, _NONE), ext_lines[owner])

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
                hit = member(owners, self._hits.get(self._key[(i, j)], _NONE))
                ok &= hit if c.under == "any" else ~hit
                # no readable record passed, but one could not be read: not judged
                ok &= hit | ~member(owners, self._unsure.get((rule.record, c.record), _NONE))
            for k in np.flatnonzero(ok).tolist():
                out.append((i, int(lines[k]), values[k] if values is not None else None))
            wait = np.flatnonzero(~done)
            kept = [values[k] for k in wait.tolist()] if values is not None else None
            self._pending[i] = [(owners[wait], lines[wait], kept)] if len(wait) else []
        for store in (self._hits, self._unsure):
            for key, arr in store.items():  # (key[0]: the rule's record type)
                still = open_lines.get(str(key[0] or ""), -1) if open_lines is not None else -1
                store[key] = arr[arr == still]
        return out


def _union(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``np.union1d(old, new)`` (*old* sorted and distinct); without a sort where *new* is
    sorted and comes after *old*, as a batch's lines of records do."""
    if len(new) > 1:
        step = new[1:] != new[:-1]
        if not (new[1:] >= new[:-1]).all():
            return np.union1d(old, new)
        new = new[np.concatenate(([True], step))]
    if not len(old):
        return new.astype(np.int64, copy=False)
    if len(new) and old[-1] < new[0]:
        return np.concatenate([old, new])
    return np.union1d(old, new)


# ------------------------------------------------------------------ child sums
# (branch siblings: kept apart to ease merging)

_OPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater, "==": np.equal,
    "!=": np.not_equal}


class ChildSums:
    """The ``child_sum`` rules of one run: a field of a record against the sum (or the
    count) of the records of type ``child`` under it (``depth = "direct"``: its children;
    ``"any"``: at any depth). As for :class:`SubtreeConditions`, the rule's record is read
    first (its stated value is kept, :meth:`expect`), each batch adds what its child
    records say (:meth:`observe`), and the rule is decided when the record is closed
    (:meth:`settle`). A child record that cannot be read (out of its place, wrong length,
    a summed field not all digits) leaves its parent not judged.

    Memory: per open record its stated value and its children's values."""

    def __init__(self, spec: MessageSpec, checks: Iterable[tuple[int, Rule]]) -> None:
        self.spec = spec
        self.rules = {i: r for i, r in checks if r.kind == "child_sum"}
        # rule index -> [(line of the rule's record, stated value)] waiting for it to close
        self._expected: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        # rule index -> [(line of the parent, what a child adds)]
        self._parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        # rule index -> lines of parents with a child that cannot be read
        self._unsure: dict[int, np.ndarray] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def expect(self, i: int, lines: np.ndarray, stated: np.ndarray) -> None:
        """Records of rule *i* (their *lines*) judged, with the value each states."""
        if len(lines):
            self._expected.setdefault(i, []).append((lines.astype(np.int64), stated.astype(np.int64)))

    def observe(self, chars: np.ndarray, ext_lines: np.ndarray, types: np.ndarray, level: np.ndarray,
                parent_line: np.ndarray, placed_of: Callable[[str], np.ndarray], anc: Mapping[str, np.ndarray],
                today: int) -> None:
        """What one batch's child records add to their parents (see :class:`SubtreeConditions.observe`
        for *placed_of* and *anc*; *parent_line*: per row of the batch, its parent's line)."""
        for i, rule in self.rules.items():
            child = str(rule.params["child"])
            direct = rule.params.get("depth", "direct") == "direct"
            up = anc.get(rule.record or "")
            if up is None:
                continue
            placed = placed_of(child)
            rows = np.flatnonzero(placed)
            owner = up[rows]
            keep = owner >= 0
            if direct:
                keep &= parent_line[rows] == ext_lines[np.maximum(owner, 0)]
            rows, owner = rows[keep], owner[keep]
            unsure: list[np.ndarray] = []
            if len(rows):
                value, ok = child_values(rule, View(self.spec, child, chars, rows, {}, today))
                self._parts.setdefault(i, []).append((ext_lines[owner[ok]], value[ok]))
                unsure.append(ext_lines[owner[~ok]])
            broken_rows = np.flatnonzero((types == int(child)) & (level > 0) & ~placed)
            broken = up[broken_rows]
            if direct:  # (a child out of its place: its parent is the record it hangs under, if any)
                broken = broken[(broken >= 0) & (parent_line[broken_rows] == ext_lines[np.maximum(broken, 0)])]
            unsure.append(ext_lines[broken[broken >= 0]])
            lost = np.concatenate(unsure)
            if len(lost):
                self._unsure[i] = np.union1d(self._unsure.get(i, _NONE), lost)

    def settle(self, open_lines: Mapping[str, int] | None) -> list[tuple[int, int, str | None]]:
        """The findings ``(rule index, line, None)`` of the closed records whose stated
        value fails ``op`` (default ``==``) against their children's sum; what is kept
        afterwards concerns open records only (*open_lines* as for :meth:`SubtreeConditions.settle`)."""
        out: list[tuple[int, int, str | None]] = []
        for i, rule in self.rules.items():
            still = open_lines.get(rule.record or "", -1) if open_lines is not None else -1
            waiting = self._expected.get(i)
            parts = self._parts.get(i, [])
            if waiting:
                lines = np.concatenate([w[0] for w in waiting])
                stated = np.concatenate([w[1] for w in waiting])
                done = lines != still
                if done.any():
                    if parts:
                        owners = np.concatenate([p[0] for p in parts])
                        values = np.concatenate([p[1] for p in parts])
                        keys, sums = _sums_by(owners, values)
                        self._parts[i] = parts = [(keys, sums)]
                    else:
                        keys, sums = _NONE, _NONE
                    at = np.minimum(np.searchsorted(keys, lines), max(len(keys) - 1, 0))
                    total = np.where((keys[at] == lines) if len(keys) else np.zeros(len(lines), bool),
                                     sums[at] if len(keys) else 0, 0)
                    op = _OPS[str(rule.params.get("op", "=="))]
                    bad = done & ~op(stated, total) & ~member(lines, self._unsure.get(i, _NONE))
                    out.extend((i, int(line), None) for line in lines[bad].tolist())
                self._expected[i] = [(lines[~done], stated[~done])] if (~done).any() else []
            if parts:
                self._parts[i] = [(p[0][p[0] == still], p[1][p[0] == still]) for p in parts]
            if i in self._unsure:
                self._unsure[i] = self._unsure[i][self._unsure[i] == still]
        return out


def _sums_by(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct *keys* sorted, the int64 sum of *values* per key): ``np.unique`` and
    ``np.add.at``, by runs where the keys come in order (lines of parents do)."""
    values = values.astype(np.int64, copy=False)
    if len(keys) > 1 and not (keys[1:] >= keys[:-1]).all():
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]
    if not len(keys):
        return keys, values
    start = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[start], np.add.reduceat(values, start)
