"""A running scheduler or worker, as it last reported itself to the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from postmast.scheduler.models.base import Base, UTCDateTime


class Heartbeat(Base):
    """One row per process (`role:host:pid`), refreshed every few seconds while it runs."""

    __tablename__ = "heartbeats"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    """`scheduler` or `worker`."""
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Set when the process stopped cleanly; a process that died just stops beating."""
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What it runs: queue, concurrency, version, metrics port."""
