"""Setting, showing and clearing accounts' posting slots (the store side of `postmast slots`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import delete, func, select

from postmast.scheduler import slots
from postmast.scheduler.accounts import find
from postmast.scheduler.models import Account, AccountStatus, Delivery, SlotPlan
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.targets import parse_target


@dataclass(frozen=True)
class SlotView:
    target: str
    spec: str
    describe: str
    timezone: str
    per_week: int
    queued: int
    upcoming: list[datetime]

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.target,
            "slots": self.describe,
            "timezone": self.timezone,
            "per_week": self.per_week,
            "queued": self.queued,
            "next_free": [w.isoformat() for w in self.upcoming],
        }


class SlotPlans:
    def __init__(self, store: Store) -> None:
        self.store = store

    def set(self, target: str, spec: str, timezone: str) -> SlotView:
        parsed = slots.parse_slots(spec)
        now = self.store.now()
        with self.store.write() as session:
            account = find(session, target)
            plan = session.scalars(select(SlotPlan).where(SlotPlan.account_id == account.id)).one_or_none()
            if plan is None:
                plan = SlotPlan(
                    account_id=account.id, spec=parsed.describe(), timezone=timezone, updated_at=now
                )
                session.add(plan)
            else:
                plan.spec, plan.timezone, plan.updated_at = parsed.describe(), timezone, now
            session.flush()
        return self.show(target)[0]

    def show(self, target: str | None = None) -> list[SlotView]:
        now = self.store.now()
        with self.store.read() as session:
            query = select(SlotPlan, Account).join(Account, Account.id == SlotPlan.account_id)
            query = query.where(Account.status != AccountStatus.REMOVED).order_by(
                Account.network, Account.name
            )
            if target is not None:
                network, name = parse_target(target)
                query = query.where(Account.network == network, Account.name == name)
            views = []
            for plan, account in session.execute(query).all():
                placed = slots.of_account(session, account)
                busy = slots.taken(session, account.id, now)
                queued = session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(
                        Delivery.account_id == account.id,
                        Delivery.slotted.is_(True),
                        Delivery.status == Status.SCHEDULED,
                    )
                )
                views.append(
                    SlotView(
                        account.target,
                        plan.spec,
                        placed.slots.describe(),
                        plan.timezone,
                        placed.slots.per_week,
                        int(queued or 0),
                        list(islice(slots.free(placed, now, busy), 5)),
                    )
                )
        return views

    def clear(self, target: str) -> None:
        with self.store.write() as session:
            account = find(session, target)
            session.execute(delete(SlotPlan).where(SlotPlan.account_id == account.id))
