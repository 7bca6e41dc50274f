"""Vektis' layout export (BER sheet) -> an eicodec layout spec.

Every Vektis layout export has the same columns (Recordnaam, Recordcode, Volgnummer,
Naam gegevenselement, Type, Lengte, Patroon, Eindpositie, Verplichting, Sleutel, Code
gegeven, ..., Constraints/condities). :func:`import_spec` turns one into the TOML of a
layout spec (see ``specs/README.md`` for the column -> key mapping) and a rules skeleton
that lists each field's conditions text as comments to encode. The record grammar is not
in the export: it comes from a small TOML block (:func:`load_grammar`) or a commented
default is written (every detail record directly under the file) for the author to edit.

Sheets: ``.tsv``/``.csv`` with the stdlib; ``.xls``/``.xlsx``/``.ods`` with
``python-calamine`` (the ``xls`` extra).
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .errors import SpecError
from .layouts import RESERVED_ATTRS, MessageSpec, builtin_specs, codelist_dirs, parse_spec

# The export's column names (first row holding "Recordcode" is the header row).
COLUMNS = {
    "standard": "Standaardcode",
    "record_name": "Recordnaam",
    "record_type": "Recordcode",
    "rubric": "Volgnummer",
    "name": "Naam gegevenselement",
    "type": "Type",
    "length": "Lengte",
    "pattern": "Patroon",
    "end": "Eindpositie",
    "obligation": "Verplichting",
    "key": "Sleutel",
    "element": "Code gegeven",
    "codelist_name": "Naam codelijst",
    "codelist_code": "Code codelijst",
    "example": "Voorbeeld vulling",
    "condition": "Constraints/condities",
}
_REQUIRED = ("record_type", "rubric", "name", "type", "length", "end", "obligation", "element")

# Verplichting -> the layout's `mandatory`: M(andatory) -> Y, C(onditional) -> C,
# O(ptional), S(paties, reserve) and N(iet) -> N.
MANDATORY = {"M": "Y", "C": "C", "O": "N", "S": "N", "N": "N"}

_PERSONAL_WORDS = ("BURGERSERVICENUMMER", "NAAM ", "NAAM(", "VOORVOEGSEL", "VOORLETTERS",
                   "GEBOORTE", "POSTCODE", "HUISNUMMER", "STRAATNAAM", "WOONPLAATS",
                   "TELEFOON", "E-MAIL", "REKENINGNUMMER", "IBAN", "VERZEKERDENNUMMER",
                   "PATIENT", "DEBITEURNUMMER", "VRIJE TEKST")


class SpecImportError(SpecError):
    """A layout export that cannot become a spec (gap, overlap, unknown column or value)."""


@attrs.frozen
class ExportRow:
    """One data element of the export (one field of one record)."""

    line: int
    record_name: str
    record_type: str
    rubric: str
    name: str
    type: str
    length: int
    pattern: str
    end: int
    obligation: str
    key: str
    element: str
    codelist_name: str = ""
    condition: str = ""
    example: str = ""
    standard: str = ""

    @property
    def start(self) -> int:
        return self.end - self.length + 1


# --------------------------------------------------------------------------- reading

def _cell(value: Any) -> str:
    """A sheet cell as text: spreadsheets give 101.0 for the rubric 0101."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value if value is not None else "").strip()


def _int(text: str) -> int:
    return int(float(text))


def read_table(path: str | Path) -> list[list[str]]:
    """The export's cells, row by row (first sheet with a "Recordcode" column)."""
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix in (".tsv", ".txt", ".csv"):
            raw = p.read_bytes()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = raw.decode("cp1252", errors="replace")  # sheets saved by Excel
            sample = text[:4096]
            delim = "\t" if "\t" in sample or suffix != ".csv" else (
                ";" if sample.count(";") > sample.count(",") else ",")
            return [[_cell(c) for c in row] for row in csv.reader(io.StringIO(text, newline=""), delimiter=delim)]
        if suffix in (".xls", ".xlsx", ".xlsm", ".ods"):
            try:
                from python_calamine import CalamineWorkbook
            except ImportError:
                raise SpecImportError(
                    f"reading {suffix} needs python-calamine: pip install 'eicodec[xls]' "
                    "(or save the sheet as .tsv)", spec=str(p)) from None
            wb = CalamineWorkbook.from_path(str(p))
            for name in wb.sheet_names:
                rows = [[_cell(c) for c in r] for r in wb.get_sheet_by_name(name).to_python()]
                if any("Recordcode" in r for r in rows):
                    return rows
            raise SpecImportError("no sheet has a 'Recordcode' column", spec=str(p))
    except OSError as exc:
        raise SpecImportError(f"cannot read export: {exc.strerror}", spec=str(p)) from None
    except SpecImportError:
        raise
    except Exception as exc:  # noqa: BLE001 - the sheet reader's own errors (damaged workbook)
        raise SpecImportError(f"cannot read workbook: {type(exc).__name__}", spec=str(p)) from None
    raise SpecImportError(f"unknown export type {suffix!r} (expected .xls, .xlsx, .tsv or .csv)",
                          spec=str(p))


