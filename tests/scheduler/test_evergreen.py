"""Evergreen posts come back into free slots after their interval, once per round, and skip
networks that refuse repeated text unless the post has a variant for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from postmast.scheduler import evergreen
from postmast.scheduler.body import Item, Variant
from postmast.scheduler.models import Delivery
from postmast.scheduler.posts import Posts
from postmast.scheduler.requests import PostRequest
from postmast.scheduler.slot_plans import SlotPlans
from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import FakeClock
from tests.factories import add_account

HORIZON = 30 * 86400.0


def publish_all(store: Store, now: datetime) -> None:
    with store.write() as session:
        for delivery_id in session.scalars(select(Delivery.id).where(Delivery.status == Status.SCHEDULED)):
            for source, target in ((Status.SCHEDULED, Status.QUEUED), (Status.QUEUED, Status.PUBLISHING)):
                assert transition(session, delivery_id, source, target, now=now)
            assert transition(
                session, delivery_id, Status.PUBLISHING, Status.PUBLISHED, now=now, published_at=now
            )


def rounds(store: Store) -> list[tuple[int, int, datetime]]:
    with store.read() as session:
        return list(
            session.execute(
                select(Delivery.account_id, Delivery.occurrence, Delivery.due_at).order_by(Delivery.id)
            )
        )  # type: ignore[arg-type]


def test_an_evergreen_post_comes_back_after_its_interval(
    store: Store, vault: Vault, clock: FakeClock
) -> None:
    team = add_account(store, vault, "webhook", "team")
    SlotPlans(store).set("webhook:team", "daily 09:00,18:00", "UTC")
    posts = Posts(store, default_max_lateness=3600)
    posts.queue(
        PostRequest(
            "From the archive", ["webhook:team"], clock.now, "UTC", next_slot=True, evergreen_every=2 * 86400
        )
    )
    with store.write() as session:
        assert evergreen.requeue(session, clock.now, HORIZON) == 0  # not published yet
    clock.now = datetime(2026, 12, 1, 18, 0, 30, tzinfo=UTC)
    publish_all(store, clock.now)
    with store.write() as session:
        assert evergreen.requeue(session, clock.now, HORIZON) == 1
        assert evergreen.requeue(session, clock.now, HORIZON) == 0  # its next round is pending: once
    assert rounds(store)[-1] == (
        team,
        1,
        datetime(2026, 12, 4, 9, 0, tzinfo=UTC),  # 2 days after 18:00:30: the 18:00 slot has passed
    )  # the first free slot after 2 days


def test_networks_that_refuse_repeats_need_a_variant(store: Store, vault: Vault, clock: FakeClock) -> None:
    from postmast.scheduler.accounts import Accounts

    secrets = {"consumer_key": "a", "consumer_secret": "b", "access_token": "c", "access_token_secret": "d"}
    Accounts(store, vault).add("x", "brand", {"username": "brand"}, secrets)
    Accounts(store, vault).add("x", "other", {"username": "other"}, secrets)
    for target in ("x:brand", "x:other"):
        SlotPlans(store).set(target, "daily 09:00", "UTC")
    posts = Posts(store, default_max_lateness=3600)
    variant = (Variant("x:other", (Item("Reworded for X"),)),)
    posts.queue(
        PostRequest(
            "Again",
            ["x:brand", "x:other"],
            clock.now,
            "UTC",
            next_slot=True,
            evergreen_every=86400,
            variants=variant,
        )
    )
    clock.now += timedelta(days=1, hours=1)
    publish_all(store, clock.now)
    with store.write() as session:
        assert evergreen.requeue(session, clock.now, HORIZON) == 1  # x:other has a variant, x:brand none
