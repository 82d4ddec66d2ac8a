"""`account connect threads`: the Threads sign-in against the contract server (the test's browser
follows the redirect), the short-lived token exchanged for a long-lived one (the only secret kept,
with its 60-day end), `account check`, and the renewal job refreshing it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from postmast.connectors.threads import Threads
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.checkup import Checkup
from postmast.scheduler.connect import Connection
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account
from postmast.scheduler.renewal import Renewer
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import FakeClock
from tests.connectors.signin import Browser, free_port
from tests.servers.threads import APP_ID, APP_SECRET, ThreadsServer

USER = "17841400000000042"


@pytest.fixture
def server(clock: FakeClock) -> Iterator[ThreadsServer]:
    found = ThreadsServer({}, clock=clock, usernames={USER: "harbourcafe"})
    found.sign_in(USER)
    found.start()
    yield found
    found.stop()


def _settings(server: ThreadsServer) -> dict[str, str]:
    return {"api_base": server.url, "dialog_base": server.url, "client_id": APP_ID}


def _row(store: Store) -> Account:
    with store.read() as session:
        account = session.scalars(select(Account)).one()
        session.expunge(account)
        return account


def test_connect_keeps_the_long_lived_token_which_the_renewal_job_refreshes(
    store: Store, vault: Vault, server: ThreadsServer, clock: FakeClock
) -> None:
    port = free_port()
    server.allow_redirect(f"http://127.0.0.1:{port}/callback")
    browser = Browser(APP_SECRET)
    view = Connection(store, vault).connect("threads", "cafe", _settings(server), browser.terminal, port=port)
    assert view.status == "active" and browser.asked == ["client_secret"]
    shown = urlsplit(browser.shown[0])
    assert shown.path == "/oauth/authorize"
    assert parse_qs(shown.query)["scope"] == [
        "threads_basic,threads_content_publish,threads_manage_replies,threads_read_replies"
    ]
    account = _row(store)
    secrets = vault.decrypt(account.secrets)
    assert list(secrets) == ["access_token"] and secrets["access_token"].startswith("th-long-")
    assert server.tokens[secrets["access_token"]] == USER
    assert account.expires_at == store.now() + timedelta(days=60)
    [health] = Checkup(store, vault).run("threads:cafe")
    assert (health.state, health.identity.get("id")) == ("healthy", USER)
    clock.advance(55 * 86400)
    assert Renewer(store, vault).run_once().renewed == ["threads:cafe"]
    assert server.refreshed == [secrets["access_token"]]
    assert _row(store).expires_at == store.now() + timedelta(days=60)


def test_a_wrong_app_secret_fails_the_sign_in_and_stores_nothing(
    store: Store, vault: Vault, server: ThreadsServer
) -> None:
    port = free_port()
    server.allow_redirect(f"http://127.0.0.1:{port}/callback")
    with pytest.raises(UserError, match="the sign-in did not complete"):
        Connection(store, vault).connect(
            "threads", "cafe", _settings(server), Browser("not-the-secret").terminal, port=port
        )
    assert Accounts(store, vault).all() == []
    assert Threads({}).oauth2() is None  # without client_id: the hidden prompt
