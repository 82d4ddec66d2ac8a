"""`account connect pinterest`: Pinterest's code flow (comma-separated scopes, Basic client auth)
against the contract server, the test's browser following the redirect; the tokens stored as the
posting path reads them, `account check`, and the renewal job renewing the 30-day token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from postmast.connectors import Content, MediaFile
from postmast.connectors.errors import AuthExpired
from postmast.connectors.pinterest import Pinterest
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.checkup import Checkup
from postmast.scheduler.connect import Connection
from postmast.scheduler.models import Account
from postmast.scheduler.renewal import Renewer
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import FakeClock
from tests.connectors.signin import Browser, free_port
from tests.factories import tiny_png
from tests.servers.pinterest import (
    ACCESS_TOKEN,
    BOARD,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    USERNAME,
    PinterestServer,
)

RENEWABLE = {
    "access_token": ACCESS_TOKEN,
    "refresh_token": REFRESH_TOKEN,
    "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET,
}


@pytest.fixture
def server(clock: FakeClock) -> Iterator[PinterestServer]:
    running = PinterestServer(clock=clock).start()
    yield running
    running.stop()


def _settings(server: PinterestServer) -> dict[str, str]:
    return {
        "board_id": BOARD,
        "api_base": server.url,
        "authorize_url": f"{server.url}/oauth/",
        "oauth_client_id": CLIENT_ID,
    }


def _row(store: Store) -> Account:
    with store.read() as session:
        account = session.scalars(select(Account).where(Account.network == "pinterest")).one()
        session.expunge(account)
        return account


def test_connect_stores_the_tokens_posting_reads_and_the_renewal_job_renews_them(
    store: Store, vault: Vault, server: PinterestServer, clock: FakeClock
) -> None:
    port = free_port()
    server.allow_redirect(f"http://127.0.0.1:{port}/callback")
    browser = Browser(CLIENT_SECRET)
    view = Connection(store, vault).connect(
        "pinterest", "harbour", _settings(server), browser.terminal, port=port
    )
    assert view.status == "active" and browser.asked == ["client_secret"]
    query = parse_qs(urlsplit(browser.shown[0]).query)
    assert query["scope"] == ["boards:read,pins:read,pins:write"]  # Pinterest's comma-separated form
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    [exchange] = [r for r in server.requests if r.path == "/v5/oauth/token"]
    assert (exchange.header("Authorization") or "").startswith("Basic ")  # the app's id and secret
    account = _row(store)
    secrets = vault.decrypt(account.secrets)
    assert set(secrets) == {"access_token", "refresh_token", "client_id", "client_secret"}
    assert secrets["access_token"] in server.tokens and secrets["refresh_token"] in server.refresh_tokens
    assert account.expires_at == store.now() + timedelta(days=30)
    assert account.cache is not None and account.cache.get("username") == USERNAME
    [health] = Checkup(store, vault).run("pinterest:harbour")  # GET /v5/user_account
    assert (health.state, health.identity.get("username")) == ("healthy", USERNAME)
    png = MediaFile(tiny_png(4, 4), "image/png", "doors.png", alt="Open doors")
    pin = Pinterest(_settings(server), clock=clock).publish(Content("Doors", media=(png,)), secrets, "k1")
    assert server.created[-1]["id"] == pin.remote_id

    renewer = Renewer(store, vault)
    assert renewer.run_once().renewed == []  # 30 days left
    clock.advance(24 * 86400)
    assert renewer.run_once().renewed == ["pinterest:harbour"]
    renewed = _row(store)
    now_secrets = vault.decrypt(renewed.secrets)
    assert (
        now_secrets["access_token"] != secrets["access_token"]
        and now_secrets["access_token"] in server.tokens
    )
    assert now_secrets["refresh_token"] == secrets["refresh_token"]  # not rotated: kept
    assert renewed.expires_at == store.now() + timedelta(days=30)


def test_refresh_of_an_account_added_with_tokens_and_a_revoked_refresh_token(
    store: Store, vault: Vault, server: PinterestServer, clock: FakeClock
) -> None:
    settings = {"board_id": BOARD, "api_base": server.url}
    Accounts(store, vault).add("pinterest", "old", settings, RENEWABLE, discover=True)
    connector = Pinterest(settings, clock=clock)
    assert connector.oauth2() is None  # no client id setting: connect uses the hidden prompt
    assert connector.can_refresh(RENEWABLE) and not connector.can_refresh({"access_token": ACCESS_TOKEN})
    assert connector.refresh({"access_token": ACCESS_TOKEN}) is None
    renewal = connector.refresh(RENEWABLE)
    assert renewal is not None and renewal.secrets["access_token"] in server.tokens
    assert renewal.expires_at == clock() + timedelta(days=30)
    server.revoke_refresh()
    with pytest.raises(AuthExpired):
        connector.refresh(RENEWABLE)
    [health] = Checkup(store, vault).run("pinterest:old")
    assert health.state == "healthy"  # the access token itself still works


def test_scopes_granted_in_another_form_still_connect(
    store: Store, vault: Vault, server: PinterestServer
) -> None:
    """oauthlib warns when the granted `scope` differs from the one asked for (Pinterest may list
    them in its own order); the token is good all the same and is kept."""
    port = free_port()
    server.allow_redirect(f"http://127.0.0.1:{port}/callback")
    server.oauth.extra["scope"] = "pins:write,pins:read,boards:read"
    Connection(store, vault).connect(
        "pinterest", "harbour", _settings(server), Browser(CLIENT_SECRET).terminal, port=port
    )
    secrets = vault.decrypt(_row(store).secrets)
    assert secrets["access_token"] in server.tokens
