"""A recurring post: its rule, and how far ahead its occurrences exist as deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from postmast.scheduler.models.base import Base, UTCDateTime


class Series(Base):
    """`rule` is an RFC 5545 RRULE or a cron expression, read in `timezone` from `starts_local`
    (a naive local time, so 09:00 stays 09:00 across DST). Occurrence N of the rule is the
    delivery with `occurrence = N` of the post for each account; `planned_until` moves only by
    compare-and-set, so two schedulers never create one occurrence twice."""

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), unique=True)
    rule: Mapped[str] = mapped_column(Text)
    starts_local: Mapped[str] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64))
    account_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    """The accounts every occurrence goes to."""
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    count: Mapped[int | None] = mapped_column(Integer)
    planned_until: Mapped[datetime] = mapped_column(UTCDateTime)
    """Every occurrence due before this instant exists as deliveries."""
    planned: Mapped[int] = mapped_column(Integer, default=0)
    """Occurrences created so far (the next one's number)."""
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Stopped by the user, or the rule has no more occurrences."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
