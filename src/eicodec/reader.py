"""Reading EI files: a streaming record iterator and a tree builder.

:func:`iter_records` reads one line at a time (constant memory, however large the file)
and yields every line as a :class:`~eicodec.model.Record`, including broken ones: a
short line, an unknown kenmerk record, an empty line. :func:`read` builds the
:class:`~eicodec.model.Declaration` tree and records structural problems instead of
raising, so the validator can report them. Only input that is not an EI file at all
raises :class:`~eicodec.errors.UnreadableInputError`.

Encoding: the standard fixes none (STB §5.3.7). Pass ``encoding=`` to choose; by default
the bytes are read as UTF-8 when the whole file decodes as UTF-8, and as cp1252 when
it holds no UTF-8 sequence at all. A file that mixes both (a UTF-8 file with a stray
cp1252 byte) is read line by line: a line that is valid UTF-8 reads as UTF-8, a line
that is not reads as cp1252 (a byte cp1252 leaves undefined as its Latin-1 character),
so every line keeps its length; ``ReadInfo.fallback_lines`` lists those lines and the
validator gives each a finding. Record lengths count characters, not bytes.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import re
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import IO, Any, Self, Union, cast

import attrs

from .errors import UnreadableInputError
from .layouts import MessageSpec, builtin_specs, spec_for_key
from .model import Declaration, Node, Problem, Record, record_class

Source = Union[str, bytes, bytearray, memoryview, "os.PathLike[str]", IO[bytes]]

#: Longest line kept in memory; longer lines are read through and reported as too long
#: (their first MAX_LINE characters are kept; lone CRs inside them do not split them).
MAX_LINE = 1 << 20
_CHUNK = 1 << 20
_TEXT_CHUNK = 1 << 16


@attrs.define
class ReadInfo:
    """What the reader learned about the input besides its records.

    ``fingerprint`` identifies the input's exact bytes (their CRC-32 and their count,
    see :func:`fingerprint_of`); it pairs a validation report with its file.
    """

    encoding: str
    bom: bool = False
    spec: MessageSpec | None = None
    fingerprint: str = ""
    #: Lines (1-based) that were not UTF-8 in a UTF-8 file and were read as cp1252;
    #: complete once the records have been read.
    fallback_lines: list[int] = attrs.field(factory=list)
    #: The input is UTF-8 with lines that are not (read line by line, see the module docs).
    mixed: bool = False
    #: False while encoding and fingerprint are provisional: the stream was opened with
    #: ``defer_check=True`` and the bytes have not all been read yet (see :class:`RecordStream`).
    settled: bool = True
    #: The file does not start with a voorlooprecord: its first record is another record
    #: of the spec the caller named (only with ``headerless=True``, see :class:`RecordStream`).
    header_missing: bool = False
    #: The voorlooprecord's 0102/0103/0104 name no spec (or, with a spec given, another)
    #: while the spec is known: named by the caller, or (``recognise=True``) the one
    #: shipped spec of the header's record length. The validator rejects the file for it.
    header_key_wrong: bool = False


def fingerprint_of(crc: int, size: int) -> str:
    """The fingerprint of bytes with CRC-32 *crc* (``zlib.crc32``) and length *size*.

    One checksum pass over the bytes: it tells a report's file from another file, by
    accident changed or swapped (it is no cryptographic digest, and never was)."""
    return f"{crc:08x}-{size}"


def fingerprint_bytes(chunks: Iterable[bytes]) -> str:
    """The fingerprint of the bytes in *chunks* (see :class:`ReadInfo`)."""
    crc, size = 0, 0
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
    return fingerprint_of(crc, size)


def fingerprint_path(path: str | os.PathLike[str]) -> str:
    """The fingerprint of the file at *path*, read 64 kB at a time; ``""`` when it cannot
    be read (the reader says what is wrong with it)."""
    try:
        with open(path, "rb") as fh:
            return fingerprint_bytes(iter(lambda: fh.read(1 << 16), b""))
    except OSError:
        return ""


class RecordStream:
    """An open EI input: ``info`` (encoding, spec) plus the records, streamed.

    Iterate it once; use it as a context manager (or call :meth:`close`) to release
    the file when you stop early.

    ``defer_check=True`` (for :func:`~eicodec.batches.iter_batches` with ``reopen``,
    which reads the bytes itself): when no encoding is given and the first megabyte is
    ASCII, the input is not read through first; ``info`` says UTF-8 and ``settled`` is
    False until the batches have read all bytes (they then fill in the fingerprint, or
    check the whole input as usual at its first stretch that is not plain ASCII lines).

    ``headerless=True`` (for the validator) with *spec* given: a file whose first record
    is a record of *spec* other than its voorlooprecord is read as *spec*, with
    ``info.header_missing`` set, instead of raising :class:`UnreadableInputError`.

    ``recognise=True`` (for the validator and :func:`eicodec.outcome`): without *spec*, a
    voorlooprecord whose 0102/0103/0104 name no shipped spec is read as the one shipped
    spec of its record length, with ``info.header_key_wrong`` set. With *spec* given, a
    header of its record length naming no spec or another one is read as *spec* (so
    set), whatever this flag says.
    """

    def __init__(self, source: Source, *, encoding: str | None = None,
                 spec: MessageSpec | None = None, defer_check: bool = False, headerless: bool = False,
                 recognise: bool = False) -> None:
        self._close: list[IO[Any]] = []
        self._text: IO[str] | None = None
        self._pending: list[tuple[str, str]] = []
        self._buffer: list[tuple[str, str]] = []  # lines of the block being looked at, reversed
        self._blocks_iter: Iterator[tuple[list[str], list[str] | None]] = iter(())
        self._headerless = headerless
        self._recognise = recognise
        try:
            self._open(source, encoding, spec, defer_check)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ opening
    def _open(self, source: Source, encoding: str | None, spec: MessageSpec | None, defer_check: bool) -> None:
        mixed = False
        if isinstance(source, str) and _looks_like_content(source):
            self.info = ReadInfo(encoding="str",
                                 fingerprint=fingerprint_bytes([source.encode("utf-8", "surrogatepass")]))
            self._text = io.StringIO(source, newline="")
        else:
            binary = self._binary(source)
            if defer_check and encoding is None and _ascii_head(binary):
                # (ASCII so far: UTF-8, no BOM, one line per CR/LF -- the rest is checked
                # by whoever reads the bytes, see iter_batches)
                enc, bom, fp, mixed = "utf-8", False, "", False
                self.info = ReadInfo(encoding=enc, settled=False)
            else:
                enc, bom, fp, mixed = _detect_encoding(binary, encoding)
                self.info = ReadInfo(encoding=enc, bom=bom, fingerprint=fp, mixed=mixed)
            if mixed and bom:
                binary.read(len(codecs.BOM_UTF8))
            text = _Decoded(binary, "latin-1" if mixed else "utf-8-sig" if bom else enc)
            self._close.insert(0, text)  # type: ignore[arg-type]
            self._text = text  # type: ignore[assignment]
        blocks = self._blocks()
        self._blocks_iter = self._per_line(blocks) if mixed else blocks
        self.mixed = mixed  # lines decoded one by one (UTF-8, else cp1252): see _per_line
        self.info.spec = self._identify(spec)
        self._rest_of_first_block()

    def _binary(self, source: Source) -> IO[bytes]:
        if isinstance(source, (bytes, bytearray, memoryview)):
            return io.BytesIO(bytes(source))
        if isinstance(source, (str, os.PathLike)):
            try:
                fh = open(source, "rb")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise UnreadableInputError(f"cannot open input: {exc.strerror}") from None
            self._close.append(fh)
            return fh
        if hasattr(source, "read"):
            if isinstance(source, io.TextIOBase):
                raise TypeError("pass a binary file object (open(path, 'rb')), not a text one")
            if _seekable(source):
                return NoClose(source)  # type: ignore[return-value]
            spool = tempfile.SpooledTemporaryFile(max_size=8 * _CHUNK)  # noqa: SIM115
            while chunk := source.read(_CHUNK):
                spool.write(chunk)
            spool.seek(0)
            self._close.append(spool)
            return spool
        raise TypeError(f"cannot read EI records from {type(source).__name__}")

    def _identify(self, given: MessageSpec | None) -> MessageSpec:
        """Find the header (skipping empty lines) and the spec it names."""
        while True:
            item = self._next_line()
            if item is None:
                raise UnreadableInputError("input is empty: no voorlooprecord")
            self._pending.append(item)
            if item[0] != "":
                break
        head = item[0]
        if given is not None and self._headerless and head[:2] != given.header and head[:2] in given.records:
            self.info.header_missing = True  # (the caller named the spec: the validator reports it)
            return given
        if not head.startswith("01"):
            raise UnreadableInputError("first record is not a voorlooprecord (kenmerk record 01)",
                                       line=len(self._pending), record_type=head[:2] or None)
        key = (head[2:5], head[5:7], head[7:9])
        extra = (given,) if given is not None else ()
        spec = spec_for_key(key, extra)
        if spec is None or given is not None and spec is not given:
            # (a header naming a known message of another record length keeps it: its
            # length is as likely wrong as its key)
            known = self._known_by_length(given, len(head), key)
            if known is not None:
                self.info.header_key_wrong = True
                return known
        if spec is None:
            shown = "/".join(k if k.isascii() and k.isprintable() else "?" for k in key)
            raise UnreadableInputError(
                f"unknown message type/version {shown} in rubrics 0102/0103/0104",
                line=len(self._pending), record_type="01", rubric="0102")
        if given is not None and spec is not given:
            raise UnreadableInputError(f"header identifies {spec.name}, not {given.name}",
                                       line=len(self._pending), record_type="01", rubric="0102")
        return spec

    def _known_by_length(self, given: MessageSpec | None, length: int,
                         key: tuple[str, str, str]) -> MessageSpec | None:
        """The spec a header that names none (or one of another record length) is read
        as: the caller's when the header has its record length; without one, and only
        when asked (``recognise``), the one shipped spec of that record length -- or,
        where several share it, the one whose 0102/0103/0104 agree with the header's in
        two of the three (e.g. a GZ321 header with a wrong subversion)."""
        if given is not None:
            return given if given.record_length == length else None
        if not self._recognise:
            return None
        fits = [s for s in builtin_specs() if s.record_length == length]
        if len(fits) > 1:
            fits = [s for s in fits if sum(a == b for a, b in zip(s.key, key)) >= 2]
        return fits[0] if len(fits) == 1 else None

    # ------------------------------------------------------------------ reading
    def _blocks(self) -> Iterator[tuple[list[str], list[str] | None]]:
        """Every line, in batches: ``(texts, None)`` when each line of the batch ends with
        CR/LF (the common case, split in one go), else ``(texts, line ends)``. Lines are
        split like universal newlines (CR/LF, LF, lone CR), reading decoded chunks;
        memory is bounded by MAX_LINE."""
        text = self._text
        assert text is not None
        rest = ""
        skipping: str | None = None  # start of an over-long line being read through
        while True:
            try:
                chunk = text.read(_TEXT_CHUNK)
            except UnicodeDecodeError as exc:
                raise UnreadableInputError(f"bytes cannot be decoded as {self.info.encoding}",
                                           offset=exc.start) from None
            if not chunk:
                break
            if skipping is not None:
                if rest:  # a CR that ended the previous chunk
                    chunk = rest + chunk
                    rest = ""
                i = chunk.find("\n")
                if i < 0:
                    if chunk.endswith("\r"):
                        rest = "\r"
                    continue
                yield [skipping], ["\r\n" if i > 0 and chunk[i - 1] == "\r" else "\n"]
                skipping = None
                chunk = chunk[i + 1:]
            elif rest:
                chunk = rest + chunk
            cut = chunk.rfind("\n") + 1
            body, rest = chunk[:cut], chunk[cut:]
            if body:
                texts = body.split("\r\n")
                if texts.pop() == "" and not _has_line_break("".join(texts)):
                    yield texts, None  # no lone CR or LF anywhere
                else:
                    yield _unzip(_split_lines(body))
            if len(rest) > MAX_LINE:
                segs = rest.split("\r")
                if len(segs) > 1:
                    yield [seg[:MAX_LINE] for seg in segs[:-1]], ["\r"] * (len(segs) - 1)
                last = segs[-1]
                if len(last) > MAX_LINE:
                    skipping, rest = last[:MAX_LINE], ""
                else:
                    rest = last
        if skipping is not None:
            yield [skipping], [""]
            return
        if rest:
            yield _unzip(_split_cr(rest, ""))

    def _per_line(self, blocks: Iterator[tuple[list[str], list[str] | None]]
                  ) -> Iterator[tuple[list[str], list[str] | None]]:
        """A mixed file, read as Latin-1 (one character per byte): each line that is
        valid UTF-8 becomes UTF-8 text, any other line cp1252 text (noted)."""
        return per_line(blocks, self.info.fallback_lines, 0)

    def _next_line(self) -> tuple[str, str] | None:
        while not self._buffer:
            block = next(self._blocks_iter, None)
            if block is None:
                return None
            texts, terms = block
            self._buffer = list(zip(texts, terms or repeat("\r\n")))
            self._buffer.reverse()
        return self._buffer.pop()

    def _rest_of_first_block(self) -> None:
        """After the header is found: the lines read with it wait in ``_pending``."""
        self._buffer.reverse()
        self._pending.extend(self._buffer)
        self._buffer = []

    def blocks(self) -> Iterator[tuple[list[str], list[str] | None]]:
        """Every line, in batches (for fast scans): ``(texts, None)`` when all lines of the
        batch end with CR/LF, else ``(texts, line ends)``."""
        try:
            if self._pending:
                texts = [t for t, _ in self._pending]
                terms = [e for _, e in self._pending]
                self._pending = []
                yield texts, None if all(e == "\r\n" for e in terms) else terms
            yield from self._blocks_iter
        finally:
            self.close()

    def raw_lines(self) -> Iterator[tuple[str, str]]:
        """(text, line end) of every line, without making records (for fast scans)."""
        crlf = repeat("\r\n")
        for texts, terms in self.blocks():
            yield from zip(texts, terms or crlf)

    def __iter__(self) -> Iterator[Record]:
        spec = self.info.spec
        assert spec is not None
        classes = {t: record_class(lay) for t, lay in spec.records.items()}
        layouts = spec.records
        get_cls = classes.get
        for lineno, (raw, term) in enumerate(self.raw_lines(), 1):
            t = raw[:2]
            cls = get_cls(t)
            if cls is not None:
                yield cls(layouts[t], raw, lineno, term)
            else:
                yield Record(None, raw, lineno, term)

    def close(self) -> None:
        for fh in self._close:
            with contextlib.suppress(Exception):  # closing is best effort
                fh.close()
        self._close = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Decoded:
    """The text of a binary stream, decoded a chunk at a time; line ends untouched."""

    def __init__(self, binary: IO[bytes], encoding: str) -> None:
        self._binary = binary
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self._done = False

    def read(self, size: int) -> str:
        """Up to about *size* characters; "" at the end."""
        while not self._done:
            data = self._binary.read(size)
            text = self._decoder.decode(data, final=not data)
            self._done = not data
            if text:
                return text
        return ""

    def close(self) -> None:
        self._binary.close()


class NoClose(io.RawIOBase):
    """A caller's binary file object, read (and sought) but never closed: closing the
    layers eicodec puts on top of it leaves it open."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self._fh.read(len(buf))
        n = len(data)
        buf[:n] = data
        return n

    def read(self, size: int = -1) -> bytes:
        return self._fh.read(size)

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._fh.seek(pos, whence)

    def tell(self) -> int:
        return self._fh.tell()


