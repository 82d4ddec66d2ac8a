"""Recurring posts: a rule read in the post's zone, each occurrence a delivery of its own.

Rules are RFC 5545 RRULEs read by `dateutil.rrule` (`FREQ=WEEKLY;BYDAY=MO,WE;INTERVAL=2`),
cron expressions read by `croniter` (`0 9 * * 1-5`), or words that stand for an RRULE
(`daily`, `weekly`, `every 3 days`, `every 2 weeks`, `every month`). An end is `until`
(an instant), `count` (occurrences), or none.

The rule runs on the wall clock of the post's zone from its first local time, so 09:00
stays 09:00 when the clocks change; each wall time becomes a UTC instant by `resolve`:
a time the clocks skip (02:30 on a spring-forward night) moves forward by the gap
(03:30), a time that happens twice (the fall-back night) is its first occurrence.

Occurrences exist ahead of time, for a horizon (`POSTMAST_HORIZON`, 30 days), as
deliveries numbered by their place in the rule (`deliveries.occurrence`). The CLI plans
the first ones; the scheduler plans the rest (`plan`, from its housekeeping). A series
moves its `planned_until` by compare-and-set and the deliveries are unique per (post,
account, occurrence): a restart or a second scheduler never creates one twice. Each
occurrence is then an ordinary delivery: rescheduled, cancelled (skipped) or edited alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count as counting
from typing import Any, cast
from zoneinfo import ZoneInfo

from croniter import croniter
from dateutil.rrule import rrule, rrulestr
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Post, Series
from postmast.scheduler.occurrences import NewDelivery, insert
from postmast.scheduler.timespec import resolve

CRON = "cron:"
_WORDS = re.compile(
    r"(?:every\s+(?:(?P<n>\d{1,3})\s+)?(?P<unit>minute|hour|day|week|month|year)s?|(?P<word>hourly|daily|weekly|monthly|yearly))",
    re.IGNORECASE,
)
_FREQ = {
    "minute": "MINUTELY",
    "hour": "HOURLY",
    "day": "DAILY",
    "week": "WEEKLY",
    "month": "MONTHLY",
    "year": "YEARLY",
}
_ADVERB = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month", "yearly": "year"}
MAX_OCCURRENCES = 10_000


@dataclass(frozen=True)
class Recurrence:
    """A rule as stored (`FREQ=...` or `cron:EXPR`) and its end."""

    rule: str
    until: datetime | None = None
    count: int | None = None

    def describe(self) -> str:
        end = (
            f", until {self.until.isoformat(timespec='minutes')}"
            if self.until
            else f", {self.count} times"
            if self.count
            else ""
        )
        return f"{self.rule}{end}"


def parse_recurrence(text: str, *, until: datetime | None = None, count: int | None = None) -> Recurrence:
    """What `--repeat` (or a `repeat` cell) says, checked; UserError with what is accepted."""
    value = " ".join(text.split())
    words = _WORDS.fullmatch(value)
    if words:
        unit = words.group("unit") or _ADVERB[words.group("word").lower()]
        interval = int(words.group("n") or 1)
        if interval < 1:
            raise UserError(f"repeat {text[:40]!r}: the interval must be at least 1")
        rule = f"FREQ={_FREQ[unit.lower()]}" + (f";INTERVAL={interval}" if interval > 1 else "")
        return Recurrence(rule, until, count)
    if value.upper().startswith(("RRULE:", "FREQ=")):
        return _rrule(value.removeprefix("RRULE:").removeprefix("rrule:"), until, count)
    expression = value.removeprefix(CRON)
    if len(expression.split()) in (5, 6) and croniter.is_valid(expression):
        return Recurrence(CRON + expression, until, count)
    raise UserError(
        f"repeat {text[:60]!r} is not a rule: use an RRULE (FREQ=WEEKLY;BYDAY=MO), a cron "
        "expression (0 9 * * 1-5), or 'daily', 'weekly', 'every 3 days', 'every 2 weeks', 'monthly'"
    )


def _rrule(rule: str, until: datetime | None, count: int | None) -> Recurrence:
    parts = []
    for part in rule.upper().split(";"):
        name, _, value = part.partition("=")
        if name == "COUNT" and value.isdecimal():
            if count is not None or until is not None:
                raise UserError("the rule has its own COUNT: leave out until and count")
            count = int(value[:6])
        elif name == "UNTIL":
            if count is not None or until is not None:
                raise UserError("the rule has its own UNTIL: leave out until and count")
            until = _until(value)
        elif part:
            parts.append(part)
    canonical = ";".join(parts)
    try:
        rrulestr(canonical, dtstart=datetime(2026, 1, 1, 9))
    except (ValueError, TypeError) as exc:
        raise UserError(f"repeat: {canonical[:60]!r} is not a valid RRULE ({exc})") from None
    if count is not None and not 1 <= count <= MAX_OCCURRENCES:
        raise UserError(f"count must be from 1 to {MAX_OCCURRENCES}")
    return Recurrence(canonical, until, count)


def _until(value: str) -> datetime:
    for layout in ("%Y%m%dT%H%M%SZ", "%Y%m%d"):
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise UserError(f"UNTIL={value[:20]} is not a date (YYYYMMDD or YYYYMMDDTHHMMSSZ)")


def wall_times(rule: str, start: datetime) -> Iterator[datetime]:
    """The rule's naive local times from `start` (itself naive local), in order."""
    if rule.startswith(CRON):
        cron = croniter(rule.removeprefix(CRON), start - timedelta(seconds=1))
        while True:
            yield cast(datetime, cron.get_next(datetime))
    else:
        yield from cast(rrule, rrulestr(rule, dtstart=start))


