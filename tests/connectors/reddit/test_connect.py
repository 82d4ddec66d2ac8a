"""`account connect reddit`: a web app's code flow (`duration=permanent`, Basic client auth, the
account's User-Agent on the token request) against the contract server, the test's browser
following the redirect; the refresh token posting then uses, `account check`, the refresh grant,
and the script app's password way unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from postmast.connectors import Content
from postmast.connectors.errors import AuthExpired
from postmast.connectors.reddit import Reddit
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.checkup import Checkup
from postmast.scheduler.connect import Connection
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import FakeClock
from tests.connectors.reddit.support import SECRETS, account_settings
from tests.connectors.signin import Browser, free_port
from tests.servers.reddit import CLIENT_ID, CLIENT_SECRET, USER_AGENT, USERNAME, RedditServer


@pytest.fixture
def server(clock: FakeClock) -> Iterator[RedditServer]:
    running = RedditServer(clock=clock).start()
    yield running
    running.stop()


def _settings(server: RedditServer) -> dict[str, str]:
    return {**account_settings(server), "oauth_client_id": CLIENT_ID}


def _row(store: Store) -> Account:
    with store.read() as session:
        account = session.scalars(select(Account).where(Account.network == "reddit")).one()
        session.expunge(account)
        return account


def _grants(server: RedditServer) -> list[str]:
    return [parse_qs(r.body.decode())["grant_type"][0] for r in server.token_requests()]


def test_connect_keeps_a_permanent_refresh_token_that_posting_uses(
    store: Store, vault: Vault, server: RedditServer, clock: FakeClock
) -> None:
    port = free_port()
    server.allow_redirect(f"http://127.0.0.1:{port}/callback")
    browser = Browser(CLIENT_SECRET)
    view = Connection(store, vault).connect(
        "reddit", "harbour", _settings(server), browser.terminal, port=port
    )
    assert view.status == "active" and browser.asked == ["client_secret"]
    query = parse_qs(urlsplit(browser.shown[0]).query)
    assert query["duration"] == ["permanent"] and query["scope"] == ["identity submit read"]
    [exchange] = server.token_requests()[:1]
    assert exchange.header("User-Agent") == USER_AGENT  # Reddit's rule, on the token request too
    assert (exchange.header("Authorization") or "").startswith("Basic ")
    account = _row(store)
    secrets = vault.decrypt(account.secrets)
    assert set(secrets) == {"client_id", "client_secret", "refresh_token"}
    assert server.oauth.refresh[secrets["refresh_token"]] == (CLIENT_ID, USERNAME)
    assert account.expires_at is None  # permanent: nothing for the renewal job
    assert account.cache is not None and account.cache.get("username") == USERNAME
    [health] = Checkup(store, vault).run("reddit:harbour")  # GET /api/v1/me
    assert (health.state, health.identity.get("username")) == ("healthy", USERNAME)
    result = Reddit(_settings(server), clock=clock).publish(
        Content("Doors open at 9.", options={"title": "Harbour opens"}), secrets, "k1"
    )
    assert result.remote_id.startswith("t3_")
    assert _grants(server)[0] == "authorization_code"
    assert set(_grants(server)[1:]) == {"refresh_token"}  # never the password grant


def test_without_a_client_secret_the_sign_in_is_refused_and_nothing_is_stored(
    store: Store, vault: Vault, server: RedditServer
) -> None:
    """An installed app has no secret; Reddit wants Basic auth anyway (documented as unsupported)."""
    port = free_port()
    server.allow_redirect(f"http://127.0.0.1:{port}/callback")
    with pytest.raises(UserError, match="the sign-in did not complete"):
        Connection(store, vault).connect(
            "reddit", "harbour", _settings(server), Browser("").terminal, port=port
        )
    assert Accounts(store, vault).all() == []


def test_refresh_grant_and_a_revoked_refresh_token(server: RedditServer, clock: FakeClock) -> None:
    server.oauth.refresh["r-live"] = (CLIENT_ID, USERNAME)
    connector = Reddit(_settings(server), clock=clock)
    secrets = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": "r-live"}
    assert connector.can_refresh(secrets) and not connector.can_refresh(SECRETS)
    assert connector.refresh(SECRETS) is None  # a script app's password: nothing to renew
    renewal = connector.refresh(secrets)
    assert renewal is not None and renewal.secrets == secrets and renewal.expires_at is None
    assert [r.header("User-Agent") for r in server.token_requests()] == [USER_AGENT]
    del server.oauth.refresh["r-live"]
    with pytest.raises(AuthExpired):
        connector.refresh(secrets)
    with pytest.raises(AuthExpired):
        connector.whoami(secrets)  # the posting path's token request is refused the same way


def test_the_script_app_way_is_unchanged_and_one_credential_is_required(
    store: Store, vault: Vault, server: RedditServer
) -> None:
    settings = account_settings(server)
    Accounts(store, vault).add("reddit", "script", settings, SECRETS, discover=True)
    assert Reddit(settings).oauth2() is None  # no client_id setting: connect uses the hidden prompt
    [health] = Checkup(store, vault).run("reddit:script")
    assert health.state == "healthy"
    assert set(_grants(server)) == {"password"}
    with pytest.raises(UserError, match="give password"):
        Accounts(store, vault).add(
            "reddit", "none", settings, {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        )
