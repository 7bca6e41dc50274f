"""Claims as tables: one row per record, typed columns, for Arrow, Parquet and CSV.

:func:`to_arrow` turns the records of one record type (by default the claim line type,
see :func:`claim_type`) into a ``pyarrow.Table``:

* ``line``: the record's line number in the file;
* one column per field, named by its attribute (``service_date``, ``declared_amount``),
  typed by its kind: dates ``date32``, times ``time32[ms]``, numbers and amounts
  ``int64`` (amounts in eurocents, as in the file: unsigned), codes, D/C indicators and
  text as strings. Every amount that has a D/C indicator also gets ``<attr>_signed``
  (cents with the D/C applied: credit is negative); the unsigned amount and the D/C
  column stay. Empty optional fields are null. The kenmerk record and reserve fields
  are left out. Each field's Arrow metadata holds its ``rubric``, Dutch ``name``,
  ``element``, ``record_type`` and whether it is ``personal``/``masked``;
* for a record type that hangs under another in the spec's grammar (``parent``), the
  fields of each ancestor, prefixed by the ancestor's English name from the spec
  (an AP304 claim line gets ``insured_line``, ``insured_uzovi_number``, ...; a GZ321 06
  gets its 04's fields as ``service_*`` and its 02's as ``insured_*``). A record that is outside
  its parent (a file with structure problems) gets nulls there;
* with ``ap305=`` (claim lines of an AP304 only): ``outcome_status``,
  ``outcome_codes`` (list of COD954 codes) and ``outcome_awarded`` (signed cents), from
  :func:`eicodec.outcome`;
* last, the file's own columns, the same on every row so that many files' tables stack
  (``file_columns=False`` leaves them out): ``source`` (the path given) and every field
  of the spec's header record, prefixed by its English name (``header_invoice_number``,
  ``header_provider_code``, ``header_practice_code``, ``header_period_start``, ...).

Personal data (fields with ``personal = true`` in the spec: BSN, names, birth dates,
addresses, free text) is **masked unless** ``unmask=True``: a masked column keeps its
place and type but holds only nulls (its metadata says ``masked``); its values are
never decoded. Masking also goes by what each line is, with the rule of every masked
view (:meth:`eicodec.masking.Masker.hidden_raw`): a line that does not fit its layout
(a relabelled kenmerk, a broken field) shows nothing of its own, and a field of a line
that fits another layout as tightly is null where that layout holds personal data.
A value that cannot be decoded (a broken field in a file that fails
validation) is null as well, and a record of the wrong length is a row whose fields are
all null (the engine does not decode it): validate a file before analysing it.

The typed values come from the engine's batches (:func:`eicodec.iter_columns`); this
module names, joins, masks and writes them.

:func:`to_parquet` streams the same rows into a Parquet file, a row group at a time
(memory flat in file size); :func:`iter_csv_rows` gives them as CSV. pyarrow is an
optional dependency (``pip install eicodec[arrow]``); CSV needs only the core.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import functools
import io
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, Self

import attrs
import numpy as np

from .batches import BATCH_LINES, Batch, iter_batches, replayable
from .columns import ColumnBatch, batch_columns, field_spans, merged_spans, transposed
from .errors import EicodecError, UnknownRecordTypeError
from .layouts import FieldSpec, MessageSpec, RecordLayout
from .masking import FORMULA_START, Masker, spreadsheet_safe
from .reader import RecordStream, Source

if TYPE_CHECKING:
    import pyarrow as pa

#: Rows per Parquet row group.
ROW_GROUP_ROWS = 65_536

# --------------------------------------------------------------------------- the plan

_ARROW_KIND = {"text": "string", "reserve": "string", "digits": "string", "dc": "string",
               "number": "int64", "amount": "int64", "date": "date", "time": "time"}


@attrs.frozen
class TableColumn:
    """One column of the table: its name, type (``string``, ``int64``, ``date``,
    ``time``, ``codes``), where its values come from and its metadata."""

    name: str
    type: str
    level: int  # 0 the record itself, 1 its parent, ...; -1 line number / outcome columns
    key: str  # the batch column it is read from ("" for computed columns)
    masked: bool
    metadata: dict[str, str]


def claim_type(spec: MessageSpec) -> str:
    """The record type of the claim lines in *spec*, from its grammar: the first
    repeatable record type (no ``max``) directly under a top-level record type (``04`` in
    AP304, AP305 and GZ321). Falls back to the first repeatable detail type."""
    tops = set(spec.top_types)
    detail = [t for t in spec.detail_types if t != spec.comment]
    for t in detail:
        lay = spec.records[t]
        if lay.parent in tops and lay.max is None:
            return t
    for t in detail:
        if spec.records[t].max is None:
            return t
    if not detail:
        raise EicodecError(f"{spec.name} has no detail record types")
    return detail[0]


def ancestors(spec: MessageSpec, record_type: str) -> list[RecordLayout]:
    """The layouts *record_type* hangs under in the grammar, nearest first."""
    chain: list[RecordLayout] = []
    parent = spec.layout(record_type).parent
    while parent:
        lay = spec.layout(parent)
        if lay in chain:
            raise EicodecError(f"{spec.name}: record type {parent} is its own ancestor")
        chain.append(lay)
        parent = lay.parent
    return chain


def _table_fields(lay: RecordLayout) -> list[FieldSpec]:
    """The fields that become columns: all but the kenmerk record and reserves."""
    return [f for f in lay.fields[1:] if f.kind != "reserve"]


def _field_meta(f: FieldSpec, masked: bool, **extra: str) -> dict[str, str]:
    return {"rubric": f.rubric, "name": f.name, "element": f.element, "record_type": f.record_type,
            "kind": f.kind, "personal": str(f.personal).lower(), "masked": str(masked).lower(), **extra}


@attrs.frozen
class TablePlan:
    """What a table of one record type holds: the spec, the record type, its ancestors
    (nearest first), whether the outcome is joined, and the columns in order."""

    spec: MessageSpec
    record_type: str
    chain: tuple[RecordLayout, ...]
    outcome: bool
    unmask: bool
    columns: tuple[TableColumn, ...]
    file_columns: bool = False

    def fields_to_read(self, level: int) -> list[str]:
        """Attributes to decode for *level* (masked fields are never read)."""
        out: list[str] = []
        for c in self.columns:
            if c.level == level and c.key and not c.masked and not c.key.endswith("_signed"):
                out.append(c.key)
        return out


def plan_table(spec: MessageSpec, record_type: str | None = None, *, outcome: bool = False,
               unmask: bool = False, file_columns: bool = True) -> TablePlan:
    """The columns of the table of *record_type* (default: :func:`claim_type`); with
    *file_columns*, the file's own columns at the end (see :func:`_file_columns`)."""
    rtype = record_type or claim_type(spec)
    if rtype not in spec.records:
        raise UnknownRecordTypeError(f"{spec.name} has no record type {rtype!r} "
                           f"(it has {', '.join(spec.records)})", record_type=rtype)
    if outcome and (spec.kind != "declaration" or rtype != claim_type(spec)):
        raise EicodecError(f"the AP305 outcome is per claim line: pass a declaration and its claim record "
                           f"type {claim_type(spec)!r}", record_type=rtype)
    chain = tuple(ancestors(spec, rtype))
    cols: list[TableColumn] = [TableColumn("line", "int64", -1, "", False,
                                           {"description": "line number of the record in the file",
                                            "record_type": rtype})]
    for level, lay in enumerate((spec.layout(rtype), *chain)):
        prefix = "" if level == 0 else f"{lay.english}_"
        if level:
            cols.append(TableColumn(f"{prefix}line", "int64", level, "", False,
                                    {"description": f"line number of the {lay.english} record ({lay.type}) "
                                                    "this record hangs under", "record_type": lay.type}))
        for f in _table_fields(lay):
            masked = f.personal and not unmask
            cols.append(TableColumn(prefix + f.attr, _ARROW_KIND[f.kind], level, f.attr, masked,
                                    _field_meta(f, masked)))
            if f.sign:
                dc = lay.by_rubric[f.sign]
                smask = (f.personal or dc.personal) and not unmask
                cols.append(TableColumn(f"{prefix}{f.attr}_signed", "int64", level, f"{f.attr}_signed", smask,
                                        _field_meta(f, smask, signed_by=dc.rubric, signed_by_attr=dc.attr,
                                                    description="cents, the D/C indicator applied "
                                                                "(credit negative)")))
    if outcome:
        cols += [
            TableColumn("outcome_status", "string", -1, "", False,
                        {"description": "approved, rejected, not_assessed or not_returned (eicodec.outcome)"}),
            TableColumn("outcome_codes", "codes", -1, "", False,
                        {"description": "COD954 return codes of the claim line in the AP305"}),
            TableColumn("outcome_awarded", "int64", -1, "", False,
                        {"description": "awarded amount, signed cents"}),
        ]
    if file_columns and rtype != spec.header:
        cols += _file_columns(spec, unmask)
    seen: set[str] = set()
    for c in cols:
        if c.name in seen:
            raise EicodecError(f"{spec.name}: two columns would be named {c.name!r}", record_type=rtype)
        seen.add(c.name)
    return TablePlan(spec, rtype, chain, outcome, unmask, tuple(cols), file_columns and rtype != spec.header)


