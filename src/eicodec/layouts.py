"""Message specs: record layouts loaded from ``specs/*.toml``.

A :class:`MessageSpec` describes one EI message version (e.g. AP304 v8.0): its record
types with every field, which record types nest under which, which trailer fields are
derived from the file, and how the header identifies the message. Nothing else in
eicodec hard-codes a standard. Specs are checked when they load (contiguous positions
1..record length, no overlaps, unique rubrics and names, known types and kinds); a
broken spec raises :class:`~eicodec.errors.SpecError` naming the file and field.
"""

from __future__ import annotations

import functools
import importlib.resources
import keyword
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .codecs import AN_KINDS, KINDS, N_KINDS, Decoder, Encoder, empty_text, make_codec
from .errors import SpecError, UnknownFieldError, UnknownRecordTypeError, UnknownSpecError

# Names a field may not take because the record object uses them itself.
RESERVED_ATTRS = frozenset({
    "layout", "raw", "line", "terminator", "record_type", "spec", "get", "set", "to_dict",
    "raw_value", "replace", "copy", "set_signed", "fields",
})


#: The header rubrics naming the message (code, version, subversion): a spec's ``key``.
KEY_RUBRICS = ("0102", "0103", "0104")


@attrs.frozen
class FieldSpec:
    """One field (rubric) of a record layout. ``start`` is 1-based, as in the BER."""

    rubric: str
    element: str
    name: str
    attr: str
    type: str
    start: int
    length: int
    mandatory: str
    kind: str
    fixed: str | None = None
    sign: str | None = None
    codelist: str | None = None
    allowed: tuple[str, ...] | None = None
    provisional: bool = False
    personal: bool = False
    record_type: str = ""
    #: the code list file ``codelist`` names: beside the spec, else the package's
    codelist_path: str | None = attrs.field(default=None, eq=False, repr=False)
    decode: Decoder = attrs.field(init=False, eq=False, repr=False)
    encode: Encoder = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        dec, enc = make_codec(self.kind, self.length, self.optional, self.rubric)
        object.__setattr__(self, "decode", dec)
        object.__setattr__(self, "encode", enc)

    @property
    def end(self) -> int:
        """Last position (1-based, inclusive)."""
        return self.start + self.length - 1

    @property
    def slice(self) -> slice:
        """The 0-based slice of this field in a record's text."""
        return slice(self.start - 1, self.end)

    @property
    def optional(self) -> bool:
        return self.mandatory != "Y"

    @property
    def empty(self) -> str:
        """Text of this field when it holds no value."""
        return empty_text(self.kind, self.length)

    def is_missing(self, text: str) -> bool:
        """Whether *text* leaves this mandatory field without a value: blank for AN, all
        zeros for N ids, codes, dates and times (zero is a value for counts and amounts)."""
        if self.mandatory != "Y" or self.kind == "reserve" or self.fixed is not None:
            return False
        if self.type == "N":
            needs_value = self.kind in ("digits", "date", "time") or (
                self.kind == "number" and not self.element.startswith("ANT"))
            return needs_value and text.count("0") == len(text)
        return text.strip(" ") == ""


