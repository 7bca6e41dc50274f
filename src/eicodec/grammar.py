"""The record grammar of a message, taken from its spec, and the walk that applies it.

Each record type names its parent (``parent``; none: directly under the file), how often
it may occur under one parent record (``min``/``max``) and, by its place among the
spec's ``[[record]]`` tables, the order of siblings. The header comes first, the trailer
last; comment records attach to the record they directly follow and carry its
identificatie. Any depth: AP304 is 02 -> 03/04, GZ321 02 -> 04 -> 06/16/17.

:class:`Walker` reads the lines of a file in order (a :class:`~eicodec.batches.Batch` at
a time, its state carried across batches) and says for each line where it hangs: which
records are its ancestors, which top-level group and which unit (a record judged on its
own, see :attr:`MessageSpec.unit_types`) it belongs to, and what is wrong with the order.
Only the 2-character record types and line facts are read here; fields are the rule
kinds' business (:mod:`eicodec.kinds`).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterator

import numpy as np

from .batches import Batch
from .layouts import MessageSpec

#: A structural finding: (line, rule id, message, rubric, record type).
Event = tuple[int | None, str, str, str | None, str | None]


class Grammar:
    """The grammar of *spec*: parents, depths, sibling order, units."""

    def __init__(self, spec: MessageSpec) -> None:
        self.spec = spec
        self.header, self.trailer, self.comment = spec.header, spec.trailer, spec.comment
        self.parent = {t: lay.parent for t, lay in spec.records.items()}
        self.order = {t: i for i, t in enumerate(spec.records)}
        self.children = {t: spec.children_of(t) for t in spec.records}
        self.units = frozenset(spec.unit_types)
        self.length = spec.record_length
        self.id_slice = {t: lay.id_field.slice for t, lay in spec.records.items() if lay.id_field is not None}
        self.ancestors: dict[str, tuple[str, ...]] = {}
        for t in spec.records:
            chain: list[str] = []
            p = self.parent[t]
            while p and p not in chain:
                chain.append(p)
                p = self.parent.get(p)
            self.ancestors[t] = tuple(chain)
        #: record types that other records hang under (their rows are looked up as ancestors)
        self.context_types = tuple(t for t in spec.records if self.children[t]) + (self.header,)
        self.depth = {t: len(self.ancestors[t]) for t in spec.detail_types if t != self.comment}
        self.top_types = spec.top_types
        # over the record types of a stretch of lines, one byte each (its number)
        self.pattern = re.compile(self._groups_source().encode("latin-1"))
        self.top_codes = [int(x) for x in self.top_types]
        self.comment_code = int(self.comment)
        self.id_codes = [(int(x), sl) for x, sl in self.id_slice.items() if x != self.comment]
        #: per type: the types whose record closes an open record of that type
        self.closers = {x: [int(y) for y, e in self.depth.items() if e <= d and y != x]
                        for x, d in self.depth.items()}

    def _source(self, t: str) -> str:
        """A pattern for record *t* with its comments and everything under it, written as
        the sequence of record types, each the byte of its number ("04": 4).

        Its repeats are possessive (never give back what they took: no backtracking, about
        3x faster): a stretch they do not match goes the walker's way, which decides
        everything the same, only record by record."""
        out = f"{re.escape(chr(int(t)))}(?:{re.escape(chr(int(self.comment)))})*+"
        for c in self.children[t]:
            lay = self.spec.records[c]
            out += f"(?:{self._source(c)}){{{lay.min},{'' if lay.max is None else lay.max}}}+"
        return out

    def _groups_source(self) -> str:
        """Whole top-level groups, any number, each well formed."""
        return "(?:" + "|".join(f"(?:{self._source(t)})" for t in self.top_types) + ")*+"


class _Node:
    """An open record of the tree: what its children are checked against."""

    __slots__ = ("batch", "counts", "ext", "last_child", "line", "ok", "raw", "row", "type", "unit")

    def __init__(self, t: str, line: int, raw: str, row: int, batch: int, unit: int, ok: bool) -> None:
        self.type = t
        self.line = line
        self.raw = raw
        self.row = row  # index in its batch
        self.batch = batch
        self.ext = -1  # index among the context rows of the batch being walked
        self.counts: dict[str, int] = {}
        self.last_child: str | None = None
        self.unit = unit  # line of the unit record it belongs to (0: its group's top part)
        self.ok = ok  # it and its ancestors have the record length


def _one_of(t: np.ndarray, codes: list[int]) -> np.ndarray:
    """Per element of *t*: it is one of the (few) *codes* (``np.isin``, cheaper for few)."""
    out = np.zeros(t.shape, bool)
    for c in codes:
        out |= t == c
    return out


class Group:
    """The records of one top-level group, in order: (line, record type, unit line) each,
    kept in arrays (a group may hold a million claim lines: no tuple per record)."""

    __slots__ = ("_index", "_names", "lines", "types", "units")

    def __init__(self, line: int, record_type: str, unit: int) -> None:
        self.lines = array("q")
        self.units = array("q")
        self.types = array("B")
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self.append(line, record_type, unit)

    def append(self, line: int, record_type: str, unit: int) -> None:
        k = self._index.get(record_type)
        if k is None:
            k = self._index[record_type] = len(self._names)
            self._names.append(record_type)
        self.lines.append(line)
        self.types.append(k)
        self.units.append(unit)

    def __len__(self) -> int:
        return len(self.lines)

    def __iter__(self) -> Iterator[tuple[int, str, int]]:
        names = self._names
        return zip(self.lines, map(names.__getitem__, self.types), self.units)


class Placement:
    """Where the lines of one batch hang (arrays of the batch's length unless told)."""

    def __init__(self, n: int, context_types: tuple[str, ...]) -> None:
        self.level = np.zeros(n, np.int8)  # 0 not checked, 1 record level, 2 file level (header/trailer)
        self.chain_ok = np.zeros(n, bool)  # placed, and its ancestors have the record length
        self.body = np.zeros(n, bool)  # between header and trailer, counted
        self.anc = {t: np.full(n, -1, np.int64) for t in context_types}  # row index of the ancestor
        self.parent_line = np.zeros(n, np.int64)  # comments: the record they follow; else the parent
        self.context: list[str] = []  # texts of ancestors from earlier batches (rows n, n+1, ...)
        self.context_lines: list[int] = []
        self.context_ok: list[bool] = []
        self.events: list[Event] = []
        self.closed: list[Group] = []  # closed groups
        # groups placed at once (see Walker._fast): rows a..b with their top and unit rows
        self.fast: tuple[int, int, np.ndarray, np.ndarray] | None = None


class Walker:
    """Applies a :class:`Grammar` to the lines of a file, batch by batch."""

    def __init__(self, grammar: Grammar) -> None:
        self.g = grammar
        self.counts: dict[str, int] = {}
        self.header: _Node | None = None
        self.header_raw = ""
        self.trailer_line: int | None = None
        self.trailer_raw: str | None = None
        self.stack: list[_Node] = []  # open records, top-level first
        self.last: _Node | None = None  # the record a comment would follow
        self.group: Group | None = None
        self._closed: list[Group] = []
        self.batch_no = 0

    def assume_header(self) -> None:
        """The file does not start with a voorlooprecord (its spec was named, see the
        reader): walk it as if one that cannot be read stood before line 1 -- the records
        get their places, and what reads the header skips them (it does not have the
        record length)."""
        self.header = _Node(self.g.header, 0, "", -1, 0, 0, False)

    # ------------------------------------------------------------------ per batch
    def walk(self, batch: Batch) -> Placement:
        g = self.g
        spec = g.spec
        n = len(batch)
        out = Placement(n, g.context_types)
        self.batch_no += 1
        bno = self.batch_no
        text, terms = batch.text, batch.terms
        length_ok = batch.length_ok.tolist()
        events = out.events
        level, chain_ok, body, parent_line = out.level, out.chain_ok, out.body, out.parent_line
        anc = out.anc
        records = spec.records
        counts = self.counts
        header_t, trailer_t, comment_t = g.header, g.trailer, g.comment
        parent_of, order, units, width = g.parent, g.order, g.units, g.length
        first = batch.first

        def ext(node: _Node) -> int:
            """The row index of an open record in this batch's rows (plus context)."""
            if node.batch == bno:
                return node.row
            if node.ext < 0 or node.batch != -bno:
                node.ext = n + len(out.context)
                node.batch = -bno
                out.context.append(node.raw)
                out.context_lines.append(node.line)
                out.context_ok.append(node.ok)
            return node.ext

        seg_a, seg_b = self._segment(batch)
        skip_to = -1

        def rows() -> Iterator[int]:
            """0..n-1, jumping over the rows placed at once"""
            i = 0
            while i < n:
                yield i
                i = max(i + 1, skip_to)

        for i in rows():
            if i == seg_a and seg_b > seg_a and self.header is not None and self.trailer_line is None:
                # the groups up to seg_b are well formed: placed at once
                self._close_to(0, events)
                self._fast(batch, seg_a, seg_b, out, ext(self.header))
                skip_to = seg_b
                continue
            raw = text(i)
            line = first + i
            if not raw:
                events.append((line, "file.line_end", "empty line: CR/LF without a record", None, None))
                continue
            if terms is not None and terms[i] != "\r\n":
                events.append((line, "file.line_end", "record not followed by CR/LF", None, raw[:2] or None))
            t = raw[:2]
            if t not in records:
                events.append((line, "file.record_type", "kenmerk record is not one of the message's record types",
                               None, t))
                continue
            counts[t] = counts.get(t, 0) + 1
            ok = length_ok[i]
            if not ok:
                events.append((line, "file.record_length", f"record is {len(raw)} characters, expected {width}",
                               None, t))
            if self.trailer_line is not None:
                events.append((line, "file.order", "record after the sluitrecord", None, t))
                continue
            if t == header_t:
                if self.header is not None:
                    events.append((line, "file.order", "second voorlooprecord" if self.header.line else
                                   "voorlooprecord that is not the first record", None, t))
                else:
                    self.header = _Node(t, line, raw, i, bno, 0, ok)
                    self.header_raw = raw
                    if ok:
                        level[i] = 2
                        chain_ok[i] = True
                continue
            if self.header is None:
                events.append((line, "file.order", "record before the voorlooprecord", None, t))
                continue
            body[i] = True
            anc[header_t][i] = ext(self.header)
            if t == trailer_t:
                self._close_to(0, events)
                self.trailer_line = line
                self.trailer_raw = raw
                if ok:
                    level[i] = 2
                    chain_ok[i] = True
                continue
            if t == comment_t:
                last = self.last
                if last is None:
                    events.append((line, "file.order", "commentaarrecord that follows no detail record", None, t))
                    continue
                sl = g.id_slice.get(last.type)
                cm = g.id_slice.get(t)
                if sl is not None and cm is not None and ok and raw[cm] != last.raw[sl]:
                    idf = records[t].id_field
                    assert idf is not None
                    events.append((line, "file.record_id",
                                   f"{idf.name} ({idf.rubric}) differs from that of the record it follows",
                                   idf.rubric, t))
                level[i] = 1
                chain_ok[i] = ok
                parent_line[i] = last.line
                for node in self.stack:
                    if node.type in anc:
                        anc[node.type][i] = ext(node)
                if last.type in anc:
                    anc[last.type][i] = ext(last)
                assert self.group is not None
                self.group.append(line, t, last.unit)
                continue
            parent = parent_of[t]
            stack = self.stack
            if not parent:
                self._close_to(0, events)
                node = _Node(t, line, raw, i, bno, line if t in units else 0, ok)
                self.group = Group(line, t, node.unit)
                stack.append(node)
                self.last = node
                level[i] = 1
                chain_ok[i] = ok
                continue
            k = len(stack) - 1
            while k >= 0 and stack[k].type != parent:
                k -= 1
            if k < 0:
                events.append((line, "file.order", f"record {t} outside a record {parent}", None, t))
                self.last = None
                continue
            self._close_to(k + 1, events)
            up = stack[k]
            prev = up.last_child
            if prev is not None and order[prev] > order[t]:
                events.append((line, "file.order", f"record {t} after record {prev}", None, t))
            lay = records[t]
            seen = up.counts.get(t, 0)
            if lay.max is not None and seen >= lay.max:
                events.append((line, "file.order", f"more than {lay.max} record(s) {t} for one record {parent}",
                               None, t))
            up.counts[t] = seen + 1
            up.last_child = t
            unit = up.unit or (line if t in units else 0)
            node = _Node(t, line, raw, i, bno, unit, ok and up.ok)
            for a in stack:
                if a.type in anc:
                    anc[a.type][i] = ext(a)
            stack.append(node)
            self.last = node
            level[i] = 1
            chain_ok[i] = node.ok
            parent_line[i] = up.line
            assert self.group is not None
            self.group.append(line, t, unit)
        out.closed, self._closed = self._closed, []
        return out

    def _segment(self, batch: Batch) -> tuple[int, int]:
        """Rows a..b of *batch* that are whole top-level groups, well formed by the
        grammar (one regular-expression match over their record types), with the record
        length, CR/LF, and their comments' identificatie right; (0, 0) if none."""
        g = self.g
        if self.trailer_line is not None or len(batch) < 3:
            return 0, 0
        types = batch.types
        tops = np.flatnonzero(_one_of(types, g.top_codes))
        if len(tops) < 2:
            return 0, 0
        a, b = int(tops[0]), int(tops[-1])
        if not batch.length_ok[a:b].all() or batch.terms is not None and any(e != "\r\n" for e in batch.terms[a:b]):
            return 0, 0
        # (types: the number of the first two characters when both are digits, else -1,
        # which is byte 255 here and in no pattern)
        if g.pattern.fullmatch(types[a:b].astype(np.uint8).tobytes()) is None:
            return 0, 0
        # comments carry the identificatie of the record they follow
        t = types[a:b]
        idx = np.arange(b - a)
        is_comment = t == g.comment_code
        if is_comment.any() and g.comment in g.id_slice:
            last = np.maximum.accumulate(np.where(is_comment, -1, idx))
            cm = np.flatnonzero(is_comment)
            chars = batch.chars[a:b]
            mine = chars[cm, g.id_slice[g.comment]]
            width = mine.shape[1]
            for code, sl in g.id_codes:
                sel = t[last[cm]] == code
                if not sel.any():
                    continue
                theirs = chars[last[cm][sel], sl]
                if theirs.shape[1] != width or (mine[sel] != theirs).any():
                    return 0, 0
            if not _one_of(t[last[cm]], [c for c, _ in g.id_codes]).all():
                return 0, 0  # a comment after a record without identificatie: the walk decides
        return a, b

    def _fast(self, batch: Batch, a: int, b: int, out: Placement, header_row: int) -> None:
        """Place rows a..b (whole, well-formed groups; see :meth:`_segment`) at once."""
        g = self.g
        t = batch.types[a:b]
        m = b - a
        idx = np.arange(m)
        out.level[a:b] = 1
        out.chain_ok[a:b] = True
        out.body[a:b] = True
        out.anc[g.header][a:b] = header_row
        codes, counts = np.unique(t, return_counts=True)
        for code, k in zip(codes.tolist(), counts.tolist()):
            key = f"{code:02d}"
            self.counts[key] = self.counts.get(key, 0) + k
        is_comment = t == g.comment_code
        def open_rows(x: str) -> np.ndarray:
            """Per row: the row of the open record of type *x* (-1: none); a record of
            type *x* is its own."""
            pos = np.maximum.accumulate(np.where(t == int(x), idx, -1))
            shut = np.maximum.accumulate(np.where(_one_of(t, g.closers[x]), idx, -1))
            return np.where(pos > shut, pos, -1)

        opened: dict[str, np.ndarray] = {}
        for x in g.context_types:
            if x == g.header:
                continue
            pos = opened[x] = open_rows(x)
            anc = np.where((pos >= 0) & (t != int(x)), pos + a, -1)
            out.anc[x][a:b] = anc
        lines = batch.lines[a:b]
        last = np.maximum.accumulate(np.where(is_comment, -1, idx))
        parent = np.zeros(m, np.int64)
        for x, p in g.parent.items():
            if p and x in g.depth:
                sel = t == int(x)
                if sel.any():
                    parent[sel] = lines[opened[p][sel]] if p in opened else 0
        parent[is_comment] = lines[last[is_comment]]
        out.parent_line[a:b] = parent
        unit = np.full(m, m, np.int64)
        for u in g.units:
            got = opened.get(u)
            pos = open_rows(u) if got is None else got
            unit = np.where((pos >= 0) & (pos < unit), pos, unit)
        unit_lines = np.where(unit < m, lines[np.minimum(unit, m - 1)], 0)
        top = np.maximum.accumulate(np.where(_one_of(t, g.top_codes), idx, -1))
        out.fast = (a, b, lines[top], unit_lines)

    def _close_to(self, depth: int, events: list[Event]) -> None:
        """Close the open records from the deepest up to *depth* (0: the whole group)."""
        stack = self.stack
        while len(stack) > depth:
            node = stack.pop()
            for c in self.g.children[node.type]:
                if node.counts.get(c, 0) < self.g.spec.records[c].min:
                    events.append((node.line, "file.order", f"record {node.type} without record {c}", None,
                                   node.type))
        if depth == 0:
            self.last = None
            if self.group is not None:
                self._closed = [*self._closed, self.group]
                self.group = None

    def finish(self, add: Callable[[Event], None]) -> list[Group]:
        """Close what is open (its structural findings go to *add*); the closed groups."""
        events: list[Event] = []
        self._close_to(0, events)
        if self.header is not None and self.trailer_line is not None:
            # the file's own minimum of each top-level record type (AP304: at least one
            # verzekerdenrecord, STB tables 5-1/5-2), found at the sluitrecord
            for t in self.g.top_types:
                need = self.g.spec.records[t].min
                if self.counts.get(t, 0) < need:
                    events.append((self.trailer_line, "file.order",
                                   f"the file holds no record {t} (at least {need} required)", None, t))
        for e in events:
            add(e)
        closed, self._closed = self._closed, []
        return closed
