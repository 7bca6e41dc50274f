"""The validator's public names (kept here for code that imports them from this module).

The engine lives in :mod:`eicodec.engine` (with :mod:`eicodec.grammar`,
:mod:`eicodec.kinds` and :mod:`eicodec.batches`); findings, outcomes and the report in
:mod:`eicodec.findings`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .engine import validate
from .findings import MODES, Finding, Mode, Outcome, Outcomes, Report, Status, Verdict, fingerprint_records
from .reader import Source

__all__ = ["MODES", "Finding", "Mode", "Outcome", "Outcomes", "Report", "Status", "Verdict", "fingerprint_records",
           "validate", "validate_many"]


def validate_many(sources: Iterable[Source], *, jobs: int | None = None, **kwargs: Any) -> Iterator[Any]:
    """Moved to :func:`eicodec.many.validate_many` (still importable from here)."""
    from .many import validate_many as many

    return many(sources, jobs=jobs, **kwargs)
