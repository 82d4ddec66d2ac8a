"""Is the service well? What runs where, the broker, the oldest overdue delivery: `postmast status`.

Unwell (a non-zero exit, usable as a Docker health check) when the store cannot be
read, no scheduler or no worker is running, the broker cannot be reached, or a
delivery is overdue by more than `overdue_limit`. With `role` (and `here`), only that
kind of process is checked (on this host): what a container's own health check needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from postmast.scheduler.attention import overdue, plural
from postmast.scheduler.deliveries import Filters
from postmast.scheduler.heartbeat import Process, host, processes
from postmast.scheduler.store import Store

ROLES = ("scheduler", "worker")


@dataclass(frozen=True)
class Broker:
    url: str
    reachable: bool
    depth: int | None = None
    error: str | None = None


@dataclass
class Health:
    checked_at: datetime
    processes: list[Process] = field(default_factory=list)
    broker: Broker | None = None
    overdue: int = 0
    oldest_overdue: datetime | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        now = self.checked_at
        return {
            "healthy": self.healthy,
            "problems": self.problems,
            "notes": self.notes,
            "checked_at": now.isoformat(),
            "processes": [p.as_dict(now) for p in self.processes],
            "broker": None
            if self.broker is None
            else {
                "url": self.broker.url,
                "reachable": self.broker.reachable,
                "depth": self.broker.depth,
                "error": self.broker.error,
            },
            "overdue": self.overdue,
            "oldest_overdue_due_at": self.oldest_overdue.isoformat() if self.oldest_overdue else None,
            "oldest_overdue_seconds": round((now - self.oldest_overdue).total_seconds())
            if self.oldest_overdue
            else None,
        }


def check(
    store: Store,
    *,
    broker: Broker | None,
    overdue_limit: float = 300.0,
    role: str | None = None,
    here: bool = False,
) -> Health:
    now = store.now()
    health = Health(now, broker=broker)
    try:
        found = processes(store)
        with store.read() as session:
            health.overdue, health.oldest_overdue = overdue(session, Filters(), now)
    except Exception as exc:
        health.problems.append(f"cannot read the store: {str(exc)[:120]}")
        return health
    if here:
        found = [p for p in found if p.host == host()]
    health.processes = found
    for wanted in [role] if role else ROLES:
        live = [p for p in found if p.role == wanted and p.state == "running"]
        where = " on this host" if here else ""
        if not live:
            health.problems.append(
                f"no {wanted} is running{where} (start: postmast {wanted}, or postmast run)"
            )
        silent = [p for p in found if p.role == wanted and p.state == "silent"]
        if silent:
            health.notes.append(
                f"{plural(len(silent), wanted)} stopped answering: "
                + ", ".join(f"{p.host}:{p.pid}" for p in silent[:5])
            )
    if role is None:
        if broker is not None and not broker.reachable:
            health.problems.append(f"the broker is unreachable ({broker.error or 'no answer'})")
        if health.oldest_overdue is not None:
            age = (now - health.oldest_overdue).total_seconds()
            if age > overdue_limit:
                late = plural(health.overdue, "delivery", "deliveries")
                health.problems.append(f"{late} overdue, the oldest by {age / 60:.0f} min")
    return health