@attrs.frozen
class RecordLayout:
    """The layout of one record type (e.g. ``"04"`` prestatierecord)."""

    type: str
    name: str
    english: str
    length: int
    fields: tuple[FieldSpec, ...]
    plural: str = ""
    parent: str | None = None
    min: int = 0
    max: int | None = None
    spec_name: str = ""
    by_rubric: Mapping[str, FieldSpec] = attrs.field(init=False, eq=False, repr=False)
    by_attr: Mapping[str, FieldSpec] = attrs.field(init=False, eq=False, repr=False)
    signed: Mapping[str, tuple[FieldSpec, FieldSpec]] = attrs.field(init=False, eq=False, repr=False)
    blank: str = attrs.field(init=False, eq=False, repr=False)
    record_class: Any = attrs.field(init=False, eq=False, repr=False, default=None)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "by_rubric", {f.rubric: f for f in self.fields})
        object.__setattr__(self, "by_attr", {f.attr: f for f in self.fields})
        signed = {}
        for f in self.fields:
            if f.sign:
                signed[f"{f.attr}_signed"] = (f, self.by_rubric[f.sign])
        object.__setattr__(self, "signed", signed)
        object.__setattr__(self, "blank", "".join(f.fixed if f.fixed else f.empty for f in self.fields))

    def field(self, key: str) -> FieldSpec:
        """The field with rubric number *key* (``"0403"``) or attribute name (``"bsn"``)."""
        f = self.by_rubric.get(key) or self.by_attr.get(key)
        if f is None:
            raise UnknownFieldError(f"record {self.type} has no field {key!r}", record_type=self.type)
        return f

    @property
    def id_field(self) -> FieldSpec | None:
        """The identificatie detailrecord field (element NUM040), if the record has one."""
        for f in self.fields:
            if f.element == "NUM040":
                return f
        return None

    @property
    def provisional(self) -> bool:
        return any(f.provisional for f in self.fields)


@attrs.frozen
class TotalRule:
    """A trailer amount derived from the file: ``rubric`` = signed sum of ``sum``."""

    rubric: str
    sum: str


@attrs.frozen
class ReturnFields:
    """What a return message adds to the records it copies: a return spec's ``[return]``
    table, naming fields by attr (checked against the layouts when the spec loads)."""

    codes: tuple[str, ...]  # the return-code fields, in every record type but the trailer
    awarded: str  # the claim line's awarded amount (a signed amount)
    awarded_vat: str | None = None  # the awarded VAT amount, where the standard has one
    calculated: str | None = None  # the insurer's calculated amount: left empty
    insurer_reference: str | None = None  # header
    return_date: str | None = None  # header
    cleared: tuple[str, ...] = ()  # header fields the return leaves empty
    submitted_total: str | None = None  # trailer, signed
    awarded_total: str | None = None  # trailer, signed

    def claim_fields(self) -> tuple[str, ...]:
        """The attrs of the claim line's awarded fields."""
        return tuple(a for a in (self.calculated, self.awarded, self.awarded_vat) if a)


