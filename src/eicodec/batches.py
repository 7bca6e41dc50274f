"""Reading an EI file a batch of lines at a time, as fixed-width arrays of characters.

A :class:`Batch` holds a few thousand consecutive lines of the input: their text, their
line ends, and one ``(n, record_length)`` array of character codes (``uint8`` when the
batch is ASCII, ``uint32`` code points otherwise), so that positions are *characters*,
never bytes. Lines shorter than the record length are padded with spaces in the array
(``length_ok`` says which lines have the right length); longer ones are cut there.
The engine (rule kinds) and :mod:`eicodec.columns` read fields as column slices of that
array. The helpers at the end turn a field's slice into values (digits, dates, text).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any, cast

import numpy as np

from .heap import keep_freed_memory
from .reader import NoClose, ReadInfo, RecordStream, Source

#: Lines per batch (a batch of AP304 records is then about 1.5 MB of characters).
BATCH_LINES = 4096

_ZERO, _NINE, _SPACE = 48, 57, 32


class Batch:
    """Consecutive lines of a file: ``first`` is the 1-based number of the first line."""

    __slots__ = ("_lines", "_n", "_texts", "chars", "crc_after", "crc_before", "first", "length_ok", "offset",
                 "raw", "room", "terms", "types", "width")

    def __init__(self, first: int, texts: list[str] | None, terms: list[str] | None, width: int,
                 chars: np.ndarray | None = None) -> None:
        self.first = first
        #: read as bytes (see _byte_batches): the batch's bytes, lines of ``width + 2``
        #: bytes each (CR/LF included), and the input's offset of its first line
        self.raw: bytes | memoryview | None = None
        self.offset = -1
        #: read as bytes: ``chars`` followed by rows of room (``chars`` is its first rows;
        #: writable, unlike ``chars``), where a consumer may put rows of its own after the
        #: batch's without copying it (see engine._Run._with_context); else None
        self.room: np.ndarray | None = None
        #: read as bytes while the input's fingerprint is taken: its CRC-32 of the bytes
        #: before this batch; a consumer that works out the CRC-32 of the bytes up to its
        #: end (going on from ``crc_before``) may leave it in ``crc_after`` (the fingerprint
        #: then goes on from there instead of reading the batch's bytes again)
        self.crc_before: int | None = None
        self.crc_after: int | None = None
        self._texts = texts
        self.terms = terms  # None: every line ends with CR/LF
        self.width = width
        if chars is not None:  # lines of the record length, ASCII (see _byte_batches)
            n = len(chars)
            self.chars = chars
            self.length_ok = np.ones(n, bool)
            lengths = None
        else:
            assert texts is not None
            n = len(texts)
            lengths = np.fromiter(map(len, texts), np.int64, n)
            self.length_ok = lengths == width
            if self.length_ok.all():
                self.chars = char_matrix(texts, width)
            else:
                self.chars = char_matrix([t[:width].ljust(width) for t in texts], width)
        self._n = n
        c = self.chars
        if n and width >= 2:
            d0, d1 = c[:, 0].astype(np.int32) - _ZERO, c[:, 1].astype(np.int32) - _ZERO
            ok = (d0 >= 0) & (d0 <= 9) & (d1 >= 0) & (d1 <= 9)
            if lengths is not None:
                ok &= lengths >= 2
            self.types = np.where(ok, d0 * 10 + d1, -1).astype(np.int16)
        else:
            self.types = np.full(n, -1, np.int16)
        self._lines: np.ndarray | None = None

    def __len__(self) -> int:
        return self._n

    @property
    def texts(self) -> list[str]:
        """The lines' text (made from the characters on first use, for batches read as bytes)."""
        if self._texts is None:
            self._texts = [row.tobytes().decode("ascii") for row in self.chars]
        return self._texts

    def text(self, i: int) -> str:
        """The text of line *i* of the batch."""
        if self._texts is not None:
            return self._texts[i]
        row: np.ndarray = self.chars[i]
        return row.tobytes().decode("ascii")

    def key_bytes(self) -> bytes:
        """The lines as UTF-8 with CR/LF after each (what :func:`eicodec.history.file_key`
        hashes of a declaration's records)."""
        if self._texts is None:  # ASCII lines of the record length
            m = np.empty((self._n, self.width + 2), np.uint8)
            m[:, :self.width] = self.chars
            m[:, self.width:] = (13, 10)
            return m.tobytes()
        return "".join(t + "\r\n" for t in self._texts).encode("utf-8", "surrogatepass")

    def texts_of(self, rows: np.ndarray) -> list[str]:
        """The text of each of *rows* (one decoding for them all in a batch read as bytes)."""
        if self._texts is not None:
            texts = self._texts
            return [texts[i] for i in rows.tolist()]
        w = self.width
        joined = self.chars[rows].tobytes().decode("ascii")
        return [joined[k:k + w] for k in range(0, len(joined), w)]

    @property
    def lines(self) -> np.ndarray:
        """1-based line numbers (int64) of the batch's lines."""
        if self._lines is None:
            self._lines = np.arange(self.first, self.first + self._n, dtype=np.int64)
        return self._lines

    def rows(self, record_type: str) -> np.ndarray:
        """Indices of the lines of *record_type* that have the record length."""
        return np.flatnonzero((self.types == int(record_type)) & self.length_ok)


