"""Turning what users type (`--at`, `--tz`) into UTC instants, and back for display.

Users speak in their zone; the store holds UTC. A local time that does not exist
(spring-forward gap) or exists twice (fall-back) is refused rather than guessed.
Besides ISO 8601, `--at` takes what people say: `in 1h30m`, `+2h`, `tomorrow 09:00`,
`next monday 10:00`, `friday 17:30`, `today 18:00`. A local time that happens twice is
shown with its zone's abbreviation (`02:30 CEST` and `02:30 CET`), so listings never
show two identical times for two different instants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzlocal

from postmast.scheduler.errors import UserError

_LOCAL_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?")
_RELATIVE = re.compile(
    r"(?:in\s+)?\+?(\d+(?:\.\d+)?)\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)", re.IGNORECASE
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNIT = r"(?:weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)"
_PART = re.compile(rf"(\d+(?:\.\d+)?)\s*({_UNIT})", re.IGNORECASE)
_COMPOUND = re.compile(rf"(?:in\s+|(?P<sign>[+-])\s*)?((?:\d+(?:\.\d+)?\s*{_UNIT}\s*)+)", re.IGNORECASE)
_DAY_TIME = re.compile(
    r"(?:(?P<next>next)\s+)?(?P<day>today|tomorrow|"
    r"mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:rs|rsday)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)"
    r"\s+(?:at\s+)?(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?",
    re.IGNORECASE,
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone `name`, or the machine's zone when None."""
    if name is None:
        try:
            return ZoneInfo(tzlocal.get_localzone_name() or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")
    try:
        if not name or name.startswith(("/", ".")) or "\x00" in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UserError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin or UTC)"
        ) from None


def _localize(naive: datetime, tz: ZoneInfo, text: str) -> datetime:
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        # Either a gap (the wall time does not exist) or a fold (it exists twice).
        roundtrip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if roundtrip != naive:
            raise UserError(f"{text!r} does not exist in {tz.key} (the clocks skip it); pick another time")
        raise UserError(
            f"{text!r} happens twice in {tz.key} (the clocks go back); give an explicit offset, "
            f"e.g. {naive.isoformat(timespec='minutes')}{_offset(first.utcoffset())}"
        )
    return first


