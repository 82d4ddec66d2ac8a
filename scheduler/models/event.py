"""The history of a delivery that its attempts do not tell: what people did to it.

A retry or a reschedule never rewrites what happened before: the delivery keeps its
first due time (`deliveries.original_due_at`) and every attempt, and each action adds
one row here with the state and due time before and after. Rows are never changed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from postmast.scheduler.models.base import Base, UTCDateTime


class DeliveryEvent(Base):
    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(32))
    """`retried`, `rescheduled` or `cancelled`."""
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    due_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    """What the delivery said before the action (its last error), so a retry does not erase it."""