def char_matrix(texts: list[str], width: int) -> np.ndarray:
    """``(len(texts), width)`` character codes of *texts*, each exactly *width* long."""
    s = "".join(texts)
    n = len(texts)
    if s.isascii():
        return np.frombuffer(s.encode("ascii"), np.uint8).reshape(n, width)
    return np.frombuffer(s.encode("utf-32-le", "surrogatepass"), np.uint32).reshape(n, width)


def iter_batches(stream: RecordStream, size: int = BATCH_LINES,
                 reopen: Callable[[], Source] | None = None, *, fingerprint: bool = True) -> Iterator[Batch]:
    """The lines of *stream* (opened, its spec known) in batches of about *size* lines.

    With *reopen* (a way to open the same input again as bytes), the file is read as
    bytes where it is regular -- ASCII, every line the record length and ended by CR/LF,
    the common case -- and turned into a character array without making a string per
    line; from the first irregular stretch on, lines are split as the reader splits them.
    A file of mixed encodings is read through the reader from the start.
    ``fingerprint=False`` (for callers that never look at ``info.fingerprint``, such as
    typed columns): a stream opened with ``defer_check=True`` that turns out regular all
    through is settled without its fingerprint (left ``""``); encoding checks are as usual.
    """
    keep_freed_memory()  # (see eicodec.heap: once per process)
    spec = stream.info.spec
    assert spec is not None
    width = spec.record_length
    # (a file that mixes UTF-8 lines with lines that are not is decoded line by line by the
    # reader, which notes those lines: it goes the reader's way)
    if reopen is not None and not stream.info.mixed and stream.info.encoding in ("utf-8", "cp1252", "ascii"):
        binary = _binary(reopen())
        if binary is not None:
            stream.close()
            try:
                yield from _byte_batches(binary, stream.info, width, size, reopen, fingerprint)
            finally:
                binary.close()
            return
    if not stream.info.settled:
        raise ValueError("a stream opened with defer_check=True is read by iter_batches with reopen")
    yield from _text_batches(stream.blocks(), width, size, 1)


