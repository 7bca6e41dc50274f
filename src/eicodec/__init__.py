"""eicodec: read, write and validate Vektis EI pharmacy claim files (AP304/AP305 v8.0).

The layouts of every record type live in ``specs/*.toml``; the reader, writer,
validator and return-file builder all work from them.
"""

from __future__ import annotations

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

from .codes import CodeTable, return_codes, use_return_codes
from .engine import validate
from .findings import Finding, Mode, Outcome, Report, Status, Verdict
from .many import FileFailure, validate_many

__all__ += [
    "CodeTable",
    "FileFailure",
    "Finding",
    "Mode",
    "Outcome",
    "Report",
    "Status",
    "Verdict",
    "return_codes",
    "use_return_codes",
    "validate",
    "validate_many",
]

from .columns import ColumnBatch, columns, iter_columns

__all__ += ["ColumnBatch", "columns", "iter_columns"]

from .decisions import Award, Reject, read_decisions
from .readback import ClaimOutcome, iter_outcomes, outcome
from .recording import ClaimHistory
from .retour import build_retour, dumps_retour, iter_retour, write_retour

__all__ += ["Award", "ClaimHistory", "ClaimOutcome", "build_retour", "dumps_retour", "iter_outcomes", "iter_retour", "outcome",
            "write_retour"]

from .anonymise import anonymise, anonymise_to

__all__ += ["anonymise", "anonymise_to"]

__all__ += ["Reject", "read_decisions"]

from .tables import to_arrow, to_parquet

__all__ += ["to_arrow", "to_parquet"]
