"""Many files: validate them in parallel, on this machine or on a cluster.

:func:`validate_many` yields one result per input, in input order, and never stops at a
file it cannot read: such a file gives a :class:`FileFailure` (status ``unreadable`` or
``failed``, the error's type and message, no traceback) where a readable one gives its
:class:`~eicodec.validator.Report`. Every result says which input it is (``source``: the
path as given, or ``<bytes #i>``); ``status`` is a :class:`~eicodec.Status` (a ``str``
enum: ``result.status == "approved"`` works for both). The work is a pure function of (source, options)
(:func:`validate_one`), so any :class:`concurrent.futures.Executor` runs it: a local
process pool (``jobs=``), or a Dask cluster's ``distributed.Client(...).get_executor()``.
Results pickle.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import attrs

from .engine import validate
from .errors import EicodecError, UnreadableInputError
from .findings import Report, Status
from .reader import Source


@attrs.frozen
class FileFailure:
    """A file that got no report.

    ``status`` is ``unreadable`` (not an EI file, missing, a folder, no permission, bytes
    that do not decode) or ``failed`` (an error while validating: a bug of eicodec or a
    lost worker). ``error_type`` is the exception's class name; ``message`` holds no
    personal data (for an error that is not eicodec's own only its type is told).
    """

    source: str
    status: Status = attrs.field(converter=Status)
    error_type: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "status": self.status, "error_type": self.error_type,
                "message": self.message}


Result = Report | FileFailure
T = TypeVar("T")
R = TypeVar("R")


def describe(source: Any, index: int | None = None) -> str:
    """How a source is named in a result: its path, or ``<bytes #i>`` for content."""
    if isinstance(source, (str, os.PathLike)) and not (isinstance(source, str) and ("\n" in source or "\r" in source)):
        return os.fspath(source)
    return f"<{type(source).__name__} #{index if index is not None else '?'}>"


def failure(source: str, exc: BaseException) -> FileFailure:
    """The result of a file whose validation raised *exc*."""
    if isinstance(exc, UnreadableInputError):
        return FileFailure(source, "unreadable", type(exc).__name__, str(exc))
    if isinstance(exc, OSError):
        return FileFailure(source, "unreadable", type(exc).__name__, exc.strerror or type(exc).__name__)
    if isinstance(exc, EicodecError):
        return FileFailure(source, "failed", type(exc).__name__, str(exc))
    return FileFailure(source, "failed", type(exc).__name__,
                       f"internal error ({type(exc).__name__}); please report it")


def validate_one(source: Source, kwargs: dict[str, Any], name: str | None = None) -> Result:
    """Validate one source; never raises for a bad file (pure: runs in any worker)."""
    try:
        report = validate(source, **kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a result
        return failure(name or describe(source), exc)
    report.source = name or describe(source)
    report.fingerprint  # noqa: B018  (taken here, where the file is: the report may travel)
    return report


@attrs.frozen
class _Validate:
    """The picklable job of :func:`validate_many`: :func:`validate_one` with its options."""

    kwargs: dict[str, Any]

    def __call__(self, source: Source, name: str) -> Result:
        return validate_one(source, self.kwargs, name)


def validate_many(sources: Iterable[Source], *, jobs: int | None = None,
                  executor: concurrent.futures.Executor | None = None, **kwargs: Any) -> Iterator[Result]:
    """Validate several files; yields one result per source, in the order given.

    *sources* are paths, bytes or anything :func:`~eicodec.validate` reads; *kwargs* are
    those of :func:`~eicodec.validate`. With ``executor`` (any
    :class:`concurrent.futures.Executor`, e.g. a Dask cluster's
    ``client.get_executor()``), the files are validated there: paths must then be
    readable by the workers. Otherwise ``jobs`` local processes are used (default: the
    number of CPUs; 1 validates in this process). A file that cannot be validated gives
    a :class:`FileFailure` in its place; the other files still get their reports.
    """
    items = list(sources)
    names = [describe(s, i) for i, s in enumerate(items)]
    yield from run_ordered(_Validate(kwargs), items, names, failure, jobs=jobs, executor=executor)


def run_ordered(work: Callable[[T, str], R], items: Sequence[T], names: Sequence[str],
                fail: Callable[[str, BaseException], R], *, jobs: int | None = None,
                executor: concurrent.futures.Executor | None = None) -> Iterator[R]:
    """``work(item, name)`` for each item, yielded in input order: the engine of
    :func:`validate_many` and of ``eicodec validate --jobs``. *work* must be picklable
    for a process pool or cluster; a job that raises (lost worker, unpicklable input)
    gives ``fail(name, exc)`` in its place. With *executor* every job is submitted
    there; else ``jobs`` local processes (default: the CPUs; 1: in this process), at
    most ``4 * jobs`` jobs ahead of the one being yielded, so memory stays flat."""
    if executor is not None:
        yield from _run(executor, work, items, names, fail, window=None)
        return
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(items) < 2:
        for item, name in zip(items, names):
            try:
                yield work(item, name)
            except Exception as exc:  # noqa: BLE001 - every job gives its result
                yield fail(name, exc)
        return
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(jobs, len(items))) as pool:
        yield from _run(pool, work, items, names, fail, window=4 * jobs)


def _run(executor: concurrent.futures.Executor, work: Callable[[T, str], R], items: Sequence[T],
         names: Sequence[str], fail: Callable[[str, BaseException], R], window: int | None) -> Iterator[R]:
    """Submit the jobs (at most *window* ahead of the one being yielded) and yield their
    results in input order; a job that raises (lost worker, unpicklable input) fails alone."""
    pending: deque[tuple[str, concurrent.futures.Future[R] | _Failed]] = deque()
    todo = iter(zip(items, names))

    def submit_next() -> bool:
        nxt = next(todo, None)
        if nxt is None:
            return False
        item, name = nxt
        try:
            pending.append((name, executor.submit(work, item, name)))
        except Exception as exc:  # noqa: BLE001 - e.g. the executor is shut down
            pending.append((name, _Failed(exc)))
        return True

    while (window is None or len(pending) < window) and submit_next():
        pass
    try:
        while pending:
            name, fut = pending.popleft()
            result: R
            if isinstance(fut, _Failed):
                result = fail(name, fut.exc)
            else:
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001
                    result = fail(name, exc)
            yield result
            if window is not None:
                submit_next()
    finally:
        for _, fut in pending:
            if not isinstance(fut, _Failed):
                fut.cancel()


@attrs.frozen
class _Failed:
    exc: BaseException
