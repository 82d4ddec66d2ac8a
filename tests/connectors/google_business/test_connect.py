"""`account connect google_business`: Google's sign-in with PKCE, offline access and a loopback
redirect against the contract server (the test's browser follows the redirect), the secrets the
posting path reads, `account check`, and the refresh-token grant."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from postmast.connectors import Content
from postmast.connectors.errors import AuthExpired
from postmast.connectors.google_business import GoogleBusiness
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.checkup import Checkup
from postmast.scheduler.connect import Connection
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import FakeClock
from tests.connectors.signin import Browser, free_port
from tests.servers.google_business import (
    ACCOUNT,
    CLIENT_ID,
    CLIENT_SECRET,
    LOCATION,
    REFRESH_TOKEN,
    GoogleBusinessServer,
)


@pytest.fixture
def server(clock: FakeClock) -> Iterator[GoogleBusinessServer]:
    running = GoogleBusinessServer(clock=clock).start()
    yield running
    running.stop()


def _settings(server: GoogleBusinessServer) -> dict[str, str]:
    return {
        "account_id": ACCOUNT,
        "location_id": LOCATION,
        "api_base": server.url,
        "token_url": f"{server.url}/token",
        "authorize_url": f"{server.url}/o/oauth2/v2/auth",
        "oauth_client_id": CLIENT_ID,
    }


def _row(store: Store) -> Account:
    with store.read() as session:
        account = session.scalars(select(Account).where(Account.network == "google_business")).one()
        session.expunge(account)
        return account


def test_connect_signs_in_offline_and_keeps_what_posting_reads(
    store: Store, vault: Vault, server: GoogleBusinessServer, clock: FakeClock
) -> None:
    port = free_port()
    server.allow_redirect(f"http://127.0.0.1:{port}/callback")
    browser = Browser(CLIENT_SECRET)
    view = Connection(store, vault).connect(
        "google_business", "shop", _settings(server), browser.terminal, port=port
    )
    assert view.status == "active" and browser.asked == ["client_secret"]
    query = parse_qs(urlsplit(browser.shown[0]).query)
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    assert query["scope"] == ["https://www.googleapis.com/auth/business.manage"]
    assert query["code_challenge_method"] == ["S256"]
    account = _row(store)
    secrets = vault.decrypt(account.secrets)
    assert set(secrets) == {"client_id", "client_secret", "refresh_token"}
    assert secrets["client_id"] == CLIENT_ID and secrets["client_secret"] == CLIENT_SECRET
    assert secrets["refresh_token"] in server.refresh_tokens and secrets["refresh_token"] != REFRESH_TOKEN
    assert account.expires_at is None  # a refresh token with no stated end: renewal leaves it
    assert CLIENT_SECRET not in str(account.settings)
    # the stored secrets post, through the existing refresh-token path
    result = GoogleBusiness(_settings(server), clock=clock).publish(Content("Open late"), secrets, "k1")
    assert result.remote_id.startswith(f"accounts/{ACCOUNT}/locations/{LOCATION}/localPosts/")
    [health] = Checkup(store, vault).run("google_business:shop")
    assert health.state == "healthy"


def test_without_offline_access_google_gives_no_refresh_token_and_nothing_is_stored(
    store: Store, vault: Vault, server: GoogleBusinessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract server issues a refresh token only for `access_type=offline`, so the
    parameter is what makes the account usable: without it, connect stores nothing."""
    port = free_port()
    server.allow_redirect(f"http://127.0.0.1:{port}/callback")
    online = GoogleBusiness.endpoints

    def without(self: GoogleBusiness, client_id: str):  # type: ignore[no-untyped-def]
        from dataclasses import replace

        return replace(online(self, client_id), authorize_params=())

    monkeypatch.setattr(GoogleBusiness, "endpoints", without)
    with pytest.raises(UserError, match="refresh_token"):
        Connection(store, vault).connect(
            "google_business", "shop", _settings(server), Browser(CLIENT_SECRET).terminal, port=port
        )
    assert Accounts(store, vault).all() == []


def test_refresh_uses_the_refresh_token_and_a_revoked_one_needs_a_sign_in(
    server: GoogleBusinessServer, clock: FakeClock
) -> None:
    connector = GoogleBusiness(_settings(server), clock=clock)
    secrets = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}
    assert connector.can_refresh(secrets)
    renewal = connector.refresh(secrets)
    assert renewal is not None and renewal.secrets == secrets and renewal.expires_at is None
    assert [parse_qs(r.body.decode())["grant_type"] for r in server.token_requests()] == [["refresh_token"]]
    server.revoke_refresh()
    with pytest.raises(AuthExpired):
        connector.refresh(secrets)
    assert not connector.can_refresh({"client_id": CLIENT_ID})
    assert connector.refresh({"client_id": CLIENT_ID}) is None


def test_an_account_added_the_old_way_keeps_working(
    store: Store, vault: Vault, server: GoogleBusinessServer
) -> None:
    settings = {k: v for k, v in _settings(server).items() if k not in ("oauth_client_id", "authorize_url")}
    secrets = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}
    Accounts(store, vault).add("google_business", "shop", settings, secrets, discover=True)
    [health] = Checkup(store, vault).run("google_business:shop")
    assert health.state == "healthy"
    assert GoogleBusiness(settings).oauth2() is None  # connect falls back to the hidden prompt
