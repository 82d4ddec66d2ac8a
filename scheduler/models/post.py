"""A post: what to say (one or more thread items, with media), said once for every target."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from postmast.scheduler.models.base import Base, UTCDateTime

if TYPE_CHECKING:
    from postmast.scheduler.models.delivery import Delivery


class Post(Base):
    """`content` is the body as `scheduler.body.dump` writes it; `text` repeats the first item's text."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timezone: Mapped[str] = mapped_column(String(64))
    max_lateness: Mapped[int] = mapped_column(Integer)
    """Seconds after the due time beyond which a delivery is `missed`, not published."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"), index=True)
    """The `postmast import` that created it (`postmast cancel --import ID` undoes them all)."""
    evergreen_every: Mapped[int | None] = mapped_column(Integer)
    """Evergreen: seconds that must pass after it was published before it is queued again."""

    deliveries: Mapped[list[Delivery]] = relationship(back_populates="post", lazy="raise")