def per_line(blocks: Iterator[tuple[list[str], list[str] | None]], fallback: list[int], lineno: int
             ) -> Iterator[tuple[list[str], list[str] | None]]:
    """Blocks of a mixed file read as Latin-1, each line as UTF-8 if it is, else as cp1252
    (its number, counted on from *lineno*, noted in *fallback*)."""
    for texts, terms in blocks:
        out = []
        for text in texts:
            lineno += 1
            if not text.isascii():
                data = text.encode("latin-1")
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    text = data.decode("cp1252", _LATIN1_FALLBACK)
                    fallback.append(lineno)
            out.append(text)
        yield out, terms


def _split_lines(body: str) -> Iterator[tuple[str, str]]:
    """Lines of *body* (which ends with LF), split like universal newlines."""
    parts = body.split("\n")
    parts.pop()
    for piece in parts:
        i = piece.find("\r")
        if i < 0:
            yield piece, "\n"
        elif i == len(piece) - 1:
            yield piece[:i], "\r\n"
        else:
            yield from _split_cr(piece, "\n")


def _has_line_break(text: str) -> bool:
    return "\n" in text or "\r" in text  # (one-character searches scan with memchr)


def _unzip(pairs: Iterable[tuple[str, str]]) -> tuple[list[str], list[str] | None]:
    texts: list[str] = []
    terms: list[str] = []
    for text, term in pairs:
        texts.append(text)
        terms.append(term)
    return texts, terms


