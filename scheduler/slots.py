"""Posting slots ("add to queue"): each account's weekly times, in the account's zone.

`postmast slots set x:brand "Mon-Fri 09:00,12:30,17:00; Sat 10:00" --tz Europe/Berlin`
gives the account its slots; `post --next-slot` (or `at` = `next slot` in a file) takes
each target's next free one. A slot is free when no live delivery of the account is due
at that instant. Deliveries placed in slots (`deliveries.slotted`) form the account's
queue: `repack` gives them the earliest free slots in their order again, after one is
cancelled (the queue refills) or moved (`postmast queue move ID --before ID`).

Slot times are wall times in the zone; `timespec.resolve` turns them into instants (a
slot the clocks skip moves forward by the gap; one that happens twice is the first).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account, Delivery, Post, SlotPlan
from postmast.scheduler.states import Status, transition
from postmast.scheduler.timespec import resolve

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LIVE = (Status.SCHEDULED, Status.QUEUED, Status.PUBLISHING, Status.RETRY_WAIT, Status.PUBLISHED)
"""A delivery in one of these states holds its slot."""
SEARCH_DAYS = 366
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


@dataclass(frozen=True)
class WeeklySlots:
    """Times of day per weekday (0 = Monday)."""

    times: tuple[tuple[time, ...], ...]

    def describe(self) -> str:
        parts = []
        for day, times in enumerate(self.times):
            if times:
                shown = ",".join(t.isoformat("seconds" if t.second else "minutes") for t in times)
                parts.append(f"{DAYS[day].title()} {shown}")
        return "; ".join(parts)

    @property
    def per_week(self) -> int:
        return sum(len(t) for t in self.times)


def _day(word: str, spec: str) -> int:
    key = word.strip().lower()[:3]
    if key not in DAYS or not DAYS[DAYS.index(key)].startswith(key):
        raise UserError(f"slots {spec[:60]!r}: {word.strip()[:20]!r} is not a day (Mon, Tue, ... Sun)")
    return DAYS.index(key)


def _days(words: str, spec: str) -> list[int]:
    found: list[int] = []
    for part in words.split(","):
        if part.strip().lower() in ("daily", "every day", "all"):
            found += range(7)
        elif "-" in part:
            first, _, last = part.partition("-")
            start, end = _day(first, spec), _day(last, spec)
            found += [(start + n) % 7 for n in range((end - start) % 7 + 1)]
        else:
            found.append(_day(part, spec))
    return found


def parse_slots(spec: str) -> WeeklySlots:
    """`Mon-Fri 09:00,12:30,17:00; Sat,Sun 10:00` (times HH:MM or HH:MM:SS; `daily 09:00`)."""
    per_day: list[set[time]] = [set() for _ in range(7)]
    for group in filter(None, (g.strip() for g in spec.split(";"))):
        words, _, times = group.rpartition(" ")
        if not words.strip():
            raise UserError(f"slots {spec[:60]!r}: say which days, e.g. 'Mon-Fri 09:00,17:00'")
        parsed = []
        for raw in times.split(","):
            match = _TIME.fullmatch(raw.strip())
            if (
                not match
                or int(match.group(1)) > 23
                or int(match.group(2)) > 59
                or int(match.group(3) or 0) > 59
            ):
                raise UserError(f"slots {spec[:60]!r}: {raw.strip()[:20]!r} is not a time of day (HH:MM)")
            parsed.append(time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)))
        for day in _days(words, spec):
            per_day[day].update(parsed)
    if not any(per_day):
        raise UserError("give at least one slot, e.g. 'Mon-Fri 09:00,12:30,17:00'")
    return WeeklySlots(tuple(tuple(sorted(times)) for times in per_day))


def instants(
    slots: WeeklySlots, tz: ZoneInfo, after: datetime, days: int = SEARCH_DAYS
) -> Iterator[datetime]:
    """The slots' UTC instants after `after`, in order, for `days` days."""
    start: date = after.astimezone(tz).date()
    seen: set[datetime] = set()
    for offset in range(days + 1):
        day = start + timedelta(days=offset)
        for slot in slots.times[day.weekday()]:
            when = resolve(datetime.combine(day, slot), tz).astimezone(UTC)
            if when > after and when not in seen:
                seen.add(when)
                yield when


@dataclass(frozen=True)
class AccountSlots:
    account_id: int
    target: str
    slots: WeeklySlots
    tz: ZoneInfo


def of_account(session: Session, account: Account) -> AccountSlots:
    plan = session.scalars(select(SlotPlan).where(SlotPlan.account_id == account.id)).one_or_none()
    if plan is None:
        raise UserError(
            f"{account.target} has no posting slots "
            f'(give it some: postmast slots set {account.target} "Mon-Fri 09:00,17:00")'
        )
    return AccountSlots(account.id, account.target, parse_slots(plan.spec), ZoneInfo(plan.timezone))


def taken(session: Session, account_id: int, after: datetime, *, ignore: Iterable[int] = ()) -> set[datetime]:
    """Instants at which a live delivery of the account is due (except the `ignore` ids)."""
    skip = list(ignore)
    query = select(Delivery.due_at).where(
        Delivery.account_id == account_id, Delivery.due_at > after, Delivery.status.in_(LIVE)
    )
    if skip:
        query = query.where(Delivery.id.not_in(skip))
    return set(session.scalars(query))


def free(account: AccountSlots, after: datetime, busy: set[datetime]) -> Iterator[datetime]:
    """Free slot instants after `after`, skipping `busy` (and remembering those handed out)."""
    for when in instants(account.slots, account.tz, after):
        if when not in busy:
            busy.add(when)
            yield when


def next_free(account: AccountSlots, after: datetime, busy: set[datetime]) -> datetime:
    found = next(free(account, after, busy), None)
    if found is None:
        raise UserError(f"{account.target} has no free posting slot in the next year")
    return found


def queued(session: Session, account_id: int, now: datetime) -> list[int]:
    """The account's queue: its slotted deliveries still waiting, in due order."""
    return list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.account_id == account_id,
                Delivery.slotted.is_(True),
                Delivery.status == Status.SCHEDULED,
                Delivery.due_at > now,
            )
            .order_by(Delivery.due_at, Delivery.id)
        )
    )


def repack(session: Session, account: AccountSlots, order: Sequence[int], now: datetime) -> list[int]:
    """Give the deliveries `order` (the account's queue) the earliest free slots, in that order.

    Each move is a compare-and-set (scheduled -> scheduled); returns the ids that moved.
    """
    busy = taken(session, account.account_id, now, ignore=order)
    slots = free(account, now, busy)
    lateness = dict(
        session.execute(
            select(Delivery.id, Post.max_lateness)
            .join(Post, Post.id == Delivery.post_id)
            .where(Delivery.id.in_(order))
        ).all()
    )
    current = dict(session.execute(select(Delivery.id, Delivery.due_at).where(Delivery.id.in_(order))).all())
    moved = []
    for delivery_id in order:
        when = next(slots, None)
        if when is None:
            break
        if current.get(delivery_id) == when:
            continue
        if transition(
            session,
            delivery_id,
            Status.SCHEDULED,
            Status.SCHEDULED,
            now=now,
            due_at=when,
            next_attempt_at=when,
            deadline_at=when + timedelta(seconds=lateness.get(delivery_id, 3600)),
        ):
            moved.append(delivery_id)
    return moved
