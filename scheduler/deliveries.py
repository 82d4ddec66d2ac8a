"""Deliveries as users see them: listing, cancel, reschedule and retry.

Each action is one compare-and-set transition; when it loses (a worker got there
first), the user is told what state the delivery is in now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from postmast.scheduler.body import load
from postmast.scheduler.errors import Conflict, NotFound, UserError
from postmast.scheduler.history import record
from postmast.scheduler.models import Account, Delivery, DeliveryItem, Post
from postmast.scheduler.staging import visible
from postmast.scheduler.states import PENDING, TRANSITIONS, UNSETTLED, Status, transition
from postmast.scheduler.store import Store
from postmast.scheduler.targets import NETWORK_RE, parse_target
from postmast.scheduler.timespec import check_due_time

MAX_ID = 2**31 - 1
"""Ids are 32-bit on PostgreSQL: anything larger cannot name a row."""
CANCELLABLE = frozenset(s for s in Status if Status.CANCELLED in TRANSITIONS[s])
RETRYABLE = frozenset({Status.FAILED, Status.MISSED, Status.UNKNOWN})
RESCHEDULABLE = frozenset(s for s in Status if Status.SCHEDULED in TRANSITIONS[s]) - RETRYABLE
"""Both read from the transition table: what it forbids (`reconciling`, `publishing`) is refused."""


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery with what a person needs to judge it."""

    id: int
    post_id: int
    text: str
    network: str
    account: str
    status: Status
    due_at: datetime
    next_attempt_at: datetime
    published_at: datetime | None
    attempts: int
    remote_id: str | None
    public_url: str | None
    error: str | None
    error_class: str | None
    items_total: int = 1
    items: tuple[dict[str, Any], ...] = ()
    """Thread items published so far: position (from 1), remote id and public URL of each."""

    @property
    def target(self) -> str:
        return f"{self.network}:{self.account}"

    @property
    def lateness(self) -> float | None:
        """Seconds between the due time and publication (negative: early)."""
        return (self.published_at - self.due_at).total_seconds() if self.published_at else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "post": self.post_id,
            "text": self.text,
            "target": self.target,
            "network": self.network,
            "status": self.status.value,
            "due_at": self.due_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "lateness_seconds": round(self.lateness, 3) if self.lateness is not None else None,
            "attempts": self.attempts,
            "remote_id": self.remote_id,
            "url": self.public_url,
            "error": self.error,
            "error_class": self.error_class,
            "items_total": self.items_total,
            "items": list(self.items),
        }


@dataclass(frozen=True)
class Filters:
    statuses: Sequence[Status] = ()
    network: str | None = None
    target: str | None = None
    post_id: int | None = None
    since: datetime | None = None
    limit: int | None = None
    until: datetime | None = None
    """Due before this instant (exclusive), so `--since 10m` need not list the whole future."""
    import_id: int | None = None
    """Posts created by one `postmast import` run (needs `posts.import_id`)."""

    def __post_init__(self) -> None:
        """Filters that can match nothing real are refused with a clear line, not sent to SQL."""
        if self.network is not None:
            if not NETWORK_RE.fullmatch(self.network):
                raise UserError(f"unknown network {self.network[:40]!r}")
            # here, not at the top: naming a network loads every connector to check it (with
            # "did you mean"); a listing that names none should not pay for that
            from postmast.scheduler.accounts import connector_class

            connector_class(self.network.lower())
        if self.target is not None:
            parse_target(self.target)
        for name, value in (("post", self.post_id), ("limit", self.limit), ("import", self.import_id)):
            if value is not None and not 0 < value <= MAX_ID:
                raise UserError(f"{name} must be a whole number from 1 to {MAX_ID}")
        for name, when in (("--since", self.since), ("--until", self.until)):
            if when is not None and when.tzinfo is None:
                raise UserError(f"{name} needs a time zone")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise UserError("--until must be later than --since")
        if self.import_id is not None and import_column() is None:
            raise UserError("--import needs the import history (posts.import_id), which this version lacks")

    def conditions(self) -> list[ColumnElement[bool]]:
        """The filters as SQL conditions on deliveries joined with their accounts (and posts for
        `import_id`): shared by the rows and the summary, so both always describe the same set."""
        found: list[ColumnElement[bool]] = []
        if self.statuses:
            found.append(Delivery.status.in_(list(self.statuses)))
        if self.network:
            found.append(Account.network == self.network.lower())
        if self.target:
            network, name = parse_target(self.target)
            found += [Account.network == network.lower(), Account.name == name]
        if self.post_id is not None:
            found.append(Delivery.post_id == self.post_id)
        if self.since is not None:
            found.append(Delivery.due_at >= self.since)
        if self.until is not None:
            found.append(Delivery.due_at < self.until)
        column = import_column()
        if self.import_id is not None and column is not None:
            found.append(Delivery.post_id.in_(select(Post.id).where(column == self.import_id)))
        return found


