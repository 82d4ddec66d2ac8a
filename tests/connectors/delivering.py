"""Steps of the real delivery path for the connectors' worker tests: queue a post through
`Posts.queue` (validation included), let it fall due as the dispatcher would, and, after an
unknown outcome, let the settle delay pass so the dispatcher claims it for its lookup."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from postmast.connectors import MediaFile
from postmast.scheduler.config import Settings
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.models import Account, Attempt, DeliveryItem
from postmast.scheduler.posts import Item, OptionValue, PostRequest, Posts
from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from tests.conftest import FakeClock
from tests.factories import delivery


def queue(
    store: Store,
    target: str,
    texts: list[str],
    media: tuple[MediaFile, ...] = (),
    options: dict[str, str] | None = None,
) -> int:
    """A post of `texts` (a thread when several) to `target`, validated, stored and queued now."""
    posts = Posts(store, default_max_lateness=3600)
    queued = posts.queue(
        PostRequest(
            texts[0],
            [target],
            store.now(),
            "UTC",
            media=media,
            then=tuple(Item(text) for text in texts[1:]),
            options=tuple(OptionValue("", k, v) for k, v in (options or {}).items()),
        )
    )
    [target_delivery] = queued.deliveries
    due_again(store, target_delivery.id, Status.SCHEDULED)
    return target_delivery.id


def due_again(store: Store, delivery_id: int, current: Status) -> None:
    """What the dispatcher does when a delivery is due: queue it."""
    with store.write() as session:
        assert transition(session, delivery_id, current, Status.QUEUED, now=store.now())


def settle_and_dispatch(store: Store, clock: FakeClock, settings: Settings, delivery_id: int) -> None:
    """Let the settle delay pass: the dispatcher claims the `unknown` delivery for its lookup."""
    row = delivery(store, delivery_id)
    assert row.status == Status.UNKNOWN and row.reconcile_at is not None
    clock.advance(settings.timings.settle + 1)
    assert Dispatcher(store, settings, lambda ids: None).tick().dispatched == [delivery_id]
    assert delivery(store, delivery_id).status == Status.RECONCILING


def account(store: Store, account_id: int) -> Account:
    with store.read() as session:
        found = session.get(Account, account_id)
        assert found is not None
        return found


def items(store: Store, delivery_id: int) -> list[DeliveryItem]:
    with store.read() as session:
        rows = session.scalars(
            select(DeliveryItem)
            .where(DeliveryItem.delivery_id == delivery_id)
            .order_by(DeliveryItem.position)
        )
        return list(rows)


def attempts(store: Store, delivery_id: int) -> list[Attempt]:
    with store.read() as session:
        rows = session.scalars(
            select(Attempt).where(Attempt.delivery_id == delivery_id).order_by(Attempt.number)
        )
        return list(rows)


def seconds_until(when: datetime | None, now: datetime) -> float:
    assert when is not None
    return (when - now).total_seconds()
