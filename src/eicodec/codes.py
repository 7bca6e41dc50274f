"""Code lists: the COD954 return codes and the code lists of COD fields.

The shipped COD954 list is incomplete (see README). Load the official list exported
from Vektis with :func:`use_return_codes`, or pass ``codes=`` to the validator; no code
change is needed.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs

from .errors import EicodecError
from .layouts import data_dir


@attrs.frozen
class ReturnCode:
    """One COD954 return code with its Dutch meaning."""

    code: str
    meaning: str
    explanation: str = ""


@attrs.frozen
class CodeTable:
    """A COD954 list (code -> :class:`ReturnCode`)."""

    codes: Mapping[str, ReturnCode]
    source: str = ""

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    def __iter__(self) -> Iterator[str]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    def meaning(self, code: str) -> str:
        """The Dutch meaning of *code* ("" when the list does not have it)."""
        rc = self.codes.get(code)
        return rc.meaning if rc else ""

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> CodeTable:
        """Read a code list CSV: eicodec's own columns, or a Vektis export.

        The first column whose header says ``code`` holds the code, the one saying
        ``meaning``/``betekenis``/``omschrijving`` the text; ``,`` and ``;`` both work.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            text = p.read_text(encoding="cp1252")
        except OSError as exc:
            raise EicodecError(f"cannot read code list {p}: {exc.strerror}") from None
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        rows = list(csv.reader(io.StringIO(text), dialect))
        if not rows:
            raise EicodecError(f"code list {p} is empty")
        head = [h.strip().lower() for h in rows[0]]

        def col(*names: str) -> int | None:
            for i, h in enumerate(head):
                if any(n in h for n in names):
                    return i
            return None

        ci = col("code")
        mi = col("meaning", "betekenis", "omschrijving", "description")
        ei = col("explanation", "toelichting")
        if ci is None or mi is None:
            raise EicodecError(f"code list {p}: no 'code' and 'meaning'/'betekenis' columns")
        codes = {}
        for row in rows[1:]:
            if len(row) <= max(ci, mi) or not row[ci].strip():
                continue
            code = row[ci].strip()
            codes[code] = ReturnCode(code, row[mi].strip(),
                                     row[ei].strip() if ei is not None and ei < len(row) else "")
        return cls(codes, str(p))


_active: list[CodeTable] = []


def return_codes() -> CodeTable:
    """The COD954 list in use (the shipped one unless :func:`use_return_codes` was called)."""
    if not _active:
        _active.append(CodeTable.from_csv(data_dir() / "codelists" / "COD954.csv"))
    return _active[-1]


def use_return_codes(path: str | os.PathLike[str] | None) -> CodeTable:
    """Use the COD954 list in *path* from now on (None: back to the shipped list)."""
    table = CodeTable.from_csv(path) if path is not None else CodeTable.from_csv(
        data_dir() / "codelists" / "COD954.csv")
    _active.clear()
    _active.append(table)
    return table


@functools.cache
def codelist_file(path: str) -> frozenset[str]:
    """The codes of the code list file at *path* (a CSV with a ``code`` column)."""
    with open(path, encoding="utf-8", newline="") as fh:
        return frozenset(row["code"] for row in csv.DictReader(fh))


@functools.cache
def codelist(list_id: str) -> frozenset[str] | None:
    """The codes of a shipped field code list (e.g. ``"COD134"``), or None if not shipped."""
    path = data_dir() / "codelists" / f"{list_id}.csv"
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", newline="") as fh:
        return frozenset(row["code"] for row in csv.DictReader(fh))
