"""Posting slots: weekly times in the account's zone, the next free one, and a queue that keeps
its slots when posts are cancelled or reordered."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from postmast.scheduler import queueing
from postmast.scheduler.deliveries import Deliveries
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Delivery
from postmast.scheduler.posts import Posts
from postmast.scheduler.requests import PostRequest
from postmast.scheduler.slot_plans import SlotPlans
from postmast.scheduler.slots import instants, parse_slots
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.factories import add_account

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_weekly_spec() -> None:
    slots = parse_slots("Mon-Fri 09:00,12:30; sat,SUN 10:00:30")
    assert slots.times[0] == (time(9), time(12, 30)) and slots.times[6] == (time(10, 0, 30),)
    assert slots.per_week == 12
    assert slots.describe() == (
        "Mon 09:00,12:30; Tue 09:00,12:30; Wed 09:00,12:30; Thu 09:00,12:30; Fri 09:00,12:30; "
        "Sat 10:00:30; Sun 10:00:30"
    )
    assert parse_slots("Fri-Mon 08:00").times[5] == (time(8),)  # a range across the weekend


@pytest.mark.parametrize("spec", ["", "09:00", "Mon 25:00", "Funday 09:00", "Mon 9"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(UserError):
        parse_slots(spec)


def test_slots_are_wall_times_across_dst() -> None:
    slots = parse_slots("daily 02:30,09:00")
    found = list(instants(slots, BERLIN, datetime(2027, 3, 27, 12, tzinfo=UTC), days=2))
    shown = [w.astimezone(BERLIN).strftime("%d %H:%M") for w in found]
    assert shown == ["28 03:30", "28 09:00", "29 02:30", "29 09:00"]  # 02:30 is skipped: 03:30


@pytest.fixture
def posts(store: Store, vault: Vault) -> Posts:
    add_account(store, vault, "webhook", "team")
    add_account(store, vault, "mastodon", "brand")
    SlotPlans(store).set("webhook:team", "Mon-Fri 09:00,17:00", "Europe/Berlin")
    SlotPlans(store).set("mastodon:brand", "daily 12:00", "Europe/Berlin")
    return Posts(store, default_max_lateness=600)


def slotted(text: str, targets: list[str] | None = None) -> PostRequest:
    return PostRequest(
        text=text,
        targets=targets or ["webhook:team"],
        due_at=datetime(2026, 12, 1, 9, tzinfo=UTC),
        timezone="UTC",
        next_slot=True,
    )


def due_of(store: Store, *ids: int) -> list[str]:
    with store.read() as session:
        found = dict(session.execute(select(Delivery.id, Delivery.due_at).where(Delivery.id.in_(ids))).all())
    return [found[i].astimezone(BERLIN).strftime("%a %H:%M") for i in ids]


def test_each_target_takes_its_own_next_free_slot(store: Store, posts: Posts) -> None:
    # the clock: Tuesday 2026-12-01 10:00 in Berlin
    first = posts.queue(slotted("one", ["webhook:team", "mastodon:brand"]))
    ids = {d.target: d.id for d in first.deliveries}
    assert due_of(store, ids["webhook:team"], ids["mastodon:brand"]) == ["Tue 17:00", "Tue 12:00"]
    second = posts.queue(slotted("two"))
    assert due_of(store, second.deliveries[0].id) == ["Wed 09:00"]


def test_an_account_without_slots_is_refused(store: Store, posts: Posts, vault: Vault) -> None:
    add_account(store, vault, "webhook", "other")
    with pytest.raises(UserError, match="webhook:other has no posting slots"):
        posts.queue(slotted("x", ["webhook:other"]))


def test_cancelling_refills_and_moving_reorders(store: Store, posts: Posts) -> None:
    ids = [posts.queue(slotted(f"post {n}")).deliveries[0].id for n in range(4)]
    assert due_of(store, *ids) == ["Tue 17:00", "Wed 09:00", "Wed 17:00", "Thu 09:00"]
    Deliveries(store).cancel([ids[1]])
    assert queueing.refill(store, [ids[1]]) == [ids[2], ids[3]]
    assert due_of(store, ids[0], ids[2], ids[3]) == ["Tue 17:00", "Wed 09:00", "Wed 17:00"]
    moved = queueing.move(store, ids[3], before=ids[0])
    assert [i for i, _ in moved] == [ids[3], ids[0], ids[2]]
    assert due_of(store, ids[3], ids[0], ids[2]) == ["Tue 17:00", "Wed 09:00", "Wed 17:00"]
    with pytest.raises(UserError, match=r"different accounts|not waiting"):
        queueing.move(store, ids[0], after=ids[1])
