"""Where the command line writes, and how: never over an input, never one answer over
another, never a half-written file left behind.

* :func:`check_not_input` refuses an output path that is also an input (the same file
  by ``os.path.samefile``, or the same resolved path when it does not exist yet).
* :func:`answer_paths` names the AP305 of each input in a folder: ``<stem>.ap305.asc``;
  only where two different inputs would get one name, their answers mirror their
  folders below those inputs' common folder (``a/x.asc`` -> ``OUT/a/x.ap305.asc``) or
  keep their suffix (``x.asc``, ``x.txt`` -> ``OUT/x.asc.ap305.asc``, ``OUT/x.txt.ap305.asc``),
  so no answer replaces another. Linear in the number of inputs.
* :func:`atomic_output` writes through a temporary ``.<name>.<pid>.<random>.part`` file
  in the target's folder, renamed over the target only when everything was written; on
  any exception (Ctrl-C's KeyboardInterrupt too) it is removed by ``try``/``finally``,
  so no partial file (which may hold personal records) stays on disk. It is private
  (0600) from its creation; the finished file gets the mode a plain ``open()`` would
  give. A process killed outright (SIGKILL) cannot clean up: the next write of the same
  target removes such a file once its process is gone.
* :func:`cleanup_on_signals` is for the command line: SIGTERM raises, so the cleanup
  runs. The library itself never replaces a signal handler (an application embedding
  eicodec keeps its own).

Every refusal raises :class:`OutputConflict`; the CLI turns it into exit status 2.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import stat
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



class OutputConflict(Exception):
    """An output the command line refuses to write (exit status 2)."""


def _stat(x: Any) -> os.stat_result | None:
    try:
        if isinstance(x, (str, os.PathLike)):
            return os.stat(x)
        if isinstance(x, int):
            return os.fstat(x)
        return os.fstat(x.fileno())
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        return None


def same_file(a: Any, b: Any) -> bool:
    """Whether *a* and *b* (each a path, a file object or a file descriptor) are one
    file: the same device and inode (hard links and symlinks included); two paths of
    which one does not exist yet compare as resolved paths. The one same-file test of
    every command (and of :func:`eicodec.anonymise_to`)."""
    sa, sb = _stat(a), _stat(b)
    if sa is not None and sb is not None:
        return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
    if isinstance(a, (str, os.PathLike)) and isinstance(b, (str, os.PathLike)):
        return Path(a).resolve() == Path(b).resolve()
    return False


def is_stdin(target: str | os.PathLike[str]) -> bool:
    """Whether *target* is the file behind standard input (device and inode of fd 0):
    ``cmd - -o in.asc < in.asc`` would replace the very file it reads."""
    st = _stat(target)
    sin = _stat(0)
    return st is not None and sin is not None and stat.S_ISREG(st.st_mode) and \
        (st.st_dev, st.st_ino) == (sin.st_dev, sin.st_ino)


def check_not_input(target: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]],
                    what: str = "output") -> None:
    """Raise :class:`OutputConflict` when *target* is one of *inputs*; an input ``-`` is
    standard input, compared by the file behind it (*target* ``-`` is stdout: allowed)."""
    if str(target) == "-":
        return
    for src in inputs:
        if str(src) == "-":
            if is_stdin(target):
                raise OutputConflict(f"{what} {target} is the file standard input reads; refusing to overwrite it")
        elif same_file(target, src):
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # (another user's, or not a pid: never ours to judge)
    return True


def remove_stale_partials(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the partial files of *target* that a process killed outright (SIGKILL, a
    power cut) left behind: only names of :func:`atomic_output`'s own pattern for this
    very target, owned by this user, whose process (the pid in the name) is gone.
    Returns the removed paths."""
    return remove_stale_partials_of([target])


#: the name of any partial file of :func:`atomic_output`: (the target's name, the pid)
_ANY_PARTIAL = re.compile(r"\.(.+)\.([0-9]+)\.[a-z0-9_]{8}\.part")


def remove_stale_partials_of(targets: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """:func:`remove_stale_partials` of many targets, each folder listed once (a batch's
    thousands of answers in one folder: linear, not a listing per answer)."""
    by_folder: dict[Path, set[str]] = {}
    for target in targets:
        path = Path(target)
        by_folder.setdefault(path.parent, set()).add(path.name)
    removed = []
    me = os.getpid()
    for folder, names in by_folder.items():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            m = _ANY_PARTIAL.fullmatch(entry)
            if m is None or m.group(1) not in names or int(m.group(2)) == me or _alive(int(m.group(2))):
                continue
            stale = folder / entry
            try:
                st = os.lstat(stale)
                if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                    os.unlink(stale)
                    removed.append(stale)
            except OSError:
                continue
    return removed


@contextlib.contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """For a command-line program (the library never touches signal handlers): while
    the block runs, SIGTERM ends the program the way Ctrl-C does, by an exception, so
    every ``finally`` runs and :func:`atomic_output` removes its partial file. Python's
    own SIGINT (KeyboardInterrupt) is kept. Restores the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        old = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # (not allowed here)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def atomic_output(target: str | os.PathLike[str], mode: str = "wb", *, sweep: bool = True,
                  **open_kw: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to *target*; rename it to *target* when the block ends
    without an error, remove it otherwise (``try``/``finally``: on any exception,
    KeyboardInterrupt and SystemExit included; signal handlers are the program's
    business, see :func:`cleanup_on_signals`). The temporary file
    ``.NAME.<pid>.<random>.part`` is private (0600) from its creation; partial files of
    the same target left by a dead process are removed first
    (:func:`remove_stale_partials`). A *target* that exists and is not a regular file
    (a device such as ``/dev/null``, a FIFO) is written directly: renaming over it
    would replace the device. ``sweep=False``: the caller removed the stale partials
    already (:func:`remove_stale_partials_of`, once for a whole batch)."""
    path = Path(target)
    if path.exists() and not path.is_file():
        with open(path, mode, **open_kw) as direct:
            yield direct
        return
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    if sweep:
        remove_stale_partials(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            if os.path.exists(tmp):
                os.unlink(tmp)
