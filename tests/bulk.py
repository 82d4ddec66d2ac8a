"""Many rows fast: accounts, posts and deliveries inserted in bulk (Core `INSERT`, no ORM).

For query plans and benchmarks at 10k to 1M stored deliveries (tests/scheduler/test_plans.py,
bench/tick.py), where creating posts through `Posts` would take hours. The rows are what the
store itself writes: every column the models require, statuses from the enum.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text

from postmast.scheduler.models import Account, AccountStatus, Attempt, Delivery, Post
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store

CHUNK = 10_000


def accounts(store: Store, count: int, now: datetime) -> list[int]:
    """`count` active webhook accounts; their ids."""
    prefix = uuid.uuid4().hex[:8]
    rows = [
        {
            "network": "webhook",
            "name": f"bulk-{prefix}-{i}",
            "settings": {"url": "http://127.0.0.1:9/"},
            "secrets": b"",
            "status": AccountStatus.ACTIVE,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    with store.write() as session:
        session.execute(insert(Account), rows)
        return list(
            session.scalars(
                select(Account.id).where(Account.name.like(f"bulk-{prefix}-%")).order_by(Account.id)
            )
        )


def _posts(store: Store, count: int, now: datetime) -> list[int]:
    marker = f"bulk {uuid.uuid4().hex[:8]}"
    rows = [
        {"text": marker, "content": {}, "timezone": "UTC", "max_lateness": 3600, "created_at": now}
        for _ in range(count)
    ]
    with store.write() as session:
        session.execute(insert(Post), rows)
        return list(session.scalars(select(Post.id).where(Post.text == marker).order_by(Post.id)))


def deliveries(
    store: Store,
    account_ids: list[int],
    count: int,
    *,
    now: datetime,
    status: Status = Status.SCHEDULED,
    due_in: timedelta = timedelta(days=1),
    spread: timedelta = timedelta(seconds=1),
    **values: Any,
) -> int:
    """`count` deliveries in `status`, one per account in turn, the first due at `now + due_in`
    and each next one `spread` later (negative `due_in`: already due, or in the past); `values`
    are further columns (a lease, a reconcile time)."""
    per_post = len(account_ids)
    post_ids = _posts(store, -(-count // per_post), now)
    made = 0
    pairs: Iterator[tuple[int, int]] = ((p, a) for p in post_ids for a in account_ids)
    while made < count:
        chunk = list(itertools.islice(pairs, min(CHUNK, count - made)))
        rows: list[dict[str, Any]] = []
        for offset, (post_id, account_id) in enumerate(chunk):
            due = now + due_in + spread * (made + offset)
            done = status == Status.PUBLISHED
            rows.append(
                {
                    "post_id": post_id,
                    "account_id": account_id,
                    "status": status,
                    "due_at": due,
                    "original_due_at": due,
                    "next_attempt_at": due,
                    "deadline_at": due + timedelta(hours=1),
                    "idempotency_key": uuid.uuid4().hex,
                    "attempt_count": 1 if done else 0,
                    "published_at": due if done else None,
                    "remote_id": f"r{made + offset}" if done else None,
                    "created_at": now,
                    "updated_at": now,
                    "occurrence": 0,
                    "slotted": False,
                    "reconcile_attempts": 0,
                    **values,
                }
            )
        with store.write() as session:
            session.execute(insert(Delivery), rows)
        made += len(chunk)
    return made


def attempts(store: Store, status: Status, now: datetime) -> int:
    """One finished attempt for every delivery in `status` (the history the reaper's update meets)."""
    with store.write() as session:
        done = list(session.scalars(select(Delivery.id).where(Delivery.status == status)))
    for start in range(0, len(done), CHUNK):
        rows = [
            {
                "delivery_id": i,
                "number": 1,
                "kind": "publish",
                "started_at": now,
                "finished_at": now,
                "outcome": status.value,
            }
            for i in done[start : start + CHUNK]
        ]
        with store.write() as session:
            session.execute(insert(Attempt), rows)
    return len(done)


def analyze(store: Store) -> None:
    """Fresh planner statistics on PostgreSQL, and the table vacuumed, as autovacuum keeps them
    (its visibility map lets index-only scans skip the table; a bulk insert just made leaves
    that, and the rows' hint bits, to the first reads, and autovacuum running meanwhile).

    SQLite is left without statistics on purpose, as the store keeps it: `sqlite_stat1` holds
    one average number of rows per value, so with most deliveries `scheduled` or `published`
    it tells the planner that `status = 'publishing'` matches half the table, and the reaper
    and `mark_missed` turn into full scans. Without it SQLite takes an equality on an indexed
    column to be selective, which is what the tick's states are.
    """
    if store.dialect != "postgresql":
        return
    with store.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
