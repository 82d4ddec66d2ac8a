"""`account connect instagram` (Facebook Login): the dialog and the code against the contract server
(the test's browser follows the redirect), then the long-lived exchange; the long-lived user token
kept as `access_token` with its end, `account check`, and the renewal job's warning (Facebook has no
way to renew it without the person)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from postmast.connectors.instagram import Instagram
from postmast.scheduler.checkup import Checkup
from postmast.scheduler.connect import Connection
from postmast.scheduler.models import Account
from postmast.scheduler.renewal import Renewer
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import FakeClock
from tests.connectors.signin import Browser, free_port
from tests.servers.graph import APP_ID, APP_SECRET
from tests.servers.instagram import InstagramServer

USER = "17841400000000099"


@pytest.fixture
def server(clock: FakeClock) -> Iterator[InstagramServer]:
    found = InstagramServer({}, clock=clock, usernames={USER: "harbourcafe"})
    found.sign_in(USER)
    found.start()
    yield found
    found.stop()


def _row(store: Store) -> Account:
    with store.read() as session:
        account = session.scalars(select(Account)).one()
        session.expunge(account)
        return account


def test_connect_keeps_the_long_lived_token_and_warns_before_its_end(
    store: Store, vault: Vault, server: InstagramServer, clock: FakeClock
) -> None:
    port = free_port()
    assert server.login is not None
    server.login.allow_redirect(f"http://127.0.0.1:{port}/callback")
    settings = {"ig_user_id": USER, "api_base": server.url, "dialog_base": server.url, "client_id": APP_ID}
    browser = Browser(APP_SECRET)
    view = Connection(store, vault).connect("instagram", "cafe", settings, browser.terminal, port=port)
    assert view.status == "active" and browser.asked == ["client_secret"]
    shown = urlsplit(browser.shown[0])
    assert shown.path == "/v25.0/dialog/oauth"
    assert "instagram_content_publish" in parse_qs(shown.query)["scope"][0].split(",")
    account = _row(store)
    secrets = vault.decrypt(account.secrets)
    assert list(secrets) == ["access_token"] and secrets["access_token"] in server.login.long_lived
    assert account.expires_at == store.now() + timedelta(seconds=5_183_944)
    [health] = Checkup(store, vault).run("instagram:cafe")
    assert health.state == "healthy"
    clock.advance(55 * 86400)
    done = Renewer(store, vault).run_once()
    assert done.noted == ["instagram:cafe"] and done.renewed == []  # cannot be renewed: a warning
    assert "postmast account" in (_row(store).renewal_note or "")


def test_instagram_login_and_no_client_id_use_the_hidden_prompt() -> None:
    assert Instagram({"ig_user_id": USER}).oauth2() is None
    assert (
        Instagram(
            {"ig_user_id": USER, "client_id": APP_ID, "api_base": "https://graph.instagram.com"}
        ).oauth2()
        is None
    )
    assert Instagram({"ig_user_id": USER, "client_id": APP_ID}).oauth2() is not None
