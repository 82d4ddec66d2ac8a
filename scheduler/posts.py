"""Queueing posts: validate every target first, then store the posts and their deliveries.

A request (one post, possibly a thread with media and variants, to several targets) or a
batch of them is accepted whole or rejected whole: nothing is written unless every item
of every post passes every target network's rules, and a rejection lists every problem.
Checking (`check`) reads; writing (`write`) takes the write lock only to insert, many rows
per statement, so an import can write in short batches (see `scheduler.imports`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from postmast.connectors import MediaFile
from postmast.scheduler import media as media_store
from postmast.scheduler import recurrence, slots
from postmast.scheduler.body import Body, Item, MediaRef, OptionValue, dump
from postmast.scheduler.duplicates import Window, fingerprint
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account, Delivery, Post, Series
from postmast.scheduler.occurrences import NewDelivery, insert_values
from postmast.scheduler.requests import PostRequest
from postmast.scheduler.store import Store
from postmast.scheduler.timespec import local
from postmast.scheduler.validation import Issue, TargetPlan, Validator, option_problem, request_problems

__all__ = [
    "Checked",
    "Item",
    "OptionValue",
    "PostRequest",
    "Posts",
    "QueuedPost",
    "Rejected",
    "TargetPlan",
    "option_problem",
]

DAY = 86400.0


@dataclass(frozen=True)
class QueuedDelivery:
    id: int
    target: str
    due_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "due_at": self.due_at.isoformat(),
            "status": "scheduled",
        }


@dataclass(frozen=True)
class QueuedPost:
    id: int
    deliveries: list[QueuedDelivery]
    series: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"post": self.id, "deliveries": [d.as_dict() for d in self.deliveries]}
        if self.series is not None:
            data["series"] = self.series
        return data


class Rejected(UserError):
    """Raised when any target of any post in a request or batch fails validation."""

    def __init__(self, message: str, issues: Sequence[Issue] = ()) -> None:
        super().__init__(message)
        self.issues = list(issues)

    @classmethod
    def of(
        cls, issues: Sequence[Issue], *, batch: bool = False, suffix: str = "nothing was queued"
    ) -> Rejected:
        shown = [f"post {i.post + 1}: {i.message}" if batch else i.message for i in issues[:3]]
        more = f" (and {len(issues) - 3} more)" if len(issues) > 3 else ""
        return cls("; ".join(shown) + more + f"; {suffix}", issues)


@dataclass(frozen=True)
class Checked:
    """A request that passed every check, with the accounts it goes to."""

    request: PostRequest
    accounts: list[Account]
    prints: dict[int, str] = field(default_factory=dict)
    """Account id -> fingerprint of the text it receives."""


class Posts:
    def __init__(
        self,
        store: Store,
        *,
        default_max_lateness: float,
        duplicate_window: float = DAY,
        horizon: float = 30 * DAY,
    ) -> None:
        self.store = store
        self.default_max_lateness = default_max_lateness
        self.duplicate_window = duplicate_window
        self.horizon = horizon

    def plan(self, request: PostRequest) -> list[TargetPlan]:
        """Validate without writing, for `--dry-run`: a problem of the request itself is an error,
        the targets' problems are in their plans."""
        now = self.store.now()
        own = request_problems(request, now)
        if own:
            raise Rejected.of(
                [Issue(0, where, message) for where, message in own], suffix="nothing was stored"
            )
        with self.store.read() as session:
            plans, _ = Validator(session, self.store.clock).check(0, request, now)
        return [plan for plan, _ in plans]

    def queue(self, request: PostRequest, *, allow_duplicate: bool = False) -> QueuedPost:
        return self.queue_many([request], allow_duplicate=allow_duplicate)[0]

    def queue_many(
        self, requests: Sequence[PostRequest], *, allow_duplicate: bool = False
    ) -> list[QueuedPost]:
        """Store every post with its deliveries in one transaction, or nothing at all."""
        checked = self.check(requests, allow_duplicate=allow_duplicate)
        with self.store.write() as session:
            return self.write(session, checked, self.store.now())

    def check(
        self,
        requests: Sequence[PostRequest],
        *,
        allow_duplicate: bool = False,
        issues: list[Issue] | None = None,
    ) -> list[Checked]:
        """Every request checked against its targets (and for duplicates); raises `Rejected` with
        every problem, or appends them to `issues` when given."""
        if not requests:
            raise UserError("nothing to queue")
        now = self.store.now()
        found: list[Issue] = []
        checked: list[Checked] = []
        with self.store.read() as session:
            validator = Validator(session, self.store.clock)
            validator.preload([t for r in requests for t in r.targets])
            for index, request in enumerate(requests):
                plans, problems = validator.check(index, request, now, describe=False)
                found += problems
                accounts = [a for _, a in plans if a is not None]
                texts = {a.id: request.body.items_for(a.target)[0].text for a in accounts}
                once = {text: fingerprint(text) for text in set(texts.values())}  # no variant: one text
                prints = {account_id: once[text] for account_id, text in texts.items()}
                checked.append(Checked(request, accounts, prints))
            if not allow_duplicate and not found:
                found += self._duplicates(session, checked)
        if found:
            if issues is None:
                raise Rejected.of(found, batch=len(requests) > 1)
            issues += found
        return checked

    def _duplicates(self, session: Session, checked: Sequence[Checked]) -> list[Issue]:
        window = Window(self.duplicate_window)
        dues = [c.request.due_at for c in checked]
        window.load(session, {a.id for c in checked for a in c.accounts}, min(dues), max(dues))
        issues = []
        for index, item in enumerate(checked):
            for account in item.accounts:
                due = item.request.due_at
                earlier = window.earlier(account.id, item.prints[account.id], due)
                if earlier is None:
                    window.add(account.id, item.prints[account.id], due, -(index + 1))
                    continue
                where = (
                    f"delivery {earlier.delivery_id} (due {local(earlier.due_at, UTC)} UTC)"
                    if earlier.delivery_id > 0
                    else f"post {-earlier.delivery_id} of this batch"
                )
                hours = self.duplicate_window / 3600
                issues.append(
                    Issue(
                        index,
                        "text",
                        f"{account.target}: the same text goes to this account in {where}, within "
                        f"{hours:g} h; allow it with --allow-duplicate",
                    )
                )
        return issues

    def write(
        self, session: Session, checked: Sequence[Checked], now: datetime, *, import_id: int | None = None
    ) -> list[QueuedPost]:
        """Insert checked requests in the caller's transaction: posts, then every delivery at once."""
        return self.write_prepared(session, self.prepare(checked, now, import_id=import_id))

    def prepare(self, checked: Sequence[Checked], now: datetime, *, import_id: int | None = None) -> Prepared:
        """The rows to insert, built before the write lock is taken (`write_prepared` holds it only
        to store them): what needs the database (media, slots, series, ids) is left for then."""
        posts: list[dict[str, Any]] = []
        deliveries: list[list[dict[str, Any]]] = []
        for item in checked:
            request = item.request
            lateness = request.max_lateness if request.max_lateness is not None else self.default_max_lateness
            posts.append(
                {
                    "text": request.text,
                    "content": _content_without_media(request.body),
                    "timezone": request.timezone,
                    "max_lateness": math.ceil(lateness),
                    "created_at": now,
                    "import_id": import_id,
                    "evergreen_every": math.ceil(request.evergreen_every)
                    if request.evergreen_every
                    else None,
                }
            )
            fixed = request.recurrence is None and not request.next_slot
            deliveries.append(
                [
                    NewDelivery(
                        0,  # the post's id, drawn under the lock
                        account.id,
                        request.due_at,
                        max_lateness=math.ceil(lateness),
                        import_id=import_id,
                        fingerprint=item.prints.get(account.id),
                    ).values(now)
                    for account in item.accounts
                ]
                if fixed
                else []
            )
        return Prepared(checked, now, import_id, posts, deliveries)

    def write_prepared(self, session: Session, prepared: Prepared) -> list[QueuedPost]:
        """Insert what `prepare` built, in the caller's transaction."""
        checked, now, import_id = prepared.checked, prepared.now, prepared.import_id
        values = prepared.posts
        for item, row in zip(checked, values, strict=True):
            if row["content"] is None:
                body = item.request.body.with_media(
                    lambda m: MediaRef(media_store.store(session, m, now), m.alt)
                )
                row["content"] = dump(body)
        # ids drawn first, then one multi-row INSERT: SQLite cannot return ids in parameter order
        # without a statement per row, and the ORM's unit of work is far slower still
        ids = _new_ids(session, len(values))
        for post_id, row in zip(ids, values, strict=True):
            row["id"] = post_id
        session.connection().execute(insert(Post), values)
        rows: list[dict[str, Any]] = []
        series: dict[int, int] = {}
        placed = _Slots(session, now)
        for item, post_id, row, fixed in zip(checked, ids, values, prepared.deliveries, strict=True):
            request = item.request
            post = _Inserted(post_id, int(row["max_lateness"]), import_id)
            for delivery in fixed:
                delivery["post_id"] = post_id
            rows += fixed
            if request.recurrence is not None:
                series[post_id] = self._series(session, item, post, now)
            elif request.next_slot:
                rows += [
                    NewDelivery(
                        post_id,
                        account.id,
                        placed.next(account),
                        max_lateness=post.max_lateness,
                        slotted=True,
                        import_id=import_id,
                        fingerprint=item.prints.get(account.id),
                    ).values(now)
                    for account in item.accounts
                ]
        created = insert_values(session, rows)
        targets = {a.id: a.target for item in checked for a in item.accounts}
        by_post: dict[int, list[QueuedDelivery]] = {}
        for made in created:
            by_post.setdefault(made.post_id, []).append(
                QueuedDelivery(made.id, targets[made.account_id], made.due_at)
            )
        for post_id in series:
            for delivery_id, account_id, due in session.execute(
                select(Delivery.id, Delivery.account_id, Delivery.due_at)
                .where(Delivery.post_id == post_id)
                .order_by(Delivery.due_at, Delivery.id)
            ):
                by_post.setdefault(post_id, []).append(QueuedDelivery(delivery_id, targets[account_id], due))
        return [QueuedPost(post_id, by_post.get(post_id, []), series.get(post_id)) for post_id in ids]

    def _series(self, session: Session, item: Checked, post: _Inserted, now: datetime) -> int:
        request = item.request
        assert request.recurrence is not None
        start = request.due_at.astimezone(ZoneInfo(request.timezone)).replace(tzinfo=None)
        row = Series(
            post_id=post.id,
            rule=request.recurrence.rule,
            starts_local=start.isoformat(),
            timezone=request.timezone,
            account_ids=[a.id for a in item.accounts],
            until=request.recurrence.until,
            count=request.recurrence.count,
            planned_until=now - timedelta(seconds=1),
            planned=0,
            created_at=now,
        )
        session.add(row)
        session.flush()
        recurrence.plan(session, row, post, now, self.horizon)
        return row.id