def _split_cr(piece: str, final: str) -> Iterator[tuple[str, str]]:
    """Lines of *piece* that holds lone CRs; *final* is the line end after the piece."""
    segs = piece.split("\r")
    if piece.endswith("\r"):
        segs.pop()
        for seg in segs[:-1]:
            yield seg, "\r"
        yield segs[-1], "\r" + final if final else "\r"
        return
    for seg in segs[:-1]:
        yield seg, "\r"
    if segs[-1] or final:
        yield segs[-1], final


def _seekable(fh: Any) -> bool:
    try:
        return bool(fh.seekable())
    except Exception:  # noqa: BLE001
        return False


def _looks_like_content(text: str) -> bool:
    """A str is file content (not a path) when it has a line break or is record-sized."""
    return "\n" in text or "\r" in text or len(text) >= 100 or text == ""


# A byte cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) reads as its Latin-1
# character: a line read with the fallback keeps one character per byte.
_LATIN1_FALLBACK = "eicodec.latin1"
codecs.register_error(_LATIN1_FALLBACK, lambda exc: (
    exc.object[exc.start:exc.end].decode("latin-1"), exc.end))  # type: ignore[attr-defined]

# A multi-byte UTF-8 sequence (cp1252 text practically never holds one).
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _ascii_head(binary: IO[bytes]) -> bool:
    """Whether the first megabyte of *binary* is ASCII (rewinds it)."""
    start = binary.tell()
    head = binary.read(_CHUNK)
    binary.seek(start)
    return bool(head) and head.isascii()


