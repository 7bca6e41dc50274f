"""The record and declaration model.

A :class:`Record` is one line of an EI file. It keeps the exact text it was read from
(so writing it back is byte-exact) and decodes a field only when you ask for it, by
rubric number or by attribute name::

    rec["0403"]            # same as rec.bsn
    rec.declared_amount    # 1250 (eurocents, as in the file: unsigned)
    rec.declared_amount_dc # "C"
    rec.declared_amount_signed  # -1250

A :class:`Declaration` is the tree of a whole file: the header, the top-level groups
(for AP304 the insured persons, each a :class:`Node` with its debtor, claim lines and
comments) and the trailer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Self

import attrs

from .errors import DecodeError, EncodeError, UnknownFieldError
from .layouts import spec_of_layout, use_record_maker

if TYPE_CHECKING:
    from .layouts import FieldSpec, MessageSpec, RecordLayout


class Record:
    """One record (line) of an EI file, backed by its text.

    ``layout`` is None for a line whose kenmerk record is unknown; ``line`` is the
    1-based line number when read from a file; ``terminator`` the line end that
    followed it in the input (``"\\r\\n"`` in a valid file). Each layout gets its own
    subclass with a property per field, so ``rec.bsn`` reads and ``rec.bsn = ...``
    encodes into the text.
    """

    __slots__ = ("layout", "line", "raw", "terminator")

    layout: RecordLayout | None
    raw: str
    line: int | None
    terminator: str

    def __new__(cls, layout: RecordLayout | None = None, *args: Any, **kwargs: Any) -> Self:
        made = record_class(layout) if cls is Record and layout is not None else cls
        return object.__new__(made)  # type: ignore[return-value]

    if TYPE_CHECKING:  # fields are properties of the per-layout subclasses
        def __getattr__(self, name: str) -> Any: ...

    def __init__(self, layout: RecordLayout | None, raw: str, line: int | None = None,
                 terminator: str = "\r\n") -> None:
        self.layout = layout
        self.raw = raw
        self.line = line
        self.terminator = terminator

    # ------------------------------------------------------------------ building
    @classmethod
    def new(cls, layout: RecordLayout, **values: Any) -> Record:
        """A record of *layout* with *values* given by attribute name or rubric number.

        Unset fields are empty (zeros/spaces); fixed fields (kenmerk record, message
        code) are filled in. ``<amount>_signed=-1250`` sets an amount and its D/C field.
        """
        rec = cls(layout, layout.blank)
        for key, value in values.items():
            rec.set(key, value)
        return rec

    def copy(self) -> Record:
        return type(self)(self.layout, self.raw, self.line, self.terminator)

    def replace(self, **values: Any) -> Record:
        """A copy with *values* changed."""
        rec = self.copy()
        for key, value in values.items():
            rec.set(key, value)
        return rec

    # ------------------------------------------------------------------ access
    @property
    def record_type(self) -> str:
        """The kenmerk record (first two characters)."""
        return self.raw[:2]

    def _field(self, key: str) -> FieldSpec:
        if self.layout is None:
            raise DecodeError("unknown record type has no fields", line=self.line,
                              record_type=self.record_type)
        try:
            return self.layout.field(key)
        except UnknownFieldError as exc:
            raise UnknownFieldError(exc.message, line=self.line, record_type=self.layout.type) from None

    def raw_value(self, key: str) -> str:
        """The text of field *key* exactly as in the record (may be short on a short line)."""
        return self.raw[self._field(key).slice]

    def get(self, key: str) -> Any:
        """The decoded value of field *key* (rubric or attribute name)."""
        if self.layout is not None and key in self.layout.signed:
            amount, dc = self.layout.signed[key]
            value = self.get(amount.attr)
            if value is None:
                return None
            return -value if self.get(dc.attr) == "C" else value
        f = self._field(key)
        text = self.raw[f.start - 1:f.end]
        if len(text) != f.length:
            raise DecodeError(f"record is {len(self.raw)} characters; field ends at {f.end}",
                              line=self.line, record_type=self.record_type, rubric=f.rubric)
        try:
            return f.decode(text)
        except DecodeError as exc:
            raise DecodeError(exc.message, line=self.line, record_type=self.record_type,
                              rubric=f.rubric) from None

    def set(self, key: str, value: Any) -> None:
        """Encode *value* into field *key*; raises :class:`EncodeError` if it does not fit."""
        if self.layout is not None and key in self.layout.signed:
            self.set_signed(key[: -len("_signed")], value)
            return
        if self.layout is None:
            raise EncodeError("cannot set fields of an unknown record type",
                              line=self.line, record_type=self.record_type)
        try:
            f = self.layout.field(key)
        except KeyError:
            raise EncodeError(f"record {self.layout.type} has no field {key!r}",
                              record_type=self.layout.type) from None
        if f.fixed is not None and value != f.fixed:
            raise EncodeError(f"field is fixed to {f.fixed!r}", line=self.line,
                              record_type=self.layout.type, rubric=f.rubric)
        try:
            text = f.encode(value)
        except EncodeError as exc:
            raise EncodeError(exc.message, line=self.line, record_type=self.layout.type,
                              rubric=f.rubric) from None
        raw = self.raw
        if len(raw) < f.end:
            raw = raw.ljust(f.end)
        self.raw = raw[: f.start - 1] + text + raw[f.end:]

    def set_signed(self, key: str, cents: int | None) -> None:
        """Set amount field *key* from a signed number of cents, and its D/C field."""
        f = self._field(key)
        if f.sign is None or self.layout is None:
            raise EncodeError("field has no debit/credit indicator", record_type=self.record_type,
                              rubric=f.rubric)
        dc = self.layout.by_rubric[f.sign]
        if cents is None:
            self.set(f.attr, None)
            self.set(dc.attr, "D")
            return
        if isinstance(cents, bool) or not isinstance(cents, int):
            raise EncodeError("signed amount must be an int of cents", record_type=self.record_type,
                              rubric=f.rubric)
        self.set(f.attr, abs(cents))
        self.set(dc.attr, "C" if cents < 0 else "D")

    def __getitem__(self, key: str) -> Any:
        return self.get(key)  # an unknown key raises UnknownFieldError, a KeyError

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def to_dict(self, *, rubrics: bool = False) -> dict[str, Any]:
        """Every field's decoded value, keyed by attribute name (or by rubric)."""
        if self.layout is None:
            return {}
        return {(f.rubric if rubrics else f.attr): self.get(f.attr) for f in self.layout.fields}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        same_layout = (self.layout is other.layout or (
            self.layout is not None and other.layout is not None
            and self.layout.spec_name == other.layout.spec_name
            and self.layout.type == other.layout.type))
        return same_layout and self.raw == other.raw

    __hash__ = None  # type: ignore[assignment]  # records are mutable

    def __repr__(self) -> str:
        where = f" line {self.line}" if self.line is not None else ""
        return f"<Record {self.record_type}{where}>"


