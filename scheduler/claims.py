"""Claiming due deliveries: one in flight per account, in due order.

Posts to one account go out one at a time. That keeps them in order, stops a
burst from hammering a network, and lets a rate limit reported by the network hold
back every other delivery of that account before it is sent (`limited_until`).

Claiming locks the account row first (`FOR UPDATE SKIP LOCKED` on PostgreSQL; a
`BEGIN IMMEDIATE` transaction on SQLite), so the dispatchers and the workers that
hand an account its next delivery never put two of its deliveries in flight.

A delivery whose outcome is `unknown` takes its turn the same way once its settle
delay has passed: it is claimed into `reconciling`, with a lease, and the worker that
receives it asks the network before anything is sent. Lookups go before new posts:
an account's earlier post may be live, and its turn comes first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Exists, Integer, Select, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from postmast.scheduler.models import Account, AccountStatus, Delivery
from postmast.scheduler.models.base import UTCDateTime
from postmast.scheduler.staging import visible
from postmast.scheduler.states import Status, transition_many

When = datetime | ColumnElement[datetime]
"""A time, or a parameter bound to one (statements built once)."""

IN_FLIGHT = (Status.QUEUED, Status.PUBLISHING, Status.RECONCILING)
WAITING = (Status.SCHEDULED, Status.RETRY_WAIT)


def _due(now: When) -> list[ColumnElement[bool]]:
    """Waiting, due, and within its allowed lateness.

    The deadline is compared through `coalesce` (it is never null) so that no planner reads
    it from the (status, deadline) index, which holds every future delivery: SQLite, which
    has no statistics (tests/bulk.py says why), took that index for an account's next
    delivery and walked a million rows per account. The account's own index is the one.
    """
    return [
        Delivery.status.in_(WAITING),
        Delivery.next_attempt_at <= now,
        func.coalesce(Delivery.deadline_at, Delivery.due_at) >= now,
        visible(),
    ]


def _lookup_due(now: When) -> list[ColumnElement[bool]]:
    """Unknown and past its settle delay. No deadline: a post that may be out there is checked
    even when it is too late to send it."""
    return [Delivery.status == Status.UNKNOWN, Delivery.reconcile_at <= now]


def _ready(now: When) -> list[ColumnElement[bool]]:
    """An account that may be sent to now: active, not rate-limited."""
    return [
        Account.status == AccountStatus.ACTIVE,
        or_(Account.limited_until.is_(None), Account.limited_until <= now),
    ]


_OTHER = aliased(Delivery, name="other")
"""Another delivery of the same account; built once (an alias per call costs on the hot path)."""


def _busy(account_id: int | ColumnElement[int] | InstrumentedAttribute[int]) -> Exists:
    return exists().where(_OTHER.account_id == account_id, _OTHER.status.in_(IN_FLIGHT))


def ready_accounts(now: datetime, limit: int) -> Select[int]:
    """Accounts with a due delivery and nothing in flight, locked for this transaction.

    The due deliveries are found once (their states' index, due part only), not looked for
    account by account: an idle tick then reads nothing of the accounts' future deliveries.
    """
    has_due = Account.id.in_(select(Delivery.account_id).where(*_due(now)))
    has_lookup = Account.id.in_(select(Delivery.account_id).where(*_lookup_due(now)))
    return (
        select(Account.id)
        .where(*_ready(now), or_(has_due, has_lookup), ~_busy(Account.id))
        .order_by(Account.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def claim_for_account(session: Session, account_id: int, now: datetime, lease: float) -> list[int]:
    """Claim the account's next turn if none of its deliveries is in flight: its earliest due
    lookup (`unknown -> reconciling`, leased for `lease` seconds), else its earliest due
    delivery (`-> queued`)."""
    params = {"account": account_id, "now": now}
    looked_up = transition_many(
        session,
        _account_lookup(),
        Status.UNKNOWN,
        Status.RECONCILING,
        now=now,
        params=params,
        queued_at=now,
        claim_token=None,
        lease_until=now + timedelta(seconds=lease),
        reconcile_at=None,
    )
    if looked_up:
        return looked_up
    return transition_many(
        session, _account_due(), list(WAITING), Status.QUEUED, now=now, params=params, queued_at=now
    )


@cache
def _account_lookup() -> Select[int]:
    """The account's earliest due lookup, if nothing of it is in flight (built once: the worker
    runs it after every delivery; bound by `account` and `now`)."""
    account, now = bindparam("account", type_=Integer), bindparam("now", type_=UTCDateTime())
    return (
        select(Delivery.id)
        .where(Delivery.account_id == account, *_lookup_due(now), ~_busy(account))
        .order_by(Delivery.reconcile_at, Delivery.id)
        .limit(1)
    )


@cache
def _account_due() -> Select[int]:
    """The account's earliest due delivery, if nothing of it is in flight (as `_account_lookup`)."""
    account, now = bindparam("account", type_=Integer), bindparam("now", type_=UTCDateTime())
    return (
        select(Delivery.id)
        .where(Delivery.account_id == account, *_due(now), ~_busy(account))
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(1)
    )