def _binary(source: Source) -> IO[bytes] | None:
    """*source* as a seekable binary file, or None (text given as a str)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if isinstance(source, str) and ("\n" in source or "\r" in source or len(source) >= 100 or source == ""):
        return None  # file content given as text (see reader._looks_like_content)
    if isinstance(source, (str, os.PathLike)):
        return open(source, "rb")
    if hasattr(source, "read") and hasattr(source, "seek"):
        return cast("IO[bytes]", NoClose(source))  # a caller's file: read, never closed
    return None


#: rows of room after a batch read as bytes (see Batch.room): the engine puts there the
#: records of earlier batches its rows hang under (one per open level of the grammar)
ROOM_ROWS = 16


def _read_into(binary: IO[bytes], want: int, room: int, spare: list[bytearray]) -> tuple[bytearray, int]:
    """Up to *want* bytes of *binary* in a buffer with *room* bytes after them: (the
    buffer, the number of bytes read). A buffer of *spare* (the last ones handed out,
    kept by the caller) is used again when nothing else holds it any more -- no batch,
    array or view of it is left -- else a new one is made: the same memory batch after
    batch instead of fresh pages each time (the allocator may give a buffer this size
    back to the system and map it again, a page fault per 4 kB)."""
    probe = [bytearray(1)]  # (held once, as a spare buffer that nothing else holds)
    count: Callable[[object], int] | None = getattr(sys, "getrefcount", None)  # (none: not used again)
    free = -1
    for k in range(len(spare) if count is not None else 0):  # (by index: no other name for it)
        if len(spare[k]) == want + room and count is not None and count(spare[k]) == count(probe[0]):
            free = k
            break
    buf = spare.pop(free) if free >= 0 else bytearray(want + room)
    readinto = getattr(binary, "readinto", None)
    if readinto is None:
        data = binary.read(want)
        buf[:len(data)] = data
        return buf, len(data)
    got = 0
    with memoryview(buf) as view:
        while got < want:
            k = readinto(view[got:want])
            if not k:
                break
            got += k
    return buf, got


def _size_of(binary: IO[bytes]) -> int | None:
    """The size of the file under *binary* (None: not a file, or not known)."""
    try:
        return os.fstat(binary.fileno()).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _byte_batches(binary: IO[bytes], info: ReadInfo, width: int, size: int,
                  reopen: Callable[[], Source], fingerprint: bool = True) -> Iterator[Batch]:
    """Batches straight from the bytes while they are regular, then the reader's way.
    With *info* not yet settled (see ``RecordStream(defer_check=True)``) the fingerprint
    is taken from the bytes read here, or the whole input is checked as the reader does
    at the first stretch that is not regular."""
    from .reader import _detect_encoding, blocks_from, fingerprint_of, per_line

    settled = info.settled
    start = binary.tell() + (3 if info.bom else 0)
    binary.seek(start)
    step = width + 2
    first = 1
    offset = start
    crc, count = 0, 0
    spare: list[bytearray] = []
    end = _size_of(binary)  # (a small file: a buffer its size, not a whole batch's)
    while True:
        want = size * step if end is None or end - offset >= size * step else max(end - offset, 0) + step
        buf, got = _read_into(binary, want, ROOM_ROWS * step, spare)
        data = memoryview(buf)[:got]
        if not got:
            if not settled:
                info.fingerprint = fingerprint_of(crc, count) if fingerprint else ""
                info.settled = True
            return
        rows = got // step
        regular = got == rows * step
        if regular:
            lines = np.frombuffer(buf, np.uint8).reshape(-1, step)  # (and the room's)
            m = lines[:rows].view()
            m.flags.writeable = False
            # ASCII, CR/LF at the end of every line and no control character (CR, LF,
            # TAB, ...) before it; a stretch with one goes the reader's way
            regular = bool(m.max(initial=0) < 128 and (m[:, width] == 13).all() and (m[:, width + 1] == 10).all()
                           and m[:, :width].min(initial=255) >= 32)
        if not regular:
            break
        chained = not settled and fingerprint
        batch = Batch(first, None, None, width, m[:, :width])
        batch.raw, batch.offset, batch.room = data, offset, lines[:, :width]
        if chained:
            batch.crc_before = crc
        yield batch
        if chained:  # (one checksum: see reader.fingerprint_of; the consumer's, see Batch)
            crc = batch.crc_after if batch.crc_after is not None else zlib.crc32(data, crc)
            count += len(data)
        first += rows
        offset += len(data)
        del m, lines, batch, data  # (before the next read: one batch's bytes at a time)
        spare.append(buf)  # (used again once the consumer lets go of the batch)
        del buf, spare[:-2]
    if not settled:
        # Not plain ASCII lines all through: check the whole input as the reader does
        # (what was read so far was ASCII, which every encoding it chooses reads alike).
        whole = _binary(reopen())
        assert whole is not None
        try:
            info.encoding, info.bom, info.fingerprint, info.mixed = _detect_encoding(whole, None)
        finally:
            whole.close()
        info.settled = True
    binary.seek(offset)  # a line start: the reader takes over from here
    if info.mixed:
        blocks = per_line(blocks_from(binary, "latin-1"), info.fallback_lines, first - 1)
    else:
        blocks = blocks_from(binary, info.encoding)
    yield from _text_batches(blocks, width, size, first)


def _text_batches(blocks: Iterator[tuple[list[str], list[str] | None]], width: int, size: int,
                  first: int) -> Iterator[Batch]:
    texts: list[str] = []
    terms: list[str] | None = None
    for block, ends in blocks:
        if ends is not None and terms is None:
            terms = ["\r\n"] * len(texts)
        texts.extend(block)
        if terms is not None:
            terms.extend(ends if ends is not None else ["\r\n"] * len(block))
        while len(texts) >= size:
            yield Batch(first, texts[:size], terms[:size] if terms is not None else None, width)
            first += size
            texts = texts[size:]
            if terms is not None:
                terms = terms[size:]
                if all(e == "\r\n" for e in terms):
                    terms = None
    if texts:
        yield Batch(first, texts, terms, width)


def replayable(source: Source) -> tuple[Callable[[], Source], list[IO[bytes]]]:
    """A way to open *source* more than once (file objects are spooled if needed)."""
    if isinstance(source, (bytes, bytearray, memoryview, os.PathLike, str)):
        return (lambda: source), []
    if hasattr(source, "read"):
        if isinstance(source, io.TextIOBase):
            raise TypeError("pass a binary file object (open(path, 'rb')), not a text one")
        try:
            seekable = bool(source.seekable())
        except Exception:  # noqa: BLE001
            seekable = False
        if seekable:
            start = source.tell()

            def again() -> Source:
                source.seek(start)
                return source
            return again, []
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115
        while chunk := source.read(1 << 20):
            spool.write(chunk)

        def from_spool() -> Source:
            spool.seek(0)
            return spool
        return from_spool, [spool]
    raise TypeError(f"cannot read EI records from {type(source).__name__}")


def column_major(a: np.ndarray, block: int = 256, rows: np.ndarray | None = None) -> np.ndarray:
    """``np.ascontiguousarray(a.T)`` of a 2-D array (with *rows*: of ``a[rows]``), copied
    *block* rows at a time (about a third faster for a batch's records: the rows being
    read stay in the cache; and no row-major copy of ``a[rows]`` on the way)."""
    n = len(a) if rows is None else len(rows)
    if n <= block:
        return np.ascontiguousarray((a if rows is None else a[rows]).T)
    out = np.empty((a.shape[1], n), a.dtype)
    for i in range(0, n, block):
        out[:, i:i + block] = (a[i:i + block] if rows is None else a[rows[i:i + block]]).T
    return out


def unique_ints(values: np.ndarray, return_inverse: bool = False) -> Any:
    """``np.unique`` of int64 *values* (with the inverse, flat, if asked), by a table
    over their span when that is small (no sort: the engine's line and group numbers
    of a batch), or by their runs when they are in order already."""
    if len(values) > 1 and bool((values[1:] >= values[:-1]).all()):
        new = np.empty(len(values), bool)
        new[0] = True
        np.not_equal(values[1:], values[:-1], out=new[1:])
        if not return_inverse:
            return values[new]
        return values[new], np.cumsum(new) - 1
    if len(values):
        lo = int(values.min())
        span = int(values.max()) - lo + 1
        if span <= 4 * len(values) + 1024:
            present = np.zeros(span, bool)
            at = values - lo
            present[at] = True
            keys = np.flatnonzero(present)
            if not return_inverse:
                return keys + lo
            rank = np.cumsum(present) - 1
            return keys + lo, rank[at]
    if not return_inverse:
        return np.unique(values)
    keys, inverse = np.unique(values, return_inverse=True)
    return keys, inverse.reshape(-1)


# ------------------------------------------------------------------ field values

def field_chars(chars: np.ndarray, start: int, length: int) -> np.ndarray:
    """The ``(n, length)`` characters of a field (``start`` 1-based as in the BER)."""
    return chars[:, start - 1:start - 1 + length]


def all_digits(f: np.ndarray) -> np.ndarray:
    """Per row: every character of *f* is an ASCII digit."""
    return np.asarray(((f >= _ZERO) & (f <= _NINE)).all(axis=1))


def all_of(f: np.ndarray, code: int) -> np.ndarray:
    """Per row: every character of *f* is *code* (e.g. ``ord(" ")``)."""
    return np.asarray((f == code).all(axis=1))


def weighted_sum(f: np.ndarray, weights: list[int]) -> np.ndarray:
    """Per row of *f*: the sum of ``(f[:, k] - ord("0")) * weights[k]`` as int64 (wrapping
    as int64 does). Column by column: no ``(n, width)`` int64 array on the way, and each
    column is contiguous when *f* is column-major (as the engine's field views are)."""
    n, w = f.shape
    if not w:
        return np.zeros(n, np.int64)
    v = f[:, 0].astype(np.int64)
    v *= weights[0]
    for k in range(1, w):
        v += f[:, k] * np.int64(weights[k])
    v -= np.int64((_ZERO * sum(weights[:w]) + (1 << 63)) % (1 << 64) - (1 << 63))
    return v


def digits_value(f: np.ndarray) -> np.ndarray:
    """The int64 number that the digits of *f* spell (meaningless where not all digits)."""
    # (the powers as int64 gives them: beyond 18 digits they wrap, as the numbers do)
    return weighted_sum(f, (10 ** np.arange(f.shape[1] - 1, -1, -1, dtype=np.int64)).tolist())


_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


def date_parts(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day, is a calendar date) of CCYYMMDD fields *f*."""
    ok = all_digits(f)
    y = weighted_sum(f[:, 0:4], [1000, 100, 10, 1])
    m = weighted_sum(f[:, 4:6], [10, 1])
    day = weighted_sum(f[:, 6:8], [10, 1])
    good_m = (m >= 1) & (m <= 12)
    dim = _DAYS[np.where(good_m, m, 0)]
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = dim + ((m == 2) & leap)
    ok &= (y >= 1) & good_m & (day >= 1) & (day <= dim)
    return y, m, day, ok


def date_ordinal(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(CCYYMMDD as an int comparable like the date, is a calendar date) of *f*: the
    number its eight characters spell as digits (as :func:`date_parts` gives it, also where
    they are not digits)."""
    if f.dtype != np.uint8 or f.shape[1] != 8:
        y, m, d, ok = date_parts(f)
        return y * 10000 + m * 100 + d, ok
    v, ok, _ = date_digits(f.T)
    return v, ok


def date_digits(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(CCYYMMDD, is a calendar date, the largest of the digits) of date fields of ASCII
    characters *t*, the eight of each along the second-last axis (``(8, n)``, or ``(m, 8,
    n)`` for m fields at once): the number the characters spell as digits (also where
    they are not: each character less "0", weighed). Two characters at a time in int16,
    then int64 (no float product, no division); the leap year only for 29 February."""
    top = (t - np.uint8(_ZERO)).max(axis=-2, initial=0)  # (below "0" wraps above "9")
    ok = top <= 9
    cc, yy, m, d = (t[..., k, :] * np.int16(10) + t[..., k + 1, :].astype(np.int16) - _ZERO * 11 for k in (0, 2, 4, 6))
    v = ((cc.astype(np.int64) * 100 + yy) * 100 + m) * 100 + d
    good_m = (m >= 1) & (m <= 12)
    ok &= good_m & (d >= 1) & (d <= np.take(_MOST_DAYS, m, mode="clip")) & (v >= 10000)  # (good_m: 1..12)
    leap_day = np.nonzero(ok & (m == 2) & (d == 29))
    if len(leap_day[0]):
        y = v[leap_day] // 10000
        ok[leap_day] = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    return v, ok, top


_MOST_DAYS = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)  # (29 February: see above)


def to_datetime64(y: np.ndarray, m: np.ndarray, d: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """datetime64[D] of year/month/day, NaT where not *ok*."""
    months = np.where(ok, (y - 1970) * 12 + (m - 1), 0).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + np.where(ok, d - 1, 0).astype("timedelta64[D]")
    days[~ok] = np.datetime64("NaT")
    return np.asarray(days)


def text_of(f: np.ndarray) -> np.ndarray:
    """The text of field slice *f* as a str array (trailing spaces kept). A NUL character
    becomes U+FFFD: numpy drops trailing NULs from str values, and "IBAN + NUL" or
    "code + NUL" must not compare equal to the IBAN or the code."""
    n, w = f.shape
    if n and w and not bool(f.all()):  # (some character is NUL)
        f = np.where(f == 0, np.uint32(0xFFFD), f.astype(np.uint32))
    if f.dtype == np.uint8:
        return np.ascontiguousarray(f).view(f"S{w}").reshape(n).astype(f"U{w}")
    return np.ascontiguousarray(f, dtype=np.uint32).view(f"<U{w}").reshape(n)
