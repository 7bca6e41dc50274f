"""What a record type or a field of a spec holds, as a table to read while building one.

``spec.describe("04")`` (and ``eicodec explain 04``) lists each field of record 04:
rubric, name, attribute (the Python name), type (N/AN), position, length, whether it must
be filled (``mandatory``: Y in the spec; ``conditional``: C, required in some cases;
``optional``: N) and notes (a fixed value, the code list, filled by the writer, personal
data). ``spec.describe("0403")`` does the same for one field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (types only: layouts itself imports this module for MessageSpec.describe)
    from .layouts import FieldSpec, MessageSpec, RecordLayout

REQUIRED = {"Y": "mandatory", "C": "conditional", "N": "optional"}
COLUMNS = ("rubric", "name", "attribute", "type", "pos", "len", "required", "notes")


class Table(str):
    """A text table that also shows as itself at the Python prompt (no quotes, no ``\\n``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def _notes(spec: MessageSpec, layout: RecordLayout, f: FieldSpec) -> str:
    notes = []
    if f.fixed is not None:
        notes.append(f"fixed {f.fixed}")
    if f.kind == "reserve":
        notes.append("reserve (spaces)")
    derived = {*spec.counts, *(t.rubric for t in spec.totals)}
    if f.element == "NUM040" or layout.type == spec.trailer and f.rubric in derived:
        notes.append("filled by the writer")
    for attr, (amount, dc) in layout.signed.items():
        if f is amount:
            notes.append(f"cents; sign in {dc.rubric} (or set {attr})")
        elif f is dc:
            notes.append(f"D/C of {amount.rubric}")
    if f.kind in ("date", "time"):
        notes.append(f.kind)
    if f.codelist:
        notes.append(f"code list {f.codelist}")
    elif f.allowed:
        notes.append("one of " + "/".join(f.allowed))
    if f.personal:
        notes.append("personal data")
    if f.provisional:
        notes.append("provisional")
    return "; ".join(notes)


def _row(spec: MessageSpec, layout: RecordLayout, f: FieldSpec) -> tuple[str, ...]:
    return (f.rubric, f.name, f.attr, f.type, str(f.start), str(f.length), REQUIRED.get(f.mandatory, f.mandatory),
            _notes(spec, layout, f))


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [COLUMNS, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def describe(spec: MessageSpec, key: str) -> Table:
    """The table of record type *key* (``"04"``; ``"4"`` is padded) or of field *key* (a
    rubric ``"0403"`` or an attribute name); raises the spec's own lookup errors otherwise."""
    key = key.strip()
    if key.isdigit() and len(key) <= 2:
        layout = spec.layout(key.zfill(2))
        head = (f"{spec.name} record {layout.type}: {layout.name.lower()} ({layout.english}), "
                f"{layout.length} characters")
        where = f"under record {layout.parent}" if layout.parent else "at file level"
        more = f"; at most {layout.max}" if layout.max is not None else ""
        head += f"\n  {where}; at least {layout.min}{more} per parent"
        return Table(head + "\n\n" + _table([_row(spec, layout, f) for f in layout.fields]) + "\n")
    for layout in spec.records.values():
        f = layout.by_rubric.get(key) or layout.by_attr.get(key)
        if f is not None:
            head = f"{spec.name} record {layout.type} ({layout.name.lower()}), element {f.element or '-'}"
            return Table(head + "\n\n" + _table([_row(spec, layout, f)]) + "\n")
    return Table(str(spec.layout(key[:2]).field(key)))  # raises UnknownFieldError / UnknownRecordTypeError
