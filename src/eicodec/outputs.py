"""Where the command line writes, and how: never over an input, never one answer over
another, never a half-written file left behind.

* :func:`check_not_input` refuses an output path that is also an input (the same file
  by ``os.path.samefile``, or the same resolved path when it does not exist yet).
* :func:`answer_paths` names the AP305 of each input in a folder: ``<stem>.ap305.asc``;
  only where two different inputs would get one name, their answers mirror their
  folders below those inputs' common folder (``a/x.asc`` -> ``OUT/a/x.ap305.asc``) or
  keep their suffix (``x.asc``, ``x.txt`` -> ``OUT/x.asc.ap305.asc``, ``OUT/x.txt.ap305.asc``),
  so no answer replaces another. Linear in the number of inputs.
* :func:`atomic_output` writes through a temporary ``.<name>.<random>.part`` file in the
  target's folder, renamed over the target only when everything was written; on any
  error, on Ctrl-C (SIGINT) and on SIGTERM the temporary file is removed, so no partial
  file (which may hold personal records) stays on disk. While it is written only its
  owner can read it; the finished file gets the mode a plain ``open()`` would give.

Every refusal raises :class:`OutputConflict`; the CLI turns it into exit status 2.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

#: The suffix of an AP305 written next to others in a folder.
ANSWER_SUFFIX = ".ap305.asc"

def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


# The mode a plain open() would give a new file (mkstemp's files are private: 0600).
_FILE_MODE = 0o666 & ~_umask()

# Temporary files of this process not yet renamed; removed by the signal handler.
_LIVE: set[str] = set()
_LOCK = threading.Lock()


class OutputConflict(Exception):
    """An output the command line refuses to write (exit status 2)."""


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether *a* and *b* name the same file (hard links and symlinks included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_not_input(target: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]],
                    what: str = "output") -> None:
    """Raise :class:`OutputConflict` when *target* is one of *inputs* ("-" is stdout)."""
    if str(target) == "-":
        return
    for src in inputs:
        if str(src) != "-" and same_file(target, src):
            raise OutputConflict(f"{what} {target} is also an input file; refusing to overwrite it")


def _stem(name: str) -> str:
    """*name* without its last suffix (``x.asc`` -> ``x``; ``.hidden`` stays)."""
    return name.rsplit(".", 1)[0] if "." in name[1:] else name


def _file_id(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file *path* names (links followed), None if there is none."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def answer_paths(inputs: Sequence[str], folder: str | os.PathLike[str]) -> list[Path]:
    """The AP305 path in *folder* for each input, distinct for distinct inputs.

    Named after the path as given, never after a link's target: ``x.asc`` ->
    ``FOLDER/x.ap305.asc``. Where inputs clash, and only there: inputs in different
    folders mirror their folder below the clashing inputs' common folder (``a/x.asc``,
    ``b/x.asc`` -> ``FOLDER/a/x.ap305.asc``, ``FOLDER/b/x.ap305.asc``); inputs in one
    folder that differ only in their suffix keep it (``x.asc``, ``x.txt`` ->
    ``x.asc.ap305.asc``, ``x.txt.ap305.asc``); a name still taken gets ``-2``, ``-3``...
    The same path given twice gets the same answer. ``-`` (standard input) is named
    ``stdin``. Paths are compared as written (made absolute, ``..`` folded), so a
    dangling or unreadable input is named like any other and fails alone later.

    Linear in the number of inputs: one ``stat`` per input and per answer. Raises
    :class:`OutputConflict` when an answer would replace an input (the same file, by
    device and inode, or the same path).
    """
    base = Path(folder)
    given = [os.path.normpath(os.path.abspath(p)) if p != "-" else "-" for p in inputs]
    names = [os.path.basename(g) if g != "-" else "stdin" for g in given]
    flat: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        flat.setdefault(_stem(name), []).append(i)
    rel: list[str] = [""] * len(inputs)  # each answer's name below *folder*
    for stem, members in flat.items():
        distinct = {given[i] for i in members}
        if len(distinct) == 1:
            for i in members:
                rel[i] = stem + ANSWER_SUFFIX
            continue
        parents = {i: os.path.dirname(given[i]) if given[i] != "-" else os.getcwd() for i in members}
        common = os.path.commonpath(list(parents.values())) if len(set(parents.values())) > 1 else None
        place = {i: os.path.relpath(parents[i], common) if common else "." for i in members}
        in_place: dict[str, set[str]] = {}
        for i in members:
            in_place.setdefault(place[i], set()).add(names[i])
        for i in members:
            name = names[i] if len(in_place[place[i]]) > 1 else stem
            rel[i] = os.path.normpath(os.path.join(place[i], name + ANSWER_SUFFIX))
    taken: dict[str, str] = {}  # answer -> the input it belongs to
    for i, r in enumerate(rel):
        candidate, n = r, 1
        while taken.get(candidate, given[i]) != given[i]:  # another input's answer: number it
            n += 1
            candidate = r[: -len(ANSWER_SUFFIX)] + f"-{n}" + ANSWER_SUFFIX
        taken[candidate] = given[i]
        rel[i] = candidate
    targets = [base / r for r in rel]
    ids = {fid for g in given if g != "-" and (fid := _file_id(g)) is not None}
    paths = set(given)
    for t in dict.fromkeys(targets):
        if os.path.normpath(os.path.abspath(t)) in paths or _file_id(str(t)) in ids:
            raise OutputConflict(f"return file {t} is also an input file; refusing to overwrite it")
    return targets


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _remove_live()
    raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)


def _remove_live() -> None:
    with _LOCK:
        for tmp in list(_LIVE):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            _LIVE.discard(tmp)


@contextlib.contextmanager
def _signals_clean_up() -> Iterator[None]:
    """While writing: SIGTERM (and SIGINT) remove the temporary files, then end the run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for s in old:
            signal.signal(s, _on_signal)
    except ValueError:  # not allowed here (embedded interpreter): the finally still cleans up
        yield
        return
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str], mode: str = "wb", **open_kw: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to *target*; rename it to *target* when the block ends
    without an error, remove it otherwise (also on SIGINT/SIGTERM). A *target* that exists
    and is not a regular file (a device such as ``/dev/null``, a FIFO) is written directly:
    renaming over it would replace the device."""
    path = Path(target)
    if path.exists() and not path.is_file():
        with open(path, mode, **open_kw) as direct:
            yield direct
        return
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    with _LOCK:
        _LIVE.add(tmp)
    try:
        with _signals_clean_up():
            with os.fdopen(fd, mode, **open_kw) as fh:
                yield fh
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, path)
    finally:
        with _LOCK:
            _LIVE.discard(tmp)
        with contextlib.suppress(OSError):
            if os.path.exists(tmp):
                os.unlink(tmp)
