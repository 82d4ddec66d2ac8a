"""Incidents: what needs a person, one per cause rather than one per delivery.

Each scan looks at the store as it is now and names each problem by a key:
- `failed:NETWORK:NAME:CLASS` and `missed:NETWORK:NAME`: deliveries that ended so within
  the last `QUIET` (an hour); once none has for an hour, the incident is over and the
  next one opens a new incident;
- `unknown:NETWORK:NAME`: deliveries whose outcome no lookup could settle (a person decides);
- `needs_reauth:NETWORK:NAME`: an account whose credentials the network refused;
- `expiring:NETWORK:NAME`: an account whose credentials end soon and cannot be renewed by
  postmast (`scheduler.renewal` sets its `renewal_note`);
- `service_down:worker` / `service_down:scheduler`: none running (seen by another scheduler),
  while deliveries wait.
A key with no open incident opens one, with a pending notification per channel; an open
one gets its count and last-seen time updated (no new message); an incident whose problem
is gone is resolved. Counts are recomputed, not added, so any number of schedulers may scan.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from postmast.scheduler.attention import plural
from postmast.scheduler.causes import cause
from postmast.scheduler.heartbeat import processes
from postmast.scheduler.models import Account, AccountStatus, Delivery, Incident, Notification
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store

QUIET = timedelta(hours=1)
SAMPLE = 10


@dataclass
class Problem:
    key: str
    kind: str
    subject: str
    summary: str
    count: int
    detail: dict[str, Any] = field(default_factory=dict)


def _deliveries(session: Session, now: datetime) -> list[Problem]:
    found: list[Problem] = []
    recent = now - QUIET
    grouped = (
        select(
            Account.network,
            Account.name,
            Delivery.status,
            Delivery.last_error_class,
            func.count(),
            func.max(Delivery.last_error),
        )
        .join(Account, Account.id == Delivery.account_id)
        .where(
            ((Delivery.status.in_([Status.FAILED, Status.MISSED])) & (Delivery.updated_at >= recent))
            | ((Delivery.status == Status.UNKNOWN) & Delivery.reconcile_at.is_(None))
        )
        .group_by(Account.network, Account.name, Delivery.status, Delivery.last_error_class)
    )
    merged: dict[str, Problem] = {}
    for network, name, status, error_class, count, example in session.execute(grouped):
        target = f"{network}:{name}"
        status = Status(status)
        if status == Status.FAILED:
            label = error_class or "Unknown"
            key, kind = f"failed:{target}:{label}", "failed"
            known = cause(label)
            summary = f"{target}: deliveries failed with {label} ({known.meaning})"
            fix = known.advice(target=target)
        elif status == Status.MISSED:
            key, kind = f"missed:{target}", "missed"
            summary = f"{target}: deliveries missed their allowed lateness"
            fix = "postmast retry --missed --account " + target
        else:
            key, kind = f"unknown:{target}", "unknown"
            summary = f"{target}: deliveries may or may not be published; a person must check"
            fix = f"check {target}, then: postmast retry ID --resend-unknown"
        problem = merged.setdefault(
            key,
            Problem(key, kind, target, summary, 0, {"fix": fix, "error_class": error_class, "example": None}),
        )
        problem.count += count
        if example and not problem.detail["example"]:
            problem.detail["example"] = example[:300]
    for problem in merged.values():
        ids = select(Delivery.id).join(Account, Account.id == Delivery.account_id)
        network, name = problem.subject.split(":", 1)
        ids = ids.where(Account.network == network, Account.name == name)
        if problem.kind == "failed":
            ids = ids.where(Delivery.status == Status.FAILED, Delivery.updated_at >= recent)
            ids = ids.where(Delivery.last_error_class == problem.detail["error_class"])
        elif problem.kind == "missed":
            ids = ids.where(Delivery.status == Status.MISSED, Delivery.updated_at >= recent)
        else:
            ids = ids.where(Delivery.status == Status.UNKNOWN, Delivery.reconcile_at.is_(None))
        problem.detail["deliveries"] = list(session.scalars(ids.order_by(Delivery.id).limit(SAMPLE)))
        problem.summary = f"{problem.summary}: {plural(problem.count, 'delivery', 'deliveries')}"
        found.append(problem)
    return found


def scan(store: Store) -> list[Problem]:
    """Every problem present now."""
    now = store.now()
    with store.read() as session:
        found = _deliveries(session, now)
        for network, name, reason in session.execute(
            select(Account.network, Account.name, Account.status_reason).where(
                Account.status == AccountStatus.NEEDS_REAUTH
            )
        ):
            target = f"{network}:{name}"
            found.append(
                Problem(
                    f"needs_reauth:{target}",
                    "needs_reauth",
                    target,
                    f"{target} needs re-authorisation: {(reason or 'credentials refused')[:120]}",
                    1,
                    {"fix": f"postmast account update {target} --secrets"},
                )
            )
        for network, name, note, ends in session.execute(
            select(Account.network, Account.name, Account.renewal_note, Account.expires_at).where(
                Account.status == AccountStatus.ACTIVE,
                Account.renewal_note.is_not(None),
                Account.expires_at > now,
            )
        ):
            target = f"{network}:{name}"
            found.append(
                Problem(
                    f"expiring:{target}",
                    "expiring",
                    target,
                    (note or f"{target}: credentials expire soon")[:240],
                    1,
                    {
                        "fix": f"postmast account update {target} --secrets",
                        "expires_at": ends and ends.isoformat(),
                    },
                )
            )
        waiting = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.status.in_([Status.SCHEDULED, Status.RETRY_WAIT, Status.QUEUED]),
                Delivery.next_attempt_at <= now,
            )
        )
    running = {p.role for p in processes(store) if p.state == "running"}
    for role in ("worker", "scheduler"):
        if role not in running and waiting:
            found.append(
                Problem(
                    f"service_down:{role}",
                    "service_down",
                    role,
                    f"no {role} is running while {plural(waiting or 0, 'delivery', 'deliveries')} wait",
                    waiting or 0,
                    {"fix": f"start one: postmast {role} (or postmast run); see postmast status"},
                )
            )
    return found


def record(store: Store, problems: Sequence[Problem], channels: Sequence[str]) -> list[int]:
    """Open, update and resolve incidents to match `problems`; ids of the incidents opened."""
    now = store.now()
    opened: list[int] = []
    present = {p.key: p for p in problems}
    with store.write() as session:
        open_ = {i.key: i for i in session.scalars(select(Incident).where(Incident.resolved_at.is_(None)))}
        for key, incident in open_.items():
            if key not in present:
                session.execute(update(Incident).where(Incident.id == incident.id).values(resolved_at=now))
        for key, problem in present.items():
            if key in open_:
                session.execute(
                    update(Incident)
                    .where(Incident.id == open_[key].id)
                    .values(
                        count=problem.count, last_seen_at=now, summary=problem.summary, detail=problem.detail
                    )
                )
                continue
            try:
                with session.begin_nested():
                    incident = Incident(
                        key=key,
                        kind=problem.kind,
                        subject=problem.subject,
                        summary=problem.summary,
                        opened_at=now,
                        last_seen_at=now,
                        count=problem.count,
                        detail=problem.detail,
                    )
                    session.add(incident)
                    session.flush()
                    for channel in channels:
                        session.add(
                            Notification(
                                incident_id=incident.id,
                                channel=channel,
                                message_id=f"msg_{uuid.uuid4().hex}",
                                next_try_at=now,
                            )
                        )
                    session.flush()
                    opened.append(incident.id)
            except IntegrityError:  # another scheduler opened it at the same moment
                continue
    return opened


def open_incidents(store: Store) -> list[Incident]:
    with store.read() as session:
        found = list(
            session.scalars(
                select(Incident).order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(100)
            )
        )
        session.expunge_all()
        return found
