"""Recurring posts: rules in the post's zone across the 2026 and 2027 EU and US DST changes, and
occurrences planned once however many schedulers plan them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from postmast.scheduler import recurrence
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Delivery, Series
from postmast.scheduler.posts import Posts
from postmast.scheduler.recurrence import Recurrence, occurrences, parse_recurrence
from postmast.scheduler.requests import PostRequest
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.factories import add_account

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def walls(rule: str, start: datetime, tz: ZoneInfo, n: int, **end: object) -> list[datetime]:
    found = occurrences(Recurrence(rule, **end), start, tz)  # type: ignore[arg-type]
    return [when.astimezone(tz) for _, (_, when) in zip(range(n), found, strict=False)]


# (zone, the day before spring-forward, the day before fall-back) for 2026 and 2027
TRANSITIONS = [
    (BERLIN, datetime(2026, 3, 28), datetime(2026, 10, 24)),
    (BERLIN, datetime(2027, 3, 27), datetime(2027, 10, 30)),
    (NEW_YORK, datetime(2026, 3, 7), datetime(2026, 10, 31)),
    (NEW_YORK, datetime(2027, 3, 13), datetime(2027, 11, 6)),
]


@pytest.mark.parametrize(("tz", "spring", "fall"), TRANSITIONS)
@pytest.mark.parametrize("rule", ["FREQ=DAILY", "cron:0 9 * * *"])
def test_nine_stays_nine_across_both_changes(
    tz: ZoneInfo, spring: datetime, fall: datetime, rule: str
) -> None:
    for day in (spring, fall):
        shown = walls(rule, day.replace(hour=9), tz, 3)
        assert [(w.day, w.hour, w.minute) for w in shown] == [
            ((day + timedelta(days=n)).day, 9, 0) for n in range(3)
        ]
        offsets = {w.utcoffset() for w in shown}
        assert len(offsets) == 2  # the instants really are 23 or 25 hours apart


@pytest.mark.parametrize(("tz", "spring", "fall"), TRANSITIONS)
def test_the_skipped_hour_moves_forward_by_the_gap(tz: ZoneInfo, spring: datetime, fall: datetime) -> None:
    first, skipped, after = walls("FREQ=DAILY", spring.replace(hour=2, minute=30), tz, 3)
    assert (first.hour, first.minute) == (2, 30)
    assert (skipped.day, skipped.hour, skipped.minute) == ((spring + timedelta(days=1)).day, 3, 30)
    assert (after.hour, after.minute) == (2, 30)
    assert skipped.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=24)


@pytest.mark.parametrize(("tz", "spring", "fall"), TRANSITIONS)
def test_the_repeated_hour_posts_once_at_its_first_occurrence(
    tz: ZoneInfo, spring: datetime, fall: datetime
) -> None:
    hour = 2 if tz is BERLIN else 1
    first, repeated, after = walls("FREQ=DAILY", fall.replace(hour=hour, minute=30), tz, 3)
    assert (repeated.hour, repeated.minute, repeated.fold) == (hour, 30, 0)
    summer = first.utcoffset()
    assert repeated.utcoffset() == summer  # the first 02:30 (still summer time), not the second
    assert after.utcoffset() == summer - timedelta(hours=1)  # type: ignore[operator]


def test_hourly_across_the_fall_back_night_posts_each_instant_once() -> None:
    start = datetime(2027, 10, 31, 0, 0)
    shown = walls("FREQ=HOURLY", start, BERLIN, 5)
    instants = [w.astimezone(UTC) for w in shown]
    assert len(set(instants)) == 5 and instants == sorted(instants)


def test_weekly_interval_and_count() -> None:
    shown = walls("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", datetime(2026, 12, 7, 10), BERLIN, 10, count=3)
    assert [w.date().isoformat() for w in shown] == ["2026-12-07", "2026-12-21", "2027-01-04"]


def test_until_ends_the_rule() -> None:
    until = datetime(2026, 12, 3, 9, tzinfo=UTC)
    shown = walls("FREQ=DAILY", datetime(2026, 12, 1, 9), ZoneInfo("UTC"), 10, until=until)
    assert len(shown) == 3


@pytest.mark.parametrize(
    ("text", "rule", "count"),
    [
        ("daily", "FREQ=DAILY", None),
        ("every 3 days", "FREQ=DAILY;INTERVAL=3", None),
        ("Every 2 Weeks", "FREQ=WEEKLY;INTERVAL=2", None),
        ("monthly", "FREQ=MONTHLY", None),
        ("RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4", "FREQ=WEEKLY;BYDAY=MO,WE", 4),
        ("0 9 * * 1-5", "cron:0 9 * * 1-5", None),
    ],
)
def test_rules_people_write(text: str, rule: str, count: int | None) -> None:
    parsed = parse_recurrence(text)
    assert (parsed.rule, parsed.count) == (rule, count)


@pytest.mark.parametrize("text", ["sometimes", "FREQ=FORTNIGHTLY", "61 9 * * *", "every 0 days", ""])
def test_bad_rules_are_one_clear_line(text: str) -> None:
    with pytest.raises(UserError) as info:
        parse_recurrence(text)
    assert "\n" not in str(info.value)


def test_monthly_on_the_31st_skips_short_months() -> None:
    shown = walls("FREQ=MONTHLY", datetime(2027, 1, 31, 9), BERLIN, 3)
    assert [w.month for w in shown] == [1, 3, 5]


# -- planning in the store ---------------------------------------------------------------------


@pytest.fixture
def posts(store: Store, vault: Vault) -> Posts:
    add_account(store, vault, "webhook", "team")
    add_account(store, vault, "mastodon", "brand")
    return Posts(store, default_max_lateness=600, horizon=7 * 86400)


def recurring(store: Store, rule: str = "daily", **end: object) -> PostRequest:
    return PostRequest(
        text="Good morning",
        targets=["webhook:team", "mastodon:brand"],
        due_at=datetime(2026, 12, 2, 9, tzinfo=BERLIN).astimezone(UTC),
        timezone="Europe/Berlin",
        recurrence=parse_recurrence(rule, **end),  # type: ignore[arg-type]
    )


def occurrence_rows(store: Store) -> list[tuple[int, int, datetime]]:
    with store.read() as session:
        return [
            (r.occurrence, r.account_id, r.due_at)
            for r in session.execute(
                select(Delivery.occurrence, Delivery.account_id, Delivery.due_at).order_by(
                    Delivery.due_at, Delivery.account_id
                )
            )
        ]


def test_the_cli_plans_the_horizon_and_the_scheduler_the_rest(store: Store, posts: Posts, clock) -> None:
    queued = posts.queue(recurring(store))
    assert queued.series is not None
    rows = occurrence_rows(store)
    assert len(rows) == 2 * 7  # a week ahead, both accounts
    assert {o for o, _, _ in rows} == set(range(7))
    clock.advance(3 * 86400)
    with store.write() as session:
        assert recurrence.plan_all(session, clock.now, 7 * 86400) == 2 * 3
    assert [o for o, _, _ in occurrence_rows(store)[-2:]] == [9, 9]


def test_two_schedulers_never_create_an_occurrence_twice(store: Store, posts: Posts, clock) -> None:
    posts.queue(recurring(store))
    clock.advance(2 * 86400)
    with store.read() as session:
        stale = session.scalars(select(Series)).one()
        session.expunge(stale)
    with store.write() as session:
        assert recurrence.plan_all(session, clock.now, 7 * 86400) == 4
    # a second scheduler that read the series before the first moved it loses the compare-and-set
    with store.write() as session:
        from postmast.scheduler.models import Post

        post = session.get(Post, stale.post_id)
        assert post is not None
        assert recurrence.plan(session, stale, post, clock.now, 7 * 86400) == 0
    with store.read() as session:
        counts = session.execute(
            select(Delivery.account_id, Delivery.occurrence, func.count())
            .group_by(Delivery.account_id, Delivery.occurrence)
            .having(func.count() > 1)
        ).all()
    assert counts == []
    assert len(occurrence_rows(store)) == 2 * 9


def test_count_ends_the_series(store: Store, posts: Posts, clock) -> None:
    posts.queue(recurring(store, "daily", count=3))
    assert len(occurrence_rows(store)) == 6
    with store.read() as session:
        assert session.scalars(select(Series.ended_at)).one() is not None