#: The level of the file's own columns (the header's fields and ``source``).
FILE_LEVEL = -2


def _file_columns(spec: MessageSpec, unmask: bool) -> list[TableColumn]:
    """The columns that say which file a row comes from, the same on every row, so that
    the tables of many files stack: ``source`` (the path given, null for bytes) and
    every field of the spec's header record (the kenmerk and reserves aside), named
    ``<header's English name>_<attr>`` -- for AP304 ``header_invoice_number``,
    ``header_provider_code``, ``header_practice_code``, ``header_period_start``/``_end``,
    ``header_message_code`` and ``header_message_kind``, ... -- read from the spec, not
    named here."""
    head = spec.layout(spec.header)
    cols = [TableColumn("source", "string", FILE_LEVEL, "", False,
                        {"description": "the file the row comes from, as given (null for bytes)"})]
    for f in _table_fields(head):
        masked = f.personal and not unmask
        cols.append(TableColumn(f"{head.english}_{f.attr}", _ARROW_KIND[f.kind], FILE_LEVEL, f.attr, masked,
                                _field_meta(f, masked, description="of the file's header record, on every row")))
    return cols


def source_name(source: Source) -> str | None:
    """How the ``source`` column names *source*: its path as given, a file object's
    ``name``, or None (bytes, text, an anonymous stream)."""
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) and not name.startswith("<") else None


# --------------------------------------------------------------------------- joining

