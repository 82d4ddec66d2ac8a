"""Fixing an account releases the deliveries held back while it needed re-authorisation."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from postmast.scheduler.accounts import Accounts
from postmast.scheduler.config import Settings
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.models import Account, AccountStatus, Delivery
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.factories import add_delivery, status_of

INSTANCE = {"instance": "https://mastodon.example"}


def _flag(store: Store, account_id: int) -> None:
    with store.write() as session:
        session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(status=AccountStatus.NEEDS_REAUTH, status_reason="401 from the instance")
        )


def _next_try(store: Store, delivery_id: int):  # type: ignore[no-untyped-def]
    with store.read() as session:
        return session.scalar(select(Delivery.next_attempt_at).where(Delivery.id == delivery_id))


def test_update_releases_held_deliveries_before_their_lateness_runs_out(
    store: Store, vault: Vault, settings: Settings, clock
) -> None:
    accounts = Accounts(store, vault)
    brand = accounts.add("mastodon", "brand", INSTANCE, {"access_token": "old-token-1234"})
    other = accounts.add("mastodon", "other", INSTANCE, {"access_token": "other-token-1234"})
    _flag(store, brand.id)
    now = store.now()
    # the worker held this one back for the re-auth wait (300 s) though its lateness is 60 s
    held = add_delivery(store, brand.id, due=now, lateness=60, next_attempt_at=now + timedelta(seconds=300))
    retrying = add_delivery(
        store, brand.id, status=Status.RETRY_WAIT, due=now, next_attempt_at=now + timedelta(seconds=300)
    )
    tomorrow = add_delivery(store, brand.id, due=now + timedelta(days=1))
    elsewhere = add_delivery(
        store, other.id, due=now, lateness=60, next_attempt_at=now + timedelta(seconds=300)
    )
    sent: list[int] = []
    dispatcher = Dispatcher(store, settings, sent.extend)
    clock.advance(20)
    assert dispatcher.tick().dispatched == []

    fixed = accounts.update("mastodon:brand", {}, {"access_token": "fresh-token-123"})

    assert fixed.status == "active"
    assert _next_try(store, held) == store.now()
    assert _next_try(store, retrying) == store.now()
    assert (status_of(store, held), status_of(store, retrying)) == (Status.SCHEDULED, Status.RETRY_WAIT)
    assert _next_try(store, tomorrow) == now + timedelta(days=1)  # not due yet: left where it was
    assert _next_try(store, elsewhere) == now + timedelta(seconds=300)  # another account: untouched
    assert dispatcher.tick().dispatched == [held]  # one in flight per account, the earliest first
    assert status_of(store, held) == Status.QUEUED
    clock.advance(60)
    assert elsewhere in dispatcher.tick().missed  # what a held delivery comes to when nobody releases it


def test_a_settings_fix_releases_too(store: Store, vault: Vault, clock) -> None:
    accounts = Accounts(store, vault)
    brand = accounts.add("mastodon", "brand", INSTANCE, {"access_token": "old-token-1234"})
    _flag(store, brand.id)
    now = store.now()
    held = add_delivery(store, brand.id, due=now, lateness=60, next_attempt_at=now + timedelta(seconds=300))
    clock.advance(5)
    accounts.update("mastodon:brand", {"instance": "https://other.example"}, None)
    assert _next_try(store, held) == store.now()
    assert accounts.get("mastodon:brand").status == "active"
