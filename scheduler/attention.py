"""What needs a person, each with the command that fixes it: `postmast queue` and `status`.

Failed and missed deliveries (recent ones: `since`), unknown outcomes, lookups in
progress, accounts whose credentials the network refused, and deliveries overdue
because nothing is running (no scheduler, no worker, or a broker nobody takes from).
Everything is counted with `GROUP BY` queries, so a queue of 10,000 costs the same.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postmast.scheduler.causes import cause
from postmast.scheduler.deliveries import Filters
from postmast.scheduler.heartbeat import processes
from postmast.scheduler.models import Account, AccountStatus, Delivery
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store

OVERDUE_GRACE = timedelta(minutes=2)
"""A delivery this far past its time and not yet taken is overdue (the scheduler ticks every second)."""
WAITING = (Status.SCHEDULED, Status.RETRY_WAIT)


def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 delivery`, `2 deliveries`: counts agree in number."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"


@dataclass
class Item:
    """One kind of trouble: how many, the causes, and what to run."""

    kind: str
    count: int
    summary: str
    fixes: list[str]
    causes: Counter[str] = field(default_factory=Counter)
    oldest: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count,
            "summary": self.summary,
            "fixes": self.fixes,
            "causes": dict(self.causes.most_common()),
            "oldest": self.oldest.isoformat() if self.oldest else None,
        }


def _counts(session: Session, filters: Filters, statuses: list[Status]) -> dict[tuple[str, str | None], int]:
    found: dict[tuple[str, str | None], int] = {}
    query = (
        select(Delivery.status, Delivery.last_error_class, func.count())
        .join(Account, Account.id == Delivery.account_id)
        .where(*filters.conditions(), Delivery.status.in_(statuses))
        .group_by(Delivery.status, Delivery.last_error_class)
    )
    for status, error_class, count in session.execute(query):
        found[Status(status).value, error_class] = count
    return found


def overdue(session: Session, filters: Filters, now: datetime) -> tuple[int, datetime | None]:
    """Waiting deliveries past their time whose account could be sent to, and the oldest due time
    (past their deadline too: with nothing running, nothing has marked them missed yet)."""
    query = (
        select(func.count(), func.min(Delivery.next_attempt_at))
        .join(Account, Account.id == Delivery.account_id)
        .where(
            *filters.conditions(),
            Delivery.status.in_(WAITING),
            Delivery.next_attempt_at < now - OVERDUE_GRACE,
            Account.status == AccountStatus.ACTIVE,
            (Account.limited_until.is_(None)) | (Account.limited_until <= now),
        )
    )
    count, oldest = session.execute(query).one()
    return int(count or 0), oldest


def _stuck(session: Session, filters: Filters, now: datetime, after: float) -> tuple[int, datetime | None]:
    """Deliveries handed to the broker long ago that no worker took."""
    query = (
        select(func.count(), func.min(Delivery.queued_at))
        .join(Account, Account.id == Delivery.account_id)
        .where(
            *filters.conditions(),
            Delivery.status == Status.QUEUED,
            Delivery.queued_at < now - timedelta(seconds=after),
        )
    )
    count, oldest = session.execute(query).one()
    return int(count or 0), oldest


def attention(store: Store, filters: Filters, *, since: datetime, requeue_after: float = 120.0) -> list[Item]:
    """Everything that needs a person among the deliveries `filters` select (failed and missed
    ones due since `since`)."""
    now = store.now()
    recent = Filters(
        filters.statuses,
        filters.network,
        filters.target,
        filters.post_id,
        since,
        None,
        None,
        filters.import_id,
    )
    items: list[Item] = []
    with store.read() as session:
        bad = _counts(session, recent, [Status.FAILED, Status.MISSED])
        unsettled = _counts(session, filters, [Status.UNKNOWN, Status.RECONCILING])
        late, oldest = overdue(session, filters, now)
        stuck, oldest_stuck = _stuck(session, filters, now, 2 * requeue_after)
        reauth = session.execute(
            select(Account.network, Account.name, Account.status_reason)
            .where(Account.status == AccountStatus.NEEDS_REAUTH)
            .order_by(Account.network, Account.name)
        ).all()
    failed = Counter({c or "Unknown": n for (s, c), n in bad.items() if s == "failed"})
    if failed:
        total = sum(failed.values())
        fixes = [f"{name}: {cause(name).advice()}" for name, _ in failed.most_common()]
        items.append(
            Item("failed", total, f"{plural(total, 'delivery', 'deliveries')} failed", fixes, failed)
        )
    missed = sum(n for (s, _), n in bad.items() if s == "missed")
    if missed:
        items.append(
            Item(
                "missed",
                missed,
                f"{plural(missed, 'delivery', 'deliveries')} missed their allowed lateness",
                ["postmast retry --missed (if still worth posting)"],
            )
        )
    unknown = sum(n for (s, _), n in unsettled.items() if s == "unknown")
    if unknown:
        items.append(
            Item(
                "unknown",
                unknown,
                f"{plural(unknown, 'delivery', 'deliveries')} may or may not be published",
                ["postmast show ID, check the account, then: postmast retry ID --resend-unknown"],
            )
        )
    checking = sum(n for (s, _), n in unsettled.items() if s == "reconciling")
    if checking:
        items.append(
            Item(
                "reconciling",
                checking,
                f"{plural(checking, 'delivery', 'deliveries')} being looked up on the network",
                ["nothing to do: the answer comes by itself"],
            )
        )
    for network, name, reason in reauth:
        target = f"{network}:{name}"
        why = f": {reason[:80]}" if reason else ""
        items.append(
            Item(
                "needs_reauth",
                1,
                f"{target} needs re-authorisation{why}",
                [f"postmast account update {target} --secrets"],
            )
        )
    running = Counter(p.role for p in processes(store) if p.state == "running")
    if late:
        if not running["scheduler"]:
            fix, why = "start the scheduler: postmast run (or postmast scheduler)", "no scheduler is running"
        elif not running["worker"]:
            fix, why = "start a worker: postmast run (or postmast worker)", "no worker is running"
        else:
            fix, why = "postmast status", "the scheduler runs but is not keeping up"
        items.append(
            Item(
                "overdue",
                late,
                f"{plural(late, 'delivery', 'deliveries')} overdue: {why}",
                [fix],
                oldest=oldest,
            )
        )
    if stuck:
        fix = (
            "start a worker: postmast worker"
            if not running["worker"]
            else "postmast status (is the broker up?)"
        )
        items.append(
            Item(
                "stuck",
                stuck,
                f"{plural(stuck, 'delivery', 'deliveries')} handed to the broker and not taken by any worker",
                [fix],
                oldest=oldest_stuck,
            )
        )
    return items