def _property(name: str, doc: str) -> property:
    def get(self: Record) -> Any:
        return self.get(name)

    def put(self: Record, value: Any) -> None:
        self.set(name, value)

    return property(get, put, doc=doc)


def record_class(layout: RecordLayout) -> type[Record]:
    """The Record subclass for *layout* (made once per layout)."""
    cls: type[Record] | None = layout.record_class
    if cls is None:
        ns: dict[str, Any] = {"__slots__": ()}
        for f in layout.fields:
            ns[f.attr] = _property(f.attr, f"{f.rubric} {f.name}")
        for name, (amount, _dc) in layout.signed.items():
            ns[name] = _property(name, f"{amount.rubric} {amount.name}, signed by its D/C indicator")
        cls = type(f"Record{layout.type}", (Record,), ns)
        object.__setattr__(layout, "record_class", cls)
    return cls


@attrs.define(eq=True)
class Node:
    """A detail record with the comments that follow it and the records nested under it.

    Children are reachable by the names the spec gives their record types: for an
    AP304 insured person ``node.debtor`` (at most one) and ``node.claims``.
    """

    record: Record
    comments: list[Record] = attrs.field(factory=list)
    children: list[Node] = attrs.field(factory=list)

    def of_type(self, record_type: str) -> list[Node]:
        """Children of one record type, in order."""
        return [c for c in self.children if c.record.record_type == record_type]

    def add(self, record: Record, comments: list[Record] | None = None) -> Node:
        """Append *record* (with optional comment records) as a child; returns its node."""
        node = Node(record, list(comments or []))
        self.children.append(node)
        return node

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("record", "comments", "children"):
            raise AttributeError(name)
        found = _child_by_name(self, name)
        if found is _MISSING:
            raise AttributeError(name)
        return found

    def iter_records(self) -> Iterator[Record]:
        """This node's records in file order: itself, its comments, then its children."""
        yield self.record
        yield from self.comments
        for child in self.children:
            yield from child.iter_records()


