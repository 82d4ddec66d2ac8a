"""New deliveries, each created once: posts, imports, recurring and evergreen posts share this.

A delivery is unique per (post, account, occurrence). Rows are inserted many at a time
(one statement per batch, `INSERT ... ON CONFLICT DO NOTHING RETURNING`), so a row that
another process created first is skipped rather than duplicated or failing the batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from postmast.scheduler.models import Delivery
from postmast.scheduler.states import Status


@dataclass(frozen=True)
class NewDelivery:
    post_id: int
    account_id: int
    due_at: datetime
    occurrence: int = 0
    max_lateness: int = 3600
    slotted: bool = False
    import_id: int | None = None
    fingerprint: str | None = None

    def values(self, now: datetime) -> dict[str, Any]:
        due = self.due_at.astimezone(UTC)
        return {
            "post_id": self.post_id,
            "account_id": self.account_id,
            "status": Status.SCHEDULED,
            "due_at": due,
            "original_due_at": due,  # given, not the column's default: computed once per row otherwise
            "next_attempt_at": due,
            "deadline_at": due + timedelta(seconds=self.max_lateness),  # real time, not wall time
            "idempotency_key": str(uuid.uuid4()),
            "attempt_count": 0,
            "reconcile_attempts": 0,
            "occurrence": self.occurrence,
            "slotted": self.slotted,
            "import_id": self.import_id,
            "fingerprint": self.fingerprint,
            "created_at": now,
            "updated_at": now,
        }


@dataclass(frozen=True)
class Created:
    id: int
    post_id: int
    account_id: int
    due_at: datetime


def _insert(session: Session) -> Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(Delivery).on_conflict_do_nothing(
            constraint="uq_deliveries_post_account_occurrence"
        )
    return sqlite.insert(Delivery).on_conflict_do_nothing(
        index_elements=["post_id", "account_id", "occurrence"]
    )


def insert_returning(session: Session, rows: Sequence[NewDelivery], now: datetime) -> list[Created]:
    """Insert `rows`; those that already exist are left alone. Returns the rows created."""
    return insert_values(session, [row.values(now) for row in rows])


def insert_values(session: Session, values: Sequence[dict[str, Any]]) -> list[Created]:
    """`insert_returning` for rows already made (`NewDelivery.values`), e.g. before the write lock."""
    if not values:
        return []
    statement = _insert(session).returning(
        Delivery.id, Delivery.post_id, Delivery.account_id, Delivery.due_at
    )
    created = []
    for start in range(0, len(values), 1000):  # a statement per 1000 rows, the returned rows name themselves
        result = session.connection().execute(statement, values[start : start + 1000])
        created += [Created(*row) for row in result.all()]
    return created


def insert(session: Session, rows: Sequence[NewDelivery], now: datetime) -> int:
    return len(insert_returning(session, rows, now))
