"""Retrying in bulk, grouped by cause: `postmast retry --failed [--cause CLASS] ...`.

A plan is made first (which deliveries, grouped by state and cause, and whether a
retry can help each group), shown, then carried out as one all-or-nothing retry. An
`unknown` delivery is never in a plan unless the person asked for unknown ones, and
the command still makes them confirm: it may already be published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from postmast.scheduler.causes import Retry, cause
from postmast.scheduler.deliveries import Deliveries, Filters
from postmast.scheduler.models import Account, Delivery
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store

VERDICT = {
    Retry.YES: "a retry can help",
    Retry.AFTER_FIX: "a retry helps once it is fixed",
    Retry.CHECK_FIRST: "it may already be out: check before re-sending",
    Retry.NO: "a retry will not help: change the post",
}


@dataclass(frozen=True)
class Group:
    status: Status
    cause: str
    ids: tuple[int, ...]
    targets: tuple[str, ...]

    @property
    def verdict(self) -> str:
        return VERDICT[cause(self.cause).retry]

    def as_dict(self) -> dict[str, Any]:
        known = cause(self.cause)
        return {
            "status": self.status.value,
            "cause": self.cause,
            "count": len(self.ids),
            "ids": list(self.ids),
            "accounts": list(self.targets),
            "meaning": known.meaning,
            "retry": known.retry.value,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Plan:
    groups: tuple[Group, ...]

    @property
    def ids(self) -> list[int]:
        return sorted(i for g in self.groups for i in g.ids)

    @property
    def unknown(self) -> list[int]:
        return sorted(i for g in self.groups if g.status == Status.UNKNOWN for i in g.ids)


def plan(
    store: Store, statuses: Sequence[Status], filters: Filters, *, cause_name: str | None = None
) -> Plan:
    """The deliveries in `statuses` that `filters` (and `cause_name`) select, grouped."""
    query = (
        select(Delivery.id, Delivery.status, Delivery.last_error_class, Account.network, Account.name)
        .join(Account, Account.id == Delivery.account_id)
        .where(*filters.conditions(), Delivery.status.in_(list(statuses)))
        .order_by(Delivery.id)
    )
    if cause_name is not None:
        query = query.where(Delivery.last_error_class == cause_name)
    grouped: dict[tuple[Status, str], tuple[list[int], set[str]]] = {}
    with store.read() as session:
        for delivery_id, status, error_class, network, name in session.execute(query):
            ids, targets = grouped.setdefault((Status(status), error_class or "Unknown"), ([], set()))
            ids.append(delivery_id)
            targets.add(f"{network}:{name}")
    groups = [
        Group(status, name, tuple(ids), tuple(sorted(targets)))
        for (status, name), (ids, targets) in sorted(grouped.items(), key=lambda kv: (-len(kv[1][0]), kv[0]))
    ]
    return Plan(tuple(groups))


def carry_out(store: Store, chosen: Plan, *, resend_unknown: bool) -> list[int]:
    """Retry every delivery of the plan, all or nothing."""
    return Deliveries(store).retry(chosen.ids, resend_unknown=resend_unknown)
