"""Loaded (through PYTHONPATH) only by .ci/run's shifted-date run, under libfaketime.

That run fakes the wall clock only (FAKETIME_DONT_FAKE_MONOTONIC=1): with the monotonic clock
faked too, libfaketime 0.9.10 (Debian 12) leaves sem_clockwait() alone, so every
`threading` wait with a timeout (Event.wait, Lock.acquire, Thread.join, queue.get) would block
for the 400 days of the offset. With it real, the same libfaketime turns the absolute
CLOCK_MONOTONIC deadline that Python 3.11's time.sleep() gives clock_nanosleep() into a
negative time, and sleep fails with EINVAL. So here time.sleep() waits with select(), whose
relative timeout libfaketime passes through unchanged.
"""

from __future__ import annotations

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        select.select([], [], [], remaining)


time.sleep = _sleep