def import_column() -> Any:
    """`posts.import_id`, which `postmast import` adds; None while the models lack it."""
    return getattr(Post, "import_id", None)


ROW_COLUMNS = (
    Delivery.id,
    Delivery.post_id,
    Post.text,
    Post.content,
    Account.network,
    Account.name,
    Delivery.status,
    Delivery.due_at,
    Delivery.next_attempt_at,
    Delivery.published_at,
    Delivery.attempt_count,
    Delivery.remote_id,
    Delivery.public_url,
    Delivery.last_error,
    Delivery.last_error_class,
)
"""What a `DeliveryRow` shows, read as plain columns: a listing of 10,000 deliveries builds no ORM
objects and converts none of the times (leases, claims, deadlines) it does not show."""


def _rows_query(filters: Filters) -> Select[Any]:
    query: Select[Any] = (
        select(*ROW_COLUMNS)
        .join(Post, Post.id == Delivery.post_id)
        .join(Account, Account.id == Delivery.account_id)
        .where(visible(), *filters.conditions())
        .order_by(Delivery.due_at, Delivery.id)
    )
    if filters.limit:
        query = query.limit(filters.limit)
    return query


def _published_items(session: Session, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), 500):
        for delivery_id, position, remote_id, url in session.execute(
            select(
                DeliveryItem.delivery_id,
                DeliveryItem.position,
                DeliveryItem.remote_id,
                DeliveryItem.public_url,
            )
            .where(DeliveryItem.delivery_id.in_(ids[start : start + 500]))
            .order_by(DeliveryItem.delivery_id, DeliveryItem.position)
        ):
            found.setdefault(delivery_id, []).append(
                {"position": position + 1, "remote_id": remote_id, "url": url}
            )
    return found


def rows(session: Session, filters: Filters) -> list[DeliveryRow]:
    selected = session.execute(_rows_query(filters)).all()
    items = _published_items(session, [r.id for r in selected])
    thread_lengths: dict[int, int] = {}  # a post's deliveries share its body: read it once
    found = []
    for r in selected:
        if r.post_id not in thread_lengths:
            thread_lengths[r.post_id] = len(load(r.content, r.text).items)
        found.append(
            DeliveryRow(
                id=r.id,
                post_id=r.post_id,
                text=r.text,
                network=r.network,
                account=r.name,
                status=Status(r.status),
                due_at=r.due_at,
                next_attempt_at=r.next_attempt_at,
                published_at=r.published_at,
                attempts=r.attempt_count,
                remote_id=r.remote_id,
                public_url=r.public_url,
                error=r.last_error,
                error_class=r.last_error_class,
                items_total=thread_lengths[r.post_id],
                items=tuple(items.get(r.id, ())),
            )
        )
    return found