@attrs.frozen(eq=False)
class MessageSpec:
    """One EI message version: record layouts, structure and trailer derivations."""

    standard: str
    version: str
    title: str
    kind: str
    message_code: str
    version_number: str
    subversion_number: str
    record_length: int
    header: str
    trailer: str
    comment: str
    records: Mapping[str, RecordLayout]
    counts: Mapping[str, tuple[str, ...]]
    totals: tuple[TotalRule, ...]
    return_of: str | None = None
    source: str = ""
    units: tuple[str, ...] = ()
    returns: ReturnFields | None = None

    @property
    def unit_types(self) -> tuple[str, ...]:
        """Record types judged on their own with what hangs under them (AP304: the claim
        line 04); the rest of a top-level group is judged with its top record. From
        ``[structure] units``; by default the unbounded children of a top-level type."""
        if self.units:
            return self.units
        return tuple(t for t, lay in self.records.items()
                     if lay.parent in self.top_types and lay.max is None and t != self.comment)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Pickled by reference (specs hold compiled codecs): the receiving process
        # reloads the same spec file.
        return (_spec_by_source, (self.source,))

    @property
    def name(self) -> str:
        """E.g. ``"AP304 v8.0"``."""
        return f"{self.standard} v{self.version}"

    @property
    def key(self) -> tuple[str, str, str]:
        """What the header carries in 0102/0103/0104 (:data:`KEY_RUBRICS`)."""
        return (self.message_code, self.version_number, self.subversion_number)

    def layout(self, record_type: str) -> RecordLayout:
        try:
            return self.records[record_type]
        except KeyError:
            raise UnknownRecordTypeError(f"{self.name} has no record type {record_type!r}",
                                         record_type=str(record_type)) from None

    def field(self, record_type: str, key: str) -> FieldSpec:
        return self.layout(record_type).field(key)

    @property
    def detail_types(self) -> tuple[str, ...]:
        """Record types other than header and trailer, in spec order."""
        return tuple(t for t in self.records if t not in (self.header, self.trailer))

    @property
    def top_types(self) -> tuple[str, ...]:
        """Record types that hang directly under the file (e.g. ``("02",)``)."""
        return tuple(t for t, lay in self.records.items()
                     if t in self.detail_types and t != self.comment and not lay.parent)

    def children_of(self, record_type: str) -> tuple[str, ...]:
        """Record types nested under *record_type*, in the order they must appear."""
        return tuple(t for t, lay in self.records.items() if lay.parent == record_type)

    def describe(self, key: str) -> str:
        """A table of the fields of record type *key* (``"04"``) or of one field (``"0403"``):
        rubric, name, attribute, type, position, length, mandatory/conditional/optional, notes."""
        from .describe import describe

        return describe(self, key)

    def new(self, record_type: str, **values: Any) -> Any:
        """A new record of *record_type* with *values* (by attribute or rubric)."""
        if _make_record is None:  # (eicodec.model sets it; importing any part of eicodec loads it)
            raise RuntimeError("eicodec.model is not loaded: import eicodec")
        return _make_record(self.layout(record_type), **values)

    def comments(self, text: str) -> list[Any]:
        """Comment records holding *text*, split over as many records as it needs.

        Identificatie detailrecord and regelnummer are left empty: the writer fills
        them from the record the comments follow.
        """
        lay = self.layout(self.comment)
        free = next(f for f in lay.fields if f.kind == "text" and f.mandatory == "Y"
                    and f.element != "NUM040")
        width = free.length
        parts = [text[i:i + width] for i in range(0, len(text), width)] or [""]
        return [self.new(self.comment, **{free.attr: part}) for part in parts]


#: How :meth:`MessageSpec.new` makes a record (``Record.new``): set by :mod:`eicodec.model`
#: when it loads, as records come after layouts in the package's one-way imports.
_make_record: Callable[..., Any] | None = None


def use_record_maker(make: Callable[..., Any]) -> None:
    """Let :meth:`MessageSpec.new` make its records with *make* (for :mod:`eicodec.model`)."""
    global _make_record
    _make_record = make


# --------------------------------------------------------------------------- loading

def _need(table: Mapping[str, Any], key: str, typ: type, where: str, spec: str) -> Any:
    if key not in table:
        raise SpecError(f"{where}: missing {key!r}", spec=spec)
    value = table[key]
    if not isinstance(value, typ) or isinstance(value, bool) and typ is not bool:
        raise SpecError(f"{where}: {key!r} must be {typ.__name__}", spec=spec)
    return value


