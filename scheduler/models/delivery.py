"""One post to one account: the unit the dispatcher claims and a worker publishes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from postmast.scheduler.models.base import Base, StatusType, UTCDateTime
from postmast.scheduler.status import Status

if TYPE_CHECKING:
    from postmast.scheduler.models.account import Account
    from postmast.scheduler.models.attempt import Attempt
    from postmast.scheduler.models.post import Post


def _first_due(context: Any) -> Any:
    """By default the due time the delivery is created with, so no creator needs to know."""
    return context.get_current_parameters()["due_at"]


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("post_id", "account_id", "occurrence", name="uq_deliveries_post_account_occurrence"),
        CheckConstraint("status IN (" + ", ".join(f"'{s.value}'" for s in Status) + ")", name="status_known"),
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_deliveries_account_fingerprint", "account_id", "fingerprint"),
        # reports and queues select by due time, overall and per account
        Index("ix_deliveries_due", "due_at"),
        Index("ix_deliveries_account_due", "account_id", "due_at"),
        # every dispatcher tick: an account's in-flight, due and next deliveries (claims), and
        # what is past its deadline (mark_missed); tests/scheduler/test_plans.py checks the plans
        Index("ix_deliveries_account_status_next", "account_id", "status", "next_attempt_at"),
        Index("ix_deliveries_status_deadline", "status", "deadline_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    status: Mapped[Status] = mapped_column(StatusType(), default=Status.SCHEDULED)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When the user wants it out (a reschedule moves it; a retry does not)."""
    original_due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_first_due)
    """The first due time ever asked for; never changed (`delivery_events` has each move)."""
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When the dispatcher may next queue it (the due time, or after a backoff)."""
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """Due time plus the post's maximum lateness: after this it is `missed`."""
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    """Stable across attempts; random, so keys never repeat across databases."""
    remote_id: Mapped[str | None] = mapped_column(String(255))
    public_url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_class: Mapped[str | None] = mapped_column(String(64))
    reconcile_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """For an `unknown` delivery: when the network may next be asked whether the post exists
    (None: no more lookups, a person decides)."""
    reconcile_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Lookups since the last unknown outcome that could not decide."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    occurrence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """0 for a post said once; the number of the occurrence of a recurring post, or of the
    round of an evergreen one. Unique with the post and the account: never created twice."""
    slotted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    """Its due time is one of the account's posting slots: reordered and refilled with the queue."""
    import_id: Mapped[int | None] = mapped_column(Integer)
    """Its post's import, while that import is staging the dispatcher leaves it alone."""
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    """Hash of the text this account receives, to find the same text posted twice."""

    post: Mapped[Post] = relationship(back_populates="deliveries", lazy="raise")
    account: Mapped[Account] = relationship(lazy="raise")
    attempts: Mapped[list[Attempt]] = relationship(
        back_populates="delivery", lazy="raise", order_by="Attempt.number"
    )
    items: Mapped[list[DeliveryItem]] = relationship(lazy="raise", order_by="DeliveryItem.position")


class DeliveryItem(Base):
    """One published item of a delivery (a thread has several), recorded before the next is sent."""

    __tablename__ = "delivery_items"
    __table_args__ = (UniqueConstraint("delivery_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    remote_id: Mapped[str] = mapped_column(String(255))
    public_url: Mapped[str | None] = mapped_column(Text)
    ref: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What a reply to this item needs besides its id (e.g. Bluesky's uri and cid)."""
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
