"""`reschedule --by`: each delivery moves from its own due time, all of them or none.

Whole days move on the wall clock of the post's zone (09:00 stays 09:00 across a DST
change), hours and minutes in real time (see `timespec.shift`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from postmast.scheduler.deliveries import RESCHEDULABLE, _refusal
from postmast.scheduler.errors import Conflict, NotFound, UserError
from postmast.scheduler.models import Delivery, Post
from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from postmast.scheduler.timespec import Shift, check_due_time
from postmast.scheduler.timespec import shift as shift_time


@dataclass(frozen=True)
class Moved:
    id: int
    due_at: datetime


def shift(store: Store, delivery_ids: Sequence[int], by: Shift) -> list[Moved]:
    now = store.now()
    moved = []
    with store.write() as session:
        for delivery_id in delivery_ids:
            row = session.execute(
                select(Delivery.status, Delivery.due_at, Post.timezone, Post.max_lateness)
                .join(Post, Post.id == Delivery.post_id)
                .where(Delivery.id == delivery_id)
            ).one_or_none()
            if row is None:
                raise NotFound(f"no delivery {delivery_id} (see: postmast queue)")
            status, due, timezone, lateness = row
            when = shift_time(due, by, ZoneInfo(timezone))
            try:
                check_due_time(when, now)
            except UserError as exc:
                raise UserError(f"delivery {delivery_id}: {exc}") from None
            if Status(status) not in RESCHEDULABLE or not transition(
                session,
                delivery_id,
                Status(status),
                Status.SCHEDULED,
                now=now,
                due_at=when,
                next_attempt_at=when,
                deadline_at=when + timedelta(seconds=lateness),
                queued_at=None,
            ):
                raise Conflict(_refusal(delivery_id, Status(status), "rescheduled"))
            moved.append(Moved(delivery_id, when))
    return moved