def occurrences(
    recurrence: Recurrence, start: datetime, tz: ZoneInfo, *, first: int = 0
) -> Iterator[tuple[int, datetime]]:
    """(number, UTC instant) of each occurrence from number `first` on, until the rule ends."""
    last: datetime | None = None
    for number, wall in zip(counting(), wall_times(recurrence.rule, start), strict=False):
        if (recurrence.count is not None and number >= recurrence.count) or number >= MAX_OCCURRENCES:
            return
        when = resolve(wall, tz).astimezone(UTC)
        if recurrence.until is not None and when > recurrence.until:
            return
        if last is not None and when <= last:  # two wall times on one instant (a skipped hour)
            continue
        last = when
        if number >= first:
            yield number, when


def first_due(recurrence: Recurrence, start: datetime, tz: ZoneInfo) -> datetime | None:
    """The first occurrence, or None when the rule has none."""
    return next((when for _, when in occurrences(recurrence, start, tz)), None)


def plan(session: Session, series: Series, post: Post | Any, now: datetime, horizon: float) -> int:
    """Create the occurrences of `series` due before `now + horizon`; returns how many.

    The series row moves by compare-and-set: whoever loses (another scheduler) creates nothing.
    """
    limit = now + timedelta(seconds=horizon)
    if series.ended_at is not None or series.planned_until >= limit:
        return 0
    recurrence = Recurrence(series.rule, series.until, series.count)
    tz = ZoneInfo(series.timezone)
    start = datetime.fromisoformat(series.starts_local)
    due: list[tuple[int, datetime]] = []
    ended = True
    for number, when in occurrences(recurrence, start, tz, first=series.planned):
        if when >= limit:
            ended = False
            break
        due.append((number, when))
    won = session.execute(
        update(Series)
        .where(
            Series.id == series.id,
            Series.planned_until == series.planned_until,
            Series.planned == series.planned,
        )
        .values(
            planned_until=limit,
            planned=due[-1][0] + 1 if due else series.planned,
            ended_at=now if ended else None,
        )
        .execution_options(synchronize_session=False)
    )
    if cast(Any, won).rowcount != 1:
        return 0
    rows = [
        NewDelivery(post.id, account_id, when, number, post.max_lateness, import_id=post.import_id)
        for number, when in due
        if when > now - timedelta(seconds=post.max_lateness)
        for account_id in series.account_ids
    ]
    return insert(session, rows, now)


def plan_all(session: Session, now: datetime, horizon: float) -> int:
    """Every live series, planned ahead to the horizon (the scheduler's housekeeping)."""
    limit = now + timedelta(seconds=horizon)
    pending = session.execute(
        select(Series, Post)
        .join(Post, Post.id == Series.post_id)
        .where(Series.ended_at.is_(None), Series.planned_until < limit)
    ).all()
    return sum(plan(session, series, post, now, horizon) for series, post in pending)
