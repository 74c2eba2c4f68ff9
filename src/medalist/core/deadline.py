"""A wall-clock deadline the boosting libraries check between rounds (``medalist auto``'s budget).

:func:`deadline` sets it for the code inside the ``with``; :func:`check` (called from each library's
per-round callback) raises :class:`StopRun` once it has passed, so a run is stopped inside a long fold
instead of after it. A plain module global, not a context variable: folds may train on worker threads.

>>> import time
>>> with deadline(time.perf_counter() - 1, "the 10s budget"):
...     check()
Traceback (most recent call last):
...
medalist.core.deadline.StopRun: stopped inside a fold: the 10s budget is spent
>>> check()  # no deadline set: nothing happens
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["StopRun", "check", "deadline"]

_AT: list[tuple[float, str]] = []


class StopRun(Exception):
    """Raised to stop a run on purpose (a time budget): the run is recorded ``stopped``, not ``failed``,
    and ``--resume`` finishes it from its saved folds."""


@contextmanager
def deadline(at: float, what: str) -> Iterator[None]:
    """Until the block ends, :func:`check` raises :class:`StopRun` once ``time.perf_counter()`` passes ``at``."""
    _AT.append((at, what))
    try:
        yield
    finally:
        _AT.pop()


def check() -> None:
    if _AT and time.perf_counter() > _AT[-1][0]:
        raise StopRun(f"stopped inside a fold: {_AT[-1][1]} is spent")
