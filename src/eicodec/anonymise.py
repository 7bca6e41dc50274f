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
a known type that does not fit its layout (wrong length, relabelled, shifted, noise) is
treated as every record type it could be (see :meth:`Anonymiser.line`), and a leak
guard checks every line against the personal values of all of them before anything is
written (:class:`LeakGuard`).

The key never leaves this module: it is not written to the output, a message or a log,
and neither is any original value. Without a key a random one is drawn (runs differ).
"""

from __future__ import annotations

import calendar
import codecs
import datetime as dt
import functools
import hashlib
import io
import math
import os
import re
import secrets
import tempfile
import tomllib
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs

from .codes import codelist
from .errors import EicodecError, SpecError
from .kinds import iban_ok
from .layouts import FieldSpec, MessageSpec, RecordLayout, data_dir
from .masking import Masker
from .outputs import atomic_output, same_file
from .reader import MAX_LINE, RecordStream, Source

__all__ = ["AnonymiseError", "LeakError", "OverwriteRefused", "anonymise", "anonymise_to", "load_fakes"]

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


def _public_values(f: FieldSpec) -> frozenset[str] | None:
    """The values of field *f* that are public (its code list or allowed values), or None."""
    allowed: frozenset[str] | None = None
    if f.codelist:
        allowed = codelist(f.codelist)
    if f.allowed is not None:
        allowed = frozenset(f.allowed)
    if allowed is None:
        return None
    return frozenset(a.strip(" ").lstrip("0") if f.type == "N" else a.strip(" ") for a in allowed)


def _telling(text: str) -> int:
    """How many characters of *text* are letters or digits other than 0 (what tells a
    value apart: not blanks, zeros, punctuation or control characters)."""
    return sum(1 for ch in text if ch.isalnum() and ch != "0")


#: (in place of a field's public values) any value of digits only
_DIGITS_ONLY: frozenset[str] = frozenset({"<digits>"})


def _is_public(f: FieldSpec, value: str, allowed: frozenset[str] | None, short: bool = True) -> bool:
    """Whether *value* in the non-personal field *f* of a line in doubt may stay: the
    fixed text, a listed code, or too short to hold a personal value (an N field with
    fewer than :data:`GUARD_MIN` significant digits, such as a record id, a count or an
    amount; any field with fewer than 3 characters that are not blank or 0)."""
    if f.fixed is not None and value == f.fixed:
        return True
    significant = value.strip(" ").lstrip("0")
    if short and (_telling(significant) < 3 or (f.type == "N" and len(significant) < GUARD_MIN
                                                            and _is_digits(value))):
        return True
    if allowed is _DIGITS_ONLY:
        return len(value) == f.length and _is_digits(value)
    if allowed is None or len(value) != f.length:
        return False
    return (significant if f.type == "N" else value.strip(" ")) in allowed


# ---------------------------------------------------------------------- the leak guard

#: A line of its layout's length that breaks at most this many of its fields' forms
#: (and fits no other layout as well) is placed as its own type; see Masker.nearly.
NEARLY = 2

#: The shortest value the guard looks for anywhere in a line (shorter ones, such as
#: initials or a house number, are checked at their own positions only).
GUARD_MIN = 5


class LeakError(AnonymiseError):
    """The anonymised copy would still hold a personal value of the input: nothing is
    written. The message names the line and rubric, never the value."""


def value_forms(f: FieldSpec, value: str) -> list[str]:
    """The forms in which the text *value* of personal field *f* could appear in an
    output: as written (without blanks; an N field also without leading zeros), a date
    as ISO (YYYY-MM-DD) and Dutch (DD-MM-YYYY), a Dutch postcode also with a space.
    Forms shorter than :data:`GUARD_MIN`, with fewer than 3 letters or digits other than
    0 (:func:`_telling`), or without a letter or digit are left out (they occur by chance)."""
    text = value.strip(" ")
    forms = [text]
    if f.type == "N":
        forms.append(text.lstrip("0"))
    if len(text) == 8 and _is_digits(text) and f.kind == "date":
        forms += [f"{text[:4]}-{text[4:6]}-{text[6:]}", f"{text[6:]}-{text[4:6]}-{text[:4]}"]
    if _NL_POSTCODE.fullmatch(text):
        forms.append(text[:4] + " " + text[-2:] if " " not in text else text.replace(" ", ""))
    return [x for x in dict.fromkeys(forms) if len(x) >= GUARD_MIN and _telling(x) >= 3
            and x != "999999999" and re.search("[0-9A-Za-z]", x)]


class LeakGuard:
    """Checks each anonymised line against the personal values of its original: the
    values of every personal field of every record type the line could be (its own when
    it fits its layout, every type of the spec when it does not; see
    :meth:`eicodec.masking.Masker.could_be`)."""

    def __init__(self, spec: MessageSpec, fakes: Fakes) -> None:
        self.spec = spec
        self.masker = Masker(spec)
        self.personal = {t: [f for f in lay.fields if f.fixed is None and (
            f.personal or f.element in fakes.also_personal)] for t, lay in spec.records.items()}
        self.vocabulary = frozenset(v for c in fakes.by_element.values() for v in c.values)
        self.dates = {t: [f for f in lay.fields if f.kind == "date"] for t, lay in spec.records.items()}
        #: per personal field, how many leading characters its fake class keeps (a phone
        #: number's 06): a value cut off within them has nothing to hide
        self.keep = {(t, f.attr): c.keep for t, fs in self.personal.items() for f in fs
                     if (c := fakes.by_element.get(f.element)) is not None and c.keep}
        self.longest = max(lay.length for lay in spec.records.values())

    def check(self, before: str, after: str, line: int, anchors: tuple[dt.date, ...] = ()) -> None:
        """Raise :class:`LeakError` when *after* (the copy of line *before*) still holds
        one of *before*'s personal values: a personal field's text unchanged in its place,
        or one of its :func:`value_forms` left where it was (the anonymiser moves no text)."""
        found = self.first_leak(before, after, anchors)
        if found is not None:
            t, f = found
            raise LeakError(f"the anonymised copy would still hold the personal value of rubric {f.rubric} "
                            f"({f.name}) of record type {t}; nothing was written", line=line, record_type=t,
                            rubric=f.rubric)

    def types(self, lay: RecordLayout | None, before: str) -> tuple[str, ...]:
        """The record types line *before* (read with layout *lay*) could be: its own and
        those it fits as tightly when it fits its layout; when it is nearly placed (see
        :meth:`eicodec.masking.Masker.nearly`) its own and every type it fits at least as
        well (:meth:`eicodec.masking.Masker.rivals`); otherwise
        :meth:`eicodec.masking.Masker.could_be`."""
        if lay is not None and not self.masker.fits(lay, before) and \
                self.masker.nearly(lay, before, NEARLY) is not None:
            return (lay.type, *self.masker.rivals(lay, before))
        return self.masker.could_be(lay, before)

    def first_leak(self, before: str, after: str, anchors: tuple[dt.date, ...] = (),
                   types: tuple[str, ...] | None = None) -> tuple[str, FieldSpec] | None:
        """The record type and personal field of the first value of *before* that
        *after* still holds, or None. *types*: the types the line could be (default:
        :meth:`types`)."""
        lay = self.spec.records.get(before[:2])
        if lay is not None and len(before) > lay.length:  # records joined: each checked
            o = lay.length
            while o < len(before):
                nxt = self.spec.records.get(before[o:o + 2])
                end = o + (nxt.length if nxt is not None else self.longest)
                got = self._first_leak(before[o:end], after[o:end], anchors, None)
                if got is not None:
                    return got
                o = end
            before, after = before[:lay.length], after[:lay.length]
        return self._first_leak(before, after, anchors, types)

    def _first_leak(self, before: str, after: str, anchors: tuple[dt.date, ...],
                    types: tuple[str, ...] | None) -> tuple[str, FieldSpec] | None:
        lay = self.spec.records.get(before[:2])
        kept = {f"{a.year:04d}{a.month:02d}{a.day:02d}" for a in anchors}
        if types is None:
            types = self.types(lay, before)
        public: str | None = None  # *before* with the personal fields of every type cut out
        for t in types:
            own = lay is not None and t == lay.type
            for f in self.personal[t]:
                if f.start > len(before):
                    break
                value = before[f.slice]
                if own and after[f.slice] == value and _hidable(f, value[self.keep.get((t, f.attr), 0):], kept):
                    return t, f
                for form in value_forms(f, value):
                    if form in after and form not in self.vocabulary and form not in kept:
                        if public is None:
                            public = self._public(before, types, kept)
                        if _copied(form, before, after, public):
                            return t, f
        return None

    def _public(self, text: str, types: tuple[str, ...], kept: set[str]) -> str:
        """*text* with the personal fields of *types* cut out, except those whose value
        stays by rule (empty, the no-BSN dummy, a date of the header): their characters
        are public whatever type claims them (the dummy 999999999 of a cut-off claim line
        is not a comment's free text), as is a date of the header in any date field."""
        chars = list(text)
        stays = []
        for t in types:
            for f in self.personal[t]:
                if _hidable(f, text[f.slice], kept):
                    chars[f.start - 1:f.end] = "\x00" * len(chars[f.start - 1:f.end])
                else:
                    stays.append(f)
        for f in stays:
            chars[f.start - 1:f.end] = text[f.start - 1:f.end]
        for t in types:  # a date of the header is public wherever a date field holds it
            for f in self.dates[t]:
                if text[f.slice] in kept:
                    chars[f.start - 1:f.end] = text[f.start - 1:f.end]
        return "".join(chars)


def _copied(form: str, before: str, after: str, public: str) -> bool:
    """Whether *after* holds *form* where *before* held it, across a position that holds
    personal data (*public*: *before* with those positions cut out). An occurrence the
    fakes made up by chance, or one in data that is not personal, is no copy; nor is one
    with fewer telling characters (:func:`_telling`) from personal positions than a value
    needs (3): a date of the header kept in a claim line followed by the 0 of a line cut
    off in a field another type's birth date would cover; the no-BSN dummy followed by
    two digits of a kept UZOVI number, in the place of another type's debtor number."""
    k = len(form)
    i = after.find(form)
    while i >= 0:
        if before[i:i + k] == form and _telling("".join(
                c for p, c in zip(public[i:i + k], form) if p == "\x00")) >= 3:
            return True
        i = after.find(form, i + 1)
    return False


def _hidable(f: FieldSpec, value: str, anchors: set[str]) -> bool:
    """Whether a fake must differ from *value*: it holds an ASCII letter or digit, is not
    empty (blank, zeros), not the no-BSN dummy and not a date of the header."""
    if value.strip(" 0" if f.type == "N" else " ") == "" or not re.search("[0-9A-Za-z]", value):
        return False
    return value not in ("999999999",) and value not in anchors


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
        self.masker = Masker(spec)
        planned_attrs = {t: {f.attr for f, _ in self.plans.get(t, [])} for t in spec.records}
        #: per type, the fields (not personal: those are always faked) that keep a public value
        self._public = {t: {f.attr: _public_values(f) for f in lay.fields if f.attr not in planned_attrs[t]}
                        for t, lay in spec.records.items()}
        #: the same, an amount's digits public as well (see line)
        self._public_amounts = {t: {a: (_DIGITS_ONLY if lay.field(a).kind == "amount" else v)
                                    for a, v in self._public[t].items()} for t, lay in spec.records.items()}
        #: for a line that cannot be placed: every field but the kenmerk (a non-personal
        #: one keeps a value that cannot be personal, see _is_public; one whose element
        #: has a class in [elements] gets that class, e.g. an AGB code keeping its
        #: zorgverlenerssoort, which a rule may check)
        self._doubt: dict[str, list[tuple[FieldSpec, FakeClass]]] = {}
        for t, lay in spec.records.items():
            planned = {f.attr: c for f, c in self.plans.get(t, [])}
            self._doubt[t] = [(f, planned.get(f.attr) or self.fakes.by_element.get(f.element, self.fakes.generic))
                              for f in lay.fields[1:]]
        self.guard = LeakGuard(spec, self.fakes)

    # -- lines
    def line(self, text: str) -> str:
        """*text* (one record, without its line end) with every position that could hold
        personal data faked, by what the line is rather than the kenmerk it claims:

        * a line that fits its layout (length and field forms, see
          :class:`eicodec.masking.Masker`): its personal fields, reserves, and the fields
          that overlap a personal field of another layout it fits as tightly;
        * a line nearly placed (at most :data:`NEARLY` broken fields, no other layout
          fitting as well): as above, its broken fields too, and the fields over a
          personal field of every type it fits at least as well (it could be one of
          them: :meth:`eicodec.masking.Masker.rivals`);
        * a line of a known type that does not fit it (a relabelled kenmerk, a wrong
          length, two records joined, a shifted field): every field but the kenmerk,
          each with a fake the validator sees as it saw the original (a fixed text and a
          listed code stay: they are public; so do amounts of a line that can be
          nothing but its own type), and any text past the layout's length
          shape-faked;
        * a line of unknown type: all its letters and digits (shape kept).

        Values kept as public that join up to a personal value of a type the line could
        be are faked one field at a time until the leak guard is satisfied.
        """
        t = text[:2]
        if t == self.spec.header:
            self.anchors = tuple(sorted({d for f in self._anchor_fields
                                         if (d := _real_date(text[f.slice])) is not None}))
        lay = self.spec.records.get(t)
        if lay is None:
            if len(text) <= 2:
                return text
            return t + self._blob(text[2:])  # unknown record type: any character may be personal
        hide = self.masker.hidden_raw(lay, text)
        if hide is not None:
            return self._apply(text, self._with(t, hide), None)
        tail = self._blob(text[lay.length:]) if len(text) > lay.length else ""
        bad = self.masker.nearly(lay, text, NEARLY)
        if bad is not None:  # nearly placed: a field or two broken (faked as well, same
            # defect), cut short, or followed by another record (the rest of the line
            # shape-faked). Not certain, so also the fields that overlap a personal field
            # of a type the line fits as well (an 02 relabelled 99 and shifted), each
            # kept only when its value is public (see _is_public)
            broken = {f.attr for f in bad}
            rivals = self.masker.rivals(lay, text)
            extra = self.masker.overlapping(t, rivals) - broken
            public = {a: v for a, v in self._public[t].items() if a in extra}
            out = self._guarded(text, lay, self._with(t, broken | extra), public, tail, (t, *rivals))
            if out is not None:
                return out
        # in doubt (a relabelled kenmerk, a shifted field, a piece of a split line): every
        # field but the kenmerk, each faked so that the validator sees the same form (a
        # fixed text and a listed code stay: they are public). A line that can be nothing
        # but its own type (noise in a few fields of a claim line) keeps its amounts too,
        # when digits: the trailer's totals add them up (the guard still looks at them)
        types = self.guard.types(lay, text)
        public = self._public[t] if types != (t,) else self._public_amounts[t]
        out = self._guarded(text, lay, self._doubt[t], public, tail, types)
        if out is None:  # (not seen: the fields the guard names are faked one by one above)
            out = self._apply(text[:lay.length], self._doubt[t], self._public[t], short=False) + tail
        return out

    def _guarded(self, text: str, lay: RecordLayout, plan: list[tuple[FieldSpec, FakeClass]],
                 public: dict[str, frozenset[str] | None], tail: str, types: tuple[str, ...]) -> str | None:
        """*text* faked by *plan* (values in *public* kept when public) that passes the
        leak guard for *types*: when kept values join up to a personal value of one of
        those types, the fields of *lay* under it are faked as well, one leak at a time
        (the fewest changes, so the validator sees what it saw); None when that does not
        satisfy the guard."""
        force: set[str] = set()
        for _ in range(len(lay.fields)):
            out = self._apply(text[:lay.length], plan, public, force=force) + tail
            leak = self.guard.first_leak(text, out, self.anchors, types)
            if leak is None:
                return out
            f = leak[1]
            more = {g.attr for g in lay.fields[1:] if g.start <= f.end and f.start <= g.end} - force
            if not more & set(public):  # (not a kept value: nothing more to fake here)
                return None
            force |= more
        return None

    def _with(self, t: str, attrs: frozenset[str] | set[str]) -> list[tuple[FieldSpec, FakeClass]]:
        """The plan of record type *t* plus the fields named in *attrs* (shape fakes)."""
        plan = self.plans.get(t, [])
        extra = set(attrs) - {f.attr for f, _ in plan}
        if not extra:
            return plan
        more = [(f, self.fakes.generic) for f in self.spec.records[t].fields if f.attr in extra and f.fixed is None]
        return sorted([*plan, *more], key=lambda fc: fc[0].start)

    def _apply(self, text: str, plan: list[tuple[FieldSpec, FakeClass]],
               public: dict[str, frozenset[str] | None] | None, short: bool = True,
               force: set[str] | frozenset[str] = frozenset()) -> str:
        """*text* with each planned field faked (a public value kept, see :meth:`line`,
        unless the field is in *force*)."""
        out = []
        pos = 0
        for f, cls in plan:
            s = f.start - 1
            if s >= len(text):
                break
            value = text[s:f.end]
            out.append(text[pos:s])
            if public is not None and f.attr in public and f.attr not in force and _is_public(f, value, public[f.attr], short):
                fake = value
            else:
                fake = self.fake(f, cls, value)
                if self.keep_foreign and not value.isascii():
                    fake = _keep_foreign(value, fake)
                    if value.strip(" ") in fake:  # (only its non-ASCII characters differed)
                        fake = self._ascii_shape(value)
            out.append(fake)
            pos = s + len(value)
        out.append(text[pos:])
        return "".join(out)

    def _ascii_shape(self, value: str) -> str:
        """*value* with its ASCII letters and digits deranged by key, every other
        character (non-ASCII ones too) in its place."""
        slots = [(i, a) for i, ch in enumerate(value) for a in (_DIGITS, _UPPER, _LOWER) if ch in a]
        return self._permuted(list(value), slots, "ascii", lambda _: True)

    def _blob(self, text: str) -> str:
        """Text of a line that cannot be read by a layout (an unknown record type, the
        rest of two joined records): every letter and digit replaced by another of its
        kind (never itself), by a keyed stream derived from the whole text, so equal
        texts get equal blobs; blanks and other characters stay (shape kept: which line
        it was and its length stay visible, nothing else). Linear in the text's length."""
        got = self._cache.get(("blob", text))
        if got is None:
            stream = b"".join(self._k.mac(b"blob\x1f" + i.to_bytes(4, "big") + text.encode("utf-8", "surrogatepass"))
                              for i in range(len(text) // 32 + 1))
            chars = list(text)
            for i, ch in enumerate(chars):
                if not ch.isascii() and ch.isalpha():
                    if self.keep_foreign:
                        continue  # (kept in place: see keep_foreign)
                    ch = chars[i] = _fold(ch)
                for alpha in (_DIGITS, _UPPER, _LOWER):
                    if ch in alpha:
                        step = 1 + stream[i] % (len(alpha) - 1)
                        chars[i] = alpha[(alpha.index(ch) + step) % len(alpha)]
                        break
            got = "".join(chars)
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
        days = 366 if calendar.isleap(d.year) else 365  # (year 9999 too: no date of year 10000)
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
        """A valid IBAN for a valid one (same country and length; blanks, tabs and other
        white space kept in their places, as the validator reads past them); None
        otherwise."""
        where = [i for i, ch in enumerate(value) if not ch.isspace()]
        compact = "".join(value[i] for i in where)
        if not _IBAN_FORM.fullmatch(compact) or not iban_ok(compact) or not iban_ok(value.strip(" ")):
            return None
        country, bban = compact[:2], compact[4:]
        chars = list(bban)
        start = 0
        if country == "NL" and len(bban) == 14 and cls.values:
            chars[:4] = list(self._choose(list(cls.values), "iban-bank", compact))
            start = 4
        slots = [(i, _DIGITS if chars[i] in _DIGITS else _UPPER) for i in range(start, len(chars))]

        def whole(b: str) -> str:
            return country + _check_digits(country, b) + b

        new = self._permuted(chars, slots, f"iban|{country}", lambda b: iban_ok(whole(b)))
        out = list(value)
        for i, ch in zip(where, whole(new)):
            out[i] = ch
        return "".join(out)


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
                anon.guard.check(text, out, n, anon.anchors)
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


def anonymise_to(source: Source, target: str | os.PathLike[str] | IO[bytes], key: bytes | str | None = None, *,
                 spec: MessageSpec | None = None, encoding: str | None = None,
                 fakes: Fakes | None = None) -> int:
    """Write the anonymised copy of *source* to *target* (a path or binary file).

    Refuses (:class:`OverwriteRefused`) to write over the input. Every line passes the
    leak guard (:class:`LeakGuard`) before anything is written: on :class:`LeakError`
    the target is left as it was. A path target is written to a temporary file next to
    it and renamed into place when complete; a file object gets the copy when it is
    complete. Returns the number of lines written.
    """
    if same_file(source, target):  # (a file object such as stdin: compared by the file behind it)
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
    # every line passes the leak guard before a byte reaches the target: spooled first
    # (memory up to 16 MB, then a private temporary file that no name points to)
    with tempfile.SpooledTemporaryFile(max_size=16 << 20) as spool:
        for data in lines:
            spool.write(data)
            count += 1
        spool.seek(0)
        while chunk := spool.read(1 << 20):
            target.write(chunk)
    return count