def _detect_encoding(binary: IO[bytes], encoding: str | None) -> tuple[str, bool, str, bool]:
    """Check that the whole input decodes; return (encoding, utf-8 BOM present,
    fingerprint, mixed). *mixed*: no encoding was given and the input is UTF-8 with
    lines that are not (read line by line, see the module doc)."""
    start = binary.tell()
    head = binary.read(3)
    binary.seek(start)
    bom = head == codecs.BOM_UTF8
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UnreadableInputError(f"unknown encoding {encoding!r}") from None
        enc, fp, failure = _decodes(binary, start, encoding)
        if failure is None:
            return enc, bom and enc == "utf-8", fp, False
        raise UnreadableInputError(f"bytes cannot be decoded as {encoding} (first bad byte at offset "
                                   f"{failure[0]})", offset=failure[0]) from failure[1]
    enc, fp, failure = _decodes(binary, start, "utf-8")
    if failure is None:
        return enc, bom, fp, False
    # Not all UTF-8: cp1252 when the file holds no UTF-8 sequence, else mixed.
    binary.seek(start)
    utf8_seen = False
    tail = b""
    crc, size = 0, 0
    while chunk := binary.read(_CHUNK):
        if not utf8_seen and _UTF8_SEQUENCE.search(tail + chunk):
            utf8_seen = True
        tail = chunk[-3:]
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
    binary.seek(start)
    if utf8_seen:
        return "utf-8", bom, fingerprint_of(crc, size), True
    enc, fp, failure = _decodes(binary, start, "cp1252")
    if failure is None:
        return enc, False, fp, False
    raise UnreadableInputError(f"bytes cannot be decoded as utf-8 or cp1252 (first bad byte at offset "
                               f"{failure[0]})", offset=failure[0]) from failure[1]