def read_export(path: str | Path) -> list[ExportRow]:
    """The data-element rows of a Vektis layout export, checked for shape."""
    rows = read_table(path)
    src = str(path)
    head_at = next((i for i, r in enumerate(rows) if "Recordcode" in r), None)
    if head_at is None:
        raise SpecImportError("no header row with a 'Recordcode' column", spec=src)
    header = rows[head_at]
    index = {key: header.index(col) for key, col in COLUMNS.items() if col in header}
    missing = [COLUMNS[k] for k in _REQUIRED if k not in index]
    if missing:
        raise SpecImportError(f"export lacks columns {missing}", spec=src)
    out: list[ExportRow] = []
    for n, row in enumerate(rows[head_at + 1:], start=head_at + 2):
        def get(key: str, row: list[str] = row) -> str:
            i = index.get(key)
            return row[i].strip() if i is not None and i < len(row) else ""
        if not get("record_type") and not get("rubric"):
            continue  # blank or trailing note rows
        rtype = get("record_type")
        try:
            rubric = f"{_int(get('rubric')):04d}"
            length = _int(get("length"))
            end = _int(get("end"))
        except ValueError:
            raise SpecImportError(f"line {n}: Volgnummer, Lengte and Eindpositie must be numbers",
                                  spec=src, record_type=rtype) from None
        if not (rtype.isdigit() and len(rtype) <= 2):
            raise SpecImportError(f"line {n}: Recordcode {rtype!r} is not a record type", spec=src)
        out.append(ExportRow(
            line=n, record_name=get("record_name"), record_type=rtype.zfill(2), rubric=rubric,
            name=get("name"), type=get("type").upper(), length=length, pattern=get("pattern"),
            end=end, obligation=get("obligation").upper(), key=get("key"), element=get("element"),
            codelist_name=get("codelist_name"), condition=" ".join(get("condition").split()),
            example=" ".join(get("example").split()), standard=get("standard"),
        ))
    if not out:
        raise SpecImportError("export has no data-element rows", spec=src)
    return out


# --------------------------------------------------------------------------- names

@attrs.frozen
class Catalog:
    """What the shipped (or given) specs call an element: attr, kind, personal."""

    attrs_by_element: Mapping[str, str]
    kind_by_element: Mapping[str, tuple[str, str]]  # element -> (type, kind)
    personal: frozenset[str]
    english_by_record: Mapping[str, tuple[str, str]]  # record name -> (english, plural)

    @classmethod
    def from_specs(cls, specs: Iterable[MessageSpec]) -> Catalog:
        names: dict[str, Counter[str]] = {}
        kinds: dict[str, Counter[tuple[str, str]]] = {}
        personal: set[str] = set()
        english: dict[str, tuple[str, str]] = {}
        for spec in specs:
            for lay in spec.records.values():
                if lay.name and lay.type not in (spec.header, spec.trailer, spec.comment):
                    english.setdefault(lay.name, (lay.english, lay.plural))
                for f in lay.fields:
                    if not f.element or f.element in ("COD001", "TEC007") or f.kind == "dc":
                        continue
                    names.setdefault(f.element, Counter())[f.attr] += 1
                    kinds.setdefault(f.element, Counter())[(f.type, f.kind)] += 1
                    if f.personal:
                        personal.add(f.element)
        return cls(
            attrs_by_element={e: c.most_common(1)[0][0] for e, c in names.items()},
            kind_by_element={e: c.most_common(1)[0][0] for e, c in kinds.items()},
            personal=frozenset(personal), english_by_record=english,
        )


