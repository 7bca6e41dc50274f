"""Anonymised copies: real EI files turned into shareable test data that validate the same.

:func:`anonymise` streams a file line by line and replaces every personal field with a
fake; every other character (non-personal fields, trailer totals, line ends) is copied
byte for byte. Which fields are personal comes from the spec (``personal = true``), plus
the elements listed under ``[also_personal]`` in ``specs/anonymise.toml`` and reserve
fields that hold text. What fake a field gets comes from the same data file, by the
field's Vektis element code (so AP304, AP305 and GZ321 share one table).

Fakes are keyed: each is derived with HMAC-SHA256 under the caller's key from the
original value (and the fake class), so the same value gets the same fake within a
file and across files anonymised with the same key (an AP304 still joins its AP305,
0403 still equals 0203). The one-to-one methods (``bsn``, ``shape``, ``number``,
``postcode``, ``date``, the account part of ``iban``) are keyed permutations without
fixed points: different values stay different (a mismatch between 0205 and 0405 stays a
mismatch) and no value is its own fake. Each fake keeps what the validator looks at:
blank stays blank, zeros stay zeros, digits stay digits, letters stay letters, a BSN
passing (or failing) the 11-proef still passes (fails), a valid (invalid) IBAN stays
valid (invalid), a real (impossible) date stays real (impossible). So
``validate(anonymise(x))`` gives the same statuses and return codes on the same lines.

Dates of birth (method ``date``): a real date moves to another real date of the same
year (so the age reached in each calendar year is kept exactly), by a keyed permutation
of that year's days. The year is cut at the dates of the file's header named in
``[dates] anchors`` (declaration period, invoice date): a birth date never moves across
one of them, and one equal to an anchor stays. The age on a given day may differ by a
year when that day lies between the original and the fake birthday; the dates of the
claim lines (in records after the 02) are not looked ahead at, so a baby born in the
declaration year could in principle move past its own claim date (no AP304 rule
compares the two).

A line of a record type the spec does not know is kept to its first two characters and
its shape (length, blanks, which characters are letters or digits): nothing says which
of its characters are personal, so all its letters and digits are replaced. A line of
a known type but the wrong length is faked field by field at the layout's positions.

The key never leaves this module: it is not written to the output, a message or a log,
and neither is any original value. Without a key a random one is drawn (runs differ).
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import hashlib
import io
import math
import os
import re
import secrets
import tomllib
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs

from .errors import EicodecError, SpecError
from .kinds import iban_ok
from .layouts import FieldSpec, MessageSpec, data_dir
from .outputs import atomic_output
from .reader import MAX_LINE, RecordStream, Source

__all__ = ["AnonymiseError", "OverwriteRefused", "anonymise", "anonymise_to", "load_fakes"]

_ROUNDS = 6
_CACHE_MAX = 4096
_METHODS = ("bsn", "date", "pick", "postcode", "number", "iban", "shape", "text")
_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_NL_POSTCODE = re.compile(r"[1-9][0-9]{3} ?[A-Z]{2}")
_IBAN_FORM = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{8,30}")


class AnonymiseError(EicodecError):
    """The anonymised copy cannot be made (e.g. a line too long to copy whole)."""


class OverwriteRefused(AnonymiseError):
    """The output is the input file: anonymise never writes over its input."""


# ---------------------------------------------------------------------- the data file

@attrs.frozen
class FakeClass:
    """One kind of fake (``surname``, ``bsn``, ...) from ``specs/anonymise.toml``."""

    name: str
    method: str
    values: tuple[str, ...] = ()
    keep: int = 0


@attrs.frozen
class Fakes:
    """The contents of ``specs/anonymise.toml``."""

    by_element: dict[str, FakeClass]
    also_personal: frozenset[str]
    reserve: FakeClass
    anchors: frozenset[str]
    generic: FakeClass
    source: str


def load_fakes(path: str | os.PathLike[str] | None = None) -> Fakes:
    """Read the fake table (default: the shipped ``specs/anonymise.toml``)."""
    p = Path(path) if path is not None else data_dir() / "anonymise.toml"
    src = str(p)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise SpecError(f"cannot read fake table: {exc.strerror}", spec=src) from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"not valid TOML: {exc}", spec=src) from None
    classes: dict[str, FakeClass] = {}
    for name, raw in dict(data.get("classes", {})).items():
        method = raw.get("method")
        if method not in _METHODS:
            raise SpecError(f"class {name!r}: method must be one of {', '.join(_METHODS)}", spec=src)
        values = tuple(raw.get("values", raw.get("words", raw.get("banks", ()))))
        if method in ("pick", "text") and (len(values) < 2 or not all(isinstance(v, str) and v for v in values)):
            raise SpecError(f"class {name!r}: needs at least two non-empty values", spec=src)
        if method == "pick" and not all(v.isascii() and v.isprintable() for v in values):
            raise SpecError(f"class {name!r}: values must be printable ASCII", spec=src)
        if not isinstance(raw.get("keep", 0), int) or raw.get("keep", 0) < 0:
            raise SpecError(f"class {name!r}: keep must be a number >= 0", spec=src)
        if method == "text" and not all(v.isascii() and v.isalpha() for v in values):
            raise SpecError(f"class {name!r}: words must be ASCII letters", spec=src)
        if method == "iban" and not all(re.fullmatch("[A-Z]{4}", v) for v in values):
            raise SpecError(f"class {name!r}: banks must be 4 capital letters", spec=src)
        classes[name] = FakeClass(name, method, values, int(raw.get("keep", 0)))

    def cls(name: Any, where: str) -> FakeClass:
        if name not in classes:
            raise SpecError(f"{where} names unknown class {name!r}", spec=src)
        return classes[name]

    by_element = {el: cls(c, f"element {el}") for el, c in dict(data.get("elements", {})).items()}
    reserve = cls(dict(data.get("reserve", {})).get("class", "free_text"), "[reserve]")
    also = frozenset(dict(data.get("also_personal", {})).get("elements", ()))
    anchors = frozenset(dict(data.get("dates", {})).get("anchors", ()))
    return Fakes(by_element, also, reserve, anchors, FakeClass("shape", "shape"), src)


@functools.cache
def _shipped_fakes() -> Fakes:
    return load_fakes()


# ---------------------------------------------------------------------- keyed permutations

class _Keyed:
    """Keyed pseudo-random functions and permutations: HMAC-SHA256 under the key.

    The HMAC pads are hashed once (RFC 2104 with the key's inner and outer states kept),
    so each value costs two SHA-256 compressions instead of four.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(c ^ 0x36 for c in key))
        self._outer = hashlib.sha256(bytes(c ^ 0x5C for c in key))

    def mac(self, msg: bytes) -> bytes:
        """HMAC-SHA256 of *msg* under the key."""
        inner = self._inner.copy()
        inner.update(msg)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def number(self, modulus: int, *parts: object) -> int:
        """A keyed number in ``range(modulus)`` derived from *parts*."""
        return self._number(modulus, "\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"))

    def _number(self, modulus: int, msg: bytes) -> int:
        if modulus.bit_length() <= 192:  # one block, 64 bits more than needed: no bias to speak of
            return int.from_bytes(self.mac(b"\0\0" + msg), "big") % modulus
        need = (modulus.bit_length() + 64 + 255) // 256
        out = b"".join(self.mac(i.to_bytes(2, "big") + msg) for i in range(need))
        return int.from_bytes(out, "big") % modulus

    def permute(self, x: int, n: int, tweak: str, inverse: bool = False) -> int:
        """A keyed permutation of ``range(n)`` (Feistel network, cycle-walked to *n*)."""
        if n <= 1:
            return x
        m = math.isqrt(n - 1) + 1
        k = -(-n // m)
        tag = tweak.encode("utf-8", "surrogatepass") + b"\x1f"
        rounds = tuple(range(_ROUNDS - 1, -1, -1) if inverse else range(_ROUNDS))
        while True:
            a, b = divmod(x, k)
            for r in rounds:
                if r % 2 == 0:
                    step = self._number(m, tag + bytes((r,)) + b.to_bytes((b.bit_length() + 7) // 8 or 1, "big"))
                    a = (a - step) % m if inverse else (a + step) % m
                else:
                    step = self._number(k, tag + bytes((r,)) + a.to_bytes((a.bit_length() + 7) // 8 or 1, "big"))
                    b = (b - step) % k if inverse else (b + step) % k
            x = a * k + b
            if x < n:
                return x

    def derange(self, x: int, n: int, tweak: str, ok: Callable[[int], bool]) -> int:
        """Keyed one-to-one map of ``{y < n: ok(y)}`` onto itself without fixed points.

        The permutation is cycle-walked onto the allowed set, then conjugates a step to
        the next allowed number: ``p⁻¹(next(p(x)))``. *x* must be allowed; when it is
        the only allowed value it is returned unchanged.
        """
        y = self.permute(x, n, tweak)
        while not ok(y):
            y = self.permute(y, n, tweak)
        z = (y + 1) % n
        while not ok(z):
            z = (z + 1) % n
        if z == y:
            return x
        w = self.permute(z, n, tweak, inverse=True)
        while not ok(w):
            w = self.permute(w, n, tweak, inverse=True)
        return w


# ---------------------------------------------------------------------- what the validator sees

def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _real_date(text: str) -> dt.date | None:
    if len(text) != 8 or not _is_digits(text):
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _bsn_ok(bsn: str) -> bool:
    return sum(int(d) * w for d, w in zip(bsn, (9, 8, 7, 6, 5, 4, 3, 2, -1))) % 11 == 0


def _look(f: FieldSpec, text: str) -> tuple[Any, ...]:
    """What the validator can tell apart about *text* in field *f* (kept by every fake)."""
    if f.type == "N":
        digits = _is_digits(text)
        zeros = digits and text.count("0") == len(text)
        real = f.kind == "date" and _real_date(text) is not None
        time = f.kind == "time" and digits and len(text) == 4 and int(text[:2]) < 24 and int(text[2:]) < 60
        return ("N", digits, zeros, real, time)
    return ("AN", text.strip(" ") == "")


def _fold(ch: str) -> str:
    """An ASCII letter for a non-ASCII one (é -> e, ß -> s); other characters unchanged."""
    base = unicodedata.normalize("NFKD", ch)[:1]
    if base.isascii() and base.isalpha():
        return base
    return "S" if ch.isupper() else "s"


# ---------------------------------------------------------------------- the anonymiser

class Anonymiser:
    """Fakes for the personal fields of one spec under one key (see module docs)."""

    def __init__(self, spec: MessageSpec, key: bytes, fakes: Fakes | None = None, *,
                 keep_foreign: bool = False) -> None:
        #: In a file that mixes UTF-8 lines with lines that are not (a defect the validator
        #: reports at those lines), the non-ASCII characters of faked fields stay in their
        #: places, so that every line keeps its bytes' UTF-8 validity and the verdict stays
        #: the same; only their ASCII letters and digits are faked.
        self.keep_foreign = keep_foreign
        self.spec = spec
        self.fakes = fakes or _shipped_fakes()
        self._k = _Keyed(key)
        self._cache: dict[tuple[Any, ...], str] = {}
        self.anchors: tuple[dt.date, ...] = ()
        self.plans: dict[str, list[tuple[FieldSpec, FakeClass]]] = {}
        for t, lay in spec.records.items():
            plan = []
            for f in lay.fields:
                if f.fixed is not None:
                    continue
                if f.kind == "reserve":
                    plan.append((f, self.fakes.reserve))
                elif f.personal or f.element in self.fakes.also_personal:
                    plan.append((f, self.fakes.by_element.get(f.element, self.fakes.generic)))
            if plan:
                self.plans[t] = plan
        hdr = spec.layout(spec.header)
        self._anchor_fields = [f for f in hdr.fields if f.kind == "date" and f.element in self.fakes.anchors]

    # -- lines
    def line(self, text: str) -> str:
        """*text* (one record, without its line end) with its personal fields faked."""
        t = text[:2]
        if t == self.spec.header:
            self.anchors = tuple(sorted({d for f in self._anchor_fields
                                         if (d := _real_date(text[f.slice])) is not None}))
        plan = self.plans.get(t)
        if plan is None:
            if t in self.spec.records or len(text) <= 2:
                return text  # a record type without personal fields
            return t + self._blob(text[2:])  # unknown record type: any character may be personal
        out = []
        pos = 0
        for f, cls in plan:
            s = f.start - 1
            if s >= len(text):
                break
            value = text[s:f.end]
            out.append(text[pos:s])
            fake = self.fake(f, cls, value)
            if self.keep_foreign and not value.isascii():
                fake = _keep_foreign(value, fake)
            out.append(fake)
            pos = s + len(value)
        out.append(text[pos:])
        return "".join(out)

    def _blob(self, text: str) -> str:
        """The rest of a line of unknown record type, every letter and digit replaced
        (shape kept: which line it was and its length stay visible, nothing else)."""
        got = self._cache.get(("blob", text))
        if got is None:
            chars = list(text)
            slots: list[tuple[int, str]] = []
            for i, ch in enumerate(chars):
                if not ch.isascii() and ch.isalpha():
                    ch = chars[i] = _fold(ch)
                for alpha in (_DIGITS, _UPPER, _LOWER):
                    if ch in alpha:
                        slots.append((i, alpha))
                        break
            got = self._permuted(chars, slots, "blob", lambda _: True)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[("blob", text)] = got
        return got

    # -- one value
    def fake(self, f: FieldSpec, cls: FakeClass, value: str) -> str:
        """The fake for *value* (the field's text, possibly cut short by a short line)."""
        if value.strip(" 0" if f.type == "N" else " ") == "":
            return value  # empty: nothing to hide, and empty must stay empty
        ck = (cls.name, f.type, f.kind, len(value), value,
              self.anchors if cls.method == "date" or f.kind == "date" else None)
        got = self._cache.get(ck)
        if got is None:
            got = self._make(f, cls, value)
            if len(got) != len(value) or _look(f, got) != _look(f, value):  # pragma: no cover - a bug of ours
                raise AnonymiseError("internal error: a fake would change the verdict",
                                     record_type=f.record_type, rubric=f.rubric)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[ck] = got
        return got

    def _make(self, f: FieldSpec, cls: FakeClass, value: str) -> str:
        m = cls.method
        if f.type == "N" and m in ("pick", "text", "postcode", "iban"):
            m = "shape"  # (these write letters: not in an N field)
        if f.kind == "date" and _real_date(value) is not None:
            return self._date(value)
        if m == "bsn" and len(value) == 9 and _is_digits(value):
            return self._bsn(value)
        if m == "pick" and value[0] != " ":
            return self._pick(cls, value)
        if m == "text":
            return self._text(cls, value)
        if m == "postcode" and _NL_POSTCODE.fullmatch(value.rstrip(" ")):
            return self._postcode(cls, value)
        if m == "number" and _is_digits(value):
            return self._number(cls, value)
        if m == "iban":
            iban = self._iban(cls, value)
            if iban is not None:
                return iban
        return self._shape(f, cls, value)

    # -- methods
    def _shape(self, f: FieldSpec, cls: FakeClass, value: str) -> str:
        """Letters to letters, digits to digits, other characters kept; one-to-one."""
        chars = list(value)
        slots: list[tuple[int, str]] = []
        for i, ch in enumerate(chars):
            if i < cls.keep:
                continue
            if not ch.isascii() and ch.isalpha():
                ch = chars[i] = _fold(ch)
            if ch in _DIGITS:
                slots.append((i, _DIGITS))
            elif ch in _UPPER:
                slots.append((i, _UPPER))
            elif ch in _LOWER:
                slots.append((i, _LOWER))
        look = _look(f, value)
        return self._permuted(chars, slots, f"shape|{f.type}|{f.kind}",
                              lambda text: _look(f, text) == look)

    def _permuted(self, chars: list[str], slots: list[tuple[int, str]], tweak: str,
                  ok: Callable[[str], bool]) -> str:
        """*chars* with the characters at *slots* (index, alphabet) deranged by key."""
        if not slots:
            return "".join(chars)
        n = 1
        x = 0
        for i, alpha in slots:
            x = x * len(alpha) + alpha.index(chars[i])
            n *= len(alpha)

        def render(y: int) -> str:
            out = list(chars)
            for i, alpha in reversed(slots):
                y, d = divmod(y, len(alpha))
                out[i] = alpha[d]
            return "".join(out)

        pattern = "".join(a[0] for _, a in slots)
        y = self._k.derange(x, n, f"{tweak}|{len(chars)}|{pattern}", lambda v: ok(render(v)))
        return render(y)

    def _bsn(self, value: str) -> str:
        if value == "999999999":
            return value
        if _bsn_ok(value):
            # a valid BSN is its first 8 digits (the 9th follows): permute those
            def ok(p: int) -> bool:
                head = f"{p:08d}"
                last = sum(int(d) * w for d, w in zip(head, (9, 8, 7, 6, 5, 4, 3, 2))) % 11
                return last < 10 and p != 0 and head + str(last) != "999999999"

            p = self._k.derange(int(value[:8]), 10 ** 8, "bsn-ok", ok)
            head = f"{p:08d}"
            return head + str(sum(int(d) * w for d, w in zip(head, (9, 8, 7, 6, 5, 4, 3, 2))) % 11)

        def bad(v: int) -> bool:
            text = f"{v:09d}"
            return v != 0 and text != "999999999" and not _bsn_ok(text)

        return f"{self._k.derange(int(value), 10 ** 9, 'bsn-bad', bad):09d}"

    def _date(self, value: str) -> str:
        d = _real_date(value)
        assert d is not None
        year_start = dt.date(d.year, 1, 1)
        days = (dt.date(d.year + 1, 1, 1) - year_start).days
        lo, hi = 0, days  # the stretch of the year between anchors that holds d
        for a in self.anchors:
            if a.year != d.year:
                continue
            i = (a - year_start).days
            j = (d - year_start).days
            if i == j:
                return value  # on an anchor: moving would cross it
            if i < j:
                lo = max(lo, i + 1)
            else:
                hi = min(hi, i)
        j = (d - year_start).days - lo
        new = self._k.derange(j, hi - lo, f"date|{d.year}|{lo}|{hi}", lambda v: True)
        moved = year_start + dt.timedelta(days=lo + new)
        return f"{moved.year:04d}{moved.month:02d}{moved.day:02d}"

    def _choose(self, options: list[str], *parts: object) -> str:
        return options[self._k.number(len(options), *parts)]

    def _pick(self, cls: FakeClass, value: str) -> str:
        stripped = value.rstrip(" ")
        fits = [v for v in cls.values if len(v) <= len(value) and v != stripped]
        if not fits:
            return self._text(cls if cls.method == "text" else _FILLER, value)
        return self._choose(fits, "pick", cls.name, stripped).ljust(len(value))

    def _text(self, cls: FakeClass, value: str) -> str:
        """Words filling the original's non-blank stretch (leading blanks kept)."""
        stripped = value.rstrip(" ")
        lead = len(stripped) - len(stripped.lstrip(" "))
        width = len(stripped) - lead
        words = []
        n = 0
        i = 0
        while n < width:
            w = self._choose(list(cls.values), "text", cls.name, stripped, i)
            words.append(w)
            n += len(w) + 1
            i += 1
        body = " ".join(words)[:width]
        if body == stripped[lead:]:  # (only for a value made of our own words)
            body = body[::-1] if body[::-1] != body else "x" * width
        return (" " * lead + body).ljust(len(value))

    def _postcode(self, cls: FakeClass, value: str) -> str:
        chars = list(value)
        slots = [(0, "123456789")] + [(i, _DIGITS) for i in (1, 2, 3)]
        letters = [i for i in range(4, len(value)) if chars[i] in _UPPER][:2]
        slots += [(i, _UPPER) for i in letters]

        def ok(text: str) -> bool:
            return "".join(text[i] for i in letters) not in ("SA", "SD", "SS")

        return self._permuted(chars, slots, "postcode", ok)

    def _number(self, cls: FakeClass, value: str) -> str:
        lead = len(value) - len(value.lstrip("0"))
        chars = list(value)
        slots = [(lead, "123456789")] + [(i, _DIGITS) for i in range(lead + 1, len(value))]
        return self._permuted(chars, slots, f"number|{cls.name}", lambda text: True)

    def _iban(self, cls: FakeClass, value: str) -> str | None:
        """A valid IBAN for a valid one (same country and length); None otherwise."""
        stripped = value.strip(" ")
        if not _IBAN_FORM.fullmatch(stripped) or not iban_ok(stripped):
            return None
        lead = value.index(stripped[0])
        country, bban = stripped[:2], stripped[4:]
        chars = list(bban)
        start = 0
        if country == "NL" and len(bban) == 14 and cls.values:
            chars[:4] = list(self._choose(list(cls.values), "iban-bank", stripped))
            start = 4
        slots = [(i, _DIGITS if chars[i] in _DIGITS else _UPPER) for i in range(start, len(chars))]

        def whole(b: str) -> str:
            return country + _check_digits(country, b) + b

        new = self._permuted(chars, slots, f"iban|{country}", lambda b: iban_ok(whole(b)))
        fake = whole(new)
        return (" " * lead + fake).ljust(len(value))


_FILLER = FakeClass("filler", "text", ("x", "y"))


def _check_digits(country: str, bban: str) -> str:
    """ISO 13616 check digits for *country* and *bban*."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(digits) % 97:02d}"


# ---------------------------------------------------------------------- public API

def _key_bytes(key: bytes | str | None) -> bytes:
    if key is None:
        return secrets.token_bytes(32)
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise TypeError("key must be non-empty bytes (or str)")
    return bytes(key)


def anonymise(source: Source, key: bytes | str | None = None, *, spec: MessageSpec | None = None,
              encoding: str | None = None, fakes: Fakes | None = None) -> Iterator[bytes]:
    """Stream the anonymised copy of *source*: one ``bytes`` per line, line end included.

    *source* is what :func:`eicodec.iter_records` takes (path, bytes, binary file).
    *key* (bytes, or str as UTF-8) makes the fakes repeatable: the same key gives the
    same bytes, and equal values in files anonymised with the same key get equal fakes.
    Without a key a random one is used. The copy has the input's encoding, byte-order
    mark and line ends; only personal fields differ. Memory stays flat in file size.
    """
    k = _key_bytes(key)
    stream = RecordStream(source, encoding=encoding, spec=spec, recognise=True)  # (as the validator reads it)
    found = stream.info.spec
    assert found is not None
    anon = Anonymiser(found, k, fakes, keep_foreign=stream.info.mixed)
    enc = "utf-8" if stream.info.encoding == "str" else stream.info.encoding

    fallback = stream.info.fallback_lines  # lines of a UTF-8 file that were not UTF-8

    def lines() -> Iterator[bytes]:
        with stream:
            first = True
            k = 0  # fallback lines come in order: a cursor, not a search
            for n, (text, term) in enumerate(stream.raw_lines(), 1):
                if len(text) >= MAX_LINE:  # the reader kept only its start: copying would lose data
                    raise AnonymiseError(f"a line of {MAX_LINE:,} characters or more cannot be copied", line=n)
                out = anon.line(text)
                while k < len(fallback) and fallback[k] < n:
                    k += 1
                if k < len(fallback) and fallback[k] == n:
                    # the line was not UTF-8 and stays so (the same finding at the same
                    # line): written back in cp1252, its non-ASCII characters kept
                    data = (out + term).encode("cp1252", _BYTE_BACK)
                else:
                    data = (out + term).encode(enc)
                if first and stream.info.bom:
                    data = b"\xef\xbb\xbf" + data
                first = False
                yield data

    return lines()


def _keep_foreign(value: str, fake: str) -> str:
    """*fake* with the non-ASCII characters of *value* kept in their places (see
    :class:`Anonymiser` ``keep_foreign``)."""
    return "".join(v if not v.isascii() else f for v, f in zip(value, fake)) + fake[len(value):]


def _byte_back(exc: UnicodeError) -> tuple[bytes, int]:
    """Encode error handler: a character cp1252 leaves undefined goes back as its Latin-1 byte."""
    assert isinstance(exc, UnicodeEncodeError)
    chunk = exc.object[exc.start:exc.end]
    if all(ord(c) < 256 for c in chunk):
        return chunk.encode("latin-1"), exc.end
    raise exc


_BYTE_BACK = "eicodec.byte_back"
codecs.register_error(_BYTE_BACK, _byte_back)


def _same_file(a: Any, b: Any) -> bool:
    """Whether *a* (path or file object) and *b* (path or file object) are one file."""

    def stat(x: Any) -> os.stat_result | None:
        try:
            if isinstance(x, (str, os.PathLike)):
                return os.stat(x)
            return os.fstat(x.fileno())
        except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
            return None

    sa, sb = stat(a), stat(b)
    if sa is not None and sb is not None:
        return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
    if isinstance(a, (str, os.PathLike)) and isinstance(b, (str, os.PathLike)):
        return os.path.abspath(a) == os.path.abspath(b)
    return False


def anonymise_to(source: Source, target: str | os.PathLike[str] | IO[bytes], key: bytes | str | None = None, *,
                 spec: MessageSpec | None = None, encoding: str | None = None,
                 fakes: Fakes | None = None) -> int:
    """Write the anonymised copy of *source* to *target* (a path or binary file).

    Refuses (:class:`OverwriteRefused`) to write over the input. A path target is written
    to a temporary file next to it and renamed into place when complete. Returns the
    number of lines written.
    """
    if _same_file(source, target):
        raise OverwriteRefused("the output is the input file; refusing to write over it")
    count = 0
    lines = anonymise(source, key, spec=spec, encoding=encoding, fakes=fakes)
    if isinstance(target, (str, os.PathLike)):
        with atomic_output(target) as out:  # (a device or pipe, e.g. /dev/null, is written directly)
            for data in lines:
                out.write(data)
                count += 1
        return count
    if isinstance(target, io.TextIOBase):
        raise TypeError("pass a binary file object (open(path, 'wb')), not a text one")
    for data in lines:
        target.write(data)
        count += 1
    return count