class _Ancestor:
    """The records of one ancestor record type read so far: the last one of the earlier
    batches and those of the current batch (all a child in this batch can hang under).
    ``every`` holds the lines of all of them, ``lines``/``columns``/``valid`` the rows the
    engine decoded (those of the record length)."""

    def __init__(self, record_type: str) -> None:
        self.code = int(record_type)
        self.every = np.empty(0, dtype=np.int64)
        self.lines = np.empty(0, dtype=np.int64)
        self.columns: dict[str, np.ndarray] = {}
        self.valid: dict[str, np.ndarray] = {}
        self.lengths: dict[str, np.ndarray] = {}  # (of text columns, where the engine knows them)

    def push(self, batch: Batch, b: ColumnBatch) -> None:
        """Move on to the next *batch*, whose decoded rows of this type are *b*."""
        self.every = np.concatenate([self.every[-1:], batch.lines[batch.types == self.code]])
        n = len(b.lines)
        if len(self.lines) == 0:
            self.lines, self.columns, self.valid = b.lines, dict(b.columns), dict(b.valid)
            self.lengths = {k: _length_array(v, n) for k, v in b.lengths.items()}
        elif n:
            self.lines = np.concatenate([self.lines[-1:], b.lines])
            self.columns = {k: np.concatenate([v[-1:], b.columns[k]]) for k, v in self.columns.items()}
            self.valid = {k: np.concatenate([v[-1:], b.valid[k]]) for k, v in self.valid.items()}
            self.lengths = {k: np.concatenate([v[-1:], _length_array(b.lengths[k], n)])
                            for k, v in self.lengths.items() if k in b.lengths}

    def locate(self, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For *lines* (ascending): the line of the last record of this type before each
        (-1: none), the index of its decoded row, and whether it has one."""
        k = np.searchsorted(self.every, lines, "right") - 1
        before = np.where(k >= 0, self.every[np.maximum(k, 0)] if len(self.every) else -1, -1)
        j = np.minimum(np.searchsorted(self.lines, before), max(len(self.lines) - 1, 0))
        decoded = (k >= 0) & (len(self.lines) > 0)
        if len(self.lines):
            decoded &= self.lines[j] == before
        return before.astype(np.int64), j.astype(np.int64), decoded


# A batch of the table: column name -> (values, null mask). Values are numpy arrays, or a
# list for ``codes`` columns.
Cells = dict[str, tuple[Any, np.ndarray]]


class _Cells(dict[str, tuple[Any, np.ndarray]]):
    """:data:`Cells` that also carry ``lengths``: table column name -> the length in
    bytes of each of its values (or one int for all), for the text columns whose lengths
    the engine knew (see :class:`eicodec.ColumnBatch`); Arrow's buffers are made from them."""

    lengths: dict[str, np.ndarray | int]


def _length_array(length: np.ndarray | int, n: int) -> np.ndarray:
    """*length* (an int for all, or one per row) as an int32 array of *n* rows."""
    if isinstance(length, np.ndarray):
        return length.astype(np.int32, copy=False)
    return np.full(n, length, dtype=np.int32)


_NULL_VALUE = {"string": "", "int64": 0, "date": np.datetime64("NaT", "D"), "time": np.timedelta64(0, "m")}


def _null_column(typ: str, n: int) -> tuple[Any, np.ndarray]:
    """A column of *n* nulls: views of arrays made once (read-only: every batch shares them)."""
    if typ == "codes":
        return [None] * n, np.ones(n, dtype=bool)
    made = _NULLS.get(typ)
    if made is None or len(made[1]) < n:
        dtype = {"string": str, "int64": np.int64, "date": "datetime64[D]", "time": "timedelta64[m]"}[typ]
        made = _NULLS[typ] = _read_only(np.full(max(n, _ENGINE_BATCH_LINES), _NULL_VALUE[typ], dtype=dtype),  # type: ignore[call-overload]
                                        np.ones(max(n, _ENGINE_BATCH_LINES), dtype=bool))
    return made[0][:n], made[1][:n]


_NULLS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _read_only(values: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """*values* and *null*, made read-only (shared by batches)."""
    values.flags.writeable = False
    null.flags.writeable = False
    return values, null


Outcomes = dict[int, tuple[str, tuple[str, ...], int]]  # line -> (status, codes, awarded)


class _OutcomeFeed:
    """The AP305 outcome of each claim line, from the same batches as the table: every
    line of a batch goes through :class:`eicodec.readback.OutcomeJoin` in file order (so
    memory stays flat: no second reading of the declaration, no table of all lines)."""

    def __init__(self, spec: MessageSpec, ap305: Source) -> None:
        from .model import Record, record_class
        from .readback import OutcomeJoin

        self.join = OutcomeJoin(spec, ap305)
        self.layouts = spec.records
        self.classes = {t: record_class(lay) for t, lay in spec.records.items()}
        self.record = Record

    def batch(self, batch: Batch) -> Outcomes:
        """The outcomes of the claim lines of *batch* (fed every line of it; a full
        :class:`Record` only for the header and claim lines, whose fields are read)."""
        out: Outcomes = {}
        terms = batch.terms
        full = {self.join.claim_t, self.join.spec.header}
        for i, raw in enumerate(batch.texts):
            t = raw[:2]
            cls = self.classes.get(t) if t in full else None
            term = terms[i] if terms else "\r\n"
            rec = cls(self.layouts[t], raw, batch.first + i, term) if cls is not None else \
                self.record(None, raw, batch.first + i, term)
            found = self.join.verdict(rec)
            if found is not None:
                out[found[0]] = (found[2], found[3], found[5])
        return out


def iter_cells(source: Source, record_type: str | None = None, *, ap305: Source | None = None,
               spec: MessageSpec | None = None, encoding: str | None = None,
               unmask: bool = False, file_columns: bool = True) -> tuple[TablePlan, Iterator[Cells]]:
    """The plan of the table and its rows, one batch of the engine at a time (a few
    thousand lines of the file), as numpy arrays: no pyarrow needed."""
    opener, to_close = replayable(source)  # read more than once: a file object is spooled
    stream: RecordStream | None = None
    try:
        stream = RecordStream(opener(), spec=spec, encoding=encoding, defer_check=True)
        found = stream.info.spec
        assert found is not None
        plan = plan_table(found, record_type, outcome=ap305 is not None, unmask=unmask,
                          file_columns=file_columns)
        outcomes = _OutcomeFeed(found, ap305) if ap305 is not None else None
    except BaseException:
        if stream is not None:
            stream.close()
        _close(to_close)
        raise
    return plan, _cells(plan, stream, opener, outcomes, to_close, source_name(source))


def _close(files: list[IO[bytes]]) -> None:
    for fh in files:
        fh.close()


#: Lines per batch the engine reads for a table (four times its default, as validation
#: reads: a table's rows cost per batch and per column, about a hundred columns; 16,384
#: lines are 10% less CPU time than 8,192 for about 25 MB more at the peak, now that a
#: batch's buffer is read into again; tests make it small).
_ENGINE_BATCH_LINES = 4 * BATCH_LINES


def _batch_columns(batch: Batch, lay: RecordLayout, fields: list[FieldSpec], rows: np.ndarray | None = None,
                   chars: np.ndarray | None = None, cols: np.ndarray | None = None) -> ColumnBatch:
    """The engine's typed columns of one record type in one batch, codes and text as
    UTF-8 bytes (handed to Arrow as they are; tests swap in a reference giving str);
    *rows*/*chars*/*cols*: as :func:`eicodec.columns.batch_columns` takes them."""
    return batch_columns(batch, lay, fields, text="bytes", rows=rows, chars=chars, column_major=cols)


def _masked_columns(masker: Masker, batch: Batch, lay: RecordLayout, fields: list[FieldSpec]) -> ColumnBatch:
    """The columns of *fields* of *lay*'s records in *batch*, masked (:func:`_mask_rows`):
    the lines' characters gathered once and, of an ASCII batch, transposed once over the
    ranges both read (the fields and the positions whose form the masker checks); the
    masker asks them before the columns are read (reading writes into the gathered rows)."""
    rows = batch.rows(lay.type)
    if not len(rows) or not fields:
        return _batch_columns(batch, lay, fields, rows)
    chars = batch.chars[rows]
    cols = None
    if chars.dtype == np.uint8:
        cols = transposed(chars, merged_spans(field_spans(lay, fields) + masker.column_spans(lay)))
    answers = masker.hidden_rows(lay, chars, cols)
    return _mask_rows(masker, batch, lay, _batch_columns(batch, lay, fields, rows, chars, cols), answers)


def _mask_rows(masker: Masker, batch: Batch, lay: RecordLayout, cb: ColumnBatch,
               answers: tuple[list[frozenset[str] | None], np.ndarray] | None = None) -> ColumnBatch:
    """*cb* with every value a masked view must hide made invalid (null), line by line as
    :meth:`eicodec.masking.Masker.hidden_raw` decides (by what the line is, not by the
    column: a 03 relabelled 04 shows none of its phone number in a 04 text column); all
    the batch's lines at once (:meth:`~eicodec.masking.Masker.hidden_rows`: the lines of
    *cb* are those of the record length). *answers*: what ``hidden_rows`` gave for the
    lines of *cb*, when asked already."""
    if not len(cb.lines) or not cb.valid:
        return cb
    at = cb.lines - batch.first
    if answers is None:
        answers = masker.hidden_rows(lay, batch.chars[at])
    answered, which = answers
    odd = np.flatnonzero(~batch.length_ok[at])  # (none from the engine's columns; a line
    if odd.size:  # of another length is cut or padded in chars: asked with its own text)
        answered = list(answered)
        which = which.copy()
        for i in odd.tolist():
            answered.append(masker.hidden_raw(lay, batch.text(int(at[i]))))
            which[i] = len(answered) - 1
    valid: dict[str, np.ndarray] = {}
    kept: dict[tuple[bool, ...], np.ndarray | None] = {}  # which answers hide a field -> rows kept
    for k, v in cb.valid.items():
        base = k.removesuffix("_signed")
        hides = tuple(hide is None or base in hide for hide in answered)
        if hides not in kept:
            kept[hides] = None if not any(hides) else ~np.array(hides, dtype=bool)[which]
        keep = kept[hides]
        valid[k] = v if keep is None else v & keep
    return ColumnBatch(cb.lines, cb.columns, valid, cb.lengths)


def _cells(plan: TablePlan, stream: RecordStream, opener: Callable[[], Source],
           outcomes: _OutcomeFeed | None, to_close: list[IO[bytes]], name: str | None) -> Iterator[Cells]:
    """Read the file once; per batch, the rows of the record type and of its ancestors
    (and the file's header, read from the first batch that holds one)."""
    layouts = [plan.spec.layout(plan.record_type), *plan.chain]
    wanted = [[lay.field(a) for a in plan.fields_to_read(level)] for level, lay in enumerate(layouts)]
    followers = [_Ancestor(lay.type) for lay in plan.chain]
    masker = None if plan.unmask else Masker(plan.spec)

    def columns(batch: Batch, lay: RecordLayout, fields: list[FieldSpec]) -> ColumnBatch:
        if masker is None:
            return _batch_columns(batch, lay, fields)
        return _masked_columns(masker, batch, lay, fields)
    head_lay = plan.spec.layout(plan.spec.header)
    head_fields = [head_lay.field(a) for a in plan.fields_to_read(FILE_LEVEL)]
    file = _FileRow(name)

    def per_batch() -> Iterator[Cells]:
        for batch in iter_batches(stream, _ENGINE_BATCH_LINES, opener, fingerprint=False):
            if plan.file_columns and file.header is None and (batch.types == int(head_lay.type)).any():
                file.header = columns(batch, head_lay, head_fields)
            for anc, lay, fields in zip(followers, layouts[1:], wanted[1:]):
                anc.push(batch, columns(batch, lay, fields))
            own = _with_broken_rows(batch, layouts[0], columns(batch, layouts[0], wanted[0]))
            joined = outcomes.batch(batch) if outcomes is not None else None
            if len(own.lines):
                yield _batch_cells(plan, own, followers, joined, file)
        if outcomes is not None:
            outcomes.join.finish()  # (MismatchError: the AP305 holds records not in the AP304)

    try:
        yield from per_batch()
    finally:
        stream.close()
        _close(to_close)


def _with_broken_rows(batch: Batch, lay: RecordLayout, cb: ColumnBatch) -> ColumnBatch:
    """*cb* plus a row for each record of the type whose length is wrong (the engine does
    not decode those): its line number, every field null. Nothing is silently left out."""
    wrong = batch.lines[(batch.types == int(lay.type)) & ~batch.length_ok]
    if len(wrong) == 0:
        return cb
    lines = np.sort(np.concatenate([cb.lines, wrong]))
    at = np.searchsorted(lines, cb.lines)
    columns: dict[str, np.ndarray] = {}
    valid: dict[str, np.ndarray] = {}
    lengths: dict[str, np.ndarray | int] = {}
    for key, values in cb.columns.items():
        columns[key] = np.zeros(len(lines), dtype=values.dtype)
        columns[key][at] = values
        valid[key] = np.zeros(len(lines), dtype=bool)
        valid[key][at] = cb.valid[key]
    for key, length in cb.lengths.items():  # (a broken row: empty)
        spread = np.zeros(len(lines), dtype=np.int32)
        spread[at] = length
        lengths[key] = spread
    return ColumnBatch(lines, columns, valid, lengths)


def _present(c: TableColumn, columns: dict[str, np.ndarray], valid: dict[str, np.ndarray]) -> np.ndarray:
    """Where column *c* has a value: valid, a string not empty, a signed amount only
    with a valid D/C indicator (never a sign guessed)."""
    ok = valid[c.key]
    if c.type == "string" and columns[c.key].dtype.kind != "S":
        # (the engine's bytes columns are never empty where valid -- see eicodec.columns;
        # str columns, e.g. a reference's, are compared)
        ok = ok & (columns[c.key] != "")
    dc = c.metadata.get("signed_by_attr")
    if dc:
        ok = ok & valid[dc]
    return ok


def _byte_matrix(values: np.ndarray) -> np.ndarray:
    """The ``(n, itemsize)`` bytes of a 1-d numpy ``bytes`` array (a view, strided or not)."""
    if values.dtype.itemsize == 0:
        return np.zeros((len(values), 0), dtype=np.uint8)
    return values[:, None].view(np.uint8)


@attrs.define
class _FileRow:
    """What the file columns hold: the source's name and the header's decoded row."""

    name: str | None
    header: ColumnBatch | None = None

    #: per column: the header it was made of and its value repeated (read-only; views given)
    made: dict[str, tuple[ColumnBatch | None, np.ndarray, np.ndarray]] = attrs.field(factory=dict)

    def cells(self, c: TableColumn, n: int) -> tuple[Any, np.ndarray]:
        """Column *c* of the file, repeated on *n* rows."""
        if not c.key:  # source
            if self.name is None:
                return _null_column(c.type, n)
        elif c.masked or self.header is None or len(self.header.lines) == 0:
            return _null_column(c.type, n)
        got = self.made.get(c.name)
        if got is None or got[0] is not self.header or len(got[1]) < n:
            size = max(n, _ENGINE_BATCH_LINES)
            if not c.key:
                values, null = np.repeat(np.array([self.name]), size), np.zeros(size, dtype=bool)
            else:
                head = self.header
                assert head is not None
                present = bool(_present(c, head.columns, head.valid)[0])
                values, null = np.repeat(head.columns[c.key][:1], size), np.full(size, not present)
            values, null = _read_only(values, null)
            got = self.made[c.name] = (self.header, values, null)
        return got[1][:n], got[2][:n]


def _batch_cells(plan: TablePlan, batch: ColumnBatch, followers: list[_Ancestor],
                 outcomes: Outcomes | None, file: _FileRow | None = None) -> Cells:
    n = len(batch.lines)
    # Ancestors: the last record of each ancestor type before the row; the row is placed
    # when their lines strictly decrease up the chain (a newer ancestor closes the parent).
    where: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    placed = np.ones(n, dtype=bool)
    below = batch.lines
    for anc in followers:
        anc_lines, idx, decoded = anc.locate(batch.lines)
        placed &= (anc_lines >= 0) & (anc_lines < below)
        below = anc_lines
        where.append((anc_lines, idx, decoded))
    cells = _Cells()
    cells.lengths = lengths = {}
    for c in plan.columns:
        if c.level == -1 and c.name == "line":
            cells[c.name] = (batch.lines, np.zeros(n, dtype=bool))
        elif c.level == -1:
            continue
        elif c.level == FILE_LEVEL:
            cells[c.name] = (file or _FileRow(None)).cells(c, n)
        elif c.masked:
            cells[c.name] = _null_column(c.type, n)
        elif c.level == 0:
            cells[c.name] = (batch.columns[c.key], ~_present(c, batch.columns, batch.valid))
            if c.key in batch.lengths:
                lengths[c.name] = batch.lengths[c.key]
        else:
            anc = followers[c.level - 1]
            anc_lines, idx, decoded = where[c.level - 1]
            if not c.key:  # the ancestor's line number
                cells[c.name] = (anc_lines, ~placed)
            elif len(anc.lines) == 0:
                cells[c.name] = _null_column(c.type, n)
            else:
                present = _present(c, anc.columns, anc.valid)[idx] & decoded & placed
                cells[c.name] = (anc.columns[c.key][idx], ~present)
                if c.key in anc.lengths:
                    lengths[c.name] = anc.lengths[c.key][idx]
    if outcomes is not None:
        got = [outcomes.get(line) for line in batch.lines.tolist()]
        missing = np.array([g is None for g in got], dtype=bool)
        cells["outcome_status"] = (np.array([g[0] if g else "" for g in got], dtype=str), missing)
        cells["outcome_codes"] = ([list(g[1]) if g else None for g in got], missing)
        cells["outcome_awarded"] = (np.array([g[2] if g else 0 for g in got], dtype=np.int64), missing)
    return cells


# --------------------------------------------------------------------------- Arrow / Parquet

def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ImportError("Arrow and Parquet output need pyarrow: pip install eicodec[arrow]") from None
    return pyarrow


def arrow_schema(plan: TablePlan) -> pa.Schema:
    """The Arrow schema of a table plan, with each field's metadata."""
    pa = _pyarrow()
    types = {"string": pa.string(), "int64": pa.int64(), "date": pa.date32(), "time": pa.time32("ms"),
             "codes": pa.list_(pa.field("element", pa.string()))}  # (Parquet's name for list items)
    fields = [pa.field(c.name, types[c.type], nullable=True, metadata=c.metadata) for c in plan.columns]
    meta = {"eicodec.spec": plan.spec.name, "eicodec.record_type": plan.record_type,
            "eicodec.masked": str(not plan.unmask).lower()}
    return pa.schema(fields, metadata=meta)


def _arrow_array(pa: Any, typ: Any, kind: str, values: Any, null: np.ndarray,
                 lengths: np.ndarray | int | None = None) -> Any:
    if kind == "codes":
        return pa.array(values, type=typ)
    n = len(null)
    nulls = int(np.count_nonzero(null))
    if nulls == n:
        return _all_null(typ, n)
    if kind == "time":
        values = values.astype("timedelta64[ms]").astype(np.int32)
    bitmap = pa.py_buffer(np.packbits(~null, bitorder="little")) if nulls else None
    if kind != "string":
        data = _fixed_width(kind, values, null)
        if data is None:
            return pa.array(values, type=typ, mask=null)
        return pa.Array.from_buffers(typ, n, [bitmap, pa.py_buffer(data)], null_count=nulls)
    # bytes (the engine's): UTF-8 as it is; str (a reference's): by array operations when ASCII
    made = _utf8_buffers(values, lengths) if values.dtype.kind == "S" else _ascii_buffers(values)
    if made is None:  # str, not ASCII, or a NUL inside a value: through Python str objects
        # (pyarrow's own conversion of a numpy str array cuts a value at a NUL)
        buffers = pa.array(values.tolist(), type=typ).buffers()[1:]
    else:
        offsets, data = made
        buffers = [offsets if isinstance(offsets, pa.Buffer) else pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(typ, n, [bitmap, *buffers], null_count=nulls)


def _fixed_width(kind: str, values: Any, null: np.ndarray) -> np.ndarray | None:
    """The Arrow data buffer of a number (int64), date (int32 days) or time (int32 ms)
    column, as numpy gives it; None when it is not plainly one (left to ``pa.array``).
    (``pa.array`` of a numpy array imports pandas where it is installed: 0.3 s.)"""
    if not isinstance(values, np.ndarray):
        return None
    if kind == "int64" and values.dtype == np.int64:
        return np.ascontiguousarray(values)
    if kind == "time" and values.dtype == np.int32:
        return np.ascontiguousarray(values)
    if kind == "date" and values.dtype == np.dtype("datetime64[D]") and not np.isnat(values[~null]).any():
        return values.view(np.int64).astype(np.int32)  # (days since 1970; NaT only where null)
    return None


def _utf8_buffers(values: np.ndarray, known: np.ndarray | int | None = None) -> tuple[Any, np.ndarray]:
    """Arrow string buffers (int32 offsets, bytes) of a numpy ``bytes`` array of UTF-8
    text (each value its bytes up to its trailing NULs, as numpy reads it), made with
    array operations; *known*: the values' lengths (one int for all), when known. The
    offsets of values all as long are one ``pyarrow.Buffer`` shared by every batch."""
    n, width = len(values), values.dtype.itemsize
    if width == 0:
        return _even_offsets(n, 0), np.zeros(0, dtype=np.uint8)
    if isinstance(known, int):
        lengths = np.empty(0, dtype=np.int32)
        first = known
    else:
        lengths = (np.strings.str_len(values) if known is None else known).astype(np.int32, copy=False)
        first = int(lengths[0]) if n else width
    if isinstance(known, int) or (lengths == first).all():  # every value as long (codes, references): the bytes as they are
        if first == width:  # (a copy of the items: faster than of their bytes' matrix)
            return _even_offsets(n, first), np.ascontiguousarray(values).view(np.uint8)
        return _even_offsets(n, first), np.ascontiguousarray(_byte_matrix(values)[:, :first]).reshape(-1)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    if known is not None:  # the engine's: NULs only after a value's end -- its other bytes, in order
        flat = np.ascontiguousarray(values).view(np.uint8)
        data = flat[flat != 0]
        if len(data) == offsets[-1]:
            return offsets, data
    return offsets, _byte_matrix(values)[_first_of(width)[lengths]]


@functools.lru_cache(maxsize=64)
def _all_null(typ: Any, n: int) -> Any:
    """An Arrow array of *n* nulls of type *typ* (made once per type and size: arrays
    are immutable, and a column empty in every batch need not be allocated each time)."""
    return _pyarrow().nulls(n, typ)


@functools.lru_cache(maxsize=64)
def _even_offsets(n: int, width: int) -> Any:
    """The Arrow offsets buffer of *n* strings of *width* bytes each (made once per size)."""
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32) if width else np.zeros(n + 1, dtype=np.int32)
    offsets.flags.writeable = False
    return _pyarrow().py_buffer(offsets)


@functools.cache
def _first_of(width: int) -> np.ndarray:
    """``(width + 1, width)`` bool: row *k* marks the first *k* of *width* positions."""
    return np.arange(width)[None, :] < np.arange(width + 1)[:, None]


def _ascii_buffers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Arrow string buffers (int32 offsets, UTF-8 bytes) of a numpy ``str`` array whose
    characters are all ASCII, made with array operations; None otherwise."""
    width = values.dtype.itemsize // 4
    if values.dtype.kind != "U" or width == 0:
        return None
    codes = np.ascontiguousarray(values).view(np.uint32).reshape(len(values), width)
    filled = codes != 0
    lengths = filled.sum(axis=1, dtype=np.int32)
    data = codes[filled]
    if (len(data) and data.max() >= 128) or not np.array_equal(lengths, np.strings.str_len(values)):
        return None  # (the second: a NUL inside a value)
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, data.astype(np.uint8)


def _record_batch(pa: Any, schema: Any, plan: TablePlan, cells: Cells,
                  memo: dict[str, tuple[Any, Any, Any]] | None = None) -> Any:
    """The ``RecordBatch`` of one batch of cells. *memo* (one dict for the batches of one
    table) keeps the Arrow array of a column whose cells are views of one shared,
    read-only array (the file's own columns, masked and empty columns: the same on every
    row), made once and sliced to each batch. A column *schema* types as a dictionary
    (see :func:`_dictionary_schema`) is dictionary-encoded."""
    arrays = []
    lengths: dict[str, np.ndarray | int] = getattr(cells, "lengths", {})
    for i, c in enumerate(plan.columns):
        values, null = cells[c.name]
        typ = schema.field(i).type
        shared = values.base if isinstance(values, np.ndarray) and not values.flags.writeable else None
        if memo is None or shared is None or null.base is None or null.flags.writeable:
            arrays.append(_typed_array(pa, typ, c.type, values, null, lengths.get(c.name)))
            continue
        got = memo.get(c.name)
        if got is None or got[0] is not shared or got[1] is not null.base or len(got[2]) < len(null):
            whole = (shared.reshape(-1), null.base.reshape(-1))
            if whole[0][:len(values)].__array_interface__ != values.__array_interface__ or \
                    whole[1][:len(null)].__array_interface__ != null.__array_interface__:
                arrays.append(_typed_array(pa, typ, c.type, values, null))  # (not a head of the shared arrays)
                continue
            got = memo[c.name] = (shared, null.base, _typed_array(pa, typ, c.type, *whole))
        arrays.append(got[2].slice(0, len(null)))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _typed_array(pa: Any, typ: Any, kind: str, values: Any, null: np.ndarray,
                 lengths: np.ndarray | int | None = None) -> Any:
    """:func:`_arrow_array`, dictionary-encoded where *typ* is a dictionary type."""
    if not pa.types.is_dictionary(typ):
        return _arrow_array(pa, typ, kind, values, null, lengths)
    return _arrow_array(pa, typ.value_type, kind, values, null, lengths).dictionary_encode().cast(typ)


def _dictionary_schema(pa: Any, schema: Any, plan: TablePlan) -> Any:
    """*schema* with the file's own string columns (``source``, the header's text: one
    value on every row of a file) typed as dictionaries of that string: handed to the
    Parquet writer as dictionary arrays they are written as the dictionary-encoded
    columns the writer makes of them anyway, without hashing every row's value (about a
    tenth of the writer's time for a claim table). Stored with the string schema (see
    :func:`to_parquet`), they read back as strings."""
    fields = [f.with_type(pa.dictionary(pa.int32(), f.type))
              if c.level == FILE_LEVEL and pa.types.is_string(f.type) else f
              for c, f in zip(plan.columns, schema, strict=True)]
    return pa.schema(fields, metadata=schema.metadata)


def iter_arrow_batches(source: Source, record_type: str | None = None, *, ap305: Source | None = None,
                       spec: MessageSpec | None = None, encoding: str | None = None,
                       unmask: bool = False, file_columns: bool = True) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and the ``pyarrow.RecordBatch`` es of :func:`to_arrow`, streamed (one
    per batch of the engine: the rows among a few thousand lines of the file)."""
    schema, _, batches = _arrow_batches(source, record_type, ap305=ap305, spec=spec, encoding=encoding,
                                        unmask=unmask, file_columns=file_columns)
    return schema, batches


