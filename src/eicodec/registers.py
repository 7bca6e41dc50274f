"""Registers a code is looked up in (AGB, UZOVI): an optional, pluggable source.

Off by default. ``validate(..., registers={"agb": "agb.csv", "uzovi": lookup})`` turns
the rules of kind ``register`` on for the registers given (the others do not run): a
filled field whose code the register does not hold is a finding with the rule's code.
A register is a CSV file (a ``code`` column, or the first column; ``,`` or ``;``), an
SQLite file (table named like the register, else ``codes``, with a ``code`` column),
any collection of codes, or any callable ``code -> bool``. Nothing is downloaded: the
user supplies the files (README: where to get them).
"""

from __future__ import annotations

import csv
import os
import sqlite3
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Union

from .errors import EicodecError

#: What a register may be given as: a path (CSV or SQLite), a collection of codes or a callable.
RegisterSource = Union[str, "os.PathLike[str]", Collection[str], Callable[[str], bool]]

_SQLITE_MAGIC = b"SQLite format 3\x00"


class RegisterError(EicodecError):
    """A register file that cannot be read."""


def _read_csv(path: Path) -> frozenset[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegisterError(f"cannot read register {path.name}: {exc}") from None
    lines = text.splitlines()
    if not lines:
        return frozenset()
    delim = ";" if lines[0].count(";") > lines[0].count(",") else ","
    rows = list(csv.reader(lines, delimiter=delim))
    head = [h.strip().lower() for h in rows[0]]
    col = head.index("code") if "code" in head else 0
    body = rows[1:] if "code" in head or not rows[0][0].strip().isdigit() else rows
    return frozenset(r[col].strip() for r in body if len(r) > col and r[col].strip())


class _Sqlite:
    """Lookups in an SQLite file (opened read-only, once per lookup batch)."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            finally:
                con.close()
        except sqlite3.Error as exc:
            raise RegisterError(f"cannot read register {path.name}: {exc}") from None
        table = name if name in tables else "codes" if "codes" in tables else None
        if table is None:
            raise RegisterError(f"register {path.name} has no table {name!r} or 'codes'")
        self.table = table

    def known(self, codes: Iterable[str]) -> set[str]:
        wanted = sorted(set(codes))
        found: set[str] = set()
        try:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                for k in range(0, len(wanted), 500):
                    part = wanted[k:k + 500]
                    sql = f'SELECT code FROM "{self.table}" WHERE code IN ({",".join("?" * len(part))})'
                    found.update(str(r[0]) for r in con.execute(sql, part))
            finally:
                con.close()
        except sqlite3.Error as exc:
            raise RegisterError(f"cannot read register {self.path.name}: {exc}") from None
        return found


class Register:
    """One register: which of some codes it holds (:meth:`known`)."""

    def __init__(self, name: str, source: RegisterSource) -> None:
        self.name = name
        self._codes: frozenset[str] | None = None
        self._call: Callable[[str], bool] | None = None
        self._sqlite: _Sqlite | None = None
        self._asked: dict[str, bool] = {}  # (a callable's answers: each code asked once)
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            try:
                with path.open("rb") as fh:
                    magic = fh.read(len(_SQLITE_MAGIC))
            except OSError as exc:
                raise RegisterError(f"cannot open register {path.name}: {exc.strerror}") from None
            if magic == _SQLITE_MAGIC:
                self._sqlite = _Sqlite(path, name)
            else:
                self._codes = _read_csv(path)
        elif callable(source):
            self._call = source
        else:
            self._codes = frozenset(str(c).strip() for c in source)

    def known(self, codes: Iterable[str]) -> set[str]:
        """The codes of *codes* the register holds."""
        if self._codes is not None:
            return {c for c in codes if c in self._codes}
        if self._sqlite is not None:
            return self._sqlite.known(codes)
        assert self._call is not None
        out = set()
        for c in set(codes):
            hit = self._asked.get(c)
            if hit is None:
                hit = self._asked[c] = bool(self._call(c))
            if hit:
                out.add(c)
        return out


class Registers:
    """The registers of one validation, by name (``agb``, ``uzovi``, or any other a rules
    file names)."""

    def __init__(self, registers: Mapping[str, RegisterSource | Register] | None = None) -> None:
        self.by_name: dict[str, Register] = {
            name: src if isinstance(src, Register) else Register(name, src) for name, src in (registers or {}).items()}

    @classmethod
    def of(cls, source: Registers | Mapping[str, RegisterSource | Register] | None) -> Registers:
        return source if isinstance(source, Registers) else cls(source)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __bool__(self) -> bool:
        return bool(self.by_name)

    def get(self, name: str) -> Register | None:
        return self.by_name.get(name)


def parse_option(values: Iterable[str]) -> dict[str, str]:
    """``NAME=PATH`` items (the CLI's ``--register``) as a mapping."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise RegisterError(f"--register takes NAME=PATH (e.g. agb=agb.csv), not {v!r}")
        out[name.strip().lower()] = path.strip()
    return out
