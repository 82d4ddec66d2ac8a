"""Releasing an account's waiting deliveries the moment it is fixed.

While an account needs re-authorisation, the worker holds each of its due deliveries
back (`queued -> scheduled`, due again after the re-auth wait) and the dispatcher
claims none of them. When the account becomes usable again (new secrets, a refreshed
token, the flag cleared), those deliveries must not sit out the rest of the wait and
run into their allowed lateness: `release_waiting` makes them due now, by
compare-and-set through the transition table, in the caller's transaction.

Only deliveries already past their due time are touched: a post scheduled for
tomorrow stays where its author put it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from postmast.scheduler.models import Delivery
from postmast.scheduler.states import Status, transition_many

WAITING = (Status.SCHEDULED, Status.RETRY_WAIT)


def release_waiting(session: Session, account_id: int, now: datetime) -> list[int]:
    """Make the account's held-back deliveries due now; returns the ids released.

    A held delivery is waiting, was due already (`due_at <= now`) and has been put off
    (`next_attempt_at > now`). Each keeps its state (`scheduled -> scheduled`,
    `retry_wait -> retry_wait`): only its next try moves.
    """
    released: list[int] = []
    for status in WAITING:
        held = (
            select(Delivery.id)
            .where(
                Delivery.account_id == account_id,
                Delivery.status == status,
                Delivery.due_at <= now,
                Delivery.next_attempt_at > now,
                Delivery.deadline_at >= now,
            )
            .with_for_update(skip_locked=True)
        )
        released += transition_many(session, held, status, status, now=now, next_attempt_at=now)
    return sorted(released)
