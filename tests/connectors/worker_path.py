"""The real worker path for connector tests: queue through `Posts` (validation, storage, media),
publish with `workers.publisher.Publisher`, and after an unknown outcome let the `Dispatcher`
claim the delivery for its lookup. Shared by the business networks' `test_worker.py` files,
which run on both store backends (the `store` fixture)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from postmast.connectors import MediaFile
from postmast.scheduler.config import Settings
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.models import Account, DeliveryItem
from postmast.scheduler.posts import Item, OptionValue, PostRequest, Posts
from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from tests.factories import delivery


def queue(
    store: Store,
    target: str,
    texts: Sequence[str],
    media: tuple[MediaFile, ...] = (),
    options: dict[str, str] | None = None,
) -> int:
    """Queue a post (a thread when several texts) due now, and move it to `queued` as the dispatcher would."""
    queued = Posts(store, default_max_lateness=3600).queue(
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
    [row] = queued.deliveries
    due_again(store, row.id, Status.SCHEDULED)
    return row.id


def due_again(store: Store, delivery_id: int, current: Status) -> None:
    with store.write() as session:
        assert transition(session, delivery_id, current, Status.QUEUED, now=store.now())


def settle_and_dispatch(store: Store, clock: object, settings: Settings, delivery_id: int) -> None:
    """Let the settle delay pass: the dispatcher claims the delivery for its lookup."""
    row = delivery(store, delivery_id)
    assert row.status == Status.UNKNOWN and row.reconcile_at is not None, (row.status, row.last_error)
    clock.advance(settings.timings.settle + 1)  # type: ignore[attr-defined]
    assert Dispatcher(store, settings, lambda ids: None).tick().dispatched == [delivery_id]
    assert delivery(store, delivery_id).status == Status.RECONCILING


def items(store: Store, delivery_id: int) -> list[DeliveryItem]:
    with store.read() as session:
        rows = session.scalars(
            select(DeliveryItem)
            .where(DeliveryItem.delivery_id == delivery_id)
            .order_by(DeliveryItem.position)
        )
        return list(rows)


def limited_until(store: Store, account_id: int) -> datetime | None:
    with store.read() as session:
        account = session.get(Account, account_id)
        assert account is not None
        return account.limited_until


def wait_of(store: Store, delivery_id: int) -> float:
    """Seconds until a delivery in retry_wait is due again."""
    row = delivery(store, delivery_id)
    assert row.status == Status.RETRY_WAIT, (row.status, row.last_error)
    return (row.next_attempt_at - store.now()).total_seconds()
