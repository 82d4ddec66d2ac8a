"""Claiming a queued delivery for this worker: `queued -> publishing`, compare-and-set.

The claim carries a fresh token and a lease; only the winner calls the network, so
a duplicated broker message is a no-op. Before claiming, the account is checked:
flagged for re-authorisation, rate-limited by the network, or busy with another of
its deliveries, the delivery goes back to `scheduled` for later, with nothing sent.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postmast.connectors import Content, RemoteRef
from postmast.scheduler.models import Account, AccountStatus, Attempt, Delivery, Post
from postmast.scheduler.posts import stored_items
from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from postmast.workers.thread import published_items

log = logging.getLogger("postmast.worker")


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    token: str
    attempt: int
    attempt_id: int
    account: Account
    post: Post
    idempotency_key: str
    items: list[Content]
    done: dict[int, RemoteRef]
    """Items already published in earlier attempts, by position."""
    needs_lookup: bool = False
    """An earlier attempt's outcome is unknown: ask the network before sending that item."""
    deadline: datetime | None = None
    lookups: int = 0
    """Lookups so far that could not decide."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def take(store: Store, delivery_id: int, *, lease: float, reauth_wait: float) -> Claim | str:
    """Claim `delivery_id` for this worker, or say (for the logs) why not."""
    now = store.now()
    token = str(uuid.uuid4())
    with store.write() as session:
        row = session.execute(
            select(Delivery, Account, Post)
            .join(Account, Account.id == Delivery.account_id)
            .join(Post, Post.id == Delivery.post_id)
            .where(Delivery.id == delivery_id)
        ).one_or_none()
        if row is None:
            log.warning("delivery %s does not exist; message dropped", delivery_id)
            return "missing"
        delivery, account, post = row
        if delivery.status != Status.QUEUED:
            log.info(
                "delivery %s is %s, not queued: duplicate message, nothing to do",
                delivery_id,
                delivery.status,
            )
            return f"skipped ({delivery.status})"
        if now > delivery.deadline_at and not delivery.needs_lookup:
            late = (now - delivery.due_at).total_seconds()
            won = transition(
                session,
                delivery_id,
                Status.QUEUED,
                Status.MISSED,
                now=now,
                last_error=f"picked up {late:.0f}s after its due time, beyond the allowed lateness of "
                f"{post.max_lateness}s",
                last_error_class="Missed",
            )
            return "missed" if won else "skipped (raced)"
        wait = hold_back(session, account, delivery_id, now, reauth_wait)
        if wait is not None:
            until, why = wait
            transition(
                session,
                delivery_id,
                Status.QUEUED,
                Status.SCHEDULED,
                now=now,
                next_attempt_at=until,
                queued_at=None,
            )
            log.info("delivery %s waits until %s: %s", delivery_id, until.isoformat(timespec="seconds"), why)
            return f"waiting ({why})"
        won = transition(
            session,
            delivery_id,
            Status.QUEUED,
            Status.PUBLISHING,
            now=now,
            claim_token=token,
            lease_until=now + timedelta(seconds=lease),
            attempt_count=Delivery.attempt_count + 1,
        )
        if not won:
            log.info("delivery %s was claimed by another copy of its message: nothing to do", delivery_id)
            return "skipped (raced)"
        number = session.scalar(select(Delivery.attempt_count).where(Delivery.id == delivery_id)) or 1
        attempt = Attempt(delivery_id=delivery_id, number=number, started_at=now, worker=worker_name())
        session.add(attempt)
        session.flush()
        return Claim(
            delivery_id,
            token,
            number,
            attempt.id,
            account,
            post,
            delivery.idempotency_key,
            stored_items(session, post),
            published_items(session, delivery_id),
            delivery.needs_lookup,
            delivery.deadline_at,
            delivery.reconcile_attempts,
        )


def hold_back(
    session: Session, account: Account, delivery_id: int, now: datetime, reauth_wait: float
) -> tuple[datetime, str] | None:
    """Why and until when this account must not be sent to now, if so."""
    if account.status != AccountStatus.ACTIVE:
        return now + timedelta(seconds=reauth_wait), "account needs re-authorisation"
    if account.limited_until is not None and account.limited_until > now:
        return account.limited_until, "account rate-limited by the network"
    busy = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(
            Delivery.account_id == account.id,
            Delivery.status == Status.PUBLISHING,
            Delivery.id != delivery_id,
        )
    )
    if busy:
        return now + timedelta(seconds=1), "another delivery of the account is being published"
    return None
