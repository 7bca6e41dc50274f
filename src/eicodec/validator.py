"""The validator's public names (kept here for code that imports them from this module).

The engine lives in :mod:`eicodec.engine` (with :mod:`eicodec.grammar`,
:mod:`eicodec.kinds` and :mod:`eicodec.batches`); findings, outcomes and the report in
:mod:`eicodec.findings`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from .batches import replayable as _replayable
from .engine import validate
from .findings import MODES, Finding, Outcome, Outcomes, Report, Status, Verdict, fingerprint_records
from .reader import Source

__all__ = ["MODES", "Finding", "Outcome", "Outcomes", "Report", "Status", "Verdict", "fingerprint_records",
           "validate", "validate_many"]


def _validate_path(source: Any, kwargs: dict[str, Any]) -> Report:
    return validate(source, **kwargs)


def validate_many(sources: Iterable[Source], *, jobs: int | None = None, **kwargs: Any) -> Iterator[Report]:
    """Validate several files in parallel processes; yields their reports in order.

    *sources* are paths or bytes; *kwargs* are those of :func:`validate`; ``jobs`` is
    the number of processes (default: the number of CPUs). An unreadable file raises
    :class:`~eicodec.errors.UnreadableInputError` when its turn comes.
    """
    import concurrent.futures

    sources = list(sources)
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(sources) < 2:
        for src in sources:
            yield validate(src, **kwargs)
        return
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(jobs, len(sources))) as pool:
        futures = [pool.submit(_validate_path, src, kwargs) for src in sources]
        for fut in futures:
            yield fut.result()
