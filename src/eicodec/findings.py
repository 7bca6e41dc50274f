"""What validation finds and decides: findings, record outcomes, the report.

:class:`Finding` is one thing wrong with the input with its COD954 return code;
:class:`Outcome` what the return file says of one record; :class:`Report` the result of
:func:`eicodec.validate`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    import numpy as np

from ._version import __version__
from .answer_index import AnswerIndex, FileFingerprint
from .codes import return_codes
from .errors import UnreadableInputError
from .layouts import MessageSpec
from .messages_nl import check_lang, translate
from .model import Record
from .reader import fingerprint_bytes

Mode = Literal["insurer", "vecozo"]  # how a file is judged: see validate()
MODES: tuple[Mode, ...] = ("insurer", "vecozo")


class Verdict(enum.StrEnum):
    """What became of a record (compares equal to its string: ``Verdict.REJECTED == "rejected"``)."""

    APPROVED = "approved"
    REJECTED = "rejected"
    NOT_ASSESSED = "not_assessed"


class Status(enum.StrEnum):
    """What became of a file or a claim line: one type for every result, a ``str`` enum
    (``Status.APPROVED == "approved"``, ``str()`` and JSON give the value), so callers
    comparing with strings keep working.

    * :attr:`Report.status`: ``approved``, ``rejected_records``, ``rejected_file``;
    * :attr:`eicodec.FileFailure.status` (a file without a report): ``unreadable``, ``failed``;
    * :attr:`eicodec.ClaimOutcome.status` (one claim line, read from an AP305):
      ``approved``, ``rejected``, ``not_assessed``, ``rejected_with_file``, ``not_returned``.
    """

    APPROVED = "approved"
    REJECTED_RECORDS = "rejected_records"
    REJECTED_FILE = "rejected_file"
    UNREADABLE = "unreadable"
    FAILED = "failed"
    REJECTED = "rejected"
    NOT_ASSESSED = "not_assessed"
    REJECTED_WITH_FILE = "rejected_with_file"
    NOT_RETURNED = "not_returned"


def _check_code(instance: Any, attribute: Any, value: str) -> None:
    if value in return_codes().codes:  # the common case: one dict look-up
        return
    if not (isinstance(value, str) and len(value) == 4 and value.isdigit()):
        raise ValueError(f"return code must be 4 digits, not {value!r}")
    raise ValueError(f"return code {value} is not in the COD954 list in use")


def _check_level(instance: Any, attribute: Any, value: str) -> None:
    if value != "record" and value != "file":
        raise ValueError(f"level must be 'file' or 'record', not {value!r}")


@attrs.frozen(slots=True)
class Finding:
    """One thing wrong with the input, with the COD954 code it is returned with.

    The code is checked against the COD954 list in use when the finding is created.
    ``message`` is English and holds no personal data unless the caller asked for it.
    """

    code: str = attrs.field(validator=_check_code)
    level: str = attrs.field(validator=_check_level)
    line: int | None
    record_type: str | None
    rubric: str | None
    rule: str
    message: str
    provisional: bool = False

    @property
    def meaning(self) -> str:
        """The Dutch COD954 meaning of the code."""
        return return_codes().meaning(self.code)

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        """JSON-ready data; the message in *lang* (``"nl"``: Dutch where the catalogue has it)."""
        message = self.message if lang == "en" else translate(self.message, lang)[0]
        return {"code": self.code, "level": self.level, "line": self.line,
                "record_type": self.record_type, "rubric": self.rubric, "rule": self.rule,
                "message": message, "meaning": self.meaning, "provisional": self.provisional}


#: line numbers are kept as int32 (a report of a big file holds millions): a file of more
#: lines (some 770 GB of AP304) is refused, never numbered wrongly
LINE_LIMIT = (1 << 31) - 1


def _line_bytes(lines: Any) -> bytes:
    """*lines* (an int64 numpy array or a list) as int32 bytes for a store of line numbers."""
    import numpy as np

    arr = np.asarray(lines, np.int64)
    if len(arr):
        _check_line(int(arr.max()))
    return arr.astype(np.int32).tobytes()


def _check_line(line: int) -> None:
    """Refuse a line number the stores cannot hold (see :data:`LINE_LIMIT`)."""
    if line > LINE_LIMIT:
        raise UnreadableInputError(f"the file has more than {LINE_LIMIT} lines", line=line)


@attrs.frozen(slots=True)
class Outcome:
    """What the return file says of one record: its verdict and its codes (max 3 used)."""

    line: int
    record_type: str
    verdict: Verdict
    codes: tuple[str, ...]


#: indices into the few combinations of a report are kept in the narrowest type that holds
#: them ("B": up to 255, "H": up to 65,535, then "i"): millions of lines, few combinations
_NARROW = {"B": 255, "H": 65_535, "i": (1 << 31) - 1}
_WIDER = {"B": "H", "H": "i"}


def _wide_enough(which: array[int], top: int) -> array[int]:
    """*which*, or a copy of it of a wider type when index *top* does not fit its own."""
    code: str = which.typecode
    while top > _NARROW[code]:
        code = _WIDER[code]
    return which if code == which.typecode else array(code, which)


class Outcomes(Mapping[int, Outcome]):
    """Line -> :class:`Outcome`, stored compactly (a report of a big rejected file holds
    many of them): two arrays sorted by line, each line pointing at one of the few
    distinct verdict/code combinations."""

    def __init__(self) -> None:
        self._lines = array("i")  # (int32: see LINE_LIMIT)
        self._which = array("B")  # (an index into the few combinations, see _NARROW)
        self._combos: list[tuple[str, Verdict, tuple[str, ...]]] = []
        self._index: dict[tuple[str, str, tuple[str, ...]], int] = {}
        self._cursor = 0

    def _id(self, record_type: str, verdict: Verdict, codes: tuple[str, ...]) -> int:
        """The index of a combination (added when new; the indices widened to hold it)."""
        key = (record_type, verdict._value_, codes)
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self._combos)
            self._combos.append((record_type, verdict, codes))
            self._which = _wide_enough(self._which, i)
        return i

    def put(self, line: int, record_type: str, verdict: Verdict, codes: tuple[str, ...]) -> None:
        _check_line(line)
        i = self._id(record_type, verdict, codes)
        lines = self._lines
        if not lines or line > lines[-1]:  # (lines mostly come in order)
            lines.append(line)
            self._which.append(i)
            return
        k = bisect.bisect_left(lines, line)
        if k < len(lines) and lines[k] == line:
            self._which[k] = i
        else:
            lines.insert(k, line)
            self._which.insert(k, i)

    def put_many(self, lines: Any, combos: list[tuple[str, Verdict, tuple[str, ...]]], which: Any) -> None:
        """:meth:`put` of each of *lines* (increasing; a list or an int64 numpy array) with
        ``combos[which[k]]``: appended at once when they all follow the lines so far."""
        import numpy as np

        if not len(lines):
            return
        if self._lines and lines[0] <= self._lines[-1]:
            for line, k in zip(np.asarray(lines).tolist(), np.asarray(which).tolist()):
                self.put(line, *combos[k])
            return
        ids = [self._id(*combo) for combo in combos]
        self._lines.frombytes(_line_bytes(lines))
        self._which.frombytes(np.asarray(ids, self._which.typecode)[np.asarray(which, np.intp)].tobytes())

    def _find(self, line: object) -> int:
        if not isinstance(line, int):
            return -1
        lines = self._lines
        n = len(lines)
        k = self._cursor  # where the last look-up ended: look-ups in file order cost O(1)
        if not (k <= n and (k == 0 or lines[k - 1] < line) and (k == n or line <= lines[k])):
            k = self._cursor = bisect.bisect_left(lines, line)
        return k if k < n and lines[k] == line else -1

    def __getitem__(self, line: int) -> Outcome:
        k = self._find(line)
        if k < 0:
            raise KeyError(line)
        t, verdict, codes = self._combos[self._which[k]]
        return Outcome(line, t, verdict, codes)

    def __contains__(self, line: object) -> bool:
        return self._find(line) >= 0

    def __iter__(self) -> Iterator[int]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def lines_between(self, lo: int, hi: int) -> np.ndarray:
        """The lines from *lo* up to (not including) *hi* that have an outcome, ascending
        (int64, a copy)."""
        import numpy as np

        lines = self._lines
        a, b = bisect.bisect_left(lines, lo), bisect.bisect_left(lines, hi)
        return np.frombuffer(lines[a:b], np.int32).astype(np.int64) if b > a else np.zeros(0, np.int64)

    def table(self) -> tuple[np.ndarray, np.ndarray, list[tuple[str, Verdict, tuple[str, ...]]]]:
        """The outcomes as arrays: the lines (ascending, int64), each line's index into the
        combinations (int64), and the combinations (record type, verdict, codes); copies."""
        import numpy as np

        lines = np.array(self._lines, np.int64)
        which = np.array(self._which, np.int64)
        return lines, which, list(self._combos)

    def of_lines(self, lines: Iterable[int]) -> dict[int, Outcome]:
        """The outcomes of those of *lines* that have one (one sorted search for all)."""
        import numpy as np

        want = np.fromiter(lines, np.int64)
        if not len(want) or not len(self._lines):
            return {}
        have = np.frombuffer(self._lines, np.int32)
        at = np.minimum(np.searchsorted(have, want), len(have) - 1)
        combos, which = self._combos, self._which
        return {line: Outcome(line, *combos[which[k]])
                for line, k, hit in zip(want.tolist(), at.tolist(), (have[at] == want).tolist()) if hit}

    def verdicts_of_lines(self, lines: np.ndarray) -> dict[int, Outcome]:
        """:meth:`of_lines` of increasing *lines* (int64) for a caller that reads only
        ``record_type``, ``verdict`` and ``codes``: one shared :class:`Outcome` per
        combination, its ``line`` 0 (cheap for a big batch of rejected lines)."""
        import numpy as np

        if not len(lines) or not len(self._lines):
            return {}
        have = np.frombuffer(self._lines, np.int32)
        at = np.minimum(np.searchsorted(have, lines), len(have) - 1)
        hit = have[at] == lines
        which = np.frombuffer(self._which, self._which.typecode)[at[hit]]
        shared = [Outcome(0, *combo) for combo in self._combos]
        return dict(zip(lines[hit].tolist(), [shared[k] for k in which.tolist()]))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Outcomes):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"<Outcomes of {len(self)} records>"


_Combo = tuple[str, str, "str | None", "str | None", str, str, bool]


_new, _set = object.__new__, object.__setattr__


def _finding(combo: _Combo, line: int) -> Finding:
    """A :class:`Finding` of a stored combination at *line* (-1: none), built without
    checking its code and level again: the combination was checked as a Finding when it
    was first made (a big rejected file's hundreds of thousands: about 40% less time each)."""
    f: Finding = _new(Finding)
    _set(f, "code", combo[0])
    _set(f, "level", combo[1])
    _set(f, "line", None if line < 0 else line)
    _set(f, "record_type", combo[2])
    _set(f, "rubric", combo[3])
    _set(f, "rule", combo[4])
    _set(f, "message", combo[5])
    _set(f, "provisional", combo[6])
    return f


class Findings(Sequence[Finding]):
    """The findings of a report, in order, stored compactly (a big rejected file has
    hundreds of thousands): a line number and one of the few distinct combinations of
    code, level, record type, rubric, rule, message and provisional flag each. A
    :class:`Finding` is made when asked for; compares equal to any sequence of the same
    findings (e.g. a list)."""

    def __init__(self, items: Iterable[Finding] = ()) -> None:
        self._combos: list[_Combo] = []
        self._index: dict[_Combo, int] = {}
        self._which = array("B")  # (see _NARROW)
        self._lines = array("i")  # -1: no line (int32: see LINE_LIMIT)
        for f in items:
            self.append(f)

    def combo(self, code: str, level: str, record_type: str | None, rubric: str | None, rule: str,
              message: str, provisional: bool) -> int:
        """The index of a combination (checked as a Finding checks it the first time)."""
        key = (code, level, record_type, rubric, rule, message, provisional)
        i = self._index.get(key)
        if i is None:
            Finding(code, level, None, record_type, rubric, rule, message, provisional)  # validates
            i = self._index[key] = len(self._combos)
            self._combos.append(key)
            self._which = _wide_enough(self._which, i)
        return i

    def append(self, f: Finding) -> None:
        self.add(self.combo(f.code, f.level, f.record_type, f.rubric, f.rule, f.message, f.provisional), f.line)

    def add(self, combo: int, line: int | None) -> None:
        if line is not None:
            _check_line(line)
        if combo > _NARROW[self._which.typecode]:
            self._which = _wide_enough(self._which, combo)
        self._which.append(combo)
        self._lines.append(-1 if line is None else line)

    def add_many(self, combo: int, lines: Any) -> None:
        """:meth:`add` of *combo* at each of *lines* (an int64 numpy array)."""
        import numpy as np

        self._which = _wide_enough(self._which, combo)
        self._which.frombytes(np.full(len(lines), combo, self._which.typecode).tobytes())
        self._lines.frombytes(_line_bytes(lines))

    def line_numbers(self) -> Any:
        """The findings' lines as an int32 numpy array (-1: no line), a view: not to change."""
        import numpy as np

        return np.frombuffer(self._lines, np.int32) if len(self._lines) else np.zeros(0, np.int32)

    def levels(self) -> set[str]:
        """The levels of the findings held."""
        used = set(self._which)
        return {self._combos[i][1] for i in used}

    def reorder(self, order: Any, start: int = 0) -> Findings:
        """Put the findings from *start* on in *order* (a permutation of them, as a numpy
        array of indices from *start*), in place (no second copy of a big store); returns
        this store."""
        import numpy as np

        if len(self._which) > start:
            which = np.frombuffer(self._which, self._which.typecode)[start:]
            which[:] = which[order]
            lines = np.frombuffer(self._lines, np.int32)[start:]
            lines[:] = lines[order]
            del which, lines  # (views block resizing the arrays)
        return self

    def reordered(self, order: Any) -> Findings:
        """A copy with the findings in *order* (a numpy array of indices into this one, or
        a boolean mask of those to keep)."""
        import numpy as np

        out = Findings()
        out._combos, out._index, out._which = self._combos, self._index, array(self._which.typecode)
        if len(self._which):  # (from the arrays' own buffers: no bytes copy on the way)
            out._which.frombytes(memoryview(np.frombuffer(self._which, self._which.typecode)[order]).cast("B"))
            out._lines.frombytes(memoryview(np.frombuffer(self._lines, np.int32)[order]).cast("B"))
        return out

    def of_level(self, level: str) -> Findings:
        """A copy holding only the findings of *level*, in order (still compact)."""
        import numpy as np

        keep = [i for i, c in enumerate(self._combos) if c[1] == level]
        which = np.frombuffer(self._which, self._which.typecode) if len(self._which) else np.zeros(0, np.int32)
        return self.reordered(np.isin(which, keep))  # (a mask: no index array as big as the store)

    def take_out(self, level: str) -> Findings:
        """The findings of *level*, moved into a new store (in order); this one keeps the
        others, compacted in place a slice at a time (no second copy of a big store)."""
        import numpy as np

        out = Findings()
        out._combos, out._index, out._which = self._combos, self._index, array(self._which.typecode)
        n = len(self._which)
        if not n:
            return out
        moved = np.array([c[1] == level for c in self._combos], bool)
        kept = 0
        step = 1 << 16
        for a in range(0, n, step):
            which = np.frombuffer(self._which, self._which.typecode)[a:a + step]
            lines = np.frombuffer(self._lines, np.int32)[a:a + step]
            going = moved[which]
            if going.any():
                out._which.frombytes(which[going].tobytes())
                out._lines.frombytes(lines[going].tobytes())
            staying = ~going
            k = int(staying.sum())
            stay_which, stay_lines = which[staying], lines[staying]  # (copies: then written back)
            np.frombuffer(self._which, self._which.typecode)[kept:kept + k] = stay_which
            np.frombuffer(self._lines, np.int32)[kept:kept + k] = stay_lines
            kept += k
            del which, lines, going, staying, stay_which, stay_lines  # (views block resizing)
        del self._which[kept:], self._lines[kept:]
        return out

    def _make(self, k: int) -> Finding:
        return _finding(self._combos[self._which[k]], self._lines[k])

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return [self._make(k) for k in range(*i.indices(len(self)))]
        n = len(self._which)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("finding index out of range")
        return self._make(i)

    def __len__(self) -> int:
        return len(self._which)

    def __iter__(self) -> Iterator[Finding]:
        combos = self._combos
        for w, line in zip(self._which, self._lines):
            yield _finding(combos[w], line)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Findings):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __repr__(self) -> str:
        return f"<Findings: {len(self)}>"


