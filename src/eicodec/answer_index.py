"""What validation keeps for the answer: where the groups that go back lie in the file.

An insurer's AP305 to a file with rejected lines copies the top-level groups (an insured
with the claim lines under it) that hold a returned record, and nothing else of the
body (STB §6.7). While :func:`~eicodec.validate` reads a file as regular lines (ASCII,
each the record length and CR/LF, see :mod:`eicodec.batches`), :class:`Recorder` notes
for each top-level group that got an outcome the lines and bytes it spans, and for each
run of nearby ones the CRC-32 of their bytes: memory grows with the returned groups,
not with the file. The answer (:mod:`eicodec.retour`) then reads those byte ranges only
(seek + read), each run checked against its CRC-32 before a byte of the answer is made.

:func:`stamp_of` is a file's identity by ``stat`` (device, inode, size, modification and
change times in nanoseconds), kept when it did not change while the file was read and
was not recent then (a change within the same tick of the file system's clock would
leave it as it was, as git's "racy" files): an answer to a file whose stamp is the same
needs no second reading to know that the report is about it. Otherwise the whole file's
fingerprint (CRC-32 and size) is compared, as before.
"""

from __future__ import annotations

import os
import stat
import time
import zlib
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from .batches import unique_ints
from .layouts import MessageSpec
from .reader import _looks_like_content, fingerprint_path

if TYPE_CHECKING:
    from .batches import Batch
    from .findings import Outcomes

#: a stamp is trusted only when the file's times lie this far before its reading began
#: (file system clocks tick coarsely: 2 s on FAT, a few ms on ext4)
RACY_NS = 3_000_000_000

#: ranges this close (bytes between them) are read by the answer in one go, and their
#: bytes (those between them too) checked by one CRC-32
GAP = 1 << 16

Stamp = tuple[int, int, int, int, int]


def _longs() -> array[int]:
    return array("q")


def _ints() -> array[int]:
    return array("i")


@attrs.define(eq=False)
class AnswerIndex:
    """The byte ranges of the top-level groups with an outcome, in file order: first line
    and number of lines; lines are ``step`` bytes each (the record length and CR/LF) and
    line 1 starts at byte ``base`` (after a byte order mark: 3), so :attr:`offset` follows.
    Nearby ranges (at most :data:`GAP` bytes apart) form runs, each with a CRC-32 (see
    :attr:`run_spans`): ``run_start`` (the index of each run's first range, ascending),
    ``run_from`` (the CRC-32 its checksum goes on from: the input's up to the run, when
    validation took both in one pass; else 0) and ``run_crc``. ``complete``: the whole
    file was followed (else the ranges are not used). ``stamp``: see :func:`stamp_of`
    (None: not kept)."""

    step: int
    first: array[int] = attrs.field(factory=_ints)  # (int32: line numbers, see findings.LINE_LIMIT)
    count: array[int] = attrs.field(factory=_ints)
    run_start: array[int] = attrs.field(factory=_longs)
    run_from: array[int] = attrs.field(factory=_longs)
    run_crc: array[int] = attrs.field(factory=_longs)
    #: a run's CRC-32 is of all its bytes, the lines between its ranges too (validation
    #: took the input's fingerprint on the way, of which these are pieces); else of its
    #: ranges' bytes only, one after the other (the lines between them not read for it)
    run_spans: bool = True
    base: int = 0
    complete: bool = False
    stamp: Stamp | None = None

    @property
    def offset(self) -> np.ndarray:
        """The byte offset of each range's first line in the input (int64)."""
        return self.base + (np.frombuffer(self.first, np.int32).astype(np.int64) - 1) * self.step if len(self.first) \
            else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.first)

    def ranges(self) -> Iterator[tuple[int, int, int]]:
        """(first line, number of lines, byte offset) of each range."""
        return zip(self.first, self.count, self.offset.tolist())

    def covers(self, lines: np.ndarray) -> bool:
        """Whether each of *lines* (ascending) lies in a range."""
        if not len(lines):
            return True
        if not len(self.first):
            return False
        starts = np.frombuffer(self.first, np.int32).astype(np.int64)
        at = np.searchsorted(starts, lines, "right") - 1
        ends = starts + np.frombuffer(self.count, np.int32)
        return bool((at >= 0).all() and (lines < ends[np.maximum(at, 0)]).all())


