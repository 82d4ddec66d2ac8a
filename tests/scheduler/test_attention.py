"""What needs attention, each with its fix, counted in groups."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from postmast.scheduler.attention import attention, plural
from postmast.scheduler.deliveries import Filters
from postmast.scheduler.heartbeat import Beat
from postmast.scheduler.models import Account, AccountStatus
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.factories import add_account, add_delivery

S = Status


def test_each_kind_with_its_fix(store: Store, vault: Vault, clock) -> None:
    brand = add_account(store, vault, "mastodon", "brand")
    team = add_account(store, vault, "webhook", "team")
    week = clock.now - timedelta(days=7)
    for cls in ("PermanentError", "PermanentError", "TransientError"):
        add_delivery(store, team, status=S.FAILED, last_error_class=cls, due=clock.now - timedelta(hours=1))
    add_delivery(
        store, team, status=S.FAILED, last_error_class="TransientError", due=week - timedelta(days=1)
    )
    add_delivery(store, team, status=S.MISSED, due=clock.now - timedelta(hours=2))
    add_delivery(store, team, status=S.UNKNOWN)
    add_delivery(store, team, status=S.SCHEDULED, due=clock.now - timedelta(minutes=30))
    add_delivery(store, brand, status=S.SCHEDULED, due=clock.now - timedelta(minutes=30))
    with store.write() as session:
        session.execute(
            update(Account)
            .where(Account.id == brand)
            .values(status=AccountStatus.NEEDS_REAUTH, status_reason="401")
        )
    items = {i.kind: i for i in attention(store, Filters(), since=week)}
    assert set(items) == {"failed", "missed", "unknown", "needs_reauth", "overdue"}
    assert (items["failed"].count, dict(items["failed"].causes)) == (
        3,
        {"PermanentError": 2, "TransientError": 1},
    )
    assert items["failed"].fixes == [
        "PermanentError: postmast show ID",
        "TransientError: postmast retry --failed --cause TransientError",
    ]
    assert items["needs_reauth"].fixes == ["postmast account update mastodon:brand --secrets"]
    # the account waiting for re-authorisation is not "overdue": only the webhook's delivery is
    assert items["overdue"].count == 1
    assert items["overdue"].summary == "1 delivery overdue: no scheduler is running"
    assert "postmast run" in items["overdue"].fixes[0]
    Beat(store, "scheduler").beat()
    [overdue] = [i for i in attention(store, Filters(), since=week) if i.kind == "overdue"]
    assert overdue.summary.endswith("no worker is running")


def test_plural() -> None:
    assert [plural(n, "delivery", "deliveries") for n in (0, 1, 2, 10000)] == [
        "0 deliveries",
        "1 delivery",
        "2 deliveries",
        "10,000 deliveries",
    ]