def _decodes(binary: IO[bytes], start: int, enc: str
             ) -> tuple[str, str, tuple[int, UnicodeDecodeError] | None]:
    """(normalised encoding name, fingerprint, None) when all of *binary* decodes as
    *enc*; else (name, "", (offset of the first bad byte, error)). Rewinds *binary*."""
    decoder = codecs.getincrementaldecoder(enc)(errors="strict")
    norm = codecs.lookup(enc).name
    offset = 0
    binary.seek(start)
    crc = 0
    try:
        while chunk := binary.read(_CHUNK):
            decoder.decode(chunk)
            offset += len(chunk)
            crc = zlib.crc32(chunk, crc)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        binary.seek(start)
        return norm, "", (offset + exc.start, exc)
    binary.seek(start)
    return norm, fingerprint_of(crc, offset), None


# ---------------------------------------------------------------------- public API

def open_records(source: Source, *, encoding: str | None = None,
                 spec: MessageSpec | None = None) -> RecordStream:
    """Open *source* for streaming; the result has ``info`` and iterates records."""
    return RecordStream(source, encoding=encoding, spec=spec)


def iter_records(source: Source, *, encoding: str | None = None,
                 spec: MessageSpec | None = None) -> Iterator[Record]:
    """Stream every line of *source* as a :class:`Record` with its line number.

    *source* is a path (``str`` or :class:`os.PathLike`), file content (``bytes``, or a
    ``str`` containing line breaks), or a binary file object. Memory stays constant
    whatever the file size.
    """
    return iter(RecordStream(source, encoding=encoding, spec=spec))


