"""Evergreen posts: published again, into free posting slots, at most once per interval.

A post queued with `--evergreen 30d` (or an `evergreen` cell) goes out as usual. After
each publication to an account, once the interval has passed, the scheduler (`requeue`,
from its housekeeping) puts it in that account's next free slot within the horizon, as
a new delivery numbered by its round (`deliveries.occurrence`, unique per post and
account, inserted with ON CONFLICT DO NOTHING: two schedulers never add one round twice).
The account's evergreen posts take turns, least recently published first.

Networks that refuse a text the account already posted (`Connector.refuses_repeats`,
X) are skipped unless the post has a variant for that network or account.
An account without slots, a delivery that failed or was cancelled, or one still pending
ends nothing: the post simply waits for the next housekeeping round that can place it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from postmast.scheduler import slots
from postmast.scheduler.accounts import connector_class
from postmast.scheduler.body import load
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account, AccountStatus, Delivery, Post, SlotPlan
from postmast.scheduler.occurrences import NewDelivery, insert
from postmast.scheduler.states import Status


def _latest(session: Session) -> list[tuple[Post, Account, Delivery]]:
    """For each evergreen post and account: its latest round."""
    newest = (
        select(Delivery.post_id, Delivery.account_id, func.max(Delivery.occurrence).label("occurrence"))
        .join(Post, Post.id == Delivery.post_id)
        .where(Post.evergreen_every.is_not(None))
        .group_by(Delivery.post_id, Delivery.account_id)
        .subquery()
    )
    latest = aliased(Delivery)
    rows = session.execute(
        select(Post, Account, latest)
        .join(newest, newest.c.post_id == Post.id)
        .join(
            latest,
            (latest.post_id == newest.c.post_id)
            & (latest.account_id == newest.c.account_id)
            & (latest.occurrence == newest.c.occurrence),
        )
        .join(Account, Account.id == newest.c.account_id)
        .join(SlotPlan, SlotPlan.account_id == Account.id)
        .where(Account.status == AccountStatus.ACTIVE)
    ).all()
    return [(post, account, delivery) for post, account, delivery in rows]


def requeue(session: Session, now: datetime, horizon: float) -> int:
    """Queue every evergreen post whose interval has passed into a free slot; returns how many."""
    limit = now + timedelta(seconds=horizon)
    due: dict[int, list[tuple[datetime, Post, Account, Delivery]]] = {}
    for post, account, delivery in _latest(session):
        if (
            delivery.status != Status.PUBLISHED
            or delivery.published_at is None
            or post.evergreen_every is None
        ):
            continue
        ready = delivery.published_at + timedelta(seconds=post.evergreen_every)
        if ready > limit:
            continue
        if (
            connector_class(account.network).refuses_repeats
            and load(post.content, post.text).variant_for(account.target) is None
        ):
            continue
        due.setdefault(account.id, []).append((delivery.published_at, post, account, delivery))
    rows = []
    for candidates in due.values():
        candidates.sort(key=lambda c: (c[0], c[1].id))  # least recently published first
        account = candidates[0][2]
        try:
            placed = slots.of_account(session, account)
        except UserError:
            continue
        busy = slots.taken(session, account.id, now)
        for published, post, _, delivery in candidates:
            after = max(now, published + timedelta(seconds=post.evergreen_every or 0))
            when = next(slots.free(placed, after, busy), None)
            if when is None or when > limit:
                continue
            rows.append(
                NewDelivery(
                    post.id,
                    account.id,
                    when,
                    delivery.occurrence + 1,
                    post.max_lateness,
                    slotted=True,
                    fingerprint=delivery.fingerprint,
                )
            )
    return insert(session, rows, now)
