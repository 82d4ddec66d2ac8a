"""Taking a delivery for this worker, by compare-and-set, with a fresh token and a lease.

Two kinds of turn arrive as the same message (a delivery id):
- `queued`: claimed `queued -> publishing`, to send it;
- `reconciling` (the dispatcher claimed it after an unknown outcome): claimed
  `reconciling -> reconciling` with this worker's token, to ask the network whether the
  post is there before anything is sent.
Only the winner calls the network, so a duplicated broker message is a no-op. Before
claiming, the account is checked: flagged for re-authorisation, rate-limited by the
network, or busy with another of its deliveries, the delivery goes back to wait with
nothing sent. Every claim opens an attempt row; the task closes it.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from postmast.connectors import MediaFile, RemoteRef
from postmast.scheduler import media as media_store
from postmast.scheduler.body import Body, load
from postmast.scheduler.models import Account, AccountStatus, Attempt, Delivery, Post
from postmast.scheduler.states import INCREMENT_ATTEMPTS, Status, transition, transition_returning
from postmast.scheduler.store import Store
from postmast.workers.outcome import Outcome
from postmast.workers.retry import RetryPolicy
from postmast.workers.thread import published_items

log = logging.getLogger("postmast.worker")


class Kind(StrEnum):
    PUBLISH = "publish"
    LOOKUP = "lookup"


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    kind: Kind
    token: str
    attempt: int
    attempt_id: int
    account: Account
    post: Post
    idempotency_key: str
    body: Body[MediaFile]
    done: dict[int, RemoteRef]
    """Items already published in earlier attempts, by position."""
    deadline: datetime
    lookups: int = 0
    """Lookups since the last unknown outcome that could not decide."""
    failures: Mapping[str, int] = field(default_factory=dict)
    """Earlier attempts by error class: the retry policy counts them, read when the claim is taken
    so that deciding after a network's answer needs nothing from the store."""
    sent_at: datetime | None = None
    """When the last publish attempt started: for a lookup, when the uncertain request went out."""

    @property
    def status(self) -> Status:
        """The state this claim holds the delivery in."""
        return Status.PUBLISHING if self.kind == Kind.PUBLISH else Status.RECONCILING

    @property
    def target(self) -> str:
        return self.account.target


_TAKE = (
    select(Delivery, Account, Post)
    .join(Account, Account.id == Delivery.account_id)
    .join(Post, Post.id == Delivery.post_id)
    .where(Delivery.id == bindparam("delivery"))
)
"""The statements every delivery runs are built once, with bound parameters: building one
cost more than running it."""
_BUSY = (
    select(func.count())
    .select_from(Delivery)
    .where(
        Delivery.account_id == bindparam("account"),
        Delivery.status.in_([Status.PUBLISHING, Status.RECONCILING]),
        Delivery.claim_token.is_not(None),
        Delivery.id != bindparam("delivery"),
    )
)
_OPEN_ATTEMPT = (
    insert(Attempt)
    .values(
        delivery_id=bindparam("delivery"),
        number=bindparam("number"),
        kind=bindparam("kind"),
        started_at=bindparam("at"),
        worker=bindparam("worker"),
    )
    .returning(Attempt.id)
)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def new_token() -> str:
    return str(uuid.uuid4())


def take(
    store: Store,
    delivery_id: int,
    *,
    lease: float,
    policy: RetryPolicy,
    token: str | None = None,
    now: datetime | None = None,
) -> Claim | Outcome:
    """Claim `delivery_id` for this worker with `token`, or say why not.

    The caller chooses the token and the time, so that if the commit fails with the store
    unavailable it can undo a claim that was stored after all (`Recorder.abandon`)."""
    token = token or new_token()
    now = now or store.now()
    with store.write() as session:
        row = session.execute(_TAKE, {"delivery": delivery_id}).one_or_none()
        if row is None:
            log.warning("delivery %s does not exist; message dropped", delivery_id)
            return Outcome.MISSING
        delivery, account, post = row
        if delivery.status == Status.QUEUED:
            return _take_publish(session, delivery, account, post, now, lease, policy, token)
        if delivery.status == Status.RECONCILING and delivery.claim_token is None:
            return _take_lookup(session, delivery, account, post, now, lease, policy, token)
        log.info("delivery %s is %s: a duplicate message, nothing to do", delivery_id, delivery.status)
        return Outcome.NOT_QUEUED


