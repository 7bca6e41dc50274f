"""A progress line on a terminal for the long commands (validate, report, build, convert).

It shows a count, a rate and, where the total is known, a percentage and the time
left, on one line of stderr that it rewrites. It draws nothing unless the stream is a
terminal: piped output, files and JSON output stay clean. A small module of our own
rather than tqdm or rich: the CLI needs one line on stderr, and a core dependency for
that would be installed by every library user who never runs the CLI.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Self, TextIO, TypeVar

T = TypeVar("T")


def is_terminal(stream: TextIO | None) -> bool:
    """Whether *stream* is an interactive terminal (never true for pipes or files)."""
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


class Progress:
    """``with Progress("file.asc", total=n) as p: p.update(done)``.

    *total* may be None (unknown size: count and rate only). *unit* names what is
    counted. Redraws at most every *interval* seconds; ``enabled=None`` means "when
    *stream* is a terminal".
    """

    def __init__(self, label: str, *, total: int | None = None, unit: str = "records",
                 stream: TextIO | None = None, enabled: bool | None = None, interval: float = 0.2) -> None:
        self.label = label
        self.total = total if total and total > 0 else None
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = is_terminal(self.stream) if enabled is None else enabled
        self.interval = interval
        self.done = 0
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, done: int) -> None:
        """Set how many units are done (absolute), redrawing now and then."""
        self.done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._draw(now)

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def iterate(self, items: Iterable[T]) -> Iterator[T]:
        """Yield *items*, counting each one."""
        for item in items:
            yield item
            self.update(self.done + 1)

    def line(self, now: float | None = None) -> str:
        """The text of the progress line."""
        elapsed = max((now if now is not None else time.monotonic()) - self._start, 1e-9)
        rate = self.done / elapsed
        if self.total:
            share = min(self.done / self.total, 1.0)
            parts = [(f"{self.label}: {_count(self.done, self.unit, bare=True)} of "
                      f"{_count(self.total, self.unit)} ({share:.0%})")]
        else:
            parts = [f"{self.label}: {_count(self.done, self.unit)}"]
        parts.append(f"{_count(int(rate), self.unit.split()[0])}/s")
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"{_duration((self.total - self.done) / rate)} left")
        return ", ".join(parts)

    def _draw(self, now: float) -> None:
        self.stream.write("\r\033[K" + self.line(now))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Erase the line (the command's own output follows)."""
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False


def _count(n: int, unit: str, bare: bool = False) -> str:
    if unit == "bytes":
        for size, name in ((1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "kB")):
            if n >= size:
                return f"{n / size:.1f} {name}"
        return f"{n} B"
    return f"{n:,}" if bare else f"{n:,} {unit}"


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