class Deliveries:
    def __init__(self, store: Store) -> None:
        self.store = store

    def search(self, filters: Filters) -> list[DeliveryRow]:
        with self.store.read() as session:
            return rows(session, filters)

    def upcoming(self, filters: Filters) -> list[DeliveryRow]:
        """What is still to happen or needs attention: pending and unsettled deliveries."""
        return self.search(replace(filters, statuses=filters.statuses or [*PENDING, *UNSETTLED]))

    def ids_of_post(self, post_id: int) -> list[int]:
        if not 0 < post_id <= MAX_ID:
            raise NotFound(f"no post {post_id}")
        with self.store.read() as session:
            ids = list(session.scalars(select(Delivery.id).where(Delivery.post_id == post_id)))
        if not ids:
            raise NotFound(f"no post {post_id}")
        return ids

    def cancel(self, delivery_ids: Iterable[int]) -> list[int]:
        """Cancel deliveries that have not started; all or nothing."""
        now = self.store.now()
        with self.store.write() as session:
            done = []
            for delivery_id in delivery_ids:
                current = self._status(session, delivery_id)
                if current not in CANCELLABLE or not transition(
                    session,
                    delivery_id,
                    current,
                    Status.CANCELLED,
                    now=now,
                    last_error="cancelled by user",
                    last_error_class=None,
                ):
                    raise Conflict(_refusal(delivery_id, current, "cancelled"))
                record(session, delivery_id, "cancelled", current, Status.CANCELLED, now=now)
                done.append(delivery_id)
            return done

    def reschedule(self, delivery_ids: Iterable[int], when: datetime) -> list[int]:
        """Move deliveries that have not started to a new due time; all or nothing."""
        now = self.store.now()
        check_due_time(when, now)
        when = when.astimezone(UTC)
        with self.store.write() as session:
            done = []
            for delivery_id in delivery_ids:
                current = self._status(session, delivery_id)
                lateness, due = self._timing(session, delivery_id)
                if current not in RESCHEDULABLE or not transition(
                    session,
                    delivery_id,
                    current,
                    Status.SCHEDULED,
                    now=now,
                    due_at=when,
                    next_attempt_at=when,
                    deadline_at=when + timedelta(seconds=lateness or 0),
                    queued_at=None,
                ):
                    raise Conflict(_refusal(delivery_id, current, "rescheduled"))
                record(
                    session,
                    delivery_id,
                    "rescheduled",
                    current,
                    Status.SCHEDULED,
                    now=now,
                    due_before=due,
                    due_after=when,
                )
                done.append(delivery_id)
            return done

    def retry(self, delivery_ids: Iterable[int], *, resend_unknown: bool = False) -> list[int]:
        """Send failed, missed or (confirmed) unknown deliveries again, now; all or nothing."""
        now = self.store.now()
        with self.store.write() as session:
            done = []
            for delivery_id in delivery_ids:
                current = self._status(session, delivery_id)
                if current == Status.UNKNOWN and not resend_unknown:
                    raise Conflict(
                        f"delivery {delivery_id}'s outcome is unknown: it may already be published, and "
                        "sending it again may post it twice; confirm with --resend-unknown"
                    )
                lateness, due = self._timing(session, delivery_id)
                error = session.scalar(select(Delivery.last_error).where(Delivery.id == delivery_id))
                # the due time stays: lateness is still measured from when the post was wanted
                if current not in RETRYABLE or not transition(
                    session,
                    delivery_id,
                    current,
                    Status.SCHEDULED,
                    now=now,
                    next_attempt_at=now,
                    deadline_at=now + timedelta(seconds=lateness or 0),
                    queued_at=None,
                    lease_until=None,
                    reconcile_at=None,  # the person confirmed: send, do not look up first
                ):
                    raise Conflict(_refusal(delivery_id, current, "retried"))
                record(
                    session,
                    delivery_id,
                    "retried",
                    current,
                    Status.SCHEDULED,
                    now=now,
                    due_before=due,
                    note=error,
                )
                done.append(delivery_id)
            return done

    def status(self, delivery_id: int) -> Status:
        with self.store.read() as session:
            return self._status(session, delivery_id)

    @staticmethod
    def _timing(session: Session, delivery_id: int) -> tuple[int, datetime | None]:
        """The post's allowed lateness (seconds) and the delivery's due time."""
        found = session.execute(
            select(Post.max_lateness, Delivery.due_at)
            .join(Delivery, Delivery.post_id == Post.id)
            .where(Delivery.id == delivery_id)
        ).one_or_none()
        return (found[0] or 0, found[1]) if found is not None else (0, None)

    @staticmethod
    def _status(session: Session, delivery_id: int) -> Status:
        if not 0 < delivery_id <= MAX_ID:
            raise NotFound(f"no delivery {delivery_id} (see: postmast queue)")
        status = session.scalar(select(Delivery.status).where(Delivery.id == delivery_id))
        if status is None:
            raise NotFound(f"no delivery {delivery_id} (see: postmast queue)")
        return Status(status)


def _refusal(delivery_id: int, current: Status, verb: str) -> str:
    hints = {
        Status.PUBLISHING: "it is being published right now",
        Status.PUBLISHED: "it is already published",
        Status.CANCELLED: "it is cancelled",
        Status.FAILED: "it failed; use postmast retry",
        Status.MISSED: "it was missed; use postmast retry",
        Status.UNKNOWN: "its outcome is unknown and it may already be published; see postmast retry --help",
        Status.RECONCILING: "its outcome is unknown and is being checked with the network right now "
        "(it may already be published)",
    }
    reason = hints.get(current, f"it is {current}")
    return f"delivery {delivery_id} cannot be {verb}: {reason}"


def parse_id(value: str, what: str = "delivery") -> int:
    if not (value.isascii() and value.isdecimal() and len(value) <= 10 and 0 < int(value) <= MAX_ID):
        raise UserError(f"{value[:40]!r} is not a {what} id (a number, see: postmast queue)")
    return int(value)


def parse_ids(values: Sequence[str]) -> list[int]:
    return [parse_id(value) for value in values]
