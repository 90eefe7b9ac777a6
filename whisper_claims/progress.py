"""Progress of long work (corpus synthesis, mining, SAE training, decoding sweeps).

Library code says how far it is with ``report(stage, done, total)``; nothing is shown unless someone
listens (``listening``): the pytest plugin shows it on the terminal, a script may print it. The work
itself never prints, so that pytest's capture and output stay intact.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

Sink = Callable[[str, int, int], None]
T = TypeVar("T")

_sinks: list[Sink] = []


def report(stage: str, done: int, total: int) -> None:
    """Tell every listener that ``done`` of ``total`` steps of ``stage`` are finished."""
    for sink in tuple(_sinks):
        sink(stage, done, total)


def counted(items: Iterable[T], stage: str, total: int) -> Iterator[T]:
    """``items``, reporting ``stage`` after each one."""
    for done, item in enumerate(items, start=1):
        yield item
        report(stage, done, total)


@contextmanager
def listening(sink: Sink) -> Iterator[None]:
    """Send progress reports to ``sink`` inside the block; it is removed however the block ends."""
    _sinks.append(sink)
    try:
        yield
    finally:
        _sinks.remove(sink)


class Throttled:
    """A sink that passes on a stage's first report, its last, and at most one every ``interval_s``
    in between, as one line ``stage done/total (percent, elapsed)``."""

    def __init__(self, write: Callable[[str], None], interval_s: float = 5.0, clock=time.monotonic):
        self.write = write
        self.interval_s = interval_s
        self.clock = clock
        self.started: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        first = stage not in self.started
        if first:
            self.started[stage] = now
        finished = done >= total
        if not (first or finished or now - self.last.get(stage, now) >= self.interval_s):
            return
        self.last[stage] = now
        percent = f"{100 * done / total:.0f}%" if total else "?"
        self.write(f"{stage} {done}/{total} ({percent}, {now - self.started[stage]:.0f} s)")
        if finished:
            # a stage run again (another model, another claim) starts its clock anew
            del self.started[stage]
            del self.last[stage]
