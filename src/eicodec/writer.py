"""Writing EI files.

The writer puts records in the order the standard prescribes (STB §5.3.5: per group the
record, its comments, then its nested records by type in spec order), numbers
identificatie detailrecord where the caller left it empty, gives comments the number
of the record they follow and a regelnummer, computes the trailer counts and totals,
and ends every record, the last one included, with CR/LF. It never truncates: a record
of the wrong length or a character the encoding cannot hold raises
:class:`~eicodec.errors.EncodeError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from .errors import EncodeError
from .layouts import MessageSpec
from .model import Declaration, Node, Record

CRLF = "\r\n"


def complete(decl: Declaration) -> Declaration:
    """A copy of *decl* with record ids, comment numbers and the trailer filled in."""
    if decl.unplaced:
        first = decl.unplaced[0]
        where = f" (first at line {first.line})" if first.line is not None else ""
        raise EncodeError(f"{len(decl.unplaced)} record(s) do not fit the file structure{where}; "
                          "a declaration read from a broken file cannot be written back",
                          line=first.line, record_type=first.record_type or None)
    spec = decl.spec
    order = {t: i for i, t in enumerate(spec.records)}
    counter = 0

    def finish(node: Node) -> Node:
        nonlocal counter
        rec = node.record.copy()
        id_field = rec.layout.id_field if rec.layout else None
        counter += 1
        if id_field is not None and not rec.get(id_field.attr):
            rec.set(id_field.attr, counter)
        comments = _finish_comments(spec, rec, node.comments)
        kids = sorted(node.children, key=lambda c: order.get(c.record.record_type, len(order)))
        return Node(rec, comments, [finish(k) for k in kids])

    groups = [finish(g) for g in decl.groups]
    out = Declaration(spec=spec, header=decl.header.copy(), groups=groups, trailer=None,
                      encoding=decl.encoding)
    out.trailer = compute_trailer(spec, out.iter_records(), decl.trailer)
    return out


def _finish_comments(spec: MessageSpec, parent: Record, comments: list[Record]) -> list[Record]:
    if not comments:
        return []
    lay = spec.layout(spec.comment)
    id_field = lay.id_field
    line_field = next((f for f in lay.fields if f.kind == "number" and f is not id_field), None)
    parent_id = parent.get(parent.layout.id_field.attr) if parent.layout and parent.layout.id_field else None
    used = [c.get(line_field.attr) or 0 for c in comments] if line_field else []
    next_line = max(used, default=0)
    out = []
    for c in comments:
        c = c.copy()
        if id_field is not None and not c.get(id_field.attr) and parent_id is not None:
            c.set(id_field.attr, parent_id)
        if line_field is not None and not c.get(line_field.attr):
            next_line += 1
            c.set(line_field.attr, next_line)
        out.append(c)
    return out


def compute_trailer(spec: MessageSpec, records: Iterable[Record], given: Record | None = None) -> Record:
    """The trailer for *records* (header and details, any trailer among them ignored).

    Fields the spec derives (counts, signed totals) are computed; every other field is
    kept from *given* (e.g. AP305 9907, the submitted total).
    """
    counts: dict[str, int] = {}
    sums = {rule.rubric: 0 for rule in spec.totals}
    for rec in records:
        t = rec.record_type
        if t == spec.trailer or t not in spec.records:
            continue
        counts[t] = counts.get(t, 0) + 1
        if rec.layout is None:
            continue
        for rule in spec.totals:
            f = rec.layout.by_rubric.get(rule.sum)
            if f is not None:
                value = rec.get(f"{f.attr}_signed") if f.sign else rec.get(f.attr)
                sums[rule.rubric] += value or 0
    return trailer_from_counts(spec, counts, sums, given)


def trailer_from_counts(spec: MessageSpec, counts: dict[str, int], sums: dict[str, int],
                        given: Record | None = None) -> Record:
    """A trailer holding *counts* (per record type) and *sums* (per total rubric)."""
    trailer = given.copy() if given is not None else spec.new(spec.trailer)
    trailer.line = None
    for rubric, types in spec.counts.items():
        trailer.set(rubric, sum(counts.get(t, 0) for t in types))
    for rule in spec.totals:
        f = trailer.layout.by_rubric[rule.rubric]  # type: ignore[union-attr]
        trailer.set_signed(f.attr, sums.get(rule.rubric, 0))
    return trailer


def render_records(records: Iterable[Record], encoding: str = "utf-8") -> Iterator[bytes]:
    """Each record as encoded bytes with CR/LF; checks length and encodability."""
    for n, rec in enumerate(records, 1):
        if rec.layout is None or len(rec.raw) != rec.layout.length:
            want = rec.layout.length if rec.layout else "a known record type"
            raise EncodeError(f"record is {len(rec.raw)} characters, expected {want}",
                              line=rec.line or n, record_type=rec.record_type or None)
        try:
            yield (rec.raw + CRLF).encode(encoding)
        except UnicodeEncodeError as exc:
            pos = exc.start + 1
            f = next((f for f in rec.layout.fields if f.start <= pos <= f.end), None)
            raise EncodeError(f"character at position {pos} cannot be written in {encoding}",
                              line=rec.line or n, record_type=rec.record_type,
                              rubric=f.rubric if f else None) from None


def dumps(decl: Declaration, *, encoding: str | None = None) -> bytes:
    """The file text of *decl* as bytes (default: the encoding it was read in, else UTF-8)."""
    done = complete(decl)
    return b"".join(render_records(done.iter_records(), _encoding(decl, encoding)))


def write(decl: Declaration, target: str | os.PathLike[str] | IO[bytes], *,
          encoding: str | None = None) -> None:
    """Write *decl* to a path or binary file object, one record at a time."""
    done = complete(decl)
    write_records(done.iter_records(), target, encoding=_encoding(decl, encoding))


def write_records(records: Iterable[Record], target: str | os.PathLike[str] | IO[bytes], *,
                  encoding: str = "utf-8") -> None:
    """Stream already complete *records* (header to trailer) to *target*."""
    if isinstance(target, (str, os.PathLike)):
        path = Path(target)
        tmp = path.with_name(path.name + ".part")
        try:
            with tmp.open("wb") as fh:
                for chunk in render_records(records, encoding):
                    fh.write(chunk)
            tmp.replace(path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return
    for chunk in render_records(records, encoding):
        target.write(chunk)


def _encoding(decl: Declaration, encoding: str | None) -> str:
    if encoding:
        return encoding
    return decl.encoding if decl.encoding not in ("", "str") else "utf-8"
