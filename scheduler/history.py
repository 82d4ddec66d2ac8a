"""The history of a delivery is never rewritten: each person's action is appended to it.

A retry or reschedule moves a delivery on but keeps its first due time
(`deliveries.original_due_at`) and every attempt; `record` adds the action itself: the
state and due time before and after, and the error a retry leaves behind.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from postmast.scheduler.models import DeliveryEvent
from postmast.scheduler.status import Status


def record(
    session: Session,
    delivery_id: int,
    action: str,
    before: Status,
    after: Status,
    *,
    now: datetime,
    due_before: datetime | None = None,
    due_after: datetime | None = None,
    note: str | None = None,
) -> None:
    """Append one action to a delivery's history (in the caller's transaction)."""
    session.add(
        DeliveryEvent(
            delivery_id=delivery_id,
            at=now,
            action=action,
            from_status=before.value,
            to_status=after.value,
            due_before=due_before,
            due_after=due_after,
            note=note,
        )
    )