_MISSING = object()


def _child_by_name(node: Node, name: str) -> Any:
    """Resolve ``node.debtor`` / ``node.claims`` from the child layouts' names."""
    seen: dict[str, RecordLayout] = {}
    for child in node.children:
        if child.record.layout is not None:
            seen.setdefault(child.record.layout.type, child.record.layout)
    spec_children = _spec_child_layouts(node)
    for lay in {**spec_children, **seen}.values():
        if lay.plural and name == lay.plural:
            return node.of_type(lay.type)
        if name == lay.english:
            found = node.of_type(lay.type)
            return found[0] if found else None
    return _MISSING


def _spec_child_layouts(node: Node) -> dict[str, RecordLayout]:
    layout = node.record.layout
    spec = spec_of_layout(layout) if layout is not None else None
    if spec is None or layout is None:
        return {}
    return {t: spec.records[t] for t in spec.children_of(layout.type)}


@attrs.define(eq=True)
class Problem:
    """A structural problem the reader saw (the validator turns it into a finding)."""

    kind: str
    line: int | None
    record_type: str | None
    message: str


@attrs.define(eq=True)
class Declaration:
    """A whole EI file as a tree.

    ``groups`` are the top-level nodes (AP304: insured persons; also reachable as
    ``declaration.insured``). ``trailer`` may be None when building: the writer computes
    it. After a lenient read, ``unplaced`` holds records that fit nowhere in the tree
    and ``problems`` says why; such a declaration cannot be written back. ``source`` is
    the file it was read from (the path as given, or a file object's ``name``); None for
    content passed as bytes or str and for a declaration built in code.
    """

    spec: MessageSpec
    header: Record
    groups: list[Node] = attrs.field(factory=list)
    trailer: Record | None = None
    unplaced: list[Record] = attrs.field(factory=list, eq=False)
    problems: list[Problem] = attrs.field(factory=list, eq=False)
    encoding: str = attrs.field(default="utf-8", eq=False)
    source: str | None = attrs.field(default=None, eq=False)

    @classmethod
    def new(cls, spec: MessageSpec, **header_values: Any) -> Declaration:
        """An empty declaration of *spec* whose header holds *header_values* (the
        subversion 0104 defaults to the spec's, as 0102/0103 are fixed by it)."""
        sub = spec.field(spec.header, "0104")
        if sub.rubric not in header_values and sub.attr not in header_values:
            header_values[sub.rubric] = spec.subversion_number
        return cls(spec=spec, header=spec.new(spec.header, **header_values))

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for rec in self.iter_records():
            counts[rec.record_type] = counts.get(rec.record_type, 0) + 1
        listed = ", ".join(f"{t}: {n}" for t, n in sorted(counts.items()))
        if self.source is not None:
            origin = f" from {self.source}"
        else:
            origin = " (read)" if self.header.line is not None else " (built in code)"
        trouble = f", {len(self.problems)} problem(s)" if self.problems else ""
        trouble += f", {len(self.unplaced)} unplaced" if self.unplaced else ""
        return f"<Declaration {self.spec.name}{origin}: records {listed}{trouble}>"

    def add(self, record: Record, comments: list[Record] | None = None) -> Node:
        """Append a top-level record (AP304: an insured person's 02); returns its node."""
        node = Node(record, list(comments or []))
        self.groups.append(node)
        return node

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "spec":
            raise AttributeError(name)
        spec = self.spec
        for t in spec.top_types:
            lay = spec.records[t]
            if name in (lay.plural, lay.english):
                return [g for g in self.groups if g.record.record_type == t]
        raise AttributeError(name)

    def iter_records(self) -> Iterator[Record]:
        """Every record in file order (the trailer only if present)."""
        yield self.header
        for group in self.groups:
            yield from group.iter_records()
        if self.trailer is not None:
            yield self.trailer

    def iter_nodes(self) -> Iterator[Node]:
        """Every node, depth first in file order."""
        stack = list(reversed(self.groups))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


use_record_maker(Record.new)  # (MessageSpec.new makes its records here)
