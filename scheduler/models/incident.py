"""Something that needs a person, and the notifications sent about it.

One incident per cause, not per delivery: ten posts failing on one account for the
same reason are one open incident whose count grows, and one notification per channel.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from postmast.scheduler.models.base import Base, UTCDateTime


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index(
            "uq_incidents_key_open",
            "key",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    """What makes two problems one incident, e.g. `failed:mastodon:brand:PermanentError`."""
    kind: Mapped[str] = mapped_column(String(32))
    """`failed`, `unknown`, `missed`, `needs_reauth` or `service_down`."""
    subject: Mapped[str] = mapped_column(String(255))
    """The account (`network:name`) or the service it is about."""
    summary: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=1)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Delivery ids (the first few), the error class, the command that fixes it."""


class Notification(Base):
    """One message about an incident on one channel, sent until it is accepted or given up."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("incident_id", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    """`webhook` or `email`."""
    message_id: Mapped[str] = mapped_column(String(64))
    """Stable across retries (the `webhook-id`): receivers drop copies by it."""
    state: Mapped[str] = mapped_column(String(16), default="pending")
    """`pending`, `sent` or `gave_up`."""
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    sending_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """A sender's claim, so two schedulers never send the same message at once."""
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