def _offset(delta: timedelta | None) -> str:
    total = int((delta or timedelta()).total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    return f"{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"


MAX_AHEAD = timedelta(days=3650)
"""Nothing is scheduled more than ten years ahead: a typo, and beyond it dates overflow."""


def parse_when(text: str | None, tz: ZoneInfo, now: datetime) -> datetime:
    """`--at` to an aware UTC datetime.

    Accepts `now`, `in 10m` / `+2h`, ISO 8601 with or without an offset, and
    `YYYY-MM-DD HH:MM`; times without an offset are in `tz`.
    """
    if text is None or text.strip().lower() == "now":
        return now
    try:
        when = _parse_when(text, tz, now)
    except OverflowError:
        raise UserError(f"the time {text!r} is out of range") from None
    if when - now > MAX_AHEAD:
        raise UserError(f"{text!r} is more than ten years away")
    return when


def _seconds(amounts: str) -> float:
    return sum(float(n) * _UNIT_SECONDS[unit[0].lower()] for n, unit in _PART.findall(amounts))


@dataclass(frozen=True)
class Shift:
    """An amount to move a due time by: whole `days` on the wall clock, then `seconds` of real time."""

    days: int = 0
    seconds: float = 0.0


def parse_shift(text: str) -> Shift:
    """`--by`: a signed amount (`+1d`, `-2h`, `1h30m`, `+1w`) to move a due time by."""
    value = text.strip()
    match = _COMPOUND.fullmatch(value)
    if not match or value.lower().startswith("in"):
        raise UserError(f"--by {text[:40]!r} must be an amount such as +1d, -2h or +1h30m")
    days, seconds = 0.0, 0.0
    for number, unit in _PART.findall(match.group(2)):
        amount = float(number) * _UNIT_SECONDS[unit[0].lower()]
        if unit[0].lower() in "dw" and float(number).is_integer():
            days += amount / 86400
        else:
            seconds += amount
    if days * 86400 + seconds > MAX_AHEAD.total_seconds():
        raise UserError(f"--by {text[:40]!r} is more than ten years")
    sign = -1 if match.group("sign") == "-" else 1
    return Shift(sign * int(days), sign * seconds)


def shift(when: datetime, by: Shift, tz: ZoneInfo) -> datetime:
    """`when` moved by `by`: its days on the wall clock of `tz` (09:00 stays 09:00 across a DST
    change; a time the clocks skip moves forward by the gap), the rest in real time."""
    wall = when.astimezone(tz).replace(tzinfo=None) + timedelta(days=by.days)
    return resolve(wall, tz).astimezone(UTC) + timedelta(seconds=by.seconds)


def resolve(naive: datetime, tz: ZoneInfo) -> datetime:
    """A wall time that rules produce (recurrences, slots, shifts): a time the clocks skip moves
    forward by the gap (02:30 -> 03:30), one that happens twice is its first occurrence."""
    first = naive.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:  # in a gap
        return first.astimezone(UTC).astimezone(tz)
    return first


def _day_time(match: re.Match[str], tz: ZoneInfo, now: datetime, text: str) -> datetime:
    today = now.astimezone(tz).date()
    word = match.group("day").lower()
    hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
    if hour > 23 or minute > 59:
        raise UserError(f"{text!r}: {hour}:{minute:02d} is not a time of day")
    if word in ("today", "tomorrow"):
        if match.group("next"):
            raise UserError(f"cannot read the time {text!r}: say 'tomorrow 09:00' or 'next monday 09:00'")
        day = today + timedelta(days=1 if word == "tomorrow" else 0)
    else:
        ahead = (WEEKDAYS.index(word[:3]) - today.weekday()) % 7
        if match.group("next") and ahead == 0:
            ahead = 7
        day = today + timedelta(days=ahead)
    naive = datetime(day.year, day.month, day.day, hour, minute)
    when = _localize(naive, tz, text).astimezone(UTC)
    if when <= now and word not in ("today", "tomorrow") and not match.group("next"):
        when = _localize(naive + timedelta(days=7), tz, text).astimezone(UTC)
    return when


def _parse_when(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    value = text.strip()
    relative = _COMPOUND.fullmatch(value)
    if relative and relative.group("sign") != "-":
        seconds = _seconds(relative.group(2))
        if seconds > MAX_AHEAD.total_seconds():
            raise UserError(f"{text!r} is more than ten years away")
        return now + timedelta(seconds=seconds)
    spoken = _DAY_TIME.fullmatch(value)
    if spoken:
        return _day_time(spoken, tz, now, text)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"cannot read the time {text!r}: use ISO 8601 (2026-12-01T09:00+01:00), "
            "'YYYY-MM-DD HH:MM' in the zone, 'in 1h30m', 'tomorrow 09:00' or 'next monday 10:00'"
        ) from None
    if parsed.tzinfo is None:
        if not _LOCAL_FORMAT.fullmatch(value):
            raise UserError(f"{text!r} needs a time of day, e.g. '{value[:10]} 09:00'")
        parsed = _localize(parsed, tz, text)
    return parsed.astimezone(UTC)


def parse_since(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """`--since`: a duration back from now (`24h`, `7d`) or a time as for `--at`."""
    relative = _RELATIVE.fullmatch(text.strip().removesuffix(" ago"))
    if relative and not text.strip().lower().startswith("in"):
        seconds = float(relative.group(1)) * _UNIT_SECONDS[relative.group(2)[0].lower()]
        return now - timedelta(seconds=min(seconds, 100 * 365 * 86400))
    try:
        return _parse_when(text, tz, now)
    except OverflowError:
        raise UserError(f"the time {text!r} is out of range") from None


def check_due_time(when: datetime, now: datetime, *, grace: float = 60.0) -> None:
    """Refuse due times without a zone, more than `grace` seconds in the past (probably a typo,
    never 'send now'), or more than ten years ahead."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise UserError(f"{when.isoformat()} has no time zone; give one (e.g. +01:00 or --tz)")
    if when < now - timedelta(seconds=grace):
        ago = now - when
        raise UserError(
            f"{when.isoformat(timespec='minutes')} is {_human(ago)} in the past; "
            "use a future time, or give no time to post now"
        )
    if when - now > MAX_AHEAD:
        raise UserError(f"{when.isoformat(timespec='minutes')} is more than ten years away")


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


def ambiguous(when: datetime, tz: tzinfo) -> bool:
    """Whether the wall time `when` shows in `tz` happens twice there (the clocks went back)."""
    wall = when.astimezone(tz).replace(tzinfo=None)
    return wall.replace(tzinfo=tz, fold=0).utcoffset() != wall.replace(tzinfo=tz, fold=1).utcoffset()


def local(when: datetime | None, tz: tzinfo) -> str:
    """`when` in `tz` for tables: `2026-12-01 09:00`; with the zone's abbreviation (or offset)
    when that wall time happens twice: `2027-10-31 02:30 CEST`, then `02:30 CET`."""
    if not when:
        return ""
    shown = when.astimezone(tz)
    text = shown.strftime("%Y-%m-%d %H:%M")
    if ambiguous(when, tz):
        name = shown.tzname() or ""
        text += f" {name}" if name and name[0] not in "+-" else f" {_offset(shown.utcoffset())}"
    return text


def accepted(when: datetime, tz: tzinfo) -> str:
    """How the CLI confirms a time: in the user's zone, with its abbreviation, and in UTC."""
    shown = when.astimezone(tz)
    utc = when.astimezone(UTC)
    name = shown.tzname() or _offset(shown.utcoffset())
    same_day = utc.date() == shown.date()
    return (
        f"{shown.strftime('%Y-%m-%d %H:%M')} {name} "
        f"({utc.strftime('%H:%M' if same_day else '%Y-%m-%d %H:%M')} UTC)"
    )


def duration(seconds: float | None) -> str:
    """A compact duration for tables: `+12s`, `+3m05s`, `+2h10m`, `-1m` (early)."""
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else "+"
    s = int(abs(seconds))
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{sign}{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{sign}{s // 86400}d{s % 86400 // 3600:02d}h"
