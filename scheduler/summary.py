"""The summary of a set of deliveries, per account, per network and in all, computed in SQL.

Counts, attempts and error causes are `GROUP BY` queries over the filtered deliveries
(indexed by due time and account); lateness comes back as one number per published
delivery, sorted here for its percentiles. No delivery row is built, so a summary of
100,000 deliveries costs a few aggregate queries.

Definitions (README, "Reports"):
- delivered: published; success rate: delivered / (delivered + failed + unknown + missed),
  the deliveries that reached an end; pending and cancelled ones do not count;
- lateness: published_at - due_at in seconds (negative: early), for delivered ones; a retry
  keeps the due time, so a post retried after a miss shows how late it really went out;
  percentiles by nearest rank (p50 of 1, 2, 3, 4 is 2);
- attempts per delivery: attempts (publishes and lookups) / deliveries tried at least once;
- causes: the error class of each failed, unknown or missed delivery, most frequent first,
  with whether a retry can help (`causes`); `postmast show` has every attempt's error.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, func, select
from sqlalchemy.orm import Session

from postmast.scheduler.causes import cause
from postmast.scheduler.deliveries import Filters
from postmast.scheduler.models import Account, Delivery
from postmast.scheduler.states import PENDING, Status

ENDED = (Status.PUBLISHED, Status.FAILED, Status.UNKNOWN, Status.MISSED)
BAD = (Status.FAILED, Status.UNKNOWN, Status.MISSED)
TOP_CAUSES = 5


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values (None for none)."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _round(value: float | None, digits: int = 3) -> float | None:
    return round(value, digits) if value is not None else None


@dataclass
class Stats:
    """What happened to a group of deliveries: one account, one network, or all."""

    network: str | None = None
    account: str | None = None
    counts: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    tried: int = 0
    lateness: list[float] = field(default_factory=list)
    causes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str | None:
        return f"{self.network}:{self.account}" if self.account is not None else None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def delivered(self) -> int:
        return self.counts[Status.PUBLISHED.value]

    @property
    def pending(self) -> int:
        return sum(self.counts[s.value] for s in PENDING)

    @property
    def ended(self) -> int:
        return sum(self.counts[s.value] for s in ENDED)

    @property
    def success_rate(self) -> float | None:
        return self.delivered / self.ended if self.ended else None

    @property
    def attempts_per_delivery(self) -> float | None:
        return self.attempts / self.tried if self.tried else None

    def late(self, p: float) -> float | None:
        return percentile(self.lateness, p)

    def add(self, other: Stats) -> None:
        self.counts.update(other.counts)
        self.attempts += other.attempts
        self.tried += other.tried
        self.lateness += other.lateness
        self.causes.update(other.causes)
        for name, example in other.examples.items():
            self.examples.setdefault(name, example)

    def top_causes(self, n: int = TOP_CAUSES) -> list[dict[str, Any]]:
        found = []
        for name, count in sorted(self.causes.items(), key=lambda kv: (-kv[1], kv[0]))[:n]:
            known = cause(name)
            found.append(
                {
                    "cause": name,
                    "deliveries": count,
                    "meaning": known.meaning,
                    "retry": known.retry.value,
                    "fix": known.advice(target=self.target or "NETWORK:NAME"),
                    "example": self.examples.get(name),
                }
            )
        return found

    def as_dict(self) -> dict[str, Any]:
        late = self.lateness
        return {
            **({"network": self.network} if self.network is not None else {}),
            **({"account": self.target} if self.account is not None else {}),
            "total": self.total,
            **{s.value: self.counts[s.value] for s in Status},
            "delivered": self.delivered,
            "pending": self.pending,
            "success_rate": _round(self.success_rate, 4),
            "lateness_p50_seconds": _round(self.late(50)),
            "lateness_p95_seconds": _round(self.late(95)),
            "lateness_max_seconds": _round(late[-1] if late else None),
            "lateness_avg_seconds": _round(sum(late) / len(late) if late else None),
            "attempts_per_delivery": _round(self.attempts_per_delivery, 2),
            "causes": self.top_causes(),
        }


@dataclass
class Summary:
    accounts: list[Stats]
    networks: list[Stats]
    overall: Stats

    def as_dict(self) -> dict[str, Any]:
        return {
            "networks": [s.as_dict() for s in self.networks],
            "accounts": [s.as_dict() for s in self.accounts],
            "overall": self.overall.as_dict(),
        }


def lateness_seconds(session: Session) -> ColumnElement[float]:
    """published_at - due_at in seconds, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", Delivery.published_at - Delivery.due_at), Float)
    return (func.julianday(Delivery.published_at) - func.julianday(Delivery.due_at)) * 86400.0


def summarize(session: Session, filters: Filters) -> Summary:
    """One pass over the selected deliveries, grouped by account, state and error class: counts,
    attempts, the causes (with an example message) and the lateness of the delivered ones, which
    comes back as one array (PostgreSQL) or one comma-separated text (SQLite) per group, since
    90,000 rows one by one cost a second in the driver."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    late = lateness_seconds(session)
    values = (func.array_agg(late) if postgresql else func.group_concat(late)).filter(
        Delivery.status == Status.PUBLISHED, Delivery.published_at.is_not(None)
    )
    grouped = (
        select(
            Account.network,
            Account.name,
            Delivery.status,
            Delivery.last_error_class,
            func.count(),
            func.coalesce(func.sum(Delivery.attempt_count), 0),
            func.coalesce(func.sum(case((Delivery.attempt_count > 0, 1), else_=0)), 0),
            func.max(Delivery.last_error).filter(Delivery.status.in_(BAD)),
            values,
        )
        .join(Account, Account.id == Delivery.account_id)
        .where(*filters.conditions())
        .group_by(Account.network, Account.name, Delivery.status, Delivery.last_error_class)
    )
    by_account: dict[tuple[str, str], Stats] = {}
    for network, name, status, error_class, count, attempts, tried, example, joined in session.execute(
        grouped
    ):
        found = by_account.get((network, name))
        if found is None:
            found = by_account[network, name] = Stats(network, name)
        found.counts[Status(status).value] += count
        found.attempts += int(attempts)
        found.tried += int(tried)
        if status in BAD:
            label = error_class or "Unknown"
            found.causes[label] += count
            if example:
                found.examples.setdefault(label, example)
        if joined:
            found.lateness += [round(float(v), 3) for v in (joined if postgresql else joined.split(","))]

    accounts = [by_account[k] for k in sorted(by_account)]
    networks: dict[str, Stats] = {}
    overall = Stats()
    for account in accounts:
        account.lateness.sort()
        networks.setdefault(account.network or "", Stats(account.network)).add(account)
        overall.add(account)
    for group in [*networks.values(), overall]:
        group.lateness.sort()
    return Summary(accounts, [networks[n] for n in sorted(networks)], overall)