def _arrow_batches(source: Source, record_type: str | None = None, *, ap305: Source | None = None,
                   spec: MessageSpec | None = None, encoding: str | None = None, unmask: bool = False,
                   file_columns: bool = True, dictionaries: bool = False) -> tuple[Any, Any, Iterator[Any]]:
    """The table's schema, the schema of its batches and the batches: with
    *dictionaries*, those of :func:`_dictionary_schema` (for the Parquet writer), else
    the table's own."""
    pa = _pyarrow()
    plan, cells = iter_cells(source, record_type, ap305=ap305, spec=spec, encoding=encoding, unmask=unmask,
                             file_columns=file_columns)
    schema = arrow_schema(plan)
    made = _dictionary_schema(pa, schema, plan) if dictionaries else schema
    memo: dict[str, tuple[Any, Any, Any]] = {}
    return schema, made, (_record_batch(pa, made, plan, c, memo) for c in cells)


def to_arrow(source: Source, record_type: str | None = None, *, ap305: Source | None = None,
             spec: MessageSpec | None = None, encoding: str | None = None, unmask: bool = False,
             file_columns: bool = True) -> pa.Table:
    """One row per *record_type* record of *source* (default: the claim lines, see
    :func:`claim_type`) as a ``pyarrow.Table``; see the module doc for the columns.

    *ap305*: the return file of an AP304, to join each claim line's outcome on.
    Personal data is masked (null) unless *unmask*. *file_columns* (default on): the
    file's ``source`` and header fields on every row, so that the tables of many files
    stack; off, the table holds the records' own columns only.
    """
    pa = _pyarrow()
    schema, batches = iter_arrow_batches(source, record_type, ap305=ap305, spec=spec,
                                         encoding=encoding, unmask=unmask, file_columns=file_columns)
    return pa.Table.from_batches(list(batches), schema=schema)


