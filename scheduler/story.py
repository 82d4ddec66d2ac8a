"""The whole story of a post or a delivery, for `postmast show`: each attempt (timing, HTTP
status, error class and message), each person's action (`history`), each link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postmast.scheduler.deliveries import MAX_ID, DeliveryRow, Filters, rows
from postmast.scheduler.errors import NotFound, UserError
from postmast.scheduler.models import Attempt, Delivery, DeliveryEvent, Post
from postmast.scheduler.store import Store


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Step:
    """One line of a delivery's timeline: an attempt (publish or lookup) or a person's action."""

    at: datetime
    kind: str
    """`publish`, `lookup` (attempts) or `retried`, `rescheduled`, `cancelled` (actions)."""
    number: int | None = None
    finished_at: datetime | None = None
    outcome: str | None = None
    http_status: int | None = None
    error_class: str | None = None
    message: str | None = None
    remote_id: str | None = None
    worker: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None

    @property
    def seconds(self) -> float | None:
        return (self.finished_at - self.at).total_seconds() if self.finished_at else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "number": self.number,
            "finished_at": _iso(self.finished_at),
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "error_class": self.error_class,
            "message": self.message,
            "remote_id": self.remote_id,
            "worker": self.worker,
            "due_before": _iso(self.due_before),
            "due_after": _iso(self.due_after),
        }


@dataclass(frozen=True)
class DeliveryStory:
    delivery: DeliveryRow
    original_due_at: datetime
    deadline_at: datetime
    steps: tuple[Step, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.delivery.as_dict(),
            "original_due_at": self.original_due_at.isoformat(),
            "deadline_at": self.deadline_at.isoformat(),
            "history": [s.as_dict() for s in self.steps],
        }


@dataclass(frozen=True)
class PostStory:
    post_id: int
    text: str
    timezone: str
    created_at: datetime
    deliveries: tuple[DeliveryStory, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "post": self.post_id,
            "text": self.text,
            "timezone": self.timezone,
            "created_at": self.created_at.isoformat(),
            "deliveries": [d.as_dict() for d in self.deliveries],
        }


def parse_subject(value: str) -> tuple[str, int]:
    """`12` or `delivery:12` (a delivery), `post:12` or `p12` (a post)."""
    text = value.strip().lower()
    kind = "delivery"
    for prefix, named in (("post:", "post"), ("p", "post"), ("delivery:", "delivery"), ("d", "delivery")):
        if text.startswith(prefix) and text[len(prefix) :].isdecimal():
            kind, text = named, text[len(prefix) :]
            break
    if not (text.isascii() and text.isdecimal() and len(text) <= 10 and 0 < int(text) <= MAX_ID):
        raise UserError(
            f"{value[:40]!r} is not a delivery or post id (e.g. 12, or post:4; see: postmast queue)"
        )
    return kind, int(text)


def _steps(session: Session, delivery_id: int) -> tuple[Step, ...]:
    steps = [
        Step(
            at=a.started_at,
            kind=a.kind,
            number=a.number,
            finished_at=a.finished_at,
            outcome=a.outcome,
            http_status=a.http_status,
            error_class=a.error_class,
            message=a.message,
            remote_id=a.remote_id,
            worker=a.worker,
        )
        for a in session.scalars(select(Attempt).where(Attempt.delivery_id == delivery_id))
    ]
    steps += [
        Step(
            at=e.at,
            kind=e.action,
            outcome=e.to_status,
            message=e.note,
            due_before=e.due_before,
            due_after=e.due_after,
        )
        for e in session.scalars(select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery_id))
    ]
    return tuple(sorted(steps, key=lambda s: (s.at, s.number or 0)))


def _story(session: Session, row: DeliveryRow) -> DeliveryStory:
    times = session.execute(
        select(Delivery.original_due_at, Delivery.deadline_at).where(Delivery.id == row.id)
    ).one()
    return DeliveryStory(row, times[0], times[1], _steps(session, row.id))


def delivery_story(store: Store, delivery_id: int) -> DeliveryStory:
    with store.read() as session:
        found = session.scalar(select(Delivery.post_id).where(Delivery.id == delivery_id))
        if found is None:
            raise NotFound(f"no delivery {delivery_id} (for a post: postmast show post:{delivery_id})")
        [row] = [r for r in rows(session, Filters(post_id=found)) if r.id == delivery_id]
        return _story(session, row)


def post_story(store: Store, post_id: int) -> PostStory:
    with store.read() as session:
        post = session.get(Post, post_id)
        if post is None:
            raise NotFound(f"no post {post_id}")
        stories = tuple(_story(session, row) for row in rows(session, Filters(post_id=post_id)))
        return PostStory(post.id, post.text, post.timezone, post.created_at, stories)