def read(source: Source, *, encoding: str | None = None,
         spec: MessageSpec | None = None) -> Declaration:
    """Read a whole file into a :class:`Declaration` tree (lenient: see module doc)."""
    stream = RecordStream(source, encoding=encoding, spec=spec)
    assert stream.info.spec is not None
    decl = build_tree(stream, stream.info.spec)
    decl.encoding = stream.info.encoding
    decl.source = source_name(source)
    return decl


def source_name(source: Source) -> str | None:
    """The file *source* names, as given: a path (str or path-like) or a file object's
    ``name``; None for content (bytes, or a str holding records) and unnamed streams."""
    if isinstance(source, str):
        return None if _looks_like_content(source) else source
    if isinstance(source, os.PathLike):
        return os.fsdecode(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else None


def build_tree(records: Iterator[Record] | RecordStream, spec: MessageSpec) -> Declaration:
    """Arrange *records* (in file order) into a Declaration, noting what does not fit."""
    problems: list[Problem] = []
    unplaced: list[Record] = []
    header: Record | None = None
    trailer: Record | None = None
    groups: list[Node] = []
    open_nodes: dict[str, Node] = {}
    last: Node | None = None
    order = {t: i for i, t in enumerate(spec.records)}

    def problem(kind: str, rec: Record, msg: str) -> None:
        problems.append(Problem(kind, rec.line, rec.record_type or None, msg))

    def close_below(rtype: str) -> None:
        for t in spec.children_of(rtype):
            if t in open_nodes:
                close_below(t)
                del open_nodes[t]

    for rec in records:
        rtype = rec.record_type
        if rec.terminator != "\r\n":
            problem("line_end", rec, "record not followed by CR/LF")
        if rec.layout is None:
            if rec.raw == "":
                problem("empty_line", rec, "empty line (CR/LF without a record)")
            else:
                problem("unknown_type", rec, "unknown kenmerk record")
            unplaced.append(rec)
            continue
        if len(rec.raw) != rec.layout.length:
            problem("length", rec, f"record is {len(rec.raw)} characters, expected {rec.layout.length}")
        if trailer is not None:
            problem("order", rec, "record after the sluitrecord")
            unplaced.append(rec)
            continue
        if rtype == spec.header:
            if header is None and not groups:
                header = rec
            else:
                problem("order", rec, "voorlooprecord that is not the first record")
                unplaced.append(rec)
            continue
        if header is None:
            problem("order", rec, "record before the voorlooprecord")
            unplaced.append(rec)
            continue
        if rtype == spec.trailer:
            trailer = rec
            continue
        if rtype == spec.comment:
            if last is None:
                problem("order", rec, "commentaarrecord that follows no detail record")
                unplaced.append(rec)
            else:
                last.comments.append(rec)
            continue
        node = Node(rec)
        parent_type = rec.layout.parent
        if parent_type is None:
            groups.append(node)
            open_nodes.clear()
        else:
            parent = open_nodes.get(parent_type)
            if parent is None:
                problem("order", rec, f"record {rtype} outside a record {parent_type}")
                unplaced.append(rec)
                last = None
                continue
            prev = parent.children[-1].record.record_type if parent.children else None
            if prev is not None and order.get(prev, 0) > order[rtype]:
                problem("order", rec, f"record {rtype} after record {prev}")
            if rec.layout.max is not None and len(parent.of_type(rtype)) >= rec.layout.max:
                problem("cardinality", rec, f"more than {rec.layout.max} record(s) {rtype} in one group")
            parent.children.append(node)
            close_below(rtype)
        open_nodes[rtype] = node
        last = node
    if header is None:
        raise UnreadableInputError("no voorlooprecord")
    for node in _walk(groups):
        for t in spec.children_of(node.record.record_type):
            lay = spec.records[t]
            if len(node.of_type(t)) < lay.min:
                problems.append(Problem("cardinality", node.record.line, node.record.record_type,
                                        f"record {node.record.record_type} without record {t}"))
    if trailer is None:
        problems.append(Problem("missing_trailer", None, spec.trailer, "no sluitrecord"))
    if not groups and any(spec.records[t].min > 0 for t in spec.top_types):
        problems.append(Problem("cardinality", None, None, "file holds no detail records"))
    return Declaration(spec=spec, header=header, groups=groups, trailer=trailer,
                       unplaced=unplaced, problems=problems)


def _walk(nodes: list[Node]) -> Iterator[Node]:
    for n in nodes:
        yield n
        yield from _walk(n.children)



def blocks_from(binary: IO[bytes], encoding: str) -> Iterator[tuple[list[str], list[str] | None]]:
    """The lines of *binary* from its current position, which must be the start of a line,
    in blocks as :meth:`RecordStream.blocks` gives them (same splitting, same handling of
    over-long lines). For readers that take the regular part of a file another way and
    hand the rest back here."""
    stream = RecordStream.__new__(RecordStream)
    stream._close = []
    stream._pending = []
    stream._buffer = []
    stream.info = ReadInfo(encoding=encoding)
    stream._text = _Decoded(cast("IO[bytes]", NoClose(binary)), encoding)  # type: ignore[assignment]
    return stream._blocks()