def to_parquet(source: Source, target: str | os.PathLike[str] | IO[bytes], record_type: str | None = None, *,
               ap305: Source | None = None, spec: MessageSpec | None = None, encoding: str | None = None,
               unmask: bool = False, row_group_rows: int = ROW_GROUP_ROWS, file_columns: bool = True,
               **parquet_options: Any) -> int:
    """Write the rows of :func:`to_arrow` to a Parquet file in row groups of
    *row_group_rows* rows (the last one smaller), streaming: memory holds a few row
    groups (with *ap305*, the outcome join reads both files whole, as
    :func:`eicodec.outcome` does). A row group is written by a second thread while the
    next one is read (pyarrow writes without holding the GIL). A *target* path is
    written through a temporary file in its folder, renamed over it only when every row
    is written: on any error (bad input, a full disk) no file is left. *parquet_options*
    go to ``pyarrow.parquet.ParquetWriter`` (e.g. ``compression="zstd"``: half the size
    of the default snappy); by default a column chunk's dictionary stops at 64 kB
    (``dictionary_pagesize_limit``, pyarrow's own 1 MB: see :data:`DICTIONARY_PAGE_BYTES`),
    and min/max statistics are written for the number, date and time columns only
    (``write_statistics``, see :func:`statistics_columns`; ``write_statistics=True``
    for every column, as pyarrow does). The file's own text columns (``source``, the
    header's: one value a file) go to the writer as dictionary arrays, which it writes
    without hashing each row; the file holds the table's schema as pyarrow stores it
    (``ARROW:schema``), so they read back as strings, the file as pyarrow writes it
    (a caller's ``store_schema`` is pyarrow's plain way). Returns the number of rows."""
    pa = _pyarrow()
    import pyarrow.parquet as pq

    if row_group_rows < 1:
        raise ValueError("row_group_rows must be at least 1")
    parquet_options.setdefault("dictionary_pagesize_limit", DICTIONARY_PAGE_BYTES)
    # the file's own columns as dictionaries, the table's schema stored as pyarrow
    # stores it (unless the caller chose store_schema; pyarrow < 14 cannot add it)
    own_schema = "store_schema" not in parquet_options and hasattr(pq.ParquetWriter, "add_key_value_metadata")
    schema, made, batches = _arrow_batches(source, record_type, ap305=ap305, spec=spec, encoding=encoding,
                                           unmask=unmask, file_columns=file_columns, dictionaries=own_schema)
    parquet_options.setdefault("write_statistics", statistics_columns(schema))
    if own_schema:
        parquet_options["store_schema"] = False

    def opened(where: Any) -> Any:
        writer = pq.ParquetWriter(where, made, **parquet_options)
        if own_schema:
            writer.add_key_value_metadata(_stored_schema(schema))
        return writer

    try:
        if isinstance(target, (str, os.PathLike)) and ("filesystem" in parquet_options
                                                       or "://" in os.fspath(target)):
            with opened(target) as writer:  # pyarrow's own
                return _write_row_groups(pa, made, batches, writer, row_group_rows)
        with contextlib.ExitStack() as stack:
            if isinstance(target, (str, os.PathLike)):
                from .outputs import atomic_output

                target = stack.enter_context(atomic_output(target))
            # (buffered by pyarrow: the writer thread calls the Python file, which needs
            # the GIL, a few times per row group instead of hundreds)
            sink = pa.output_stream(target, buffer_size=_WRITE_BUFFER)
            try:
                with opened(sink) as writer:
                    rows = _write_row_groups(pa, made, batches, writer, row_group_rows)
            except BaseException:
                with contextlib.suppress(Exception):
                    sink.detach()  # (dropping the buffer would close the caller's file)
                raise
            sink.detach()  # the rest written; the file object stays open
            return rows
    finally:
        getattr(batches, "close", lambda: None)()  # (a generator: closes the input)


