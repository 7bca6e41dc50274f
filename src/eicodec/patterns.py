"""Regular-expression building blocks for the validator's compiled fast path.

Each function returns pattern *source* (a string) for fixed-width text; the validator
combines them, per record layout, into one pattern that matches a record exactly when
every field check passes. Nothing here knows a layout: the validator passes the facts
(widths, code lists, limits) that it reads from the spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

NEVER = "(?!)"

# CCYYMMDD, a real calendar date in years 0001-9999 (what datetime.date accepts)
_MONTH_DAY = ("(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
              "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
              "|02(?:0[1-9]|1[0-9]|2[0-8]))")
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
CALENDAR_DATE = f"(?!0000)(?:[0-9]{{4}}{_MONTH_DAY}|{_LEAP_YEAR}0229)"
#: the same, for a field where 00000000 is allowed as "empty"
DATE_OR_ZEROS = f"(?:0{{8}}|{CALENDAR_DATE})"

# HHMM, a time of day
TIME_OF_DAY = "(?:[01][0-9]|2[0-3])[0-5][0-9]"


def one_of(words: Iterable[str]) -> str:
    """A pattern matching exactly *words* (all of one length), built as a trie.

    Shared prefixes are matched once and branches that end alike share one character
    class, so ``{"001", ..., "080"}`` becomes ``0(?:0[1-9]|[1-7][0-9]|80)``: as quick
    as a set look-up, where a long alternation of literals would be tried one by one.
    """
    unique = sorted(set(words))
    if not unique:
        return NEVER
    if len({len(w) for w in unique}) != 1:
        raise ValueError("one_of() needs words of one length")
    return _trie(unique)


def _trie(words: list[str]) -> str:
    if not words[0]:
        return ""
    tails: dict[str, list[str]] = {}  # pattern of the rest -> first characters leading to it
    firsts: dict[str, list[str]] = {}
    for w in words:
        firsts.setdefault(w[0], []).append(w[1:])
    for first, rest in firsts.items():
        tails.setdefault(_trie(rest), []).append(first)
    branches = [_char_class(chars) + tail for tail, chars in tails.items()]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def _char_class(chars: list[str]) -> str:
    if len(chars) == 1:
        return re.escape(chars[0])
    codes = sorted(ord(c) for c in chars)
    runs: list[tuple[int, int]] = []
    for c in codes:
        if runs and c == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], c)
        else:
            runs.append((c, c))

    def lit(c: int) -> str:
        ch = chr(c)
        return "\\" + ch if ch in "\\]^-[" else ch

    parts = [lit(a) if a == b else lit(a) + lit(b) if b == a + 1 else f"{lit(a)}-{lit(b)}" for a, b in runs]
    return "[" + "".join(parts) + "]"


def not_after(limit: str) -> str:
    """A pattern matching the digit strings of ``len(limit)`` that are <= *limit*
    (for CCYYMMDD dates: not after that day). Nested, so that it reads each character
    once: ``<= 2024`` is ``(?:[01][0-9]{3}|2(?:0(?:[01][0-9]|2[0-4])))`` in effect."""
    if not (limit.isascii() and limit.isdigit()):
        raise ValueError("not_after() needs a digit string")
    return _not_after(limit)


def _not_after(limit: str) -> str:
    if not limit:
        return ""
    d, rest = int(limit[0]), limit[1:]
    same = f"{d}{_not_after(rest)}"
    if d == 0:
        return same
    lower = "0" if d == 1 else f"[0-{d - 1}]"
    return f"(?:{lower}{f'[0-9]{{{len(rest)}}}' if rest else ''}|{same})"