def _take_publish(
    session: Session,
    delivery: Delivery,
    account: Account,
    post: Post,
    now: datetime,
    lease: float,
    policy: RetryPolicy,
    token: str,
) -> Claim | Outcome:
    if now > delivery.deadline_at:
        late = (now - delivery.due_at).total_seconds()
        won = transition(
            session,
            delivery.id,
            Status.QUEUED,
            Status.MISSED,
            now=now,
            last_error=f"picked up {late:.0f}s after its due time, beyond the allowed lateness of "
            f"{post.max_lateness}s",
            last_error_class="Missed",
        )
        return Outcome.MISSED if won else Outcome.RACED
    held = hold_back(session, account, delivery.id, now, policy)
    if held is not None:
        until, outcome = held
        transition(
            session,
            delivery.id,
            Status.QUEUED,
            Status.SCHEDULED,
            now=now,
            next_attempt_at=until,
            queued_at=None,
        )
        log.info("delivery %s waits until %s (%s)", delivery.id, until.isoformat(timespec="seconds"), outcome)
        return outcome
    number = transition_returning(
        session,
        delivery.id,
        Status.QUEUED,
        Status.PUBLISHING,
        Delivery.attempt_count,
        now=now,
        claim_token=token,
        lease_until=now + timedelta(seconds=lease),
        attempt_count=INCREMENT_ATTEMPTS,
    )
    if number is None:
        log.info("delivery %s was claimed by another copy of its message: nothing to do", delivery.id)
        return Outcome.RACED
    return _claim(session, Kind.PUBLISH, delivery, account, post, token, now, number)


def _take_lookup(
    session: Session,
    delivery: Delivery,
    account: Account,
    post: Post,
    now: datetime,
    lease: float,
    policy: RetryPolicy,
    token: str,
) -> Claim | Outcome:
    held = hold_back(session, account, delivery.id, now, policy)
    if held is not None:
        until, outcome = held
        transition(
            session,
            delivery.id,
            Status.RECONCILING,
            Status.UNKNOWN,
            now=now,
            unclaimed=True,
            reconcile_at=until,
            lease_until=None,
            queued_at=None,
        )
        log.info("delivery %s: lookup waits until %s (%s)", delivery.id, until.isoformat(), outcome)
        return outcome
    number = transition_returning(
        session,
        delivery.id,
        Status.RECONCILING,
        Status.RECONCILING,
        Delivery.attempt_count,
        now=now,
        unclaimed=True,
        claim_token=token,
        lease_until=now + timedelta(seconds=lease),
        attempt_count=INCREMENT_ATTEMPTS,
    )
    if number is None:
        log.info("delivery %s: its lookup was taken by another copy of its message", delivery.id)
        return Outcome.RACED
    return _claim(session, Kind.LOOKUP, delivery, account, post, token, now, number)


def _claim(
    session: Session,
    kind: Kind,
    delivery: Delivery,
    account: Account,
    post: Post,
    token: str,
    now: datetime,
    number: int,
) -> Claim:
    """Open attempt `number` and gather what the task needs. A first attempt has no history to read
    (no earlier attempts, no items on the network), so it reads none: the common path."""
    failures: dict[str, int] = {}
    sent_at: datetime | None = None
    done: dict[int, RemoteRef] = {}
    if number > 1:
        failures = {
            str(error_class): int(count)
            for error_class, count in session.execute(
                select(Attempt.error_class, func.count())
                .where(Attempt.delivery_id == delivery.id, Attempt.error_class.is_not(None))
                .group_by(Attempt.error_class)
            )
        }
        sent_at = session.scalar(
            select(Attempt.started_at)
            .where(Attempt.delivery_id == delivery.id, Attempt.kind == Kind.PUBLISH.value)
            .order_by(Attempt.number.desc())
            .limit(1)
        )
        done = published_items(session, delivery.id)
    attempt_id: int = (
        session.connection()
        .execute(
            _OPEN_ATTEMPT,
            {
                "delivery": delivery.id,
                "number": number,
                "kind": kind.value,
                "at": now,
                "worker": worker_name(),
            },
        )
        .scalar_one()
    )
    body = load(post.content, post.text).with_media(lambda ref: media_store.load(session, ref.id, ref.alt))
    return Claim(
        delivery.id,
        kind,
        token,
        number,
        attempt_id,
        account,
        post,
        delivery.idempotency_key,
        body,
        done,
        delivery.deadline_at,
        delivery.reconcile_attempts,
        failures,
        sent_at,
    )


def hold_back(
    session: Session, account: Account, delivery_id: int, now: datetime, policy: RetryPolicy
) -> tuple[datetime, Outcome] | None:
    """Until when this account must not be sent to (or asked), and why, if so."""
    if account.status != AccountStatus.ACTIVE:
        return now + timedelta(seconds=policy.reauth_wait), Outcome.HELD_REAUTH
    if account.limited_until is not None and account.limited_until > now:
        return account.limited_until, Outcome.HELD_RATE_LIMITED
    busy = session.connection().scalar(_BUSY, {"account": account.id, "delivery": delivery_id})
    if busy:
        return now + timedelta(seconds=policy.busy_wait), Outcome.HELD_BUSY
    return None