def _stored_schema(schema: pa.Schema) -> dict[bytes, bytes]:
    """The key-value metadata pyarrow writes into a Parquet file of *schema*: the
    schema's own metadata and ``ARROW:schema``, the schema in Arrow's IPC form, base64
    (the Arrow convention readers restore types and field metadata from)."""
    return {**(schema.metadata or {}), b"ARROW:schema": base64.b64encode(schema.serialize().to_pybytes())}


#: The default ``dictionary_pagesize_limit`` of :func:`to_parquet`: a column whose values
#: are mostly distinct (references, line numbers) goes over to plain encoding after 64 kB
#: of dictionary instead of 1 MB (pyarrow's default) -- a third less of the writer's CPU
#: time and a smaller file for claim lines, where codes repeat and references do not. The
#: same values and types; only the encoding of such columns differs.
DICTIONARY_PAGE_BYTES = 1 << 16


def statistics_columns(schema: pa.Schema) -> list[str]:
    """The columns :func:`to_parquet` writes min/max statistics for by default: those
    of numbers, dates and times (``line``, amounts, ``service_date``...), which a reader
    (pyarrow, DuckDB, Spark) uses to skip row groups. A string column's statistics cost
    the writer a comparison of every value (about a tenth of the CPU time of a claim
    table) and rarely skip anything in a claim table, where codes vary within a row group."""
    pa = _pyarrow()
    return [f.name for f in schema
            if pa.types.is_integer(f.type) or pa.types.is_temporal(f.type)]


#: Bytes of Parquet output gathered before a write to a Python file object.
_WRITE_BUFFER = 1 << 22


def _write_row_groups(pa: Any, schema: Any, batches: Iterator[Any], writer: Any, row_group_rows: int) -> int:
    """Gather *batches* into row groups of *row_group_rows* rows and write them with
    *writer* in a :class:`_BackgroundWriter`; returns the number of rows."""
    rows = 0
    pending: list[Any] = []
    have = 0
    with _BackgroundWriter(lambda table: writer.write_table(table, row_group_size=row_group_rows)) as out:
        for b in batches:
            pending.append(b)
            have += b.num_rows
            if have >= row_group_rows:
                table = pa.Table.from_batches(pending, schema=schema)
                full = have - have % row_group_rows
                out.put(table.slice(0, full))
                rest = table.slice(full)
                pending, have = rest.to_batches(), rest.num_rows
                rows += full
        if have:
            out.put(pa.Table.from_batches(pending, schema=schema))
            rows += have
    return rows


