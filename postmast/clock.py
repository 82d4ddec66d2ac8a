"""The one clock: the only place product code reads the wall clock.

The store holds a `Clock` and everything else takes "now" from it, directly or from its
caller (connectors get the worker's clock): tests move one clock and every part agrees.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns an aware UTC datetime."""


def system() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)