class Recorder:
    """Follows the batches of one validation pass (the engine calls :meth:`feed` after
    each batch is checked, :meth:`finish` at the end). The top-level group being read is
    open: its CRC-32 goes on batch by batch; a group closes at the next top-level record,
    in the batch where the engine gives it its verdicts, and is kept if it got any."""

    def __init__(self, spec: MessageSpec) -> None:
        tops = spec.top_types
        self.usable = bool(tops) and all(t.isascii() and t.isdigit() and len(t) == 2 for t in tops)
        self.tops = np.array(sorted(int(t) for t in tops) if self.usable else [], np.int16)
        self.index = AnswerIndex(spec.record_length + 2)
        self.next_line = 1  # the line the next batch must start with
        self.open_line = 1  # the first line of the open range
        self.open_crc = 0  # (the batches not chained, see feed: the open range's CRC-32 so far)
        self.open_from = 0  # the CRC-32 its run's goes on from (see AnswerIndex)
        self.last_crc = 0  # (chained) the input's CRC-32 up to the last batch's end
        self.chained = False  # the batches come with the input's CRC-32 (see feed)

    def _keep(self, firsts: np.ndarray, counts: np.ndarray, runs: np.ndarray, froms: list[int],
              crcs: list[int]) -> None:
        """Ranges (first lines, line counts) and their runs (the index of each run's first
        range among them, the CRC-32s each goes on from and comes to)."""
        ix = self.index
        ix.run_start.frombytes((runs + len(ix.first)).astype(np.int64).tobytes())
        ix.run_from.extend(froms)
        ix.run_crc.extend(crcs)
        ix.first.frombytes(np.ascontiguousarray(firsts, np.int32).tobytes())
        ix.count.frombytes(np.ascontiguousarray(counts, np.int32).tobytes())

    def feed(self, batch: Batch, outcomes: Outcomes) -> None:
        """After the engine checked *batch*: keep the groups closed in it that got an outcome.

        While the reader takes the input's fingerprint (``batch.crc_before`` is set), the
        runs' CRC-32s are that same checksum, taken piece by piece here and handed back
        (``batch.crc_after``): each run's bytes are read once, for both. Otherwise each
        run has a CRC-32 of its own (going on from 0)."""
        if not self.usable:
            return
        data, step, first = batch.raw, self.index.step, batch.first
        if data is None or batch.width + 2 != step or first != self.next_line or len(data) != len(batch) * step:
            self.usable = False  # (not read as regular lines: the answer reads the whole file)
            return
        if first == 1:
            self.index.base = batch.offset
        self.next_line = first + len(batch)
        view = memoryview(data)
        chained = batch.crc_before is not None
        if first > 1 and chained != self.chained:
            self.usable = False  # (never so: one way or the other all through)
            return
        self.chained = chained
        state = batch.crc_before if batch.crc_before is not None else 0
        is_top = np.zeros(len(batch.types), bool)
        for code in self.tops.tolist():  # (few: cheaper than np.isin)
            is_top |= batch.types == code
        rows = np.flatnonzero(is_top)
        if not len(rows):
            if chained:
                batch.crc_after = self.last_crc = zlib.crc32(view, state)
            else:
                self.open_crc = zlib.crc32(view, self.open_crc)
            return
        bounds = np.concatenate([[self.open_line], rows + first]).astype(np.int64)
        out = outcomes.lines_between(self.open_line, int(bounds[-1]))
        pos = 0  # (chained: the bytes before pos are in state)
        if len(out):
            kept = unique_ints(np.searchsorted(bounds, out, "right") - 1)
            firsts, ends = bounds[kept], bounds[kept + 1]
            # runs of nearby groups (the answer reads them in one go, the lines between them
            # too): one CRC-32 each, of all their bytes (the first may go on from the open group)
            gaps = np.empty(len(kept), np.int64)
            gaps[0], gaps[1:] = GAP + 1, (firsts[1:] - ends[:-1]) * step
            runs = np.flatnonzero(gaps > GAP)
            froms, crcs = [], []
            for a, b in zip(runs.tolist(), [*runs[1:].tolist(), len(kept)]):
                hi = int(ends[b - 1] - first) * step
                if not chained:  # its ranges' bytes only (the open one goes on from before)
                    froms.append(self.open_from if kept[a] == 0 else 0)
                    state = self.open_crc if kept[a] == 0 else 0
                    for lo_k, hi_k in zip(((np.maximum(firsts[a:b] - first, 0)) * step).tolist(),
                                          ((ends[a:b] - first) * step).tolist()):
                        state = zlib.crc32(view[lo_k:hi_k], state)
                    crcs.append(state)
                    pos = hi
                    continue
                if kept[a] == 0:  # (the open range: it began in this batch or before)
                    froms.append(self.open_from)
                    state = zlib.crc32(view[:hi], state if chained else self.open_crc)
                else:
                    lo = int(firsts[a] - first) * step
                    if chained:
                        state = zlib.crc32(view[pos:lo], state)
                    else:
                        state = 0
                    froms.append(state)
                    state = zlib.crc32(view[lo:hi], state)
                crcs.append(state)
                pos = hi
            self._keep(firsts, ends - firsts, runs, froms, crcs)
        last = int(bounds[-1])
        lo = (last - first) * step
        self.open_line = last
        if chained:
            self.open_from = zlib.crc32(view[pos:lo], state)
            batch.crc_after = self.last_crc = zlib.crc32(view[lo:], self.open_from)
        else:
            self.open_from, self.open_crc = 0, zlib.crc32(view[lo:])

    def finish(self, outcomes: Outcomes, stamp: Stamp | None) -> AnswerIndex:
        """The index, after the engine's last verdicts (the open group closes at the end)."""
        ix = self.index
        ix.stamp = stamp
        ix.run_spans = self.chained
        if self.usable and self.next_line > 1:
            if len(outcomes.lines_between(self.open_line, self.next_line)):
                one = np.zeros(1, np.int64)
                end = self.last_crc if self.chained else self.open_crc
                self._keep(one + self.open_line, one + (self.next_line - self.open_line), one, [self.open_from], [end])
            ix.complete = True
        return ix