class _BackgroundWriter:
    """Calls *write* on each item :meth:`put` to it, in a thread of its own, one item
    behind the caller (so a row group is written while the next is made; never more than
    those two held: the memory of one row group less than a queue's). An exception
    in the thread is raised in the caller (the same exception object) at its next
    :meth:`put` or at the end of the ``with`` block; after one, later items are dropped.
    When the caller's block fails, the thread drops what is left and is waited for, and
    the caller's exception goes on."""

    def __init__(self, write: Callable[[Any], object]) -> None:
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="eicodec-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            self._queue.task_done()  # (taken: the caller's put returns)
            if item is _END:
                return
            if self._error is not None or self._stop:
                continue  # (dropped: keep taking items so that the caller never blocks)
            try:
                self._write(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self._error = exc
            item = None  # (written: not held while the next one is made)

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, item: Any) -> None:
        """Hand *item* to the thread (waits while it is still busy with the one before)."""
        self._raise()
        self._queue.put(item)
        self._queue.join()  # (until the thread has taken it)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if kind is not None:
            self._stop = True
        self._queue.put(_END)
        self._thread.join()
        if kind is None:
            self._raise()


_END = object()


# --------------------------------------------------------------------------- CSV

def _csv_text(kind: str, values: Any, null: np.ndarray, safe: bool = True) -> list[str]:
    if kind == "codes":
        cells = ["" if v is None else " ".join(v) for v in values]
        return [spreadsheet_safe(c) for c in cells] if safe else cells
    if kind == "date":
        text = np.datetime_as_string(values, unit="D")
    elif kind == "time":
        minutes = values.astype(np.int64)
        text = np.array([f"{m // 60:02d}:{m % 60:02d}" for m in minutes.tolist()], dtype=str)
    else:
        text = np.strings.decode(values, "utf-8") if values.dtype.kind == "S" else values.astype(str)
        if kind == "string" and safe:
            risky = np.zeros(len(text), dtype=bool)
            for ch in FORMULA_START:
                risky |= np.strings.startswith(text, ch)
            if risky.any():
                text = np.where(risky, np.strings.add("'", text), text)
    out: list[str] = np.where(null, "", text).tolist()
    return out


def iter_csv_rows(source: Source, record_type: str | None = None, *, ap305: Source | None = None,
                  spec: MessageSpec | None = None, encoding: str | None = None,
                  unmask: bool = False, file_columns: bool = True, raw_csv: bool = False) -> Iterator[str]:
    """CSV text, one row per *record_type* record with the columns of :func:`to_arrow`
    (dates ``YYYY-MM-DD``, times ``HH:MM``, codes space-separated, null and masked
    values empty), streamed a batch at a time. A text cell that begins with a formula
    character gets a leading ``'`` (:func:`eicodec.masking.spreadsheet_safe`) unless
    *raw_csv*; number columns stay numbers."""
    plan, cells = iter_cells(source, record_type, ap305=ap305, spec=spec, encoding=encoding, unmask=unmask,
                             file_columns=file_columns)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.name for c in plan.columns])
    yield buf.getvalue()
    memo: dict[str, Any] = {}
    for batch in cells:
        yield _csv_batch(plan, batch, writer, buf, neutralise=b"" if raw_csv else _FORMULA_STARTS, safe=not raw_csv,
                         memo=memo)


def _csv_batch(plan: TablePlan, batch: Cells, writer: Any, buf: io.StringIO, neutralise: bytes = b"",
               safe: bool = True, memo: dict[str, Any] | None = None) -> str:
    """The CSV rows of one batch of cells. Each cell becomes a matrix of UTF-8 bytes, one
    row per table row, its text in the row and NUL bytes around it (and in every byte of
    a null cell); with the commas and line ends between, the rows are all bytes that are
    not NUL, taken in one pass. Rows with a cell that the csv module would quote or with a
    NUL inside a value (rare: ``,`` ``"`` CR LF in text), and rows with a text cell that
    begins with one of the bytes *neutralise* (a hook for CSV made safe for spreadsheets),
    are written by the csv module cell by cell (:func:`_csv_text`). *memo* (one dict for
    the batches of one table) keeps the file's own columns, the same on every row, laid
    out once while they stay the same."""
    n = len(batch["line"][1]) if "line" in batch else len(next(iter(batch.values()))[1])
    if n == 0:
        return ""
    slow: np.ndarray | None = None
    tail = len(plan.columns)
    while tail and plan.columns[tail - 1].level == FILE_LEVEL:
        tail -= 1
    # the numbers of the batch (not the file's), formatted together: one (n, k, width) matrix
    ints = [c.name for c in plan.columns[:tail] if c.type == "int64" and not batch[c.name][1].all()]
    numbers: dict[str, np.ndarray] = {}
    if ints:
        digits = _int_bytes(np.stack([np.asarray(batch[k][0]) for k in ints], axis=1),
                            np.stack([batch[k][1] for k in ints], axis=1))
        numbers = {k: digits[:, j] for j, k in enumerate(ints)}
    cols: list[np.ndarray] = []
    for c in plan.columns[:tail]:
        values, null = batch[c.name]
        if c.name in numbers:
            m, odd = numbers[c.name], None
        else:
            m, odd = _csv_cell_bytes(c.type, values, null, safe)
        if odd is not None:
            slow = odd if slow is None else slow | odd
        cols.append(m)
    # the file's own columns (the last ones, the same on every row): one row laid out
    row, row_odd = _file_row_bytes(plan.columns[tail:], batch, neutralise, safe, memo)
    # one matrix: the cells' bytes, a comma after each cell and a line end after the last
    ends = np.cumsum([m.shape[1] + 1 for m in cols], dtype=np.intp)
    start = int(ends[-1]) if len(ends) else 0
    template = np.zeros(start + len(row), dtype=np.uint8)  # (what every row has: copied in one go)
    template[ends - 1] = ord(",")
    template[start:] = row
    template[-1] = ord("\n")
    matrix = np.empty((n, len(template)), dtype=np.uint8)
    matrix[:] = template
    for m, end in zip(cols, ends.tolist()):
        if m.shape[1]:
            matrix[:, end - 1 - m.shape[1]:end - 1] = m
    if row_odd:
        slow = np.ones(n, dtype=bool)
    if neutralise:  # the first byte of each text cell of the batch's own (NUL where null)
        firsts = [end - 1 - m.shape[1] for c, m, end in zip(plan.columns, cols, ends.tolist())
                  if c.type in ("string", "codes") and m.shape[1]]
        if firsts:
            starts = np.asarray(_bytes_table(neutralise)[matrix[:, firsts]].any(axis=1))
            slow = starts if slow is None else slow | starts
    # a cell the csv module would quote: a row with more quote-worthy bytes than its commas
    # and line end (counted over the whole batch first: rows have at least those)
    # (the four counted one by one: no four matrices alive at once)
    if sum(np.count_nonzero(matrix == b) for b in _QUOTED) != n * len(plan.columns):
        q = (matrix == ord(",")) | (matrix == ord('"')) | (matrix == ord("\n")) | (matrix == ord("\r"))
        quoted = np.count_nonzero(q, axis=1) != len(plan.columns)
        slow = quoted if slow is None else slow | quoted
    if slow is None or not slow.any():
        return _without_nul(matrix)
    # rows the csv module writes: spliced in between the runs of fast rows
    out: list[str] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[False], slow, [False]]).astype(np.int8)))
    at = 0
    for first, end in zip(edges[::2].tolist(), edges[1::2].tolist()):
        if first > at:
            out.append(_without_nul(matrix[at:first]))
        rows = np.arange(first, end)
        buf.seek(0)
        buf.truncate()
        texts = [_csv_text(c.type, *_rows_of(batch[c.name], rows), safe=safe) for c in plan.columns]
        writer.writerows(zip(*texts))
        out.append(buf.getvalue())
        at = end
    if at < n:
        out.append(_without_nul(matrix[at:]))
    return "".join(out)


