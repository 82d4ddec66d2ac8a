"""Parsing of the networks' rate-limit reset values into seconds from `now`.

Each network spells the reset differently (ISO 8601, epoch seconds, a delta, an HTTP
date); connectors pick the parser their network documents and fall back gracefully.
`now` is always the caller's (a connector's `clock()`): nothing here reads the wall clock.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def until_iso8601(value: str, now: datetime) -> float | None:
    """Seconds until an ISO 8601 instant such as `2026-08-01T15:00:00.290597Z`."""
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def until_epoch(value: str, now: datetime) -> float | None:
    """Seconds until an epoch-seconds instant such as `1785600000` (X, Bluesky, Discord)."""
    try:
        epoch = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(epoch):
        return None
    return max(0.0, epoch - now.timestamp())


def retry_after(value: str, now: datetime) -> float | None:
    """An HTTP `Retry-After` value: delta seconds or an HTTP date (RFC 9110 §10.2.3)."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


def reset_any(value: str, now: datetime) -> float | None:
    """A reset value in whatever form: ISO 8601, epoch seconds (large), or delta seconds."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        # Not "T" in text: every HTTP date has one ("GMT", "Tue", "Thu").
        seconds = until_iso8601(text, now)
        return seconds if seconds is not None else retry_after(text, now)
    if not math.isfinite(number):
        return None
    # An epoch instant is a large number; a delta is small. 10^9 s is 2001-09-09.
    return until_epoch(text, now) if number > 1e9 else max(0.0, number)


def retry_after_in_body(data: object) -> float | None:
    """`retry_after` seconds from a JSON error body: Discord puts it at the top level (a float),
    Telegram in `parameters.retry_after` (an integer)."""
    if not isinstance(data, dict):
        return None
    candidates = [data.get("retry_after")]
    parameters = data.get("parameters")
    if isinstance(parameters, dict):
        candidates.append(parameters.get("retry_after"))
    for value in candidates:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return max(0.0, float(value))
    return None
