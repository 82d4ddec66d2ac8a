"""Delivery reports: a row per delivery and a summary per network."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from postmast.scheduler.deliveries import DeliveryRow, Filters, rows
from postmast.scheduler.states import PENDING, Status
from postmast.scheduler.store import Store


@dataclass
class NetworkSummary:
    network: str
    total: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    lateness: list[float] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return sum(self.counts[s.value] for s in PENDING)

    def as_dict(self) -> dict[str, Any]:
        late = sorted(self.lateness)
        return {
            "network": self.network,
            "total": self.total,
            **{s.value: self.counts[s.value] for s in Status},
            "pending": self.pending,
            "lateness_avg_seconds": round(sum(late) / len(late), 3) if late else None,
            "lateness_max_seconds": round(late[-1], 3) if late else None,
        }


@dataclass
class Report:
    deliveries: list[DeliveryRow]
    summary: list[NetworkSummary]

    def as_dict(self) -> dict[str, Any]:
        return {
            "deliveries": [d.as_dict() for d in self.deliveries],
            "summary": [s.as_dict() for s in self.summary],
        }


def summarize(deliveries: list[DeliveryRow]) -> list[NetworkSummary]:
    by_network: dict[str, NetworkSummary] = defaultdict(lambda: NetworkSummary(""))
    for row in deliveries:
        summary = by_network[row.network]
        summary.network = row.network
        summary.total += 1
        summary.counts[row.status.value] += 1
        if row.lateness is not None:
            summary.lateness.append(row.lateness)
    return [by_network[n] for n in sorted(by_network)]


def build(store: Store, filters: Filters) -> Report:
    with store.read() as session:
        found = rows(session, filters)
    return Report(found, summarize(found))