@cache
def _lock_ready() -> Select[int]:
    """The account's row, locked, if it may be sent to now (bound by `account` and `now`)."""
    account, now = bindparam("account", type_=Integer), bindparam("now", type_=UTCDateTime())
    return select(Account.id).where(Account.id == account, *_ready(now)).with_for_update(skip_locked=True)


def _first(account_id: InstrumentedAttribute[int], where: list[ColumnElement[bool]], *order: Any) -> Any:
    """The account's first delivery matching `where`, if none of its deliveries is in flight:
    a correlated subquery, one index lookup per account."""
    return (
        select(Delivery.id)
        .where(Delivery.account_id == account_id, *where, ~_busy(Delivery.account_id))
        .order_by(*order, Delivery.id)
        .limit(1)
        .scalar_subquery()
    )


def claim_due(session: Session, now: datetime, limit: int, lease: float) -> list[int]:
    """One turn for each ready account (at most `limit` accounts), as `claim_for_account` takes
    it, in a few statements for all of them: a statement per account made a tick claiming
    1,000 deliveries take seconds. Each account's first lookup and first due delivery are read
    in one statement (a round trip less between the wake and the enqueue); its lookup, if it
    has one, is its turn."""
    accounts = list(session.scalars(ready_accounts(now, limit)).all())
    if not accounts:
        return []
    firsts = session.execute(
        select(
            _first(Account.id, _lookup_due(now), Delivery.reconcile_at),
            _first(Account.id, _due(now), Delivery.next_attempt_at),
        ).where(Account.id.in_(accounts))
    ).all()
    lookups = [lookup for lookup, _ in firsts if lookup is not None]
    due = [delivery for lookup, delivery in firsts if lookup is None and delivery is not None]
    claimed: list[int] = []
    if lookups:
        claimed += transition_many(
            session,
            select(Delivery.id).where(Delivery.id.in_(lookups)),
            Status.UNKNOWN,
            Status.RECONCILING,
            now=now,
            queued_at=now,
            claim_token=None,
            lease_until=now + timedelta(seconds=lease),
            reconcile_at=None,
        )
    if due:
        claimed += transition_many(
            session,
            select(Delivery.id).where(Delivery.id.in_(due)),
            list(WAITING),
            Status.QUEUED,
            now=now,
            queued_at=now,
        )
    return sorted(claimed)


def claim_next(session: Session, account_id: int, now: datetime, lease: float) -> list[int] | None:
    """After a delivery of `account_id` finished: claim its next turn, if it may go now.

    None when the account could not be locked (a dispatcher holds it, or it is not ready): a
    caller whose own writes are not committed yet may try again after its commit."""
    locked = session.connection().scalar(_lock_ready(), {"account": account_id, "now": now})
    return claim_for_account(session, account_id, now, lease) if locked is not None else None


def limit_account(session: Session, account_id: int, until: datetime) -> None:
    """Hold back every delivery of the account until `until` (never shortens a longer hold)."""
    session.execute(
        update(Account)
        .where(Account.id == account_id, or_(Account.limited_until.is_(None), Account.limited_until < until))
        .values(limited_until=until)
    )


def next_due(session: Session, now: datetime) -> datetime | None:
    """When the dispatcher should next look: the next future due time, lookup or rate-limit end.

    Deliveries already due but held back (their account busy or limited) do not count:
    the worker hands an account its next delivery, and the tick covers the rest.
    """
    found = session.execute(select(*upcoming(now))).one()
    candidates = [t for t in found if t is not None]
    return min(candidates) if candidates else None


def upcoming(now: datetime) -> list[Any]:
    """`next_due`'s candidates as scalar subqueries, for a caller that reads more in the same
    statement (the dispatcher's tick: a round trip less)."""
    # one subquery per waiting state: each reads the first row of its (status, next_attempt_at)
    # range in index order, where an IN of both states would sort every future delivery; all
    # in one statement, a round trip per tick
    waiting = [
        select(Delivery.next_attempt_at)
        .join(Account, Account.id == Delivery.account_id)
        .where(
            Delivery.status == status,
            Delivery.next_attempt_at > now,
            Account.status == AccountStatus.ACTIVE,
            visible(),
        )
        .order_by(Delivery.next_attempt_at)
        .limit(1)
        .scalar_subquery()
        for status in WAITING
    ]
    lookup = (
        select(Delivery.reconcile_at)
        .join(Account, Account.id == Delivery.account_id)
        .where(
            Delivery.status == Status.UNKNOWN,
            Delivery.reconcile_at > now,
            Account.status == AccountStatus.ACTIVE,
        )
        .order_by(Delivery.reconcile_at)
        .limit(1)
        .scalar_subquery()
    )
    limited = (
        select(Account.limited_until)
        .where(Account.limited_until > now, Account.status == AccountStatus.ACTIVE)
        .order_by(Account.limited_until)
        .limit(1)
        .scalar_subquery()
    )
    return [*waiting, lookup, limited]