def _new_ids(session: Session, count: int) -> list[int]:
    """`count` unused post ids: from the sequence on PostgreSQL; on SQLite, after the largest,
    which is safe because the caller holds SQLite's write lock (`BEGIN IMMEDIATE`)."""
    if session.get_bind().dialect.name == "postgresql":
        drawn = session.execute(
            text("SELECT nextval(pg_get_serial_sequence('posts', 'id')) FROM generate_series(1, :n)"),
            {"n": count},
        )
        return [int(n) for n in drawn.scalars()]
    start = int(session.scalar(select(func.coalesce(func.max(Post.id), 0))) or 0) + 1
    return list(range(start, start + count))


@dataclass(frozen=True)
class Prepared:
    """Checked requests as rows, ready to insert (see `Posts.prepare`)."""

    checked: Sequence[Checked]
    now: datetime
    import_id: int | None
    posts: list[dict[str, Any]]
    """Each post's row, without its id; content None while its media are not stored."""
    deliveries: list[list[dict[str, Any]]]
    """Each post's deliveries due at a fixed time, without the post's id ([] for a recurring post
    or one that takes posting slots: those are placed under the lock)."""


def _content_without_media(body: Body[MediaFile]) -> dict[str, Any] | None:
    """`posts.content` of a body without attachments; None when it has some (they are stored
    first, under the write lock, and the body dumped with their ids)."""
    if any(item.media for item in (*body.items, *(i for v in body.variants for i in v.items))):
        return None
    return dump(body.with_media(_never_called))


def _never_called(media: MediaFile) -> MediaRef:
    raise AssertionError("a body with media is dumped once they are stored")


@dataclass(frozen=True)
class _Inserted:
    """What the deliveries of a post just inserted need from it."""

    id: int
    max_lateness: int
    import_id: int | None


class _Slots:
    """Next free slots per account within one write: each handed out once."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.accounts: dict[int, slots.AccountSlots] = {}
        self.busy: dict[int, set[datetime]] = {}

    def next(self, account: Account) -> datetime:
        if account.id not in self.accounts:
            self.session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
            self.accounts[account.id] = slots.of_account(self.session, account)
            self.busy[account.id] = slots.taken(self.session, account.id, self.now)
        return slots.next_free(self.accounts[account.id], self.now, self.busy[account.id])