def _without_nul(matrix: np.ndarray) -> str:
    """The bytes of *matrix* that are not NUL, as UTF-8 text."""
    text: str = matrix[matrix != 0].tobytes().decode("utf-8")
    return text


@functools.cache
def _bytes_table(chosen: bytes) -> np.ndarray:
    """A (256,) bool table: which bytes are in *chosen*."""
    table = np.zeros(256, dtype=bool)
    table[list(chosen)] = True
    return table


def _file_row_bytes(columns: tuple[TableColumn, ...], batch: Cells, neutralise: bytes, safe: bool,
                    memo: dict[str, Any] | None) -> tuple[np.ndarray, bool]:
    """The file's own *columns* of the batch's first row as CSV bytes with NUL between
    (each cell followed by a comma), and whether the row goes the csv module's way (a
    NUL inside a value, or a text cell beginning with one of *neutralise*). Kept in
    *memo* while the cells stay the same."""
    key = tuple((c.name, _cell_key(batch[c.name])) for c in columns)
    if memo is not None and memo.get("key") == key:
        got: tuple[np.ndarray, bool] = memo["row"]
        return got
    cells: list[np.ndarray] = []
    odd = False
    for c in columns:
        values, null = batch[c.name]
        m, bad = _csv_cell_bytes(c.type, values[:1], null[:1], safe)
        odd |= bad is not None and bool(bad[0])
        if neutralise and c.type in ("string", "codes") and m.shape[1]:
            odd |= int(m[0, 0]) in neutralise
        cells.append(m)
    row = np.zeros(sum(m.shape[1] + 1 for m in cells), dtype=np.uint8)
    at = 0
    for m in cells:
        row[at:at + m.shape[1]] = m[0]
        at += m.shape[1] + 1
        row[at - 1] = ord(",")
    if memo is not None and all(k is not None for _, k in key):
        memo["key"], memo["row"] = key, (row, odd)
    return row, odd


def _cell_key(cell: tuple[Any, np.ndarray]) -> tuple[str, bytes, bool] | None:
    """What a file column holds in its first row (None: not a numpy value, not kept)."""
    values, null = cell
    if not isinstance(values, np.ndarray) or values.dtype.kind == "O":
        return None
    return values.dtype.str, values[:1].tobytes(), bool(null[0])


def _rows_of(cell: tuple[Any, np.ndarray], rows: np.ndarray) -> tuple[Any, np.ndarray]:
    values, null = cell
    if isinstance(values, list):
        return [values[i] for i in rows.tolist()], null[rows]
    return values[rows], null[rows]


def _csv_cell_bytes(kind: str, values: Any, null: np.ndarray, safe: bool = True,
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """One column's cells as ``(bytes (n, w), rows with a NUL inside a value or None)``:
    the UTF-8 text :func:`_csv_text` gives, NUL bytes around it (all NUL where null)."""
    n = len(null)
    if null.all():
        return np.zeros((n, 0), dtype=np.uint8), None
    if kind == "int64":
        return _int_bytes(np.asarray(values), null), None  # (the file's; a batch's are done together)
    if kind == "date":
        return _date_bytes(np.asarray(values), null), None
    if kind == "time":
        minutes = np.where(null, 0, np.asarray(values).astype(np.int64))
        if minutes.min() >= 0 and minutes.max() < 100 * 60:
            m = np.empty((n, 5), dtype=np.uint8)
            m[:, 0:2] = _TWO_DIGITS[minutes // 60]
            m[:, 2] = ord(":")
            m[:, 3:5] = _TWO_DIGITS[minutes % 60]
            m[null] = 0
            return m, None
    if kind in ("codes", "time") or not isinstance(values, np.ndarray) or values.dtype.kind not in "SU":
        values = np.array(_csv_text(kind, values, null, safe), dtype=str)
        null = np.zeros(n, dtype=bool)
    if values.dtype.kind == "U":
        values = np.strings.encode(values, "utf-8")
    if values.dtype.itemsize == 0:
        return np.zeros((n, 0), dtype=np.uint8), None
    m = values[:, None].view(np.uint8)
    odd = None
    if np.count_nonzero(m) != np.strings.str_len(values).sum():  # a NUL inside some value
        odd = (np.count_nonzero(m, axis=1) != np.strings.str_len(values)) & ~null
    if null.any():
        m = np.where(null[:, None], np.uint8(0), m)
    return m, odd


def _int_bytes(values: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Decimal text of int64 *values* (any shape), right-aligned in a last axis as wide as
    the widest, NUL before it and in null cells."""
    v = np.where(null, 0, values)
    if v.size and -(1 << 31) < v.min() and v.max() < (1 << 31):
        v = v.astype(np.int32)
    neg = v < 0
    a = np.abs(v)
    if (a < 0).any():  # the one int64 without an absolute value
        text = np.strings.encode(np.where(null, "", v.astype(str)), "utf-8")
        return text[..., None].view(np.uint8)
    top = len(str(int(a.max()))) if a.size else 1  # digits of the largest
    ndig = np.ones(v.shape, dtype=np.int8)
    for j in range(1, top):
        ndig += a >= 10 ** j
    ndig[null] = 0  # (a null cell: no digit, no sign)
    signed = bool(neg.any())
    width = top + signed
    out = np.empty((*v.shape, width), dtype=np.uint8)
    rest = a
    for j in range(top):  # the last digit first (x - 10 * (x // 10): integer division by a constant is fast)
        q = rest // 10
        out[..., width - 1 - j] = rest - q * 10
        rest = q
    if signed:
        out[..., 0] = 0
    # the digits a number has; before them NUL, or its sign right before the first
    place = np.arange(width - 1, -1, -1, dtype=np.int8)  # (from the right)
    out = np.where(place < ndig[..., None], out + np.uint8(48), np.uint8(0))
    if signed:
        out[(place == ndig[..., None]) & neg[..., None]] = ord("-")
    return out


def _date_bytes(values: np.ndarray, null: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` of datetime64[D] *values* (years 1-9999), civil date from the day
    number by integer arithmetic; elsewhere numpy's own text."""
    days = np.where(null, 0, values.astype("datetime64[D]").astype(np.int64)).astype(np.int32)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    if ((y < 1) | (y > 9999))[~null].any():
        text = np.strings.encode(np.where(null, "", np.datetime_as_string(values, unit="D")), "utf-8")
        return text[:, None].view(np.uint8)
    dash = np.full(len(y), ord("-"), dtype=np.int32)
    out = np.stack([y // 1000 + 48, y // 100 % 10 + 48, y // 10 % 10 + 48, y % 10 + 48, dash,
                    m // 10 + 48, m % 10 + 48, dash, d // 10 + 48, d % 10 + 48], axis=1).astype(np.uint8)
    if null.any():
        out[null] = 0
    return out


#: the bytes that make the csv module quote a cell
_QUOTED = tuple(b',"\n\r')

#: first bytes of a text cell that a spreadsheet reads as a formula (masking.FORMULA_START)
_FORMULA_STARTS = "".join(FORMULA_START).encode("ascii")

_POWERS_OF_TEN = np.array([10 ** k for k in range(19)], dtype=np.int64)

#: "00" .. "99" as (100, 2) bytes.
_TWO_DIGITS = np.array([[48 + i // 10, 48 + i % 10] for i in range(100)], dtype=np.uint8)


__all__ = ["FILE_LEVEL", "ROW_GROUP_ROWS", "TableColumn", "TablePlan", "ancestors", "arrow_schema", "claim_type",
           "iter_arrow_batches", "iter_cells", "iter_csv_rows", "plan_table", "source_name",
           "to_arrow", "to_parquet"]