def stamp_of(source: Any) -> Stamp | None:
    """(device, inode, size, modification ns, change ns) of the regular file *source*
    names (a path); None for anything else."""
    if not isinstance(source, (str, os.PathLike)) or (isinstance(source, str) and _looks_like_content(source)):
        return None
    try:
        st = os.stat(source)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def kept_stamp(before: Stamp | None, source: Any, since_ns: int) -> Stamp | None:
    """*before* (taken before reading *source*, which began at *since_ns*, ``time.time_ns``)
    when the file's stamp is still the same after reading it and its times lie at least
    :data:`RACY_NS` before the reading began; else None."""
    if before is None or stamp_of(source) != before:
        return None
    return before if stable_before(before, since_ns) else None


def stable_before(before: Stamp | None, since_ns: int) -> bool:
    """Whether a file with stamp *before* (taken as its reading began at *since_ns*) may
    keep that stamp: its times lie at least :data:`RACY_NS` before (see :func:`kept_stamp`)."""
    return before is not None and max(before[3], before[4]) < since_ns - RACY_NS


@attrs.frozen
class FileFingerprint:
    """The fingerprint of a file validated by its path without taking it on the way (see
    :func:`~eicodec.validate`): its bytes are read again when it is first asked for, if
    the file's stamp is still the one it had while it was validated; ``""`` (not known)
    when the file changed, moved or went since (or while it was read again)."""

    path: str | os.PathLike[str]
    stamp: Stamp

    def __call__(self) -> str:
        if stamp_of(self.path) != self.stamp:
            return ""
        found = fingerprint_path(self.path)
        return found if stamp_of(self.path) == self.stamp else ""


def now_ns() -> int:
    """The wall clock in nanoseconds (what file times are compared with)."""
    return time.time_ns()
