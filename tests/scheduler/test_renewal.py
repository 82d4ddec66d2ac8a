"""Tokens renewed ahead of their end; warned about where they cannot be; flagged once when refused."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from postmast.scheduler.accounts import Accounts
from postmast.scheduler.checkup import Checkup
from postmast.scheduler.incidents import scan
from postmast.scheduler.models import Account
from postmast.scheduler.renewal import Renewer
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import FakeClock
from tests.servers.linkedin import LinkedInServer
from tests.servers.oauth2 import Client
from tests.servers.threads import ThreadsServer
from tests.servers.x import XServer


@pytest.fixture
def x_server(conformance: Path, clock: FakeClock) -> Iterator[XServer]:
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=0, clock=clock)
    server.oauth.register(Client("x-client", ["http://127.0.0.1:8765/callback"]))
    server.start()
    yield server
    server.stop()


def _row(store: Store, target: str) -> Account:
    network, name = target.split(":")
    with store.read() as session:
        account = session.scalars(
            select(Account).where(Account.network == network, Account.name == name)
        ).one()
        session.expunge(account)
        return account


def _x_account(store: Store, vault: Vault, server: XServer, refresh: str, minutes_left: int) -> None:
    now = store.now()
    Accounts(store, vault).add(
        "x",
        "brand",
        {"api_base": server.url, "client_id": "x-client"},
        {"bearer_token": "expiring-token", "refresh_token": refresh},
        expires_at=now + timedelta(minutes=minutes_left),
    )


def test_an_x_token_is_renewed_in_its_last_half_hour(
    store: Store, vault: Vault, x_server: XServer, clock: FakeClock
) -> None:
    x_server.oauth.refresh["refresh-live"] = ("x-client", "alice")
    _x_account(store, vault, x_server, "refresh-live", minutes_left=45)
    renewer = Renewer(store, vault)
    assert renewer.run_once().renewed == []  # 45 minutes left: not yet
    clock.advance(20 * 60)
    assert renewer.run_once().renewed == ["x:brand"]
    account = _row(store, "x:brand")
    secrets = vault.decrypt(account.secrets)
    assert secrets["bearer_token"] != "expiring-token" and secrets["refresh_token"] != "refresh-live"
    assert x_server.oauth.user_of(secrets["bearer_token"]) == "alice"
    assert "refresh-live" not in x_server.oauth.refresh  # X rotates: the old one is spent
    assert account.expires_at == store.now() + timedelta(seconds=7200)
    [health] = Checkup(store, vault).run("x:brand")  # the renewed token works
    assert (health.state, health.identity.get("username")) == ("healthy", "alice")


def test_a_refused_refresh_flags_the_account_once(
    store: Store, vault: Vault, x_server: XServer, caplog: pytest.LogCaptureFixture
) -> None:
    _x_account(store, vault, x_server, "refresh-revoked", minutes_left=10)
    with caplog.at_level(logging.ERROR, logger="postmast.scheduler"):
        first = Renewer(store, vault).run_once()
        second = Renewer(store, vault).run_once()
    assert (first.flagged, second.flagged) == (["x:brand"], [])
    account = _row(store, "x:brand")
    assert account.status == "needs_reauth"
    assert account.status_reason is not None and "could not be renewed" in account.status_reason
    assert "refresh-revoked" not in account.status_reason
    assert len([r for r in caplog.records if "needs re-authorisation" in r.getMessage()]) == 1
    assert [p.key for p in scan(store) if p.kind == "needs_reauth"] == ["needs_reauth:x:brand"]


def test_linkedin_is_warned_about_seven_days_ahead_then_flagged(
    store: Store, vault: Vault, clock: FakeClock
) -> None:
    server = LinkedInServer(clock=clock).start()
    try:
        Accounts(store, vault).add(
            "linkedin",
            "me",
            {"author": "urn:li:person:abc123", "api_base": server.url},
            {"access_token": "li-token"},
        )
        added = _row(store, "linkedin:me")
        assert added.expires_at == store.now() + timedelta(days=60)
        renewer = Renewer(store, vault)
        clock.advance(52 * 86400)
        assert renewer.run_once().noted == []  # 8 days left
        assert not [p for p in scan(store) if p.kind == "expiring"]
        clock.advance(86400 + 60)
        assert renewer.run_once().noted == ["linkedin:me"]
        assert renewer.run_once().noted == []  # said once
        [warning] = [p for p in scan(store) if p.kind == "expiring"]
        assert warning.key == "expiring:linkedin:me"
        assert "cannot be renewed" in warning.summary
        [health] = Checkup(store, vault).run("linkedin:me")
        assert (health.state, health.days_left) == ("expiring", 6)
        clock.advance(7 * 86400)
        assert renewer.run_once().flagged == ["linkedin:me"]
        assert _row(store, "linkedin:me").status == "needs_reauth"
        assert not [p for p in scan(store) if p.kind == "expiring"]
        # signing in again clears the flag, the note, and starts a new 60 days
        Accounts(store, vault).update("linkedin:me", {}, {"access_token": "li-token"})
        fixed = _row(store, "linkedin:me")
        assert (fixed.status, fixed.renewal_note) == ("active", None)
        assert fixed.expires_at == store.now() + timedelta(days=60)
    finally:
        server.stop()


def test_a_threads_long_lived_token_is_renewed_in_its_last_week(
    store: Store, vault: Vault, clock: FakeClock
) -> None:
    server = ThreadsServer({"th-token": "1789"}, clock=clock).start()
    try:
        Accounts(store, vault).add("threads", "cafe", {"api_base": server.url}, {"access_token": "th-token"})
        assert _row(store, "threads:cafe").expires_at == store.now() + timedelta(days=60)
        renewer = Renewer(store, vault)
        clock.advance(52 * 86400)
        assert renewer.run_once().renewed == []
        clock.advance(2 * 86400)
        assert renewer.run_once().renewed == ["threads:cafe"]
        account = _row(store, "threads:cafe")
        token = vault.decrypt(account.secrets)["access_token"]
        assert server.refreshed == ["th-token"] and server.tokens[token] == "1789"
        assert account.expires_at == store.now() + timedelta(seconds=5184000)
        assert not [p for p in scan(store) if p.kind == "expiring"]  # renewable: never warned about
        [health] = Checkup(store, vault).run("threads:cafe")
        assert health.state == "healthy"
        server.expired.add(token)  # revoked meanwhile: the next renewal is refused
        clock.advance(54 * 86400)
        assert renewer.run_once().flagged == ["threads:cafe"]
    finally:
        server.stop()
