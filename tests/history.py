"""Generated delivery histories with known counts, lateness and causes, inserted in bulk.

Used by the summary tests (numbers known by construction) and the 100,000-delivery
timing test. Rows go in through the driver's `executemany` with explicit ids, not the
product's services: the point is a large, exactly known starting point, made in seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text

from postmast.scheduler.models import Attempt, Delivery, Post
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store


@dataclass(frozen=True)
class Spec:
    """`count` deliveries of one account in one state."""

    account_id: int
    status: Status
    count: int
    lateness: Sequence[float] = ()
    """Seconds late for each published delivery (cycled)."""
    attempts: Sequence[str | None] = ()
    """The error class of each attempt, in order (None: the attempt that succeeded)."""
    error_class: str | None = None
    error: str | None = None


def _insert(session: Any, table: str, rows: list[tuple[Any, ...]], columns: str) -> None:
    marks = ", ".join(["?" if session.get_bind().dialect.name == "sqlite" else "%s"] * len(rows[0]))
    session.connection().exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def generate(store: Store, specs: Sequence[Spec], *, start: datetime, step: float = 60.0) -> list[int]:
    """Insert the deliveries (one post each), due every `step` seconds from `start`; their ids."""
    now = store.now()
    plan = [(spec, i) for spec in specs for i in range(spec.count)]
    with store.write() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"

        def when(value: datetime | None) -> Any:
            if value is None or not sqlite:
                return value
            return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

        next_post = (session.scalar(select(func.max(Post.id))) or 0) + 1
        next_delivery = (session.scalar(select(func.max(Delivery.id))) or 0) + 1
        next_attempt = (session.scalar(select(func.max(Attempt.id))) or 0) + 1
        posts, deliveries, attempts = [], [], []
        for n, (spec, i) in enumerate(plan):
            post_id, delivery_id = next_post + n, next_delivery + n
            due = start + timedelta(seconds=n * step)
            published = spec.status == Status.PUBLISHED
            late = spec.lateness[i % len(spec.lateness)] if published and spec.lateness else 0.0
            posts.append((post_id, f"post {post_id}", "{}", "UTC", 3600, when(now)))
            deliveries.append(
                (
                    delivery_id,
                    post_id,
                    spec.account_id,
                    spec.status.value,
                    when(due),
                    when(due),
                    when(due),
                    when(due + timedelta(hours=1)),
                    len(spec.attempts),
                    uuid.uuid4().hex,
                    when(due + timedelta(seconds=late)) if published else None,
                    f"https://example.org/p/{post_id}" if published else None,
                    str(post_id) if published else None,
                    spec.error,
                    spec.error_class,
                    0,
                    when(now),
                    when(now),
                )
            )
            for k, error in enumerate(spec.attempts):
                attempts.append(
                    (
                        next_attempt + len(attempts),
                        delivery_id,
                        k + 1,
                        "publish",
                        when(due),
                        when(due + timedelta(seconds=1)),
                        "published" if error is None else "retry_wait",
                        error,
                        None if error is None else 503,
                    )
                )
        _insert(session, "posts", posts, "id, text, content, timezone, max_lateness, created_at")
        _insert(
            session,
            "deliveries",
            deliveries,
            "id, post_id, account_id, status, due_at, original_due_at, next_attempt_at, deadline_at, "
            "attempt_count, idempotency_key, published_at, public_url, remote_id, last_error, "
            "last_error_class, reconcile_attempts, created_at, updated_at",
        )
        if attempts:
            _insert(
                session,
                "attempts",
                attempts,
                "id, delivery_id, number, kind, started_at, finished_at, outcome, error_class, http_status",
            )
        if not sqlite:  # explicit ids: move the sequences past them
            for table in ("posts", "deliveries", "attempts"):
                sequence = f"pg_get_serial_sequence('{table}', 'id')"
                session.execute(text(f"SELECT setval({sequence}, (SELECT max(id) FROM {table}))"))
    return [d[0] for d in deliveries]
