"""Seeded damage to return files, for the read-back property (tests/test_readback_verified.py
and scripts/return_damage.py).

:func:`bases` gives declarations with rejected, not-assessed and approved claim lines
(and a price correction, an insurer's comment) with their AP305 in insurer and VECOZO
mode and the intact outcome; :func:`damage` applies 1-3 damages drawn from a
``random.Random``: truncation, a line dropped, repeated, moved or swapped, a changed
kenmerk, deleted or inserted bytes, a LF for a CR/LF, an empty line, a shortened line,
noise in the copied declaration text, and (kind ``tail``) noise in the fields the return
adds -- the one damage no reader can always see (a file has no checksum: the insurer's
free-text reference in the header reads as its damaged text; a return code changed into
another valid one would read as that code).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import attrs

import eicodec
from eicodec import Award, ClaimOutcome, Declaration, Status
from tests.conftest import EXAMPLES, join, lines_of

TODAY = dt.date(2024, 3, 1)
SPEC304 = eicodec.get_spec("AP304")
COPIED = SPEC304.record_length
KINDS = ("truncate", "drop", "repeat", "move", "swap", "kenmerk", "delete", "insert", "lf", "empty", "short",
         "noise", "tail")
_KENMERKS = ["01", "02", "03", "04", "98", "99", "05", "00", "4 ", "40"]
_NOISE = list("0123456789 ADCXZ-ë") + ["00", "99", "  "]


@attrs.frozen
class Base:
    """One declaration, its AP305 and what that AP305 says (intact)."""

    name: str
    mode: str
    ap304: Declaration
    ap305: bytes
    intact: list[ClaimOutcome]


def _patch(lines: list[str], i: int, rubric: str, text: str) -> None:
    f = SPEC304.field(lines[i][:2], rubric)
    lines[i] = lines[i][:f.start - 1] + text.ljust(f.length)[:f.length] + lines[i][f.end:]


def _declarations() -> Iterator[tuple[str, bytes, dict[str, object]]]:
    """(name, AP304 bytes, keywords for the return) with faults an insurer rejects."""
    for example in ("ap304_insurer", "ap304_full"):
        raw = [ln.decode() for ln in lines_of((EXAMPLES / f"{example}.asc").read_bytes())]
        claims = [i for i, ln in enumerate(raw) if ln.startswith("04")]
        insured = [i for i, ln in enumerate(raw) if ln.startswith("02")]
        refs = [raw[i][SPEC304.field("04", "0445").slice].strip() for i in claims]
        for variant in ("claim", "insured", "both", "awards"):
            lines = list(raw)
            kw: dict[str, object] = {}
            if variant in ("claim", "both", "awards"):
                _patch(lines, claims[0], "0413", "777")  # prestatiecodelijst unknown: rejected
            if variant in ("insured", "both"):
                _patch(lines, insured[-1], "0208", "3")  # the insured rejected: its lines not assessed
            if variant == "awards":
                kw = {"awards": {refs[-1]: Award(1234, ("8059",))},
                      "comments": {refs[-1]: ["Vergoed volgens contractprijs."]}}
            yield f"{example}-{variant}", join([ln.encode() for ln in lines]), kw


def bases() -> list[Base]:
    """Every declaration of :func:`_declarations`, answered by an insurer and by VECOZO."""
    out = []
    for name, data, kw in _declarations():
        for mode in ("insurer", "vecozo"):
            if mode == "vecozo" and kw:
                continue  # (VECOZO awards and comments nothing)
            report = eicodec.validate(data, mode=mode, today=TODAY)
            assert report.status is Status.REJECTED_RECORDS, name
            ap305 = eicodec.dumps_retour(data, report, return_date=TODAY, **kw)  # type: ignore[arg-type]
            decl = eicodec.read(data)
            out.append(Base(name, mode, decl, ap305, eicodec.outcome(decl, ap305)))
    statuses = {o.status for b in out for o in b.intact}
    assert {"rejected", "not_assessed", "not_returned", "approved", "rejected_with_file"} <= statuses, statuses
    return out


def damage(data: bytes, rng: random.Random) -> tuple[bytes, tuple[str, ...]]:
    """*data* with 1-3 damages; the kinds applied."""
    lines = data[:-2].split(b"\r\n") if data.endswith(b"\r\n") else data.split(b"\r\n")
    ends = [b"\r\n"] * len(lines)
    kinds = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(KINDS)
        kinds.append(kind)
        n = len(lines)
        i = rng.randrange(n)
        if kind == "drop" and n > 1:
            del lines[i], ends[i]
        elif kind == "repeat":
            lines.insert(i, lines[i])
            ends.insert(i, b"\r\n")
        elif kind == "move":
            j = rng.randrange(n)
            lines.insert(j, lines.pop(i))
        elif kind == "swap":
            j = rng.randrange(n)
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "kenmerk":
            lines[i] = rng.choice(_KENMERKS).encode() + lines[i][2:]
        elif kind == "lf":
            ends[i] = rng.choice([b"\n", b"\r", b""])
        elif kind == "empty":
            lines.insert(i, b"")
            ends.insert(i, b"\r\n")
        elif kind == "short":
            lines[i] = lines[i][:rng.randrange(max(1, len(lines[i])))]
        elif kind in ("noise", "tail"):
            text = lines[i].decode("utf-8", "replace")
            lo, hi = (2, COPIED) if kind == "noise" else (COPIED, max(COPIED + 1, len(text)))
            pos = rng.randrange(lo, hi)
            new = rng.choice(_NOISE)
            text = (text[:pos] + new + text[pos + len(new):])[:len(text)]
            lines[i] = text.encode("utf-8")
        elif kind in ("truncate", "delete", "insert"):
            whole = b"".join(a + b for a, b in zip(lines, ends))
            at = rng.randrange(len(whole) + 1)
            if kind == "truncate":
                whole = whole[:at]
            elif kind == "delete":
                whole = whole[:at] + whole[at + rng.randint(1, 3):]
            else:
                whole = whole[:at] + rng.choice([b"0", b" ", b"\r\n", b"9"]) + whole[at:]
            return whole, tuple(kinds)
    return b"".join(a + b for a, b in zip(lines, ends)), tuple(kinds)


#: statuses that say a claim line was not (or not yet) paid
UNPAID = ("rejected", "not_assessed")


@attrs.define
class Tally:
    """What the damaged files gave."""

    refused: int = 0
    same: int = 0  # read exactly as the intact file
    #: read otherwise, but only where noise in the fields the return adds made another
    #: valid text (a return code, the header's free-text reference: no reader can see it)
    #: and no unpaid line reads as paid
    unseen: int = 0
    unsafe: list[str] = attrs.field(factory=list)  # a rejected/not-assessed line read as paid
    foreign: list[str] = attrs.field(factory=list)  # an exception not the library's
    changed: list[str] = attrs.field(factory=list)  # read with another status, code or amount

    @property
    def total(self) -> int:
        return self.refused + self.same + self.unseen + len(self.changed)


def run(count: int, seed: int) -> Tally:
    """*count* damaged return files over :func:`bases`, seeded."""
    rng = random.Random(seed)
    all_bases = bases()
    tally = Tally()
    for k in range(count):
        base = all_bases[k % len(all_bases)]
        data, kinds = damage(base.ap305, rng)
        tag = f"{base.name}/{base.mode} #{k} {kinds}"
        try:
            got = eicodec.outcome(base.ap304, data)
        except eicodec.EicodecError:
            tally.refused += 1
            continue
        except Exception as exc:  # noqa: BLE001 - what the property counts
            tally.foreign.append(f"{tag}: {type(exc).__name__}: {exc}")
            continue
        if got == base.intact:
            tally.same += 1
            continue
        unsafe = [f"{tag}: line {was.line} {was.status} read as {now.status}"
                  for was, now in zip(base.intact, got) if was.status in UNPAID and now.status not in UNPAID]
        tally.unsafe += unsafe
        if "tail" in kinds and not unsafe and len(got) == len(base.intact):
            tally.unseen += 1
        else:
            tally.changed.append(tag)
    return tally
