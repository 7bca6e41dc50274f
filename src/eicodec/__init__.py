"""eicodec: read, write and validate Vektis EI pharmacy claim files (AP304/AP305 v8.0).

The layouts of every record type live in ``specs/*.toml``; the reader, writer,
validator and return-file builder all work from them.
"""

from __future__ import annotations

from .errors import (
    DecodeError,
    EicodecError,
    EncodeError,
    LookupFailure,
    MismatchError,
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

__version__ = "0.3.0"

__all__ = [
    "DecodeError", "EicodecError", "EncodeError", "MismatchError", "SpecError",
    "UnreadableInputError", "LookupFailure", "UnknownSpecError", "UnknownRecordTypeError",
    "UnknownFieldError", "FieldSpec", "MessageSpec", "RecordLayout", "builtin_specs",
    "get_spec", "load_spec", "Declaration", "Node", "Problem", "Record", "iter_records",
    "open_records", "read", "complete", "dumps", "write", "write_records", "__version__",
    "MissingField", "missing_fields",
]

from .codes import CodeTable, return_codes, use_return_codes  # noqa: E402
from .validator import Finding, Mode, Outcome, Report, Status, Verdict, validate  # noqa: E402
from .many import FileFailure, validate_many  # noqa: E402

__all__ += ["CodeTable", "return_codes", "use_return_codes", "Finding", "Mode", "Outcome", "Report",
            "Status", "Verdict", "validate", "validate_many", "FileFailure"]

from .columns import ColumnBatch, columns, iter_columns  # noqa: E402

__all__ += ["ColumnBatch", "columns", "iter_columns"]

from .readback import ClaimOutcome, iter_outcomes, outcome  # noqa: E402
from .retour import Award, build_retour, dumps_retour, iter_retour, write_retour  # noqa: E402

__all__ += ["Award", "ClaimOutcome", "build_retour", "dumps_retour", "iter_outcomes", "iter_retour", "outcome",
            "write_retour"]

from .anonymise import anonymise, anonymise_to  # noqa: E402

__all__ += ["anonymise", "anonymise_to"]

from .decisions import Reject, read_decisions  # noqa: E402

__all__ += ["Reject", "read_decisions"]

from .tables import to_arrow, to_parquet  # noqa: E402  (pyarrow itself loads on first use)

__all__ += ["to_arrow", "to_parquet"]
