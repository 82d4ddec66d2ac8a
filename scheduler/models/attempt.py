"""The record of every try at publishing a delivery."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from postmast.scheduler.models.base import Base, UTCDateTime

if TYPE_CHECKING:
    from postmast.scheduler.models.delivery import Delivery


class Attempt(Base):
    """One task's work on a delivery: written when it starts, its outcome filled once, when it ends.

    Rows are never deleted or rewritten: completion is guarded by `finished_at IS NULL`.
    """

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="publish", server_default="publish")
    """`publish` (the network was sent the post) or `lookup` (asked whether it is there)."""
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))
    """The delivery state this attempt led to (published, retry_wait, failed, unknown)."""
    http_status: Mapped[int | None] = mapped_column(Integer)
    error_class: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    remote_id: Mapped[str | None] = mapped_column(String(255))
    worker: Mapped[str | None] = mapped_column(String(255))

    delivery: Mapped[Delivery] = relationship(back_populates="attempts", lazy="raise")
