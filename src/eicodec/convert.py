"""JSON, JSON Lines and CSV views of an EI file, and building a file back from JSON.

The JSON document (``to_json``) is::

    {"standard": "AP304", "version": "8.0", "encoding": "utf-8",
     "records": [{"line": 1, "record_type": "01", "fields": {"record_code": "01", ...}}, ...]}

``fields`` is keyed by the spec's snake_case names. Values: text and digit codes as
strings, numbers and amounts (eurocents, unsigned; the D/C indicator is its own field)
as integers, dates as ``"YYYY-MM-DD"``, times as ``"HH:MM"``, empty optional fields as
``null``. A record whose text cannot be decoded field by field (a broken line) carries
``"raw"`` instead of ``"fields"``. With ``mask=True`` (what the command line does unless
``--unmask``) personal data is replaced by ``"***"`` as :mod:`eicodec.masking` decides: a
line that does not fit its layout (or has none) shows ``"raw": "***"``; personal and
non-blank reserve fields show ``"***"``. JSON Lines holds the same: a first line with the
message keys, then one record per line. :func:`from_json` builds the file back (ids,
comment numbers and the trailer are filled in when absent), so
``from_json(to_json(x)) == x`` byte for byte for every valid file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import DecodeError, EicodecError, EncodeError
from .layouts import MessageSpec, get_spec
from .masking import MASK, Masker, spreadsheet_safe
from .model import Record
from .reader import RecordStream, Source, build_tree
from .writer import dumps


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    return value


def record_to_dict(rec: Record, masker: Masker | None = None) -> dict[str, Any]:
    """One record as a JSON-ready dict; with *masker*, personal data masked."""
    out: dict[str, Any] = {"line": rec.line, "record_type": rec.record_type}
    hide = masker.hidden(rec) if masker is not None else frozenset()
    if rec.layout is None or len(rec.raw) != rec.layout.length or hide is None:
        out["raw"] = MASK if masker is not None else rec.raw
        return out
    try:
        fields = {f.attr: _jsonable(rec.get(f.attr)) for f in rec.layout.fields}
    except DecodeError:
        out["raw"] = MASK if masker is not None else rec.raw
        return out
    for attr in hide:
        if fields.get(attr) not in (None, ""):
            fields[attr] = MASK
    out["fields"] = fields
    return out


def _records(source: Source, encoding: str | None, spec: MessageSpec | None) -> tuple[RecordStream, MessageSpec]:
    stream = RecordStream(source, encoding=encoding, spec=spec)
    assert stream.info.spec is not None
    return stream, stream.info.spec


def to_json(source: Source, *, encoding: str | None = None, spec: MessageSpec | None = None,
            mask: bool = False) -> dict[str, Any]:
    """The whole file as one JSON-ready dict (see the module doc for the schema)."""
    stream, found = _records(source, encoding, spec)
    masker = Masker(found) if mask else None
    with stream:
        return {"standard": found.standard, "version": found.version, "encoding": stream.info.encoding,
                "records": [record_to_dict(r, masker) for r in stream]}


def iter_jsonl(source: Source, *, encoding: str | None = None, spec: MessageSpec | None = None,
               mask: bool = False) -> Iterator[str]:
    """JSON Lines, streamed: the message keys first, then one record per line."""
    stream, found = _records(source, encoding, spec)
    masker = Masker(found) if mask else None
    with stream:
        yield json.dumps({"standard": found.standard, "version": found.version,
                          "encoding": stream.info.encoding}, ensure_ascii=False)
        for rec in stream:
            yield json.dumps(record_to_dict(rec, masker), ensure_ascii=False)


def iter_csv(source: Source, *, encoding: str | None = None, spec: MessageSpec | None = None,
             mask: bool = False, raw_csv: bool = False) -> Iterator[str]:
    """CSV rows (one per field: line, record type, rubric, name, attribute, value), streamed.
    With *mask*, personal data is masked (see :mod:`eicodec.masking`). A text value that
    begins with a formula character gets a leading ``'`` (see
    :func:`eicodec.masking.spreadsheet_safe`) unless *raw_csv*; numbers stay numbers."""
    safe: Callable[[str], str] = (lambda s: s) if raw_csv else spreadsheet_safe
    stream, found = _records(source, encoding, spec)
    masker = Masker(found) if mask else None
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")

    def flush() -> str:
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return text

    writer.writerow(["line", "record_type", "rubric", "name", "attr", "value"])
    yield flush()
    with stream:
        for rec in stream:
            hide = masker.hidden(rec) if masker is not None else frozenset()
            if rec.layout is None or len(rec.raw) != rec.layout.length or hide is None:
                writer.writerow([rec.line, rec.record_type, "", "", "raw",
                                 MASK if masker is not None else safe(rec.raw)])
            else:
                for f in rec.layout.fields:
                    try:
                        value = _jsonable(rec.get(f.attr))
                    except DecodeError:
                        value = rec.raw[f.slice]
                    if f.attr in hide and value not in (None, ""):
                        value = MASK
                    elif isinstance(value, str):
                        value = safe(value)
                    writer.writerow([rec.line, rec.record_type, f.rubric, f.name, f.attr,
                                     "" if value is None else value])
            yield flush()


def _from_jsonable(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "time":
        return dt.time.fromisoformat(value)
    return value


def from_json(doc: dict[str, Any] | Iterable[dict[str, Any]], *, spec: MessageSpec | None = None,
              encoding: str | None = None) -> bytes:
    """Build the file from a JSON document (or the parsed lines of a JSON Lines file)."""
    if not isinstance(doc, dict):
        items = list(doc)
        if not items:
            raise EicodecError("empty JSON Lines input")
        doc = {**items[0], "records": items[1:]}
    try:
        found = spec or get_spec(str(doc["standard"]), str(doc.get("version", "8.0")))
        records_in = doc["records"]
    except (KeyError, TypeError) as exc:
        raise EicodecError(f"JSON document lacks {exc}") from None
    records: list[Record] = []
    for n, item in enumerate(records_in, 1):
        if not isinstance(item, dict) or "record_type" not in item:
            raise EicodecError(f"record {n} of the JSON document has no record_type")
        t = str(item["record_type"])
        if "raw" in item:
            records.append(Record(found.records.get(t), str(item["raw"]), n))
            continue
        if t not in found.records:
            raise EicodecError(f"record {n}: unknown record type {t!r}")
        lay = found.layout(t)
        fields = item.get("fields", {})
        values = {}
        for key, value in fields.items():
            try:
                f = lay.field(key)
            except KeyError:
                raise EncodeError(f"record {t} has no field {key!r}", line=n, record_type=t) from None
            if f.fixed is not None and value == f.fixed:
                continue
            try:
                values[f.attr] = _from_jsonable(f.kind, value)
            except (TypeError, ValueError):
                raise EncodeError(f"not a {f.kind} value", line=n, record_type=t, rubric=f.rubric) from None
        rec = Record.new(lay, **values)
        rec.line = n
        records.append(rec)
    decl = build_tree(iter(records), found)
    if decl.unplaced or any(p.kind in ("order", "cardinality") for p in decl.problems):
        first = decl.problems[0] if decl.problems else None
        raise EicodecError(f"the records do not form a valid file: {first.message if first else 'unplaced records'}",
                           line=first.line if first else None)
    decl.encoding = encoding or str(doc.get("encoding") or "utf-8")
    if decl.encoding == "str":
        decl.encoding = "utf-8"
    return dumps(decl)
