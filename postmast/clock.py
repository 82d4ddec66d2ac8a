"""The one clock: product code reads the time only through a `Clock` it was given.

The store holds the clock the whole process uses and hands it on (to the dispatcher, the
worker, and through the worker to each connector), so a test moves one fake clock and
every part agrees on "now". `system` is the only place product code reads the wall clock;
tests/test_architecture.py fails on any other `datetime.now()`, `time.time()` and the like.
Durations (timeouts, deadlines) use `time.monotonic()`, which is not a time of day.

A leaf: this module imports nothing of postmast, so every package may import it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current instant as an aware UTC datetime."""


def system() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)
