"""Writing EI files.

The writer puts records in the order the standard prescribes (STB §5.3.5: per group the
record, its comments, then its nested records by type in spec order), numbers
identificatie detailrecord where the caller left it empty, gives comments the number
of the record they follow and a regelnummer, computes the trailer counts and totals,
and ends every record, the last one included, with CR/LF. It never truncates: a record
of the wrong length or a character the encoding cannot hold raises
:class:`~eicodec.errors.EncodeError`. A declaration built in code (not read from a file)
is refused when its mandatory fields are empty (:func:`missing_fields` lists them;
``check=False`` writes a draft anyway).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import IO

import attrs

from .errors import DecodeError, EncodeError
from .layouts import FieldSpec, MessageSpec
from .model import Declaration, Node, Record
from .outputs import atomic_output

CRLF = "\r\n"


@attrs.frozen
class MissingField:
    """A mandatory field left empty: ``record`` is the record's position in the file
    (1 = the voorlooprecord), as the written file will number its lines."""

    record: int
    record_type: str
    rubric: str
    name: str

    def __str__(self) -> str:
        return f"line {self.record} rubric {self.rubric} ({self.name})"


def missing_fields(decl: Declaration) -> list[MissingField]:
    """The mandatory fields (mandatory flag Y in the spec) that *decl* leaves empty,
    after numbering and the trailer are filled in (what the writer fills is not missing)."""
    done = complete(decl)
    out = []
    for n, rec in enumerate(done.iter_records(), 1):
        if rec.layout is None:
            continue
        for f in rec.layout.fields:
            if f.is_missing(rec.raw[f.slice]):
                out.append(MissingField(n, rec.layout.type, f.rubric, f.name))
    return out


def _check(decl: Declaration) -> None:
    missing = missing_fields(decl)
    if missing:
        first = missing[0]
        listed = "; ".join(str(m) for m in missing[:10])
        more = f"; and {len(missing) - 10} more" if len(missing) > 10 else ""
        err = EncodeError(f"{len(missing)} mandatory field(s) empty: {listed}{more}",
                          line=first.record, record_type=first.record_type, rubric=first.rubric)
        err.missing = missing  # type: ignore[attr-defined]
        raise err


def complete(decl: Declaration) -> Declaration:
    """A copy of *decl* with record ids, comment numbers and the trailer filled in."""
    if decl.unplaced:
        first = decl.unplaced[0]
        where = f" (first at line {first.line})" if first.line is not None else ""
        raise EncodeError(f"{len(decl.unplaced)} record(s) do not fit the file structure{where}; "
                          "a declaration read from a broken file cannot be written back",
                          line=first.line, record_type=first.record_type or None)
    spec = decl.spec
    for rec in decl.iter_records():
        if rec.layout is None or len(rec.raw) != rec.layout.length:
            want = rec.layout.length if rec.layout else "a known record type"
            raise EncodeError(f"record is {len(rec.raw)} characters, expected {want}",
                              line=rec.line, record_type=rec.record_type or None)
    return _complete(decl, spec)


def _empty(rec: Record, f: FieldSpec) -> bool:
    """Whether field *f* of *rec* holds no value (undecodable text counts as a value)."""
    return rec.raw[f.slice] == f.empty


def _number(rec: Record, f: FieldSpec) -> int:
    try:
        return int(rec.get(f.attr) or 0)
    except DecodeError:
        return 0


def _complete(decl: Declaration, spec: MessageSpec) -> Declaration:
    order = {t: i for i, t in enumerate(spec.records)}
    counter = 0

    def finish(node: Node) -> Node:
        nonlocal counter
        rec = node.record  # copied only when something is filled in: the caller's stays as it was
        id_field = rec.layout.id_field if rec.layout else None
        counter += 1
        if id_field is not None and _empty(rec, id_field):
            rec = rec.copy()
            rec.set(id_field.attr, counter)
        comments = _finish_comments(spec, rec, node.comments)
        kids = sorted(node.children, key=lambda c: order.get(c.record.record_type, len(order)))
        return Node(rec, comments, [finish(k) for k in kids])

    groups = [finish(g) for g in decl.groups]
    out = Declaration(spec=spec, header=decl.header, groups=groups, trailer=None,
                      encoding=decl.encoding, source=decl.source)
    out.trailer = compute_trailer(spec, out.iter_records(), decl.trailer)
    return out


def _finish_comments(spec: MessageSpec, parent: Record, comments: list[Record]) -> list[Record]:
    if not comments:
        return []
    lay = spec.layout(spec.comment)
    id_field = lay.id_field
    line_field = next((f for f in lay.fields if f.kind == "number" and f is not id_field), None)
    pid_field = parent.layout.id_field if parent.layout else None
    parent_id = parent.raw[pid_field.slice] if pid_field is not None else None
    used = [_number(c, line_field) for c in comments] if line_field else []
    next_line = max(used, default=0)
    out = []
    for c in comments:
        if id_field is not None and _empty(c, id_field) and parent_id is not None \
                and len(parent_id) == id_field.length:
            c = c.copy()
            c.raw = c.raw[: id_field.start - 1] + parent_id + c.raw[id_field.end:]
        if line_field is not None and _empty(c, line_field):
            next_line += 1
            c = c.copy()
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
                try:
                    value = rec.get(f"{f.attr}_signed") if f.sign else rec.get(f.attr)
                except DecodeError as exc:
                    raise EncodeError(f"cannot total the trailer: {exc.message}", line=exc.line,
                                      record_type=exc.record_type, rubric=exc.rubric) from None
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


def built_in_code(decl: Declaration) -> bool:
    """Whether *decl* was built in code (its voorlooprecord was not read from a file)."""
    return decl.header.line is None


def _wants_check(decl: Declaration, check: bool | None) -> bool:
    return built_in_code(decl) if check is None else check


def dumps(decl: Declaration, *, encoding: str | None = None, check: bool | None = None) -> bytes:
    """The file text of *decl* as bytes (default: the encoding it was read in, else UTF-8).

    A declaration built in code is checked first (``check=None``, the default; ``True``
    checks any declaration, ``False`` writes a draft as it is): empty mandatory fields
    raise an :class:`~eicodec.errors.EncodeError` naming line, record type and rubric of
    the first and listing them all (``.missing``; no values from the declaration). A
    declaration read from a file is written back exactly as read."""
    if _wants_check(decl, check):
        _check(decl)
    done = complete(decl)
    enc = _encoding(decl, encoding)
    records = list(done.iter_records())
    for rec in records:
        if rec.layout is None or len(rec.raw) != rec.layout.length:
            for _ in render_records([rec], enc):  # raises the EncodeError that names it
                pass
    try:
        return (CRLF.join(r.raw for r in records) + CRLF).encode(enc)
    except UnicodeEncodeError:
        return b"".join(render_records(records, enc))  # finds and names the record and rubric


def write(decl: Declaration, target: str | os.PathLike[str] | IO[bytes], *,
          encoding: str | None = None, check: bool | None = None) -> None:
    """Write *decl* to a path or binary file object, one record at a time (a declaration
    built in code is checked for empty mandatory fields first, as :func:`dumps`;
    ``check=False`` writes a draft)."""
    if _wants_check(decl, check):
        _check(decl)
    done = complete(decl)
    write_records(done.iter_records(), target, encoding=_encoding(decl, encoding))


def write_records(records: Iterable[Record], target: str | os.PathLike[str] | IO[bytes], *,
                  encoding: str = "utf-8") -> None:
    """Stream already complete *records* (header to trailer) to *target*: a path is
    written through a temporary file renamed into place when complete (a device or pipe
    is written directly, see :func:`eicodec.outputs.atomic_output`)."""
    if isinstance(target, (str, os.PathLike)):
        with atomic_output(target) as fh:
            for chunk in render_records(records, encoding):
                fh.write(chunk)
        return
    for chunk in render_records(records, encoding):
        target.write(chunk)


def _encoding(decl: Declaration, encoding: str | None) -> str:
    if encoding:
        return encoding
    return decl.encoding if decl.encoding not in ("", "str") else "utf-8"
