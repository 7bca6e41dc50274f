"""The exceptions eicodec raises.

Every error the library raises on bad input is an :class:`EicodecError`. Messages name
the line, record type and rubric where they apply, and never contain field values taken
from the input (no BSN, names or dates of birth).
"""

from __future__ import annotations


class EicodecError(Exception):
    """Root of every eicodec error.

    ``line`` is the 1-based line number in the input (None when not reading a file),
    ``record_type`` the kenmerk record (e.g. ``"04"``) and ``rubric`` the rubric number
    (e.g. ``"0403"``) where they apply.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        record_type: str | None = None,
        rubric: str | None = None,
    ) -> None:
        self.message = message
        self.line = line
        self.record_type = record_type
        self.rubric = rubric
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.record_type is not None:
            where.append(f"record {self.record_type}")
        if self.rubric is not None:
            where.append(f"rubric {self.rubric}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class SpecError(EicodecError):
    """A spec file is malformed: gaps or overlaps, duplicate names, unknown types."""

    def __init__(self, message: str, *, spec: str, record_type: str | None = None,
                 rubric: str | None = None) -> None:
        self.spec = spec
        super().__init__(message, record_type=record_type, rubric=rubric)

    def _render(self) -> str:
        return f"{self.spec}: {super()._render()}"


class EncodeError(EicodecError, ValueError):
    """A value does not fit its field (too long, wrong characters, negative, unknown name)."""


class DecodeError(EicodecError, ValueError):
    """A field's text cannot be read as its kind of value (e.g. letters in an N field)."""


class UnreadableInputError(EicodecError):
    """The input is not an EI file at all: empty, no recognisable header, unknown
    message type/version, or bytes that no supported encoding can decode.

    No return file can be made for such input (STB §6.4.2, last paragraph).
    ``offset`` is the byte offset of an undecodable byte where that is the cause.
    """

    def __init__(self, message: str, *, line: int | None = None, offset: int | None = None,
                 record_type: str | None = None, rubric: str | None = None) -> None:
        self.offset = offset
        super().__init__(message, line=line, record_type=record_type, rubric=rubric)


class MismatchError(EicodecError):
    """Two documents that should belong together do not (an AP305 and its AP304, or a
    validation report and the declaration it is said to describe)."""


class ReturnFileError(EicodecError):
    """A return file (AP305 or another standard's return message) read back against its
    declaration is damaged or incomplete, so no outcome can be believed: a record of the
    wrong length or without CR/LF, no voorlooprecord first or no single sluitrecord last, a
    record type the return message does not have, trailer counts or totals that differ
    from what the file holds, a returned record that copies no line of the declaration,
    a returned claim line without its return code. ``line``, ``record_type`` and
    ``rubric`` say where; the message says what, without any value from the file."""


class ReturnMismatchError(ReturnFileError, MismatchError):
    """A return file does not answer the declaration it is read against: its header
    differs in a rubric it copies, or a returned record copies no line of the
    declaration (the return of another declaration, or a damaged copy). Both a
    :class:`ReturnFileError` and a :class:`MismatchError`."""


class LookupFailure(EicodecError, KeyError):
    """Something asked for by name does not exist. Also a :class:`KeyError`, so code
    written as ``except KeyError`` keeps working; ``str()`` is the plain message."""

    __str__ = Exception.__str__


class UnknownSpecError(LookupFailure):
    """No shipped spec for a standard/version (``get_spec("AP999")``)."""


class UnknownRecordTypeError(LookupFailure):
    """A message spec has no record type of that kenmerk (``spec.layout("77")``)."""


class UnknownFieldError(LookupFailure, AttributeError):
    """A record has no field of that rubric or name (``record["9999"]``). Also an
    :class:`AttributeError`, as ``record.no_such_name`` always raised one."""


class UsageError(Exception):
    """Bad command-line arguments: exit status 2. The message names the option at fault
    (raised by the command line's own modules, never by the library)."""