@attrs.define
class Report:
    """The result of :func:`validate`.

    ``outcomes`` holds every record the return file carries because of a rejection
    (rejected records and the records that go back with them); a record not in it was
    approved and, in insurer mode, is not returned.

    A file rejected at file level is not assessed record by record (STB §6.4.1: "Er
    volgt geen verdere controle op recordniveau"): its ``findings`` are the file-level
    ones (the answer: the AP305 voorlooprecord carries their codes), ``outcomes`` is
    empty, every record's verdict is ``not_assessed``, and the record-level findings the
    engine made anyway are kept apart in ``unassessed``, for the sender's information
    only (no return code of theirs goes into the AP305).
    """

    spec: MessageSpec
    mode: Mode
    status: Status
    findings: Sequence[Finding]
    outcomes: Outcomes
    counts: dict[str, int]
    encoding: str
    #: see the property :attr:`fingerprint`
    _fingerprint: str | FileFingerprint = attrs.field(
        alias="fingerprint", eq=attrs.cmp_using(eq=lambda a, b: _resolved(a) == _resolved(b), require_same_type=False))
    header_raw: str
    bom: bool = False
    unassessed: Sequence[Finding] = attrs.field(factory=list)
    #: the file it came from: its path as given, or ``<bytes #i>`` (set by ``validate_many``
    #: and by ``validate`` for a path), None when not known
    source: str | None = None
    #: the date the file's dates were checked against (and its return file's date)
    checked_on: dt.date | None = None
    #: the line of the voorlooprecord ``header_raw`` is the text of
    header_line: int | None = None
    #: the sluitrecord's text as read between voorlooprecord and end (None: none there)
    trailer_raw: str | None = None
    #: the signed sums of the amounts the trailer totals add up, by summed rubric, where
    #: exact for the whole file (see ``engine._Run.exact_sums``): with ``header_raw`` and
    #: ``trailer_raw`` what a return file without detail records is made of
    amount_sums: dict[str, int] = attrs.field(factory=dict)
    #: the same sums of the amounts without their D/C (where exact): the return file's
    #: builder bounds the awarded total with them (it cannot overflow: one pass)
    amount_magnitudes: dict[str, int] = attrs.field(factory=dict)
    #: where the groups with an outcome lie in the file, and the file's stamp (see
    #: :mod:`eicodec.answer_index`): the answer reads only those (None: not kept)
    answer_index: AnswerIndex | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.status is Status.REJECTED_FILE:  # STB §6.4.1: no record is assessed
            found = self.findings if isinstance(self.findings, Findings) else Findings(self.findings)
            if "record" in found.levels():  # (validate hands them over apart already)
                record = found.of_level("record")
                self.unassessed = Findings([*self.unassessed, *record]) if self.unassessed else record
                found = found.of_level("file")
            self.findings = found
            self.outcomes = Outcomes()

    @property
    def fingerprint(self) -> str:
        """The input's fingerprint (CRC-32 and size of its bytes, see
        :func:`~eicodec.reader.fingerprint_of`). Of a file validated by its path it is
        taken when first asked for (one more reading of the file, then kept), if the file
        is still as validated (its stamp, see :mod:`eicodec.answer_index`); ``""`` when it
        changed, moved or went in between. Ask for it before moving the file to keep it."""
        found = self._fingerprint
        if not isinstance(found, str):
            found = self._fingerprint = found()
        return found

    def __repr__(self) -> str:
        counts = ", ".join(f"{t}: {n}" for t, n in sorted(self.counts.items()))
        day = f", checked on {self.checked_on.isoformat()}" if self.checked_on else ""
        name = f" {self.source}" if self.source else ""
        return (f"<Report{name} {self.spec.name} {self.status.value} ({self.mode}{day}): records {counts}; "
                f"{len(self.findings)} finding(s), {len(self.outcomes)} returned record(s)>")

    @property
    def file_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "file"]

    @property
    def record_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "record"]

    def verdict(self, line: int) -> Verdict:
        """Verdict of the record on *line* (records not in ``outcomes`` were approved;
        in a file rejected at file level no record was assessed)."""
        if self.status is Status.REJECTED_FILE:
            return Verdict.NOT_ASSESSED
        return self.outcomes[line].verdict if line in self.outcomes else Verdict.APPROVED

    def codes(self, line: int) -> tuple[str, ...]:
        """Return codes of the record on *line* (empty for an approved record)."""
        return self.outcomes[line].codes if line in self.outcomes else ()

    def code_counts(self) -> Counter[str]:
        return Counter(f.code for f in self.findings)

    def to_dict(self, *, file: str | None = None, show_values: bool = False, lang: str = "en") -> dict[str, Any]:
        """The report as JSON-ready data: exactly what ``eicodec validate --format json``
        prints (see :mod:`eicodec.report_json`; *file* names the input; *lang* ``"nl"``
        gives the findings' messages in Dutch)."""
        return report_to_dict(self, file=file, show_values=show_values, lang=lang)


