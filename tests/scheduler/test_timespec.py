"""What users type as a time, turned into UTC instants; DST gaps and folds refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from postmast.scheduler.errors import UserError
from postmast.scheduler.timespec import check_due_time, duration, local, parse_since, parse_when, zone

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ISO 8601 with an offset: the offset wins over the zone
        ("2026-12-01T09:00+01:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-12-01T09:00:30-05:00", datetime(2026, 12, 1, 14, 0, 30, tzinfo=UTC)),
        ("2026-12-01T09:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        # naive ISO 8601 in the zone: winter (CET, +1) and summer (CEST, +2)
        ("2026-12-01T09:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-07-01T09:00:00", datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),
        ("2026-07-01T09:00:00.250", datetime(2026, 7, 1, 7, 0, 0, 250000, tzinfo=UTC)),
        # `YYYY-MM-DD HH:MM`
        ("2026-12-01 09:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("  2026-12-01 09:00  ", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        # relative
        ("in 10m", NOW + timedelta(minutes=10)),
        ("in 2 hrs", NOW + timedelta(hours=2)),
        ("+90s", NOW + timedelta(seconds=90)),
        ("1.5h", NOW + timedelta(minutes=90)),
        ("in 3 days", NOW + timedelta(days=3)),
        ("IN 5 MIN", NOW + timedelta(minutes=5)),
        # now
        ("now", NOW),
        (" NOW ", NOW),
        (None, NOW),
    ],
)
def test_parse_when(text: str | None, expected: datetime) -> None:
    parsed = parse_when(text, BERLIN, NOW)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_naive_time_uses_the_given_zone() -> None:
    assert parse_when("2026-12-01 09:00", ZoneInfo("UTC"), NOW) == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert parse_when("2026-12-01 09:00", ZoneInfo("America/New_York"), NOW) == datetime(
        2026, 12, 1, 14, tzinfo=UTC
    )


def test_dst_gap_is_refused() -> None:
    with pytest.raises(UserError) as info:
        parse_when("2026-03-29 02:30", BERLIN, NOW)
    assert str(info.value) == (
        "'2026-03-29 02:30' does not exist in Europe/Berlin (the clocks skip it); pick another time"
    )


def test_dst_fold_is_refused_with_an_explicit_offset_suggested() -> None:
    with pytest.raises(UserError) as info:
        parse_when("2026-10-25 02:30", BERLIN, NOW)
    message = str(info.value)
    assert "'2026-10-25 02:30' happens twice in Europe/Berlin (the clocks go back)" in message
    assert "2026-10-25T02:30+02:00" in message
    # the suggestion works, and so does the other reading
    assert parse_when("2026-10-25T02:30+02:00", BERLIN, NOW) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert parse_when("2026-10-25T02:30+01:00", BERLIN, NOW) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_times_next_to_the_transitions_are_accepted() -> None:
    assert parse_when("2026-03-29 01:59", BERLIN, NOW) == datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    assert parse_when("2026-03-29 03:00", BERLIN, NOW) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert parse_when("2026-10-25 03:00", BERLIN, NOW) == datetime(2026, 10, 25, 2, 0, tzinfo=UTC)
    assert parse_when("2026-10-25 01:59", BERLIN, NOW) == datetime(2026, 10, 24, 23, 59, tzinfo=UTC)


def test_zone() -> None:
    assert zone("Europe/Berlin").key == "Europe/Berlin"
    assert zone("UTC").key == "UTC"
    assert isinstance(zone(None), ZoneInfo)


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "Europe/Berlin\x00", "europe berlin"]
)
def test_unknown_zone_is_refused(name: str) -> None:
    with pytest.raises(UserError) as info:
        zone(name)
    assert str(info.value) == (f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin or UTC)")


@pytest.mark.parametrize(
    "text",
    [
        "tomorrow",
        "09:00",
        "2026-13-01 09:00",
        "2026-12-01 25:00",
        "next week",
        "in ten minutes",
        "12/01/2026 09:00",
        "",
    ],
)
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(UserError, match="cannot read the time"):
        parse_when(text, BERLIN, NOW)


@pytest.mark.parametrize("text", ["2026-12-01", "20261201"])
def test_date_without_time_is_refused(text: str) -> None:
    with pytest.raises(UserError) as info:
        parse_when(text, BERLIN, NOW)
    assert "needs a time of day" in str(info.value)


def test_far_relative_times_are_refused() -> None:
    with pytest.raises(UserError, match="more than ten years away"):
        parse_when("in 4000d", BERLIN, NOW)


def test_check_due_time_has_a_60_second_grace() -> None:
    check_due_time(NOW, NOW)
    check_due_time(NOW + timedelta(days=1), NOW)
    check_due_time(NOW - timedelta(seconds=60), NOW)
    with pytest.raises(UserError) as info:
        check_due_time(NOW - timedelta(seconds=61), NOW)
    assert "is 1 min in the past" in str(info.value)
    assert "give no time to post now" in str(info.value)


@pytest.mark.parametrize(
    ("ago", "phrase"),
    [
        (timedelta(minutes=30), "30 min"),
        (timedelta(hours=5, minutes=3), "5 h 3 min"),
        (timedelta(days=10), "10 days"),
    ],
)
def test_check_due_time_says_how_far(ago: timedelta, phrase: str) -> None:
    with pytest.raises(UserError, match=f"is {phrase} in the past"):
        check_due_time(NOW - ago, NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("30m ago", NOW - timedelta(minutes=30)),
        ("2026-05-01 00:00", datetime(2026, 4, 30, 22, 0, tzinfo=UTC)),
        ("2026-05-01T00:00Z", datetime(2026, 5, 1, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, BERLIN, NOW) == expected


def test_parse_since_refuses_garbage() -> None:
    with pytest.raises(UserError):
        parse_since("last tuesday", BERLIN, NOW)


def test_local_and_duration_for_tables() -> None:
    assert local(datetime(2026, 12, 1, 8, 0, tzinfo=UTC), BERLIN) == "2026-12-01 09:00"
    assert local(datetime(2026, 12, 1, 8, 0, tzinfo=timezone(timedelta(hours=-3))), UTC) == "2026-12-01 11:00"
    assert local(None, BERLIN) == ""
    assert [duration(s) for s in (None, 12, -61, 185, 7800, 90000)] == [
        "",
        "+12s",
        "-1m01s",
        "+3m05s",
        "+2h10m",
        "+1d01h",
    ]


# -- what people say: natural times, shifts, ambiguous local times ------------------------------

from postmast.scheduler.timespec import Shift, accepted, ambiguous, parse_shift, shift  # noqa: E402

MONDAY_NOON = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # Monday 12:00 in Berlin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow 09:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("Tomorrow at 9", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("today 18:30", datetime(2026, 11, 30, 17, 30, tzinfo=UTC)),
        ("next monday 10:00", datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
        ("monday 13:00", datetime(2026, 11, 30, 12, 0, tzinfo=UTC)),  # later today
        ("monday 10:00", datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),  # already past today: next week
        ("fri 17:30", datetime(2026, 12, 4, 16, 30, tzinfo=UTC)),
        ("next wednesday 08:15", datetime(2026, 12, 2, 7, 15, tzinfo=UTC)),
        ("+2h", MONDAY_NOON + timedelta(hours=2)),
        ("in 1h30m", MONDAY_NOON + timedelta(minutes=90)),
        ("+1d2h", MONDAY_NOON + timedelta(hours=26)),
        ("in 2 weeks", MONDAY_NOON + timedelta(days=14)),
    ],
)
def test_natural_times(text: str, expected: datetime) -> None:
    assert parse_when(text, BERLIN, MONDAY_NOON) == expected


def test_a_natural_time_in_a_dst_gap_is_refused() -> None:
    saturday = datetime(2027, 3, 27, 12, tzinfo=UTC)
    with pytest.raises(UserError, match="does not exist in Europe/Berlin"):
        parse_when("tomorrow 02:30", BERLIN, saturday)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+1d", Shift(1)),
        ("-2h", Shift(0, -7200)),
        ("1h30m", Shift(0, 5400)),
        ("+1w", Shift(7)),
        ("-1d1h", Shift(-1, -3600)),
    ],
)
def test_shift_amounts(text: str, expected: Shift) -> None:
    assert parse_shift(text) == expected


@pytest.mark.parametrize("text", ["tomorrow", "in 1h", "+", "soon", "-"])
def test_bad_shift_amounts(text: str) -> None:
    with pytest.raises(UserError, match="must be an amount"):
        parse_shift(text)


def test_a_day_later_keeps_the_wall_clock_time_across_dst() -> None:
    before = datetime(2027, 3, 27, 9, tzinfo=BERLIN)  # CET
    moved = shift(before.astimezone(UTC), Shift(1), BERLIN)
    assert moved.astimezone(BERLIN).hour == 9 and moved - before == timedelta(hours=23)
    assert shift(before.astimezone(UTC), parse_shift("+24h"), BERLIN).astimezone(BERLIN).hour == 10


def test_the_two_half_past_twos_of_the_fall_back_night_look_different() -> None:
    first = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    second = first + timedelta(hours=1)
    assert ambiguous(first, BERLIN) and ambiguous(second, BERLIN)
    assert local(first, BERLIN) == "2027-10-31 02:30 CEST"
    assert local(second, BERLIN) == "2027-10-31 02:30 CET"
    assert local(first + timedelta(hours=3), BERLIN) == "2027-10-31 04:30"  # not ambiguous: unchanged
    ny = ZoneInfo("America/New_York")
    assert local(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), ny) == "2026-11-01 01:30 EDT"
    assert local(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), ny) == "2026-11-01 01:30 EST"


def test_the_cli_echoes_the_zone_and_utc() -> None:
    assert accepted(datetime(2026, 12, 1, 8, tzinfo=UTC), BERLIN) == "2026-12-01 09:00 CET (08:00 UTC)"
    assert accepted(datetime(2026, 12, 1, 23, 30, tzinfo=UTC), BERLIN) == (
        "2026-12-02 00:30 CET (2026-12-01 23:30 UTC)"
    )
