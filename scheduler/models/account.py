"""A network account: public settings, encrypted secrets, and its health."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from postmast.scheduler.models.base import Base, UTCDateTime


class AccountStatus:
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    REMOVED = "removed"


class Account(Base):
    """Settings are public JSON; secrets and the connector's session are encrypted blobs."""

    __tablename__ = "accounts"
    __table_args__ = (
        Index(
            "uq_accounts_network_name_live",
            "network",
            "name",
            unique=True,
            sqlite_where=text("status != 'removed'"),
            postgresql_where=text("status != 'removed'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text)
    limited_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The network said this account is rate-limited until then: nothing is sent to it before."""
    session: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Encrypted connector state that changes over time (e.g. Bluesky's session tokens)."""
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Bumped on every session write; writes are compare-and-set on it."""
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the stored credentials stop working, when known (renewed or warned about ahead)."""
    renewal_note: Mapped[str | None] = mapped_column(Text)
    """Why the credentials cannot be renewed before `expires_at` (set by `scheduler.renewal`)."""
    cache: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Public facts the connector learnt about the account (e.g. the instance's limits)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def target(self) -> str:
        return f"{self.network}:{self.name}"
