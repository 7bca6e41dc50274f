"""Recording an AP304 and the AP305 that answers it in a claim history.

The history (:mod:`eicodec.history`) stores claim lines and the outcomes it is given; it
reads no return file. This module, on the answer side, reads the pair
(:func:`eicodec.outcome`: the AP305 is verified against its AP304 before its outcomes are
believed) and hands the outcomes over. :class:`ClaimHistory` is the history users keep:
a :class:`~eicodec.history.HistoryStore` with :meth:`ClaimHistory.record`.
"""

from __future__ import annotations

from typing import Any

from .history import HistoryStore
from .model import Declaration
from .readback import outcome
from .reader import Source, read


def record(history: HistoryStore, ap304: Declaration | Source, ap305: Declaration | Source, *,
           by: str = "insurer", source: str = "", rules: Any = None) -> int:
    """Record what *ap305* (from ``by``: ``"insurer"`` or ``"vecozo"``) says of each claim
    line of *ap304* in *history*. Idempotent: returns the number of rows added or changed
    (a line noted by :meth:`~eicodec.history.HistoryStore.record_sent` gets its outcome;
    the same pair recorded again changes nothing and returns 0)."""
    if by not in ("insurer", "vecozo"):
        raise ValueError(f"by must be 'insurer' or 'vecozo', not {by!r}")
    decl = ap304 if isinstance(ap304, Declaration) else read(ap304)
    return history.record_outcomes(decl, outcome(decl, ap305), by=by, source=source, rules=rules)


class ClaimHistory(HistoryStore):
    """Earlier claim lines and their outcomes, in a SQLite file (*path*) or in memory;
    pass it as ``validate(..., history=...)`` to run the STB §5.4.8 rules."""

    def record(self, ap304: Declaration | Source, ap305: Declaration | Source, *, by: str = "insurer",
               source: str = "", rules: Any = None) -> int:
        """Record what *ap305* says of each claim line of *ap304* (see :func:`record`)."""
        return record(self, ap304, ap305, by=by, source=source, rules=rules)


def record_at(where: str, ap304: Declaration | Source, ap305: Declaration | Source | None = None, *,
              by: str = "insurer", source: str = "", rules: Any = None) -> int:
    """Open the history at *where* (a SQLite path or a database URL), record the pair
    (or, without *ap305*, the lines as sent), close it; returns the rows added or
    changed. A picklable job for a worker of a pool or cluster sharing one history."""
    with ClaimHistory(where) as history:
        if ap305 is None:
            return history.record_sent(ap304, source=source, rules=rules)
        return history.record(ap304, ap305, by=by, source=source, rules=rules)