def _load_field(raw: Mapping[str, Any], rtype: str, spec: str) -> FieldSpec:
    rub = raw.get("rubric", "?")
    where = f"record {rtype} field {rub}"

    def bad(msg: str) -> SpecError:
        return SpecError(msg, spec=spec, record_type=rtype, rubric=str(rub))

    known = {"rubric", "element", "name", "attr", "type", "start", "length", "mandatory", "kind",
             "fixed", "sign", "codelist", "allowed", "provisional", "personal", "note"}
    unknown = set(raw) - known
    if unknown:
        raise bad(f"unknown keys {sorted(unknown)}")
    rubric = _need(raw, "rubric", str, where, spec)
    attr = _need(raw, "attr", str, where, spec)
    typ = _need(raw, "type", str, where, spec)
    kind = _need(raw, "kind", str, where, spec)
    start = _need(raw, "start", int, where, spec)
    length = _need(raw, "length", int, where, spec)
    mandatory = _need(raw, "mandatory", str, where, spec)
    if typ not in ("N", "AN"):
        raise bad(f"unknown type {typ!r} (expected N or AN)")
    if kind not in KINDS:
        raise bad(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    if typ == "N" and kind not in N_KINDS or typ == "AN" and kind not in AN_KINDS:
        raise bad(f"kind {kind!r} does not go with type {typ}")
    if mandatory not in ("Y", "N", "C"):
        raise bad(f"mandatory must be Y, N or C, not {mandatory!r}")
    if length < 1 or start < 1:
        raise bad("start and length must be positive")
    if not attr.isidentifier() or keyword.iskeyword(attr) or attr != attr.lower():
        raise bad(f"attr {attr!r} is not a snake_case identifier")
    if attr in RESERVED_ATTRS or attr.endswith("_signed"):
        raise bad(f"attr {attr!r} is reserved")
    if kind == "date" and length != 8 or kind == "time" and length != 4 or kind == "dc" and length != 1:
        raise bad(f"a {kind} field cannot be {length} long")
    fixed = raw.get("fixed")
    if fixed is not None and (not isinstance(fixed, str) or len(fixed) != length):
        raise bad(f"fixed value must be a string of length {length}")
    allowed = raw.get("allowed")
    if allowed is not None:
        if not isinstance(allowed, list) or not all(isinstance(v, str) for v in allowed):
            raise bad("allowed must be a list of strings")
        for v in allowed:
            fits = (len(v) == length and v.isdigit()) if typ == "N" else (
                0 < len(v) <= length and v == v.rstrip(" "))
            if not fits:
                raise bad(f"allowed value {v!r} cannot stand in this {typ} field of length {length} "
                          + ("(N values are written with all their digits, e.g. zero-padded)"
                             if typ == "N" else "(AN values: 1..length characters, no trailing spaces)"))
    return FieldSpec(
        rubric=rubric, element=str(raw.get("element", "")), name=str(raw.get("name", "")),
        attr=attr, type=typ, start=start, length=length, mandatory=mandatory, kind=kind,
        fixed=fixed, sign=raw.get("sign"), codelist=raw.get("codelist"),
        allowed=tuple(allowed) if allowed is not None else None,
        provisional=bool(raw.get("provisional", False)), personal=bool(raw.get("personal", False)),
        record_type=rtype,
    )


def _load_record(raw: Mapping[str, Any], length: int, spec: str) -> RecordLayout:
    rtype = _need(raw, "type", str, "record", spec)
    if len(rtype) != 2 or not rtype.isdigit():
        raise SpecError(f"record type {rtype!r} must be two digits", spec=spec)
    raw_fields = _need(raw, "fields", list, f"record {rtype}", spec)
    fields = tuple(_load_field(f, rtype, spec) for f in raw_fields)
    if not fields:
        raise SpecError("record has no fields", spec=spec, record_type=rtype)
    expected = 1
    seen_rubrics: set[str] = set()
    seen_attrs: set[str] = set()
    for f in fields:
        if f.start != expected:
            what = "gap" if f.start > expected else "overlap"
            raise SpecError(f"{what}: field starts at {f.start}, expected {expected}",
                            spec=spec, record_type=rtype, rubric=f.rubric)
        expected = f.end + 1
        if f.rubric in seen_rubrics:
            raise SpecError("duplicate rubric", spec=spec, record_type=rtype, rubric=f.rubric)
        if f.attr in seen_attrs:
            raise SpecError(f"duplicate attr {f.attr!r}", spec=spec, record_type=rtype, rubric=f.rubric)
        seen_rubrics.add(f.rubric)
        seen_attrs.add(f.attr)
    if expected - 1 != length:
        raise SpecError(f"fields cover 1..{expected - 1}, record length is {length}",
                        spec=spec, record_type=rtype)
    if fields[0].fixed != rtype:
        raise SpecError("first field must be the kenmerk record with fixed value = record type",
                        spec=spec, record_type=rtype, rubric=fields[0].rubric)
    by_rubric = {f.rubric: f for f in fields}
    for f in fields:
        if f.sign is not None:
            target = by_rubric.get(f.sign)
            if f.kind != "amount" or target is None or target.kind != "dc":
                raise SpecError(f"sign {f.sign!r} must name a dc field of this record, on an amount",
                                spec=spec, record_type=rtype, rubric=f.rubric)
    mx = raw.get("max")
    return RecordLayout(
        type=rtype, name=str(raw.get("name", "")), english=str(raw.get("english", rtype)),
        length=length, fields=fields, plural=str(raw.get("plural", "")),
        parent=raw.get("parent") or None,
        min=int(raw.get("min", 0)), max=int(mx) if mx is not None else None, spec_name=spec,
    )


def codelist_dirs(folder: Path | None) -> tuple[Path, ...]:
    """Where a spec in *folder* finds its code lists: ``<folder>/codelists`` (code lists
    beside the spec), then the package's ``specs/codelists``."""
    own = data_dir() / "codelists"
    if folder is None or (folder / "codelists").resolve() == own.resolve():
        return (own,)
    return (folder / "codelists", own)


def parse_spec(data: Mapping[str, Any], source: str, folder: Path | None = None) -> MessageSpec:
    """Build and check a :class:`MessageSpec` from parsed TOML *data* (*folder*: where
    the spec file lies, for the code lists beside it)."""
    msg = _need(data, "message", dict, "top level", source)
    st = _need(data, "structure", dict, "top level", source)
    length = _need(msg, "record_length", int, "[message]", source)
    records: dict[str, RecordLayout] = {}
    for raw in _need(data, "record", list, "top level", source):
        lay = _load_record(raw, length, source)
        if lay.type in records:
            raise SpecError("record type defined twice", spec=source, record_type=lay.type)
        records[lay.type] = lay
    dirs = codelist_dirs(folder)
    for lay in records.values():
        for fld in lay.fields:
            if fld.codelist is None:
                continue
            name = f"{fld.codelist}.csv"
            found = next((d / name for d in dirs if (d / name).is_file()), None)
            if found is None:
                raise SpecError(f"code list {fld.codelist!r} has no file {name} in "
                                + " or ".join(str(d) for d in dirs), spec=source,
                                record_type=lay.type, rubric=fld.rubric)
            object.__setattr__(fld, "codelist_path", str(found))
    header = _need(st, "header", str, "[structure]", source)
    trailer = _need(st, "trailer", str, "[structure]", source)
    comment = _need(st, "comment", str, "[structure]", source)
    for t in (header, trailer, comment):
        if t not in records:
            raise SpecError(f"[structure] names record type {t!r} that has no layout", spec=source)
    units = tuple(st.get("units", ()))
    for t in units:
        if t not in records or t in (header, trailer, comment):
            raise SpecError(f"[structure] units names {t!r}, not a detail record type", spec=source)
    for lay in records.values():
        if lay.parent and (lay.parent not in records or lay.parent in (header, trailer, comment)):
            raise SpecError(f"parent {lay.parent!r} is not a detail record type",
                            spec=source, record_type=lay.type)
    for rub in KEY_RUBRICS:
        if rub not in records[header].by_rubric:
            raise SpecError(f"header lacks rubric {rub} needed to identify the message", spec=source)
    trailer_cfg = data.get("trailer", {})
    counts: dict[str, tuple[str, ...]] = {}
    for rub, types in dict(trailer_cfg.get("counts", {})).items():
        f = records[trailer].by_rubric.get(rub)
        if f is None or f.kind != "number":
            raise SpecError("trailer count must name a number field of the trailer",
                            spec=source, record_type=trailer, rubric=rub)
        for t in types:
            if t not in records:
                raise SpecError(f"trailer count names unknown record type {t!r}",
                                spec=source, record_type=trailer, rubric=rub)
        counts[rub] = tuple(types)
    totals = []
    for raw in trailer_cfg.get("totals", []):
        rule = TotalRule(rubric=raw["rubric"], sum=raw["sum"])
        target = records[trailer].by_rubric.get(rule.rubric)
        if target is None or target.kind != "amount" or not target.sign:
            raise SpecError("trailer total must name a signed amount of the trailer",
                            spec=source, record_type=trailer, rubric=rule.rubric)
        summed = [lay.by_rubric[rule.sum] for lay in records.values() if rule.sum in lay.by_rubric]
        if not summed or summed[0].kind != "amount":
            raise SpecError(f"trailer total sums unknown amount rubric {rule.sum}",
                            spec=source, record_type=trailer, rubric=rule.rubric)
        totals.append(rule)
    spec = MessageSpec(
        standard=_need(msg, "standard", str, "[message]", source),
        version=_need(msg, "version", str, "[message]", source),
        title=str(msg.get("title", "")), kind=str(msg.get("kind", "declaration")),
        message_code=_need(msg, "message_code", str, "[message]", source),
        version_number=_need(msg, "version_number", str, "[message]", source),
        subversion_number=_need(msg, "subversion_number", str, "[message]", source),
        record_length=length, header=header, trailer=trailer, comment=comment,
        records=records, counts=counts, totals=tuple(totals),
        return_of=msg.get("return_of"), source=source, units=units,
        returns=_load_returns(data, records, header, trailer, comment, str(msg.get("kind", "declaration")),
                              source),
    )
    _BY_SOURCE[source] = spec
    hdr = records[header]
    for rub, want in zip(KEY_RUBRICS, spec.key):
        f = hdr.by_rubric[rub]
        if len(want) != f.length:
            raise SpecError(f"[message] value {want!r} does not fit rubric {rub}", spec=source)
    return spec


_RETURN_KEYS = {"codes", "awarded", "awarded_vat", "calculated", "insurer_reference", "return_date",
                "cleared", "submitted_total", "awarded_total"}


def _load_returns(data: Mapping[str, Any], records: Mapping[str, RecordLayout], header: str,
                  trailer: str, comment: str, kind: str, source: str) -> ReturnFields | None:
    """The ``[return]`` table of a return spec, every named field checked."""
    raw = data.get("return")
    if raw is None:
        if kind == "return":
            raise SpecError("a return spec needs a [return] table (codes, awarded, ...: which fields "
                            "the return adds; see specs/README.md)", spec=source)
        return None
    if not isinstance(raw, dict):
        raise SpecError("[return] must be a table", spec=source)
    unknown = set(raw) - _RETURN_KEYS
    if unknown:
        raise SpecError(f"[return]: unknown keys {sorted(unknown)}", spec=source)
    for key in ("codes", "awarded"):
        if key not in raw:
            raise SpecError(f"[return] lacks {key!r}", spec=source)
    codes = raw["codes"]
    if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
        raise SpecError("[return] codes must be a list of field names", spec=source)
    for t, lay in records.items():
        if t == trailer:
            continue
        for attr in codes:
            if attr not in lay.by_attr:
                raise SpecError(f"[return] codes: record {t} has no field {attr!r}", spec=source,
                                record_type=t)

    def need(key: str, types: Sequence[str], signed: bool = False) -> None:
        attr = raw.get(key)
        if attr is None:
            return
        if not isinstance(attr, str):
            raise SpecError(f"[return] {key} must be a field name", spec=source)
        hits = [records[t].by_attr[attr] for t in types if attr in records[t].by_attr]
        if not hits:
            where = "record " + "/".join(types)
            raise SpecError(f"[return] {key}: {where} has no field {attr!r}", spec=source)
        if signed and not all(f.kind == "amount" and f.sign for f in hits):
            raise SpecError(f"[return] {key}: {attr!r} must be an amount with its D/C field",
                            spec=source, rubric=hits[0].rubric)

    detail = [t for t in records if t not in (header, trailer, comment)]
    need("awarded", detail, signed=True)
    need("awarded_vat", detail)
    need("calculated", detail)
    need("insurer_reference", [header])
    need("return_date", [header])
    need("submitted_total", [trailer], signed=True)
    need("awarded_total", [trailer], signed=True)
    cleared = raw.get("cleared", [])
    for attr in cleared:
        if attr not in records[header].by_attr:
            raise SpecError(f"[return] cleared: record {header} has no field {attr!r}", spec=source)
    return ReturnFields(
        codes=tuple(codes), awarded=raw["awarded"], awarded_vat=raw.get("awarded_vat"),
        calculated=raw.get("calculated"), insurer_reference=raw.get("insurer_reference"),
        return_date=raw.get("return_date"), cleared=tuple(cleared),
        submitted_total=raw.get("submitted_total"), awarded_total=raw.get("awarded_total"),
    )


_BY_SOURCE: dict[str, MessageSpec] = {}


def _spec_by_source(source: str) -> MessageSpec:
    """The spec loaded from *source* (a shipped file name or a path), loading it if needed."""
    if source in _BY_SOURCE:
        return _BY_SOURCE[source]
    for spec in builtin_specs():
        if spec.source == source:
            return spec
    return load_spec(source)


def spec_of_layout(layout: RecordLayout) -> MessageSpec | None:
    """The spec a record layout belongs to."""
    return _BY_SOURCE.get(layout.spec_name)


def load_spec(path: str | Path) -> MessageSpec:
    """Load and check a spec file of your own (e.g. a corrected AP305 layout).

    The loaded spec replaces the built-in one for the same message code/version in
    :func:`spec_for_header` lookups when passed to the reader via ``spec=``.
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", spec=str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"not valid TOML: {exc}", spec=str(p)) from None
    return parse_spec(data, str(p), p.parent)


@functools.cache
def data_dir() -> Path:
    """Folder holding the shipped spec files and code lists (looked up once: every
    validation and answer asks for the known specs)."""
    packaged = importlib.resources.files("eicodec") / "specs"
    if packaged.is_dir():
        return Path(str(packaged))
    # Running from a source checkout: <repo>/src/eicodec -> <repo>/specs
    return Path(__file__).resolve().parents[2] / "specs"


def _spec_files(folder: Path) -> list[Path]:
    """The message spec files of *folder* (not rules, grammars or skeletons)."""
    return [p for p in sorted(folder.glob("*.toml"))
            if not p.name.endswith((".rules.toml", ".grammar.toml", ".skeleton.toml"))]


@functools.cache
def builtin_specs() -> tuple[MessageSpec, ...]:
    """Every spec shipped with eicodec."""
    specs = []
    for p in _spec_files(data_dir()):
        with p.open("rb") as fh:
            data = tomllib.load(fh)
        if "message" not in data and "record" not in data:
            continue  # a data file that is no message spec (e.g. anonymise.toml)
        specs.append(parse_spec(data, p.name, p.parent))
    return tuple(specs)


# ----------------------------------------------------------------- standards of the user's

#: folders (``os.pathsep``-separated) searched for specs before the package's own
SPEC_PATH_ENV = "EICODEC_SPEC_PATH"
#: entry point group of installed packages that add standards: each entry point loads to
#: a folder (str or Path) of spec files, or to a function returning one
ENTRY_POINT_GROUP = "eicodec.specs"


@attrs.frozen
class KnownSpec:
    """A standard eicodec knows, and where it came from."""

    spec: MessageSpec
    origin: str  # "EICODEC_SPEC_PATH", "entry point NAME" or "eicodec"
    path: Path


@functools.cache
def _specs_in(folder: str) -> tuple[MessageSpec, ...]:
    """The message specs of a user's folder (each loaded with :func:`load_spec`)."""
    out = []
    for p in _spec_files(Path(folder)):
        try:
            with p.open("rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError):
            data = {"message": {}}  # load_spec says what is wrong
        if "message" in data or "record" in data:
            out.append(load_spec(p))
    return tuple(out)


@functools.cache
def _entry_point_folders() -> tuple[tuple[str, Path], ...]:
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
            folder = Path(target() if callable(target) else target)
        except Exception as exc:  # noqa: BLE001 - a broken plug-in: say which
            raise SpecError(f"entry point {ep.name!r} of group {ENTRY_POINT_GROUP} does not load "
                            f"({type(exc).__name__})", spec=ep.value) from None
        found.append((ep.name, folder))
    return tuple(found)


def refresh_specs() -> None:
    """Forget the user's folders and entry points read so far (after installing one)."""
    _specs_in.cache_clear()
    _entry_point_folders.cache_clear()


def known_specs() -> tuple[KnownSpec, ...]:
    """Every standard known: those in the ``EICODEC_SPEC_PATH`` folders, then those of
    installed packages (entry point group ``eicodec.specs``), then eicodec's own. The
    first of one standard and version wins."""
    out: list[KnownSpec] = []
    seen: set[tuple[str, str]] = set()

    def add(spec: MessageSpec, origin: str, path: Path) -> None:
        if (spec.standard, spec.version) not in seen:
            seen.add((spec.standard, spec.version))
            out.append(KnownSpec(spec, origin, path))

    for part in os.environ.get(SPEC_PATH_ENV, "").split(os.pathsep):
        if part and Path(part).is_dir():
            for spec in _specs_in(str(Path(part).resolve())):
                add(spec, SPEC_PATH_ENV, Path(spec.source))
    for name, folder in _entry_point_folders():
        for spec in _specs_in(str(folder.resolve())):
            add(spec, f"entry point {name}", Path(spec.source))
    for spec in builtin_specs():
        add(spec, "eicodec", data_dir() / spec.source)
    return tuple(out)


def all_specs() -> tuple[MessageSpec, ...]:
    """The specs of :func:`known_specs`."""
    return tuple(k.spec for k in known_specs())


def get_spec(standard: str, version: str | None = None) -> MessageSpec:
    """A known spec by name: ``get_spec("AP304")``, ``get_spec("AP305", "8.0")`` or the name a
    spec prints, ``get_spec("AP304 v8.0")`` (the newest known version when none is given; the
    user's folders and installed packages first, see :func:`known_specs`)."""
    specs = all_specs()
    name = standard.strip()
    match = re.fullmatch(r"([A-Za-z]+\d+)\s*v?\s*(\d+(?:\.\d+)*)?", name)
    if match is not None:
        name = match.group(1)
        if match.group(2):
            if version is not None and version != match.group(2):
                raise UnknownSpecError(f"{standard!r} names version {match.group(2)}, not {version}")
            version = match.group(2)
    same = [s for s in specs if s.standard == name.upper()]
    if version is None and same:
        return max(same, key=lambda s: tuple(int(p) for p in s.version.split(".") if p.isdigit()))
    version = version or "8.0"
    standard = name
    for spec in same:
        if spec.standard == standard.upper() and spec.version == version:
            return spec
    known = ", ".join(s.name for s in specs)
    raise UnknownSpecError(f"no spec for {standard} v{version} (known: {known})")


def spec_for_key(key: tuple[str, str, str], extra: tuple[MessageSpec, ...] = ()) -> MessageSpec | None:
    """The spec whose header identity (0102, 0103, 0104) is *key*; *extra* specs win,
    then every known standard (:func:`known_specs`)."""
    for spec in extra:
        if spec.key == key:
            return spec
    for spec in all_specs():
        if spec.key == key:
            return spec
    return None
