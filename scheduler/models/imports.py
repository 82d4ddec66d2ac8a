"""An import file taken whole: its posts become visible at once, when it is done."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from postmast.scheduler.models.base import Base, UTCDateTime


class ImportState:
    STAGING = "staging"
    """Rows are being written in small batches; the dispatcher ignores them."""
    DONE = "done"
    """Every row is written: the whole import became visible at once (one row's update)."""
    CANCELLED = "cancelled"
    """Undone by `postmast cancel --import ID` (or abandoned while staging)."""


class Import(Base):
    """One `postmast import` run. `sha256` of the file refuses the same file twice (unless the user
    allows it: so it is not a unique key; imports are created one at a time instead)."""

    __tablename__ = "imports"
    __table_args__ = (Index("ix_imports_sha256", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filename: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=ImportState.STAGING)
    posts: Mapped[int] = mapped_column(Integer, default=0)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
