"""Delivery reports: a row per delivery and a summary per account, per network and in all.

The summary always covers every delivery the filters select; `limit` bounds the rows
only (the newest deliveries are not favoured: rows come in due order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from postmast.scheduler.deliveries import DeliveryRow, Filters, rows
from postmast.scheduler.store import Store
from postmast.scheduler.summary import Summary, summarize


@dataclass
class Report:
    deliveries: list[DeliveryRow]
    summary: Summary
    filters: Filters

    def as_dict(self) -> dict[str, Any]:
        """`summary` is the list per network (as before); `accounts` and `overall` sit beside it."""
        summary = self.summary.as_dict()
        return {
            "deliveries": [d.as_dict() for d in self.deliveries],
            "summary": summary["networks"],
            "accounts": summary["accounts"],
            "overall": summary["overall"],
            "filters": describe(self.filters),
        }


def describe(filters: Filters) -> dict[str, Any]:
    return {
        "statuses": [s.value for s in filters.statuses],
        "network": filters.network,
        "account": filters.target,
        "post": filters.post_id,
        "import": filters.import_id,
        "since": filters.since.isoformat() if filters.since else None,
        "until": filters.until.isoformat() if filters.until else None,
        "limit": filters.limit,
    }


def build(store: Store, filters: Filters) -> Report:
    with store.read() as session:
        found = rows(session, filters)
        summary = summarize(session, filters)
    return Report(found, summary, filters)
