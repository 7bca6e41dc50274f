"""eicodec: read, write and validate Vektis EI pharmacy claim files (AP304/AP305 v8.0).

The layouts of every record type live in ``specs/*.toml``; the reader, writer,
validator and return-file builder all work from them.

Reading and writing records (the layouts, the model, the reader and the writer) are
imported with the package; everything else -- the validator and numpy, typed columns,
return files, tables (pyarrow), anonymising -- is imported the first time one of its
names is used (``eicodec.validate``, ``from eicodec import to_parquet``), so that
``import eicodec`` stays cheap for a command that needs only part of it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    DecodeError,
    EicodecError,
    EncodeError,
    LookupFailure,
    MismatchError,
    ReturnFileError,
    ReturnMismatchError,
    SpecError,
    UnknownFieldError,
    UnknownRecordTypeError,
    UnknownSpecError,
    UnreadableInputError,
)
from .layouts import FieldSpec, MessageSpec, RecordLayout, builtin_specs, get_spec, load_spec
from .model import Declaration, Node, Problem, Record
from .reader import iter_records, open_records, read
from .writer import MissingField, complete, dumps, missing_fields, write, write_records

if TYPE_CHECKING:  # the names below are imported on first use (see __getattr__)
    from .anonymise import anonymise, anonymise_to
    from .codes import CodeTable, return_codes, use_return_codes
    from .columns import ColumnBatch, columns, iter_columns
    from .decisions import Award, Reject, read_decisions
    from .engine import validate
    from .findings import Finding, Mode, Outcome, Report, Status, Verdict
    from .many import FileFailure, validate_many
    from .readback import ClaimOutcome, iter_outcomes, outcome
    from .recording import ClaimHistory
    from .retour import build_retour, dumps_retour, iter_retour, write_retour
    from .tables import to_arrow, to_parquet

__all__ = [
    "Declaration",
    "DecodeError",
    "EicodecError",
    "EncodeError",
    "FieldSpec",
    "LookupFailure",
    "MessageSpec",
    "MismatchError",
    "MissingField",
    "Node",
    "Problem",
    "Record",
    "RecordLayout",
    "ReturnFileError",
    "ReturnMismatchError",
    "SpecError",
    "UnknownFieldError",
    "UnknownRecordTypeError",
    "UnknownSpecError",
    "UnreadableInputError",
    "__version__",
    "builtin_specs",
    "complete",
    "dumps",
    "get_spec",
    "iter_records",
    "load_spec",
    "missing_fields",
    "open_records",
    "read",
    "write",
    "write_records",
]

# public name -> the module that defines it, imported on first use
_LAZY: dict[str, str] = {
    "CodeTable": "codes",
    "return_codes": "codes",
    "use_return_codes": "codes",
    "validate": "engine",
    "Finding": "findings",
    "Mode": "findings",
    "Outcome": "findings",
    "Report": "findings",
    "Status": "findings",
    "Verdict": "findings",
    "FileFailure": "many",
    "validate_many": "many",
    "ColumnBatch": "columns",
    "columns": "columns",
    "iter_columns": "columns",
    "Award": "decisions",
    "Reject": "decisions",
    "read_decisions": "decisions",
    "ClaimOutcome": "readback",
    "iter_outcomes": "readback",
    "outcome": "readback",
    "ClaimHistory": "recording",
    "build_retour": "retour",
    "dumps_retour": "retour",
    "iter_retour": "retour",
    "write_retour": "retour",
    "anonymise": "anonymise",
    "anonymise_to": "anonymise",
    "to_arrow": "tables",
    "to_parquet": "tables",
}

# (spelt out, so that a type checker sees them exported)
__all__ += [
    "Award",
    "ClaimHistory",
    "ClaimOutcome",
    "CodeTable",
    "ColumnBatch",
    "FileFailure",
    "Finding",
    "Mode",
    "Outcome",
    "Reject",
    "Report",
    "Status",
    "Verdict",
    "anonymise",
    "anonymise_to",
    "build_retour",
    "columns",
    "dumps_retour",
    "iter_columns",
    "iter_outcomes",
    "iter_retour",
    "outcome",
    "read_decisions",
    "return_codes",
    "to_arrow",
    "to_parquet",
    "use_return_codes",
    "validate",
    "validate_many",
    "write_retour",
]


def __getattr__(name: str) -> Any:
    """Import a public name (or a submodule, as ``eicodec.engine``) the first time it is used."""
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # later look-ups do not come here again
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """The package module: a submodule named like the function it defines (``columns``,
    ``anonymise``) does not replace that function as the package's attribute when it is
    imported (as with eager imports, where the function was bound after the module)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if _LAZY.get(name) == name and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