def shipped_catalog(exclude: Sequence[str] = (), prefer: str | None = None) -> Catalog:
    """The catalog of the shipped specs, without the standards named in *exclude*; the
    names of standard *prefer* (an earlier version of the one imported) come first."""
    specs = [s for s in builtin_specs() if s.standard not in exclude]
    own = Catalog.from_specs(s for s in specs if s.standard == prefer)
    rest = Catalog.from_specs(s for s in specs if s.standard != prefer)
    return Catalog(
        attrs_by_element={**rest.attrs_by_element, **own.attrs_by_element},
        kind_by_element={**rest.kind_by_element, **own.kind_by_element},
        personal=own.personal | rest.personal,
        english_by_record={**rest.english_by_record, **own.english_by_record},
    )


def snake(text: str) -> str:
    """A Dutch element name as a snake_case identifier (ASCII, ``_`` between words)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    word = re.sub(r"[^a-z0-9]+", "_", plain).strip("_") or "field"
    return f"f_{word}" if word[0].isdigit() else word


# --------------------------------------------------------------------------- grammar

@attrs.frozen
class Grammar:
    """The record grammar and message identity an export does not hold."""

    message: Mapping[str, Any] = attrs.field(factory=dict)
    structure: Mapping[str, Any] = attrs.field(factory=dict)
    records: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    trailer: Mapping[str, Any] | None = None
    names: Mapping[str, str] = attrs.field(factory=dict)
    returns: Mapping[str, Any] = attrs.field(factory=dict)
    given: bool = False


_GRAMMAR_KEYS = {"message", "structure", "records", "trailer", "names", "return"}

# A return export's [return] table, found by Vektis element (the same in every EI return
# message): (key, record role, elements).
RETURN_ELEMENTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("codes", "header", ("COD954", "COD955", "COD956")),
    ("insurer_reference", "header", ("NUM370",)),
    ("return_date", "header", ("DAT277",)),
    ("calculated", "detail", ("BED165",)),
    ("awarded", "detail", ("BED166",)),
    ("awarded_vat", "detail", ("BED175",)),
    ("submitted_total", "trailer", ("BED168",)),
    ("awarded_total", "trailer", ("BED167",)),
)
_RECORD_KEYS = {"parent", "min", "max", "english", "plural"}


def parse_grammar(data: Mapping[str, Any], source: str = "<grammar>") -> Grammar:
    """A grammar block: ``[message]`` (keys of a spec's [message]), ``[structure]``,
    ``[records.<type>]`` with ``parent``/``min``/``max``/``english``/``plural`` and an
    optional ``[trailer]`` (counts/totals; default: derived from the trailer's names) and
    ``[names]``: element (e.g. ``COD853``) -> the attr its fields get; for a return
    message ``[return]`` keys override those found by element (see specs/README.md)."""
    unknown = set(data) - _GRAMMAR_KEYS
    if unknown:
        raise SpecImportError(f"grammar: unknown tables {sorted(unknown)}", spec=source)
    records = dict(data.get("records", {}))
    for rtype, cfg in records.items():
        if not isinstance(cfg, dict) or set(cfg) - _RECORD_KEYS:
            raise SpecImportError(f"grammar: [records.{rtype}] takes only {sorted(_RECORD_KEYS)}",
                                  spec=source, record_type=rtype)
    names = dict(data.get("names", {}))
    if not all(isinstance(v, str) for v in names.values()):
        raise SpecImportError("grammar: [names] maps an element to an attr name (a string)", spec=source)
    return Grammar(message=dict(data.get("message", {})), structure=dict(data.get("structure", {})),
                   records=records, trailer=data.get("trailer"), names=names,
                   returns=dict(data.get("return", {})), given=True)


def load_grammar(path: str | Path) -> Grammar:
    """Read a grammar block from a TOML file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return parse_grammar(tomllib.load(fh), str(p))
    except OSError as exc:
        raise SpecImportError(f"cannot read grammar: {exc.strerror}", spec=str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecImportError(f"grammar is not valid TOML: {exc}", spec=str(p)) from None


# --------------------------------------------------------------------------- import

@attrs.frozen
class ImportedSpec:
    """The result of an import: the spec's TOML text, the rules skeleton and notes."""

    toml: str
    rules_skeleton: str
    spec: MessageSpec
    notes: tuple[str, ...]


def _is_dc(row: ExportRow) -> bool:
    return row.type == "AN" and row.length == 1 and row.name.upper().startswith("INDICATIE DEBET/CREDIT")


def _kind(row: ExportRow, first: bool, catalog: Catalog) -> str:
    pattern = row.pattern.upper().replace(" ", "")
    if first:
        return "digits" if row.type == "N" else "text"
    if row.element == "TEC007" or row.name.upper() == "RESERVE":
        return "reserve" if row.type == "AN" else "digits"
    if _is_dc(row):
        return "dc"
    if row.type == "N":
        if row.length == 8 and (pattern in ("EEJJMMDD", "JJJJMMDD") or row.element.startswith("DAT")):
            return "date"
        if row.length == 4 and pattern in ("HHMM", "UUMM", "HHMI"):
            return "time"
        if row.element.startswith("BED"):
            return "amount"
        known = catalog.kind_by_element.get(row.element)
        if known and known[0] == "N" and known[1] in ("digits", "number"):
            return known[1]
        return "number" if row.element.startswith(("ANT", "NUM")) else "digits"
    return "text"


def _message_value(rows: Sequence[ExportRow], rubric_tail: str) -> str | None:
    """A header value the export states as "Waarde '176' vullen" (0102/0103/0104)."""
    for row in rows:
        if row.rubric.endswith(rubric_tail) and row.rubric.startswith("01"):
            for text in (row.condition, row.example):
                found = [m.group(1) for m in re.finditer(r"[Ww]aarde\s+'?(\d+)'?", text)
                         if len(m.group(1)) == row.length]
                if found:
                    return found[-1]
    return None


def _version_from_name(path: str) -> tuple[str | None, str | None]:
    """``MZ301V0103.xls`` -> ("MZ301", "1.3"); ``GZ321v1.0_BER.tsv`` -> ("GZ321", "1.0")."""
    stem = Path(path).name
    m = re.match(r"([A-Z]{2}\d{3})[Vv](\d{2})(\d{2})", stem)
    if m:
        return m.group(1), f"{int(m.group(2))}.{int(m.group(3))}"
    m = re.match(r"([A-Z]{2}\d{3})[Vv](\d+)\.(\d+)", stem)
    if m:
        return m.group(1), f"{m.group(2)}.{m.group(3)}"
    return None, None


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) else _toml_str(key)


def _default_trailer(records: Mapping[str, list[dict[str, Any]]], names: Mapping[str, str],
                     detail: Sequence[str], trailer: str, comment: str) -> dict[str, Any]:
    """Trailer counts and totals from the trailer's own field names: "AANTAL
    VERZEKERDENRECORDS" counts VERZEKERDENRECORD, "TOTAAL AANTAL DETAILRECORDS" every
    detail record, "TOTAAL DECLARATIEBEDRAG" sums the detail amount whose name begins
    with "DECLARATIEBEDRAG"."""
    by_name = {n.upper(): t for t, n in names.items()}
    counts: dict[str, list[str]] = {}
    totals: list[dict[str, str]] = []
    for f in records.get(trailer, []):
        name = f["name"].upper().removesuffix(" RETOUR")
        if f["kind"] == "number" and name == "TOTAAL AANTAL DETAILRECORDS":
            counts[f["rubric"]] = [*detail, *([comment] if comment else [])]
        elif f["kind"] == "number" and name.startswith("AANTAL ") and name.endswith("RECORDS"):
            t = by_name.get(name.removeprefix("AANTAL ")[:-1])
            if t is not None:
                counts[f["rubric"]] = [t]
        elif f["kind"] == "amount" and f.get("sign") and name.startswith("TOTAAL "):
            want = name.removeprefix("TOTAAL ")
            hits = {g["rubric"] for t in detail for g in records[t]
                    if g["kind"] == "amount" and g.get("sign") and g["name"].upper().startswith(want)}
            if len(hits) == 1:
                totals.append({"rubric": f["rubric"], "sum": hits.pop()})
    return {"counts": counts, "totals": totals}


def import_rows(rows: Sequence[ExportRow], *, source: str = "<export>",
                grammar: Grammar | None = None, catalog: Catalog | None = None,
                folder: Path | None = None) -> ImportedSpec:
    """Turn export rows into a layout spec (TOML text, checked by loading it). *folder*:
    where the spec will lie (its ``codelists/`` is searched before the package's)."""
    grammar = grammar or Grammar()
    std_guess, ver_guess = _version_from_name(source)
    if catalog is None:
        catalog = shipped_catalog(prefer=grammar.message.get("standard") or std_guess
                                  or next((r.standard for r in rows if r.standard), None))
    lists_dirs = codelist_dirs(folder)
    notes: list[str] = []
    # group by record type, in export order
    by_type: dict[str, list[ExportRow]] = {}
    for row in rows:
        by_type.setdefault(row.record_type, []).append(row)
    length = max(r.end for r in rows)
    for rtype, fields in by_type.items():
        pos = 1
        for row in fields:
            if row.length < 1:
                raise SpecImportError(f"line {row.line}: Lengte must be positive",
                                      spec=source, record_type=rtype, rubric=row.rubric)
            if row.start != pos:
                what = "gap" if row.start > pos else "overlap"
                raise SpecImportError(
                    f"line {row.line}: {what}: field ends at {row.end} with length {row.length}, "
                    f"so starts at {row.start}; expected {pos}",
                    spec=source, record_type=rtype, rubric=row.rubric)
            if row.type not in ("N", "AN"):
                raise SpecImportError(f"line {row.line}: Type {row.type!r} (expected N or AN)",
                                      spec=source, record_type=rtype, rubric=row.rubric)
            if row.obligation not in MANDATORY:
                raise SpecImportError(
                    f"line {row.line}: Verplichting {row.obligation!r} (expected M, C, O, S or N)",
                    spec=source, record_type=rtype, rubric=row.rubric)
            pos = row.end + 1
        if pos - 1 != length:
            raise SpecImportError(f"fields cover 1..{pos - 1}, the longest record is {length}",
                                  spec=source, record_type=rtype)

    types = list(by_type)
    st = dict(grammar.structure)
    header = str(st.get("header", types[0]))
    trailer = str(st.get("trailer", "99" if "99" in by_type else types[-1]))
    comment = str(st.get("comment", "98" if "98" in by_type else ""))
    for role, t in (("header", header), ("trailer", trailer), ("comment", comment)):
        if t not in by_type:
            raise SpecImportError(f"[structure] {role} {t!r} is not a record type of the export",
                                  spec=source)
    detail = [t for t in types if t not in (header, trailer, comment)]
    names = {t: by_type[t][0].record_name for t in types}

    # fields
    records: dict[str, list[dict[str, Any]]] = {}
    field_notes: dict[tuple[str, str], str] = {}
    for rtype, fields in by_type.items():
        out: list[dict[str, Any]] = []
        used: set[str] = set()
        prev_amount: dict[str, Any] | None = None
        for i, row in enumerate(fields):
            kind = _kind(row, i == 0, catalog)
            f: dict[str, Any] = {
                "rubric": row.rubric, "element": row.element, "name": row.name, "attr": "",
                "type": row.type, "start": row.start, "length": row.length,
                "mandatory": MANDATORY[row.obligation], "kind": kind,
            }
            if i == 0:
                f["fixed"] = rtype
                attr = "record_code"
            elif kind == "reserve":
                attr = "reserve"
            elif kind == "dc" and prev_amount is not None:
                attr = f"{prev_amount['attr']}_dc"
                prev_amount["sign"] = row.rubric
            elif kind == "dc":
                attr = "debit_credit"
            elif row.element in grammar.names:
                attr = grammar.names[row.element]
            elif row.element in catalog.attrs_by_element:
                attr = catalog.attrs_by_element[row.element]
            else:
                attr = snake(row.name)
                field_notes[(rtype, row.rubric)] = "attr from the Dutch name"
            if attr in RESERVED_ATTRS or attr.endswith("_signed"):
                attr = f"{attr}_field"
            base, n = attr, 2
            while attr in used:
                attr, n = f"{base}_{n}", n + 1
            used.add(attr)
            f["attr"] = attr
            prev_amount = f if kind == "amount" else None
            if row.element and row.element.startswith("COD") and i > 0 and kind != "reserve":
                listed = next((d / f"{row.element}.csv" for d in lists_dirs
                               if (d / f"{row.element}.csv").is_file()), None)
                if listed is not None:
                    f["codelist"] = row.element
                elif row.codelist_name:
                    field_notes.setdefault((rtype, row.rubric), f"code list {row.element} "
                                           f"({row.codelist_name}) not found: format check only")
            upper = row.name.upper()
            if row.element in catalog.personal or (
                    row.element not in catalog.attrs_by_element and kind not in ("dc", "reserve")
                    and any(w in upper + " " for w in _PERSONAL_WORDS)):
                f["personal"] = True
            out.append(f)
        records[rtype] = out

    # message identity
    standard = grammar.message.get("standard") or next((r.standard for r in rows if r.standard), None) \
        or std_guess
    version = grammar.message.get("version") or ver_guess
    if not standard or not version:
        raise SpecImportError("standard and version unknown: name the file like MZ301V0103.xls "
                              "or give [message] standard/version in the grammar", spec=source)
    message: dict[str, Any] = {"standard": standard, "version": version}
    for key in ("title", "kind", "return_of"):
        if key in grammar.message:
            message[key] = grammar.message[key]
    message.setdefault("kind", "declaration")
    for key, tail in (("message_code", "02"), ("version_number", "03"), ("subversion_number", "04")):
        value = grammar.message.get(key) or _message_value(rows, tail)
        if value is None:
            raise SpecImportError(f"{key} not stated in the export's 01{tail} conditions: "
                                  f"give [message] {key} in the grammar", spec=source)
        message[key] = value
    message["record_length"] = length
    for f in records[header]:
        if f["rubric"][2:] in ("02", "03"):
            f["fixed"] = message["message_code" if f["rubric"][2:] == "02" else "version_number"]
            f.pop("codelist", None)
            field_notes.pop((header, f["rubric"]), None)
    extra = set(grammar.message) - {"standard", "version", "title", "kind", "return_of",
                                    "message_code", "version_number", "subversion_number"}
    if extra:
        raise SpecImportError(f"grammar: unknown [message] keys {sorted(extra)}", spec=source)

    structure: dict[str, Any] = {"header": header, "trailer": trailer, "comment": comment}
    if "units" in st:
        structure["units"] = list(st["units"])
    trailer_cfg = dict(grammar.trailer) if grammar.trailer is not None else \
        _default_trailer(records, names, detail, trailer, comment)

    rec_cfg: dict[str, dict[str, Any]] = {}
    for t in types:
        cfg = dict(grammar.records.get(t, {}))
        eng, plural = catalog.english_by_record.get(names[t], ("", ""))
        if t == header:
            eng, plural = "header", ""
        elif t == trailer:
            eng, plural = "trailer", ""
        elif t == comment:
            eng, plural = "comment", "comments"
        cfg.setdefault("english", eng or snake(names[t]))
        if plural or t in detail:
            cfg.setdefault("plural", plural or f"{cfg['english']}_records")
        if t in detail:
            cfg.setdefault("parent", "")
            cfg.setdefault("min", 0)
        rec_cfg[t] = cfg
    unknown_types = set(grammar.records) - set(types)
    if unknown_types:
        raise SpecImportError(f"grammar names record types {sorted(unknown_types)} not in the export",
                              spec=source)

    returns: dict[str, Any] | None = None
    if message["kind"] == "return":
        returns = {}
        roles = {"header": [header], "trailer": [trailer], "detail": detail}
        for key, role, elements in RETURN_ELEMENTS:
            found = [f["attr"] for t in roles[role] for f in records[t] if f["element"] in elements]
            found = list(dict.fromkeys(found))
            if found:
                returns[key] = found if key == "codes" else found[0]
        returns.update(grammar.returns)
    text = _render(source, message, structure, trailer_cfg, types, names, rec_cfg, records,
                   field_notes, grammar.given, returns)
    try:
        spec = parse_spec(tomllib.loads(text), f"{source} (imported)", folder)
    except SpecError as exc:
        raise SpecImportError(f"imported spec does not load: {exc}", spec=source) from None
    notes.extend(f"{t} {r}: {n}" for (t, r), n in field_notes.items())
    return ImportedSpec(toml=text, rules_skeleton=_skeleton(source, message, rows, records),
                        spec=spec, notes=tuple(notes))


def _render(source: str, message: Mapping[str, Any], structure: Mapping[str, Any],
            trailer: Mapping[str, Any], types: Sequence[str], names: Mapping[str, str],
            rec_cfg: Mapping[str, Mapping[str, Any]], records: Mapping[str, list[dict[str, Any]]],
            field_notes: Mapping[tuple[str, str], str], grammar_given: bool,
            returns: Mapping[str, Any] | None) -> str:
    out = [(f"# {message['standard']} v{message['version']} record layouts, imported by "
            f"`eicodec spec import` from {Path(source).name}."),
           "# Positions, types, M/C/O/S -> mandatory Y/C/N, kinds (dates by pattern, amounts with",
           "# the D/C field that follows them), code lists found as <element>.csv and names of",
           "# elements the shipped specs know come from the export; check the notes (# ...).",
           ""]
    if not grammar_given:
        out += ["# EDIT: the record grammar is not in the export. This default puts every detail",
                "# record directly under the file (parent = \"\", min = 0); set parent/min/max per",
                "# record and [structure] units, or import again with --grammar FILE.toml.", ""]
    out.append("[message]")
    out += [f"{k} = {_toml_value(v)}" for k, v in message.items()]
    out += ["", "[structure]"]
    out += [f"{k} = {_toml_value(v)}" for k, v in structure.items()]
    out += ["", "# Trailer fields derived from the file (default: from the trailer's field names).",
            "[trailer]"]
    out += [f"{k} = {_toml_value(v)}" for k, v in trailer.items()]
    if returns is not None:
        out += ["", "# What the return adds to the records it copies (found by element; check).",
                "[return]"]
        out += [f"{k} = {_toml_value(v)}" for k, v in returns.items()]
    for t in types:
        out += ["", "[[record]]", f"type = {_toml_str(t)}", f"name = {_toml_str(names[t])}"]
        out += [f"{k} = {_toml_value(v)}" for k, v in rec_cfg[t].items()]
        out.append("fields = [")
        for f in records[t]:
            note = field_notes.get((t, f["rubric"]))
            out.append(f"  {_toml_value(f)},{'  # ' + note if note else ''}")
        out.append("]")
    return "\n".join(out) + "\n"


def _skeleton(source: str, message: Mapping[str, Any], rows: Sequence[ExportRow],
              records: Mapping[str, list[dict[str, Any]]]) -> str:
    """A rules file skeleton: each field's conditions text as a comment to encode."""
    mand = {(t, f["rubric"]): f["mandatory"] for t, fs in records.items() for f in fs}
    out = [(f"# Rules skeleton for {message['standard']} v{message['version']}, from the conditions "
            f"column of {Path(source).name}."),
           "# Each comment is one field's conditions text as Vektis wrote it: encode it as a",
           "# [[rule]] (kinds in specs/README.md) or delete it. Layout checks (mandatory Y,",
           "# digits, dates, code lists, D/C, blank reserve) already run from the layout alone.",
           "# Rename this file to <STD>v<VER>.rules.toml beside the spec to use it.", ""]
    if message.get("kind", "declaration") == "declaration":
        out += ["# [answer]               # needed for return files and outcome()",
                "# claim_reference = \"\"  # rubric naming a claim line (of a unit record type)",
                "# claim_amount = \"\"     # its declared amount (an amount with its own D/C)",
                "# header_rewritten = []  # header rubrics the return file does not copy", ""]
    for row in rows:
        if not row.condition:
            continue
        m = mand.get((row.record_type, row.rubric), "?")
        out.append(f"# {row.rubric} {row.name} (mandatory {m}): {row.condition}")
    return "\n".join(out) + "\n"


def import_spec(export: str | Path, *, grammar: Grammar | str | Path | None = None,
                catalog: Catalog | None = None, folder: str | Path | None = None) -> ImportedSpec:
    """Read a Vektis layout export and return the imported spec (nothing written);
    *folder*: where it will be written (code lists beside it are linked too)."""
    if grammar is not None and not isinstance(grammar, Grammar):
        grammar = load_grammar(grammar)
    return import_rows(read_export(export), source=str(export), grammar=grammar,
                       catalog=catalog, folder=Path(folder) if folder is not None else None)


def write_import(result: ImportedSpec, out: str | Path, *, force: bool = False) -> tuple[Path, Path]:
    """Write the spec to *out* and the rules skeleton beside it as
    ``<stem>.rules.skeleton.toml``; refuses to replace a file unless *force*."""
    spec_path = Path(out)
    stem = spec_path.name.removesuffix(".toml")
    skel_path = spec_path.with_name(f"{stem}.rules.skeleton.toml")
    for p in (spec_path, skel_path):
        if p.exists() and not force:
            raise SpecImportError(f"{p} exists (use --force to replace it)", spec=str(p))
    spec_path.write_text(result.toml, encoding="utf-8")
    skel_path.write_text(result.rules_skeleton, encoding="utf-8")
    return spec_path, skel_path
