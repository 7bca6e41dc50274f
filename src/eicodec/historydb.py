"""Where a claim history lives: a SQLite file (the standard library's ``sqlite3``), or
any database SQLAlchemy reaches by URL -- PostgreSQL for many workers
(``pip install eicodec[postgres]``: SQLAlchemy and psycopg).

:func:`connect` gives a :class:`Database`: the few operations :mod:`eicodec.history`
needs (run one SQL statement with ``:name`` parameters, a transaction, the schema
version), so the history's SQL is written once for every backend. A plain path never
needs SQLAlchemy; a URL (``sqlite:///claims.sqlite``, ``postgresql://user@host/db``) does.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import EicodecError

#: The table of the schema version where the database has no ``PRAGMA user_version``.
VERSION_TABLE = "eicodec_history_schema"


def is_url(where: str) -> bool:
    """Whether *where* is a database URL (``dialect://...``), not a file path."""
    head, sep, _ = where.partition("://")
    return bool(sep) and head.replace("+", "").replace("_", "").isalnum()


class Database:
    """One connection to a history's database (see :func:`connect`)."""

    #: ``sqlite`` or ``postgresql`` (or another SQLAlchemy dialect's name)
    dialect: str
    #: how messages name it: a file name, or the URL without its password
    name: str
    #: the column that orders rows as they were added
    order: str
    #: the driver's errors (each becomes an :class:`~eicodec.errors.EicodecError`)
    errors: tuple[type[BaseException], ...]

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run *sql* and return its rows ([] for a statement without rows)."""
        raise NotImplementedError

    def count(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run *sql* and return the number of rows it changed."""
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """A write transaction (committed at the end, rolled back on an error)."""
        raise NotImplementedError

    def schema_version(self) -> int:
        raise NotImplementedError

    def set_schema_version(self, version: int) -> None:
        raise NotImplementedError

    def columns(self, table: str) -> set[str]:
        """The column names of *table* (empty when there is no such table)."""
        raise NotImplementedError

    def lock_schema(self) -> None:
        """In a transaction: wait until no other process changes the schema."""

    def close(self) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    """A SQLite file (or ``:memory:``) through the standard library."""

    dialect = "sqlite"
    order = "rowid"
    errors = (sqlite3.Error,)

    def __init__(self, path: str) -> None:
        self.name = Path(path).name
        # timeout: another process writing the same file waits its turn;
        # isolation_level None: transactions are begun here (BEGIN IMMEDIATE)
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self._in_tx = False

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params or {}).fetchall()

    def count(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return max(self._db.execute(sql, params or {}).rowcount, 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_tx:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")  # the write lock now: no upgrade deadlock later
        self._in_tx = True
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._in_tx = False

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self._db.execute(f"PRAGMA user_version = {int(version)}")

    def columns(self, table: str) -> set[str]:
        return {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}

    def close(self) -> None:
        self._db.close()


class SqlAlchemyDatabase(Database):
    """A database by URL through SQLAlchemy Core (PostgreSQL: with psycopg)."""

    order = "id"

    def __init__(self, url: str) -> None:
        try:
            import sqlalchemy
        except ImportError:
            raise EicodecError("a claim history by URL needs SQLAlchemy (and for PostgreSQL psycopg): "
                               "pip install eicodec[postgres]") from None
        self._sa = sqlalchemy
        parsed = sqlalchemy.engine.make_url(url)
        if parsed.drivername == "postgresql":  # psycopg 3, the extra's driver
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.name = parsed.render_as_string(hide_password=True)
        self.dialect = parsed.get_backend_name()
        self.order = "rowid" if self.dialect == "sqlite" else "id"
        self.errors = (sqlalchemy.exc.SQLAlchemyError,)
        try:
            self._engine = sqlalchemy.create_engine(parsed, poolclass=sqlalchemy.pool.NullPool)
            self._conn = self._engine.connect()
        except ImportError as exc:
            raise EicodecError(f"claim history {self.name}: its database driver is missing ({exc}); "
                               "pip install eicodec[postgres]") from None
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise EicodecError(f"cannot open claim history {self.name}: {first_line(exc)}") from None
        self._tx: Any = None

    @contextlib.contextmanager
    def _auto(self) -> Iterator[None]:
        if self._tx is not None:
            yield
            return
        with self._conn.begin():
            yield

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self._auto():
            result = self._conn.execute(self._sa.text(sql), dict(params or {}))
            return [tuple(r) for r in result] if result.returns_rows else []

    def count(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        with self._auto():
            return max(int(self._conn.execute(self._sa.text(sql), dict(params or {})).rowcount), 0)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._tx is not None:
            yield
            return
        with self._conn.begin() as tx:
            self._tx = tx
            try:
                yield
            finally:
                self._tx = None

    def lock_schema(self) -> None:
        if self.dialect == "postgresql":  # CREATE TABLE IF NOT EXISTS races in PostgreSQL
            self.rows("SELECT pg_advisory_xact_lock(7305304)")

    def schema_version(self) -> int:
        if self.dialect == "sqlite":
            return int(self.rows("PRAGMA user_version")[0][0])
        if not self.columns(VERSION_TABLE):
            return 1 if self.columns("claim_lines") else 0
        got = self.rows(f"SELECT MAX(version) FROM {VERSION_TABLE}")
        return int(got[0][0] or 0)

    def set_schema_version(self, version: int) -> None:
        if self.dialect == "sqlite":
            self.rows(f"PRAGMA user_version = {int(version)}")
            return
        self.rows(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)")
        self.rows(f"DELETE FROM {VERSION_TABLE}")
        self.rows(f"INSERT INTO {VERSION_TABLE} (version) VALUES (:v)", {"v": int(version)})

    def columns(self, table: str) -> set[str]:
        if self.dialect == "sqlite":
            return {r[1] for r in self.rows(f"PRAGMA table_info({table})")}
        return {r[0] for r in self.rows("SELECT column_name FROM information_schema.columns "
                                        "WHERE table_name = :t AND table_schema = current_schema()", {"t": table})}

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()


def first_line(exc: BaseException) -> str:
    """The first line of a database error (no SQL, no parameters: they may hold references)."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def connect(where: str) -> Database:
    """The database of a history: a URL through SQLAlchemy, else a SQLite file (made
    when it does not exist) or ``:memory:``. Raises :class:`~eicodec.errors.EicodecError`
    when it cannot be reached."""
    if is_url(where):
        return SqlAlchemyDatabase(where)
    try:
        return SqliteDatabase(where)
    except sqlite3.Error as exc:
        raise EicodecError(f"cannot open claim history {Path(where).name}: {first_line(exc)}") from None
