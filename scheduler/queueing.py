"""An account's posting-slot queue: reordered by the user, refilled when a post leaves it.

The queue is the account's slotted deliveries still waiting (`slots.queued`); its order
is their due order. Moving one (`move`) or cancelling one (`refill`) hands the queue the
earliest free slots again, in its new order (`slots.repack`), each change a
compare-and-set on a `scheduled` delivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from postmast.scheduler import slots
from postmast.scheduler.errors import NotFound, UserError
from postmast.scheduler.models import Account, Delivery
from postmast.scheduler.store import Store


def move(
    store: Store, delivery_id: int, *, before: int | None = None, after: int | None = None
) -> list[tuple[int, datetime]]:
    """Put `delivery_id` just before (or after) another delivery of the same account's queue."""
    anchor = before if before is not None else after
    if anchor is None:
        raise UserError("give --before ID or --after ID")
    now = store.now()
    with store.write() as session:
        rows = dict(
            session.execute(
                select(Delivery.id, Delivery.account_id).where(Delivery.id.in_([delivery_id, anchor]))
            ).all()
        )
        for wanted in (delivery_id, anchor):
            if wanted not in rows:
                raise NotFound(f"no delivery {wanted} (see: postmast queue)")
        if rows[delivery_id] != rows[anchor]:
            raise UserError(f"deliveries {delivery_id} and {anchor} go to different accounts")
        account = session.get(Account, rows[delivery_id])
        assert account is not None
        placed = slots.of_account(session, account)
        order = slots.queued(session, account.id, now)
        for wanted in (delivery_id, anchor):
            if wanted not in order:
                raise UserError(
                    f"delivery {wanted} is not waiting in {account.target}'s slot queue "
                    "(only deliveries placed with --next-slot are)"
                )
        if delivery_id == anchor:
            return []
        order.remove(delivery_id)
        position = order.index(anchor) + (0 if before is not None else 1)
        order.insert(position, delivery_id)
        moved = slots.repack(session, placed, order, now)
        due = dict(session.execute(select(Delivery.id, Delivery.due_at).where(Delivery.id.in_(moved))).all())
        return [(i, due[i]) for i in moved]


def refill(store: Store, cancelled: Iterable[int]) -> list[int]:
    """After deliveries were cancelled: their accounts' queues move up into the freed slots."""
    ids = list(cancelled)
    if not ids:
        return []
    now = store.now()
    moved: list[int] = []
    with store.write() as session:
        accounts = set(
            session.scalars(
                select(Delivery.account_id).where(Delivery.id.in_(ids), Delivery.slotted.is_(True))
            )
        )
        for account_id in sorted(accounts):
            account = session.get(Account, account_id)
            if account is None:
                continue
            try:
                placed = slots.of_account(session, account)
            except UserError:
                continue
            moved += slots.repack(session, placed, slots.queued(session, account_id, now), now)
    return moved