#: the format of :meth:`Report.to_dict` (and of :mod:`eicodec.report_json`); bumped when a
#: key changes meaning or goes away
FORMAT = "eicodec-report/1"


def report_summary(report: Report, file: str | None, show_values: bool, retour: str | None = None,
                   error: tuple[str, str] | None = None, lang: str = "en") -> dict[str, Any]:
    """Everything of :func:`report_to_dict` but the findings."""
    return {
        "format": FORMAT,
        "eicodec_version": __version__,
        "file": file,
        "status": report.status.value,
        "message_type": report.spec.name,
        "mode": report.mode,
        "encoding": report.encoding,
        "fingerprint": report.fingerprint,
        "checked_on": report.checked_on.isoformat() if report.checked_on else None,
        "show_values": show_values,
        "lang": check_lang(lang),
        "record_counts": dict(sorted(report.counts.items())),
        "code_counts": dict(sorted(report.code_counts().items())),
        "findings_count": len(report.findings),
        "file_findings_count": sum(1 for f in report.findings if f.level == "file"),
        "unassessed_count": len(report.unassessed),
        "retour": retour,
        "error_type": error[0] if error else None,
        "message": error[1] if error else None,
    }


def report_to_dict(report: Report, *, file: str | None = None, show_values: bool = False,
                   retour: str | None = None, error: tuple[str, str] | None = None,
                   lang: str = "en") -> dict[str, Any]:
    """The whole report as one JSON-ready dict (what ``eicodec validate --format json``
    prints; :mod:`eicodec.report_json` writes it).

    *file* is the name the report is about (the CLI's argument; ``"-"`` for stdin);
    *show_values* states whether the report was made with ``validate(show_values=True)``,
    i.e. whether messages may hold values from the input (personal data); *error*
    (error type, message) says why the return file asked for was not written; *lang*
    (``"en"``, the default, or ``"nl"``) is the language of the findings' messages.
    """
    out = report_summary(report, file, show_values, retour, error, lang)
    out["findings"] = [f.to_dict(lang) for f in report.findings]
    out["unassessed"] = [f.to_dict(lang) for f in report.unassessed]
    return out


def _resolved(fingerprint: str | FileFingerprint) -> str:
    return fingerprint if isinstance(fingerprint, str) else fingerprint()


def fingerprint_records(records: Iterable[Record], encoding: str = "utf-8", bom: bool = False) -> str:
    """The fingerprint of the file *records* make (as :func:`validate` reports it)."""
    enc = "utf-8" if encoding in ("", "str") else encoding

    def chunks() -> Iterator[bytes]:
        if bom:
            yield b"\xef\xbb\xbf"
        for rec in records:
            yield (rec.raw + rec.terminator).encode(enc, "surrogatepass")
    return fingerprint_bytes(chunks())
